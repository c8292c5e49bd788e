"""state_dict / load_state_dict with PyTorch's nn.Sequential keys, and networks that pickle."""
import multiprocessing
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.engine.state_dict import state_keys
from interop_nets import all_networks, covered_op_kinds, inputs_for, mlp, registered_op_kinds

NETS = all_networks() + [(name + "_f32", net) for name, net in all_networks(np.float32)[:3]]


def assert_same_network(a, b):
    assert type(a) is type(b)
    assert a.config() == b.config()
    assert a.params.dtype == b.params.dtype and a.params.tobytes() == b.params.tobytes()
    X = inputs_for(a)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_the_networks_cover_every_registered_op():
    assert covered_op_kinds() == registered_op_kinds()


# ---- state_dict ------------------------------------------------------------------------------------

def test_state_dict_keys_follow_nn_sequential_indices():
    net = bp.Sequential(3, [4, "relu", 2])
    sd = net.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert sd["0.weight"].shape == (4, 3) and sd["2.weight"].shape == (2, 4)
    np.testing.assert_array_equal(sd["0.weight"], net.views(0)[0])


@pytest.mark.parametrize("name,net", NETS, ids=[n for n, _ in NETS])
def test_state_dict_round_trip_is_bitwise(name, net):
    sd = net.state_dict()
    buffers = {key for key, _, _ in state_keys(net)}      # buffers (running statistics) are not parameters
    assert np.concatenate([v.ravel() for k, v in sd.items() if k not in buffers]).tobytes() == net.params.tobytes()
    other = net.copy()
    other.params[:] = 0
    other.load_state_dict(sd)
    assert other.params.tobytes() == net.params.tobytes()
    sd[next(iter(sd))][...] = 7      # a copy: writing into it leaves the network alone
    assert other.params.tobytes() == net.params.tobytes()


@pytest.mark.parametrize("change,match", [
    (lambda sd: sd.pop("2.bias"), r"missing keys \['2.bias'\]"),
    (lambda sd: sd.update({"1.weight": np.zeros(1)}), r"unexpected keys \['1.weight'\]"),
    (lambda sd: sd.update({"0.weight": np.zeros((3, 4))}), r"'0.weight' has shape \(3, 4\); this network needs \(5, 3\)"),
    (lambda sd: sd.update({"0.bias": np.array(["a"] * 4)}), "real numbers"),
    (lambda sd: sd["2.weight"].__setitem__((0, 0), np.nan), r"\['2.weight'\] contain NaN"),
])
def test_bad_state_dicts_are_refused_and_change_nothing(change, match):
    net = mlp("tanh", "softmax")
    before = net.params.copy()
    sd = mlp("tanh", "softmax", seed=9).state_dict()
    change(sd)
    with pytest.raises(bp.ConfigError, match=match):
        net.load_state_dict(sd)
    assert net.params.tobytes() == before.tobytes()


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4), seed=st.integers(0, 2**16),
       key=st.integers(0, 100), dtype=st.sampled_from([np.float32, np.float64]))
def test_any_single_wrong_shape_is_refused_all_or_nothing(sizes, seed, key, dtype):
    net = bp.MLP(sizes, hidden="relu", output="identity", seed=seed, dtype=dtype)
    sd = bp.MLP(sizes, hidden="relu", output="identity", seed=seed + 1, dtype=dtype).state_dict()
    assert net.state_dict().keys() == sd.keys()
    k = list(sd)[key % len(sd)]
    sd[k] = np.zeros(sd[k].shape + (1,))
    before = net.params.copy()
    with pytest.raises(bp.ConfigError, match=k):
        net.load_state_dict(sd)
    assert net.params.tobytes() == before.tobytes()


def test_compiled_graph_state_dict_names_its_masked_arrays():
    from interop_nets import special_graph
    net = special_graph().compile(seed=0)
    keys = list(net.state_dict())
    assert keys and all(k.split(".")[1] in ("w", "b") for k in keys)


# ---- pickling ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,net", NETS, ids=[n for n, _ in NETS])
def test_pickle_round_trip_equals_the_network(name, net):
    back = pickle.loads(pickle.dumps(net))
    assert_same_network(net, back)
    X = inputs_for(net)
    y = np.eye(net.n_outputs)[np.arange(len(X)) % net.n_outputs].astype(net.dtype)
    g1 = bp.loss_and_grad(net, "l2", X, y)[1]
    g2 = bp.loss_and_grad(back, "l2", X, y)[1]
    np.testing.assert_array_equal(g1, g2)


def _cube(z):
    return z ** 3


def _cube_d(z):
    return 3 * z ** 2


def test_user_activation_of_module_level_functions_pickles():
    act = bp.activation("interop_cube", _cube, _cube_d)
    net = bp.MLP([2, 3, 1], hidden=act, output="identity")
    assert_same_network(net, pickle.loads(pickle.dumps(net)))


def test_user_activation_of_lambdas_says_what_to_do():
    act = bp.activation("interop_lambda", lambda z: z ** 3, lambda z: 3 * z ** 2)
    net = bp.MLP([2, 3, 1], hidden=act, output="identity")
    with pytest.raises(bp.ConfigError, match="'interop_lambda' cannot be pickled: its f .* module-level"):
        pickle.dumps(net)


def test_vector_activation_of_local_functions_says_what_to_do():
    def f(z):
        return z

    fn = bp.vector_activation("interop_local", f, jvp=f, vjp=f)
    g = bp.NeuronGraph()
    x = g.input("x")
    u = g.neuron("u")
    g.connect(x, u)
    g.vector_group([u], fn)
    g.output(u)
    with pytest.raises(bp.ConfigError, match="'interop_local' cannot be pickled: its f "):
        pickle.dumps(g.compile())


def _predict(net, X):
    return net.predict(X)


def test_networks_travel_to_worker_processes():
    net = mlp("tanh", "softmax")
    X = inputs_for(net)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        out = pool.apply(_predict, (net, X))
    np.testing.assert_array_equal(out, net.predict(X))


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), data=st.data(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_any_mlp_of_built_in_activations_pickles_to_an_equal_network(sizes, data, dtype, seed):
    from interop_nets import ACTIVATIONS, HEADS
    hidden = [data.draw(st.sampled_from(ACTIVATIONS)) for _ in sizes[2:]]
    output = data.draw(st.sampled_from(HEADS))
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)          # a softmax needs two or more units
    net = bp.MLP(sizes, hidden=hidden, output=output, seed=seed, dtype=dtype)
    assert_same_network(net, pickle.loads(pickle.dumps(net)))
