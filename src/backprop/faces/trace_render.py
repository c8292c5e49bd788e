"""Showing a trace: the text table, a picture of the network (SVG or PNG), and the ``backprop trace`` command.

The picture is drawn with networkx (graph layout primitives) on a matplotlib figure, which
writes SVG and PNG without any system package. Nodes are placed by level, left to right,
and show x, y, dE/dy and dE/dx; edges show the weight w and its gradient dE/dw.

Command line (wired into ``backprop`` by faces/cli.py)::

    backprop trace --model M --input 0.05 0.10 --target 0.01 --out trace.svg
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..derivatives.trace import Trace, trace as make_trace
from ..errors import ConfigError, InputError

PICTURE_FORMATS = ("svg", "png")
KIND_COLOURS = {"input": "#dbe9f6", "neuron": "#fff4cc", "product": "#dff2d8", "max": "#f8dde6"}
OUTPUT_COLOUR = "#fde0c5"
LEVEL_GAP = 5.5          # data units between levels: room for the edge labels between the boxes


def render_text(tr: Trace) -> str:
    """The step-by-step table of a trace (the same as ``str(trace)``)."""
    return tr.table()


def _positions(layout):
    """Level left to right; the units of a level top to bottom in the order they are computed."""
    by_level = {}
    for j, u in enumerate(layout.units):
        by_level.setdefault(u.level, []).append(j)
    tallest = max(len(v) for v in by_level.values())
    pos = {}
    for level, units in by_level.items():
        top = (len(units) - 1) / 2
        for k, j in enumerate(units):
            pos[layout.names[j]] = (LEVEL_GAP * level, (top - k) * 1.6 * max(1.0, 4 / max(tallest, 1)))
    return pos, tallest


def draw_trace(tr: Trace, path=None, *, ax=None, edge_labels=None, title=True):
    """Draw the traced network: values on the nodes, weights and gradients on the edges.

    Parameters
    ----------
    tr : Trace
        From ``bp.trace``.
    path : str or Path, optional
        Where to save the picture; the suffix picks the format (.svg or .png).
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    edge_labels : bool, optional
        Write w and dE/dw on every edge (default: when the network has at most 20 edges).
    title : bool
        Put E and the target above the picture.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import networkx as nx
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    fmt = None
    if path is not None:
        fmt = Path(path).suffix.lower().lstrip(".")
        if fmt not in PICTURE_FORMATS:
            raise ConfigError(f"a trace picture is saved as .svg or .png; got {str(path)!r}")
    lay, f = tr.layout, tr._f
    G = nx.DiGraph()
    for u in lay.units:
        G.add_node(u.name)
    for e in lay.edges:
        G.add_edge(lay.names[e.src], lay.names[e.dst], weighted=True)
    for u in lay.units:
        if u.kind in ("product", "max"):
            for i in u.inputs:
                G.add_edge(lay.names[i], u.name, weighted=False)
    pos, tallest = _positions(lay)
    n_levels = lay.n_levels
    show_edges = len(lay.edges) <= 20 if edge_labels is None else bool(edge_labels)
    small = len(lay.units) > 30
    if ax is None:
        fig = Figure(figsize=(max(6.0, 5.6 * n_levels), max(4.0, 1.9 * tallest + 1.0)))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    outputs = {lay.names[i] for i in lay.outputs}
    labels = {}
    for u in lay.units:
        N = tr.nodes[u.name]
        if u.kind == "input":
            text = f"{u.name}\ny = {f(N['y'])}\ndE/dy = {f(N['dE/dy'])}"
        else:
            act = "" if u.activation == "identity" else f"  [{u.activation}]"
            text = (f"{u.name}{act}\nx = {f(N['x'])}   y = {f(N['y'])}\n"
                    f"dE/dy = {f(N['dE/dy'])}\ndE/dx = {f(N['dE/dx'])}")
            if "b" in N:
                text += f"\nb = {f(N['b'])}   dE/db = {f(N['dE/db'])}"
        labels[u.name] = text
    boxes = {}
    for u in lay.units:
        colour = OUTPUT_COLOUR if u.name in outputs else KIND_COLOURS.get(u.kind, "#eeeeee")
        x, y = pos[u.name]
        boxes[u.name] = ax.text(x, y, labels[u.name], ha="center", va="center", fontsize=6 if small else 8,
                                family="monospace", zorder=2,
                                bbox=dict(boxstyle="round,pad=0.4", facecolor=colour, edgecolor="#444444",
                                          linewidth=0.8))
    # edges end at the borders of the boxes (arrows clipped by the boxes' patches); an edge that skips
    # levels bends, so that it passes between the boxes of the levels it skips
    level = {u.name: u.level for u in lay.units}
    bend = {}
    for k, (a, b) in enumerate(G.edges()):
        bend[(a, b)] = 0.0 if level[b] - level[a] <= 1 else (0.22 if k % 2 else -0.22)
    for a, b, w in G.edges(data="weighted"):
        ax.annotate("", xy=pos[b], xytext=pos[a], zorder=3,     # after the boxes: their patches clip it
                    arrowprops=dict(arrowstyle="-|>", mutation_scale=11, shrinkA=1, shrinkB=1,
                                    color="#555555" if w else "#2a7a2a", linestyle="-" if w else "--",
                                    linewidth=1.0 if w else 1.2, connectionstyle=f"arc3,rad={bend[(a, b)]}",
                                    patchA=boxes[a].get_bbox_patch(), patchB=boxes[b].get_bbox_patch()))
    if show_edges:      # labels of straight edges sit nearer their source: edges crossing midway keep them apart
        for rad in sorted(set(bend.values())):
            elabels = {}
            for e in lay.edges:
                a, b = lay.names[e.src], lay.names[e.dst]
                if bend[(a, b)] == rad:
                    rec = tr.edges[(a, b)]
                    elabels[(a, b)] = f"w = {f(rec['w'])}\ndE/dw = {f(rec['dE/dw'])}"
            if not elabels:
                continue
            texts = nx.draw_networkx_edge_labels(
                G, pos, edge_labels=elabels, ax=ax, label_pos=0.5 if rad else 0.38, font_size=6.5,
                font_family="monospace", rotate=False, connectionstyle=f"arc3,rad={rad}", node_size=0,
                bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85))
            for t in texts.values():          # below the boxes: node values stay readable
                t.set_zorder(1.5)
    if title:
        target = ", ".join(f"{lay.names[i]}: {f(t)}" for i, t in zip(lay.outputs, tr.target))
        ax.set_title(f"E = {f(tr.E)}   (loss {tr.loss.name}; target {target})", fontsize=10)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.4, max(xs) + 1.4)
    ax.set_ylim(min(ys) - 1.1, max(ys) + 1.1)
    ax.set_axis_off()
    if path is not None:
        # real text in the SVG (searchable, selectable), not glyph outlines
        with rc_context({"svg.fonttype": "none"}):
            fig.savefig(path, format=fmt, bbox_inches="tight", dpi=150)
    return fig


def save_trace(tr: Trace, path) -> str:
    """Save a trace by the suffix of ``path``: .svg/.png picture, .txt table, .json numbers, .html page to step
    through. Returns the format."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt in PICTURE_FORMATS:
        draw_trace(tr, path)
    elif fmt == "txt":
        Path(path).write_text(tr.table() + "\n", encoding="utf-8")
    elif fmt == "json":
        Path(path).write_text(json.dumps(tr.to_dict(), indent=1), encoding="utf-8")
    elif fmt == "html":
        tr.to_html(path)
    else:
        raise ConfigError(f"cannot tell the format of {str(path)!r}: use .svg, .png, .txt, .json or .html")
    return fmt


# ---- the `backprop trace` command ---------------------------------------------------------------------

def _numbers(values, what):
    """Floats from a list of strings/numbers; each string may hold several, split on commas."""
    out = []
    for v in ([values] if isinstance(values, (str, int, float)) else list(values)):
        parts = [p for p in str(v).replace(",", " ").split()] if isinstance(v, str) else [v]
        for p in parts:
            try:
                out.append(float(p))
            except ValueError:
                raise InputError(f"{what} must be numbers; got {p!r}") from None
    if not out:
        raise InputError(f"{what} is empty; give at least one number")
    return out


def _load(model):
    """(network, task, scaler) of a model: a network object, a file saved by ``net.save`` (no task, no
    scaler), or a file written by ``backprop train`` (its task and input standardisation, read as
    ``backprop predict`` reads them)."""
    if hasattr(model, "params") and hasattr(model, "ops"):
        return model, None, None
    from ..engine.serialize import load_bundle

    net, meta, _ = load_bundle(model)
    if "task" not in meta:
        return net, None, None
    from .cli import _load_model

    net, _, task, scaler = _load_model(model)
    return net, task, scaler


def _label(text):
    """A class label as given on the command line: a whole number, else a number, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def add_trace_arguments(parser) -> None:
    """Add the options of ``backprop trace`` to an argparse (sub)parser."""
    parser.add_argument("--model", required=True, help="saved model (from net.save / backprop train)")
    parser.add_argument("--input", required=True, nargs="+", metavar="X",
                        help="the instance: one number per input feature, as in the data (space or comma "
                             "separated); a model from 'backprop train' standardises it as predict does")
    parser.add_argument("--target", required=True, nargs="+", metavar="T",
                        help="target: a class label of the model (as in the training data), or one number "
                             "per output")
    parser.add_argument("--loss", default=None,
                        help="l2, bce, cross_entropy, ... (default: from the output activation)")
    parser.add_argument("--out", default=None,
                        help="also write the trace: .svg or .png picture, .txt table, .json numbers, "
                             ".html page to step through")
    parser.add_argument("--digits", type=int, default=6, help="significant digits in the table (default 6)")


def _trace_and_save(model_path, input_values, target, out_path, loss, digits, stdout):
    net, task, scaler = _load(model_path)
    x = np.array(_numbers(input_values, "--input"))
    if x.size != net.n_inputs:
        raise InputError(f"--input has {x.size} numbers; the model has {net.n_inputs} inputs")
    if out_path is not None:
        fmt = Path(out_path).suffix.lower().lstrip(".")
        if fmt not in PICTURE_FORMATS + ("txt", "json", "html"):
            raise ConfigError(f"--out {str(out_path)!r}: use a .svg, .png, .txt, .json or .html file name")
    note = None
    if task is not None and task.kind != "regression":
        # the target is one of the model's labels; the network's target is its class index
        values = list(target) if not isinstance(target, (str, int, float)) else [target]
        if len(values) != 1:
            raise InputError(f"--target takes one class label of this model ({', '.join(map(str, task.classes))}); "
                             f"got {len(values)} values")
        label = _label(str(values[0]))
        if not any(label == c or str(label) == str(c) for c in task.classes):
            raise InputError(f"--target {values[0]} is not a class label of this model; its labels are "
                             f"{', '.join(map(str, task.classes))}")
        t = task.targets(np.asarray([label]))[0]
        note = (f"target label {values[0]} is class index {t} of the model's classes "
                f"{', '.join(map(str, task.classes))}")
        t = float(t) if task.kind == "binary" else int(t)
    else:
        t = np.array(_numbers(target, "--target"))
        if t.size == 1 and net.n_outputs > 1:
            t = t[0]                   # a class label
    if scaler is not None and scaler.mean is not None:
        raw = x
        x = scaler(x[None])[0]     # exactly the standardisation ``backprop predict`` applies
        std = ", ".join(f"({raw[k]:.{digits}g} - {float(scaler.mean[k]):.{digits}g})/{float(scaler.scale[k]):.{digits}g}"
                        f" = {x[k]:.{digits}g}" for k in range(min(x.size, 8)))
        print("input standardised with the model's stored mean and scale (as backprop predict does): "
              + std + (" ..." if x.size > 8 else ""), file=stdout)
    if loss is None and task is not None:
        loss = task.loss               # the loss the model was trained with (its L2, label smoothing)
    if note:
        print(note, file=stdout)
    tr = make_trace(net, x, t, loss=loss, digits=digits)
    print(tr.table(), file=stdout)
    if out_path is not None:
        save_trace(tr, out_path)
        print(f"wrote {out_path}", file=stdout)
    return tr


def run_trace_command(model_path, input_values, target, out_path=None, *, loss=None, digits=6,
                      stdout=None, stderr=None) -> int:
    """``backprop trace``: print the step-by-step table of one instance and optionally save a picture.

    Parameters
    ----------
    model_path : str, Path or Network
        A saved model (or a network object).
    input_values : list of str or float
        The instance, one number per input (a string may hold several, comma or space separated).
    target : list of str or float
        One number per output, or one class label for a model with several outputs.
    out_path : str or Path, optional
        .svg / .png picture, .txt table or .json numbers.
    loss, digits
        As for ``bp.trace`` (default loss: from the output activation).

    Returns
    -------
    int
        0 on success; 1 on an error a user can act on (message on stderr, as ``backprop: error: ...``).
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    try:
        _trace_and_save(model_path, input_values, target, out_path, loss, digits, stdout)
    except (ValueError, OSError) as e:
        msg = " ".join(str(e).split())
        print(f"backprop: error: {msg}", file=stderr)
        return 1
    return 0


def trace_command(args) -> int:
    """Run ``backprop trace`` from parsed arguments (see ``add_trace_arguments``).

    Errors propagate (ValueError / OSError), for the command line's own error report.
    """
    _trace_and_save(args.model, args.input, args.target, args.out, args.loss, args.digits, sys.stdout)
    return 0
