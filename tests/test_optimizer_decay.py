"""Weight decay acts on the weights and never on the biases, for every optimiser, also when it is used alone."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.errors import ConfigError
from backprop.training.optimizers import OPTIMIZER_NAMES, get_optimizer


def _net(sizes=(3, 4, 2), seed=0):
    return bp.MLP(list(sizes), hidden="tanh", output="sigmoid", seed=seed)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_standalone_step_on_a_network_decays_the_weights_and_not_the_biases(name):
    net = _net()
    before = net.params.copy()
    weights = net.reg_mask
    assert weights.any() and not weights.all()
    opt = get_optimizer(name, lr=0.1, weight_decay=0.5)
    rate = opt.decay_rate                        # lambda (AdamW: eta lambda)
    assert rate == (0.05 if name == "adamw" else 0.5)
    opt.step(net, np.zeros(net.n_params))
    # zero gradient: every rule's own step is zero, so only the decay W <- W - rate W is left
    np.testing.assert_array_equal(net.params[~weights], before[~weights])
    np.testing.assert_array_equal(net.params[weights], before[weights] * (1 - rate))


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_weight_decay_on_a_bare_array_is_refused_and_changes_nothing(name):
    net = _net()
    params = net.params.copy()
    opt = get_optimizer(name, lr=0.1, weight_decay=0.5)
    with pytest.raises(ConfigError, match=r"biases.*opt\.step\(net, grad\).*decay_mask"):
        opt.step(params, np.ones(net.n_params))
    np.testing.assert_array_equal(params, net.params)
    assert opt.t == 0 and all(opt.state_dict()[k] is None for k in opt._buffers)
    # the same optimiser then works on the network, and a bare array works with an explicit mask
    opt.step(net, np.zeros(net.n_params))
    explicit = get_optimizer(name, lr=0.1, weight_decay=0.5)
    explicit.decay_mask = net.reg_mask
    explicit.step(params, np.zeros(net.n_params))
    np.testing.assert_array_equal(params, net.params)


def test_without_weight_decay_a_bare_array_is_fine_and_an_explicit_mask_wins():
    net = _net()
    W = net.params.copy()
    bp.SGD(lr=0.1).step(W, np.ones(net.n_params))
    np.testing.assert_allclose(W, net.params - 0.1)
    everything = bp.SGD(lr=0.1, weight_decay=0.5)
    everything.decay_mask = np.ones(net.n_params, dtype=bool)       # decay the biases too, deliberately
    before = net.params.copy()
    everything.step(net, np.zeros(net.n_params))
    np.testing.assert_array_equal(net.params, before * 0.5)
    with pytest.raises(ConfigError, match="boolean"):
        everything.decay_mask = np.ones(net.n_params)


def test_train_with_weight_decay_leaves_a_given_optimizer_without_a_mask():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(float)
    net = bp.MLP([3, 4, 1], output="sigmoid", seed=0)
    opt = bp.SGD(lr=0.1, weight_decay=0.01)
    bp.train(net, "bce", X, y, optimizer=opt, epochs=2, verbose=False)
    assert opt.decay_mask is None and opt.t > 0


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(OPTIMIZER_NAMES), lam=st.floats(1e-4, 0.99),
       sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4), steps=st.integers(1, 4),
       seed=st.integers(0, 2**16), float32=st.booleans())
def test_every_optimizer_with_weight_decay_leaves_the_biases_to_the_gradient(name, lam, sizes, steps, seed, float32):
    # the same gradients with and without decay: the biases end bitwise equal, the weights follow
    # W <- (1 - lambda) W - (the rule's step), the step being the same in both runs
    dtype = np.float32 if float32 else np.float64
    rng = np.random.default_rng(seed)
    net = bp.MLP(sizes, hidden="tanh", output="identity", seed=seed, dtype=dtype)
    plain = net.copy()
    grads = [rng.normal(size=net.n_params).astype(dtype) for _ in range(steps)]
    decayed_opt = get_optimizer(name, lr=0.05, weight_decay=lam)
    plain_opt = get_optimizer(name, lr=0.05, weight_decay=0.0)       # (AdamW decays by default)
    expect = net.params.astype(np.float64)
    mask = net.reg_mask
    for g in grads:
        before = plain.params.astype(np.float64)
        plain_opt.step(plain, g)
        update = plain.params.astype(np.float64) - before
        decayed_opt.step(net, g)
        rate = decayed_opt.decay_rate
        expect = np.where(mask, (1 - rate) * expect, expect) + update
    np.testing.assert_array_equal(net.params[~mask], plain.params[~mask])
    tol = 1e-4 if float32 else 1e-12
    np.testing.assert_allclose(net.params[mask], expect[mask], rtol=tol, atol=tol)
