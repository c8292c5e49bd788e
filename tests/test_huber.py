"""The Huber loss, added as one entry in losses.py: value, gradient, Hessian and HVP against torch.nn.HuberLoss,
the trace, training, the pairing rule, save/load of its options, and the estimators."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.engine.serialize import load_bundle, save
from backprop.errors import ConfigError
from backprop.losses import LOSS_NAMES, Huber, get_loss
from backprop.training.pairing import check_output_loss

torch = pytest.importorskip("torch")


def _torch_loss(widths, X, T, delta, reduction):
    """The loss of a tanh MLP of these widths as a torch function of its flat parameter vector (layer by layer,
    W (out, in) row-major, then b)."""
    sizes = list(zip(widths[1:], widths[:-1]))
    acts = [torch.tanh] * (len(sizes) - 1) + [lambda z: z]
    Xt, Tt = torch.tensor(X), torch.tensor(T)

    def f(w):
        h, k = Xt, 0
        for (o, i), act in zip(sizes, acts):
            W = w[k:k + o * i].reshape(o, i)
            k += o * i
            b = w[k:k + o]
            k += o
            h = act(h @ W.T + b)
        total = torch.nn.HuberLoss(delta=delta, reduction="sum")(h, Tt)
        return total / X.shape[0] if reduction == "mean" else total
    return f


@settings(max_examples=25, deadline=None)
@given(delta=st.sampled_from([0.3, 1.0, 2.5]), reduction=st.sampled_from(["mean", "sum"]),
       B=st.integers(1, 6), c=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_value_gradient_hessian_and_hvp_equal_torch_huber_loss(delta, reduction, B, c, seed):
    rng = np.random.default_rng(seed)
    net = bp.MLP([3, 4, c], hidden="tanh", output="identity", seed=seed)
    X, T = rng.normal(size=(B, 3)), rng.normal(scale=2.0, size=(B, c))
    r = net.forward_values(X)[0][-1] - T
    if np.abs(np.abs(r) - delta).min() < 1e-6:       # exactly on the kink of the second derivative
        return
    loss = get_loss("huber", delta=delta, reduction=reduction)
    f = _torch_loss([3, 4, c], X, T, delta, reduction)
    w = torch.tensor(net.params.copy(), requires_grad=True)
    value_t = f(w)
    (grad_t,) = torch.autograd.grad(value_t, w)
    H_t = torch.autograd.functional.hessian(f, torch.tensor(net.params.copy())).numpy()
    value, grad = bp.loss_and_grad(net, loss, X, T)
    assert value == pytest.approx(value_t.item(), rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(grad, grad_t.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bp.hessian(net, loss, X, T), H_t, rtol=1e-9, atol=1e-11)
    v = rng.normal(size=net.n_params)
    np.testing.assert_allclose(bp.hvp(net, loss, X, T, v), H_t @ v, rtol=1e-9, atol=1e-11)


def test_the_per_output_derivatives_are_the_piecewise_closed_forms():
    loss = Huber(delta=1.0)
    y, d = np.array([[0.5, 3.0, -4.0]]), np.zeros((1, 3))
    assert loss.div(y, d)[0] == pytest.approx(0.125 + 2.5 + 3.5)
    np.testing.assert_array_equal(loss.grad(y, d), [[0.5, 1.0, -1.0]])
    np.testing.assert_array_equal(loss.hvp(y, d, np.ones((1, 1, 3))), [[[1.0, 0.0, 0.0]]])


def test_every_trace_row_equals_the_engine_on_both_branches():
    from test_trace_losses import assert_matches_engine, redo, scale_of
    net = bp.MLP([2, 3, 2], hidden="tanh", output="identity", seed=1)
    x, t = np.array([0.4, -0.7]), np.array([3.0, 0.1])          # one output far from its target, one close
    loss = get_loss("huber", delta=0.5, l2=0.1)
    tr = bp.trace(net, x, t, loss=loss, digits=17)
    assert_matches_engine(tr, net, loss, x, t)
    rows = {s.quantity: s for s in tr.steps}
    assert "delta * (abs(" in rows["E"].symbolic and "1/2 * (" in rows["E"].symbolic
    assert "delta*sign(" in rows["dE/dy(o1)"].symbolic
    for s in tr.steps:
        assert redo(s) == pytest.approx(s.value, rel=1e-12, abs=1e-12 * scale_of(s)), s.quantity


def test_training_with_huber_lowers_the_loss_and_resists_an_outlier():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    T = X @ np.array([[1.0], [-2.0]])
    T[0] = 100.0                                                 # one outlier
    net = bp.MLP([2, 1], output="identity", seed=0)
    before = bp.loss_and_grad(net, "huber", X, T)[0]
    h = bp.train(net, "huber", X, T, optimizer="adam", lr=0.05, epochs=300, batch_size=64, verbose=False, tol=None)
    assert h.records[-1]["loss"] < before
    W = net.params[:2]
    np.testing.assert_allclose(W, [1.0, -2.0], atol=0.1)         # l2 would be pulled off by the outlier


def test_options_round_trip_through_a_saved_model(tmp_path):
    net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    loss = get_loss("huber", delta=0.25, l2=0.01, reduction="sum")
    save(net, tmp_path / "m.npz", metadata={"loss": loss.config()})
    net2, meta, _ = load_bundle(tmp_path / "m.npz")
    again = get_loss(meta["loss"])
    assert isinstance(again, Huber) and again.config() == loss.config() and again.delta == 0.25
    X, T = np.ones((3, 2)), np.zeros((3, 1))
    assert bp.loss_and_grad(net2, again, X, T)[0] == bp.loss_and_grad(net, loss, X, T)[0]


def test_pairing_takes_any_real_output_and_bad_delta_is_refused():
    for out in ("identity", "tanh", "sigmoid", "relu"):
        check_output_loss(bp.MLP([2, 2], output=out), get_loss("huber"))
    assert "huber" in LOSS_NAMES
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(ConfigError, match="huber delta must be a finite number > 0"):
            get_loss("huber", delta=bad)


def test_the_regressor_fits_with_huber():
    pytest.importorskip("sklearn")
    from backprop.sklearn import MLPRegressor
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X[:, 0] - X[:, 1]
    reg = MLPRegressor(hidden_layer_sizes=(), loss="huber", solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.99 and reg.out_activation_ == "identity"
