"""A trace read layer by layer under the names of CMU 11-785's autograder, and a quantity-by-quantity comparison.

For a layered network (inputs on layer 0, every edge from layer l-1 to layer l) the trace's
scalar nodes are gathered into the vectors and matrices a student's own implementation holds:

    A0 = x,  Z_l = W_l A_l + b_l,  A_{l+1} = f(Z_l)                 (forward, l = 0 .. L-1)
    dLdA_L,  dLdZ_l = f'(Z_l) * dLdA_{l+1},  dLdW_l = dLdZ_l A_l^T,  dLdb_l = dLdZ_l,  dLdA_l = W_l^T dLdZ_l

``compare`` checks a student's values against these in the order they are computed and
reports the first quantity (and entry) that differs: that is where their implementation goes wrong.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from .notation import Symbols


def _levels(tr: Any) -> list[list[str]]:
    Symbols(tr.layout, "cmu")                      # raises ConfigError unless the network is layered
    by_level: dict[Any, Any] = {}
    for u in tr.layout.units:
        by_level.setdefault(u.level, []).append(u.name)
    return [by_level[l] for l in sorted(by_level)]


def named_intermediates(tr: Any) -> dict[str, Any]:
    """{name: array} in the order of computation (see the module docstring).

    Parameters
    ----------
    tr : Trace
        A trace of a layered network.

    Returns
    -------
    dict of str to ndarray

    Examples
    --------
    >>> import backprop as bp
    >>> tr = bp.trace(bp.MLP([2, 3, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
    >>> list(named_intermediates(tr))[:5]
    ['A0', 'W0', 'b0', 'Z0', 'A1']
    """
    levels = _levels(tr)
    N, Ed = tr.nodes, tr.edges
    out = {"A0": np.array([N[n]["y"] for n in levels[0]])}
    W, dW, b, db = {}, {}, {}, {}
    for l in range(len(levels) - 1):
        src, dst = levels[l], levels[l + 1]
        W[l] = np.zeros((len(dst), len(src)))
        dW[l] = np.zeros((len(dst), len(src)))
        for r, d in enumerate(dst):
            for c, s in enumerate(src):
                if (s, d) in Ed:
                    W[l][r, c], dW[l][r, c] = Ed[(s, d)]["w"], Ed[(s, d)]["dE/dw"]
        b[l] = np.array([N[d].get("b", 0.0) for d in dst])
        db[l] = np.array([N[d].get("dE/db", 0.0) for d in dst])
        out[f"W{l}"], out[f"b{l}"] = W[l], b[l]
        out[f"Z{l}"] = np.array([N[d]["x"] for d in dst])
        out[f"A{l + 1}"] = np.array([N[d]["y"] for d in dst])
    out["L"] = np.array(tr.E)
    top = len(levels) - 1
    out[f"dLdA{top}"] = np.array([N[n]["dE/dy"] for n in levels[top]])
    for l in range(top - 1, -1, -1):
        out[f"dLdZ{l}"] = np.array([N[d]["dE/dx"] for d in levels[l + 1]])
        out[f"dLdW{l}"] = dW[l]
        out[f"dLdb{l}"] = db[l]
        out[f"dLdA{l}"] = np.array([N[s]["dE/dy"] for s in levels[l]])
    return out


class Comparison:
    """The result of ``Trace.compare``.

    Attributes
    ----------
    ok : bool
    checked : list of str
        The names compared, in the order of computation.
    first : dict or None
        {"name", "index", "expected", "got", "why"} of the first entry that differs.

    Parameters
    ----------
    checked : list of str
        The names compared.
    first : dict or None
        The first difference: ``name``, ``index``, ``theirs``, ``trace``, ``why``.

    Examples
    --------
    >>> import backprop as bp
    >>> tr = bp.trace(bp.MLP([2, 3, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
    >>> bool(tr.compare(tr.layers()))
    True
    """

    def __init__(self, checked: list[str], first: Any) -> None:
        self.checked, self.first = checked, first
        self.ok = first is None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return f"all {len(self.checked)} quantities agree: {', '.join(self.checked)}"
        f = self.first
        agree = self.checked[:self.checked.index(f["name"])]
        head = f"agree: {', '.join(agree)}; " if agree else ""
        return f"{head}first difference: {f['why']}"

    __repr__ = __str__


def _get(theirs: Any, name: str) -> Any:
    if isinstance(theirs, Mapping):
        return theirs.get(name)
    return getattr(theirs, name, None)


def compare(tr: Any, theirs: Any, rtol: float = 1e-6, atol: float = 1e-8) -> Comparison:
    """See ``Trace.compare``.

    Parameters
    ----------
    tr : Trace
        The trace.
    theirs : mapping or object
        The student's intermediates by name.
    rtol, atol : float
        Tolerances of ``numpy.isclose``.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import numpy as np
    >>> import backprop as bp
    >>> tr = bp.trace(bp.MLP([2, 3, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
    >>> result = compare(tr, {"Z0": np.zeros(3)})
    >>> bool(result), result.first["name"]
    (False, 'Z0')
    """
    ours = named_intermediates(tr)
    if isinstance(theirs, Mapping):
        unknown = [k for k in theirs if k not in ours]
        if unknown:
            raise ConfigError(f"no quantity named {unknown[0]!r} in this network; the names are "
                              f"{', '.join(ours)}")
    checked = []
    for name, mine in ours.items():
        got = _get(theirs, name)
        if got is None:
            continue
        checked.append(name)
        try:
            got = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be an array of numbers; got {type(got).__name__}") from None
        if got.shape != mine.shape and got.shape == (1,) + mine.shape:
            got = got[0]                        # a batch of one instance
        if got.shape != mine.shape:
            return Comparison(checked, {"name": name, "index": None, "expected": mine, "got": got,
                                        "why": f"{name} has shape {got.shape}; expected {mine.shape}"})
        bad = ~np.isclose(got, mine, rtol=rtol, atol=atol)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            label = name + ("[" + ",".join(map(str, idx)) + "]" if idx else "")
            why = (f"{label}: yours {float(got[idx]):.10g}, the trace's {float(mine[idx]):.10g} "
                   f"(difference {float(got[idx] - mine[idx]):.3g})")
            return Comparison(checked, {"name": name, "index": idx, "expected": float(mine[idx]),
                                        "got": float(got[idx]), "why": why})
    return Comparison(checked, None)
