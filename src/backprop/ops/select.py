"""Select: a node made of chosen columns of earlier nodes (concatenation is the special case of all of them).

Used by compiled neuron graphs to put the units of one level side by side, and to collect
the output units, wherever they are, into the network's output node. It is linear with
0/1 coefficients, so its backward pass scatters dE/dy back and its second-order terms vanish.
"""
from __future__ import annotations

from typing import Any, Sequence, cast

from numpy.typing import ArrayLike

from .arrays import Array, Maybe
from .base import At, Op
from .gather import ColumnGather
from .fields import Indices, Widths
from .registry import register


@register("select")
class Select(Op):
    """y[..., f] = xs[src[f]][..., col[f]].

    Parameters
    ----------
    in_widths : list of int
    src, col : list of int
        Column f of the output is column ``col[f]`` of input ``src[f]``.

    Examples
    --------
    >>> import numpy as np
    >>> op = Select([2, 1], src=[1, 0, 0], col=[0, 1, 0])
    >>> op.forward([np.array([[1.0, 2.0]]), np.array([[3.0]])], None)[0]
    array([[3., 2., 1.]])
    """


    config_fields = (Widths("in_widths"), Indices("src", below="in_widths", attr="gather.src"),
                     Indices("col", length="src", attr="gather.col"))

    def __init__(self, in_widths: Sequence[int], src: ArrayLike, col: ArrayLike):
        self.gather = ColumnGather(in_widths, src, col)
        self.in_widths = self.gather.in_widths
        self.arity = len(self.in_widths)
        self.size = self.gather.size

    # y = picked columns
    def forward(self, xs: Sequence[Array], p: Any) -> tuple[Array, None]:
        return cast(Array, self.gather.take(xs)), None

    # dE/dx_k[c] = sum of dE/dy[f] over the f that picked column c of input k
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        return self.gather.put(dy, need)

    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Maybe] | None) -> Maybe:
        return self.gather.take(txs)

    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe, tp: Sequence[Maybe] | None, *,
                    tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        if tdy is None:
            return [None] * self.arity
        return self.gather.put(tdy, need)

    def input_width(self, k: int) -> int:
        return self.in_widths[k]

    def describe(self) -> str:
        return "concat" if self.gather.concat else f"select {self.size} columns"
