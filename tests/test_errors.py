"""Bad input is rejected with a ValueError that names the problem, and leaves the network untouched."""
import numpy as np
import pytest

import backprop as bp

NET = dict(sizes=[3, 4, 2], hidden="tanh", output="softmax", seed=0)


@pytest.fixture
def net():
    return bp.MLP(**NET)


GOOD_X = np.zeros((2, 3))


@pytest.mark.parametrize("X, T, match", [
    (np.array([[np.nan, 0, 0], [0, 0, 0]]), [0, 1], "NaN or inf"),
    (np.array([[np.inf, 0, 0], [0, 0, 0]]), [0, 1], "NaN or inf"),
    (np.zeros((2, 4)), [0, 1], "4 columns; the network expects 3"),
    (np.zeros((0, 3)), [], "empty batch"),
    (np.zeros(3), [0], "2-D"),
    (np.array([["a", "b", "c"]]), [0], "numbers"),
    (GOOD_X, [0, 2], r"labels must lie in \[0, 1\]"),
    (GOOD_X, [0, -1], r"labels must lie in \[0, 1\]"),
    (GOOD_X, [0, 1, 1], r"shape \(2,\) or \(2, 2\)"),
    (GOOD_X, np.zeros((2, 3)), r"shape \(2, 2\)"),
    (GOOD_X, [0.5, 1], "whole numbers"),
    (GOOD_X, [0, np.nan], "whole numbers"),
    (GOOD_X, np.array(["x", "y"]), "numeric"),
])
def test_bad_data_raises_value_error_and_leaves_params(net, X, T, match):
    before = net.params.copy()
    with pytest.raises(ValueError, match=match):
        bp.loss_and_grad(net, "cross_entropy", X, T)
    np.testing.assert_array_equal(net.params, before)


def test_bad_targets_for_other_losses(net):
    with pytest.raises(ValueError, match="NaN or inf"):
        bp.loss_and_grad(net, "l2", GOOD_X, np.array([[0, np.inf], [0, 0]]))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        bp.loss_and_grad(net, "bce", GOOD_X, np.array([[0, 2], [0, 0]]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(sizes=[3, 0, 2]), "integer >= 1"),
    (dict(sizes=[3]), "at least"),
    (dict(sizes=[3, 2.5, 2]), "integer >= 1"),
    (dict(sizes=[3, 4, 2], hidden="swish"), "unknown activation 'swish'"),
    (dict(sizes=[3, 4, 2], output="softmin"), "unknown activation 'softmin'"),
    (dict(sizes=[3, 4, 4, 2], hidden=["tanh"]), "1 activations for 2 hidden layers"),
    (dict(sizes=[3, 2], dtype=np.int32), "float32 or float64"),
])
def test_bad_network_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bp.MLP(**kwargs)


def test_unknown_loss_and_bad_options(net):
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        bp.loss_and_grad(net, "hinge", GOOD_X, [0, 1])
    with pytest.raises(ValueError, match="l2 regularisation"):
        bp.get_loss("l2", l2=-1)
    with pytest.raises(ValueError, match="bad option"):
        bp.get_loss("l2", label_smoothing=0.1)
    with pytest.raises(ValueError, match="slope"):
        bp.leaky_relu(-1)


def test_params_assignment_is_checked(net):
    before = net.params.copy()
    with pytest.raises(ValueError, match=r"shape \(26,\)"):
        net.params = np.zeros(5)
    with pytest.raises(ValueError, match="finite"):
        net.params = np.full(26, np.nan)
    np.testing.assert_array_equal(net.params, before)


def test_predict_validates(net):
    with pytest.raises(ValueError, match="3 input features"):
        net.predict(np.zeros((1, 5)))
    assert net.predict([[0, 0, 0]]).shape == (1, 2)


def test_graph_rules():
    with pytest.raises(ValueError, match="may only read earlier nodes"):
        bp.Network(2, [bp.Dense(2, 2)], inputs=[(1,)])
    with pytest.raises(ValueError, match="expects input 0 of width 3"):
        bp.Network(2, [bp.Dense(3, 2)])


def test_huge_but_finite_inputs_are_accepted_without_warnings(net):
    X = np.array([[1e300, -1e300, 1.0], [0.0, 1e200, 2.0]])
    v, g = bp.loss_and_grad(bp.MLP([3, 2], output="softmax", seed=0), "cross_entropy", X, [0, 1])
    assert np.isfinite(v) and np.isfinite(g).all()


def test_allocator_tuning_is_applied_and_can_be_turned_off():
    import os
    import subprocess
    import sys
    code = "import backprop; print(backprop.tune_allocator())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip()
    off = subprocess.run([sys.executable, "-c", code], env={**env, "BACKPROP_MALLOC_TUNING": "0"},
                         capture_output=True, text=True).stdout.strip()
    assert off == "False"
    assert on == ("True" if sys.platform.startswith("linux") else "False")
