"""Reading single units out of several nodes: the plumbing shared by the neuron-level ops.

A neuron graph compiles into nodes that each hold many units (columns). Ops such as a product
or a max unit read F individual columns from several earlier nodes: factor f is column
``col[f]`` of input ``src[f]``. ``ColumnGather`` does that read for a whole batch at once
(``take``) and its adjoint, the scatter-add back into the nodes (``put``); both accept
leading axes, so tangents of shape (m, B, width) go through the same code.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError, FileFormatError
from .arrays import Array, Index, Maybe
from .fields import Checker, Config, Indices, Size, Texts, Widths


def as_index(values: ArrayLike, what: str) -> Index:
    """A 1-D integer index array, or ConfigError.

    Parameters
    ----------
    values : array_like of int
        The indices (an empty list is allowed).
    what : str
        Their name, for the message.

    Returns
    -------
    ndarray of intp
        The indices.

    Examples
    --------
    >>> as_index([2, 0], "col")
    array([2, 0])
    """
    a = np.asarray(values)
    if a.size == 0:
        return np.zeros(0, dtype=np.intp)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ConfigError(f"{what} must be a 1-D list of integers; got {values!r:.80}")
    return a.astype(np.intp)


def check_widths(in_widths: Iterable[int], what: str) -> tuple[int, ...]:
    """The input widths as a tuple of ints: at least one, each >= 1 (ConfigError otherwise).

    Parameters
    ----------
    in_widths : sequence of int
        The widths of an op's input nodes.
    what : str
        The op, for the message.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> check_widths([3, 2], "select")
    (3, 2)
    """
    widths = tuple(int(w) for w in in_widths)
    if not widths or any(w < 1 for w in widths):
        raise ConfigError(f"{what}: in_widths must list at least one width >= 1; got {list(in_widths)!r}")
    return widths


class ColumnGather:
    """V[..., f] = xs[src[f]][..., col[f]] for f = 0..F-1, and its adjoint.

    Parameters
    ----------
    in_widths : sequence of int
        Widths of the input nodes.
    src, col : sequence of int
        For every picked column f: which input it comes from and which column of it.

    Examples
    --------
    >>> g = ColumnGather([2, 3], src=[1, 0], col=[2, 0])
    >>> g.take([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0, 5.0]])])
    array([[5., 1.]])
    >>> g.put(np.array([[10.0, 20.0]]), [True, True])
    [array([[20.,  0.]]), array([[ 0.,  0., 10.]])]
    """

    def __init__(self, in_widths: Sequence[int], src: ArrayLike, col: ArrayLike):
        self.in_widths = check_widths(in_widths, "gather")
        self.src, self.col = as_index(src, "src"), as_index(col, "col")
        if self.src.shape != self.col.shape:
            raise ConfigError(f"src and col must have the same length; got {self.src.size} and {self.col.size}")
        if self.src.size and (self.src.min() < 0 or self.src.max() >= len(self.in_widths)):
            raise ConfigError(f"src entries must lie in [0, {len(self.in_widths) - 1}]")
        widths = np.asarray(self.in_widths)[self.src]
        if self.col.size and (np.any(self.col < 0) or np.any(self.col >= widths)):
            raise ConfigError("col entries must lie inside the width of the input they index")
        self.size = int(self.src.size)
        # per input k: the positions f it serves and the columns it gives them
        self.parts: list[tuple[int, Index, Index, bool]] = []
        for k in range(len(self.in_widths)):
            pos = np.flatnonzero(self.src == k)
            cols = self.col[pos]
            unique = np.unique(cols).size == cols.size
            self.parts.append((k, pos, cols, unique))
        # the common case: every column of every input, in order (a concatenation)
        self.concat = bool(np.array_equal(self.col, np.concatenate(
            [np.arange(w) for w in self.in_widths])) and np.array_equal(
            self.src, np.repeat(np.arange(len(self.in_widths)), self.in_widths))) if self.size else False

    def take(self, xs: Sequence[Maybe]) -> Maybe:
        """Gather; entries of ``xs`` may be None (zero tangents). Returns None if all are None.

        Parameters
        ----------
        xs : list of ndarray or None
            The inputs (..., width_k), leading axes shared.

        Returns
        -------
        ndarray or None
            V (..., F).
        """
        first = next((x for x in xs if x is not None), None)
        if first is None:
            return None
        if self.concat and all(x is not None for x in xs):
            return np.concatenate(xs, axis=-1)     # type: ignore[arg-type]  # (none is None)
        out = np.zeros(first.shape[:-1] + (self.size,), dtype=first.dtype)
        for k, pos, cols, _ in self.parts:
            x = xs[k]
            if x is not None and pos.size:
                out[..., pos] = x[..., cols]
        return out

    def put(self, dV: Array, need: Sequence[bool]) -> list[Maybe]:
        """Adjoint of ``take``: dx_k[..., c] = sum of dV[..., f] over the f that read column c of input k.

        Parameters
        ----------
        dV : ndarray
            The adjoint of V (..., F).
        need : sequence of bool
            Which inputs want their adjoint (the others get None).

        Returns
        -------
        list of ndarray or None
            dx_k (..., width_k) per input.
        """
        out: list[Maybe] = []
        lead = dV.shape[:-1]
        for k, pos, cols, unique in self.parts:
            if not need[k]:
                out.append(None)
                continue
            dx: Array = np.zeros(lead + (self.in_widths[k],), dtype=dV.dtype)
            if pos.size:
                if unique:
                    dx[..., cols] = dV[..., pos]
                else:          # a column read more than once sums its adjoints
                    flat = dx.reshape(-1, dx.shape[-1])
                    np.add.at(flat, (slice(None), cols), dV[..., pos].reshape(-1, pos.size))  # type: ignore[arg-type]  # (the stubs omit slices)
            out.append(dx)
        return out


def padded_slots(unit: ArrayLike, n_units: int) -> tuple[Index, int, Index, Array]:
    """Lay the factors of each unit out in a (n_units, K) table, K = most factors of any unit.

    ``unit[f]`` is the unit factor f belongs to; factors of one unit keep their listed order
    (their slot). Returns (slot, K, table, mask): ``slot[f]``, the table of factor indices
    (padding -1) and its mask.

    Parameters
    ----------
    unit : array_like of int
        The unit of each factor.
    n_units : int
        The number of units (each needs a factor; ConfigError otherwise).

    Returns
    -------
    slot : ndarray of intp
    K : int
    table : ndarray of intp, (n_units, K)
    mask : ndarray of bool, (n_units, K)

    Examples
    --------
    >>> slot, K, table, mask = padded_slots([0, 1, 0], 2)
    >>> slot, K, table
    (array([0, 0, 1]), 2, array([[ 0,  2],
           [ 1, -1]]))
    """
    unit = as_index(unit, "unit")
    counts = np.bincount(unit, minlength=n_units)
    if n_units and counts.min() < 1:
        raise ConfigError(f"every unit needs at least one input; unit {int(np.argmin(counts))} has none")
    order = np.argsort(unit, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty(unit.size, dtype=np.intp)
    slot[order] = np.arange(unit.size) - np.repeat(starts, counts)
    K = int(counts.max()) if n_units else 0
    table = np.full((n_units, K), -1, dtype=np.intp)
    table[unit, slot] = np.arange(unit.size)
    return slot, K, table, table >= 0


class NamedNodes:
    """Mixin for ops that carry the names of their units and inputs (neuron graphs), kept in ``config()``.

    Examples
    --------
    >>> n = NamedNodes()
    >>> n._set_names(("h",), None)
    >>> n.names, n.input_names
    (['h'], None)
    """

    #: the labels, optional (left out of ``config()`` when not given)
    name_fields = (Texts("names", optional=True), Texts("input_names", optional=True))

    def _set_names(self, names: Iterable[str] | None, input_names: Iterable[str] | None) -> None:
        self.names = list(names) if names is not None else None
        self.input_names = list(input_names) if input_names is not None else None


class GatheredUnits(NamedNodes):
    """Mixin for ops whose unit ``unit[f]`` reads column ``col[f]`` of input node ``src[f]`` (max, product).

    Examples
    --------
    >>> from backprop.ops.maxunit import MaxUnit
    >>> m = MaxUnit([3], unit=[0, 0, 1], src=[0, 0, 0], col=[0, 1, 2])
    >>> m.size, m.arity, m.gather.size
    (2, 1, 3)
    """

    #: in_widths, unit, src, col, n_units (``n_units`` is written as the op's size)
    unit_fields = (Widths("in_widths"), Indices("unit", min_len=1), Indices("src", below="in_widths", length="unit",
                   attr="gather.src"), Indices("col", length="unit", attr="gather.col"),
                   Size("n_units", optional=True, attr="size"))

    @classmethod
    def check_config(cls, c: Any, cfg: Config, at: str) -> None:
        """Every unit below n_units; the (units, most inputs of a unit) table the op builds, summed over
        the network in ``c.cells``, stays within the file's bound."""
        unit = cfg["unit"]
        n_units = cfg["n_units"] if "n_units" in cfg else max(unit) + 1
        counts: dict[int, int] = {}
        for k, u in enumerate(unit):
            if u >= n_units:
                c.fail(f"{at}.unit[{k}]", f"a unit index below n_units = {n_units}", u)
            counts[u] = counts.get(u, 0) + 1
        c.cells += n_units * max(counts.values())
        if c.cells > c.limit:
            raise FileFormatError(f"{c.where}: {at}: max/product units would need a table of {c.cells} entries; "
                                  f"at most {c.limit} are expected for this file")

    def _set_units(self, in_widths: Sequence[int], unit: ArrayLike, src: ArrayLike, col: ArrayLike, n_units: int | None,
                   kind: str, member: str) -> None:
        self.in_widths = check_widths(in_widths, kind)
        self.arity = len(self.in_widths)
        self.unit = as_index(unit, "unit")
        self.size = int(n_units) if n_units is not None else int(self.unit.max()) + 1 if self.unit.size else 0
        if self.size < 1:
            raise ConfigError(f"a {kind} op needs at least one unit with at least one {member}")
        self.gather = ColumnGather(self.in_widths, src, col)
        if self.gather.size != self.unit.size:
            raise ConfigError(f"unit, src and col must have one entry per {member}")
