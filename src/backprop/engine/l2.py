"""The L2 term of the error, written once: E_L2(w) = lambda/2 ||W||^2 over the weights (not the biases).

Its gradient is lambda W, its Hessian lambda on the diagonal of the weights; every derivative of the
error (the gradient, Hessian-vector and Gauss-Newton products, the Hessian and its diagonal) adds
its share through these functions. ``net.reg_mask`` says which parameters are weights (each op
declares which of its parameter arrays are regularised).
"""
from __future__ import annotations

import numpy as np


def penalty(net, lam) -> float:
    """lambda/2 sum_k ||W_k||^2."""
    if not lam:
        return 0.0
    total = sum(float(np.vdot(w, w)) for layer in net.param_layers()
                for w, reg in zip(layer.views, layer.op.regularized) if reg)
    return 0.5 * lam * total


def add_gradient(grad, net, lam) -> None:
    """grad += lambda W on the weights, layer by layer in place."""
    if not lam:
        return
    for layer in net.param_layers():
        for g, w, reg in zip(net.split(grad, layer.index), layer.views, layer.op.regularized):
            if reg:
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
