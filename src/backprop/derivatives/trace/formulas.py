"""Numbers as a trace's formulas print them: terms, factors (negative ones in parentheses) and sums.

The formulas of the loss rows (E, dE/dy at the outputs, and on the logits of a fused output) are the
losses' own (``Loss.trace_E``, ``trace_dE_dy``, ...); these helpers format the numbers in every row.
"""
from __future__ import annotations

from typing import Sequence, SupportsFloat


def _fmt(v: SupportsFloat, digits: int) -> str:
    return f"{float(v) + 0.0:.{digits}g}"          # + 0.0 turns -0.0 into 0.0


def _factor(v: SupportsFloat, digits: int) -> str:
    """A number as a factor of a product: negative numbers in parentheses."""
    s = _fmt(v, digits)
    return f"({s})" if s.startswith("-") else s


def _join_sum(terms: Sequence[str], max_terms: int = 8) -> str:
    if len(terms) > max_terms:
        return " + ".join(terms[:3]) + f" + ... ({len(terms) - 3} more terms)"
    return " + ".join(terms) if terms else "0"
