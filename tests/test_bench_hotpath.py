"""The hot-path benchmark's own checks: its NumPy reference loop computes what backprop computes.

Only the correctness checks run here (no timing): tiny networks, NumPy and backprop only.
"""
import pathlib
import sys

import numpy as np
import pytest

BENCH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))
import bench_hotpath as bench  # noqa: E402  (a script folder, not a package)

SIZES = [6, 5, 4, 3]


@pytest.mark.parametrize("hidden", ["relu", "tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_reference_gradient_matches_backprop(hidden, dtype):
    diffs = bench.check_gradient(SIZES, hidden, dtype, batch=7)
    assert set(diffs) == {"numpy"}


@pytest.mark.parametrize("hidden", ["relu", "tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_reference_epochs_match_bp_train(hidden, dtype):
    # 50 samples in batches of 8: the last batch is partial, and two epochs see two shuffles
    diffs = bench.check_epoch(SIZES, hidden, dtype, n=50, batch=8, epochs=2)
    assert set(diffs) == {"numpy"}


def test_check_refuses_a_wrong_gradient():
    import backprop as bp
    rng = np.random.default_rng(0)
    net = bp.MLP(SIZES, hidden="tanh", output="softmax", seed=0)
    X, y = rng.normal(size=(7, SIZES[0])), rng.integers(0, SIZES[-1], size=7)
    _, g = bp.loss_and_grad(net, "cross_entropy", X, y)
    ref = bench.NumpyMLP(SIZES, "tanh", net.params, 7)
    _, g_np = ref.loss_and_grad(X, y)
    bench.assert_close("gradient", g, g_np, np.float64)
    g_np[3] += 1e-8
    with pytest.raises(AssertionError, match="gradient"):
        bench.assert_close("gradient", g, g_np, np.float64)


def test_rows_option_refuses_unknown_rows():
    assert bench.parse_rows("train,fit") == ["train", "fit"]
    with pytest.raises(Exception, match="subset"):
        bench.parse_rows("train,bogus")
