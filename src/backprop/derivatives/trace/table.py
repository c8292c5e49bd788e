"""A trace as a text table: step, quantity, formula, the formula with numbers, value (``str(trace)``)."""
from __future__ import annotations

from typing import Any


def table(tr: Any) -> str:
    """The steps of trace ``tr`` as a text table, under a header naming the instance, the loss and the rules."""
    head = ["#", "quantity", "formula", "with numbers", "value"]
    rows = [[str(k + 1), s.quantity, s.symbolic, s.numeric, tr._f(s.value)] for k, s in enumerate(tr.steps)]
    widths = [max(len(r[c]) for r in rows + [head]) for c in range(5)]
    widths[2], widths[3] = min(widths[2], 70), min(widths[3], 70)     # longer cells overflow, never cut

    def line(r: Any) -> str:
        cells = [r[0].rjust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                 r[3].ljust(widths[3]), r[4].rjust(widths[4])]
        return "  ".join(cells).rstrip()

    S = tr.sym
    x = ", ".join(f"{S.y(n) if tr.notation != '004' else n}={tr._f(v)}"
                  for n, v in zip(tr.layout.names, tr.x_input))
    t = ", ".join(f"{S.t(n) if tr.notation != '004' else n}={tr._f(v)}" for n, _, v in tr._outputs())
    out = [f"trace of one instance: {x}; target {t}; loss {tr.loss.name}"]
    if tr.notation != "004":
        out.append(f"symbols of {S.profile.note}")
    out.append(S.profile.rules + (" (+ lambda*w for a weight with L2)" if tr.l2 else ""))
    if tr.fused and tr.loss.fused_head().trace_note(S):
        out.append(tr.loss.fused_head().trace_note(S))
    out += ["", line(head), line(["-" * w for w in widths])]
    phase = None
    for s, r in zip(tr.steps, rows):
        if s.phase != phase:
            phase = s.phase
            out.append({"forward": "-- forward pass, node by node in order",
                        "loss": "-- terminal node",
                        "backward": "-- backward pass, level by level in reverse order"}[phase])
        out.append(line(r))
    return "\n".join(out)
