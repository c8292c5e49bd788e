"""Backpropagation against finite differences and against the closed forms of the derivation."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import backprop as bp
from helpers import heads, nudge_off_kinks, off_loss_kinks, targets

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]
HEADS = heads(("softmax", "l2"), ("tanh", "l2"), ("sigmoid", "l2"), ("softplus", "poisson"))


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 4), width=st.integers(1, 5), d=st.integers(1, 4), c=st.integers(2, 4),
       B=st.integers(1, 6), act=st.sampled_from(HIDDEN), head=st.sampled_from(HEADS),
       l2=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 10_000))
def test_gradient_matches_central_differences(depth, width, d, c, B, act, head, l2, seed):
    rng = np.random.default_rng(seed)
    output, loss = head
    net = bp.MLP([d] + [width] * depth + [c], hidden=act, output=output, seed=seed)
    X = rng.normal(size=(B, d))
    nudge_off_kinks(net, X, act)
    T = targets(loss, B, c, rng)
    assume(off_loss_kinks(net, loss, X, T))
    report = bp.check_gradient(net, bp.get_loss(loss, l2=l2), X, T, order=4, eps=2e-4, tol=1e-7)
    assert report.passed, str(report)


def test_gradient_check_of_second_order_stencil_on_digits_sized_net():
    X, y = bp.datasets.digits()
    net = bp.MLP([64, 32, 10], hidden="tanh", output="softmax", seed=0)
    report = bp.check_gradient(net, "cross_entropy", X[:100], y[:100], n=300)
    assert report.passed and report.n_checked == 300 and report.n_total == 2410
    assert "gradient check: PASS" in str(report)


def test_check_gradient_catches_a_wrong_gradient(monkeypatch):
    net = bp.MLP([3, 4, 2], hidden="tanh", output="identity", seed=0)
    X, T = np.ones((2, 3)), np.zeros((2, 2))
    from backprop.ops import elementwise
    monkeypatch.setattr(elementwise.Elementwise, "vjp", lambda self, at, dy, *, gp, need: [dy])
    report = bp.check_gradient(net, "l2", X, T)
    assert not report.passed and "FAIL" in str(report) and "layer 1" in report.worst


def test_output_delta_is_y_minus_t_for_identity_output_and_l2():
    rng = np.random.default_rng(0)
    net = bp.MLP([3, 4, 2], hidden="tanh", output="identity", seed=0)
    X, T = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    obj = bp.backprop(net, "l2", X, T)
    Y = obj.output
    # the loss is the batch mean, so dE/dz_out = (y - t) / B; per instance delta_k = y_k - t_k exactly
    np.testing.assert_array_equal(obj.adjoints[len(net.ops) - 1] * 5, (Y - T) / 5 * 5)
    one = bp.backprop(net, "l2", X[:1], T[:1])
    np.testing.assert_array_equal(one.adjoints[-2], one.output - T[:1])


def test_two_layer_tanh_regression_closed_forms():
    """delta_k = y_k - t_k; delta_j = (1 - z_j^2) sum_k w_kj delta_k; dE/dw_ji = delta_j x_i; dE/dw_kj = delta_k z_j."""
    rng = np.random.default_rng(1)
    net = bp.MLP([3, 4, 2], hidden="tanh", output="identity", seed=3)
    x, t = rng.normal(size=(1, 3)), rng.normal(size=(1, 2))
    W1, b1 = net.views(0)
    W2, b2 = net.views(2)
    z = np.tanh(x[0] @ W1.T + b1)                 # hidden activations z_j
    y = z @ W2.T + b2                              # linear outputs y_k
    delta_k = y - t[0]
    delta_j = (1 - z ** 2) * (W2.T @ delta_k)
    value, grad = bp.loss_and_grad(net, "l2", x, t)
    gW1, gb1 = net.split(grad, 0)
    gW2, gb2 = net.split(grad, 2)
    np.testing.assert_allclose(value, 0.5 * np.sum(delta_k ** 2), rtol=1e-15)
    np.testing.assert_allclose(gW2, np.outer(delta_k, z), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gb2, delta_k, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gW1, np.outer(delta_j, x[0]), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gb1, delta_j, rtol=1e-13, atol=1e-15)


def test_batch_gradient_is_mean_of_instance_gradients():
    rng = np.random.default_rng(2)
    net = bp.MLP([3, 5, 3], hidden="sigmoid", output="softmax", seed=0)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    _, g = bp.loss_and_grad(net, "cross_entropy", X, y)
    per = [bp.loss_and_grad(net, "cross_entropy", X[n:n + 1], y[n:n + 1])[1] for n in range(6)]
    np.testing.assert_allclose(g, np.mean(per, axis=0), rtol=1e-12, atol=1e-15)


def test_l2_regularisation_on_weights_not_biases():
    rng = np.random.default_rng(3)
    net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    X, T = rng.normal(size=(4, 2)), rng.normal(size=(4, 1))
    v0, g0 = bp.loss_and_grad(net, "l2", X, T)
    v1, g1 = bp.loss_and_grad(net, bp.get_loss("l2", l2=0.5), X, T)
    W = net.params * net.reg_mask
    assert v1 == pytest.approx(v0 + 0.25 * np.sum(W ** 2), rel=1e-14)
    np.testing.assert_allclose(g1 - g0, 0.5 * W, atol=1e-15)
    assert net.reg_mask.sum() == 2 * 3 + 3 * 1


def test_label_smoothing_targets_and_fused_delta():
    net = bp.MLP([2, 4], output="softmax", seed=0)
    loss = bp.get_loss("cross_entropy", label_smoothing=0.1)
    D = loss.prepare(np.array([2, 0]), 2, 4, np.float64)
    np.testing.assert_allclose(D, [[0.1, 0.1, 0.7, 0.1], [0.7, 0.1, 0.1, 0.1]])
    X = np.array([[0.3, -1.0], [2.0, 0.5]])
    obj = bp.backprop(net, loss, X, [2, 0])
    np.testing.assert_allclose(obj.adjoints[1] * 2, obj.output - D, atol=1e-15)   # delta = y - d
    with pytest.raises(ValueError, match="too large"):
        bp.loss_and_grad(net, bp.get_loss("cross_entropy", label_smoothing=0.4), X, [2, 0])


def test_kl_and_cross_entropy_differ_by_a_constant_only():
    rng = np.random.default_rng(4)
    net = bp.MLP([3, 4, 3], output="softmax", seed=0)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    ce = bp.get_loss("cross_entropy", label_smoothing=0.05)
    kl = bp.get_loss("kl", label_smoothing=0.05)
    (v1, g1), (v2, g2) = bp.loss_and_grad(net, ce, X, y), bp.loss_and_grad(net, kl, X, y)
    d = np.array([0.9, 0.05, 0.05])
    assert v1 - v2 == pytest.approx(-np.sum(d * np.log(d)), rel=1e-12)
    np.testing.assert_array_equal(g1, g2)


def test_params_layout_matches_sequential_state_dict_order():
    net = bp.MLP([3, 4, 2], seed=0)
    W1, b1 = net.views(0)
    W2, b2 = net.views(2)
    flat = np.concatenate([W1.ravel(), b1, W2.ravel(), b2])
    np.testing.assert_array_equal(net.params, flat)
    assert W1.shape == (4, 3) and W2.shape == (2, 4) and net.n_params == 4 * 3 + 4 + 2 * 4 + 2
    assert np.shares_memory(W1, net.params) and net.params.flags.c_contiguous
    net.params[:] = np.arange(net.n_params)
    assert W1[0, 1] == 1 and b1[0] == 12 and W2[0, 0] == 16
    X = np.eye(3)[:1]
    np.testing.assert_allclose(net.predict(X), bp.MLP([3, 4, 2], seed=5, params=np.arange(net.n_params)).predict(X))


def test_seed_reproducible_and_init_scale():
    a, b = bp.MLP([50, 40, 3], hidden="relu", seed=7), bp.MLP([50, 40, 3], hidden="relu", seed=7)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, bp.MLP([50, 40, 3], hidden="relu", seed=8).params)
    W1 = a.views(0)[0]
    assert W1.std() == pytest.approx(np.sqrt(2 / 50), rel=0.1)          # He for relu
    W2 = a.views(2)[0]
    assert np.abs(W2).max() <= np.sqrt(6 / 43)                          # Glorot bound for softmax layer


def test_per_layer_activations_and_user_defined_activation_end_to_end():
    cube = bp.activation("cube", f=lambda z: z ** 3 / 3 + z, df=lambda z: z ** 2 + 1, d2f=lambda z: 2 * z)
    net = bp.MLP([3, 4, 4, 2], hidden=[cube, "softplus"], output="identity", seed=0)
    assert [op.describe() for op in net.ops][1::2] == ["cube", "softplus", "identity"]
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    assert bp.check_gradient(net, "l2", X, T, order=4, tol=1e-7).passed
    net2 = bp.Sequential(3, [4, cube, 2, "softmax"], seed=0)
    assert bp.check_gradient(net2, "cross_entropy", X, [0, 1, 1, 0], order=4, tol=1e-7).passed


def test_float32_end_to_end_agrees_with_float64():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(16, 6)), rng.integers(0, 3, 16)
    n64 = bp.MLP([6, 8, 3], hidden="tanh", seed=0)
    n32 = bp.MLP([6, 8, 3], hidden="tanh", seed=0, dtype=np.float32)
    assert n32.params.dtype == np.float32
    v64, g64 = bp.loss_and_grad(n64, "cross_entropy", X, y)
    v32, g32 = bp.loss_and_grad(n32, "cross_entropy", X, y)
    assert g32.dtype == np.float32 and n32.predict(X).dtype == np.float32
    assert v32 == pytest.approx(v64, rel=1e-6)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-6)
    assert bp.check_gradient(n32, "cross_entropy", X, y).passed


# ---- stability at the extremes --------------------------------------------------------------

def test_softmax_cross_entropy_at_logits_of_1e4():
    net = bp.MLP([2, 3], output="softmax", seed=0)
    net.params[:] = [1e4, 0, -1e4, 0, 0, 0, 0, 0, 0]        # z = [1e4, -1e4, 0] for x = (1, 0)
    X = np.array([[1.0, 0.0]])
    v, g = bp.loss_and_grad(net, "cross_entropy", X, [1])  # -log y_1 = 2e4 in the limit
    assert v == pytest.approx(2e4, rel=1e-12)
    gW, gb = net.split(g, 0)
    np.testing.assert_allclose(gb, [1, -1, 0], atol=1e-12)   # y - d with y = (1, 0, 0)
    np.testing.assert_allclose(gW, [[1, 0], [-1, 0], [0, 0]], atol=1e-12)
    v0, g0 = bp.loss_and_grad(net, "cross_entropy", X, [0])
    assert v0 == 0.0 and np.all(np.abs(g0) < 1e-300 + 1e-12)
    assert np.isfinite(net.predict(X)).all()


@pytest.mark.parametrize("sign, label, value, dz", [(1, 0, 800.0, 1.0), (-1, 1, 800.0, -1.0), (1, 1, 0.0, 0.0)])
def test_sigmoid_bce_at_pre_activation_800(sign, label, value, dz):
    net = bp.MLP([1, 1], output="sigmoid", seed=0)
    net.params[:] = [800.0, 0.0]
    v, g = bp.loss_and_grad(net, "bce", np.array([[sign * 1.0]]), np.array([label]))
    assert v == pytest.approx(value, abs=1e-300)
    np.testing.assert_allclose(g, [dz * sign, dz], atol=1e-300)


def test_extreme_inputs_give_no_warnings_with_unfused_heads():
    net = bp.MLP([2, 3, 2], hidden="sigmoid", output="softmax", seed=0)
    X = np.array([[1e6, -1e6], [-800, 800]])
    v, g = bp.loss_and_grad(net, "l2", X, np.zeros((2, 2)))
    assert np.isfinite(v) and np.isfinite(g).all()


def test_sample_weights_equal_repeated_rows():
    from backprop.engine.objective import Objective
    rng = np.random.default_rng(6)
    net = bp.MLP([3, 4, 3], hidden="tanh", output="softmax", seed=0)
    X, y = rng.normal(size=(4, 3)), np.array([0, 1, 2, 1])
    w = np.array([2.0, 1.0, 0.0, 3.0])
    rep = np.repeat(np.arange(4), w.astype(int))
    a = Objective(net, "cross_entropy", X, y, sample_weight=w)
    b = Objective(net, "cross_entropy", X[rep], y[rep])
    assert a.value() == pytest.approx(b.value(), rel=1e-14)
    np.testing.assert_allclose(a.gradient(), b.gradient(), rtol=1e-13, atol=1e-16)
    V = rng.normal(size=(2, net.n_params))
    np.testing.assert_allclose(a.hvp(V), b.hvp(V), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="sample_weight"):
        Objective(net, "cross_entropy", X, y, sample_weight=[1, -1, 1, 1])
