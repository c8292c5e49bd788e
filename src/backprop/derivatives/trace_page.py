"""A trace as one self-contained HTML page: the numbers as embedded JSON, drawn with plain JavaScript and SVG.

The page needs no network access and works when opened from ``file://``. A learner steps through
the forward and backward pass with the buttons or the arrow keys (Home / End jump to the ends):
each step highlights its node or edge (or the terminal node E), shows its formula in symbols and
with the numbers substituted, and reveals the number on the picture; edges whose gradient is known
are coloured by its sign and drawn wider for a larger |dE/dw|.

Opening the page with ``#step=N`` shows step N; with ``#selftest`` it steps forward through every step with the arrow key, back again
with the button, compares each value shown with the embedded one, and writes the outcome into the
element ``#selftest-result`` (used by the project's browser test).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
import os
from typing import Any, Callable

import html


def _network(tr: Any, input_text: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The picture's part of the page data: nodes, edges, product/max links of trace ``tr``'s network."""
    lay, S = tr.layout, tr.sym
    by_level: dict[Any, Any] = {}
    for u in lay.units:
        by_level.setdefault(u.level, []).append(u.name)
    outputs = {lay.names[i] for i in lay.outputs}
    nodes = []
    for u in lay.units:
        N = tr.nodes[u.name]
        group = lay.groups[u.group].name if u.group is not None else None
        nodes.append({"name": u.name, "kind": u.kind, "level": u.level, "pos": by_level[u.level].index(u.name),
                      "n_level": len(by_level[u.level]), "activation": u.activation, "group": group,
                      "output": u.name in outputs, "x_label": S.x(u.name) if u.kind != "input" else None,
                      "y_label": S.y(u.name),
                      "y_text": input_text(u.name) if input_text else tr._f(N["y"])})
    edges = [{"src": lay.names[e.src], "dst": lay.names[e.dst], "w": rec["w"], "w_text": tr._f(rec["w"]),
              "dEdw": rec["dE/dw"], "label": S.w(lay.names[e.src], lay.names[e.dst])}
             for e, rec in ((e, tr.edges[(lay.names[e.src], lay.names[e.dst])]) for e in lay.edges)]
    links = [{"src": lay.names[i], "dst": u.name} for u in lay.units if u.kind in ("product", "max")
             for i in u.inputs]
    return {"n_levels": lay.n_levels, "nodes": nodes, "edges": edges, "links": links}


def _slot(s: Any) -> Any:
    """Where on its node the picture shows step ``s``: the x line, the y line, the backward line, or none."""
    if s.phase == "backward":
        return None if s.key.startswith("dE/db(") else "back"
    if s.phase == "loss" or s.key.startswith("x("):
        return "x"
    return "y" if s.phase == "forward" else None


def _step(k: int, s: Any, f: Any, phase: str | None = None, slot: str | None = None, nodes: Any = None,
          edges: Any = None) -> dict[str, Any]:
    """One step of a trace as the page's JSON: its formulas, value, and the nodes and edges it lights."""
    node = s.node if s.node is not None else ("E" if s.phase == "loss" else None)
    return {"k": k, "phase": phase or s.phase, "quantity": s.quantity, "symbolic": s.symbolic,
            "numeric": s.numeric, "value": s.value, "value_text": f(s.value), "key": s.key,
            "slot": slot, "gradient": bool(s.key and s.key.startswith("dE/dw(")),
            "nodes": nodes if nodes is not None else ([node] if node else []),
            "edges": edges if edges is not None else ([list(s.edge)] if s.edge else [])}


def page_data(tr: Any) -> dict[str, Any]:
    """The numbers and symbols the page shows, as plain data."""
    S = tr.sym
    steps = [_step(k + 1, s, tr._f, slot=_slot(s)) for k, s in enumerate(tr.steps)]
    return {"title": f"trace: loss {tr.loss.name}, E = {tr._f(tr.E)}", "notation": tr.notation,
            "note": S.profile.note, "rules": S.profile.rules, "E_label": S.E, **_network(tr), "steps": steps}


def batch_page_data(bt: Any) -> dict[str, Any]:
    """The page data of a batch trace (``bp.trace_batch``): each instance n's E_n and its own deltas
    dE_n/dx, node by node in the backward order, then E and every gradient entry as the mean (or sum) of
    the instances' terms, edge by edge."""
    S, first = bt.sym, bt.instances[0]
    steps: list[Any] = []
    for n, tr in enumerate(bt.instances, start=1):
        for s in tr.steps:
            if s.key == "E" or (s.key.startswith("dE/dx(") and s.node is not None):
                q = type(s)(s.phase, f"{s.quantity}_n (n={n})", s.symbolic, s.numeric, s.value, s.node,
                            s.edge, s.key)
                steps.append(_step(len(steps) + 1, q, bt._f, phase=f"instance {n}",
                                   slot="x" if s.key == "E" else "back"))
    for s in bt.steps:
        steps.append(_step(len(steps) + 1, s, bt._f, phase="batch", slot="x" if s.key == "E" else None))

    def inputs(name: str) -> Any:
        return " | ".join(bt._f(tr.nodes[name]["y"]) for tr in bt.instances)

    agg = "sum" if bt.sum else "mean"
    return {"title": f"batch of {bt.B} instances: loss {bt.loss.name} ({agg}), E = {bt._f(bt.E)}",
            "notation": first.notation, "note": S.profile.note, "rules": S.profile.rules, "E_label": S.E,
            **_network(first, inputs), "steps": steps}


def hessian_page_data(ht: Any) -> dict[str, Any]:
    """The page data of a Hessian walk-through (``bp.hessian_trace``): the forward sweep of da/da and
    dy/da, M at the outputs and backpropagated, then every entry of blocks (a), (b), (c); each step
    highlights the units (M, the sweep) or the weights (a Hessian entry) it is about."""
    tr, lay = ht.first_order, ht.first_order.layout
    param = {e.param: [lay.names[e.src], lay.names[e.dst]] for e in lay.edges}
    bias = {p: lay.names[j] for j, p in zip(lay.bias_units, lay.bias_param)}
    steps: list[Any] = []
    for s in ht.steps:
        nodes, edges = [], []
        m = re.fullmatch(r"H\[(\d+),(\d+)\]", s.key or "")
        if m:
            for p in {int(m.group(1)), int(m.group(2))}:
                if p in param:
                    edges.append(param[p])
                elif p in bias:
                    nodes.append(bias[p])
        else:
            for inner in re.findall(r"\(([^()]*)\)", s.key or ""):
                nodes += [n for n in inner.split(",") if n in lay.index]
        steps.append(_step(len(steps) + 1, s, ht._f, nodes=list(dict.fromkeys(nodes)), edges=edges))
    return {"title": f"exact Hessian of one instance, note 002 (loss {ht.loss.name}): the M recursion and "
                     f"blocks (a), (b), (c)", "notation": tr.notation, "note": tr.sym.profile.note,
            "rules": tr.sym.profile.rules, "E_label": tr.sym.E, **_network(tr), "steps": steps}


def to_html(tr: Any, path: str | os.PathLike[str] | None = None, title: str | None = None, training: Any = None,
            data: dict[str, Any] | None = None) -> str:
    """The page as a string; written to ``path`` (UTF-8) when given. ``training`` (from
    ``backprop.faces.teaching.training_view``) adds the training view: the loss curve, the weights over the
    epochs and, for two inputs, the output over the input plane per epoch, with a slider over the epochs.
    ``data`` replaces the trace's own page data (``batch_page_data``, ``hessian_page_data``)."""
    data = page_data(tr) if data is None else data
    if title:
        data["title"] = str(title)
    if training is not None:
        data["training"] = training
    payload = json.dumps(_finite(data), allow_nan=False).replace("</", "<\\/")
    text = _TEMPLATE.replace("@@TITLE@@", html.escape(data["title"])).replace("@@DATA@@", payload)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _finite(v: Any) -> Any:
    """The data with every NaN or infinity as null (JSON has no such numbers; the texts still say inf)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>@@TITLE@@</title>
<style>
 body { font-family: sans-serif; margin: 12px; color: #222; }
 #bar button { font-size: 15px; margin-right: 4px; }
 #panel { font-family: monospace; font-size: 14px; background: #f6f6f2; border: 1px solid #ccc; padding: 8px;
          margin: 8px 0; min-height: 4.2em; white-space: pre-wrap; }
 #panel .q { font-weight: bold; }
 svg text { font-family: monospace; font-size: 11px; }
 .node rect { fill: #fff4cc; stroke: #444; }
 .node.input rect { fill: #dbe9f6; } .node.output rect { fill: #fde0c5; } .node.product rect { fill: #dff2d8; }
 .node.max rect { fill: #f8dde6; } .node.enode rect { fill: #e6e6e6; }
 .node.on rect { stroke: #d00; stroke-width: 3; }
 line.edge { stroke: #888; } line.edge.on { stroke: #d00 !important; stroke-width: 4 !important; }
 line.link { stroke: #2a7a2a; stroke-dasharray: 4 3; }
 rect.group { fill: none; stroke: #7a4ea8; stroke-dasharray: 6 3; }
 #rules { font-size: 12px; color: #555; }
</style></head>
<body>
<h3 id="title"></h3>
<div id="rules"></div>
<div id="bar"><button id="first">|&lt;</button><button id="prev">&lt; back</button>
<button id="next">forward &gt;</button><button id="last">&gt;|</button>
<span id="counter"></span> <span style="color:#777">(arrow keys, Home, End)</span></div>
<div id="panel"></div>
<svg id="net" xmlns="http://www.w3.org/2000/svg"></svg>
<div id="training" style="display:none"><h4>training (precomputed)</h4>
<label>epoch <input id="epoch" type="range" min="0" value="0"> <span id="epoch-text"></span></label><br>
<svg id="losscurve" xmlns="http://www.w3.org/2000/svg" width="360" height="200"></svg>
<svg id="weights" xmlns="http://www.w3.org/2000/svg" width="360" height="200"></svg>
<svg id="surface" xmlns="http://www.w3.org/2000/svg" width="260" height="260"></svg></div>
<pre id="selftest-result" style="display:none"></pre>
<script id="trace-data" type="application/json">@@DATA@@</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("trace-data").textContent);
const NS = "http://www.w3.org/2000/svg";
const BW = 196, BH = 74, GX = 270, GY = 96;
let cur = 0;                       // steps shown: 1..cur (0 = before the first)
const pos = {};
function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function layout() {
  let tallest = 1;
  for (const n of D.nodes) tallest = Math.max(tallest, n.n_level);
  for (const n of D.nodes) {
    pos[n.name] = [20 + n.level * GX, 20 + (n.pos + (tallest - n.n_level) / 2) * GY];
  }
  pos["E"] = [20 + D.n_levels * GX, 20 + ((tallest - 1) / 2) * GY];
  const svg = document.getElementById("net");
  svg.setAttribute("width", 40 + (D.n_levels + 1) * GX);
  svg.setAttribute("height", 40 + tallest * GY);
  return svg;
}
function centre(name, side) {
  const p = pos[name];
  return [p[0] + (side > 0 ? BW : 0), p[1] + BH / 2];
}
function draw() {
  const svg = layout();
  const groups = {};
  for (const n of D.nodes) if (n.group !== null) (groups[n.group] = groups[n.group] || []).push(n.name);
  for (const g in groups) {
    const ys = groups[g].map(m => pos[m][1]);
    const x0 = pos[groups[g][0]][0];
    el("rect", {class: "group", x: x0 - 6, y: Math.min(...ys) - 6, width: BW + 12,
                height: Math.max(...ys) - Math.min(...ys) + BH + 12, rx: 8}, svg);
    const t = el("text", {x: x0, y: Math.min(...ys) - 10}, svg);
    t.textContent = g;
  }
  D.edges.forEach((e, i) => {
    const a = centre(e.src, 1), b = centre(e.dst, -1);
    const l = el("line", {class: "edge", id: "edge" + i, x1: a[0], y1: a[1], x2: b[0], y2: b[1]}, svg);
    l.style.strokeWidth = 1.2;
    const t = el("title", {}, l); t.textContent = e.label + " = " + e.w_text;
  });
  for (const k of D.links) {
    const a = centre(k.src, 1), b = centre(k.dst, -1);
    el("line", {class: "link", x1: a[0], y1: a[1], x2: b[0], y2: b[1]}, svg);
  }
  for (const n of D.nodes) if (n.output) {
    const a = centre(n.name, 1), b = centre("E", -1);
    el("line", {class: "link", x1: a[0], y1: a[1], x2: b[0], y2: b[1]}, svg);
  }
  const all = D.nodes.concat([{name: "E", kind: "enode", output: false}]);
  for (const n of all) {
    const g = el("g", {class: "node " + n.kind + (n.output ? " output" : ""), id: "node-" + n.name}, svg);
    el("rect", {x: pos[n.name][0], y: pos[n.name][1], width: BW, height: BH, rx: 7}, g);
    for (let r = 0; r < 4; r++) {
      const t = el("text", {x: pos[n.name][0] + 6, y: pos[n.name][1] + 15 + r * 16, id: "t-" + n.name + "-" + r}, g);
      t.textContent = "";
    }
    const head = document.getElementById("t-" + n.name + "-0");
    head.textContent = n.name === "E" ? D.E_label : n.name + (n.activation && n.activation !== "identity" &&
                                                             n.kind !== "input" ? "  [" + n.activation + "]" : "");
  }
}
function show() {
  const shown = {};
  for (const n of D.nodes) if (n.kind === "input") shown[n.name] = {x: "", y: n.y_label + " = " + n.y_text, back: ""};
  const edgeDone = {};
  for (let k = 0; k < cur; k++) {
    const s = D.steps[k];
    if (s.slot && s.nodes.length) {
      const rec = shown[s.nodes[0]] = shown[s.nodes[0]] || {x: "", y: "", back: ""};
      rec[s.slot] = s.quantity + " = " + s.value_text;
    }
    if (s.gradient) edgeDone[s.edges[0][0] + ">" + s.edges[0][1]] = s.value;
  }
  let big = 1e-300;
  for (const k in edgeDone) big = Math.max(big, Math.abs(edgeDone[k]));
  D.edges.forEach((e, i) => {
    const l = document.getElementById("edge" + i);
    const g = edgeDone[e.src + ">" + e.dst];
    l.classList.remove("on");
    if (g === undefined) { l.style.stroke = "#888"; l.style.strokeWidth = 1.2; }
    else {
      l.style.stroke = g > 0 ? "#c0392b" : g < 0 ? "#2563eb" : "#bbb";
      l.style.strokeWidth = 1 + 5 * Math.abs(g) / big;
    }
  });
  for (const n of D.nodes.concat([{name: "E"}])) {
    const rec = shown[n.name] || {x: "", y: "", back: ""};
    document.getElementById("t-" + n.name + "-1").textContent = rec.x;
    document.getElementById("t-" + n.name + "-2").textContent = rec.y;
    document.getElementById("t-" + n.name + "-3").textContent = rec.back;
    document.getElementById("node-" + n.name).classList.remove("on");
  }
  const panel = document.getElementById("panel");
  if (cur === 0) {
    panel.textContent = "step 0: the input and the weights are given; press forward (or the right arrow key).";
  } else {
    const s = D.steps[cur - 1];
    panel.innerHTML = "";
    const q = document.createElement("span"); q.className = "q"; q.textContent = s.quantity;
    panel.appendChild(q);
    const rest = document.createElement("span"); rest.id = "panel-value";
    rest.textContent = " = " + s.symbolic + "\n  = " + s.numeric + "\n  = " + s.value_text;
    panel.appendChild(rest);
    for (const n of s.nodes) document.getElementById("node-" + n).classList.add("on");
    for (const ed of s.edges) {
      const i = D.edges.findIndex(e => e.src === ed[0] && e.dst === ed[1]);
      if (i >= 0) document.getElementById("edge" + i).classList.add("on");
    }
  }
  document.getElementById("counter").textContent = "step " + cur + " / " + D.steps.length +
    (cur ? " (" + D.steps[cur - 1].phase + ")" : "");
}
function go(k) { cur = Math.max(0, Math.min(D.steps.length, k)); show(); }
document.getElementById("first").onclick = () => go(0);
document.getElementById("prev").onclick = () => go(cur - 1);
document.getElementById("next").onclick = () => go(cur + 1);
document.getElementById("last").onclick = () => go(D.steps.length);
document.addEventListener("keydown", ev => {
  if (ev.target && ev.target.tagName === "INPUT") return;       // the epoch slider keeps its own arrow keys
  if (ev.key === "ArrowRight") go(cur + 1);
  else if (ev.key === "ArrowLeft") go(cur - 1);
  else if (ev.key === "Home") go(0);
  else if (ev.key === "End") go(D.steps.length);
});
document.getElementById("title").textContent = D.title;
document.getElementById("rules").textContent = "symbols of " + D.note + ": " + D.rules;
draw();
show();
function plotLines(svg, series, W, H, title) {
  const n = series[0].length;
  let lo = Infinity, hi = -Infinity;
  for (const s of series) for (const v of s) { if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
  if (hi <= lo) hi = lo + 1;
  const X = i => 30 + (W - 40) * i / Math.max(n - 1, 1), Y = v => H - 20 - (H - 35) * (v - lo) / (hi - lo);
  const t = el("text", {x: 30, y: 12}, svg); t.textContent = title;
  el("line", {x1: 30, y1: H - 20, x2: W - 10, y2: H - 20, stroke: "#999"}, svg);
  series.forEach((s, k) => {
    const pts = s.map((v, i) => X(i) + "," + Y(v)).join(" ");
    const colour = series.length > 1 ? "hsl(" + (k * 47 % 360) + ",60%,45%)" : "#c0392b";
    el("polyline", {points: pts, fill: "none", stroke: colour, "stroke-width": 1.3}, svg);
  });
  return el("line", {x1: X(0), y1: 15, x2: X(0), y2: H - 20, stroke: "#333", "stroke-dasharray": "3 2"}, svg);
}
function surfaceColour(v) {
  const r = Math.round(255 * Math.min(1, 2 * v)), b = Math.round(255 * Math.min(1, 2 * (1 - v)));
  const g = Math.round(255 - 120 * Math.abs(v - 0.5) * 2);
  return "rgb(" + Math.min(255, r + 40) + "," + g + "," + Math.min(255, b + 40) + ")";
}
function setupTraining() {
  const T = D.training;
  if (!T) return;
  document.getElementById("training").style.display = "block";
  const E = T.loss.length - 1, slider = document.getElementById("epoch");
  slider.max = E;
  const lossMark = plotLines(document.getElementById("losscurve"), [T.loss], 360, 200, "loss per epoch");
  let wMark = null;
  if (T.params) {
    const cols = T.params[0].map((_, k) => T.params.map(p => p[k]));
    wMark = plotLines(document.getElementById("weights"), cols, 360, 200, "every weight and bias per epoch");
  }
  const rects = [];
  if (T.surface) {
    const S = T.surface, n = S.g0.length, svg = document.getElementById("surface"), cell = 240 / n;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++)
      rects.push(el("rect", {x: 10 + i * cell, y: 250 - (j + 1) * cell, width: cell + 0.5, height: cell + 0.5,
                             class: "cell"}, svg));
    const x0 = S.g0[0], x1 = S.g0[n - 1], y0 = S.g1[0], y1 = S.g1[n - 1];
    S.X.forEach((p, k) => el("circle", {cx: 10 + 240 * (p[0] - x0) / (x1 - x0), cy: 250 - 240 * (p[1] - y0) / (y1 - y0),
                                         r: 4, fill: S.t[k] > 0.5 ? "#7a0000" : "#00307a", stroke: "#fff"}, svg));
  }
  function epoch(e) {
    const lossX = 30 + 320 * e / Math.max(E, 1);
    lossMark.setAttribute("x1", lossX); lossMark.setAttribute("x2", lossX);
    if (wMark) { wMark.setAttribute("x1", lossX); wMark.setAttribute("x2", lossX); }
    if (T.surface) T.surface.values[e].forEach((v, k) => rects[k].setAttribute("fill", surfaceColour(v)));
    document.getElementById("epoch-text").textContent = e + " / " + E + ": loss " + T.loss[e].toPrecision(6) +
      (T.surface ? "  (surface: " + T.surface.what + ")" : "");
  }
  slider.addEventListener("input", () => epoch(parseInt(slider.value, 10)));
  epoch(0);
}
setupTraining();
function selftest() {
  const errors = [], seen = [];
  function check(k) {
    const want = D.steps[k - 1];
    const txt = document.getElementById("panel-value").textContent;
    const last = txt.split("= ").pop();
    if (last !== want.value_text) errors.push("step " + k + ": shows " + last + ", expected " + want.value_text);
    seen.push(last);
  }
  for (let k = 1; k <= D.steps.length; k++) {
    document.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowRight"}));
    if (cur !== k) errors.push("forward: at step " + cur + ", expected " + k);
    check(k);
  }
  for (let k = D.steps.length - 1; k >= 1; k--) {
    document.getElementById("prev").click();
    if (cur !== k) errors.push("back: at step " + cur + ", expected " + k);
    check(k);
  }
  if (D.training) {
    const slider = document.getElementById("epoch"), E = D.training.loss.length - 1;
    for (let e = 0; e <= E; e++) {
      slider.value = e; slider.dispatchEvent(new Event("input"));
      const txt = document.getElementById("epoch-text").textContent;
      const shownLoss = parseFloat(txt.split("loss ")[1]);
      if (!(Math.abs(shownLoss - D.training.loss[e]) <= 1e-5 * Math.abs(D.training.loss[e]) + 1e-12))
        errors.push("epoch " + e + ": shows loss " + shownLoss + ", expected " + D.training.loss[e]);
    }
    if (D.training.surface) {
      const cells = document.querySelectorAll("#surface rect.cell").length, n = D.training.surface.g0.length;
      if (cells !== n * n) errors.push("surface has " + cells + " cells, expected " + n * n);
      const all = Array.from(document.querySelectorAll("#surface rect.cell"));
      const filled = all.filter(c => c.getAttribute("fill")).length;
      if (filled !== n * n) errors.push("surface cells without colour: " + (n * n - filled));
    }
    seen.push("epochs " + (E + 1));
  }
  const out = document.getElementById("selftest-result");
  out.textContent = (errors.length ? "FAIL " + errors.join("; ") : "PASS " + D.steps.length + " steps") +
    "\nSHOWN " + JSON.stringify(seen);
  out.style.display = "block";
}
window.addEventListener("error", ev => {
  const out = document.getElementById("selftest-result");
  out.textContent = "FAIL javascript error: " + ev.message; out.style.display = "block";
});
if (location.hash === "#selftest") selftest();
const at = /^#step=(\d+)$/.exec(location.hash);
if (at) go(parseInt(at[1], 10));
</script>
</body></html>
"""
