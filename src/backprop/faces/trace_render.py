"""Showing a trace: the text table, a picture of the network (SVG or PNG), and the ``backprop trace`` command.

The picture is drawn on a matplotlib figure, which writes SVG and PNG without any system
package. Nodes are placed by level, left to right, and show x, y, dE/dy and dE/dx with the
step numbers of the table; edges show the weight w and its gradient dE/dw (or, when there
are many, the gradient by colour and width); the terminal node E closes the picture.

Command line (``backprop trace``, in faces/cli/trace.py)::

    backprop trace --model M --input 0.05 0.10 --target 0.01 --out trace.svg
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
import os
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from .._optional import require
from ..derivatives.trace import Trace, trace as make_trace
from ..errors import ConfigError, InputError
from ..losses import LOSS_NAMES


PICTURE_FORMATS = ("svg", "png")
KIND_COLOURS = {"input": "#dbe9f6", "neuron": "#fff4cc", "product": "#dff2d8", "max": "#f8dde6"}
OUTPUT_COLOUR = "#fde0c5"
LEVEL_GAP = 5.5          # data units between levels: room for the edge labels between the boxes


def _positions(layout: Any) -> tuple[dict[str, tuple[float, float]], int]:
    """Level left to right; the units of a level top to bottom in the order they are computed."""
    by_level: dict[Any, Any] = {}
    for j, u in enumerate(layout.units):
        by_level.setdefault(u.level, []).append(j)
    tallest = max(len(v) for v in by_level.values())
    pos = {}
    for level, units in by_level.items():
        top = (len(units) - 1) / 2
        for k, j in enumerate(units):
            pos[layout.names[j]] = (LEVEL_GAP * level, (top - k) * 1.6 * max(1.0, 4 / max(tallest, 1)))
    return pos, tallest


#: above these sizes the picture summarises each level instead of drawing every node (a size guard)
MAX_DRAWN_UNITS, MAX_DRAWN_EDGES = 80, 600


def _step_numbers(tr: Trace) -> dict[str, int]:
    """{key: step number of the table} so that picture and table share their numbering."""
    return {s.key: k + 1 for k, s in enumerate(tr.steps) if s.key}


class _Placer:
    """Edge labels beside their edge: the first spot along the edge, on either side, whose box (measured by the
    renderer, in pixels) overlaps no node box and no label placed before; else the least overlapping one."""

    def __init__(self, ax: Any, renderer: Any, taken: Sequence[Any]) -> None:
        self.ax, self.r, self.taken = ax, renderer, [b.padded(2) for b in taken]

    def _box(self, t: Any) -> Any:
        t.update_bbox_position_size(self.r)
        return t.get_bbox_patch().get_window_extent(self.r)

    def place(self, t: Any, p: tuple[float, float], q: tuple[float, float], rad: float = 0.0) -> None:
        """Move text ``t`` beside the edge p -> q (data coordinates) as drawn: the straight segment, or for
        ``rad`` != 0 the arc of matplotlib's ``arc3`` connection style, the quadratic Bezier curve through
        the control point (mid + rad*(dy, -dx)) taken in display coordinates, as matplotlib draws it."""
        to_px, to_data = self.ax.transData.transform, self.ax.transData.inverted().transform
        P0, P2 = np.asarray(to_px(p), float), np.asarray(to_px(q), float)
        dx, dy = P2 - P0
        C = (P0 + P2) / 2 + rad * np.array([dy, -dx])

        # the point at parameter f and the tangent there, in pixels
        def along(f: float) -> tuple[Any, Any]:
            return ((1 - f) ** 2 * P0 + 2 * (1 - f) * f * C + f ** 2 * P2,
                    2 * (1 - f) * (C - P0) + 2 * f * (P2 - C))

        t.set_position(to_data(P0))
        b = self._box(t)
        w, h = b.width, b.height
        best: tuple[float, Any, Any] | None = None
        spots = [(f, side, far) for far in (1.0, 2.2) for f in (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85)
                 for side in (1, -1)]
        for f, side, far in spots:
            at, (tx, ty) = along(f)
            norm = max((tx * tx + ty * ty) ** 0.5, 1e-9)
            nx, ny = -ty / norm, tx / norm
            if ny < 0:
                nx, ny = -nx, -ny
            d = (abs(nx) * w + abs(ny) * h) / 2 + 3          # the box touches the line, beside it
            c = (at[0] + side * nx * d * far, at[1] + side * ny * d * far)
            t.set_position(to_data(c))
            box = self._box(t)
            hit = sum(_area(box, o) for o in self.taken)
            if best is None or hit < best[0]:
                best = (hit, c, box)
            if hit == 0:
                break
        assert best is not None                # the loop tries at least one place
        t.set_position(to_data(best[1]))
        self.taken.append(best[2].padded(2))


def _area(a: Any, b: Any) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _renderer(fig: Any) -> Any:
    """A renderer to measure text with: the figure's own, or an Agg canvas for a figure made here."""
    get = getattr(fig.canvas, "get_renderer", None)
    if get is None:
        require("matplotlib.backends.backend_agg", extra="plots", feature="trace pictures").FigureCanvasAgg(fig)
        get = fig.canvas.get_renderer
    return get()


def draw_trace(tr: Trace, path: str | os.PathLike[str] | None = None, *, ax: Any = None,
               edge_labels: bool | None = None, title: bool | str = True, summary: bool | None = None) -> Any:
    """Draw the traced network: values on the nodes, weights and gradients on the edges, and the terminal node E.

    Each number carries its step number [k] of the table (``str(trace)``). Edge labels sit beside the
    edge, placed so that they overlap no node and no other label; without labels (more than 20 edges)
    an edge's colour gives the sign of dE/dw (red +, blue -) and its width ``|dE/dw|``. Vector groups
    (softmax) are framed, product and max units say so, and the winning input of a max unit is drawn
    solid. Networks above 80 units or 600 edges are summarised per level (size guard).

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
    summary : bool, optional
        One box per level instead of every node (default: above the size guard).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import backprop as bp
    >>> tr = bp.trace(bp.MLP([2, 2, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
    >>> type(bp.draw_trace(tr)).__name__
    'Figure'
    """
    rc_context = require("matplotlib", extra="plots", feature="trace pictures").rc_context

    fmt = None
    if path is not None:
        fmt = Path(path).suffix.lower().lstrip(".")
        if fmt not in PICTURE_FORMATS:
            raise ConfigError(f"a trace picture is saved as .svg or .png; got {str(path)!r}")
    lay = tr.layout
    if summary is None:
        summary = len(lay.units) > MAX_DRAWN_UNITS or len(lay.edges) > MAX_DRAWN_EDGES
    if summary:
        fig = _draw_summary(tr, ax, title)
    else:
        fig = _draw_nodes(tr, ax, edge_labels, title)
    if path is not None:
        # real text in the SVG (searchable, selectable), not glyph outlines
        with rc_context({"svg.fonttype": "none"}):
            fig.savefig(path, format=fmt, bbox_inches="tight", dpi=150)
    return fig


def _new_axes(ax: Any, width: float, height: float) -> tuple[Any, Any]:
    Figure = require("matplotlib.figure", extra="plots", feature="trace pictures").Figure

    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def _draw_nodes(tr: Trace, ax: Any, edge_labels: bool | None, title: bool | str) -> Any:
    lay, f, S = tr.layout, tr._f, tr.sym
    num = _step_numbers(tr)

    def k(key: str) -> str:
        return f"[{num[key]}] " if key in num else ""

    plain = tr.notation == "004"          # "x = ..." on node n; other notations write each quantity's symbol

    def sym_of(kind: str, *names: str) -> str:
        if plain:
            return {"x": "x", "y": "y", "dy": "dE/dy", "dx": "dE/dx", "b": "b", "db": "dE/db", "w": "w",
                    "dw": "dE/dw"}[kind]
        return getattr(S, kind)(*names)

    pos, tallest = _positions(lay)
    n_levels = lay.n_levels
    pos["E"] = (LEVEL_GAP * n_levels, 0.0)
    show_edges = len(lay.edges) <= 20 if edge_labels is None else bool(edge_labels)
    small = len(lay.units) > 30
    width, height = max(6.0, 5.6 * (n_levels + 1)), max(4.0, 1.9 * tallest + 1.0)
    fig, ax = _new_axes(ax, width, height)
    outputs = {lay.names[i] for i in lay.outputs}
    texts = {}
    for u in lay.units:
        N = tr.nodes[u.name]
        if u.kind == "input":
            text = (f"{u.name}\n{k(f'y({u.name})')}{sym_of('y', u.name)} = {f(N['y'])}\n"
                    f"{k(f'dE/dy({u.name})')}{sym_of('dy', u.name)} = {f(N['dE/dy'])}")
        else:
            if u.kind == "product":
                what = "  [product: " + " * ".join(f"y({lay.names[i]})" + (f"^{a:g}" if a != 1 else "")
                                                  for i, a in zip(u.inputs, u.exponents)) + "]"
            elif u.kind == "max":
                what = "  [max of " + ", ".join(lay.names[i] for i in u.inputs) + "]"
            else:
                what = ""
            act = "" if u.activation == "identity" else f"  [{u.activation}]"
            dy = (f"{k(f'dE/dy({u.name})')}{sym_of('dy', u.name)} = {f(N['dE/dy'])}\n"
                  if f"dE/dy({u.name})" in num else "")
            text = (f"{u.name}{act}{what}\n{k(f'x({u.name})')}{sym_of('x', u.name)} = {f(N['x'])}   "
                    f"{k(f'y({u.name})')}{sym_of('y', u.name)} = {f(N['y'])}\n"
                    f"{dy}{k(f'dE/dx({u.name})')}{sym_of('dx', u.name)} = {f(N['dE/dx'])}")
            if "b" in N:
                text += (f"\n{sym_of('b', u.name)} = {f(N['b'])}   {k(f'dE/db({u.name})')}{sym_of('db', u.name)} = "
                         f"{f(N['dE/db'])}")
        texts[u.name] = text
    texts["E"] = f"{S.E}\n{k('E')}{S.E} = {f(tr.E)}\nloss {tr.loss.name}"
    fs = 6 if small else 8
    boxes = {}
    for name, text in texts.items():
        if name == "E":
            colour = "#e6e6e6"
        else:
            u = lay.units[lay.index[name]]
            colour = OUTPUT_COLOUR if name in outputs else KIND_COLOURS.get(u.kind, "#eeeeee")
        x, y = pos[name]
        boxes[name] = ax.text(x, y, text, ha="center", va="center", fontsize=fs, family="monospace", zorder=2,
                              bbox=dict(boxstyle="round,pad=0.4", facecolor=colour, edgecolor="#444444",
                                        linewidth=0.8))
    # box extents in data units, estimated from the text (monospace): for label placement and group frames
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    x_per_in = (max(xs) - min(xs) + 2.8) / width
    y_per_in = (max(ys) - min(ys) + 2.2) / height
    char_w, line_h = 0.6 * fs / 72 * x_per_in, 1.25 * fs / 72 * y_per_in

    def extent(name: str) -> tuple[float, float, float, float]:
        lines = texts[name].split("\n")
        w = (max(len(s) for s in lines) + 3.0) * char_w
        h = (len(lines) + 0.8) * line_h
        x, y = pos[name]
        return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)

    ext = {name: extent(name) for name in texts}
    # vector groups (softmax) framed with their name
    for g in lay.groups:
        members = [lay.names[i] for i in g.units]
        x0 = min(ext[m][0] for m in members) - 0.15
        x1 = max(ext[m][2] for m in members) + 0.15
        y0 = min(ext[m][1] for m in members) - 0.15
        y1 = max(ext[m][3] for m in members) + 0.15
        patches = require("matplotlib.patches", extra="plots", feature="trace pictures")
        ax.add_patch(patches.FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0.05", fill=False,
                                    edgecolor="#7a4ea8", linestyle="--", linewidth=1.0, zorder=1))
        ax.text(x0, y1 + 0.05, g.name, fontsize=fs, color="#7a4ea8", va="bottom", ha="left", zorder=1)
    level = {u.name: u.level for u in lay.units}
    level["E"] = n_levels
    grads = [abs(tr.edges[(lay.names[e.src], lay.names[e.dst])]["dE/dw"]) for e in lay.edges]
    gmax = max(grads + [1e-300])

    def arrow(a: str, b: str, colour: str, style: str, lw: float, rad: float) -> None:
        ax.annotate("", xy=pos[b], xytext=pos[a], zorder=3,
                    arrowprops=dict(arrowstyle="-|>", mutation_scale=11, shrinkA=1, shrinkB=1, color=colour,
                                    linestyle=style, linewidth=lw, connectionstyle=f"arc3,rad={rad}",
                                    patchA=boxes[a].get_bbox_patch(), patchB=boxes[b].get_bbox_patch()))

    ax.set_xlim(min(xs) - 1.4, max(xs) + 1.4)
    bulge = max([0.22 * abs(pos[lay.names[e.dst]][0] - pos[lay.names[e.src]][0]) / 2 for e in lay.edges
                 if level[lay.names[e.dst]] - level[lay.names[e.src]] > 1] + [0.0])
    ax.set_ylim(min(ys) - 1.1 - bulge, max(ys) + 1.1 + bulge)       # room for the arcs of edges that skip levels
    placer = None
    if show_edges:
        r = _renderer(fig)
        placer = _Placer(ax, r, [boxes[n].get_bbox_patch().get_window_extent(r)
                                 for n in boxes if boxes[n].update_bbox_position_size(r) is None])
    for n, e in enumerate(lay.edges):
        a, b = lay.names[e.src], lay.names[e.dst]
        rec = tr.edges[(a, b)]
        rad = 0.0 if level[b] - level[a] <= 1 else (0.22 if n % 2 else -0.22)
        if show_edges:
            arrow(a, b, "#555555", "-", 1.0, rad)
        else:
            g = rec["dE/dw"]
            colour = "#c0392b" if g > 0 else "#2563eb" if g < 0 else "#bbbbbb"
            arrow(a, b, colour, "-", 0.4 + 3.0 * abs(g) / gmax, rad)
        if show_edges:
            label = (f"{sym_of('w', a, b)} = {f(rec['w'])}\n"
                     f"{k(f'dE/dw({a},{b})')}{sym_of('dw', a, b)} = {f(rec['dE/dw'])}")
            t = ax.text(0, 0, label, ha="center", va="center", fontsize=6.5, family="monospace", zorder=4,
                        bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="#cccccc", alpha=0.95))
            assert placer is not None
            placer.place(t, pos[a], pos[b], rad)     # beside the drawn edge: the arc of an edge that skips levels
    for u in lay.units:                  # unweighted inputs of product and max units; a max unit's winner solid
        if u.kind in ("product", "max"):
            ys_in = [tr.nodes[lay.names[i]]["y"] for i in u.inputs]
            win = int(np.argmax(ys_in)) if u.kind == "max" else None
            for slot, i in enumerate(u.inputs):
                solid = u.kind == "product" or slot == win
                arrow(lay.names[i], u.name, "#2a7a2a", "-" if solid else ":", 1.6 if slot == win else 1.1, 0.0)
    for o in outputs:
        arrow(o, "E", "#777777", "--", 1.0, 0.0)
    if not show_edges and lay.edges:
        ax.text(min(xs), min(ys) - 1.0, "edges: colour = sign of dE/dw (red +, blue -), width = |dE/dw|",
                fontsize=7, color="#555555", ha="left", va="top")
    if title:
        target = ", ".join(f"{lay.names[i]}: {f(t)}" for i, t in zip(lay.outputs, tr.target))
        ax.set_title(f"E = {f(tr.E)}   (loss {tr.loss.name}; target {target}; [k] = step k of the table)",
                     fontsize=10)
    ax.set_axis_off()
    return fig


def _draw_summary(tr: Trace, ax: Any, title: bool | str) -> Any:
    """One box per level: unit count and kinds, mean |delta| and the norms of W and dE/dW into the level."""
    lay, f = tr.layout, tr._f
    levels: dict[Any, Any] = {}
    for u in lay.units:
        levels.setdefault(u.level, []).append(u)
    into: dict[Any, Any] = {}
    for e in lay.edges:
        rec = tr.edges[(lay.names[e.src], lay.names[e.dst])]
        w, g = into.setdefault(lay.units[e.dst].level, ([], []))
        w.append(rec["w"])
        g.append(rec["dE/dw"])
    fig, ax = _new_axes(ax, max(6.0, 3.2 * (len(levels) + 1)), 3.6)
    gn = {l: float(np.linalg.norm(into[l][1])) for l in into}
    gmax = max(list(gn.values()) + [1e-300])
    for l, units in sorted(levels.items()):
        kinds: dict[Any, Any] = {}
        for u in units:
            kinds[u.kind] = kinds.get(u.kind, 0) + 1
        acts = sorted({u.activation for u in units if u.kind != "input"})
        delta = np.mean([abs(tr.nodes[u.name]["dE/dx" if u.kind != "input" else "dE/dy"]) for u in units])
        text = (f"level {l}: {len(units)} units\n" + ", ".join(f"{v} {k}" for k, v in kinds.items())
                + (f"\n[{', '.join(acts)}]" if acts else "") + f"\nmean |delta| = {f(delta)}")
        if l in into:
            text += (f"\n{len(into[l][0])} edges in: ||W|| = {f(np.linalg.norm(into[l][0]))}\n"
                     f"||dE/dW|| = {f(gn[l])}")
        ax.text(3.0 * l, 0, text, ha="center", va="center", fontsize=8, family="monospace",
                bbox=dict(boxstyle="round,pad=0.4", facecolor="#fff4cc" if l else "#dbe9f6", edgecolor="#444444"))
        if l in into:
            ax.annotate("", xy=(3.0 * l - 1.15, 0), xytext=(3.0 * (l - 1) + 1.15, 0),
                        arrowprops=dict(arrowstyle="-|>", color="#c0392b", linewidth=0.8 + 4 * gn[l] / gmax))
    L = max(levels) + 1
    ax.text(3.0 * L, 0, f"{tr.sym.E} = {f(tr.E)}\nloss {tr.loss.name}", ha="center", va="center", fontsize=8,
            family="monospace", bbox=dict(boxstyle="round,pad=0.4", facecolor="#e6e6e6", edgecolor="#444444"))
    ax.annotate("", xy=(3.0 * L - 0.9, 0), xytext=(3.0 * (L - 1) + 1.15, 0),
                arrowprops=dict(arrowstyle="-|>", color="#777777", linestyle="--"))
    if title:
        ax.set_title(f"summary per level ({len(lay.units)} units, {len(lay.edges)} edges: too many to draw one by "
                     f"one); arrow width = ||dE/dW||", fontsize=9)
    ax.set_xlim(-1.6, 3.0 * L + 1.4)
    ax.set_ylim(-1.6, 1.6)
    ax.set_axis_off()
    return fig


def save_trace(tr: Trace, path: str | os.PathLike[str], training: dict[str, Any] | None = None) -> str:
    """Save a trace by the suffix of ``path``: .svg/.png picture, .txt table, .json numbers, .html page to step
    through (with the training view ``training`` of ``teaching.training_view``, if given). Returns the format.

    Parameters
    ----------
    tr : Trace
        What ``bp.trace`` returned.
    path : str or path-like
        The file, ending in .svg, .png, .txt, .json or .html.
    training : dict, optional
        A training view (``teaching.training_view``) for the .html page.

    Returns
    -------
    str
        The format written ("svg", "png", "txt", "json" or "html").

    Examples
    --------
    >>> import os, tempfile
    >>> import backprop as bp
    >>> tr = bp.trace(bp.MLP([2, 2, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     bp.save_trace(tr, os.path.join(d, "trace.json"))
    'json'
    """
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt in PICTURE_FORMATS:
        draw_trace(tr, path)
    elif fmt == "txt":
        Path(path).write_text(tr.table() + "\n", encoding="utf-8")
    elif fmt == "json":
        Path(path).write_text(json.dumps(tr.to_dict(), indent=1), encoding="utf-8")
    elif fmt == "html":
        tr.to_html(path, training=training)
    else:
        raise ConfigError(f"cannot tell the format of {str(path)!r}: use .svg, .png, .txt, .json or .html")
    return fmt


# ---- the `backprop trace` command ---------------------------------------------------------------------

def _numbers(values: Any, what: str) -> list[float]:
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


def _load(model: Any) -> tuple[Any, Any, Any]:
    """(network, task, scaler) of a model: a network object, a file saved by ``net.save`` (no task, no
    scaler), or a file written by ``backprop train`` (its task and input standardisation, read as
    ``backprop predict`` reads them)."""
    if hasattr(model, "params") and hasattr(model, "ops"):
        return model, None, None
    from ..engine.serialize import load_bundle

    net, meta, _ = load_bundle(model)
    if "task" not in meta:
        return net, None, None
    from .cli.model import load_model as _load_model

    net, _, task, scaler = _load_model(model)
    return net, task, scaler


def _label(text: str) -> int | float | str:
    """A class label as given on the command line: a whole number, else a number, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _training_data(spec: str, model_path: Any, net: Any, task: Any, scaler: Any) -> tuple[NDArray[Any], Any]:
    """(X, T) of ``--training-view DATA`` as the network sees them: a built-in data set by name, or a CSV
    file whose target column the model records (a model from ``backprop train``); for such a model the
    inputs are standardised and the labels turned into targets as in training."""
    from .cli.data import BUILTIN_DATA, load_data, model_data

    if task is None:
        if spec not in BUILTIN_DATA:
            raise ConfigError(f"--training-view {spec!r}: with a model saved by net.save give a built-in data "
                              f"set ({', '.join(BUILTIN_DATA)}); a CSV file needs a model from 'backprop "
                              "train', which records its target column")
        data = load_data(spec)
        X, T = data.X, data.y
    else:
        from .cli.model import load_model, prepared_inputs

        _, meta, _, _ = load_model(model_path)
        data = model_data(spec, meta, net.n_inputs, target=None if spec in BUILTIN_DATA else meta.get("target"))
        X, T = prepared_inputs(data, scaler), task.targets(data.y)
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        raise InputError(f"--training-view {spec!r} has {X.shape[1] if X.ndim == 2 else 1} input columns; the "
                         f"model has {net.n_inputs} inputs")
    return X, T


def _trace_and_save(model_path: Any, input_values: Sequence[str | float], target: Any, out_path: str | None,
                    loss: str | None, digits: int, stdout: Any, notation: str = "004", training_view: str | None = None,
                    training_epochs: int = 30, training_lr: float = 0.5) -> Any:
    if training_view is not None and (out_path is None or Path(out_path).suffix.lower() != ".html"):
        raise ConfigError("--training-view adds the training view to the page: give --out with a .html file "
                          "name")
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
        if task is not None and (task.y_mean, task.y_scale) != (0.0, 1.0):
            # the network of a regression model from 'backprop train' learns the standardised target
            note = (f"target standardised with the model's stored mean and scale, as in training: "
                    f"({target if isinstance(target, str) else ' '.join(map(str, target))} - {task.y_mean:g})"
                    f"/{task.y_scale:g}; the network's output o is in those units too (predict prints "
                    f"o * {task.y_scale:g} + {task.y_mean:g})")
            t = task.targets(t)
    if scaler is not None and scaler.mean is not None:
        raw = x
        x = scaler(x[None])[0]     # exactly the standardisation ``backprop predict`` applies
        g = f".{digits}g"
        std = ", ".join(f"({raw[k]:{g}} - {float(scaler.mean[k]):{g}})/{float(scaler.scale[k]):{g}} = {x[k]:{g}}"
                        for k in range(min(x.size, 8)))
        print("input standardised with the model's stored mean and scale (as backprop predict does): "
              + std + (" ..." if x.size > 8 else ""), file=stdout)
    if loss is None and task is not None:
        loss = task.loss               # the loss the model was trained with (its L2, label smoothing)
    if note:
        print(note, file=stdout)
    tr = make_trace(net, x, t, loss=loss, digits=digits, notation=notation)
    training = None
    if training_view is not None:      # every number of the view computed here, before anything is written
        from .teaching.training_view import training_view as view

        X, T = _training_data(training_view, model_path, net, task, scaler)
        training = view(net, X, T, loss=tr.loss, optimizer="gd", epochs=training_epochs, lr=training_lr)
    print(tr.table(), file=stdout)
    if out_path is not None:
        save_trace(tr, out_path, training=training)
        print(f"wrote {out_path}", file=stdout)
    return tr


    return 0
