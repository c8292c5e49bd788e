"""Segmented activation: different activations on consecutive runs of units of one node.

A level of a compiled neuron graph may hold units with different activations (relu units,
tanh units, a softmax group, a user vector group). The compiler orders the level so that each
activation covers one consecutive run [start, stop) of columns, and this op applies each run's
activation op to its slice: one array operation per run, not per unit. Identity runs are
passed through unchanged.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence, cast

import numpy as np

from ..errors import ConfigError
from .arrays import Array, Maybe
from .base import At, Op
from .elementwise import Elementwise
from .fields import Checker, Config, Field, Size
from .registry import op_from_config, register


class Runs(Field):
    """The runs ``[start, stop, op]`` of a Segmented op: bounds inside field ``within``, each op one that may
    apply inside segments (``Op.in_segments``), described by its own config.

    Parameters
    ----------
    name : str
        The constructor argument.
    within : str
        The earlier field (an integer) that bounds the runs.

    Examples
    --------
    >>> Runs("segments", within="size").read(Segmented(2, [(0, 2, Elementwise(2, "tanh"))]))
    [[0, 2, {'op': 'activation', 'size': 2, 'activation': {'name': 'tanh'}}]]
    """

    def __init__(self, name: str, *, within: str, **kw: Any):
        super().__init__(name, **kw)
        self.within = within

    def read(self, op: object) -> Any:
        return [[start, stop, inner.config()] for start, stop, inner in self.value(op)]

    def check(self, c: Any, v: Any, at: str, cfg: Config) -> None:
        size = cfg[self.within]
        for k, seg in enumerate(c.list_(v, at, min_len=1)):
            where = f"{at}[{k}]"
            c.list_(seg, where, length=3)
            c.int_(seg[0], f"{where}[0]", 0, size)
            c.int_(seg[1], f"{where}[1]", 1, size + 1)
            c.op(seg[2], f"{where}[2]", inner=True)


def _is_identity(op: Op) -> bool:
    return isinstance(op, Elementwise) and op.act.name == "identity"


@register("segments")
class Segmented(Op):
    """Apply ``segments[r] = (start, stop, op)`` to columns [start, stop) of the input.

    Parameters
    ----------
    size : int
        Width of the input and of the output.
    segments : list of (int, int, Op or dict)
        Consecutive runs covering 0..size, each with a one-input activation op of width stop - start
        (Elementwise, Softmax, VectorActivation) or its config.

    Examples
    --------
    >>> op = Segmented(3, [(0, 1, {"op": "activation", "size": 1, "activation": "relu"}),
    ...                    (1, 3, {"op": "softmax", "size": 2})])
    >>> op.describe()
    'relu[1]+softmax[2]'
    >>> op.forward([np.array([[-1.0, 0.0, 0.0]])], None)[0]
    array([[0. , 0.5, 0.5]])
    """


    config_fields = (Size("size"), Runs("segments", within="size"))
    in_segments = True

    def __init__(self, size: int, segments: Sequence[tuple[int, int, Op | dict[str, Any]]]):
        self.size = int(size)
        runs: list[tuple[int, int, Op]] = []
        pos = 0
        for start, stop, op in segments:
            if isinstance(op, dict):
                op = op_from_config(op)
            if int(start) != pos or int(stop) <= int(start) or getattr(op, "size", None) != int(stop) - int(start) \
                    or op.arity != 1 or op.n_params:
                raise ConfigError(f"segments must be consecutive runs covering 0..{self.size}, each with a "
                                  f"parameter-free activation of the run's width; got ({start}, {stop}, {op!r})")
            runs.append((int(start), int(stop), op))
            pos = int(stop)
        if pos != self.size:
            raise ConfigError(f"segments cover 0..{pos}; expected 0..{self.size}")
        self.segments = runs

    def _each(self, *arrays: Maybe) -> Iterator[tuple[Op, slice, list[Maybe]]]:
        """Yield (op, column slice, slices of every array) per run; None arrays stay None."""
        for start, stop, op in self.segments:
            yield op, slice(start, stop), [None if a is None else a[..., start:stop] for a in arrays]

    # y[s] = f_s(z[s]) for every run s
    def forward(self, xs: Sequence[Array], p: Any) -> tuple[Array, list[Any]]:
        z = xs[0]
        y = np.empty_like(z)
        caches: list[Any] = []
        for op, sl, (zs,) in self._each(z):
            if _is_identity(op):
                y[..., sl] = zs
                caches.append(None)
                continue
            ys, c = op.forward([zs], None)
            y[..., sl] = ys
            caches.append(c)
        return y, caches

    # dE/dz[s] = vjp_s(dE/dy[s])
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        xs, y, caches = at.xs, cast(Array, at.y), cast("list[Any]", at.cache)
        dz = np.empty_like(dy)
        for (op, sl, (dys, zs, ysl)), c in zip(self._each(dy, xs[0], y), caches):
            dz[..., sl] = dys if _is_identity(op) else op.vjp(At([zs], ysl, c, None), dys, gp=None, need=[True])[0]
        return [dz]

    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Maybe] | None) -> Maybe:
        xs, y, caches = at.xs, cast(Array, at.y), cast("list[Any]", at.cache)
        tz = txs[0]
        if tz is None:
            return None
        ty = np.empty_like(tz)
        for (op, sl, (tzs, zs, ysl)), c in zip(self._each(tz, xs[0], y), caches):
            ty[..., sl] = tzs if _is_identity(op) else op.jvp(At([zs], ysl, c, None), [tzs], None)
        return ty

    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Maybe] | None, *, tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        xs, y, caches = at.xs, cast(Array, at.y), cast("list[Any]", at.cache)
        t = tdy if tdy is not None else txs[0]
        if t is None:
            return [None]
        m = t.shape[0]
        out = np.zeros((m,) + dy.shape, dtype=dy.dtype)
        for (op, sl, (dys, tdys, tzs, tys, zs, ysl)), c in zip(self._each(dy, tdy, txs[0], ty, xs[0], y), caches):
            if _is_identity(op):
                if tdys is not None:
                    out[..., sl] = tdys
                continue
            r = op.vjp_tangent(At([zs], ysl, c, None), dys, tdys, [tzs], tys, None, tgp=None, need=[True])[0]
            if r is not None:
                out[..., sl] = r
        return [out]

    def user_functions(self) -> tuple[Any, ...]:
        return tuple(fn for _, _, op in self.segments for fn in op.user_functions())

    def describe(self) -> str:
        return "+".join(f"{op.describe()}[{stop - start}]" for start, stop, op in self.segments)

