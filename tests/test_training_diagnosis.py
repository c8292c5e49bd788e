"""Diagnoses: output/loss pairings that cannot work are refused before training, with what to use;
a run that ends far worse than it started is flagged and warned about; a loss that is non-finite
before any update does not blame the learning rate."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.errors import ConfigError, DivergenceError, DivergenceWarning
from backprop.losses import LOSS_NAMES
from backprop.ops.activations import SCALAR_NAMES, get_activation
from backprop.training import History, train
from backprop.training.pairing import check_output_loss, output_kind

QUIET = dict(verbose=False)
OUTPUTS = SCALAR_NAMES + ("softmax",)


def _targets(name, B, c, rng):
    return bp.get_loss(name).make_targets(rng, B, c)


def _meets(loss_name, y):
    """What the loss declares it needs of its input, stated on sampled outputs y (rows are samples)."""
    need = bp.get_loss(loss_name).needs
    if need == "probability":
        return bool(np.all((y > 0) & (y < 1)))
    if need == "distribution":
        return bool(np.all(y > 0) and np.allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-12))
    if need == "positive":
        return bool(np.all(y > 0))
    assert need == "real", need
    return True


def test_relu_output_with_cross_entropy_is_refused_before_training_with_what_to_use():
    net = bp.MLP([2, 3, 2], hidden="tanh", output="relu", seed=0)
    before = net.params.copy()
    X = np.random.default_rng(0).normal(size=(8, 2))
    with pytest.raises(ConfigError, match=r"loss 'cross_entropy' needs every output row to be a probability "
                                          r"distribution.*relu output.*use output='softmax'"):
        train(net, "cross_entropy", X, np.arange(8) % 2, lr=1e-6, **QUIET)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("out", OUTPUTS)
@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_a_pairing_is_refused_exactly_when_the_output_can_leave_the_loss_domain(out, loss_name):
    rng = np.random.default_rng(0)
    net = bp.MLP([3, 4, 2], hidden="tanh", output=out, seed=0)
    # sample the output over a range of pre-activations (where float64 does not round a sigmoid or a
    # softmax to exactly 0 or 1): does it stay where the loss is defined?
    z = np.concatenate([np.linspace(-15, 15, 101)[:, None] * np.array([[1.0, -0.5]]), rng.normal(size=(50, 2))])
    y = net.ops[-1].forward([z], None)[0]
    X = rng.normal(size=(12, 3))
    T = _targets(loss_name, 12, 2, rng)
    before = net.params.copy()
    if _meets(loss_name, y):
        train(net, loss_name, X, T, epochs=2, lr=0.01, **QUIET)
    else:
        with pytest.raises(ConfigError, match=f"loss '{loss_name}' needs .*the {out} output.*; use output="):
            train(net, loss_name, X, T, epochs=2, **QUIET)
        np.testing.assert_array_equal(net.params, before)


def test_the_output_kind_is_read_through_a_select_and_an_unknown_op_is_not_refused():
    sig = bp.Network(3, [bp.Dense(3, 2), bp.Elementwise(2, "sigmoid")])
    assert output_kind(sig) == "probability"
    assert output_kind(bp.Network(3, [bp.Dense(3, 2)])) == "real"
    assert output_kind(bp.MLP([3, 2], output="softmax")) == "distribution"
    swish = bp.activation("swish", lambda z: z / (1 + np.exp(-z)), lambda z: np.ones_like(z))
    assert output_kind(bp.MLP([3, 2], output=swish)) == "real"
    broken = bp.activation("logish", lambda z: np.log(z), lambda z: 1 / z)
    assert output_kind(bp.MLP([3, 2], output=broken)) is None       # cannot say: not refused
    check_output_loss(bp.MLP([3, 2], output=broken), bp.get_loss("bce"))


@settings(max_examples=40, deadline=None)
@given(out=st.sampled_from(OUTPUTS), loss_name=st.sampled_from(LOSS_NAMES), scale=st.floats(0.1, 1.0),
       seed=st.integers(0, 2**16), width=st.integers(2, 4))
def test_an_accepted_pairing_has_a_finite_loss_for_any_parameters(out, loss_name, scale, seed, width):
    # the class of the bug: any pairing check_output_loss lets through gives a finite loss (no log of
    # a value <= 0, no 1 - y <= 0 under a log) at any ordinary parameters (outputs that float64 does
    # not round to 0 or 1; past that only the pairings evaluated on the logits stay finite)
    rng = np.random.default_rng(seed)
    net = bp.MLP([3, 5, width], hidden="tanh", output=out, seed=seed)
    loss = bp.get_loss(loss_name)
    try:
        check_output_loss(net, loss)
    except ConfigError as e:
        assert loss_name in str(e) and out in str(e)
        return
    net.params[:] = rng.normal(size=net.n_params) * scale
    X = rng.normal(size=(16, 3))
    value, grad = bp.loss_and_grad(net, loss, X, _targets(loss_name, 16, width, rng))
    assert math.isfinite(value) and np.isfinite(grad).all()


# ---- a run that ends far worse than it started ------------------------------------------------

def _regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    return X, np.tanh(X @ rng.normal(size=(3, 1)))


def test_a_loss_that_explodes_without_reaching_nan_warns_and_flags_the_history():
    X, T = _regression()
    net = bp.MLP([3, 8, 1], hidden="tanh", output="identity", seed=0)
    with pytest.warns(DivergenceWarning, match=r"ended at .* more than 2 times .* learning rate 100 .*smaller"):
        h = train(net, "l2", X, T, lr=100, epochs=20, tol=None, **QUIET)
    assert issubclass(DivergenceWarning, UserWarning) and bp.DivergenceWarning is DivergenceWarning
    assert h.diverged and h.stop_reason == "max_epochs"
    assert math.isfinite(h.end_loss) and h.end_loss > 2 * h.start_loss
    start = bp.MLP([3, 8, 1], hidden="tanh", output="identity", seed=0)
    assert h.start_loss == pytest.approx(bp.loss_and_grad(start, "l2", X, T)[0],
                                         rel=1e-12)
    assert h.end_loss == pytest.approx(bp.loss_and_grad(net, "l2", X, T)[0], rel=1e-12)


def test_a_healthy_run_does_not_warn_and_the_flag_round_trips(tmp_path):
    X, T = _regression()
    net = bp.MLP([3, 8, 1], hidden="tanh", output="identity", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = train(net, "l2", X, T, lr=0.1, epochs=20, **QUIET)
    assert not h.diverged and h.end_loss < h.start_loss
    h.diverged = True
    h.save(tmp_path / "h.json")
    back = History.load(tmp_path / "h.json")
    assert back.diverged and back.start_loss == h.start_loss and back.end_loss == h.end_loss


def test_a_nan_divergence_flags_the_history_too():
    X, T = _regression()
    net = bp.MLP([3, 8, 1], hidden="relu", output="identity", seed=0)
    with pytest.raises(DivergenceError) as info:
        train(net, "l2", X, T * 100, lr=1e3, batch_size=8, epochs=5, **QUIET)
    assert info.value.history.diverged and info.value.history.stop_reason == "diverged"


def test_a_loss_that_is_not_finite_before_any_update_does_not_blame_the_learning_rate():
    X, T = _regression()
    net = bp.MLP([3, 8, 1], hidden="tanh", output="identity", seed=0)
    before = net.params.copy()
    with pytest.raises(DivergenceError, match=r"already inf at the initial parameters, before any update, so the "
                                              r"learning rate is not the cause") as info:
        train(net, "l2", X, T * 1e200, lr=1e-6, **QUIET)
    assert "too large" not in str(info.value)
    np.testing.assert_array_equal(net.params, before)


def test_a_resumed_run_compares_with_the_start_of_the_whole_run(tmp_path):
    X, T = _regression()
    ck = tmp_path / "run.npz"
    net = bp.MLP([3, 8, 1], hidden="tanh", output="identity", seed=0)
    first = train(net, "l2", X, T, lr=0.1, epochs=3, checkpoint=ck, tol=None, **QUIET)
    h = train(bp.MLP([3, 8, 1], hidden="tanh", output="identity", seed=1), "l2", X, T, lr=0.1, epochs=6, checkpoint=ck,
              resume=True, tol=None, **QUIET)
    assert h.start_loss == first.start_loss and not h.diverged


def test_get_activation_names_cover_the_outputs():
    # the pairing test above runs over the library's own tables of outputs and losses
    assert {"sigmoid", "relu", "tanh", "identity", "exp", "softplus"} <= set(SCALAR_NAMES)
    assert {"bce", "cross_entropy", "kl", "binary_kl", "poisson", "l2"} <= set(LOSS_NAMES)
    for name in SCALAR_NAMES:
        get_activation(name)
