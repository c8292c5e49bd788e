"""Typed fields of an op's description: each constructor argument declared once, with its JSON type and range.

An op lists its fields in ``config_fields``, in constructor order::

    config_fields = (Size("n_in"), Size("n_out"), Choice("init", INIT_SCHEMES))

and from that one declaration

* ``Op.config()`` writes ``{"op": name, field: value, ...}``, each value read from the attribute of
  the field's name (or ``attr``, a dotted path such as ``"gather.src"``), made JSON-able;
* ``engine.model_schema`` checks a description read from an untrusted file against the declared
  types and ranges before the constructor ever sees it (``Field.check``).

A field is required in a file unless ``optional=True`` (the constructor has a default for it); an
optional field whose value is None is left out of ``config()``. Ranges may refer to an EARLIER field
of the same op: ``below="n_out"`` (each entry below that integer) or ``below="in_widths"`` (each
entry an index into that list), ``length="src"`` (as many entries as that list). Sizes and indices
are always bounded by the file (``c.limit``, see ``engine.model_schema``).

``check(c, v, at, cfg)`` receives the schema's checker ``c`` (its primitives ``size``, ``int_``,
``ints``, ``number``, ``numbers``, ``str_``, ``strs``, ``list_``, ``activation``, ``op``, ``fail``
and its ``limit``), the value ``v``, the place ``at`` for messages and the whole description ``cfg``.
Rules that tie several fields together beyond ``below``/``length`` go in the op's
``check_config(c, cfg, at)``.
"""
from __future__ import annotations

from typing import Any, Iterable, NoReturn, Protocol

import numpy as np

#: an op's description as a file holds it: {"op": name, field: value, ...}
Config = dict[str, Any]


class Checker(Protocol):
    """What a field's ``check`` may ask of the schema's checker (``engine.model_schema``): its bound and primitives.

    Each primitive raises FileFormatError naming the place ``at``, what was expected and what was found.
    """

    limit: int

    def fail(self, at: str, expected: str, got: object) -> NoReturn: ...
    def int_(self, v: object, at: str, lo: int = 0, hi: int | None = None) -> None: ...
    def size(self, v: object, at: str) -> None: ...
    def number(self, v: object, at: str) -> None: ...
    def str_(self, v: object, at: str, choices: Iterable[str] | None = None) -> None: ...
    def ints(self, v: object, at: str, lo: int = 0, hi: int | None = None, length: int | None = None,
             min_len: int = 0) -> None: ...
    def numbers(self, v: object, at: str, length: int | None = None) -> None: ...
    def strs(self, v: object, at: str) -> None: ...
    def activation(self, v: object, at: str) -> None: ...


def jsonable(v: Any) -> Any:
    """A value as JSON holds it: arrays and tuples as lists, numpy integers as ints.

    Parameters
    ----------
    v : object
        An attribute value of an op.

    Returns
    -------
    object
        ``v`` with arrays and tuples made lists (recursively) and numpy integers made ints.

    Examples
    --------
    >>> jsonable((np.int64(3), np.array([1.5, 2.0])))
    [3, [1.5, 2.0]]
    """
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    return v


def _bound(cfg: Config, ref: str) -> Any:
    """The bound an earlier field ``ref`` sets: its value if an integer, its length if a list."""
    v = cfg[ref]
    return len(v) if isinstance(v, list) else v


class Field:
    """One constructor argument of an op: its name, whether a file may leave it out, where its value lives.

    Parameters
    ----------
    name : str
        The constructor argument (and the key in the op's description).
    optional : bool, default False
        The constructor has a default for it: a file may leave it out.
    attr : str, optional
        The attribute (a dotted path) holding the value, if not ``name``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> Size("n_out", attr="shape.n").read(SimpleNamespace(shape=SimpleNamespace(n=np.int64(4))))
    4
    """

    def __init__(self, name: str, *, optional: bool = False, attr: str | None = None):
        self.name, self.optional, self.attr = name, optional, attr or name

    def value(self, op: object) -> Any:
        """The attribute (``attr``, a dotted path) that holds the field's value in ``op``.

        Parameters
        ----------
        op : Op
            The op to read.

        Returns
        -------
        object
            The attribute's value as the op holds it.
        """
        v = op
        for part in self.attr.split("."):
            v = getattr(v, part)
        return v

    def read(self, op: object) -> Any:
        """The field's JSON-able value for ``op.config()``.

        Parameters
        ----------
        op : Op
            The op to read.

        Returns
        -------
        object
            The value made JSON-able (:func:`jsonable`).
        """
        return jsonable(self.value(op))

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        """Check the value ``v`` read from a file at place ``at`` (FileFormatError otherwise).

        Parameters
        ----------
        c : Checker
            The schema's checker: its primitives and bound.
        v : object
            The value from the file.
        at : str
            Where ``v`` is, for messages.
        cfg : dict
            The op's whole description (earlier fields set bounds).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Size(Field):
    """An integer >= 1 (a width or a number of units), bounded by the file."""

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        c.size(v, at)


class Choice(Field):
    """One of the given strings."""

    def __init__(self, name: str, choices: Iterable[str], **kw: Any):
        super().__init__(name, **kw)
        self.choices = tuple(choices)

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        c.str_(v, at, self.choices)


class Text(Field):
    """A string (a name)."""

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        c.str_(v, at)


class Texts(Field):
    """A list of strings (labels)."""

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        c.strs(v, at)


class Widths(Field):
    """The widths of the input nodes: at least one, each >= 1, together at most the file's bound."""

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        c.ints(v, at, 1, min_len=1)
        if sum(v) > c.limit:
            c.fail(at, f"widths summing to at most {c.limit}", v)


class Indices(Field):
    """A list of integers >= ``lo``: below the bound of field ``below`` (else the file's), ``length``
    entries as field ``length`` has, at least ``min_len``."""

    def __init__(self, name: str, *, below: str | None = None, length: str | None = None, lo: int = 0,
                 min_len: int = 0, **kw: Any):
        super().__init__(name, **kw)
        self.below, self.length, self.lo, self.min_len = below, length, lo, min_len

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        hi = None if self.below is None else _bound(cfg, self.below)
        n = None if self.length is None else len(cfg[self.length])
        c.ints(v, at, self.lo, hi, length=n, min_len=self.min_len)


class Numbers(Field):
    """A list of finite numbers, as many as field ``length`` has entries (if given)."""

    def __init__(self, name: str, *, length: str | None = None, **kw: Any):
        super().__init__(name, **kw)
        self.length = length

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        c.numbers(v, at, None if self.length is None else len(cfg[self.length]))


class Activation(Field):
    """A scalar activation: its name, or ``{"name": ..., numeric options}`` (``ScalarActivation.config``)."""

    def read(self, op: object) -> Any:
        return self.value(op).config()

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        c.activation(v, at)


class Number(Field):
    """A finite number, with ``lo <= v <= hi`` where given (``lo_open``: v > lo); ``nullable``: JSON null
    is allowed too (the option's "none" setting, written out, not left out)."""

    def __init__(self, name: str, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
                 nullable: bool = False, **kw: Any):
        super().__init__(name, **kw)
        self.lo, self.hi, self.lo_open, self.nullable = lo, hi, lo_open, nullable

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        if self.nullable and v is None:
            return
        c.number(v, at)
        lo_ok = self.lo is None or (v > self.lo if self.lo_open else v >= self.lo)
        if not lo_ok or (self.hi is not None and v > self.hi):
            lo = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {self.lo:g}"
            hi = "" if self.hi is None else f"<= {self.hi:g}"
            c.fail(at, f"a finite number {' and '.join(x for x in (lo, hi) if x)}"
                   + (" or null" if self.nullable else ""), v)


class Flag(Field):
    """true or false."""

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        if not isinstance(v, bool):
            c.fail(at, "true or false", v)


class Seed(Field):
    """The seed of an op's random draws: an integer in [0, 2**63)."""

    def check(self, c: Checker, v: Any, at: str, cfg: Config) -> None:
        c.int_(v, at, 0, 1 << 63)
