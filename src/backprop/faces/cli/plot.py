"""``backprop plot``: loss curves and per-layer gradient norms of a training run."""
from __future__ import annotations

from pathlib import Path
import argparse
from typing import TYPE_CHECKING

from ...engine.serialize import load_bundle
from ...errors import FileFormatError
from ...training.history import History
from ..plots import figure_format, plot_history
from .usage import UsageError, check_output_path

if TYPE_CHECKING:
    from ...training.history import History


HELP = "loss curves and per-layer gradient norms of a training run (PNG, SVG, PDF)"
EXAMPLES = """examples:
  backprop plot model.npz
  backprop plot run.json --out run.svg --title "digits, adam"
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``backprop plot``: the history or model file, the figure file and its title."""
    p.add_argument("source", help="a history JSON file (train --history) or a model file from 'backprop train'")
    p.add_argument("--out", help="the figure file; its extension chooses the format: .png, .svg, .pdf or "
                   "another that matplotlib writes (default: SOURCE with the suffix -history.png)")
    p.add_argument("--title", help="figure title")


def _history(src: Path) -> History:
    """The training history in a history JSON file or in a model file written by ``backprop train``."""
    if src.suffix.lower() == ".json":
        return History.load(src)
    _, meta, _ = load_bundle(src)
    if "history" not in meta:
        raise FileFormatError(f"{src} holds no training history (it was not saved by 'backprop train')")
    return History.from_dict(meta["history"], source=str(src))


def run(args: argparse.Namespace) -> int:
    """``backprop plot``: the curves of a training history, written to a figure file."""
    src = Path(args.source)
    out = args.out or str(src.with_name(src.stem + "-history.png"))
    try:
        figure_format(out)                      # an unknown extension fails before any work
    except ValueError as e:
        raise UsageError(f"--out {out}: {e}") from None
    check_output_path("--out", out)
    history = _history(src)
    if not len(history):
        raise FileFormatError(f"{src}: the training history is empty; nothing to plot")
    plot_history(history, out, title=args.title or src.name)
    print(f"wrote {out}")
    return 0
