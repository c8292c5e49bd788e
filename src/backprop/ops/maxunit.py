"""Max units: x_u = max over a subset S_u of earlier units' outputs (maxout is a max over affine units).

The max is not differentiable where two inputs tie; backprop uses the subgradient

    dx_u/dz_i = 1 if i = argmax_{l in S_u} z_l, else 0

Ties are broken deterministically: the arg-max is the FIRST of the tied inputs in the order
the unit's inputs were listed (the lowest index), and only it receives the gradient. The max
is piecewise linear, so its second-order terms are zero: R{dE/dz} routes R{dE/dx} to the
arg-max input exactly as the backward pass routes dE/dx.
"""
from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np
from numpy.typing import ArrayLike

from .arrays import Array, Index, Maybe
from .base import At, Op
from .gather import GatheredUnits, padded_slots
from .registry import register


def arg_max(V: Array) -> Index:
    """The winning slot of each unit, over the last axis: the first maximum (ties go to the lowest slot).

    Parameters
    ----------
    V : ndarray
        Values (..., K), a unit's inputs on the last axis.

    Returns
    -------
    ndarray of intp
        The index of the first maximum, shape (...).

    Examples
    --------
    >>> arg_max(np.array([[1.0, 3.0, 3.0]]))
    array([1])
    """
    return np.argmax(V, axis=-1)


@register("max")
class MaxUnit(GatheredUnits, Op):
    """Units x_u = max of their inputs, each input a column of an earlier node.

    Parameters
    ----------
    in_widths : list of int
        Widths of the input nodes.
    unit, src, col : list of int
        Input f of unit ``unit[f]`` is column ``col[f]`` of input ``src[f]``; the listed order
        decides ties (the first listed of the tied inputs wins).
    n_units : int, optional
        Number of units (default ``max(unit) + 1``).
    names, input_names : list of str, optional
        Labels of the units and of node 0's columns (for reports only).

    Examples
    --------
    >>> op = MaxUnit([3], unit=[0, 0, 1], src=[0, 0, 0], col=[0, 1, 2])
    >>> op.forward([np.array([[1.0, 5.0, 2.0]])], None)[0]
    array([[5., 2.]])
    """


    config_fields = GatheredUnits.unit_fields + GatheredUnits.name_fields

    def __init__(self, in_widths: Sequence[int], unit: ArrayLike, src: ArrayLike, col: ArrayLike,
                 n_units: int | None = None, names: Sequence[str] | None = None,
                 input_names: Sequence[str] | None = None):
        self._set_units(in_widths, unit, src, col, n_units, "max", "input")
        self._set_names(names, input_names)
        self.slot, self.K, self.table, self.mask = padded_slots(self.unit, self.size)

    # x_u = max_{l in S_u} z_l;  cache: the index f of the winning input of every (instance, unit)
    def forward(self, xs: Sequence[Array], p: Any) -> tuple[Array, Index]:
        V = cast(Array, self.gather.take(xs))
        Vp = np.full(V.shape[:-1] + (self.size, self.K), -np.inf, dtype=V.dtype)
        Vp[..., self.unit, self.slot] = V
        a = arg_max(Vp)
        win = self.table[np.arange(self.size), a]      # (B, units): factor index of the arg-max
        return np.take_along_axis(V, win, axis=-1), win

    def _route(self, g: Array, win: Index) -> Array:
        """Put g (..., B, units) at the winning inputs: (..., B, F), zero elsewhere."""
        out = np.zeros(g.shape[:-1] + (self.gather.size,), dtype=g.dtype)
        np.put_along_axis(out, np.broadcast_to(win, g.shape), g, axis=-1)
        return out

    # dE/dz_i = dE/dx_u for the arg-max input i, 0 for the others
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        win = cast(Index, at.cache)
        if not any(need):
            return [None] * self.arity
        return self.gather.put(self._route(dy, win), need)

    # R{x_u} = R{z_argmax}
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Maybe] | None) -> Maybe:
        win = cast(Index, at.cache)
        tV = self.gather.take(txs)
        if tV is None:
            return None
        return np.take_along_axis(tV, np.broadcast_to(win, tV.shape[:-1] + win.shape[-1:]), axis=-1)

    # R{dE/dz_i} = R{dE/dx_u} at the arg-max input (piecewise linear: no curvature term)
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe, tp: Sequence[Maybe] | None, *,
                    tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        win = cast(Index, at.cache)
        if tdy is None or not any(need):
            return [None] * self.arity
        return self.gather.put(self._route(tdy, win), need)

    def input_width(self, k: int) -> int:
        return self.in_widths[k]

    def describe(self) -> str:
        return f"max of {self.unit.size} inputs -> {self.size}"
