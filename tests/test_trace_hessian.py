"""hessian_trace: note 002's M recursion and Hessian blocks, row by row, equal to the engine's Hessian."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.derivatives.trace_hessian import hessian_trace

from test_trace_losses import redo, scale_of

CASES = [("identity", "l2", [0.2, 0.4]), ("softmax", "cross_entropy", 1), ("sigmoid", "bce", [1.0, 0.0]),
         ("tanh", "l2", [0.1, -0.3]), ("exp", "poisson", [1.0, 2.0]), ("identity", "l2_reg", [0.2, 0.4])]


@settings(max_examples=20, deadline=None)
@given(case=st.sampled_from(CASES), hidden=st.sampled_from(["tanh", "sigmoid", "softplus", "relu"]),
       m=st.integers(1, 3), seed=st.integers(0, 999))
def test_blocks_assemble_into_the_engine_hessian(case, hidden, m, seed):
    out, loss, t = case
    loss = bp.get_loss("l2", l2=0.3) if loss == "l2_reg" else loss
    net = bp.MLP([2, m, 2], hidden=hidden, output=out, seed=seed)
    x = np.random.default_rng(seed).normal(size=2)
    ht = hessian_trace(net, x, t, loss=loss, digits=17)
    H = bp.hessian(net, loss, x[None], np.atleast_1d(t) if np.ndim(t) == 0 else np.atleast_2d(t))
    np.testing.assert_allclose(ht.H, H, rtol=1e-10, atol=1e-13)
    assert ht.max_difference < 1e-12 * max(1.0, float(np.abs(H).max()))     # rounding on the scale of H
    n = net.n_params
    blocks = [s for s in ht.steps if s.phase.startswith("block")]
    assert len(blocks) == n * (n + 1) // 2                        # every entry of the upper triangle, once
    for s in ht.steps:
        assert redo(s) == pytest.approx(s.value, rel=1e-9, abs=1e-9 * scale_of(s)), (s.quantity, s.numeric)


def test_rows_follow_note_002_in_order_and_symbols():
    net = bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=1)
    ht = hessian_trace(net, [0.5, -1.0], 0.3, loss="l2")
    phases = [s.phase for s in ht.steps]
    order = ["sweep", "M outputs", "M hidden", "M mixed", "block (a)", "block (b)", "block (c)"]
    assert sorted(set(phases), key=order.index) == order
    assert [p for p in phases] == sorted(phases, key=order.index)          # sections in the note's order
    q = {s.key: s for s in ht.steps}
    # regression outputs: M = 1 (the identity); mixed M_jk = h'(a_j) w_kj, as the note finds
    assert q["M(o1,o1)"].value == 1.0
    hp = 1 - ht.first_order.nodes["h1_1"]["y"] ** 2
    assert q["M(h1_1,o1)"].value == pytest.approx(hp * ht.first_order.edges[("h1_1", "o1")]["w"], rel=1e-14)
    assert q["da(o1)/da(h1_1)"].symbolic == "w_{1,1}^(2)*tanh'(a_1^(1))"
    assert q["M(h1_1,h1_1)"].symbolic.startswith("tanh''(a_1^(1))*dE_n/dz_1^(1) + ")
    c = next(s for s in ht.steps if s.quantity == "d2E_n/dw_{1,1}^(1)dw_{1,1}^(2)")
    assert c.symbolic == "M(a_1^(1),a_1^(2))*x_1*z_1^(1) + delta_1^(2)*tanh'(a_1^(1))*x_1"
    assert "largest difference from bp.hessian" in str(ht)


def test_hessian_trace_refuses_what_it_does_not_follow():
    with pytest.raises(bp.ConfigError, match="one hidden layer"):
        hessian_trace(bp.MLP([2, 2, 2, 1], output="identity"), [0.1, 0.2], 0.0, loss="l2")
    with pytest.raises(bp.ConfigError, match="softmax output only with cross_entropy"):
        hessian_trace(bp.MLP([2, 2, 2], output="softmax"), [0.1, 0.2], [0.5, 0.5], loss="l2")
