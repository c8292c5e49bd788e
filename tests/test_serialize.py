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
    with pytest.raises(ConfigError, match="activations must be a list"):
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
    if output == "softmax" and sizes[-1] == 1:      # a softmax over one output is refused at construction
        output = "sigmoid"
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


# ---- untrusted files: every malformed value is a FileFormatError naming it ------------------------

def _desc_file(tmp_path, mutate, net=None, name="bad.npz"):
    """A model file whose description is ``mutate(desc)`` (a dict, or raw JSON bytes)."""
    net = net or bp.MLP([2, 3, 2], seed=0)
    good = tmp_path / "good-src.npz"
    net.save(good)
    with np.load(good) as z:
        members = {k: z[k] for k in z.files}
    desc = json.loads(members["model.json"].tobytes())
    new = mutate(desc)
    blob = new if isinstance(new, bytes) else json.dumps(new).encode()
    path = tmp_path / name
    np.savez(path, **{**members, "model.json": np.frombuffer(blob, np.uint8)})
    return path


def _set(path_keys, value):
    def mutate(desc):
        node = desc
        for k in path_keys[:-1]:
            node = node[k]
        node[path_keys[-1]] = value
        return desc
    return mutate


@pytest.mark.parametrize("mutate, words", [
    (_set(["class"], ["MLP"]), ["'class' is ['MLP']", "expected one of 'Network', 'MLP'"]),
    (_set(["network", "inputs"], [0, 1, 2, 3]), ["network.inputs[0] is 0; expected a JSON list"]),
    (_set(["network", "inputs"], [[0], [1], [2]]), ["network.inputs", "a list of 4 entries, not 3"]),
    (lambda d: json.dumps(_set(["network", "ops", 1, "size"], 7)(d)).replace('"size": 7', '"size": Infinity')
     .encode(), ["not valid JSON", "Infinity is not a JSON number"]),
    (lambda d: json.dumps(d).replace('"n_in": 2', '"n_in": 1e999').encode(), ["overflows to infinity"]),
    (_set(["network", "ops", 0, "n_in"], 2 ** 64 + 1), ["ops[0].n_in is 18446744073709551617",
                                                        "expected an integer in [1, "]),
    (_set(["network", "ops", 0, "n_in"], 2.0), ["ops[0].n_in is 2.0", "expected an integer"]),
    (_set(["network", "ops", 0, "n_in"], True), ["ops[0].n_in is True", "expected an integer"]),
    (_set(["network", "n_inputs"], None), ["network.n_inputs is None", "expected an integer in [1, "]),
    (_set(["network", "dtype"], "float16"), ["network.dtype is 'float16'", "'float32', 'float64'"]),
    (_set(["network", "ops", 0, "bogus"], 1), ["unknown key(s) 'bogus'", "expected only"]),
    (lambda d: {**d, "network": {k: v for k, v in d["network"].items() if k != "ops"}},
     ["'network' lacks 'ops'", "expected keys"]),
    (_set(["network", "ops"], []), ["network.ops", "at least 1 entries"]),
    (_set(["network", "ops", 1, "activation"], {"name": "leaky_relu", "slope": "x"}),
     ["activation.slope is 'x'", "a finite number"]),
    (_set(["network", "ops", 1, "activation"], {"name": "leaky_relu", "slope": -2}),
     ["bad options for activation 'leaky_relu'", "slope"]),
    (_set(["network", "ops", 1, "activation"], {"name": "tanh", "gain": 2}),
     ["activation 'tanh' does not take the option(s) 'gain'"]),
    (_set(["metadata"], [1]), ["'metadata' is [1]", "a JSON object"]),
    (_set(["version"], True), ["version True"]),
    (_set(["network", "inputs", 1], [5]), ["network.inputs[1][0] is 5", "an integer in [0, 1]"]),
    (lambda d: b"[" * 5000 + b"]" * 5000, ["nested too deeply"]),
    (lambda d: b'{"a":' * 200 + b"1" + b"}" * 200, ["levels deep; at most 64 are accepted"]),
    (lambda d: b"\xff\xfe not utf-8", ["not valid JSON"]),
])
def test_malformed_description_values_are_file_format_errors(tmp_path, mutate, words):
    path = _desc_file(tmp_path, mutate)
    with pytest.raises(FileFormatError) as info:
        bp.load(path)
    for w in words:
        assert w in str(info.value)


def test_whitespace_padded_description_is_refused_unread(tmp_path):
    path = _desc_file(tmp_path, lambda d: b" " * (serialize.MAX_JSON_BYTES + 10) + json.dumps(d).encode())
    n = serialize.MAX_JSON_BYTES
    with pytest.raises(FileFormatError,
                       match=rf"array 'model.json' declares shape \(\d+,\) of uint8, \d+ bytes; at most {n} bytes"):
        bp.load(path)


def test_member_without_npy_suffix_is_named(tmp_path):
    from model_files import zip_bytes
    path = tmp_path / "m.npz"
    path.write_bytes(zip_bytes([("params", b"xx"), ("model.json.npy", b"yy")]))
    with pytest.raises(FileFormatError, match=r"member 'params' is not a \.npy array; a model file holds only"):
        bp.load(path)
    path.write_bytes(zip_bytes([("params.npy", b"xx"), ("evil.npy", b"yy")]))
    with pytest.raises(FileFormatError, match="unexpected member 'evil.npy'"):
        bp.load(path)


def _neuron_net():
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    h, k = g.neuron("h", "tanh"), g.neuron("k", "tanh")
    for s in (x1, x2):
        g.connect(s, h)
        g.connect(s, k)
    o = g.neuron("o", "sigmoid", output=True)
    for s in (h, k, x1):
        g.connect(s, o)
    return g.compile(seed=0)


@pytest.mark.parametrize("names, key, words", [
    (["h", "h"], "names", ["'h' appears twice"]),
    (["h", "o"], "names", ["unit name 'o' appears twice"]),
    (["h", "x1"], "names", ["unit name 'x1' appears twice"]),
    (["", "k"], "names", ["unit name '' is not a non-empty one-line string"]),
    (["a\nb", "k"], "names", ["is not a non-empty one-line string"]),
    (["\0h1", "k"], "names", ["is not a non-empty one-line string"]),
    ([7, "k"], "names", ["names[0] is 7", "a string"]),
    ("h", "names", ["names is 'h'", "a JSON list"]),
    (["h", "k", "m"], "names", ["gives 3 unit names for 2 units"]),
    (["x1"], "input_names", ["names the inputs ['x1']", "expected 2"]),
    (["x1", "x1"], "input_names", ["input name 'x1' appears twice"]),
])
def test_neuron_network_unit_names_from_a_file_are_checked(tmp_path, names, key, words):
    net = _neuron_net()
    first = next(j for j, op in enumerate(net.ops) if getattr(op, "names", None) is not None)
    path = _desc_file(tmp_path, _set(["network", "ops", first, key], names), net=net)
    with pytest.raises(FileFormatError) as info:
        bp.load(path)
    for w in words:
        assert w in str(info.value)
    good = tmp_path / "ok.npz"
    net.save(good)
    assert bp.load(good).node_names == net.node_names


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


_NETS = {
    "mlp": lambda: bp.MLP([2, 3, 2], hidden="relu", seed=0),
    "seq": lambda: bp.Sequential(3, [4, bp.leaky_relu(0.2), 2, "sigmoid"], seed=1),
    "neurons": _neuron_net,
}


@settings(max_examples=60, deadline=None)
@given(which=st.sampled_from(sorted(_NETS)), data=st.data(), value=_JSON_VALUES)
def test_any_json_value_anywhere_in_the_description_gives_a_documented_error(tmp_path_factory, which, data, value):
    """The class: any value at any place of a valid description loads correctly or raises a
    FileFormatError/ConfigError (never TypeError, KeyError, OverflowError, IndexError, ...)."""
    net = _NETS[which]()
    desc = serialize.describe(net)
    where = data.draw(st.sampled_from([p for p in _paths(desc) if p]))
    tmp = tmp_path_factory.mktemp("mut")
    path = _desc_file(tmp, _set(list(where), value), net=net)
    try:
        back = bp.load(path)
    except (FileFormatError, ConfigError) as e:
        assert str(e)
    else:
        assert isinstance(back, bp.Network) and np.all(np.isfinite(back.params))
        back.predict(np.zeros((1, back.n_inputs)))


# ---- untrusted files: declared sizes are checked before anything is allocated or inflated ----------

def _forged(tmp_path, params_member, extra=()):
    """A model file with a valid MLP description and a forged ``params.npy`` member (raw zip bytes)."""
    from model_files import raw_zip
    net = bp.MLP([2, 3, 2], seed=0)
    blob = json.dumps(serialize.describe(net)).encode()
    from model_files import npy_header
    import zlib as _z
    js = npy_header((len(blob),), "|u1") + blob
    entries = [("model.json.npy", js, 0, _z.crc32(js), len(js)), params_member, *extra]
    path = tmp_path / "forged.npz"
    path.write_bytes(raw_zip(entries))
    return path


def test_npy_header_declaring_a_trillion_elements_is_refused_before_allocating(tmp_path):
    import tracemalloc
    import zlib as _z
    from model_files import npy_header
    head = npy_header((10 ** 12,)) + bytes(64)
    path = _forged(tmp_path, ("params.npy", head, 0, _z.crc32(head), len(head)))
    assert path.stat().st_size < 2000
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"declares shape \(1000000000000,\) of float64"):
            bp.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 << 20


def test_params_shape_is_checked_against_the_architecture_before_reading(tmp_path):
    import zlib as _z
    from model_files import npy_header
    head = npy_header((10 ** 6,)) + bytes(8 * 10 ** 6)       # consistent with the file, not with the model
    path = _forged(tmp_path, ("params.npy", head, 0, _z.crc32(head), len(head)))
    with pytest.raises(FileFormatError, match="the file holds 1000000 parameters; its architecture needs 17"):
        bp.load(path)


@pytest.mark.parametrize("member", ["params.npy", "model.json.npy", "extra/m.npy"])
def test_deflate_bomb_is_refused_before_inflating(tmp_path, member):
    """A 64 KB member that inflates to 64 MB (the issue's 1 MB -> 1 GB bomb, scaled) costs < 5 MB."""
    import tracemalloc
    from model_files import deflate_stream, npy_header
    n = 64 << 20
    descr = "|u1" if member == "model.json.npy" else "<f8"
    shape = (n,) if member == "model.json.npy" else (n // 8,)
    data, crc, size = deflate_stream(npy_header(shape, descr), n)
    import zlib as _z
    params = None
    if member != "params.npy":
        from model_files import npy_bytes
        p = npy_bytes(bp.MLP([2, 3, 2], seed=0).params)
        params = ("params.npy", p, 0, _z.crc32(p), len(p))
    entry = (member, data, 8, crc, size)
    if member == "params.npy":
        path = _forged(tmp_path, entry)
    elif member == "extra/m.npy":
        path = _forged(tmp_path, params, extra=[entry])
    else:
        from model_files import raw_zip
        path = tmp_path / "forged.npz"
        path.write_bytes(raw_zip([entry, params]))
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match="at most|architecture needs"):
            bp.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 << 20


def test_zip_sizes_that_lie_are_refused(tmp_path):
    import zlib as _z
    from model_files import deflate_stream, npy_bytes, npy_header
    p = npy_bytes(bp.MLP([2, 3, 2], seed=0).params)
    # stored member claiming more bytes than it has
    path = _forged(tmp_path, ("params.npy", p, 0, _z.crc32(p), len(p) + 10))
    with pytest.raises(FileFormatError, match="declares .* bytes but the file stores"):
        bp.load(path)
    # deflated member claiming more than deflate can produce
    data, crc, size = deflate_stream(npy_header((17,)), 17 * 8)
    path = _forged(tmp_path, ("params.npy", data, 8, crc, 10 ** 9))
    with pytest.raises(FileFormatError, match="more than compression can produce"):
        bp.load(path)
    # deflated member claiming fewer bytes than it inflates to: inflation stops at the claim
    data, crc, size = deflate_stream(npy_header((17,)), 17 * 8 + 10 ** 6)
    path = _forged(tmp_path, ("params.npy", data, 8, crc, size - 10 ** 6))
    with pytest.raises(FileFormatError):
        bp.load(path)


def test_compressed_members_written_by_numpy_still_load(tmp_path):
    net = bp.MLP([3, 4, 2], seed=2)
    plain = tmp_path / "plain.npz"
    serialize.save(net, plain, arrays={"mean": np.arange(3.0)})
    with np.load(plain) as z:
        members = {k: z[k] for k in z.files}
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, **members)
    back, _, arrays = serialize.load_bundle(packed)
    assert back.params.tobytes() == net.params.tobytes()
    np.testing.assert_array_equal(arrays["mean"], np.arange(3.0))


def test_too_many_members_are_refused_from_the_end_record(tmp_path):
    from model_files import zip_bytes
    path = tmp_path / "many.npz"
    path.write_bytes(zip_bytes([(f"extra/{i}.npy", b"") for i in range(serialize.MAX_MEMBERS + 1)]))
    with pytest.raises(FileFormatError, match=f"declares {serialize.MAX_MEMBERS + 1} arrays; a model file holds "
                                              f"at most {serialize.MAX_MEMBERS}"):
        bp.load(path)


def test_bombs_stay_under_50_mb_of_resident_memory(tmp_path):
    """The issue's figures at full size, measured as peak RSS (getrusage maxrss) in a fresh process:
    a 1.4 KB file declaring 10^12 elements, a ~1 MB deflate bomb of 1 GB, a 262 KB description
    inflating to 256 MB of whitespace."""
    import zlib as _z
    from model_files import deflate_stream, npy_bytes, npy_header, peak_rss_delta_mb, raw_zip
    head = npy_header((10 ** 12,)) + bytes(64)
    huge = _forged(tmp_path, ("params.npy", head, 0, _z.crc32(head), len(head)))
    huge = huge.rename(tmp_path / "huge.npz")
    data, crc, size = deflate_stream(npy_header((1 << 27,)), 1 << 30, with_crc=False)
    bomb = _forged(tmp_path, ("params.npy", data, 8, crc, size)).rename(tmp_path / "bomb.npz")
    p = npy_bytes(bp.MLP([2, 3, 2], seed=0).params)
    data, crc, size = deflate_stream(npy_header((1 << 28,), "|u1"), 1 << 28, fill=b" ", with_crc=False)
    ws = tmp_path / "ws.npz"
    ws.write_bytes(raw_zip([("model.json.npy", data, 8, crc, size), ("params.npy", p, 0, _z.crc32(p), len(p))]))
    assert huge.stat().st_size < 1500 and bomb.stat().st_size < 1_200_000 and ws.stat().st_size < 300_000
    grew = peak_rss_delta_mb("""
        for f in FILES:
            try:
                bp.load(f)
            except bp.FileFormatError:
                pass
            else:
                raise SystemExit("loaded " + f)
    """, huge, bomb, ws)
    assert grew < 50


def test_checkpoint_container_is_checked_like_any_model_file(tmp_path):
    """Checkpoints are read by the same loader: a forged optimiser moment is refused before inflating."""
    import zlib as _z
    from model_files import deflate_stream, npy_header
    net = bp.MLP([2, 3, 2], seed=0)
    X, y = _X(2, n=8), np.arange(8) % 2
    ck = tmp_path / "run.npz"
    bp.train(net, "cross_entropy", X, y, optimizer="adam", epochs=2, checkpoint=ck, verbose=False)
    back, meta, arrays = serialize.load_bundle(ck)
    assert meta["kind"] == "backprop-checkpoint" and arrays["optimizer.m"].shape == net.params.shape
    members = {}
    with zipfile.ZipFile(ck) as z:
        for i in z.infolist():
            members[i.filename] = z.read(i)
    data, crc, size = deflate_stream(npy_header((1 << 24,)), 1 << 27)
    from model_files import raw_zip
    entries = [(k, v, 0, _z.crc32(v), len(v)) for k, v in members.items() if k != "extra/optimizer.m.npy"]
    forged = tmp_path / "forged.npz"
    forged.write_bytes(raw_zip(entries + [("extra/optimizer.m.npy", data, 8, crc, size)]))
    with pytest.raises(FileFormatError, match="compressed extra arrays may inflate to"):
        serialize.load_bundle(forged)


# ---- saving: permissions, interrupted saves, symbolic links -------------------------------------

def test_save_keeps_the_mode_of_an_existing_file(tmp_path):
    net, path = _good_file(tmp_path)
    os.chmod(path, 0o600)
    net.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    os.chmod(path, 0o640)
    serialize.save(net, path, metadata={"x": 1})
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_a_new_file_gets_the_umask_default(tmp_path):
    old = os.umask(0o027)
    try:
        bp.MLP([2, 2], output="identity").save(tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "new.npz").st_mode & 0o777 == 0o640


def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    import signal
    import subprocess
    import sys
    path = tmp_path / "m.npz"
    code = f"""
import os, signal, numpy as np, backprop as bp
net = bp.MLP([50, 200, 10], seed=0)
real = np.savez
def savez(f, **m):
    f.write(b"PK" + bytes(1 << 20))
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
np.savez = savez
net.save({str(path)!r})
"""
    src = os.path.join(os.path.dirname(__file__), os.pardir, "src")
    run = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": src})
    assert run.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".m.npz.") and left[0].endswith(".bptmp")
    assert not path.exists()
    # another live process's temporary is never touched; a dead one's is
    live = tmp_path / f".m.npz.{os.getpid()}.abcd_123.bptmp"
    other = tmp_path / ".m.npz.bak.1.abcd_123.bptmp"          # not a temporary of m.npz
    other.write_bytes(b"")
    live.write_bytes(b"in progress")
    net = bp.MLP([2, 2], output="identity")
    net.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.npz", live.name, other.name])
    assert bp.load(path).params.tobytes() == net.params.tobytes()


def test_interrupting_a_save_removes_its_temporary(tmp_path, monkeypatch):
    net, path = _good_file(tmp_path)

    def interrupted(f, **members):
        f.write(b"PK")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        net.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["good.npz"]


def test_saving_over_a_symlink_writes_through_to_its_target(tmp_path):
    target_dir = tmp_path / "real"
    target_dir.mkdir()
    target = target_dir / "model.npz"
    old, _ = _good_file(target_dir)
    os.replace(target_dir / "good.npz", target)
    os.chmod(target, 0o600)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    new = bp.MLP([3, 4, 2], hidden="tanh", output="softmax", seed=9)
    new.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert bp.load(target).params.tobytes() == new.params.tobytes()
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in target_dir.iterdir()) == ["model.npz"]
    # a dangling link creates its target
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(target_dir / "fresh.npz")
    new.save(dangling)
    assert dangling.is_symlink() and (target_dir / "fresh.npz").is_file()


def test_save_refuses_metadata_that_loading_would_refuse(tmp_path):
    net = bp.MLP([2, 2], output="identity")
    deep = [0]
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ConfigError, match="nested"):
        serialize.save(net, tmp_path / "m.npz", metadata={"deep": deep})
    assert not (tmp_path / "m.npz").exists()


def test_long_training_histories_fit_and_token_floods_do_not(tmp_path):
    """A checkpoint of a 20,000-epoch run (its history is JSON metadata) saves and loads; a description
    of half a million tiny values is refused before parsing."""
    row = {"loss": 0.0011822441687284952, "val_loss": None, "train_metric": 1.0, "val_metric": None, "lr": 0.5,
           "time": 0.000124424999967232, "epoch": 1526, "grad_norms": [0.000921981959605982, 0.00105795132098]}
    net = bp.MLP([2, 2], output="identity")
    path = tmp_path / "long.npz"
    serialize.save(net, path, metadata={"history": {"records": [row] * 20_000}})
    assert len(serialize.load_bundle(path)[1]["history"]["records"]) == 20_000
    flood = _desc_file(tmp_path, lambda d: json.dumps({**d, "metadata": {"x": [0] * 600_000}}).encode())
    with pytest.raises(FileFormatError, match="JSON values and keys; at most 524288"):
        bp.load(flood)


def test_members_sharing_one_stored_region_are_refused(tmp_path):
    """Many central-directory entries pointing at the same stored bytes would multiply them."""
    import struct
    import zlib as _z
    from model_files import npy_bytes, raw_zip
    big = npy_bytes(np.zeros(100_000))
    data = bytearray(raw_zip([("extra/a.npy", big, 0, _z.crc32(big), len(big))]))
    # append a second central entry for the same local header, then fix the end record
    cd_at = struct.unpack("<I", data[-6:-2])[0]
    entry = bytes(data[cd_at:-22]).replace(b"extra/a.npy", b"extra/b.npy")
    end = bytearray(data[-22:])
    struct.pack_into("<HHI", end, 8, 2, 2, 2 * len(entry))
    path = tmp_path / "overlap.npz"
    path.write_bytes(bytes(data[:-22]) + entry + bytes(end))
    with pytest.raises(FileFormatError, match="claim .* bytes in all, more than the file"):
        serialize.load_bundle(path)


def test_build_network_without_params_or_limit_is_a_config_error():
    """Regression: with neither a parameter vector nor a size bound, ``int(None)`` raised TypeError."""
    net = bp.MLP([2, 3, 2])
    with pytest.raises(ConfigError, match="params or limit"):
        serialize.build_network(serialize.describe(net), None)


@settings(max_examples=25, deadline=None)
@given(limit=st.one_of(st.none(), st.integers(0, 1 << 20)), with_params=st.booleans())
def test_build_network_either_builds_or_raises_a_value_error(limit, with_params):
    """Whatever the combination of params and limit, the result is the network or a ValueError subclass."""
    net = bp.MLP([2, 3, 2])
    try:
        out = serialize.build_network(serialize.describe(net), net.params if with_params else None, limit=limit)
    except ValueError:
        assert not with_params and limit is None
        return
    assert out.n_params == net.n_params
    if with_params:
        assert out.params.tobytes() == net.params.tobytes()
