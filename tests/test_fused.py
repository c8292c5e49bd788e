"""The fused SGD updates (training/fused.py) compute NumPy's numbers bitwise, and run only where they qualify."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import backprop as bp
from backprop.training import fused

numba = pytest.importorskip("numba")


@pytest.fixture
def fuse_all(monkeypatch):
    """Fused loops for vectors of every size (the size threshold is about speed, not about results)."""
    monkeypatch.setattr(fused, "MIN_SIZE", 0)
    monkeypatch.delenv("BACKPROP_FUSED", raising=False)


def _steps(opt, W, grads, monkeypatch, fused_on):
    monkeypatch.setenv("BACKPROP_FUSED", "1" if fused_on else "0")
    W = W.copy()
    for g in grads:
        opt.step(W, g)
    return W, (None if not opt.momentum else opt.delta.copy())


# the fixtures only set MIN_SIZE and the environment, the same for every example
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 300), dtype=st.sampled_from([np.float32, np.float64]),
       lr=st.floats(1e-4, 2.0), momentum=st.sampled_from([0.0, 0.5, 0.9, 0.99]), nesterov=st.booleans(),
       decay=st.sampled_from([0.0, 0.01]), seed=st.integers(0, 2**31 - 1))
def test_fused_sgd_equals_numpy_bitwise(n, dtype, lr, momentum, nesterov, decay, seed, fuse_all, monkeypatch):
    nesterov = nesterov and momentum > 0
    rng = np.random.default_rng(seed)
    W = rng.normal(size=n).astype(dtype)
    grads = [rng.normal(size=n).astype(dtype) * 10.0 ** rng.integers(-3, 3) for _ in range(4)]
    mask = rng.random(n) < 0.7
    results = []
    for fused_on in (False, True):
        opt = bp.SGD(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=decay)
        opt.decay_mask = mask
        results.append(_steps(opt, W, grads, monkeypatch, fused_on))
    (W0, d0), (W1, d1) = results
    assert W1.dtype == W0.dtype and np.array_equal(W0, W1)
    assert d0 is None and d1 is None or np.array_equal(d0, d1)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_a_training_run_is_bitwise_the_same_with_and_without_the_fused_update(momentum, nesterov, monkeypatch):
    """A network above MIN_SIZE: bp.train's parameters and losses do not depend on numba."""
    rng = np.random.default_rng(0)
    X = rng.random((96, 300)).astype(np.float32)
    y = rng.integers(0, 10, 96)
    calls = []
    real = fused.sgd_update
    monkeypatch.setattr(fused, "sgd_update", lambda *a: calls.append(real(*a)) or calls[-1])
    runs = []
    for flag in ("0", "1"):
        monkeypatch.setenv("BACKPROP_FUSED", flag)
        net = bp.MLP([300, 256, 10], hidden="relu", output="softmax", seed=0, dtype=np.float32)
        assert net.n_params >= fused.MIN_SIZE
        opt = bp.SGD(lr=0.05, momentum=momentum, nesterov=nesterov)
        hist = bp.train(net, "cross_entropy", X, y, opt, batch_size=16, epochs=2, seed=1, verbose=False)
        runs.append((net.params.copy(), [r["loss"] for r in hist.records], hist.end_loss))
    assert True in calls and False in calls, "the fused loop ran with BACKPROP_FUSED=1 only"
    assert np.array_equal(runs[0][0], runs[1][0])
    assert runs[0][1:] == runs[1][1:]


@pytest.mark.parametrize("case", ["small", "float16", "strided", "mixed dtypes", "read-only", "disabled"])
def test_an_update_that_does_not_qualify_is_left_to_numpy_untouched(case, monkeypatch):
    n = fused.MIN_SIZE
    dtype = np.float16 if case == "float16" else np.float64
    W, g, d = (np.ones(2 * n if case == "strided" else n, dtype=dtype) for _ in range(3))
    if case == "small":
        W, g, d = W[:10], g[:10], d[:10]
    if case == "strided":
        W, g, d = W[::2], g[::2], d[::2]
    if case == "mixed dtypes":
        g = g.astype(np.float32)
    if case == "read-only":
        W.flags.writeable = False
    if case == "disabled":
        monkeypatch.setenv("BACKPROP_FUSED", "0")
    before = (W.copy(), d.copy())
    assert fused.sgd_update(W, g, d, 0.1, 0.9, False) is False
    assert np.array_equal(W, before[0]) and np.array_equal(d, before[1])


def test_a_large_update_is_fused_when_numba_is_there(monkeypatch):
    monkeypatch.delenv("BACKPROP_FUSED", raising=False)
    n = fused.MIN_SIZE
    W, g, d = np.ones(n), np.full(n, 2.0), np.zeros(n)
    assert fused.available()
    assert fused.sgd_update(W, g, d, 0.5, 0.9, False) is True
    assert np.all(d == 2.0) and np.all(W == 0.0)          # Delta = 0.9 * 0 + 2, W = 1 - 0.5 * 2


def test_a_numba_that_cannot_load_leaves_the_update_to_numpy_with_a_warning(monkeypatch):
    """An installed numba that fails to import (say, built for another NumPy): one warning, the same numbers."""
    monkeypatch.delenv("BACKPROP_FUSED", raising=False)
    monkeypatch.setattr(fused, "_KERNELS", None)
    monkeypatch.setattr(fused, "_AVAILABLE", True)

    def broken(*args, **kwargs):
        raise ImportError("Numba needs NumPy 2.3 or less")
    monkeypatch.setattr(fused, "require", broken)
    n = fused.MIN_SIZE
    W, g = np.ones(n), np.full(n, 2.0)
    opt = bp.SGD(lr=0.5, momentum=0.9)
    with pytest.warns(RuntimeWarning, match="NumPy passes instead"):
        opt.step(W, g)
    assert np.all(W == 0.0) and np.all(opt.delta == 2.0)
    assert fused.available() is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step(W, g)                              # no second warning: NumPy from now on
    assert np.all(opt.delta == 0.9 * 2.0 + 2.0)
