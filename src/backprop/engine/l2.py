"""The L2 term of the error, written once: E_L2(w) = lambda/2 ||W||^2 over the weights (not the biases).

Its gradient is lambda W, its Hessian lambda on the diagonal of the weights; every derivative of the
error (the gradient, Hessian-vector and Gauss-Newton products, the Hessian and its diagonal) adds
its share through these functions. ``net.reg_mask`` says which parameters are weights (each op
declares which of its parameter arrays are regularised).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np

from ..ops.arrays import Array

if TYPE_CHECKING:
    from .network import Network


def weight_pairs(net: Network, grad: Array | None = None) -> list[tuple[Array | None, Array]]:
    """(gradient view or None, weight view) for every regularised parameter array, in order.

    Parameters
    ----------
    net : Network
        The network.
    grad : ndarray of shape (n_params,), optional
        A gradient vector: its views are paired with the weights (None: no gradient views).

    Returns
    -------
    list of (ndarray or None, ndarray)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([3, 4, 2])
    >>> [(g.shape, w.shape) for g, w in weight_pairs(net, np.zeros(net.n_params))]
    [((4, 3), (4, 3)), ((2, 4), (2, 4))]
    """
    return [(None if grad is None else g, w) for layer in net.param_layers()
            for g, w, reg in zip((net.split(grad, layer.index) or ()) if grad is not None else layer.views,
                                 layer.views, layer.op.regularized) if reg]


def penalty(net: Network, lam: float) -> float:
    """lambda/2 sum_k ||W_k||^2.

    Parameters
    ----------
    net : Network
        The network.
    lam : float
        The L2 strength lambda.

    Returns
    -------
    float

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([1, 1], output="identity")
    >>> net.params[:] = [3.0, 5.0]                 # W = 3, b = 5 (not regularised)
    >>> penalty(net, 0.1)
    0.45
    """
    return penalty_of(weight_pairs(net), lam) if lam else 0.0


def add_gradient(grad: Array, net: Network, lam: float) -> None:
    """grad += lambda W on the weights, layer by layer in place.

    Parameters
    ----------
    grad : ndarray of shape (n_params,)
        The gradient, changed in place.
    net : Network
        The network.
    lam : float
        The L2 strength lambda.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([1, 1], output="identity")
    >>> net.params[:] = [3.0, 5.0]
    >>> grad = np.zeros(2); add_gradient(grad, net, 0.1); grad
    array([0.3, 0. ])
    """
    if lam:
        add_gradient_of(weight_pairs(net, grad), lam)


def penalty_of(weights: Iterable[tuple[Array | None, Array]], lam: float) -> float:
    """lambda/2 sum_k ||W_k||^2 from (gradient view, weight view) pairs (``weight_pairs``, or a plan's).

    Parameters
    ----------
    weights : list of (ndarray or None, ndarray)
        The pairs; only the weights are read.
    lam : float
        The L2 strength lambda.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> penalty_of([(None, np.array([3.0, 4.0]))], 0.1)
    1.25
    """
    if not lam:
        return 0.0
    return 0.5 * lam * sum(float(np.vdot(w, w)) for _, w in weights)


def add_gradient_of(weights: Iterable[tuple[Array | None, Array]], lam: float) -> None:
    """grad += lambda W through the (gradient view, weight view) pairs of the gradient ``grad``.

    Parameters
    ----------
    weights : list of (ndarray, ndarray)
        (gradient view, weight view) pairs; the gradient views are changed in place.
    lam : float
        The L2 strength lambda.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.zeros(2)
    >>> add_gradient_of([(g, np.array([3.0, 4.0]))], 0.5); g
    array([1.5, 2. ])
    """
    if not lam:
        return
    for g, w in weights:
        assert g is not None, "pairs with gradient views"
        g += lam * w


def add_products(out: Array, net: Network, lam: float, V: Array) -> None:
    """out += lambda V on the weights: the L2 share of H V (or G V) for directions V (m, n_params).

    Parameters
    ----------
    out : ndarray of shape (m, n_params)
        Products, changed in place.
    net : Network
        The network (its ``reg_mask``).
    lam : float
        The L2 strength lambda.
    V : ndarray of shape (m, n_params)
        The directions.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([1, 1], output="identity")
    >>> out = np.zeros((1, 2)); add_products(out, net, 0.5, np.ones((1, 2))); out
    array([[0.5, 0. ]])
    """
    if lam:
        out += lam * np.where(net.reg_mask, V, 0)


def add_diagonal(A: Array, net: Network, lam: float) -> None:
    """A += lambda on the weights' diagonal: A is a (W, W) matrix or its diagonal (W,).

    Parameters
    ----------
    A : ndarray of shape (n_params, n_params) or (n_params,)
        A Hessian (or Gauss-Newton matrix) or its diagonal, changed in place.
    net : Network
        The network (its ``reg_mask``).
    lam : float
        The L2 strength lambda.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([1, 1], output="identity")
    >>> A = np.zeros((2, 2)); add_diagonal(A, net, 0.5); A
    array([[0.5, 0. ],
           [0. , 0. ]])
    """
    if not lam:
        return
    if A.ndim == 1:
        A += lam * net.reg_mask
    else:
        idx = np.flatnonzero(net.reg_mask)
        A[idx, idx] += lam
