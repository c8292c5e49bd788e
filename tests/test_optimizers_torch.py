"""RMSprop and AdamW, step by step against torch.optim.RMSprop and torch.optim.AdamW (weight decay on the
weights only, as a parameter group without decay for the biases); each one registry entry."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.training.optimizers import OPTIMIZER_NAMES, OPTIMIZERS, AdamW, RMSprop, get_optimizer

torch = pytest.importorskip("torch")


def _run_both(name, ours, theirs, steps, seed):
    """The same gradients fed to our optimiser (on a network) and to torch's (weights and biases as two groups)."""
    rng = np.random.default_rng(seed)
    net = bp.MLP([3, 4, 2], hidden="tanh", output="identity", seed=seed)
    mask = net.reg_mask
    w = torch.tensor(net.params[mask].copy(), requires_grad=True)
    b = torch.tensor(net.params[~mask].copy(), requires_grad=True)
    opt_t = theirs([w], [b])
    for _ in range(steps):
        g = rng.normal(size=net.n_params)
        ours.step(net, g)
        w.grad, b.grad = torch.tensor(g[mask]), torch.tensor(g[~mask])
        opt_t.step()
        np.testing.assert_allclose(net.params[mask], w.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(net.params[~mask], b.detach().numpy(), rtol=1e-12, atol=1e-14)


@settings(max_examples=20, deadline=None)
@given(lr=st.sampled_from([1e-3, 0.01, 0.1]), alpha=st.sampled_from([0.0, 0.9, 0.99]),
       eps=st.sampled_from([1e-8, 1e-3]), steps=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_rmsprop_equals_torch_step_by_step(lr, alpha, eps, steps, seed):
    ours = get_optimizer("rmsprop", lr=lr, alpha=alpha, eps=eps)
    _run_both("rmsprop", ours, lambda w, b: torch.optim.RMSprop(w + b, lr=lr, alpha=alpha, eps=eps), steps, seed)


@settings(max_examples=20, deadline=None)
@given(lr=st.sampled_from([1e-3, 0.01, 0.1]), wd=st.sampled_from([0.0, 0.01, 0.5]),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9)]), steps=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_adamw_equals_torch_step_by_step_decaying_only_the_weights(lr, wd, betas, steps, seed):
    ours = get_optimizer("adamw", lr=lr, weight_decay=wd, beta1=betas[0], beta2=betas[1])

    def theirs(w, b):
        return torch.optim.AdamW([{"params": w, "weight_decay": wd}, {"params": b, "weight_decay": 0.0}],
                                 lr=lr, betas=betas, eps=1e-8)
    _run_both("adamw", ours, theirs, steps, seed)


def test_each_is_one_registry_entry_with_state_that_round_trips():
    assert OPTIMIZERS.get("rmsprop") is RMSprop and OPTIMIZERS.get("adamw") is AdamW
    assert {"rmsprop", "adamw"} <= set(OPTIMIZER_NAMES)
    assert AdamW().weight_decay == 0.01 and isinstance(get_optimizer("AdamW"), AdamW)
    for name in ("rmsprop", "adamw"):
        net = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
        opt = get_optimizer(name, lr=0.01)
        opt.step(net, np.ones(net.n_params))
        again = get_optimizer(name)
        again.load_state_dict(opt.state_dict())
        assert again.t == 1 and repr(again) == repr(opt)
    with pytest.raises(bp.ConfigError, match="alpha must lie in"):
        RMSprop(alpha=1.0)
    with pytest.raises(bp.ConfigError, match="RMSprop's mean square"):
        RMSprop().load_state_dict({"name": "rmsprop", "t": 1, "lr": 0.01, "alpha": 0.99, "eps": 1e-8,
                                   "weight_decay": 0.0, "v": np.array([-1.0])})


def test_train_runs_with_each():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(float)
    for name in ("rmsprop", "adamw"):
        net = bp.MLP([2, 4, 1], output="sigmoid", seed=0)
        h = bp.train(net, "bce", X, y, optimizer=name, lr=0.01, epochs=30, verbose=False, tol=None)
        assert h.records[-1]["loss"] < h.records[0]["loss"]
