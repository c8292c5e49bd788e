"""The typed schema of a model description (the JSON in a model file), checked before anything is built.

A description from a file is untrusted. ``check_description`` walks it once and refuses, with a
``FileFormatError`` naming the place and the expected value, anything the constructors would
choke on or that would cost memory out of proportion to the file: unknown keys, wrong JSON types,
booleans or floats where integers belong, non-finite numbers, lists of the wrong length, and
sizes or indices outside ``[0, limit)``. ``limit`` comes from the file: the larger of the number of
parameters the file really stores and the length of the JSON text, so every width a valid network
can have fits, and nothing an op allocates while it is built can exceed it.

The types and ranges of each op's fields are declared by the op itself, where its constructor
arguments are (``config_fields``, typed fields from ``ops/fields.py``); this module reads them for
every registered op, so a new op needs no entry here. Consistency between ops (widths that match,
an edge that points inside its input) is then left to the ops and to ``Network`` themselves: they
raise ConfigError, which the loader reports as a FileFormatError. This module checks types and
ranges only, so no rule is kept in two places.
"""
from __future__ import annotations

from typing import Any, Collection, Iterable, NoReturn

from ..errors import FileFormatError
from ..ops.base import Op
from ..ops.fields import Field
from ..ops.registry import load_ops

#: no width, size or index in a file may exceed this, whatever the file stores
HARD_LIMIT = 1 << 31
#: sizes in a description may always reach this, however small the file
MIN_LIMIT = 1 << 16

_DTYPES = ("float32", "float64")


class _Checker:
    """The primitives a description is checked with (``ops.fields.Checker``): each returns the value it
    checked, or raises FileFormatError naming the place ``at``, what was expected and what was found."""

    def __init__(self, where: str, limit: int):
        self.where, self.limit = where, min(int(limit), HARD_LIMIT)
        self.cells = 0          # padded (unit, slot) tables of max/product ops, summed over the network

    def fail(self, at: str, expected: str, got: object) -> NoReturn:
        shown = repr(got)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise FileFormatError(f"{self.where}: {at} is {shown}; expected {expected}")

    # ---- scalars -----------------------------------------------------------------------------
    def int_(self, v: Any, at: str, lo: int = 0, hi: int | None = None) -> int:
        bounded_by_file = hi is None
        hi = self.limit if hi is None else hi
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v < hi:
            why = (f" (sizes and indices in a model file stay below the larger of the number of parameters it "
                   f"stores, the length of its description and {MIN_LIMIT})") if bounded_by_file and \
                isinstance(v, int) and v >= hi else ""
            self.fail(at, f"an integer in [{lo}, {hi - 1}]{why}", v)
        return v

    def size(self, v: Any, at: str) -> int:
        return self.int_(v, at, 1)

    def number(self, v: Any, at: str) -> float:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            self.fail(at, "a finite number", v)
        return v

    def str_(self, v: Any, at: str, choices: Iterable[str] | None = None) -> str:
        if not isinstance(v, str) or (choices is not None and v not in choices):
            self.fail(at, "a string" if choices is None else f"one of {', '.join(map(repr, choices))}", v)
        return v

    # ---- containers --------------------------------------------------------------------------
    def list_(self, v: Any, at: str, length: int | None = None, min_len: int = 0) -> list[Any]:
        if not isinstance(v, list):
            self.fail(at, "a JSON list" if length is None else f"a list of {length} entries", v)
        if length is not None and len(v) != length:
            self.fail(at, f"a list of {length} entries, not {len(v)}", v)
        if len(v) < min_len:
            self.fail(at, f"a list of at least {min_len} entries", v)
        return v

    def ints(self, v: Any, at: str, lo: int = 0, hi: int | None = None, length: int | None = None,
             min_len: int = 0) -> list[int]:
        for k, x in enumerate(self.list_(v, at, length, min_len)):
            self.int_(x, f"{at}[{k}]", lo, hi)
        return v

    def numbers(self, v: Any, at: str, length: int | None = None) -> list[float]:
        for k, x in enumerate(self.list_(v, at, length)):
            self.number(x, f"{at}[{k}]")
        return v

    def strs(self, v: Any, at: str) -> list[str]:
        for k, x in enumerate(self.list_(v, at)):
            self.str_(x, f"{at}[{k}]")
        return v

    def obj(self, v: Any, at: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict[str, Any]:
        if not isinstance(v, dict):
            self.fail(at, f"a JSON object with keys {', '.join(required)}", v)
        missing = [k for k in required if k not in v]
        if missing:
            raise FileFormatError(f"{self.where}: {at} lacks {', '.join(map(repr, missing))}; expected keys "
                                  f"{', '.join(map(repr, list(required) + list(optional)))}")
        unknown = [k for k in v if k not in required and k not in optional]
        if unknown:
            raise FileFormatError(f"{self.where}: {at} has unknown key(s) {', '.join(map(repr, unknown[:5]))}; "
                                  f"expected only {', '.join(map(repr, list(required) + list(optional)))}")
        return v

    # ---- activations and ops -----------------------------------------------------------------
    def activation(self, v: Any, at: str) -> str | dict[str, Any]:
        if isinstance(v, str):
            return v
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            self.fail(at, "an activation name or {\"name\": ..., options}", v)
        for k, x in v.items():
            if k != "name":
                self.number(x, f"{at}.{k}")
        return v

    def op(self, cfg: Any, at: str, inner: bool = False) -> dict[str, Any]:
        """An op description: its registered name, then every field as the op class declares it
        (``config_fields``, see ``ops/fields.py``), then the op's own cross-field rules."""
        if not isinstance(cfg, dict):
            self.fail(at, "a JSON object describing an operation", cfg)
        kind = cfg.get("op")
        kinds = op_schemas(inner)
        if not isinstance(kind, str) or kind not in kinds:
            raise FileFormatError(f"{self.where}: {at}: unknown operation {kind!r:.60} in model description; "
                                  f"expected one of {', '.join(map(repr, sorted(kinds)))}")
        cls = kinds[kind]
        fields = cls.config_fields
        self.obj(cfg, at, ("op",) + tuple(f.name for f in fields if not f.optional),
                 tuple(f.name for f in fields if f.optional))
        for f in fields:
            if f.name in cfg:
                f.check(self, cfg[f.name], f"{at}.{f.name}", cfg)
        cls.check_config(self, cfg, at)
        return cfg


def op_schemas(inner: bool = False) -> dict[str, type[Op]]:
    """Op name -> op class, for every registered op that declares typed ``config_fields`` (only those a
    file may name); ``inner``: only the ops that may apply inside segments.

    Parameters
    ----------
    inner : bool, default False
        Only the ops that may apply inside segments (``Op.in_segments``).

    Returns
    -------
    dict of str -> type

    Examples
    --------
    >>> "dense" in op_schemas(), "dense" in op_schemas(inner=True)
    (True, False)
    """
    return {name: cls for name, cls in load_ops().items()
            if cls.config_fields and all(isinstance(f, Field) for f in cls.config_fields)
            and (cls.in_segments or not inner)}


def check_description(desc: Any, where: str, limit: int, classes: Collection[str], format_name: str,
                      version: int) -> dict[str, Any]:
    """Check the types and ranges of a whole model description; return it unchanged.

    Parameters
    ----------
    desc : object
        The parsed JSON.
    where : str
        Names the file in messages.
    limit : int
        Bound on every width, size and index (see the module docstring).
    classes : collection of str
        Network class names a file may name.
    format_name, version : str, int
        The expected format name and the newest version this code reads.

    Returns
    -------
    dict
        ``desc``, now known to be well-typed.

    Raises
    ------
    FileFormatError
        Naming the first offending entry and what was expected there.

    Examples
    --------
    >>> check_description({"format": "backprop-model", "version": 9}, "m.npz", 100, ["MLP"], "backprop-model", 1)
    Traceback (most recent call last):
    ...
    backprop.errors.FileFormatError: m.npz has model format version 9; this backprop reads versions 1 to 1 (a newer version needs a newer backprop)
    """
    c = _Checker(where, limit)
    if not isinstance(desc, dict) or desc.get("format") != format_name:
        raise FileFormatError(f"{where} is not a backprop model file (no {format_name!r} description)")
    v = desc.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= version:
        raise FileFormatError(f"{where} has model format version {v!r}; this backprop reads versions 1 to "
                              f"{version} (a newer version needs a newer backprop)")
    c.obj(desc, "the description", ("format", "version", "class", "network"), ("metadata",))
    c.str_(desc["class"], "'class'", tuple(classes))
    if "metadata" in desc and not isinstance(desc["metadata"], dict):
        c.fail("'metadata'", "a JSON object", desc["metadata"])
    net = c.obj(desc["network"], "'network'", ("n_inputs", "dtype", "ops", "inputs"))
    c.size(net["n_inputs"], "network.n_inputs")
    c.str_(net["dtype"], "network.dtype", _DTYPES)
    ops = c.list_(net["ops"], "network.ops", min_len=1)
    inputs = c.list_(net["inputs"], "network.inputs", length=len(ops))
    for j, cfg in enumerate(ops):
        c.op(cfg, f"network.ops[{j}]")
        # node j + 1 reads earlier nodes: 0 (the input) .. j
        c.ints(inputs[j], f"network.inputs[{j}]", 0, j + 1, min_len=1)
    return desc
