"""The L2 term of the error, written once: E_L2(w) = lambda/2 ||W||^2 over the weights (not the biases).

Its gradient is lambda W, its Hessian lambda on the diagonal of the weights; every derivative of the
error (the gradient, Hessian-vector and Gauss-Newton products, the Hessian and its diagonal) adds
its share through these functions. ``net.reg_mask`` says which parameters are weights (each op
declares which of its parameter arrays are regularised).
"""
from __future__ import annotations

import numpy as np


def weight_pairs(net, grad=None) -> list:
    """(gradient view or None, weight view) for every regularised parameter array, in order."""
    return [(None if grad is None else g, w) for layer in net.param_layers()
            for g, w, reg in zip(net.split(grad, layer.index) if grad is not None else layer.views,
                                 layer.views, layer.op.regularized) if reg]


def penalty(net, lam) -> float:
    """lambda/2 sum_k ||W_k||^2."""
    return penalty_of(weight_pairs(net), lam) if lam else 0.0


def add_gradient(grad, net, lam) -> None:
    """grad += lambda W on the weights, layer by layer in place."""
    if lam:
        add_gradient_of(weight_pairs(net, grad), lam)


def penalty_of(weights, lam) -> float:
    """lambda/2 sum_k ||W_k||^2 from (gradient view, weight view) pairs (``weight_pairs``, or a plan's)."""
    if not lam:
        return 0.0
    return 0.5 * lam * sum(float(np.vdot(w, w)) for _, w in weights)


def add_gradient_of(weights, lam) -> None:
    """grad += lambda W through the (gradient view, weight view) pairs of the gradient ``grad``."""
    if not lam:
        return
    for g, w in weights:
        g += lam * w


def add_products(out, net, lam, V) -> None:
    """out += lambda V on the weights: the L2 share of H V (or G V) for directions V (m, n_params)."""
    if lam:
        out += lam * np.where(net.reg_mask, V, 0)


def add_diagonal(A, net, lam) -> None:
    """A += lambda on the weights' diagonal: A is a (W, W) matrix or its diagonal (W,)."""
    if not lam:
        return
    if A.ndim == 1:
        A += lam * net.reg_mask
    else:
        idx = np.flatnonzero(net.reg_mask)
        A[idx, idx] += lam
