"""Select: a node made of chosen columns of earlier nodes (concatenation is the special case of all of them).

Used by compiled neuron graphs to put the units of one level side by side, and to collect
the output units, wherever they are, into the network's output node. It is linear with
0/1 coefficients, so its backward pass scatters dE/dy back and its second-order terms vanish.
"""
from __future__ import annotations

from .base import Op
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
    """


    config_fields = (Widths("in_widths"), Indices("src", below="in_widths", attr="gather.src"),
                     Indices("col", length="src", attr="gather.col"))

    def __init__(self, in_widths, src, col):
        self.gather = ColumnGather(in_widths, src, col)
        self.in_widths = self.gather.in_widths
        self.arity = len(self.in_widths)
        self.size = self.gather.size

    # y = picked columns
    def forward(self, xs, p):
        return self.gather.take(xs), None

    # dE/dx_k[c] = sum of dE/dy[f] over the f that picked column c of input k
    def vjp(self, at, dy, *, gp, need):
        xs, y, cache, p = at
        return self.gather.put(dy, need)

    def jvp(self, at, txs, tp):
        xs, y, cache, p = at
        return self.gather.take(txs)

    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        xs, y, cache, p = at
        if tdy is None:
            return [None] * self.arity
        return self.gather.put(tdy, need)

    def input_width(self, k):
        return self.in_widths[k]

    def describe(self):
        return "concat" if self.gather.concat else f"select {self.size} columns"
