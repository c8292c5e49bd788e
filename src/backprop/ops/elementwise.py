"""Scalar activation applied unit by unit: y = f(z)."""
from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS, ScalarActivation, get_activation
from .base import Op, accumulate
from .fields import Activation, Size
from .registry import register


@register("activation")
class Elementwise(Op):
    """Apply a scalar activation to every unit of its input node."""


    config_fields = (Size("size"), Activation("activation", attr="act"))
    in_segments = True

    def __init__(self, size: int, activation):
        self.size = int(size)
        self.act: ScalarActivation = get_activation(activation)

    takes_out = True

    # y = f(z)
    def forward(self, xs, p, out=None):
        return self.act.f(xs[0], out=out), None

    # dE/dz = dE/dy * f'(z)
    def vjp(self, at, dy, *, gp, need, out=None):
        xs, y, cache, p = at
        buf = None if out is None else out[0]
        fp = self.act.df(xs[0], y, out=buf)
        return [dy * fp if buf is None else np.multiply(dy, fp, out=buf)]

    # R{y} = f'(z) R{z}
    def jvp(self, at, txs, tp):
        xs, y, cache, p = at
        return None if txs[0] is None else self.act.df(xs[0], y) * txs[0]

    # R{dE/dz} = R{dE/dy} f'(z) + dE/dy f''(z) R{z}
    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        xs, y, cache, p = at
        z, tz = xs[0], txs[0]
        out = None if tdy is None else tdy * self.act.df(z, y)
        if tz is not None and not self.act.piecewise_linear:
            out = accumulate(out, (dy * self.act.d2f(z, y)) * tz)
        return [out]

    def user_functions(self):
        return () if self.act.name in ACTIVATIONS else (self.act,)

    def describe(self):
        return self.act.name
