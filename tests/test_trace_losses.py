"""The trace agrees with the engine for every loss the library has (with L2, label smoothing, KL forms) and every
output head, including saturated ones; every printed formula can be redone as written."""
import inspect
import math
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import backprop as bp
from backprop.errors import InputError
from backprop.losses import LOSS_NAMES, get_loss
from backprop.ops.activations import SCALAR_NAMES

from test_trace import _namespace

HEADS = SCALAR_NAMES + ("softmax",)


def redo(step):
    """Evaluate the 'with numbers' column of a step as written."""
    return eval(step.numeric.replace("^", "**"), {"__builtins__": {}}, _namespace())


def scale_of(step):
    """The largest number in the formula: the rounding of the printed numbers is relative to it."""
    nums = [abs(float(v)) for v in re.findall(r"\d+\.?\d*(?:e[+-]?\d+)?", step.numeric)]
    return max([1.0, abs(step.value)] + nums)


def assert_matches_engine(tr, net, loss, x, t):
    """E row == the engine's loss value; every dE/dw and dE/db row == the engine's gradient entry."""
    value, grad = bp.loss_and_grad(net, loss, np.atleast_2d(x), _batch(t))
    rows = {s.quantity: s for s in tr.steps}
    assert rows["E"].value == pytest.approx(value, rel=1e-13, abs=1e-300)
    lay = bp.neuron_layout(net)
    for e in lay.edges:
        q = f"dE/dw({lay.names[e.src]},{lay.names[e.dst]})"
        assert rows[q].value == pytest.approx(grad[e.param], rel=1e-12, abs=1e-15), q
    for j, p in zip(lay.bias_units, lay.bias_param):
        q = f"dE/db({lay.names[j]})"
        assert rows[q].value == pytest.approx(grad[p], rel=1e-12, abs=1e-15), q
    assert len([s for s in tr.steps if s.quantity.startswith(("dE/dw", "dE/db"))]) == net.n_params


def _batch(t):
    t = np.asarray(t)
    return t.reshape(1) if t.ndim == 0 else t.reshape(1, -1)


# ---- regressions ------------------------------------------------------------------------------------

def test_l2_term_appears_in_every_weight_gradient_row():
    net = bp.MLP([2, 2, 1], hidden="tanh", output="sigmoid", seed=0)
    loss = get_loss("bce", l2=0.5)
    tr = bp.trace(net, [1.0, 2.0], 1.0, loss=loss, digits=17)
    assert_matches_engine(tr, net, loss, [1.0, 2.0], 1.0)
    rows = {s.quantity: s for s in tr.steps}
    w = tr.edges[("h1_1", "o1")]["w"]
    data_part = tr.nodes["h1_1"]["y"] * tr.nodes["o1"]["dE/dx"]
    assert rows["dE/dw(h1_1,o1)"].value == pytest.approx(data_part + 0.5 * w, rel=1e-14)
    assert rows["dE/dw(h1_1,o1)"].symbolic == "y(h1_1)*dE/dx(o1) + lambda*w(h1_1,o1)"
    assert rows["dE/db(o1)"].symbolic == "dE/dx(o1)"                     # biases are not regularised
    # the E row shows the number ||W||^2, so it can be redone
    sumsq = float(np.sum(net.params[net.reg_mask] ** 2))
    assert f"0.5/2 * {sumsq:.17g}" in rows["E"].numeric
    for s in tr.steps:
        assert redo(s) == pytest.approx(s.value, rel=1e-12, abs=1e-12 * scale_of(s)), s.quantity
    assert tr.edges[("h1_1", "o1")]["dE/dw"] == rows["dE/dw(h1_1,o1)"].value    # the picture shows the same


def test_saturated_sigmoid_shows_the_logit_form():
    net = bp.MLP([1, 1], output="sigmoid")
    net.params[:] = [1.0, 0.0]
    tr = bp.trace(net, [40.0], 0.0, loss="bce")
    text = str(tr)
    assert "log(0)" not in text and "inf" not in text and "0*inf" not in text
    rows = {s.quantity: s for s in tr.steps}
    assert rows["E"].symbolic == "(softplus(x(o1)) - t(o1)*x(o1))"
    assert rows["E"].numeric == "(softplus(40) - 0*40)" and rows["E"].value == pytest.approx(40.0, rel=1e-15)
    assert rows["dE/dx(o1)"].symbolic == "y(o1) - t(o1)" and rows["dE/dx(o1)"].numeric == "1 - 0"
    assert "dE/dy(o1)" not in rows
    assert "softplus(u) = log(1 + e^u)" in text
    for s in tr.steps:
        assert redo(s) == pytest.approx(s.value, rel=1e-12), s.quantity
    assert_matches_engine(tr, net, "bce", [40.0], 0.0)
    # far in the other tail as well
    tr = bp.trace(net, [-800.0], 1.0, loss="bce")
    assert {s.quantity: s for s in tr.steps}["E"].value == pytest.approx(800.0)
    for s in tr.steps:
        assert redo(s) == pytest.approx(s.value, rel=1e-12), s.quantity


def test_label_smoothing_and_kl_targets_shown_as_used():
    net = bp.MLP([2, 3], output="softmax", seed=1)
    loss = get_loss("kl", label_smoothing=0.1)
    tr = bp.trace(net, [0.3, -0.2], 2, loss=loss, digits=17)
    np.testing.assert_allclose(tr.target, [0.1, 0.1, 0.8])
    assert "t*log" not in tr.steps[0].numeric
    assert_matches_engine(tr, net, loss, [0.3, -0.2], 2)
    for s in tr.steps:
        assert redo(s) == pytest.approx(s.value, rel=1e-12, abs=1e-12 * scale_of(s)), s.quantity


# ---- the whole class: every loss x every head, with and without L2, saturated or not -----------------

def _takes(name, option):
    return option in inspect.signature(type(get_loss(name)).__init__).parameters


@settings(max_examples=120, deadline=None)
@given(loss_name=st.sampled_from(LOSS_NAMES), head=st.sampled_from(HEADS), l2=st.sampled_from([0.0, 0.3]),
       smoothing=st.sampled_from([0.0, 0.05]), c=st.integers(1, 3), labels=st.booleans(),
       spread=st.sampled_from([1.0, 25.0]), seed=st.integers(0, 2**16))
def test_every_row_equals_the_engine(loss_name, head, l2, smoothing, c, labels, spread, seed):
    if head == "softmax" and c == 1:
        c = 2
    opts = {"l2": l2}
    if smoothing and _takes(loss_name, "label_smoothing"):
        opts["label_smoothing"] = smoothing
    loss = get_loss(loss_name, **opts)
    rng = np.random.default_rng(seed)
    net = bp.MLP([2, 3, c], hidden="tanh", output=head, seed=seed)
    net.params[:] *= spread                      # spread 25 drives sigmoid/softmax/exp heads into saturation
    x = rng.normal(size=2)
    t = rng.integers(0, c) if labels and c > 1 else rng.uniform(0, 1, size=c)
    try:
        loss.prepare(_batch(t), 1, c, np.float64)
    except InputError:
        assume(False)                            # targets this loss does not take
    with np.errstate(all="ignore"):
        value, grad = bp.loss_and_grad(net, loss, x[None], _batch(t))
    assume(np.isfinite(value) and np.all(np.isfinite(grad)))       # e.g. log of a negative identity output
    tr = bp.trace(net, x, t, loss=loss, digits=17)
    assert_matches_engine(tr, net, loss, x, t)
    for s in tr.steps:
        assert "inf" not in s.numeric and "nan" not in s.numeric, (s.quantity, s.numeric)
        got = redo(s)
        assert got == pytest.approx(s.value, rel=1e-9, abs=1e-9 * scale_of(s)), (s.quantity, s.numeric)
    assert math.isfinite(tr.E)
