"""Dropout and the randomized leaky ReLU against PyTorch, finite differences and their own rules.

In evaluation mode they equal torch's modules in eval mode. In training mode torch draws its own
random numbers, so the comparison injects backprop's mask (dropout) and slopes (rrelu) into the same
function written in torch, and compares torch's autograd gradient, input Jacobian, Hessian and HVP with
backprop's.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.ops.dense import Dense
from backprop.ops.dropout import Dropout
from backprop.ops.rrelu import RReLU
from helpers import numeric_jacobian

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(7, 3))
LABELS = np.array([0, 1, 2, 1, 0, 2, 2])


def mlp(**kw):
    return bp.MLP([3, 6, 5, 3], hidden=kw.pop("hidden", "rrelu"), output="softmax", dropout=kw.pop("dropout", 0.4),
                  seed=kw.pop("seed", 1), **kw)


# ---- evaluation mode: torch's modules -----------------------------------------------------------------

@pytest.mark.parametrize("hidden", ["rrelu", {"name": "rrelu", "lower": 0.05, "upper": 0.5}, "tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_evaluation_outputs_equal_torchs_modules_in_eval_mode(hidden, dtype):
    net = mlp(hidden=hidden, dtype=dtype)
    module = bp.to_torch(net).eval()
    x = X.astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), net.predict(x), rtol=tol, atol=tol)
    for op, m in ((RReLU(3, 0.1, 0.3), torch.nn.RReLU(0.1, 0.3)), (Dropout(3, 0.7), torch.nn.Dropout(0.7)),
                  (RReLU(3), torch.nn.RReLU())):
        with torch.no_grad():
            np.testing.assert_allclose(op.forward([x], None)[0], m.eval()(torch.from_numpy(x)).numpy(), rtol=tol,
                                       atol=0)


def test_the_torch_modules_carry_the_options_both_ways():
    net = mlp(hidden={"name": "rrelu", "lower": 0.05, "upper": 0.5}, dropout=0.25)
    module = bp.to_torch(net)
    assert isinstance(module[1], torch.nn.RReLU) and (module[1].lower, module[1].upper) == (0.05, 0.5)
    assert isinstance(module[2], torch.nn.Dropout) and module[2].p == 0.25
    back = bp.from_torch(module)
    assert [op.config()["op"] for op in back.ops] == [op.config()["op"] for op in net.ops]
    assert (back.ops[1].lower, back.ops[1].upper, back.ops[2].p) == (0.05, 0.5, 0.25)


# ---- training mode: torch's autograd on the same masked function -------------------------------------

def torch_function(net, X):
    """loss(w) and output(X; w) in torch, with backprop's draws of the current step injected."""
    B = X.shape[0]
    draws, width = {}, net.n_inputs
    for j, op in enumerate(net.ops):
        if isinstance(op, Dropout):
            s = op.scale((B, width), net.dtype)
            draws[j] = None if s is None else torch.from_numpy(s)
        elif isinstance(op, RReLU):
            draws[j] = torch.from_numpy(np.broadcast_to(op.slopes((B, width), net.dtype), (B, width)).copy())
        width = op.size

    def logits(w, x):
        for j, op in enumerate(net.ops):
            if isinstance(op, Dense):
                a, b = int(net.offsets[j]), int(net.offsets[j + 1])
                W, bias = w[a:a + op.size * op.n_in].reshape(op.size, op.n_in), w[a + op.size * op.n_in:b]
                x = x @ W.T + bias
            elif isinstance(op, RReLU):
                x = torch.where(x >= 0, x, draws[j] * x)
            elif isinstance(op, Dropout):
                x = x if draws[j] is None else x * draws[j]
            elif op.describe() == "tanh":
                x = torch.tanh(x)
            else:
                assert j == len(net.ops) - 1 and op.describe() == "softmax", op.describe()
        return x                                # the last op, softmax, is fused into the loss below

    labels = torch.from_numpy(LABELS[:B])

    def loss(w):
        return torch.nn.functional.cross_entropy(logits(w, torch.from_numpy(X)), labels)

    def output(x):
        return torch.softmax(logits(torch.from_numpy(net.params.copy()), x), dim=-1)
    return loss, output


@pytest.mark.parametrize("step", [0, 3])
@pytest.mark.parametrize("hidden", ["rrelu", "tanh"])
def test_training_mode_derivatives_equal_torch_autograd_with_the_same_masks(step, hidden):
    net = mlp(hidden=hidden).train()
    net.step = step
    loss, output = torch_function(net, X)
    w = torch.from_numpy(net.params.copy()).requires_grad_(True)
    value = loss(w)
    (g,) = torch.autograd.grad(value, w)
    v, grad = bp.loss_and_grad(net, "cross_entropy", X, LABELS)
    assert v == pytest.approx(value.item(), rel=1e-12)
    np.testing.assert_allclose(grad, g.numpy(), rtol=1e-10, atol=1e-13)
    H_torch = torch.autograd.functional.hessian(loss, torch.from_numpy(net.params.copy())).numpy()
    H = bp.hessian(net, "cross_entropy", X, LABELS)
    np.testing.assert_allclose(H, H_torch, rtol=1e-9, atol=1e-12)
    V = np.random.default_rng(2).normal(size=(net.n_params, 2))
    np.testing.assert_allclose(bp.hvp(net, "cross_entropy", X, LABELS, V), H_torch @ V, rtol=1e-9, atol=1e-12)
    J_torch = torch.autograd.functional.jacobian(output, torch.from_numpy(X)).numpy()       # (B, c, B, d)
    J = bp.jacobian(net, X)
    np.testing.assert_allclose(J, np.einsum("nknd->nkd", J_torch), rtol=1e-10, atol=1e-13)
    # and the training-mode function really is another function than the evaluation-mode one
    assert not np.allclose(grad, bp.loss_and_grad(net.copy().eval(), "cross_entropy", X, LABELS)[1])


def test_training_mode_derivatives_pass_the_finite_difference_checks():
    net = mlp().train()
    net.step = 11
    assert bp.check_gradient(net, "cross_entropy", X, LABELS).passed
    assert bp.check_hessian(net, "cross_entropy", X, LABELS).passed
    assert bp.check_jacobian(net, X).passed
    J = bp.jacobian(net, X, wrt="params")                # per-sample, with the masks of the whole batch
    f = lambda w: (setattr(net, "params", w), net.forward_values(X)[0][-1])[1]       # noqa: E731
    w0 = net.params.copy()
    Jfd = numeric_jacobian(f, w0).reshape(X.shape[0], 3, -1)
    net.params = w0
    np.testing.assert_allclose(J, Jfd, rtol=1e-6, atol=1e-8)


# ---- the draws -------------------------------------------------------------------------------------

def test_dropout_zeroes_a_fraction_p_and_scales_the_rest_by_one_over_one_minus_p():
    for p in (0.1, 0.5, 0.8):
        op = Dropout(1000, p=p, seed=3)
        op.training = True
        x = np.ones((40, 1000))
        y = op.forward([x], None)[0]
        values = np.unique(y)
        np.testing.assert_allclose(values, [0.0, 1 / (1 - p)], rtol=1e-15)
        zero = float((y == 0).mean())
        assert abs(zero - p) < 5 * np.sqrt(p * (1 - p) / y.size)
        assert abs(y.mean() - 1) < 5 * np.sqrt(p / (1 - p) / y.size)       # inverted: E[y] = x
    op = Dropout(5, p=0.0)
    op.training = True
    x = RNG.normal(size=(3, 5))
    assert op.forward([x], None)[0] is x


def test_rrelu_slopes_are_uniform_in_their_range_and_their_mean_at_inference():
    op = RReLU(500, lower=0.1, upper=0.4, seed=2)
    op.training = True
    x = -np.ones((40, 500))
    a = -op.forward([x], None)[0]
    assert a.min() >= 0.1 and a.max() <= 0.4
    assert abs(a.mean() - 0.25) < 5 * 0.3 / np.sqrt(12 * a.size)
    assert abs(a.var() - 0.3 ** 2 / 12) < 0.1 * 0.3 ** 2 / 12
    pos = op.forward([np.ones((2, 500))], None)[0]
    assert (pos == 1).all()                                                   # y = x above zero
    op.training = False
    np.testing.assert_array_equal(op.forward([x], None)[0], -0.25 * np.ones_like(x))


@pytest.mark.parametrize("make", [lambda seed: Dropout(6, 0.5, seed=seed), lambda seed: RReLU(6, seed=seed)])
def test_the_draw_is_a_function_of_seed_step_and_batch_shape(make):
    x = -np.abs(RNG.normal(size=(5, 6))) - 0.1

    def y(seed=0, step=0, rows=5, training=True):
        op = make(seed)
        op.training, op.step = training, step
        return op.forward([x[:rows]], None)[0]
    np.testing.assert_array_equal(y(), y())                   # repeated calls at one point: one mask
    assert not np.array_equal(y(), y(step=1))                 # the next update draws afresh
    assert not np.array_equal(y(), y(seed=1))
    assert not np.array_equal(y()[:4], y(rows=4))            # the batch shape is part of the draw
    np.testing.assert_array_equal(y(training=False), y(training=False, step=5, seed=3))


def test_the_network_step_drives_the_draws_and_train_advances_it_once_per_update():
    net = mlp().train()
    a = bp.loss_and_grad(net, "cross_entropy", X, LABELS)[1]
    assert np.array_equal(a, bp.loss_and_grad(net, "cross_entropy", X, LABELS)[1])
    net.step = 1
    assert not np.array_equal(a, bp.loss_and_grad(net, "cross_entropy", X, LABELS)[1])
    net.step = 0
    net.eval()
    bp.train(net, "cross_entropy", X, LABELS, batch_size=3, epochs=2, verbose=False, tol=None)
    assert net.step == 2 * 3 and not net.training


def test_the_same_seed_gives_the_same_training_run_bitwise():
    def run(seed, dropout=0.4):
        net = mlp(seed=seed, dropout=dropout)
        hist = bp.train(net, "cross_entropy", X, LABELS, optimizer="adam", lr=0.05, batch_size=2, epochs=5,
                        verbose=False, seed=seed, tol=None)
        return net.params.tobytes(), [r["loss"] for r in hist.records]
    assert run(0) == run(0)
    assert run(0) != run(1)
    assert run(0)[0] != run(0, dropout=0.0)[0]


# ---- property: random chains with these ops, in both modes ------------------------------------------

@st.composite
def chains(draw):
    """A chain Dense -> (rrelu | dropout | tanh)* -> ... -> Dense, its mode, step and data."""
    d = draw(st.integers(1, 3))
    layers, width = [], d
    for _ in range(draw(st.integers(1, 3))):
        width = draw(st.integers(1, 4))
        layers.append(width)
        for kind in draw(st.lists(st.sampled_from(["rrelu", "dropout", "tanh"]), max_size=2)):
            seed = draw(st.integers(0, 2 ** 16))
            if kind == "rrelu":
                lo = draw(st.floats(0.0, 0.5))
                layers.append(RReLU(width, lower=lo, upper=lo + draw(st.floats(0.0, 0.5)), seed=seed))
            elif kind == "dropout":
                layers.append(Dropout(width, p=draw(st.sampled_from([0.0, 0.3, 0.6])), seed=seed))
            else:
                layers.append("tanh")
    layers.append(2)
    net = bp.Sequential(d, layers, seed=draw(st.integers(0, 100)))
    net.train(draw(st.booleans()))
    net.step = draw(st.integers(0, 50))
    B = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    X = rng.normal(size=(B, d))
    T = rng.normal(size=(B, 2))
    return net, X, T


def _away_from_kinks(net, X):
    """The smallest |input| of any rrelu: central differences need the kink farther than their step."""
    values, _ = net.forward_values(X)
    mins = [np.abs(values[j]).min() for j, op in enumerate(net.ops) if isinstance(op, RReLU)]
    return min(mins, default=np.inf)


@settings(max_examples=30, deadline=None)
@given(case=chains())
def test_random_chains_gradient_and_hessian_match_finite_differences(case):
    net, X, T = case
    if _away_from_kinks(net, X) < 1e-3:
        return
    w0 = net.params.copy()

    def E(w):
        net.params = w
        return np.array([bp.loss_and_grad(net, "l2", X, T)[0]])

    def grad(w):
        net.params = w
        return bp.loss_and_grad(net, "l2", X, T)[1]
    g_fd = numeric_jacobian(E, w0)[0]
    H_fd = numeric_jacobian(grad, w0)
    net.params = w0
    np.testing.assert_allclose(grad(w0), g_fd, rtol=1e-6, atol=1e-8)
    H = bp.hessian(net, "l2", X, T)
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-7)
    v = np.linspace(-1, 1, net.n_params)
    np.testing.assert_allclose(bp.hvp(net, "l2", X, T, v), H @ v, rtol=1e-8, atol=1e-10)
