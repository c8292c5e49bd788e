"""The input Jacobian by backpropagation, against finite differences and the notes' closed form."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import backprop as bp
from backprop.engine import passes
from helpers import nudge_off_kinks

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]
OUTPUTS = ["identity", "sigmoid", "tanh", "softmax", "softplus"]


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 3), width=st.integers(1, 5), d=st.integers(1, 4), c=st.integers(1, 4),
       B=st.integers(1, 5), act=st.sampled_from(HIDDEN), output=st.sampled_from(OUTPUTS),
       seed=st.integers(0, 10_000))
def test_jacobian_matches_central_differences(depth, width, d, c, B, act, output, seed):
    rng = np.random.default_rng(seed)
    if output == "softmax":
        c = max(c, 2)          # a softmax over one output is refused at construction
    net = bp.MLP([d] + [width] * depth + [c], hidden=act, output=output, seed=seed)
    X = rng.normal(size=(B, d))
    nudge_off_kinks(net, X, act)
    # deep in saturation (logits beyond +-6) dy/dx shrinks below what differences of y ~ 1 resolve
    if output in ("tanh", "sigmoid", "softmax"):
        assume(np.abs(net.forward_values(X)[0][-2]).max() < 6)
    # and a Jacobian that has vanished (|J| < 1e-4, e.g. through a chain of width-1 sigmoid layers) is
    # below what differences of y resolve to 1e-7 relative (their rounding is u |y| / eps ~ 1e-13)
    assume(np.abs(bp.jacobian(net, X)).max() > 1e-4)
    report = bp.check_jacobian(net, X, order=4, tol=1e-7)
    assert report.passed, str(report)
    assert report.n_checked == B * c * d


def test_two_layer_sigmoid_closed_form():
    """J_ki = sum_j dy_k/da_j w_ji with dy_k/da_j = sigma'(a_k) w_kj h'(a_j) (the notes' recursion)."""
    rng = np.random.default_rng(0)
    net = bp.MLP([3, 5, 2], hidden="tanh", output="sigmoid", seed=1)
    X = rng.normal(size=(4, 3))
    W1, b1 = net.views(0)
    W2, b2 = net.views(2)
    J = bp.jacobian(net, X)
    for n in range(4):
        z = np.tanh(W1 @ X[n] + b1)
        y = 1 / (1 + np.exp(-(W2 @ z + b2)))
        dy_da_hidden = (y * (1 - y))[:, None] * W2 * (1 - z ** 2)[None, :]     # (k, j)
        np.testing.assert_allclose(J[n], dy_da_hidden @ W1, rtol=1e-13, atol=1e-15)


def test_linear_network_jacobian_is_the_weight_matrix():
    net = bp.MLP([4, 3], output="identity", seed=0)
    J = bp.jacobian(net, np.random.default_rng(0).normal(size=(6, 4)))
    np.testing.assert_array_equal(J, np.broadcast_to(net.views(0)[0], (6, 3, 4)))


def test_softmax_rows_of_the_jacobian_sum_to_zero():
    net = bp.MLP([5, 6, 4], hidden="softplus", output="softmax", seed=2)
    J = bp.jacobian(net, np.random.default_rng(1).normal(size=(3, 5)))
    np.testing.assert_allclose(J.sum(axis=1), 0, atol=1e-15)
    assert np.abs(J).max() > 1e-3


def test_parameter_jacobian_matches_forward_sweeps_and_finite_differences():
    rng = np.random.default_rng(3)
    net = bp.MLP([3, 4, 4, 2], hidden=["tanh", "sigmoid"], output="softmax", seed=0)
    X = rng.normal(size=(5, 3))
    J = bp.jacobian(net, X, wrt="params")
    assert J.shape == (5, 2, net.n_params)
    values, caches = net.forward_values(X)
    tan = passes.forward_tangent(net, values, caches, V=np.eye(net.n_params))[-1]   # (W, B, c)
    np.testing.assert_allclose(J, tan.transpose(1, 2, 0), rtol=1e-12, atol=1e-15)
    k, eps = 7, 1e-6
    net.params[k] += eps
    up = net.predict(X)
    net.params[k] -= 2 * eps
    down = net.predict(X)
    net.params[k] += eps
    np.testing.assert_allclose(J[:, :, k], (up - down) / (2 * eps), rtol=1e-7, atol=1e-10)


def test_chunked_batches_agree_with_one_chunk(monkeypatch):
    from backprop.derivatives import jacobian as jac
    rng = np.random.default_rng(4)
    net = bp.MLP([3, 6, 3], hidden="tanh", output="softmax", seed=0)
    X = rng.normal(size=(9, 3))
    whole, whole_p = bp.jacobian(net, X), bp.jacobian(net, X, wrt="params")
    monkeypatch.setattr(jac, "CHUNK_ELEMENTS", 1)       # one sample per chunk
    np.testing.assert_array_equal(bp.jacobian(net, X), whole)
    np.testing.assert_array_equal(bp.jacobian(net, X, wrt="params"), whole_p)


def test_float32_jacobian():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(4, 3))
    n64 = bp.MLP([3, 5, 2], hidden="tanh", output="softmax", seed=0)
    n32 = bp.MLP([3, 5, 2], hidden="tanh", output="softmax", seed=0, dtype=np.float32)
    J32 = bp.jacobian(n32, X)
    assert J32.dtype == np.float32
    np.testing.assert_allclose(J32, bp.jacobian(n64, X), rtol=1e-4, atol=1e-6)
    assert bp.check_jacobian(n32, X).passed


def test_check_jacobian_catches_a_wrong_jacobian(monkeypatch):
    net = bp.MLP([3, 4, 2], hidden="tanh", output="identity", seed=0)
    X = np.random.default_rng(0).normal(size=(2, 3))
    from backprop.ops import elementwise
    monkeypatch.setattr(elementwise.Elementwise, "vjp", lambda self, at, dy, *, gp, need: [dy])
    report = bp.check_jacobian(net, X)
    assert not report.passed and "FAIL" in str(report) and "dy_" in report.worst


def test_jacobian_input_errors():
    net = bp.MLP([3, 4, 2], seed=0)
    with pytest.raises(bp.InputError, match="3 input features"):
        bp.jacobian(net, np.ones((2, 4)))
    with pytest.raises(bp.InputError, match="NaN"):
        bp.jacobian(net, np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(bp.ConfigError, match="wrt"):
        bp.jacobian(net, np.ones((2, 3)), wrt="weights")
    with pytest.raises(bp.ConfigError, match="order"):
        bp.check_jacobian(net, np.ones((2, 3)), order=3)


def test_jacobian_is_finite_for_saturated_units():
    net = bp.MLP([2, 3, 3], hidden="sigmoid", output="softmax", seed=0)
    J = bp.jacobian(net, np.array([[1e6, -1e6], [-800.0, 800.0]]))
    assert np.isfinite(J).all()
