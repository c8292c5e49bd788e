"""safetensors model files: bitwise round trips, read by PyTorch unchanged, untrusted-file checks."""
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import backprop as bp
from backprop.engine.serialize import user_functions
from interop_nets import all_networks, inputs_for, mlp

safetensors_numpy = pytest.importorskip("safetensors.numpy")
torch = pytest.importorskip("torch")
import safetensors.torch  # noqa: E402

NETS = all_networks() + [(name + "_f32", net) for name, net in all_networks(np.float32)]


@pytest.mark.parametrize("name,net", NETS, ids=[n for n, _ in NETS])
def test_round_trip_is_bitwise(tmp_path, name, net):
    path = tmp_path / "m.safetensors"
    net.save(path)
    back = bp.load(path, activations=user_functions(net))      # a user vector function is passed, not stored
    assert type(back) is type(net) and back.config() == net.config()
    assert back.params.dtype == net.params.dtype and back.params.tobytes() == net.params.tobytes()
    X = inputs_for(net)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    tensors = safetensors_numpy.load_file(str(path))
    assert tensors.keys() == net.state_dict().keys()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,net", [c for c in all_networks() if c[0].startswith("mlp")],
                         ids=[c[0] for c in all_networks() if c[0].startswith("mlp")])
def test_torch_loads_the_file_unchanged(tmp_path, name, net, dtype):
    net = bp.MLP(net.sizes, hidden=[op.act.config() for op in net.ops[1:-1:2]],
                 output=net.output_activation if net.output_activation == "softmax" else net.ops[-1].act.config(),
                 seed=3, dtype=dtype)
    path = tmp_path / "m.safetensors"
    net.save(path)
    module = bp.to_torch(net.copy())
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    module.load_state_dict(safetensors.torch.load_file(str(path)))
    X = inputs_for(net)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(X)).numpy(), net.predict(X), rtol=tol, atol=tol)


def test_a_hand_built_sequential_loads_the_file_and_has_the_same_gradients(tmp_path):
    nn = torch.nn
    net = bp.Sequential(3, [6, "relu", 4, "tanh", 2, "softmax"], seed=2)
    path = tmp_path / "m.safetensors"
    net.save(path)
    module = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2),
                           nn.Softmax(dim=-1)).double()
    module.load_state_dict(safetensors.torch.load_file(str(path)))
    X = np.random.default_rng(0).normal(size=(9, 3))
    labels = np.arange(9) % 2
    value, grad = bp.loss_and_grad(net, "cross_entropy", X, labels)
    out = module(torch.from_numpy(X))
    loss = -torch.log(out[torch.arange(9), torch.from_numpy(labels)]).mean()
    loss.backward()
    np.testing.assert_allclose(loss.detach().item(), value, rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([p.grad.numpy().ravel() for p in module.parameters()]), grad,
                               rtol=1e-10, atol=1e-12)


def test_metadata_travels_and_extra_arrays_are_refused(tmp_path):
    from backprop.engine.serialize import load_bundle, save
    net = mlp("tanh", "softmax")
    save(net, tmp_path / "m.safetensors", metadata={"note": "hi"})
    assert load_bundle(tmp_path / "m.safetensors")[1] == {"note": "hi"}
    with pytest.raises(bp.ConfigError, match="extra arrays"):
        save(net, tmp_path / "n.safetensors", arrays={"a": np.zeros(2)})
    assert not (tmp_path / "n.safetensors").exists()


def _file(net, tmp_path):
    path = tmp_path / "m.safetensors"
    net.save(path)
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return path, json.loads(raw[8:8 + n]), raw[8 + n:]


def _write(path, header, data, n=None):
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h) if n is None else n) + h + data)


def _first_tensor(header):
    return next(k for k in header if k != "__metadata__")


DAMAGE = {
    "empty": (lambda h, d: (h, d, 0), "fewer than the 8"),
    "header too long": (lambda h, d: (h, d, 10**12), "the header declares 1000000000000 bytes"),
    "truncated": (lambda h, d: (h, d[:-8], None), "truncated|needs"),
    "padded": (lambda h, d: (h, d + b"\0" * 8, None), "truncated or padded"),
    "huge shape": (lambda h, d: ({**h, _first_tensor(h): {**h[_first_tensor(h)], "shape": [10**9, 10**9]}}, d, None),
                   "needs 8000000000000000000"),
    "bf16": (lambda h, d: ({**h, _first_tensor(h): {**h[_first_tensor(h)], "dtype": "BF16"}}, d, None), "'BF16'"),
    "no architecture": (lambda h, d: ({k: v for k, v in h.items() if k != "__metadata__"}, d, None),
                        "no backprop architecture"),
    "bad architecture": (lambda h, d: ({**h, "__metadata__": {**h["__metadata__"], "model": "{"}}, d, None),
                         "not valid JSON"),
    "missing tensor": (None, r"missing keys \[.2.bias.\]; expected exactly"),
    "renamed tensor": (None, r"missing keys \['2.bias'\]; unexpected keys \['2.b'\]"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_files_give_a_clear_error(tmp_path, kind):
    net = bp.MLP([3, 4, 2], seed=0)
    path, header, data = _file(net, tmp_path)
    change, match = DAMAGE[kind]
    if kind == "empty":
        path.write_bytes(b"")
    elif change is None:        # a well-formed file whose tensors do not fit its architecture
        tensors = safetensors_numpy.load_file(str(path))
        b = tensors.pop("2.bias")
        if kind == "renamed tensor":
            tensors["2.b"] = b
        safetensors_numpy.save_file(tensors, str(path), metadata=header["__metadata__"])
    else:
        h, d, n = change(header, data)
        _write(path, h, d, n)
    with pytest.raises(bp.FileFormatError, match=match):
        bp.load(path)


def test_a_plain_torch_state_dict_file_says_how_to_read_it(tmp_path):
    module = torch.nn.Sequential(torch.nn.Linear(2, 3))
    safetensors.torch.save_file(module.state_dict(), str(tmp_path / "t.safetensors"))
    with pytest.raises(bp.FileFormatError, match="load_state_dict"):
        bp.load(tmp_path / "t.safetensors")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, 10**6), value=st.integers(0, 255), cut=st.booleans())
def test_any_damaged_byte_is_read_right_or_refused(tmp_path, pos, value, cut):
    net = bp.MLP([2, 3, 1], output="identity", seed=1)
    path = tmp_path / "h.safetensors"
    net.save(path)
    raw = bytearray(path.read_bytes())
    pos %= len(raw)
    if cut:
        raw = raw[:pos]
    else:
        raw[pos] = value
    path.write_bytes(bytes(raw))
    try:
        back = bp.load(path)
    except (bp.FileFormatError, bp.ConfigError):
        return
    # a byte in a parameter (or in unused JSON whitespace) may change: the result is what the file says
    tensors = safetensors_numpy.load_file(str(path))
    np.testing.assert_array_equal(back.params, np.concatenate([tensors[k].ravel() for k in back.state_dict()]))


def test_a_header_naming_a_tensor_twice_or_a_bad_dtype_is_refused(tmp_path):
    net = bp.MLP([3, 4, 2], seed=0)
    path, header, data = _file(net, tmp_path)
    key = _first_tensor(header)
    text = json.dumps(header)
    text = text[:-1] + f', "{key}": ' + json.dumps(header[key]) + "}"
    raw = text.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    with pytest.raises(bp.FileFormatError, match="appears twice"):
        bp.load(path)
    model = json.loads(header["__metadata__"]["model"])
    model["network"]["dtype"] = [1]
    _write(path, {**header, "__metadata__": {**header["__metadata__"], "model": json.dumps(model)}}, data)
    with pytest.raises(bp.FileFormatError, match=r"dtype \[1\]"):
        bp.load(path)


def test_a_network_without_parameters_round_trips(tmp_path):
    net = bp.Sequential(2, ["tanh"])
    net.save(tmp_path / "z.safetensors")
    back = bp.load(tmp_path / "z.safetensors")
    assert back.config() == net.config() and back.n_params == 0


def test_deeply_nested_json_in_the_header_or_the_architecture_is_a_file_format_error(tmp_path):
    import json
    import struct
    deep = "[" * 100_000 + "]" * 100_000
    for header in ('{"__metadata__": {"x": ' + deep + '}}',
                   json.dumps({"__metadata__": {"format": "backprop", "model": deep}})):
        raw = header.encode()
        path = tmp_path / "deep.safetensors"
        path.write_bytes(struct.pack("<Q", len(raw)) + raw)
        with pytest.raises(bp.FileFormatError):
            bp.load(path)
