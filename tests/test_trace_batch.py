"""trace_batch: per-instance deltas delta_n and the mean over n that forms each gradient entry."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp

from test_trace_losses import redo, scale_of

XOR_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_T = [0, 1, 1, 0]


def test_xor_hidden_representations_side_by_side_and_the_batch_gradient():
    net = bp.MLP([2, 2, 1], hidden="relu", output="sigmoid", seed=0)
    loss = bp.get_loss("bce", l2=0.1)
    bt = bp.trace_batch(net, XOR_X, XOR_T, loss=loss, digits=17)
    value, grad = bp.loss_and_grad(net, loss, XOR_X, XOR_T)
    assert bt.E == value and np.array_equal(bt.grad, grad)
    # the four hidden representations at once, each the instance's own forward pass
    H = net.forward_values(np.array(XOR_X))[0][2]                  # relu outputs of the hidden layer
    np.testing.assert_array_equal(bt.values("y(h1_1)"), H[:, 0])
    np.testing.assert_array_equal(bt.values("y(h1_2)"), H[:, 1])
    # per-instance deltas are dE_n/dx, not divided by B: the trace of that instance alone
    for n, x in enumerate(XOR_X):
        alone = bp.trace(net, x, XOR_T[n], loss="bce")
        assert bt.instances[n].nodes["h1_2"]["dE/dx"] == alone.nodes["h1_2"]["dE/dx"]
        assert bt.instances[n].E == alone.E
    # each gradient entry is 1/B sum_n y_i,n delta_j,n + lambda w_ij, and redoes to the engine's number
    rows = {s.key: s for s in bt.steps}
    assert rows["dE/dw(h1_2,o1)"].symbolic == "1/B sum_n y(h1_2)_n*dE/dx(o1)_n + lambda*w(h1_2,o1)"
    assert rows["dE/dw(h1_2,o1)"].numeric.startswith("1/4 * (")
    assert rows["E"].value == pytest.approx(np.mean(bt.values("E")) + 0.05 * np.sum(net.params[net.reg_mask] ** 2))
    for s in bt.steps:
        assert redo(s) == pytest.approx(s.value, rel=1e-12, abs=1e-12 * scale_of(s)), s.key
    text = str(bt)
    assert "n=4" in text and "delta_n = dE_n/dx, not divided by B" in text


@settings(max_examples=20, deadline=None)
@given(B=st.integers(1, 5), l2=st.sampled_from([0.0, 0.2]), notation=st.sampled_from(["004", "002", "cmu"]),
       seed=st.integers(0, 999))
def test_batch_rows_are_the_engine_gradient_and_the_mean_of_the_instances(B, l2, notation, seed):
    rng = np.random.default_rng(seed)
    net = bp.MLP([3, 3, 2], hidden="tanh", output="softmax", seed=seed)
    X, T = rng.normal(size=(B, 3)), rng.integers(0, 2, size=B)
    loss = bp.get_loss("cross_entropy", l2=l2)
    bt = bp.trace_batch(net, X, T, loss=loss, digits=17, notation=notation)
    value, grad = bp.loss_and_grad(net, loss, X, T)
    assert bt.E == pytest.approx(value, rel=1e-13)
    lay = bp.neuron_layout(net)
    for k, e in enumerate(lay.edges):
        key = f"dE/dw({lay.names[e.src]},{lay.names[e.dst]})"
        row = next(s for s in bt.steps if s.key == key)
        assert row.value == grad[e.param]
        terms = bt.values(f"y({lay.names[e.src]})") * bt.values(f"dE/dx({lay.names[e.dst]})")
        assert np.mean(terms) + l2 * net.params[e.param] * net.reg_mask[e.param] == \
            pytest.approx(grad[e.param], rel=1e-10, abs=1e-14)
        np.testing.assert_array_equal(terms, [t.edges[(lay.names[e.src], lay.names[e.dst])]["dE/dw"]
                                              for t in bt.instances])   # each instance's own dE_n/dw
        assert redo(row) == pytest.approx(row.value, rel=1e-10, abs=1e-10 * scale_of(row))


def test_batch_input_errors():
    net = bp.MLP([2, 2, 1], output="sigmoid")
    with pytest.raises(bp.InputError):
        bp.trace_batch(net, [[0.0, 1.0, 2.0]], [1])
    bt = bp.trace_batch(net, XOR_X, XOR_T)
    with pytest.raises(bp.InputError, match=r"no quantity 'y\(zz\)'"):
        bt.values("y(zz)")
