"""Saving and loading networks: exact round trips, no pickle, clear errors, atomic writes."""
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.engine import serialize
from backprop.errors import ConfigError, FileFormatError


def _X(d, n=7, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_round_trip_is_bitwise_and_stays_an_mlp(tmp_path, dtype):
    net = bp.MLP([5, 7, 4, 3], hidden=["tanh", "relu"], output="softmax", seed=3, dtype=dtype)
    net.params[:] += np.random.default_rng(0).normal(size=net.n_params).astype(dtype)   # not the initial values
    path = tmp_path / "m.npz"
    net.save(path)
    back = bp.load(path)
    assert type(back) is bp.MLP and back.sizes == [5, 7, 4, 3] and back.dtype == np.dtype(dtype)
    assert back.params.tobytes() == net.params.tobytes()
    np.testing.assert_array_equal(back.predict(_X(5)), net.predict(_X(5)))
    assert back.summary() == net.summary()
    assert back.params is not net.params


def test_general_network_round_trip(tmp_path):
    net = bp.Sequential(3, [4, bp.leaky_relu(0.2), 5, "softplus", 2, "sigmoid"], seed=1)
    path = tmp_path / "seq.npz"
    net.save(path)
    back = bp.load(path)
    assert type(back) is bp.Network and back.config() == net.config()
    assert back.ops[1].act.params == {"slope": 0.2}
    np.testing.assert_array_equal(back.predict(_X(3)), net.predict(_X(3)))


def test_saved_model_is_a_plain_npz_with_json(tmp_path):
    net = bp.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"params", "model.json"}
        desc = json.loads(z["model.json"].tobytes())
    assert desc["format"] == "backprop-model" and desc["class"] == "MLP"
    assert desc["network"]["ops"][0] == {"op": "dense", "n_in": 2, "n_out": 3, "init": "glorot"}


def test_user_activation_needs_to_be_supplied_on_load(tmp_path):
    swish = bp.activation("swish", lambda z: z / (1 + np.exp(-z)),
                          lambda z: (1 + np.exp(-z) + z * np.exp(-z)) / (1 + np.exp(-z)) ** 2)
    net = bp.MLP([3, 4, 2], hidden=swish, output="softmax", seed=0)
    path = tmp_path / "swish.npz"
    net.save(path)
    with pytest.raises(ConfigError, match=r"user-defined activation 'swish'.*activations=\{'swish'"):
        bp.load(path)
    back = bp.load(path, activations={"swish": swish})
    assert type(back) is bp.MLP
    np.testing.assert_array_equal(back.predict(_X(3)), net.predict(_X(3)))
    with pytest.raises(ConfigError, match="activations must be a dict"):
        bp.load(path, activations={"swish": lambda z: z})


def test_metadata_and_extra_arrays(tmp_path):
    net = bp.MLP([2, 2], output="identity", seed=0)
    path = tmp_path / "m.npz"
    serialize.save(net, path, metadata={"note": "hi", "n": [1, 2]}, arrays={"mean": np.arange(3.0)})
    back, meta, arrays = serialize.load_bundle(path)
    assert meta == {"note": "hi", "n": [1, 2]}
    np.testing.assert_array_equal(arrays["mean"], np.arange(3.0))
    with pytest.raises(ConfigError, match="JSON"):
        serialize.save(net, path, metadata={"bad": object()})
    with pytest.raises(ConfigError, match="JSON"):
        serialize.save(net, path, metadata={"bad": float("nan")})


def test_refuses_to_save_non_finite_parameters(tmp_path):
    net = bp.MLP([2, 2], output="identity", seed=0)
    net.params[0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        net.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


# ---- malformed files ----------------------------------------------------------------------------

def _good_file(tmp_path):
    net = bp.MLP([3, 4, 2], hidden="tanh", output="softmax", seed=0)
    path = tmp_path / "good.npz"
    net.save(path)
    return net, path


def _rewrite(path, members):
    np.savez(path, **members)


@pytest.mark.parametrize("damage, match", [
    ("missing", "does not exist"),
    ("empty", "is empty"),
    ("text", "not an .npz archive"),
    ("truncated", "malformed or truncated"),
    ("npy", "not an .npz archive"),
    ("no_json", "lacks 'model.json'"),
    ("bad_json", "not valid JSON"),
    ("wrong_format", "not a backprop model file"),
    ("future_version", "version 99"),
    ("short_params", "holds 10 parameters"),
    ("nan_params", "NaN or inf"),
    ("wrong_dtype", "expected a 1-D float64"),
    ("unknown_op", "unknown operation 'conv'"),
    ("bad_op", r"ops\[0\]\.n_in is -3; expected an integer in \[1, "),
    ("object_array", "object arrays are never loaded"),
])
def test_malformed_files_give_a_clear_error(tmp_path, damage, match):
    net, good = _good_file(tmp_path)
    path = tmp_path / "bad.npz"
    with np.load(good) as z:
        members = {k: z[k] for k in z.files}
    desc = json.loads(members["model.json"].tobytes())

    def with_desc(d):
        return {**members, "model.json": np.frombuffer(json.dumps(d).encode(), np.uint8)}

    if damage == "missing":
        path = tmp_path / "nothing.npz"
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text("hello")
    elif damage == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "npy":
        np.save(path, np.arange(3.0))
        os.replace(str(path) + ".npy", path) if os.path.exists(str(path) + ".npy") else None
    elif damage == "no_json":
        _rewrite(path, {"params": members["params"]})
    elif damage == "bad_json":
        _rewrite(path, {**members, "model.json": np.frombuffer(b"{not json", np.uint8)})
    elif damage == "wrong_format":
        _rewrite(path, with_desc({**desc, "format": "other"}))
    elif damage == "future_version":
        _rewrite(path, with_desc({**desc, "version": 99}))
    elif damage == "short_params":
        _rewrite(path, {**members, "params": np.zeros(10)})
    elif damage == "nan_params":
        _rewrite(path, {**members, "params": np.full_like(members["params"], np.nan)})
    elif damage == "wrong_dtype":
        _rewrite(path, {**members, "params": members["params"].astype(np.float32)})
    elif damage == "unknown_op":
        d = json.loads(json.dumps(desc))
        d["network"]["ops"][0]["op"] = "conv"
        _rewrite(path, with_desc(d))
    elif damage == "bad_op":
        d = json.loads(json.dumps(desc))
        d["network"]["ops"][0]["n_in"] = -3
        _rewrite(path, with_desc(d))
    elif damage == "object_array":
        np.savez(path, params=np.array([{"x": 1}], dtype=object), **{"model.json": members["model.json"]})
    with pytest.raises(FileFormatError, match=match):
        bp.load(path)


class _Boom:
    """Unpickling this would run code; loading must never unpickle."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = tmp_path / "evil.npz"
    np.savez(path, params=np.array([_Boom()], dtype=object), **{"model.json": np.frombuffer(b"{}", np.uint8)})
    ran = []
    monkeypatch.setattr(os, "system", lambda cmd: ran.append(cmd))
    with pytest.raises(FileFormatError):
        bp.load(path)
    assert ran == []


# ---- atomic writes --------------------------------------------------------------------------------

def test_a_crash_while_saving_leaves_the_old_file_intact(tmp_path, monkeypatch):
    old, path = _good_file(tmp_path)
    before = path.read_bytes()
    new = bp.MLP([3, 4, 2], hidden="tanh", output="softmax", seed=1)

    def crash(f, **members):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz"]      # no temporary file left behind
    np.testing.assert_array_equal(bp.load(path).params, old.params)


def test_save_replaces_and_reports_missing_directories(tmp_path):
    net, path = _good_file(tmp_path)
    other = bp.MLP([3, 4, 2], hidden="tanh", output="softmax", seed=5)
    other.save(path)
    np.testing.assert_array_equal(bp.load(path).params, other.params)
    with pytest.raises(FileFormatError, match="directory .* does not exist"):
        net.save(tmp_path / "no" / "such" / "m.npz")
    zipfile.ZipFile(path).testzip()


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
       hidden=st.sampled_from(["tanh", "relu", "sigmoid", "softplus", "identity"]),
       output=st.sampled_from(["softmax", "sigmoid", "identity"]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 100))
def test_round_trip_of_random_architectures(tmp_path_factory, sizes, hidden, output, dtype, seed):
    net = bp.MLP(sizes, hidden=hidden, output=output, seed=seed, dtype=dtype)
    path = tmp_path_factory.mktemp("rt") / "m.npz"
    net.save(path)
    back = bp.load(path)
    assert type(back) is bp.MLP and back.config() == net.config() and back.sizes == net.sizes
    assert back.params.tobytes() == net.params.tobytes()


def test_neuron_graph_with_a_nested_user_activation_round_trips(tmp_path):
    swish = bp.activation("swish2", lambda z: z / (1 + np.exp(-z)),
                          lambda z: (1 + np.exp(-z) + z * np.exp(-z)) / (1 + np.exp(-z)) ** 2)
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    a, b = g.neuron("a", swish), g.neuron("b", "tanh")      # one level, two activations: a segmented op
    for s in (x1, x2):
        g.connect(s, a)
        g.connect(s, b)
    o = g.neuron("o", "sigmoid", output=True)
    for s in (a, b, x1):
        g.connect(s, o)
    net = g.compile(seed=0)
    path = tmp_path / "graph.npz"
    net.save(path)
    with pytest.raises(ConfigError, match="user-defined activation 'swish2'"):
        bp.load(path)
    back = bp.load(path, activations={"swish2": swish})
    assert type(back) is type(net) and back.node_names == ["x1", "x2", "a", "b", "o"]
    np.testing.assert_array_equal(back.predict(_X(2)), net.predict(_X(2)))
