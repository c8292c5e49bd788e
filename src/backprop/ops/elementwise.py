"""Scalar activation applied unit by unit: y = f(z)."""
from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np

from .activations import ACTIVATIONS, ActivationSpec, ScalarActivation, get_activation
from .arrays import Array, Maybe
from .base import At, Op, accumulate
from .fields import Activation, Size
from .registry import register


@register("activation")
class Elementwise(Op):
    """Apply a scalar activation to every unit of its input node: y = f(z).

    Parameters
    ----------
    size : int
        Width of the input (and output) node.
    activation : str, ScalarActivation or dict
        The activation (see ``get_activation``): ``"tanh"``, ``"relu"``, ``bp.activation(...)``, ...

    Examples
    --------
    >>> import numpy as np
    >>> op = Elementwise(2, "relu")
    >>> op.forward([np.array([[-1.0, 2.0]])], None)[0]
    array([[0., 2.]])
    """

    config_fields = (Size("size"), Activation("activation", attr="act"))
    in_segments = True

    def __init__(self, size: int, activation: ActivationSpec):
        self.size = int(size)
        self.act: ScalarActivation = get_activation(activation)

    takes_out = True

    # y = f(z)
    def forward(self, xs: Sequence[Any], p: Any, out: Array | None = None) -> tuple[Array, None]:
        return self.act.f(xs[0], out=out), None

    # dE/dz = dE/dy * f'(z)
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool],
            out: Sequence[Maybe] | None = None) -> list[Maybe]:
        xs, y = at.xs, cast(Array, at.y)
        buf = None if out is None else out[0]
        fp = self.act.df(xs[0], y, out=buf)
        return [dy * fp if buf is None else np.multiply(dy, fp, out=buf)]

    # R{y} = f'(z) R{z}
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Array] | None) -> Maybe:
        xs, y = at.xs, cast(Array, at.y)
        return None if txs[0] is None else self.act.df(xs[0], y) * txs[0]

    # R{dE/dz} = R{dE/dy} f'(z) + dE/dy f''(z) R{z}
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Array] | None, *, tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        xs, y = at.xs, cast(Array, at.y)
        z, tz = xs[0], txs[0]
        out = None if tdy is None else tdy * self.act.df(z, y)
        if tz is not None and not self.act.piecewise_linear:
            out = accumulate(out, (dy * self.act.d2f(z, y)) * tz)
        return [out]

    def user_functions(self) -> tuple[ScalarActivation, ...]:
        return () if self.act.name in ACTIVATIONS else (self.act,)

    def describe(self) -> str:
        return self.act.name
