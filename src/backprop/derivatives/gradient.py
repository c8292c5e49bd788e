"""The loss and its gradient by backpropagation."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike, NDArray

from .. import dispatch
from ..engine.objective import Objective, planned

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..losses import Loss


def loss_and_grad(net: Network, loss: str | dict[str, Any] | Loss, X: ArrayLike,
                  T: ArrayLike) -> tuple[float, NDArray[Any]]:
    """Loss value and its gradient with respect to every parameter, by backpropagation.

    The forward pass computes z_k = y_{k-1} W_k^T + b_k, y_k = f_k(z_k); the backward pass starts
    from delta at the output and applies, layer by layer, dW_k = delta_k^T y_{k-1},
    db_k = sum_n delta_k, dy_{k-1} = delta_k W_k, delta_{k-1} = dy_{k-1} * f'(z_{k-1}).
    The whole gradient is computed before anything is updated.

    Parameters
    ----------
    net : Network
        The network, at its current parameters ``net.params``.
    loss : str, dict or Loss
        ``"l2"``, ``"bce"``, ``"cross_entropy"``, ... or a Loss (which carries the ``l2`` strength).
    X : array-like of shape (B, d)
        The inputs, one row per instance.
    T : array-like
        Targets: (B, c), or (B,) integer labels for cross_entropy, or (B,) when c == 1.

    Returns
    -------
    value : float
        Mean divergence over the batch (their sum for a loss with ``reduction="sum"``) plus
        lambda/2 ||W||^2.
    grad : ndarray of shape (n_params,)
        dE/dw in the order of ``net.params``.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X, T = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([1.0, 1.0, 0.0])
    >>> E, g = bp.loss_and_grad(net, "l2", X, T)
    >>> g.shape, bool(E > 0)
    ((13,), True)
    """
    if (on_dask := dispatch.on_dask("loss_and_grad", X, T)) is not None:
        return on_dask(net, loss, X, T)
    with planned(net, loss, X, T) as obj:         # the network's execution plan for this batch shape
        grad = obj.gradient(fresh=True)           # the caller's own array
        return obj.value(), grad


def backprop(net: Network, loss: str | dict[str, Any] | Loss, X: ArrayLike, T: ArrayLike) -> Objective:
    """Run the forward and backward pass and return the Objective, for inspection.

    Parameters
    ----------
    net, loss, X, T
        As for ``loss_and_grad``.

    Returns
    -------
    Objective
        With

        * ``obj.values[i]``: node i's value, (B, width);
        * ``obj.deltas[i]``: the per-instance deltas dE_n/d(node i), (B, width), row n for instance n
          alone, E_n = Div(y_n, t_n), exactly the notes' delta_n (no 1/B, whichever the reduction);
        * ``obj.adjoints[i]``: dE/d(node i) for the batch objective E (row n is ``obj.scale`` times
          delta_n: delta_n / B for the default mean, delta_n for ``reduction="sum"``), the quantities
          whose products with the node inputs, summed over the batch, are the gradient;
        * ``obj.grad``: dE/dw, ``obj.value()``: E.

        Entries are None for nodes the loss does not depend on.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> obj = bp.backprop(net, "l2", np.ones((4, 2)), np.zeros(4))
    >>> bool(np.allclose(obj.adjoints[-1], obj.deltas[-1] / 4))
    True
    """
    obj = Objective(net, loss, X, T)
    # the engine's Objective does not declare these two inspection attributes (yet): they are set here only
    obj.grad = obj.gradient(need_input=True)  # type: ignore[attr-defined]
    obj.deltas = obj.instance_deltas()  # type: ignore[attr-defined]
    return obj
