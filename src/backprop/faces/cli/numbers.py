"""Numbers and names as a user reads them in the command line's output."""
from __future__ import annotations

import argparse
from typing import Any, Sequence

import numpy as np


def number(x: Any) -> str:
    """A number as a user reads it: ``0.1321``, ``7``, ``1e-06``, never ``np.float64(...)``."""
    x = x.item() if isinstance(x, np.generic) else x
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def shown(names: Sequence[str], k: int = 6) -> str:
    """The first ``k`` names, then ``...``."""
    return ", ".join(map(str, names[:k])) + (", ..." if len(names) > k else "")


def one_line(message: object) -> str:
    """``message`` on one line: every run of whitespace, line breaks included, becomes one space."""
    return " ".join(str(message).split())
