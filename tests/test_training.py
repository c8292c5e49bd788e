"""Optimisers, schedules, the training loop and its guarantees (stopping, divergence, Ctrl-C, checkpoints)."""
import math
import os
import signal

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize

import backprop as bp
from backprop.errors import ConfigError, DivergenceError
from backprop.training import (GD, SGD, Adam, Constant, Cosine, History, InverseScaling, StepDecay,
                               get_optimizer, get_schedule, run_epoch, train)

QUIET = dict(verbose=False)


# ---- optimisers: the update rules, step by step ------------------------------------------------

def _grads(n=5, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), [rng.normal(size=n) for _ in range(k)]


def test_sgd_is_w_minus_eta_g():
    W, gs = _grads()
    opt, ref = SGD(lr=0.3), W.copy()
    for g in gs:
        opt.step(W, g)
        ref = ref - 0.3 * g
    np.testing.assert_allclose(W, ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_follows_the_notes(nesterov):
    # Delta <- mu Delta + dL/dW ;  W <- W - eta Delta   (Nesterov: W <- W - eta (g + mu Delta))
    W, gs = _grads()
    mu, eta = 0.9, 0.1
    opt, ref, delta = SGD(lr=eta, momentum=mu, nesterov=nesterov), W.copy(), np.zeros_like(W)
    for g in gs:
        opt.step(W, g)
        delta = mu * delta + g
        ref = ref - eta * ((g + mu * delta) if nesterov else delta)
    np.testing.assert_allclose(W, ref, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(opt.delta, delta, rtol=1e-14)


def test_adam_matches_kingma_ba():
    W, gs = _grads()
    b1, b2, eps, eta = 0.9, 0.999, 1e-8, 0.01
    opt, ref, m, v = Adam(lr=eta), W.copy(), 0.0, 0.0
    for t, g in enumerate(gs, start=1):
        opt.step(W, g)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        ref = ref - eta * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(W, ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1, momentum=0.5, weight_decay=0.01),
                                  lambda: Adam(lr=0.1, weight_decay=0.01)])
def test_weight_decay_subtracts_lambda_w_on_masked_entries_only(make):
    W, gs = _grads()
    plain, decayed = make(), make()
    plain.weight_decay = 0.0
    decayed.decay_mask = np.array([True, True, False, False, True])
    W1, W2 = W.copy(), W.copy()
    plain.step(W1, gs[0])
    decayed.step(W2, gs[0])
    # W <- W - eta step - lambda W: the same step, minus lambda W where the mask is set
    np.testing.assert_allclose(W2, W1 - 0.01 * W * decayed.decay_mask, rtol=1e-13, atol=1e-16)


def test_step_is_in_place_and_keeps_float32():
    W = np.ones(4, dtype=np.float32)
    ptr = W.__array_interface__["data"][0]
    for opt in (SGD(lr=0.1, momentum=0.9), Adam(), SGD(lr=0.1, nesterov=True, momentum=0.5)):
        opt.step(W, np.full(4, 0.5, dtype=np.float32))
        assert W.dtype == np.float32 and W.__array_interface__["data"][0] == ptr


def test_state_dict_round_trip_continues_identically():
    W, gs = _grads()
    for make in (lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam(lr=0.01)):
        a = make()
        Wa = W.copy()
        for g in gs[:2]:
            a.step(Wa, g)
        b = make()
        b.load_state_dict(a.state_dict())
        Wb = Wa.copy()
        for g in gs[2:]:
            a.step(Wa, g)
            b.step(Wb, g)
        np.testing.assert_array_equal(Wa, Wb)
        a.reset()
        assert a.t == 0


def test_bad_optimizer_state_changes_nothing():
    opt = SGD(lr=0.1, momentum=0.9)
    W, gs = _grads()
    opt.step(W, gs[0])
    before = opt.state_dict()
    with pytest.raises(ConfigError, match="'adam'"):
        opt.load_state_dict(Adam().state_dict())
    with pytest.raises(ConfigError, match="momentum"):
        opt.load_state_dict({**before, "momentum": 2.0})
    after = opt.state_dict()
    assert after["t"] == before["t"] and after["momentum"] == 0.9
    np.testing.assert_array_equal(after["delta"], before["delta"])


def test_optimizer_errors():
    with pytest.raises(ConfigError, match="lr"):
        SGD(lr=0)
    with pytest.raises(ConfigError, match="momentum"):
        SGD(momentum=1.0)
    with pytest.raises(ConfigError, match="nesterov"):
        SGD(nesterov=True)
    with pytest.raises(ConfigError, match="unknown optimiser 'lbfgs'; known: gd, sgd, .*adam.*rmsprop"):
        get_optimizer("lbfgs")
    with pytest.raises(ConfigError, match="instance"):
        get_optimizer(SGD(), lr=0.1)
    opt = SGD(lr=0.1, momentum=0.5)
    opt.step(np.zeros(3), np.ones(3))
    with pytest.raises(ConfigError, match="reset"):
        opt.step(np.zeros(4), np.ones(4))


def test_get_optimizer_names():
    assert isinstance(get_optimizer("gd"), GD) and get_optimizer("gd").full_batch
    m = get_optimizer("momentum", lr=0.2)
    assert isinstance(m, SGD) and m.momentum == 0.9 and not m.nesterov and m.lr == 0.2
    n = get_optimizer("nesterov", momentum=0.5)
    assert n.nesterov and n.momentum == 0.5
    assert isinstance(get_optimizer("adam"), Adam) and get_optimizer("adam").lr == 0.001
    opt = Adam()
    assert get_optimizer(opt) is opt
    assert get_optimizer("sgd", lr=None).lr == 0.01        # None means "not given"


# ---- schedules ----------------------------------------------------------------------------------

def test_schedules_values():
    assert Constant(0.1)(7, 100) == 0.1
    s = StepDecay(1.0, factor=0.5, every=3)
    assert [s(k, 0) for k in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert InverseScaling(1.0, power=0.5)(3, 0) == pytest.approx(0.5)
    c = Cosine(1.0, epochs=10, lr_min=0.1)
    assert c(0, 0) == 1.0 and c(5, 0) == pytest.approx(0.55) and c(10, 0) == pytest.approx(0.1)
    assert c(20, 0) == pytest.approx(0.1)
    assert get_schedule("cosine", 0.5, epochs=4)(0, 0) == 0.5
    with pytest.raises(ConfigError, match="unknown learning-rate schedule"):
        get_schedule("warmup", 0.1)
    with pytest.raises(ConfigError, match="epochs"):
        get_schedule("cosine", 0.1)


def test_train_follows_a_schedule_per_epoch_and_a_callable_per_step():
    X, y = bp.datasets.xor()
    net = bp.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    h = train(net, "bce", X, y, lr=0.8, schedule="step", batch_size=2, epochs=25, tol=None, **QUIET)
    np.testing.assert_allclose(h["lr"], [0.8 * 0.5 ** (k // 10) for k in range(25)])
    calls = []

    def f(epoch, step):
        calls.append((epoch, step))
        return 0.1 / (1 + step)

    net = bp.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    h = train(net, "bce", X, y, schedule=f, batch_size=1, epochs=3, tol=None, **QUIET)
    steps = sorted({s for _, s in calls})
    assert steps == list(range(13))            # asked before every one of the 12 updates (and after the last)
    np.testing.assert_allclose(h["lr"], [0.1 / (1 + 4 * k) for k in range(3)])


def test_schedule_returning_garbage_is_an_error():
    X, y = bp.datasets.xor()
    net = bp.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    with pytest.raises(ConfigError, match="returned nan at epoch 0"):
        train(net, "bce", X, y, schedule=lambda e, s: float("nan"), epochs=2, **QUIET)


# ---- run_epoch ----------------------------------------------------------------------------------

def _logistic_problem(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def test_run_epoch_full_batch_is_one_gradient_step():
    X, y = _logistic_problem(50)
    net = bp.MLP([5, 3, 1], hidden="tanh", output="sigmoid", seed=1)
    loss = bp.get_loss("bce")
    D = loss.prepare(y, 50, 1, np.float64)
    value, grad = bp.loss_and_grad(net, loss, X, y)
    expect = net.params - 0.5 * grad
    mean = run_epoch(net, loss, X, D, SGD(lr=0.5), None)
    assert mean == pytest.approx(value, rel=1e-15)
    np.testing.assert_allclose(net.params, expect, rtol=1e-14, atol=1e-16)


def test_run_epoch_mini_batches_in_order_and_shuffled():
    X, y = _logistic_problem(50)
    loss = bp.get_loss("bce")
    D = loss.prepare(y, 50, 1, np.float64)
    a = bp.MLP([5, 3, 1], hidden="tanh", output="sigmoid", seed=1)
    b = a.copy()
    sizes = []
    run_epoch(a, loss, X, D, SGD(lr=0.1), 16, on_batch=lambda i, v, obj, g: sizes.append(obj.B))
    assert sizes == [16, 16, 16, 2]
    # the same by hand, batch after batch, each from the current parameters
    for s in range(0, 50, 16):
        _, g = bp.loss_and_grad(b, loss, X[s:s + 16], y[s:s + 16])
        b.params -= 0.1 * g
    np.testing.assert_allclose(a.params, b.params, rtol=1e-13, atol=1e-15)
    # shuffled with a generator: the permutation is the generator's, drawn once
    c = bp.MLP([5, 3, 1], hidden="tanh", output="sigmoid", seed=1)
    d = c.copy()
    run_epoch(c, loss, X, D, SGD(lr=0.1), 16, rng=np.random.default_rng(3))
    perm = np.random.default_rng(3).permutation(50)
    run_epoch(d, loss, X[perm], D[perm], SGD(lr=0.1), 16)
    np.testing.assert_array_equal(c.params, d.params)


def test_run_epoch_on_batch_can_stop_early():
    X, y = _logistic_problem(40)
    loss = bp.get_loss("bce")
    D = loss.prepare(y, 40, 1, np.float64)
    net = bp.MLP([5, 1], output="sigmoid", seed=0)
    opt = SGD(lr=0.1)
    run_epoch(net, loss, X, D, opt, 8, on_batch=lambda i, *_: i == 1)
    assert opt.t == 2


def test_hot_loop_neither_validates_nor_reallocates_parameters(monkeypatch):
    import backprop.engine.objective as objective
    X, y = _logistic_problem(64)
    loss = bp.get_loss("bce")
    D = loss.prepare(y, 64, 1, np.float64)
    net = bp.MLP([5, 4, 1], hidden="tanh", output="sigmoid", seed=0)
    buffer = net.params.__array_interface__["data"][0]

    def no_validation(*args, **kwargs):
        raise AssertionError("check_X called on the hot path")

    monkeypatch.setattr(objective, "check_X", no_validation)
    for opt in (SGD(lr=0.1, momentum=0.9, weight_decay=1e-3), Adam()):
        run_epoch(net, loss, X, D, opt, 8, rng=np.random.default_rng(0))
    assert net.params.__array_interface__["data"][0] == buffer        # updated in place, views still valid
    assert net.views(0)[0].base is not None and np.shares_memory(net.views(0)[0], net.params)


# ---- training reaches the optimum of a convex problem -------------------------------------------

@pytest.fixture(scope="module")
def convex():
    """Logistic regression (a network without hidden layer) with L2: strictly convex; L-BFGS's optimum."""
    X, y = _logistic_problem()
    loss = bp.get_loss("bce", l2=0.01)
    net = bp.MLP([5, 1], output="sigmoid", seed=0)

    def f(p):
        net.params[:] = p
        return bp.loss_and_grad(net, loss, X, y)

    res = minimize(f, np.zeros(net.n_params), jac=True, method="L-BFGS-B",
                   options=dict(gtol=1e-12, ftol=1e-16, maxiter=10000))
    assert res.success
    return X, y, loss, res.fun


@pytest.mark.parametrize("optimizer, options", [
    ("gd", dict(lr=1.0, epochs=300)),
    ("sgd", dict(lr=0.5, batch_size=20, epochs=100, schedule="cosine")),
    ("sgd", dict(lr=0.5, batch_size=20, epochs=300, schedule="invscaling")),
    ("momentum", dict(lr=0.2, batch_size=None, epochs=300)),
    ("momentum", dict(lr=0.1, batch_size=20, epochs=200, schedule="cosine")),
    ("nesterov", dict(lr=0.2, batch_size=None, epochs=300)),
    ("adam", dict(lr=0.05, batch_size=None, epochs=1000)),
    ("adam", dict(lr=0.05, batch_size=20, epochs=200, schedule="cosine")),
])
def test_every_optimizer_reaches_the_lbfgs_optimum(convex, optimizer, options):
    X, y, loss, best = convex
    net = bp.MLP([5, 1], output="sigmoid", seed=0)
    start, _ = bp.loss_and_grad(net, loss, X, y)
    train(net, loss, X, y, optimizer=optimizer, tol=None, **options, **QUIET)
    value, _ = bp.loss_and_grad(net, loss, X, y)
    assert start - best > 0.1
    assert 0 <= value - best + 1e-12 and value - best < 1e-6


def test_weight_decay_of_the_notes_is_l2_with_strength_lambda_over_eta():
    # W <- W - eta g - lambda W has its fixed point where g + (lambda / eta) W = 0 (weights only, not biases)
    X, y = _logistic_problem()
    eta, lam = 0.5, 0.005
    net = bp.MLP([5, 1], output="sigmoid", seed=0)
    train(net, "bce", X, y, optimizer="gd", lr=eta, weight_decay=lam, epochs=2000, tol=None, **QUIET)
    _, g = bp.loss_and_grad(net, bp.get_loss("bce", l2=lam / eta), X, y)
    assert np.abs(g).max() < 1e-9
    assert net.params[-1] != 0


# ---- the targets of the issue ------------------------------------------------------------------

def test_xor_reaches_100_percent_for_most_seeds():
    X, y = bp.datasets.xor()
    solved = 0
    for seed in range(10):
        net = bp.MLP([2, 4, 1], hidden="relu", output="sigmoid", seed=seed)
        train(net, "bce", X, y, optimizer="sgd", lr=0.5, batch_size=4, epochs=1500, seed=seed, tol=None, **QUIET)
        solved += np.array_equal(net.predict(X)[:, 0] > 0.5, y == 1)
    assert solved >= 8


@pytest.fixture(scope="module")
def digits_split():
    X, y = bp.datasets.digits()
    return bp.datasets.train_test_split(X, y, test_size=0.25, seed=0, stratify=True)


def test_digits_64_32_10_reaches_96_percent(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    net = bp.MLP([64, 32, 10], hidden="tanh", output="softmax", seed=0)
    h = train(net, "cross_entropy", X_train, y_train, optimizer="momentum", lr=0.05, momentum=0.9, batch_size=32,
              epochs=30, seed=0, **QUIET)
    assert len(h) == 30 and h.stop_reason == "max_epochs"
    assert np.mean(net.predict(X_test).argmax(axis=1) == y_test) >= 0.96
    assert h["loss"][-1] < 0.1 * h["loss"][0]


def test_two_or_not_two_reaches_99_percent():
    X, y = bp.datasets.digits(binary=True)
    X_train, X_test, y_train, y_test = bp.datasets.train_test_split(X, y, test_size=0.25, seed=0, stratify=True)
    net = bp.MLP([64, 16, 1], hidden="tanh", output="sigmoid", seed=0)
    train(net, "bce", X_train, y_train, optimizer="momentum", lr=0.05, batch_size=32, epochs=30, **QUIET)
    assert np.mean((net.predict(X_test)[:, 0] > 0.5) == y_test) >= 0.99


# ---- reproducibility, stopping, history -----------------------------------------------------------

def _digits_small():
    X, y = bp.datasets.digits()
    return X[:300], y[:300]


def test_same_seed_gives_bitwise_identical_parameters():
    X, y = _digits_small()
    runs = []
    for seed in (5, 5, 6):
        net = bp.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=0)
        h = train(net, "cross_entropy", X, y, optimizer="adam", lr=0.01, epochs=4, seed=seed,
                  validation_fraction=0.2, **QUIET)
        runs.append((net.params.copy(), h["loss"], h["val_loss"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_convergence_stops_when_the_loss_stops_changing():
    X, y = _logistic_problem()
    net = bp.MLP([5, 1], output="sigmoid", seed=0)
    h = train(net, bp.get_loss("bce", l2=0.01), X, y, optimizer="gd", lr=1.0, epochs=5000, tol=1e-9,
              n_iter_no_change=3, **QUIET)
    assert h.stop_reason == "converged" and len(h) < 5000
    assert np.all(np.abs(np.diff(h["loss"][-4:])) < 1e-9)


def test_early_stopping_restores_the_best_parameters():
    X, y = _digits_small()
    Xv, yv = bp.datasets.digits()[0][300:400], bp.datasets.digits()[1][300:400]
    net = bp.MLP([64, 32, 10], hidden="tanh", output="softmax", seed=0)
    # a large rate on few samples overfits: the validation loss turns up, early stopping ends the run
    h = train(net, "cross_entropy", X, y, optimizer="momentum", lr=0.3, epochs=300, n_iter_no_change=5,
              validation_data=(Xv, yv), **QUIET)
    assert h.stop_reason == "early_stopping"
    best = int(np.nanargmin(h["val_loss"]))
    assert h.best_epoch == best + 1 and len(h) == h.best_epoch + 5
    val_now, _ = bp.loss_and_grad(net, "cross_entropy", Xv, yv)
    assert val_now == pytest.approx(h["val_loss"][best], rel=1e-12)
    acc = np.mean(net.predict(Xv).argmax(axis=1) == yv)
    assert h["val_metric"][best] == pytest.approx(acc)


def test_history_columns_and_grad_norms():
    X, y = _digits_small()
    net = bp.MLP([64, 16, 8, 10], hidden="tanh", output="softmax", seed=0)
    h = train(net, "cross_entropy", X, y, epochs=3, batch_size=300, validation_fraction=0.25, **QUIET)
    assert isinstance(h, History) and len(h) == 3 and h.metric == "accuracy"
    assert h.layers == ["layer 1 (dense 64->16)", "layer 2 (dense 16->8)", "layer 3 (dense 8->10)"]
    norms = h["grad_norms"]
    assert norms.shape == (3, 3) and np.all(norms > 0)
    # full batch: one gradient per epoch; its per-layer norms are exactly the recorded ones
    net2 = bp.MLP([64, 16, 8, 10], hidden="tanh", output="softmax", seed=0)
    Xt = X[np.sort(np.random.default_rng(np.random.SeedSequence(0).spawn(2)[0]).permutation(300)[75:])]
    yt = y[np.sort(np.random.default_rng(np.random.SeedSequence(0).spawn(2)[0]).permutation(300)[75:])]
    _, g = bp.loss_and_grad(net2, "cross_entropy", Xt, yt)
    first = [np.linalg.norm(g[net2.offsets[j]:net2.offsets[j + 1]]) for j, _, _ in net2.param_layers()]
    np.testing.assert_allclose(norms[0], first, rtol=1e-10)
    assert np.all(h["time"] > 0) and np.all(np.isfinite(h["val_loss"])) and np.all(h["epoch"] == [1, 2, 3])
    assert np.all((h["val_metric"] >= 0) & (h["val_metric"] <= 1))


def test_history_json_round_trip(tmp_path):
    X, y = _digits_small()
    net = bp.MLP([64, 8, 10], hidden="tanh", output="softmax", seed=0)
    h = train(net, "cross_entropy", X, y, epochs=2, **QUIET)
    h.save(tmp_path / "h.json")
    back = History.load(tmp_path / "h.json")
    assert back.layers == h.layers and back.stop_reason == h.stop_reason and back.metric == h.metric
    for col in ("loss", "lr", "train_metric", "grad_norms", "time"):
        np.testing.assert_array_equal(back[col], h[col])
    assert np.isnan(back["val_loss"]).all()
    with pytest.raises(ValueError, match="not a backprop training history"):
        History.from_dict({"format": "other"})


def test_progress_bar_and_silence(capsys):
    X, y = bp.datasets.xor()
    net = bp.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    train(net, "bce", X, y, epochs=3, verbose=True)
    err = capsys.readouterr().err
    assert "training" in err and "loss=" in err and "3/3" in err
    train(net, "bce", X, y, epochs=3, verbose=False)
    assert capsys.readouterr().err == ""


def test_on_epoch_end_callback_sees_records_and_can_stop():
    X, y = bp.datasets.xor()
    net = bp.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    seen = []
    h = train(net, "bce", X, y, epochs=50,
              on_epoch_end=lambda epoch, rec: seen.append((epoch, rec["loss"])) or epoch == 4, **QUIET)
    assert [e for e, _ in seen] == [1, 2, 3, 4] and h.stop_reason == "callback" and len(h) == 4
    assert seen[-1][1] == h["loss"][-1]


# ---- bad data: rejected before the first update ---------------------------------------------------

@pytest.mark.parametrize("X, T, kwargs, match", [
    (np.array([[np.nan, 0], [0, 1]]), [0, 1], {}, "NaN or inf"),
    (np.zeros((2, 3)), [0, 1], {}, "3 columns"),
    (np.zeros((2, 2)), [0, 2], {}, r"\[0, 1\]"),
    (np.zeros((2, 2)), [0, 1, 1], {}, "shape"),
    (np.zeros((2, 2)), [0, 1], dict(validation_data=(np.full((1, 2), np.inf), [0])), "X_val contains NaN"),
    (np.zeros((2, 2)), [0, 1], dict(validation_data=(np.zeros((1, 2)), [3])), "labels must lie"),
    (np.zeros((2, 2)), [0, 1], dict(epochs=0), "epochs"),
    (np.zeros((2, 2)), [0, 1], dict(batch_size=0), "batch_size"),
    (np.zeros((2, 2)), [0, 1], dict(lr=-0.1), "lr"),
    (np.zeros((2, 2)), [0, 1], dict(tol=-1.0), "tol"),
    (np.zeros((2, 2)), [0, 1], dict(metric="f1"), "unknown metric"),
    (np.zeros((2, 2)), [0, 1], dict(validation_fraction=1.5), "validation_fraction"),
    (np.zeros((2, 2)), [0, 1], dict(optimizer="lbfgs"), "unknown optimiser"),
])
def test_bad_input_is_rejected_before_any_update(X, T, kwargs, match):
    net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    before = net.params.copy()
    calls = []
    with pytest.raises(ValueError, match=match):
        train(net, "cross_entropy", X, T, on_epoch_end=lambda *a: calls.append(a), **{**QUIET, **kwargs})
    np.testing.assert_array_equal(net.params, before)
    assert calls == []


# ---- divergence, Ctrl-C ---------------------------------------------------------------------------

def _regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(64, 3))
    return X, X @ rng.normal(size=(3, 1)) * 100


def test_divergence_guard_names_the_epoch_and_keeps_the_last_finite_parameters():
    X, T = _regression()
    net = bp.MLP([3, 8, 1], hidden="relu", output="identity", seed=0)
    snapshots = {}
    # a sane rate for three epochs, then a huge one: the loss overflows in epoch 4
    with pytest.raises(DivergenceError, match=r"diverged in epoch 4: .*learning rate 1000 .*smaller") as info:
        train(net, "l2", X, T, optimizer="momentum", schedule=lambda e, s: 1e-4 if e < 3 else 1e3, batch_size=8,
              epochs=50, tol=None, on_epoch_end=lambda e, r: snapshots.update({e: net.params.copy()}), **QUIET)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, FloatingPointError)
    assert err.epoch == 4 and len(err.history) == 3 and err.history.stop_reason == "diverged"
    # the parameters are those at the end of epoch 3, the last epoch that finished with a finite loss
    np.testing.assert_array_equal(net.params, snapshots[3])


def test_divergence_in_the_first_epoch_restores_the_initial_parameters():
    X, T = _regression()
    net = bp.MLP([3, 8, 1], hidden="relu", output="identity", seed=0)
    start = net.params.copy()
    with pytest.raises(DivergenceError, match="epoch 1: .*start of training"):
        train(net, "l2", X, T, optimizer="sgd", lr=1e3, batch_size=8, epochs=5, **QUIET)
    np.testing.assert_array_equal(net.params, start)


def test_keyboard_interrupt_from_a_callback_returns_the_history():
    X, y = _digits_small()
    net = bp.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=0)

    def stop(epoch, record):
        if epoch == 3:
            raise KeyboardInterrupt

    h = train(net, "cross_entropy", X, y, epochs=20, on_epoch_end=stop, **QUIET)
    assert h.stop_reason == "interrupted" and h.interrupted and len(h) == 3
    assert np.all(np.isfinite(net.params))


def test_interrupt_with_validation_keeps_the_best_parameters():
    X, y = _digits_small()
    net = bp.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=0)
    snaps = {}

    def stop(epoch, record):
        snaps[epoch] = net.params.copy()
        if epoch == 6:
            raise KeyboardInterrupt

    h = train(net, "cross_entropy", X, y, optimizer="momentum", lr=0.5, epochs=20, on_epoch_end=stop,
              validation_fraction=0.3, early_stopping=False, **QUIET)
    assert h.interrupted and len(h) == 6
    np.testing.assert_array_equal(net.params, snaps[h.best_epoch])
    assert h.best_epoch == int(np.argmin(h["val_loss"])) + 1


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_ends_after_the_current_batch():
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is handled by someone else here")
    X, y = _digits_small()
    net = bp.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=0)
    opt = SGD(lr=0.05)

    def ctrl_c(epoch, record):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    h = train(net, "cross_entropy", X, y, optimizer=opt, batch_size=30, epochs=10, on_epoch_end=ctrl_c, **QUIET)
    assert h.interrupted and len(h) == 2
    assert opt.t == 2 * 10 + 1          # two epochs of 10 batches, then the one batch under way
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---- checkpoints ---------------------------------------------------------------------------------

def test_checkpoint_and_resume_is_bitwise_identical(tmp_path):
    X, y = _digits_small()
    opts = dict(optimizer="momentum", lr=0.1, batch_size=32, seed=3, validation_fraction=0.2,
                early_stopping=False, **QUIET)
    straight = bp.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=0)
    h_straight = train(straight, "cross_entropy", X, y, epochs=6, **opts)

    ck = tmp_path / "run.ckpt"
    first = bp.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=0)
    train(first, "cross_entropy", X, y, epochs=6, checkpoint=ck, checkpoint_every=2,
          on_epoch_end=lambda e, r: e == 4 or None, **opts)           # the run stops after epoch 4
    assert ck.exists()
    resumed = bp.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=99)   # other start: overwritten
    h = train(resumed, "cross_entropy", X, y, epochs=6, checkpoint=ck, resume=True, **opts)
    assert len(h) == 6 and list(h["epoch"]) == [1, 2, 3, 4, 5, 6]
    for col in ("loss", "val_loss", "val_metric", "lr", "grad_norms"):
        np.testing.assert_array_equal(h[col], h_straight[col])
    np.testing.assert_array_equal(resumed.params, straight.params)
    assert h.best_epoch == h_straight.best_epoch


def test_resume_without_checkpoint_starts_fresh_and_bad_checkpoints_are_refused(tmp_path):
    X, y = _digits_small()
    ck = tmp_path / "c.npz"
    net = bp.MLP([64, 8, 10], hidden="tanh", output="softmax", seed=0)
    h = train(net, "cross_entropy", X, y, epochs=2, checkpoint=ck, resume=True, **QUIET)
    assert len(h) == 2 and ck.exists()
    other = bp.MLP([64, 9, 10], hidden="tanh", output="softmax", seed=0)
    before = other.params.copy()
    with pytest.raises(ConfigError, match="another network architecture"):
        train(other, "cross_entropy", X, y, epochs=3, checkpoint=ck, resume=True, **QUIET)
    np.testing.assert_array_equal(other.params, before)
    with pytest.raises(ConfigError, match="300 training samples"):
        train(net.copy(), "cross_entropy", X[:100], y[:100], epochs=3, checkpoint=ck, resume=True, **QUIET)
    with pytest.raises(ConfigError, match="'adam'|'sgd'"):
        train(net.copy(), "cross_entropy", X, y, optimizer="adam", epochs=3, checkpoint=ck, resume=True, **QUIET)
    plain = tmp_path / "plain.npz"
    net.save(plain)
    with pytest.raises(bp.FileFormatError, match="not a training checkpoint"):
        train(net.copy(), "cross_entropy", X, y, epochs=3, checkpoint=plain, resume=True, **QUIET)


# ---- float32 and random architectures -------------------------------------------------------------

def test_float32_training_stays_float32():
    X, y = _digits_small()
    net = bp.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=0, dtype=np.float32)
    h = train(net, "cross_entropy", X, y, optimizer="adam", lr=0.01, epochs=5, **QUIET)
    assert net.params.dtype == np.float32 and h["loss"][-1] < h["loss"][0]


@settings(max_examples=15, deadline=None)
@given(hidden=st.lists(st.integers(1, 6), max_size=2), act=st.sampled_from(["tanh", "sigmoid", "relu", "softplus"]),
       n=st.integers(1, 12), bs=st.one_of(st.none(), st.integers(1, 5)),
       opt=st.sampled_from(["gd", "sgd", "momentum", "nesterov", "adam"]))
def test_any_architecture_trains_without_error(hidden, act, n, bs, opt):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, 3, size=n)
    net = bp.MLP([3, *hidden, 3], hidden=act, output="softmax", seed=0)
    h = train(net, "cross_entropy", X, y, optimizer=opt, lr=0.01, batch_size=bs, epochs=3, **QUIET)
    assert len(h) == 3 and np.all(np.isfinite(h["loss"])) and np.all(np.isfinite(net.params))
    assert h["grad_norms"].shape == (3, len(hidden) + 1)
    assert math.isfinite(h.total_time)


def test_train_is_train_options_prepared_then_fit_bitwise():
    from backprop.training.loop import TrainOptions, fit

    X, y = bp.datasets.moons(n_samples=120, noise=0.2, seed=0)
    a, b = bp.MLP([2, 6, 1], output="sigmoid", seed=3), bp.MLP([2, 6, 1], output="sigmoid", seed=3)
    ha = bp.train(a, "bce", X, y, optimizer="adam", epochs=8, validation_fraction=0.25, verbose=False)
    hb = fit(TrainOptions(optimizer="adam", epochs=8, validation_fraction=0.25, verbose=False).prepare(b, "bce", X, y))
    assert a.params.tobytes() == b.params.tobytes() and ha.to_dict()["records"][0]["loss"] == hb.records[0]["loss"]
    assert ha.best_epoch == hb.best_epoch and ha.stop_reason == hb.stop_reason


@pytest.mark.parametrize("options, match", [
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(tol=-1.0), "tol must be a finite number >= 0"),
    (dict(on_epoch_end=3), "on_epoch_end must be callable"),
    (dict(resume=True), "need a checkpoint file"),
    (dict(validation_data=([[0.0, 0.0]], [0]), validation_fraction=0.5), "not both"),
])
def test_train_options_are_checked_in_prepare_before_anything_changes(options, match):
    from backprop.training.loop import TrainOptions

    net = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match=match):
        TrainOptions(**options).prepare(net, "bce", [[0.0, 0.0], [1.0, 1.0]], [0, 1])
    assert np.array_equal(net.params, before)


def test_the_divergence_warning_points_at_the_caller_of_train():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    T = np.tanh(X @ rng.normal(size=(3, 1)))
    net = bp.MLP([3, 8, 1], hidden="tanh", output="identity", seed=0)
    with pytest.warns(bp.DivergenceWarning) as caught:
        bp.train(net, "l2", X, T, lr=100, epochs=20, tol=None, verbose=False)
    assert caught[0].filename == __file__


def test_sample_weight_counts_a_sample_as_often_as_its_weight():
    X, y = bp.datasets.moons(n_samples=60, noise=0.2, seed=1)
    w = np.where(np.arange(60) % 3 == 0, 2.0, 1.0)
    twice = np.flatnonzero(w == 2.0)
    a, b = bp.MLP([2, 5, 1], output="sigmoid", seed=0), bp.MLP([2, 5, 1], output="sigmoid", seed=0)
    ha = bp.train(a, "bce", X, y, optimizer="gd", lr=0.5, epochs=20, tol=None, verbose=False, sample_weight=w)
    hb = bp.train(b, "bce", np.vstack([X, X[twice]]), np.concatenate([y, y[twice]]), optimizer="gd", lr=0.5,
                  epochs=20, tol=None, verbose=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
    assert ha.start_loss == pytest.approx(hb.start_loss, rel=1e-12)
    assert [r["loss"] for r in ha.records] == pytest.approx([r["loss"] for r in hb.records], rel=1e-10)


def test_sample_weight_zero_leaves_a_sample_out_and_bad_weights_are_refused():
    X, y = bp.datasets.moons(n_samples=40, noise=0.2, seed=2)
    w = np.ones(40)
    w[:10] = 0.0
    a, b = bp.MLP([2, 4, 1], output="sigmoid", seed=0), bp.MLP([2, 4, 1], output="sigmoid", seed=0)
    bp.train(a, "bce", X, y, optimizer="gd", lr=0.3, epochs=10, tol=None, verbose=False, sample_weight=w)
    bp.train(b, "bce", X[10:], y[10:], optimizer="gd", lr=0.3, epochs=10, tol=None, verbose=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
    net = bp.MLP([2, 4, 1], output="sigmoid", seed=0)
    before = net.params.copy()
    for bad in (np.ones(39), -w, np.zeros(40), np.full(40, np.nan)):
        with pytest.raises(ValueError, match="sample_weight"):
            bp.train(net, "bce", X, y, epochs=2, verbose=False, sample_weight=bad)
    assert np.array_equal(net.params, before)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=12, max_size=12).filter(any), st.integers(1, 12))
def test_integer_weights_in_mini_batches_are_a_weighted_mean_of_batch_losses(weights, batch_size):
    """Property: without shuffling, the epoch loss is the weighted mean of the samples' losses at the
    parameters each batch saw (so all ones gives the unweighted run exactly)."""
    X, y = bp.datasets.moons(n_samples=12, noise=0.2, seed=3)
    w = np.asarray(weights, dtype=float)
    a, b = bp.MLP([2, 3, 1], output="sigmoid", seed=0), bp.MLP([2, 3, 1], output="sigmoid", seed=0)
    ha = bp.train(a, "bce", X, y, optimizer="sgd", batch_size=batch_size, epochs=3, shuffle=False, tol=None,
                  verbose=False, sample_weight=np.ones(12))
    hb = bp.train(b, "bce", X, y, optimizer="sgd", batch_size=batch_size, epochs=3, shuffle=False, tol=None,
                  verbose=False)
    assert a.params.tobytes() == b.params.tobytes() and ha.records[-1]["loss"] == pytest.approx(hb.records[-1]["loss"])
    c = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
    hc = bp.train(c, "bce", X, y, optimizer="sgd", batch_size=batch_size, epochs=1, shuffle=False, tol=None,
                  verbose=False, sample_weight=w)
    assert np.isfinite(hc.records[0]["loss"]) and np.all(np.isfinite(c.params))


def test_history_as_keras_dict_and_as_pandas():
    X, y = bp.datasets.moons(n_samples=60, noise=0.2, seed=1)
    net = bp.MLP([2, 4, 1], output="sigmoid", seed=0)
    h = bp.train(net, "bce", X, y, optimizer="adam", epochs=4, validation_fraction=0.25, verbose=False)
    keras = h.history
    assert list(keras) == ["loss", "val_loss", "accuracy", "val_accuracy", "lr"]
    assert keras["loss"] == [r["loss"] for r in h.records] and len(keras["val_accuracy"]) == 4
    frame = h.to_pandas()
    assert list(frame.index) == [1, 2, 3, 4] and frame.index.name == "epoch"
    assert frame["val_loss"].tolist() == keras["val_loss"]
    assert [c for c in frame.columns if c.startswith("grad_norm[")] == [f"grad_norm[{n}]" for n in h.layers]
    np.testing.assert_array_equal(frame[f"grad_norm[{h.layers[0]}]"].to_numpy(), h["grad_norms"][:, 0])


# ---- class labels of any type: bp.train takes class indices, encode_labels makes them ------------

_LABELS = {"text": np.array(["setosa", "virginica", "versicolor"]), "ints": np.array([5, 7, 11]),
           "bools": np.array([False, True])}


@pytest.mark.parametrize("kind", sorted(_LABELS))
@pytest.mark.parametrize("loss", ["cross_entropy", "bce"])
def test_train_takes_labels_of_any_type_through_encode_labels_and_refuses_them_raw(kind, loss):
    """Raw text or arbitrary whole numbers are refused (naming encode_labels, the network unchanged);
    booleans are 0/1 already; encoded, they train, and ``classes[prediction]`` gives labels back that
    agree with MLPClassifier's ``classes_``."""
    pool = _LABELS[kind][:2] if loss == "bce" else _LABELS[kind]
    rng = np.random.default_rng(0)
    k = np.arange(60) % len(pool)
    X = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])[k] + rng.normal(scale=0.5, size=(60, 2))
    y = pool[k]
    c = 1 if loss == "bce" else len(pool)
    net = bp.MLP([2, 8, c], output="sigmoid" if loss == "bce" else "softmax", seed=0)
    before = net.params.copy()
    if kind != "bools":
        with pytest.raises(bp.InputError, match=r"bp\.datasets\.encode_labels") as e:
            train(net, loss, X, y, epochs=2, **QUIET)
        assert "bp.sklearn.MLPClassifier" in str(e.value)
        np.testing.assert_array_equal(net.params, before)
    idx, classes = bp.datasets.encode_labels(y)
    assert classes.tolist() == sorted(pool.tolist()) and np.array_equal(classes[idx], y)
    train(net, loss, X, idx, optimizer="adam", lr=0.05, epochs=60, batch_size=20, **QUIET)
    P = net.predict(X)
    predicted = classes[(P[:, 0] > 0.5).astype(int) if c == 1 else P.argmax(axis=1)]
    assert np.mean(predicted == y) > 0.9
    from backprop.sklearn import MLPClassifier
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=200, learning_rate_init=0.05, random_state=0).fit(X, y)
    assert est.classes_.tolist() == classes.tolist()


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.lists(st.text(max_size=3), min_size=1, max_size=20),
                 st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=20),
                 st.lists(st.booleans(), min_size=1, max_size=20)))
def test_encode_labels_round_trips_any_labels_and_refuses_unknown_ones(labels):
    """For every list of labels of one type: the classes are sorted and distinct, the indices in
    [0, K), ``classes[indices]`` the labels; a label outside given classes is refused."""
    idx, classes = bp.datasets.encode_labels(labels)
    assert classes.tolist() == sorted(set(labels)) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < len(classes) and classes[idx].tolist() == list(labels)
    again, _ = bp.datasets.encode_labels(list(reversed(labels)), classes=classes[::-1])
    assert again.tolist() == idx[::-1].tolist()
    if len(classes) > 1:
        with pytest.raises(bp.InputError, match="is not one of the classes"):
            bp.datasets.encode_labels(labels, classes=classes[1:])


def test_encode_labels_keeps_text_labels_exactly_as_given():
    """numpy's fixed-width strings would drop trailing NULs and merge 'a' with 'a\\x00'."""
    idx, classes = bp.datasets.encode_labels(["a\x00", "a", "\x00"])
    assert classes.tolist() == ["\x00", "a", "a\x00"] and idx.tolist() == [2, 1, 0]
