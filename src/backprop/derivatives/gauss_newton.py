"""The (generalised) Gauss-Newton matrix: the Hessian without the second derivatives of the network.

    G = 1/B sum_n J_n^T (d2Div/dz2)_n J_n + lambda I_W,     J_n = dz_n/dw

(without the 1/B for a loss with reduction="sum"),
where z is the node at which the loss is evaluated (the logits for softmax + cross-entropy and
sigmoid + bce, otherwise the output y). It keeps the outer-product term of the Hessian and drops
the terms delta * d2z/dw2, so it is positive semi-definite for the convex heads (squared error,
cross-entropy on logits) and equals the Hessian wherever the network is linear in its parameters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import dispatch
from ..engine import l2, passes
from ..engine.objective import Objective
from ..engine.passes import as_directions
from ..validation import MAX_MATRIX_BYTES, check_matrix_size
from .hessian import MIN_BUDGET, mirror_upper
from .hvp import check_vectors
from .jacobian import batch_slices, param_jacobian

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..losses import Loss

def _chunks(net: Network, B: int, per_sample: int, budget: int) -> list[slice]:
    """Batch chunks within ``budget``; the whole batch when the training-mode draws belong to it."""
    return batch_slices(B, per_sample, budget) if net.rows_independent else [slice(0, B)]


def _head_products(obj: Objective, sl: slice, J: NDArray[Any]) -> NDArray[Any]:
    """J (n, c, W) at the loss node for the samples ``sl``; return A = scale (d2Div/dz2) J as (n*c, W),
    scale the per-instance factor of the loss (1/B for the mean, 1 for the sum)."""
    n, c, W = J.shape
    z, D = obj.values[obj.seed_node][sl], obj.D[sl]
    A = obj.head.hvp(z, D, J.transpose(2, 0, 1))          # directions are the W columns: (W, n, c)
    # a new array in any case: a loss's hvp may hand back its argument (the squared error does)
    out = np.empty((n, c, W), dtype=J.dtype)
    scale = obj.instance_scale(sl)
    np.multiply(A.transpose(1, 2, 0), scale if np.ndim(scale) == 0 else scale[:, :, None], out=out)
    return out.reshape(n * c, W)


def gauss_newton_matrix(obj: Objective, budget: int | None = None) -> NDArray[Any]:
    """G for a validated Objective (see ``gauss_newton``); ``budget`` in elements of working memory.

    Parameters
    ----------
    obj : Objective
        A validated objective.
    budget : int, optional
        Elements of working memory allowed per chunk of samples.

    Returns
    -------
    ndarray of shape (n_params, n_params)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> from backprop.engine.objective import Objective
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> obj = Objective(net, "l2", np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [0.5]]))
    >>> gauss_newton_matrix(obj).shape
    (13, 13)
    """
    net = obj.net
    net.check_rows_independent("the Gauss-Newton matrix (a sum of per-sample terms)", draws=False)
    W, c = net.n_params, net.widths[obj.seed_node]
    budget = max(W * W, MIN_BUDGET) if budget is None else int(budget)
    G = np.zeros((W, W), dtype=net.dtype)
    for sl in _chunks(net, obj.B, 3 * c * W + 2 * c * sum(net.widths), budget):
        J = param_jacobian(net, obj.X[sl], node=obj.seed_node)
        A = _head_products(obj, sl, J)
        G += J.reshape(-1, W).T @ A
    mirror_upper(G)
    l2.add_diagonal(G, net, obj.l2)
    return G


def gauss_newton(net: Network, loss: str | Loss | dict[str, Any], X: ArrayLike, T: ArrayLike,
                 max_bytes: int = MAX_MATRIX_BYTES) -> NDArray[Any]:
    """Generalised Gauss-Newton matrix G = 1/B sum_n J_n^T (d2Div/dz2) J_n + lambda (on the weights).

    J_n is the Jacobian of the loss node z (logits for fused softmax/sigmoid heads, else the output)
    with respect to every weight and bias, obtained by backpropagation from the output units.
    Positive semi-definite for every built-in loss; equal to the Hessian where the network is linear
    in its parameters (e.g. identity output, squared error, no hidden layer).

    Parameters
    ----------
    net : Network
    loss : str or Loss
    X : array-like of shape (B, d)
    T : array-like
        Targets, as for ``loss_and_grad``.
    max_bytes : int or None
        Refuse (MemoryLimitError, before any work) when the W x W result would need more bytes; default
        2 GiB (``backprop.validation.MAX_MATRIX_BYTES``). None: no limit.

    Returns
    -------
    ndarray of shape (n_params, n_params)
        Exactly symmetric.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); T = np.array([[1.0], [0.5], [0.0]])
    >>> G = bp.gauss_newton(net, "l2", X, T)
    >>> G.shape, bool(np.allclose(G, G.T))
    ((13, 13), True)
    """
    check_matrix_size(net.n_params, net.dtype, max_bytes, "the Gauss-Newton matrix",
                      "use bp.gnvp (products G v, O(W) memory) or bp.gauss_newton_diag (the diagonal) instead")
    if (on_dask := dispatch.on_dask("gauss_newton", X, T)) is not None:
        return on_dask(net, loss, X, T)
    return gauss_newton_matrix(Objective(net, loss, X, T))


def gauss_newton_diagonal(obj: Objective, budget: int | None = None) -> NDArray[Any]:
    """diag(G) for a validated Objective, from per-sample Jacobians in batch chunks.

    Parameters
    ----------
    obj : Objective
        A validated objective.
    budget : int, optional
        Elements of working memory allowed per chunk of samples.

    Returns
    -------
    ndarray of shape (n_params,)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> from backprop.engine.objective import Objective
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> obj = Objective(net, "l2", np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [0.5]]))
    >>> bool(np.allclose(gauss_newton_diagonal(obj), np.diag(gauss_newton_matrix(obj))))
    True
    """
    net = obj.net
    net.check_rows_independent("the Gauss-Newton diagonal (a sum of per-sample terms)", draws=False)
    W, c = net.n_params, net.widths[obj.seed_node]
    budget = max(16 * W, MIN_BUDGET, 1 << 20) if budget is None else int(budget)
    diag = np.zeros(W, dtype=net.dtype)
    for sl in _chunks(net, obj.B, 3 * c * W + 2 * c * sum(net.widths), budget):
        J = param_jacobian(net, obj.X[sl], node=obj.seed_node)
        A = _head_products(obj, sl, J)
        diag += np.einsum("rw,rw->w", J.reshape(-1, W), A)
    l2.add_diagonal(diag, net, obj.l2)
    return diag


def gauss_newton_diag(net: Network, loss: str | Loss | dict[str, Any], X: ArrayLike, T: ArrayLike) -> NDArray[Any]:
    """Diagonal of the Gauss-Newton matrix, without forming the matrix.

    Parameters
    ----------
    net, loss, X, T
        As for ``gauss_newton``.

    Returns
    -------
    ndarray of shape (n_params,)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); T = np.array([[1.0], [0.5], [0.0]])
    >>> bool(np.allclose(bp.gauss_newton_diag(net, "l2", X, T), np.diag(bp.gauss_newton(net, "l2", X, T))))
    True
    """
    if (on_dask := dispatch.on_dask("gauss_newton_diag", X, T)) is not None:
        return on_dask(net, loss, X, T)
    return gauss_newton_diagonal(Objective(net, loss, X, T))


def gnvp(net: Network, loss: str | Loss | dict[str, Any], X: ArrayLike, T: ArrayLike, v: ArrayLike) -> NDArray[Any]:
    """Gauss-Newton-vector product G v, O(W) per vector, without forming G.

    A forward sweep of directional derivatives gives R{z} = J v at the loss node, the loss's
    second derivative turns it into (d2Div/dz2) J v / B, and a plain backward sweep of that
    (first-order terms only) gives J^T (d2Div/dz2) J v / B; plus lambda v on the weights.

    Parameters
    ----------
    net, loss, X, T
        As for ``gauss_newton``.
    v : array-like of shape (n_params,) or (n_params, m)

    Returns
    -------
    ndarray of shape (n_params,) or (n_params, m)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); T = np.array([[1.0], [0.5], [0.0]])
    >>> v = np.ones(net.n_params)
    >>> bool(np.allclose(bp.gnvp(net, "l2", X, T, v), bp.gauss_newton(net, "l2", X, T) @ v))
    True
    """
    if (on_dask := dispatch.on_dask("gnvp", X, T)) is not None:
        return on_dask(net, loss, X, T, v)
    obj = Objective(net, loss, X, T)
    v = check_vectors(v, net.n_params, net.dtype)
    V = as_directions(v, net.n_params, net.dtype)
    GV = gauss_newton_products(obj, V)
    return GV[0] if np.ndim(v) == 1 else GV.T


def gauss_newton_products(obj: Objective, V: NDArray[Any]) -> NDArray[Any]:
    """G V for directions V of shape (m, n_params) on a validated Objective; returns (m, n_params).

    Parameters
    ----------
    obj : Objective
        A validated objective.
    V : ndarray of shape (m, n_params)
        The directions.

    Returns
    -------
    ndarray of shape (m, n_params)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> from backprop.engine.objective import Objective
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> obj = Objective(net, "l2", np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [0.5]]))
    >>> V = np.eye(net.n_params)[:2]
    >>> bool(np.allclose(gauss_newton_products(obj, V), V @ gauss_newton_matrix(obj)))
    True
    """
    net = obj.net
    if obj.adjoints is None:
        obj.gradient()
    tan = obj.tangents(V=V)
    u = obj.seed_tadjoint(tan)                             # (d2Div/dz2) J v / B at the loss node
    GV = np.empty(V.shape, dtype=net.dtype)
    # no forward tangents: every op's second-order sweep reduces to its plain vector-Jacobian product
    passes.backward_tangent(net, obj.values, obj.caches, obj.adjoints, [None] * len(tan), obj.seed_node,
                            u, V=None, tgrad=GV)
    l2.add_products(GV, net, obj.l2, V)
    return GV
