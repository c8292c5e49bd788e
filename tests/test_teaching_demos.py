"""Demonstrations of the notes' warnings: the update-ordering mistake (000) and an optimiser's state (001)."""
import math

import numpy as np
import pytest

import backprop as bp
from backprop.faces.teaching.demonstrations import optimizer_trace, update_order_demo

from test_trace import _namespace


def redo(row):
    ns = {**_namespace(), "sqrt": math.sqrt}
    return eval(row.numeric.replace("^", "**"), {"__builtins__": {}}, ns)


def test_update_order_mistake_changes_only_the_layers_below_the_top():
    net = bp.MLP([2, 2, 1], hidden="tanh", output="sigmoid", seed=0)
    before = net.params.copy()
    demo = update_order_demo(net, [1.0, 2.0], 1.0, loss="bce", lr=0.5, digits=17)
    np.testing.assert_array_equal(net.params, before)                          # the network is not changed
    _, g = bp.loss_and_grad(net, "bce", [[1.0, 2.0]], [1.0])
    np.testing.assert_array_equal(demo.correct, before - 0.5 * g)
    W1, b1, W2, b2 = (v.copy() for v in (net.layers[0].W, net.layers[0].b, net.layers[1].W,
                                          net.layers[1].b))
    top = slice(6, 9)
    np.testing.assert_array_equal(demo.mistaken[top], demo.correct[top])        # the top layer: same step
    # below: the deltas go through the already updated W2, as the mistake does
    tr = bp.trace(net, [1.0, 2.0], 1.0, loss="bce")
    d_o = tr.nodes["o1"]["dE/dx"]
    W2_new = W2 - 0.5 * d_o * np.array([tr.nodes["h1_1"]["y"], tr.nodes["h1_2"]["y"]])
    h = np.array([tr.nodes["h1_1"]["y"], tr.nodes["h1_2"]["y"]])
    d_h = (1 - h ** 2) * W2_new[0] * d_o
    np.testing.assert_allclose(demo.mistaken[:4], (W1 - 0.5 * np.outer(d_h, [1.0, 2.0])).ravel(), rtol=1e-14)
    np.testing.assert_allclose(demo.mistaken[4:6], b1 - 0.5 * d_h, rtol=1e-14)
    assert np.all(demo.difference[:6] != 0) and np.all(demo.difference[6:] == 0)
    for s in demo.steps:
        assert redo(s) == pytest.approx(s.value, rel=1e-12), s.quantity
    assert "mistaken" in str(demo) and "w[x1->h1_1]" in str(demo)


@pytest.mark.parametrize("name, options", [("momentum", {"lr": 0.1, "weight_decay": 0.05}),
                                           ("nesterov", {"lr": 0.1}), ("gd", {"lr": 0.3}),
                                           ("adam", {"lr": 0.05, "weight_decay": 0.01})])
def test_optimizer_trace_records_the_library_optimiser(name, options):
    net = bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=1)
    X, T = np.array([[1.0, 0.5], [-0.3, 2.0]]), np.array([0.2, -0.4])
    ot = optimizer_trace(net, "l2", X, T, name, steps=3, digits=17, **options)
    # the same steps, run directly with the library's optimiser
    ref, opt = net.copy(), bp.get_optimizer(name, **options)
    opt.decay_mask = net.reg_mask
    for n in range(3):
        _, g = bp.loss_and_grad(ref, "l2", X, T)
        np.testing.assert_array_equal(ot.grads[n], g)
        opt.step(ref.params, g)
        np.testing.assert_array_equal(ot.params[n + 1], ref.params)
    for r in ot.rows:
        assert redo(r) == pytest.approx(r.value, rel=1e-10, abs=1e-14), (r.quantity, r.numeric)
    bias_rows = [r for r in ot.rows if r.quantity.startswith("W b[")]
    weight_rows = [r for r in ot.rows if r.quantity.startswith("W w[")]
    if options.get("weight_decay"):
        assert all("(1 - lambda)" in r.symbolic for r in weight_rows)
        assert not any("lambda" in r.symbolic for r in bias_rows)               # biases are not decayed
    if name in ("momentum", "nesterov"):
        assert any(r.quantity.startswith("Delta ") for r in ot.rows)
    assert "step 3" in str(ot)
