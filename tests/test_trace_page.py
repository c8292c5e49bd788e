"""The self-contained HTML page of a trace: offline, every number embedded; stepped through in headless Chromium."""
import html
import os
import json
import re
import runpy
import subprocess
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop.faces import cli

from test_trace import special_graph, tiny_graph

CHROMIUM = Path("/usr/bin/chromium")
# `make test` installs Debian's chromium (as root); under CI a missing browser is a failure, not a skip
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                    reason="headless browser test needs /usr/bin/chromium (Debian package chromium)")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def embedded(text):
    m = re.search(r'<script id="trace-data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def example_traces():
    """The traces of the notes' worked examples, as the example scripts build them."""
    out = {"special": bp.trace(special_graph(), [0.6, -1.3], 1)}      # product, max and softmax units
    for script, key in [("note004_graph.py", "trace"), ("note002_two_layer_tanh.py", "trace"),
                        ("note000_xor_relu.py", "trace"), ("note003_softmax_label_smoothing.py", "trace"),
                        ("note001_vector_form.py", "trace")]:
        out[script[:-3]] = runpy.run_path(str(EXAMPLES / script))["main"](verbose=False)[key]
    out["cmu"] = bp.trace(bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0), [0.5, -1.0], 1,
                          notation="cmu")
    return out


def test_page_is_self_contained_and_embeds_every_number(tmp_path):
    tr = bp.trace(bp.MLP([2, 3, 2], hidden="tanh", output="identity", seed=0), [0.5, -1.0], [0.2, 0.4],
                  notation="002")
    text = tr.to_html(tmp_path / "t.html")
    assert (tmp_path / "t.html").read_text(encoding="utf-8") == text
    # no network: no external script, style, font or image; the only URL is the SVG namespace name
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|@import|url\(|fetch\(|XMLHttpRequest", text)
    assert set(re.findall(r"https?://[^\s\"']+", text)) == {"http://www.w3.org/2000/svg"}
    data = embedded(text)
    assert [s["value"] for s in data["steps"]] == [s.value for s in tr.steps]
    assert [s["quantity"] for s in data["steps"]] == [s.quantity for s in tr.steps]
    assert [s["k"] for s in data["steps"]] == list(range(1, len(tr.steps) + 1))     # the table's step numbers
    assert {n["name"] for n in data["nodes"]} == set(tr.nodes) and len(data["edges"]) == len(tr.edges)


def test_names_cannot_break_out_of_the_page(tmp_path):
    g = bp.NeuronGraph()
    (x,) = g.inputs("</script><script>alert(1)</script>")
    o = g.neuron("o&<b>", output=True)
    g.connect(x, o, 0.5)
    text = bp.trace(g, [1.0], 0.0, loss="l2").to_html(title="<i>t</i>")
    assert "</script><script>alert(1)" not in text and "<i>t</i>" not in text
    assert embedded(text)["nodes"][0]["name"] == "</script><script>alert(1)</script>"
    assert html.escape("<i>t</i>") in text


def test_infinite_numbers_still_give_valid_json():
    net = bp.MLP([1, 1], output="tanh")
    net.params[:] = [1.0, 0.0]
    with np.errstate(all="ignore"):
        tr = bp.trace(net, [40.0], 0.0, loss="bce")              # tanh(40) = 1: -log(1 - y) is infinite
    assert not np.isfinite(tr.E)
    text = tr.to_html()
    m = re.search(r'<script id="trace-data" type="application/json">(.*?)</script>', text, re.S)
    data = json.loads(m.group(1), parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert [s["value_text"] for s in data["steps"] if s["key"] == "E"] == ["inf"]


def test_command_line_writes_the_page(tmp_path, capsys):
    model = tmp_path / "tiny.npz"
    tiny_graph().compile().save(model)
    out = tmp_path / "trace.html"
    assert cli.main(["trace", "--model", str(model), "--input", "1", "2", "--target", "1", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert embedded(out.read_text())["steps"][-1]["quantity"] == "dE/dy(x1)"


def moons_training():
    from backprop.faces.teaching.training_view import training_view

    X, y = bp.datasets.moons(n_samples=30, noise=0.1, seed=0)
    net = bp.MLP([2, 4, 1], hidden="tanh", output="sigmoid", seed=0)
    return net, X, y, training_view(net, X, y, optimizer="gd", lr=1.0, epochs=12, grid=12)


def test_training_view_numbers_are_the_librarys():
    net, X, y, tv = moons_training()
    assert len(tv["loss"]) == 13 and tv["loss"][-1] < tv["loss"][0]
    probe = net.copy()
    for e in (0, 5, 12):
        probe.params[:] = tv["params"][e]
        assert tv["loss"][e] == bp.loss_and_grad(probe, "bce", X, y)[0]
        S = tv["surface"]
        G = np.column_stack([np.repeat(S["g0"], 12), np.tile(S["g1"], 12)])
        np.testing.assert_allclose(S["values"][e], probe.predict(G)[:, 0], atol=1e-5)
    data = embedded(bp.trace(net, X[0], y[0]).to_html(training=tv))
    assert data["training"]["loss"] == tv["loss"]
    with pytest.raises(bp.ConfigError, match="epochs must be between 1 and 500"):
        from backprop.faces.teaching.training_view import training_view
        training_view(net, X, y, epochs=0)


def chromium(args, tmp_path):
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@needs_chromium
def test_every_example_page_steps_forward_and_back_in_a_browser(tmp_path):
    net, X, y, tv = moons_training()
    pages = {name: (tr, None) for name, tr in example_traces().items()}
    pages["training"] = (bp.trace(net, X[0], y[0]), tv)
    for name, (tr, training) in pages.items():
        page = tmp_path / f"{name}.html"
        tr.to_html(page, training=training)
        run = chromium(["--dump-dom", page.as_uri() + "#selftest"], tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
        consoles = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
        assert not consoles, (name, consoles)                     # no console message, no uncaught error
        m = re.search(r'<pre id="selftest-result"[^>]*>(.*?)</pre>', run.stdout, re.S)
        assert m, (name, run.stdout[:500])
        result = html.unescape(m.group(1))
        assert result.startswith(f"PASS {len(tr.steps)} steps"), (name, result[:500])
        shown = json.loads(result.split("SHOWN ", 1)[1])
        forward = [tr._f(s.value) for s in tr.steps]
        extra = [f"epochs {len(training['loss'])}"] if training else []
        assert shown == forward + forward[-2::-1] + extra, name   # the values shown are the trace's


@needs_chromium
def test_screenshot_of_a_page_is_not_empty(tmp_path):
    from matplotlib.image import imread

    tr = bp.trace(bp.MLP([2, 3, 2], hidden="tanh", output="identity", seed=0), [0.5, -1.0], [0.2, 0.4])
    page = tmp_path / "t.html"
    tr.to_html(page)
    shot = tmp_path / "shot.png"
    k = next(i for i, s in enumerate(tr.steps) if s.key == "dE/dx(h1_2)") + 1
    run = chromium(["--window-size=1200,700", f"--screenshot={shot}", page.as_uri() + f"#step={k}"], tmp_path)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    img = imread(shot)[..., :3]
    assert img.shape[0] >= 600 and img.shape[1] >= 1100
    ink = np.mean(np.any(img < 0.9, axis=2))
    assert ink > 0.02, f"only {ink:.1%} of the page is drawn"                 # an empty or broken page fails
    red = np.sum((img[..., 0] > 0.75) & (img[..., 1] < 0.2) & (img[..., 2] < 0.2))
    assert red > 200, "the highlighted node of the current step is missing"
    blue = np.sum((img[..., 2] > 0.8) & (img[..., 0] < 0.3) & (img[..., 1] < 0.55))
    assert blue + red > 400, "no edge coloured by its gradient"


def walkthroughs():
    """A batch walk-through (XOR's four instances, as note 000's batch exercise) and a Hessian walk-through
    (note 002's two-layer tanh network), as (trace, page data) pairs."""
    from backprop.derivatives.trace_page import batch_page_data, hessian_page_data

    xor = bp.MLP([2, 2, 1], hidden="relu", output="sigmoid", seed=3)
    bt = bp.trace_batch(xor, [[0, 0], [0, 1], [1, 0], [1, 1]], [[0], [1], [1], [0]], notation="000")
    ht = bp.hessian_trace(bp.MLP([2, 2, 2], hidden="tanh", output="identity", seed=0), [0.5, -1.0], [0.2, 0.4])
    return {"batch": (bt, batch_page_data(bt)), "hessian": (ht, hessian_page_data(ht))}


def test_walkthrough_pages_embed_every_step_of_their_trace(tmp_path):
    pages = walkthroughs()
    bt, data = pages["batch"]
    text = bt.to_html(tmp_path / "b.html")
    assert embedded(text) == json.loads(json.dumps(data))
    deltas = [s for s in data["steps"] if s["phase"].startswith("instance")]
    for n, tr in enumerate(bt.instances, start=1):       # each instance's E_n and its own deltas, unscaled
        mine = [s for s in deltas if s["phase"] == f"instance {n}"]
        want = [s for s in tr.steps if s.key == "E" or (s.key.startswith("dE/dx(") and s.node)]
        assert [s["value"] for s in mine] == [s.value for s in want] and len(want) > 1
    batch = [s for s in data["steps"] if s["phase"] == "batch"]
    assert [s["value"] for s in batch] == [s.value for s in bt.steps]
    assert [s["numeric"] for s in batch] == [s.numeric for s in bt.steps]        # the mean of the terms
    assert all(s["edges"] for s in batch if s["key"].startswith("dE/dw("))
    ht, data = pages["hessian"]
    assert embedded(ht.to_html(tmp_path / "h.html")) == json.loads(json.dumps(data))
    assert [s["value"] for s in data["steps"]] == [s.value for s in ht.steps]
    phases = [s["phase"] for s in data["steps"]]
    assert {"sweep", "M outputs", "M hidden", "block (a)", "block (b)", "block (c)"} <= set(phases)
    for s in data["steps"]:
        assert s["nodes"] or s["edges"], f"step {s['k']} ({s['key']}) highlights nothing"
        if s["key"].startswith("M("):
            assert s["nodes"] == list(dict.fromkeys(s["key"][2:-1].split(",")))


@needs_chromium
def test_walkthrough_pages_step_forward_and_back_in_a_browser(tmp_path):
    for name, (tr, data) in walkthroughs().items():
        page = tmp_path / f"{name}.html"
        tr.to_html(page)
        run = chromium(["--dump-dom", page.as_uri() + "#selftest"], tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
        consoles = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
        assert not consoles, (name, consoles)
        m = re.search(r'<pre id="selftest-result"[^>]*>(.*?)</pre>', run.stdout, re.S)
        assert m, (name, run.stdout[:500])
        result = html.unescape(m.group(1))
        assert result.startswith(f"PASS {len(data['steps'])} steps"), (name, result[:500])
        shown = json.loads(result.split("SHOWN ", 1)[1])
        forward = [tr._f(s["value"]) for s in data["steps"]]
        assert shown == forward + forward[-2::-1], name             # the values shown are the walk-through's
        if name == "hessian":
            assert forward == [ht_f for ht_f in (tr._f(s.value) for s in tr.steps)]
        else:
            assert forward[-len(tr.steps):] == [tr._f(s.value) for s in tr.steps]
