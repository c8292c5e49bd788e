"""Hessian-vector products by the R-operator: exact, O(W) per vector, no Hessian formed.

H v = d/dr grad E(w + r v) at r = 0. A forward sweep of directional derivatives R{z}, R{y}
(``forward_tangent``) followed by the backward sweep of their second-order terms R{delta},
R{dE/dW} (``backward_tangent``) gives it in about the cost of two more gradients.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import dispatch
from ..engine.objective import planned
from ..engine.passes import as_directions
from ..errors import InputError
from ..validation import all_finite, as_numeric

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..losses import Loss

def check_vectors(v: ArrayLike, n_params: int, dtype: DTypeLike, name: str = "v") -> NDArray[Any]:
    """Validate directions: (n_params,) or (n_params, m), finite numbers; return them as an array of dtype.

    Parameters
    ----------
    v : array-like of shape (n_params,) or (n_params, m)
        One direction, or m >= 1 directions as columns.
    n_params : int
        The number of parameters: the length of each direction.
    dtype : dtype
        The dtype of the result (the network's).
    name : str, default "v"
        The argument's name, for the messages.

    Returns
    -------
    ndarray of shape (n_params,) or (n_params, m)
        ``v`` as an array of ``dtype`` (not a copy when it already is one).

    Raises
    ------
    InputError
        For another shape, entries that are not numbers, NaN or inf.

    Examples
    --------
    >>> check_vectors([1, 2, 3], 3, np.float64)
    array([1., 2., 3.])
    >>> check_vectors([1, 2], 3, np.float64)
    Traceback (most recent call last):
    ...
    backprop.errors.InputError: v must have shape (3,) or (3, m) with m >= 1, one entry per parameter; got shape (2,)
    """
    arr = as_numeric(v, name, f"({n_params},) or ({n_params}, m)")
    if arr.ndim not in (1, 2) or arr.shape[0] != n_params or (arr.ndim == 2 and arr.shape[1] == 0):
        raise InputError(f"{name} must have shape ({n_params},) or ({n_params}, m) with m >= 1, "
                         f"one entry per parameter; got shape {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    if not all_finite(arr):
        raise InputError(f"{name} contains NaN or inf; directions must be finite")
    return arr


def hvp(net: Network, loss: str | dict[str, Any] | Loss, X: ArrayLike, T: ArrayLike, v: ArrayLike) -> NDArray[Any]:
    """Exact Hessian-vector product H v of the training loss (mean or, with ``reduction="sum"``, summed
    over the batch), by the R-operator.

    One forward pass, one backward pass, one forward sweep of directional derivatives and one
    backward sweep of their second-order terms: about the cost of 3 gradient evaluations, for
    all m vectors at once.

    Parameters
    ----------
    net : Network
        The network, at its current parameters ``net.params``.
    loss : str, dict or Loss
        As for ``loss_and_grad``.
    X : array-like of shape (B, d)
        The inputs, one row per instance.
    T : array-like
        Targets, as for ``loss_and_grad``.
    v : array-like of shape (n_params,) or (n_params, m)
        One direction, or m directions as columns.

    Returns
    -------
    ndarray of shape (n_params,) or (n_params, m)
        H v, including the L2 term lambda v on the weights.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([3, 4, 2], hidden="tanh", output="softmax", seed=0)
    >>> X, y = np.ones((5, 3)), np.array([0, 1, 1, 0, 1])
    >>> Hv = bp.hvp(net, "cross_entropy", X, y, np.ones(net.n_params))
    >>> Hv.shape
    (26,)
    """
    if (on_dask := dispatch.on_dask("hvp", X, T)) is not None:
        return on_dask(net, loss, X, T, v)
    with planned(net, loss, X, T, want="hvp") as obj:
        V = check_vectors(v, net.n_params, net.dtype)
        HV = obj.hvp(as_directions(V, net.n_params, net.dtype))
    return HV[0] if V.ndim == 1 else HV.T
