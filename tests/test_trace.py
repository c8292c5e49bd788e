"""bp.trace: the numbers of one instance node by node, checked by hand, re-evaluated from the printed
formulas, drawn as SVG and PNG, and run from the command line."""
import argparse
import io
import math

import numpy as np
import pytest

import backprop as bp
from backprop.faces import cli
from backprop.faces.cli.trace import add_arguments as add_trace_arguments, run as trace_command


def tiny_graph():
    """The worked example of docs/tutorials/learning.md: 2 inputs, two hidden layers of 2 relu units, 1 identity output, no biases."""
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    h1, h2 = g.neuron("h1", "relu", bias=False), g.neuron("h2", "relu", bias=False)
    h3, h4 = g.neuron("h3", "relu", bias=False), g.neuron("h4", "relu", bias=False)
    o = g.neuron("o", output=True, bias=False)
    for src, dst, w in [(x1, h1, 0.5), (x2, h1, 0.25), (x1, h2, -1.0), (x2, h2, 0.25),
                        (h1, h3, 1.5), (h2, h3, 1.0), (h1, h4, 0.5), (h2, h4, -1.0),
                        (h3, o, 2.0), (h4, o, -1.0)]:
        g.connect(src, dst, w)
    return g


def test_tiny_example_matches_the_hand_computation():
    tr = bp.trace(tiny_graph(), [1.0, 2.0], 1.0, loss="l2")
    n, e = tr.nodes, tr.edges
    # forward: x_j = sum_i w_ij y_i, y_j = relu(x_j)
    assert (n["h1"]["x"], n["h1"]["y"]) == (0.5 * 1 + 0.25 * 2, 1.0)
    assert (n["h2"]["x"], n["h2"]["y"]) == (-1.0 * 1 + 0.25 * 2, 0.0)          # inactive
    assert (n["h3"]["x"], n["h3"]["y"]) == (1.5 * 1.0 + 1.0 * 0.0, 1.5)
    assert (n["h4"]["x"], n["h4"]["y"]) == (0.5 * 1.0 - 1.0 * 0.0, 0.5)
    assert (n["o"]["x"], n["o"]["y"]) == (2.0 * 1.5 - 1.0 * 0.5, 2.5)
    assert tr.E == 0.5 * (2.5 - 1.0) ** 2 == 1.125
    # backward: dE/dy_o = y - t; dE/dy_i = sum_j w_ij dE/dx_j; dE/dx_j = f'(x_j) dE/dy_j
    assert n["o"]["dE/dy"] == n["o"]["dE/dx"] == 1.5
    assert n["h3"]["dE/dy"] == n["h3"]["dE/dx"] == 2.0 * 1.5
    assert n["h4"]["dE/dy"] == n["h4"]["dE/dx"] == -1.0 * 1.5
    assert n["h1"]["dE/dy"] == n["h1"]["dE/dx"] == 1.5 * 3.0 + 0.5 * (-1.5) == 3.75
    assert n["h2"]["dE/dy"] == 1.0 * 3.0 + (-1.0) * (-1.5) == 4.5
    assert n["h2"]["dE/dx"] == 0.0                                              # relu'(-0.5) = 0
    assert n["x1"]["dE/dy"] == 0.5 * 3.75 + (-1.0) * 0.0
    assert n["x2"]["dE/dy"] == 0.25 * 3.75
    # dE/dw_ij = y_i dE/dx_j
    hand = {("h3", "o"): 1.5 * 1.5, ("h4", "o"): 0.5 * 1.5, ("h1", "h3"): 1.0 * 3.0, ("h2", "h3"): 0.0,
            ("h1", "h4"): 1.0 * -1.5, ("h2", "h4"): 0.0, ("x1", "h1"): 1.0 * 3.75, ("x2", "h1"): 2.0 * 3.75,
            ("x1", "h2"): 0.0, ("x2", "h2"): 0.0}
    assert {k: v["dE/dw"] for k, v in e.items()} == hand
    # and they are the engine's gradient
    net = tiny_graph().compile()
    _, grad = bp.loss_and_grad(net, "l2", [[1.0, 2.0]], [[1.0]])
    assert {s: grad[k] for k, s in enumerate(net.edges)} == hand


def test_steps_come_in_the_order_they_are_computed():
    tr = bp.trace(tiny_graph(), [1.0, 2.0], 1.0)
    q = [s.quantity for s in tr.steps]
    assert q[:10] == ["x(h1)", "y(h1)", "x(h2)", "y(h2)", "x(h3)", "y(h3)", "x(h4)", "y(h4)", "x(o)", "y(o)"]
    assert q[10] == "E"
    back = q[11:]
    assert back[:4] == ["dE/dy(o)", "dE/dx(o)", "dE/dw(h3,o)", "dE/dw(h4,o)"]
    # every quantity is computed after those its formula uses
    seen = set(q[:11])
    for s in tr.steps[11:]:
        for used in _quantities_in(s.symbolic):
            assert used in seen or used.startswith(("w(", "t(", "y(", "x(")), (s.quantity, used)
        seen.add(s.quantity)
    assert back[-2:] == ["dE/dy(x2)", "dE/dy(x1)"]
    assert {s.phase for s in tr.steps} == {"forward", "loss", "backward"}


def _quantities_in(formula):
    import re
    return re.findall(r"dE/d[xyw]\([^)]*\)", formula)


def _namespace():
    def softmax(*z):
        e = np.exp(np.array(z) - max(z))
        return OneBased(e / e.sum())

    class OneBased(list):
        def __getitem__(self, k):
            return list.__getitem__(self, k - 1)

    def logsumexp(*z):
        top = max(z)
        return top + math.log(sum(math.exp(v - top) for v in z))

    def sigmoid(v):
        return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))

    return {"relu": lambda v: max(v, 0.0), "tanh": math.tanh, "sigmoid": sigmoid,
            "softplus": lambda v: max(v, 0.0) + math.log1p(math.exp(-abs(v))), "identity": lambda v: v,
            "log": math.log, "exp": math.exp, "logsumexp": logsumexp,
            "max": max, "softmax": softmax, "leaky_relu": lambda v: v if v >= 0 else 0.01 * v,
            "gelu": lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
            "elu": lambda v: v if v > 0 else math.expm1(v), "silu": lambda v: v * sigmoid(v)}


def special_graph():
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    a, b = g.neuron("a", "tanh"), g.neuron("b", "sigmoid", bias=0.3)
    g.connect(x1, a, 0.7)
    g.connect(x2, a, -0.4)
    g.connect(x1, b, 0.2)
    g.connect(x2, b, 0.9)
    p = g.product([a, b], name="p", exponents=[2, 1])
    m = g.max([a, b, x1], name="m")
    o1, o2 = g.neuron("o1", output=True), g.neuron("o2", output=True)
    for o, ws in ((o1, (1.0, -0.5, 0.3)), (o2, (0.2, 0.8, -1.1))):
        for s, w in zip((p, m, a), ws):
            g.connect(s, o, w)
    g.softmax_group([o1, o2])
    return g


@pytest.mark.parametrize("which", ["tiny", "special", "mlp_softmax", "mlp_sigmoid"])
def test_every_printed_formula_reproduces_its_value(which):
    """A student can redo each step: evaluating the 'with numbers' column gives the value."""
    if which == "tiny":
        tr = bp.trace(tiny_graph(), [1.0, 2.0], 1.0, digits=15)
    elif which == "special":
        tr = bp.trace(special_graph(), [0.6, -1.3], 1, digits=15)
    elif which == "mlp_softmax":
        tr = bp.trace(bp.MLP([3, 4, 3], hidden="tanh", output="softmax", seed=1), [0.1, -0.7, 1.2], 2, digits=15)
    else:
        tr = bp.trace(bp.MLP([2, 3, 2], hidden="softplus", output="sigmoid", seed=2), [0.4, 0.9], [1, 0],
                      digits=15)
    ns = _namespace()
    for s in tr.steps:
        got = eval(s.numeric.replace("^", "**"), {"__builtins__": {}}, ns)
        assert got == pytest.approx(s.value, rel=1e-9, abs=1e-12), (s.quantity, s.numeric)


def test_trace_of_special_units_shows_product_and_max_rules():
    tr = bp.trace(special_graph(), [0.6, -1.3], 1)
    steps = {s.quantity: s for s in tr.steps}
    assert steps["x(p)"].symbolic == "y(a)^2 * y(b)"
    assert steps["x(m)"].symbolic == "max(y(a), y(b), y(x1))"
    assert "dx(p)/dy(a)*dE/dx(p)" in steps["dE/dy(a)"].symbolic
    assert "[y(a) is the max in x(m)]*dE/dx(m)" in steps["dE/dy(a)"].symbolic
    assert steps["y(o1)"].symbolic == "softmax(x(o1), x(o2))[1]"
    # the fused softmax + cross-entropy: E on the logits, dE/dx = y - t at the outputs, no dE/dy(o) row
    assert steps["E"].symbolic == "logsumexp(x(o1), x(o2)) - (t(o1)*x(o1) + t(o2)*x(o2))"
    assert steps["dE/dx(o1)"].symbolic == "y(o1) - t(o1)" and "dE/dy(o1)" not in steps
    assert tr.nodes["o2"]["dE/dx"] == pytest.approx(tr.nodes["o2"]["y"] - 1, rel=1e-12)
    # a softmax group that the loss is not fused with is backpropagated through its Jacobian
    unfused = {s.quantity: s for s in bp.trace(special_graph(), [0.6, -1.3], [0.2, 0.7], loss="l2").steps}
    assert unfused["dE/dx(o1)"].symbolic.startswith("dy(o1)/dx(o1)*dE/dy(o1)")


def test_trace_of_an_mlp_names_every_unit_and_matches_backprop():
    net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    tr = bp.trace(net, [0.5, -1.0], 1)
    assert list(tr.nodes) == ["x1", "x2", "h1_1", "h1_2", "h1_3", "o1", "o2"]
    assert len(tr.edges) == 2 * 3 + 3 * 2
    _, grad = bp.loss_and_grad(net, "cross_entropy", [[0.5, -1.0]], [1])
    lay = bp.neuron_layout(net)
    for k, e in enumerate(lay.edges):
        assert tr.edges[(lay.names[e.src], lay.names[e.dst])]["dE/dw"] == pytest.approx(grad[e.param], rel=1e-13)
    text = str(tr)
    assert "dE/dw(h1_2,o1)" in text and "softmax(x(o1), x(o2))[2]" in text and "loss cross_entropy" in text


def test_trace_rejects_a_batch_and_accepts_a_graph_or_a_row():
    net = tiny_graph().compile()
    with pytest.raises(bp.InputError, match="one instance; got 2 rows"):
        bp.trace(net, np.ones((2, 2)), 1.0)
    assert bp.trace(net, [[1.0, 2.0]], [1.0]).E == 1.125
    with pytest.raises(bp.InputError, match="2 columns; the network expects 2|expects 2 input"):
        bp.trace(net, [1.0, 2.0, 3.0], 1.0)


def test_neuron_backprop_gives_each_node_for_a_batch():
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 3.0]])
    T = np.array([[1.0], [0.0], [2.0]])
    p = bp.neuron_backprop(tiny_graph(), "l2", X, T)
    assert p.x.shape == (3, 7) and p.dE_dw.shape == (3, 10)
    tr = bp.trace(tiny_graph(), X[0], T[0])
    for name, rec in tr.nodes.items():       # batch mean: the first instance's share is 1/3 of its own trace
        assert p.node(name)["y"][0] == rec["y"]
        assert p.node(name)["dE/dx"][0] * 3 == pytest.approx(rec["dE/dx"], rel=1e-14, abs=1e-300)


# ---- pictures ------------------------------------------------------------------------------------

def test_svg_and_png_pictures(tmp_path):
    tr = bp.trace(tiny_graph(), [1.0, 2.0], 1.0)
    svg, png = tmp_path / "t.svg", tmp_path / "t.png"
    bp.draw_trace(tr, svg)
    bp.draw_trace(tr, png)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for label in ("h2", "dE/dw = 3.75", "x = -0.5", "E = 1.125"):
        assert label in text, label
    from matplotlib.image import imread
    img = imread(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and img.shape[0] > 200 and img.shape[1] > 300
    with pytest.raises(bp.ConfigError, match=r"\.svg or \.png"):
        bp.draw_trace(tr, tmp_path / "t.pdf")


def test_picture_of_special_units_and_save_by_suffix(tmp_path):
    tr = bp.trace(special_graph(), [0.6, -1.3], 1)
    assert bp.save_trace(tr, tmp_path / "s.svg") == "svg"
    assert "softmax" in (tmp_path / "s.svg").read_text()
    bp.save_trace(tr, tmp_path / "s.txt")
    assert (tmp_path / "s.txt").read_text().strip() == str(tr)
    bp.save_trace(tr, tmp_path / "s.json")
    import json
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["E"] == pytest.approx(tr.E) and len(data["steps"]) == len(tr.steps)


# ---- command line -------------------------------------------------------------------------------

def _trace_cli(model, inputs, targets, out=None):
    argv = ["trace", "--model", str(model), "--input", *inputs, "--target", *targets]
    return cli.main(argv + (["--out", str(out)] if out else []))


def test_the_trace_command_on_a_saved_model(tmp_path, capsys):
    net = tiny_graph().compile()
    model = tmp_path / "tiny.npz"
    net.save(model)
    code = _trace_cli(model, ["1", "2"], ["1"], tmp_path / "trace.svg")
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "dE/dw(x2,h1)" in out.out and "7.5" in out.out
    assert (tmp_path / "trace.svg").exists()


@pytest.mark.parametrize("args, match", [
    ((["1"], ["1"], None), "--input has 1 numbers; the model has 2 inputs"),
    ((["1", "x"], ["1"], None), "--input must be numbers; got 'x'"),
    ((["1,2"], ["1"], "trace.pdf"), r"use a \.svg, \.png, \.txt, \.json or \.html"),
])
def test_the_trace_command_reports_errors(tmp_path, capsys, args, match):
    model = tmp_path / "tiny.npz"
    tiny_graph().compile().save(model)
    inputs, targets, out = args
    code = _trace_cli(model, inputs, targets, out and tmp_path / out)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("backprop: error:")
    import re
    assert re.search(match, err)


def test_trace_arguments_parse_and_run(tmp_path, capsys):
    net = bp.MLP([2, 2, 2], hidden="tanh", output="softmax", seed=0)
    model = tmp_path / "m.npz"
    net.save(model)
    parser = argparse.ArgumentParser()
    add_trace_arguments(parser)
    args = parser.parse_args(["--model", str(model), "--input", "0.5", "-1", "--target", "1",
                              "--out", str(tmp_path / "t.png")])
    assert trace_command(args) == 0
    assert "loss cross_entropy" in capsys.readouterr().out
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    bad = parser.parse_args(["--model", str(tmp_path / "missing.npz"), "--input", "1", "2", "--target", "1"])
    with pytest.raises((ValueError, OSError)):
        trace_command(bad)
