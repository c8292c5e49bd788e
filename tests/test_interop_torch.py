"""PyTorch both ways, against torch itself: same outputs (float64 to 1e-12) and the same gradients."""
import numpy as np
import pytest

import backprop as bp
from interop_nets import ACTIVATIONS, HEADS, act_id, all_networks, inputs_for, mlp

torch = pytest.importorskip("torch")

CASES = [(a, h) for a in ACTIVATIONS for h in ("softmax", "identity")] + [("tanh", h) for h in HEADS]


def torch_output(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


@pytest.mark.parametrize("hidden,output", CASES, ids=[f"{act_id(a)}-{h}" for a, h in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_to_torch_gives_the_same_outputs_and_gradients(hidden, output, dtype):
    net = mlp(hidden, output, dtype)
    module = bp.to_torch(net)
    assert list(module.state_dict()) == list(net.state_dict())
    X = inputs_for(net)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(torch_output(module, X), net.predict(X), rtol=tol, atol=tol)
    # the same loss, 1/B sum 1/2 ||y - d||^2, differentiated by autograd and by backprop
    D = np.random.default_rng(1).normal(size=(len(X), net.n_outputs)).astype(dtype)
    value, grad = bp.loss_and_grad(net, "l2", X, D)
    loss = 0.5 * ((module(torch.from_numpy(X)) - torch.from_numpy(D)) ** 2).sum() / len(X)
    loss.backward()
    g_torch = np.concatenate([p.grad.numpy().ravel() for p in module.parameters()])
    np.testing.assert_allclose(loss.detach().item(), value, rtol=tol)
    np.testing.assert_allclose(g_torch, grad, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("hidden,output", CASES, ids=[f"{act_id(a)}-{h}" for a, h in CASES])
def test_from_torch_of_to_torch_is_the_network_bitwise(hidden, output):
    net = mlp(hidden, output)
    back = bp.from_torch(bp.to_torch(net))
    assert type(back) is bp.MLP and back.config() == net.config()
    assert back.params.tobytes() == net.params.tobytes()
    X = inputs_for(net)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


def test_from_torch_reads_a_hand_built_sequential_with_its_keys():
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    net = bp.from_torch(module)
    assert type(net) is bp.Network and list(net.state_dict()) == list(module.state_dict())
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(net.predict(X), torch_output(module, X), rtol=1e-12, atol=1e-12)
    f32 = bp.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Softplus(), nn.Linear(2, 1)))
    assert f32.dtype == np.float32


@pytest.mark.parametrize("module,match", [
    (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Hardtanh()), r"module 1 \(Hardtanh\) has no backprop"),
    (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Hardswish()), r"module 1 \(Hardswish\)"),
    (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.GELU(approximate="tanh")), r"module 1 is GELU\(approximate='tanh'\)"),
    (lambda nn: nn.Sequential(nn.Linear(2, 3, bias=False)), "bias=False"),
    (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)), r"Linear\(4, 1\) after a layer of width 3"),
    (lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)), "dim=0"),
    (lambda nn: nn.Sequential(nn.Linear(2, 3).double(), nn.Softplus()), r"threshold >= 37"),
    (lambda nn: nn.Sequential(nn.ReLU()), "at least one nn.Linear"),
])
def test_from_torch_names_what_it_cannot_read(module, match):
    with pytest.raises(bp.ConfigError, match=match):
        bp.from_torch(module(torch.nn))


@pytest.mark.parametrize("name", ["special", "skip", "vector"])
def test_to_torch_refuses_graphs_naming_the_node(name):
    net = dict(all_networks())[name]
    with pytest.raises(bp.ConfigError, match="node"):
        bp.to_torch(net)


def test_to_torch_refuses_user_activations():
    act = bp.activation("interop_torch_cube", lambda z: z ** 3, lambda z: 3 * z ** 2)
    with pytest.raises(bp.ConfigError, match="user-defined activation 'interop_torch_cube'"):
        bp.to_torch(bp.MLP([2, 2, 1], hidden=act, output="identity"))
