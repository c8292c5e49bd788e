"""The activations that PyTorch also has, against torch.nn's module of the same name: f, f' and f''."""
import numpy as np
import pytest

import backprop as bp
from backprop.ops.activations import get_activation

torch = pytest.importorskip("torch")

MODULES = {"gelu": lambda: torch.nn.GELU(approximate="none"), "elu": lambda: torch.nn.ELU(alpha=1.0),
           ("elu", 0.5): lambda: torch.nn.ELU(alpha=0.5), "silu": lambda: torch.nn.SiLU(),
           "tanh": lambda: torch.nn.Tanh(), "sigmoid": lambda: torch.nn.Sigmoid()}


@pytest.mark.parametrize("key", list(MODULES), ids=str)
def test_f_and_its_derivatives_equal_torch(key):
    spec = {"name": key[0], "alpha": key[1]} if isinstance(key, tuple) else key
    act, module = get_activation(spec), MODULES[key]()
    z = np.linspace(-6, 6, 121) + 0.013           # off z = 0, where elu's f'' jumps
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    y = module(t)
    (d1,) = torch.autograd.grad(y.sum(), t, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), t)
    f = act.f(z)
    np.testing.assert_allclose(f, y.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(act.df(z, f), d1.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(act.d2f(z, f), d2.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["gelu", "elu", "silu"])
def test_a_network_with_the_activation_round_trips_through_torch_and_its_hessian_is_exact(name, tmp_path):
    rng = np.random.default_rng(0)
    net = bp.MLP([3, 5, 2], hidden=name, output="softmax", seed=1)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    back = bp.from_torch(bp.to_torch(net))
    np.testing.assert_array_equal(back.params, net.params)
    assert back.ops[1].act.config() == net.ops[1].act.config()
    report = bp.check_hessian(net, "cross_entropy", X, y)
    assert report.passed, str(report)
    path = tmp_path / "m.json"
    net.save(path)
    np.testing.assert_array_equal(bp.load(path).predict(X), net.predict(X))


def test_elu_alpha_is_validated_and_saved():
    with pytest.raises(bp.ConfigError, match="alpha"):
        get_activation({"name": "elu", "alpha": -1.0})
    assert get_activation({"name": "elu", "alpha": 0.5}).config() == {"name": "elu", "alpha": 0.5}
