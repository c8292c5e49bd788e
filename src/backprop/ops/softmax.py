"""Softmax, a vector activation: y_i = exp(z_i) / sum_j exp(z_j)."""
from __future__ import annotations

import numpy as np

from .base import Op
from .registry import register


def softmax(z):
    """Row-wise softmax, shifted by the row maximum so that no exp overflows."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def log_softmax(z):
    """Row-wise log softmax, z - logsumexp(z), stable for any finite z.

    With s = z - max(z), sum_j e^{s_j} = 1 + (the terms of the other entries), so its log is
    log1p(others): full relative precision even when one class takes almost all the mass.
    """
    k = z.argmax(axis=-1)[..., None]
    s = z - np.take_along_axis(z, k, axis=-1)
    e = np.exp(s)
    np.put_along_axis(e, k, 0, axis=-1)
    return s - np.log1p(e.sum(axis=-1, keepdims=True))


def _dot(a, b):
    return np.einsum("...i,...i->...", a, b)[..., None]


@register("softmax")
class Softmax(Op):
    """Softmax over all units of its input node. Jacobian dy_j/dz_i = y_i (delta_ij - y_j)."""

    kind = "softmax"

    def __init__(self, size: int):
        self.size = int(size)

    def forward(self, xs, p):
        return softmax(xs[0]), None

    # dE/dz_i = sum_j dE/dy_j y_i (delta_ij - y_j) = y_i (dE/dy_i - <dE/dy, y>)
    def vjp(self, dy, xs, y, cache, p, gp, need):
        return [y * (dy - _dot(dy, y))]

    # R{y} = y * (R{z} - <y, R{z}>)
    def jvp(self, txs, tp, xs, y, cache, p):
        tz = txs[0]
        return None if tz is None else y * (tz - _dot(y, tz))

    # R{dE/dz} = R{y} (g - <g, y>) + y (R{g} - <R{g}, y> - <g, R{y}>),  g = dE/dy
    def vjp_tangent(self, dy, tdy, txs, ty, xs, y, cache, p, tp, tgp, need):
        out = None
        if ty is not None:
            out = ty * (dy - _dot(dy, y)) - y * _dot(dy, ty)
        if tdy is not None:
            term = y * (tdy - _dot(tdy, y))
            out = term if out is None else out + term
        return [out]

    def config(self):
        return {"op": "softmax", "size": self.size}

    def describe(self):
        return "softmax"
