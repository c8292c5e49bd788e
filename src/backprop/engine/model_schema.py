"""The typed schema of a model description (the JSON in a model file), checked before anything is built.

A description from a file is untrusted. ``check_description`` walks it once and refuses, with a
``FileFormatError`` naming the place and the expected value, anything the constructors would
choke on or that would cost memory out of proportion to the file: unknown keys, wrong JSON types,
booleans or floats where integers belong, non-finite numbers, lists of the wrong length, and
sizes or indices outside ``[0, limit)``. ``limit`` comes from the file: the larger of the number of
parameters the file really stores and the length of the JSON text, so every width a valid network
can have fits, and nothing an op allocates while it is built can exceed it.

Consistency between ops (widths that match, an edge that points inside its input) is then left to
the ops and to ``Network`` themselves: they raise ConfigError, which the loader reports as a
FileFormatError. This module checks types and ranges only, so no rule is kept in two places.
"""
from __future__ import annotations

from ..errors import FileFormatError

#: no width, size or index in a file may exceed this, whatever the file stores
HARD_LIMIT = 1 << 31
#: sizes in a description may always reach this, however small the file
MIN_LIMIT = 1 << 16

_INITS = ("glorot", "he")
_DTYPES = ("float32", "float64")


class _Checker:
    def __init__(self, where: str, limit: int):
        self.where, self.limit = where, min(int(limit), HARD_LIMIT)
        self.cells = 0          # padded (unit, slot) tables of max/product ops, summed over the network

    def fail(self, at, expected, got):
        shown = repr(got)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise FileFormatError(f"{self.where}: {at} is {shown}; expected {expected}")

    # ---- scalars -----------------------------------------------------------------------------
    def int_(self, v, at, lo=0, hi=None):
        bounded_by_file = hi is None
        hi = self.limit if hi is None else hi
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v < hi:
            why = (f" (sizes and indices in a model file stay below the larger of the number of parameters it "
                   f"stores, the length of its description and {MIN_LIMIT})") if bounded_by_file and \
                isinstance(v, int) and v >= hi else ""
            self.fail(at, f"an integer in [{lo}, {hi - 1}]{why}", v)
        return v

    def size(self, v, at):
        return self.int_(v, at, 1)

    def number(self, v, at):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            self.fail(at, "a finite number", v)
        return v

    def str_(self, v, at, choices=None):
        if not isinstance(v, str) or (choices is not None and v not in choices):
            self.fail(at, "a string" if choices is None else f"one of {', '.join(map(repr, choices))}", v)
        return v

    # ---- containers --------------------------------------------------------------------------
    def list_(self, v, at, length=None, min_len=0):
        if not isinstance(v, list):
            self.fail(at, "a JSON list" if length is None else f"a list of {length} entries", v)
        if length is not None and len(v) != length:
            self.fail(at, f"a list of {length} entries, not {len(v)}", v)
        if len(v) < min_len:
            self.fail(at, f"a list of at least {min_len} entries", v)
        return v

    def ints(self, v, at, lo=0, hi=None, length=None, min_len=0):
        for k, x in enumerate(self.list_(v, at, length, min_len)):
            self.int_(x, f"{at}[{k}]", lo, hi)
        return v

    def numbers(self, v, at, length=None):
        for k, x in enumerate(self.list_(v, at, length)):
            self.number(x, f"{at}[{k}]")
        return v

    def strs(self, v, at):
        for k, x in enumerate(self.list_(v, at)):
            self.str_(x, f"{at}[{k}]")
        return v

    def obj(self, v, at, required, optional=()):
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
    def activation(self, v, at):
        if isinstance(v, str):
            return v
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            self.fail(at, "an activation name or {\"name\": ..., options}", v)
        for k, x in v.items():
            if k != "name":
                self.number(x, f"{at}.{k}")
        return v

    def op(self, cfg, at, inner=False):
        if not isinstance(cfg, dict):
            self.fail(at, "a JSON object describing an operation", cfg)
        kind = cfg.get("op")
        kinds = _INNER_OPS if inner else OP_SCHEMAS
        if not isinstance(kind, str) or kind not in kinds:
            raise FileFormatError(f"{self.where}: {at}: unknown operation {kind!r:.60} in model description; "
                                  f"expected one of {', '.join(map(repr, sorted(kinds)))}")
        required, optional, check = OP_SCHEMAS[kind]
        self.obj(cfg, at, ("op",) + required, optional)
        check(self, cfg, at)
        return cfg


def _widths(c, cfg, at):
    w = c.ints(cfg["in_widths"], f"{at}.in_widths", 1, min_len=1)
    if sum(w) > c.limit:
        c.fail(f"{at}.in_widths", f"widths summing to at most {c.limit}", w)
    return w


def _dense(c, cfg, at):
    c.size(cfg["n_in"], f"{at}.n_in")
    c.size(cfg["n_out"], f"{at}.n_out")
    c.str_(cfg["init"], f"{at}.init", _INITS)


def _width_only(c, cfg, at):
    c.size(cfg["size"], f"{at}.size")


def _activation(c, cfg, at):
    c.size(cfg["size"], f"{at}.size")
    c.activation(cfg["activation"], f"{at}.activation")


def _vector(c, cfg, at):
    c.size(cfg["size"], f"{at}.size")
    c.str_(cfg["fn"], f"{at}.fn")


def _positive(c, v, at):
    if c.number(v, at) <= 0:
        c.fail(at, "a finite number > 0", v)


def _layer_norm(c, cfg, at):
    c.size(cfg["size"], f"{at}.size")
    if "eps" in cfg:
        _positive(c, cfg["eps"], f"{at}.eps")
    if "elementwise_affine" in cfg and not isinstance(cfg["elementwise_affine"], bool):
        c.fail(f"{at}.elementwise_affine", "true or false", cfg["elementwise_affine"])


def _batch_norm(c, cfg, at):
    c.size(cfg["size"], f"{at}.size")
    if "eps" in cfg:
        _positive(c, cfg["eps"], f"{at}.eps")
    m = cfg.get("momentum")
    if m is not None and not 0 <= c.number(m, f"{at}.momentum") <= 1:
        c.fail(f"{at}.momentum", "a number in [0, 1] or null", m)


def _names(c, cfg, at):
    for key in ("names", "input_names"):
        if key in cfg:
            c.strs(cfg[key], f"{at}.{key}")


def _gathering(c, cfg, at):
    widths = _widths(c, cfg, at)
    src = c.ints(cfg["src"], f"{at}.src", 0, len(widths))
    c.ints(cfg["col"], f"{at}.col", length=len(src))
    return src


def _select(c, cfg, at):
    _gathering(c, cfg, at)


def _masked_dense(c, cfg, at):
    src = _gathering(c, cfg, at)
    n_out = c.size(cfg["n_out"], f"{at}.n_out")
    c.ints(cfg["row"], f"{at}.row", 0, n_out, length=len(src))
    if "bias_rows" in cfg:
        c.ints(cfg["bias_rows"], f"{at}.bias_rows", 0, n_out)
    if "init" in cfg:
        c.str_(cfg["init"], f"{at}.init", _INITS)
    _names(c, cfg, at)


def _units(c, cfg, at):
    src = _gathering(c, cfg, at)
    unit = c.ints(cfg["unit"], f"{at}.unit", length=len(src), min_len=1)
    n_units = c.size(cfg["n_units"], f"{at}.n_units") if "n_units" in cfg else max(unit) + 1
    counts = {}
    for k, u in enumerate(unit):
        if u >= n_units:
            c.fail(f"{at}.unit[{k}]", f"a unit index below n_units = {n_units}", u)
        counts[u] = counts.get(u, 0) + 1
    # the op lays its inputs out in a (units, most inputs of a unit) table
    c.cells += n_units * max(counts.values())
    if c.cells > c.limit:
        raise FileFormatError(f"{c.where}: {at}: max/product units would need a table of {c.cells} entries; "
                              f"at most {c.limit} are expected for this file")
    if "alpha" in cfg:
        c.numbers(cfg["alpha"], f"{at}.alpha", length=len(unit))
    _names(c, cfg, at)


def _segments(c, cfg, at):
    size = c.size(cfg["size"], f"{at}.size")
    for k, seg in enumerate(c.list_(cfg["segments"], f"{at}.segments", min_len=1)):
        where = f"{at}.segments[{k}]"
        c.list_(seg, where, length=3)
        c.int_(seg[0], f"{where}[0]", 0, size)
        c.int_(seg[1], f"{where}[1]", 1, size + 1)
        c.op(seg[2], f"{where}[2]", inner=True)


_MD = ("in_widths", "n_out", "src", "row", "col")
_GU = ("in_widths", "unit", "src", "col")
#: op name -> (required keys, optional keys, checker); optional keys are constructor defaults
OP_SCHEMAS = {
    "dense": (("n_in", "n_out", "init"), (), _dense),
    "activation": (("size", "activation"), (), _activation),
    "softmax": (("size",), (), _width_only),
    "vector_activation": (("size", "fn"), (), _vector),
    "select": (("in_widths", "src", "col"), (), _select),
    "masked_dense": (_MD, ("bias_rows", "init", "names", "input_names"), _masked_dense),
    "max": (_GU, ("n_units", "names", "input_names"), _units),
    "product": (_GU, ("alpha", "n_units", "names", "input_names"), _units),
    "segments": (("size", "segments"), (), _segments),
    "layer_norm": (("size",), ("eps", "elementwise_affine"), _layer_norm),
    "batch_norm": (("size",), ("eps", "momentum"), _batch_norm),
}
#: the ops a segment may apply (one-input, parameter-free activations)
_INNER_OPS = ("activation", "softmax", "vector_activation", "segments")


def check_description(desc, where: str, limit: int, classes, format_name: str, version: int) -> dict:
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
