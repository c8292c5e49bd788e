"""Softmax, a vector activation: y_i = exp(z_i) / sum_j exp(z_j)."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Op, accumulate
from .fields import Size
from .registry import register

SINGLE_UNIT_MESSAGE = ("a softmax over a single unit is the constant 1 (its loss and gradient are 0, nothing can "
                       "be learned); for one output use the sigmoid with the 'bce' loss (binary classification) "
                       "or the identity with the 'l2' loss (regression), e.g. bp.MLP([d, h, 1], "
                       "output='sigmoid'); a softmax needs 2 or more units")


def softmax(z, out=None):
    """Row-wise softmax, shifted by the row maximum so that no exp overflows (written into ``out`` if given)."""
    e = np.subtract(z, np.maximum.reduce(z, axis=-1, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= np.add.reduce(e, axis=-1, keepdims=True)
    return e


def log_sum_exp_shifted(e, s):
    """log sum_j e^{s_j} for rows s = z - max(z) with e = e^s, as log1p of the terms other than the maximum's.

    sum_j e^{s_j} = 1 + (the others): taking log1p of the others keeps full relative precision even when one
    class takes almost all the mass (a plain log of the sum would round the small remainder away).
    """
    others = np.add.reduce(np.where(s < 0, e, 0), axis=-1, keepdims=True)
    ties = np.add.reduce(s == 0, axis=-1, keepdims=True) - 1      # further entries equal to the maximum
    return np.log1p(others + ties)


def log_softmax(z):
    """Row-wise log softmax, z - logsumexp(z), stable for any finite z and accurate near probability 1."""
    s = z - z.max(axis=-1, keepdims=True)
    return s - log_sum_exp_shifted(np.exp(s), s)


def _dot(a, b):
    return np.einsum("...i,...i->...", a, b)[..., None]


def softmax_jvp(y, tz):
    """R{y} = y * (R{z} - <y, R{z}>): the softmax Jacobian diag(y) - y y^T times tangents tz (..., c)."""
    return y * (tz - _dot(y, tz))


@register("softmax")
class Softmax(Op):
    """Softmax over all units of its input node. Jacobian dy_j/dz_i = y_i (delta_ij - y_j)."""

    config_fields = (Size("size"),)
    in_segments = True
    takes_out = True

    def __init__(self, size: int):
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"softmax size must be an integer >= 2; got {size!r}")
        if size == 1:
            raise ConfigError(SINGLE_UNIT_MESSAGE)
        self.size = int(size)

    def forward(self, xs, p, out=None):
        return softmax(xs[0], out=out), None

    # dE/dz_i = sum_j dE/dy_j y_i (delta_ij - y_j) = y_i (dE/dy_i - <dE/dy, y>)
    def vjp(self, at, dy, *, gp, need, out=None):
        xs, y, cache, p = at
        buf = None if out is None else out[0]
        return [y * (dy - _dot(dy, y)) if buf is None else np.multiply(y, dy - _dot(dy, y), out=buf)]

    # R{y} = y * (R{z} - <y, R{z}>)
    def jvp(self, at, txs, tp):
        xs, y, cache, p = at
        tz = txs[0]
        return None if tz is None else softmax_jvp(y, tz)

    # R{dE/dz} = R{y} (g - <g, y>) + y (R{g} - <R{g}, y> - <g, R{y}>),  g = dE/dy
    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        xs, y, cache, p = at
        out = None
        if ty is not None:
            out = ty * (dy - _dot(dy, y)) - y * _dot(dy, ty)
        if tdy is not None:
            out = accumulate(out, y * (tdy - _dot(tdy, y)))
        return [out]

    def describe(self):
        return "softmax"
