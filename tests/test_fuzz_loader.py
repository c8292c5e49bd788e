"""Seeded fuzzing of the model loader (``bp.load``, ``load_bundle``, checkpoints go through it).

Valid model files (an MLP, a general network, a neuron graph with named units and a skip edge, a
training checkpoint with optimiser state) are damaged in many ways: byte flips, truncation, garbage
appended, JSON values replaced anywhere in the description, JSON text tricks (NaN, huge numbers,
deep nesting, padding), forged .npy headers, deflate bombs and zip sizes that lie, pickled members
whose payload would create a marker file, and members renamed, dropped, duplicated or added.

Every case must end in a loaded, finite network or a FileFormatError / ConfigError, with at most
50 MB of Python/NumPy memory allocated at the peak (tracemalloc, which sees every NumPy array and
every Python object; zlib's internal window is a fixed few hundred kB on top), and the marker file
must never appear. The cases are drawn from a fixed seed, so a failure names a reproducible case;
set BACKPROP_FUZZ_CASES (and BACKPROP_FUZZ_SEED) to run more.
"""
import json
import os
import pathlib
import pickle
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import backprop as bp
from backprop.engine import serialize
from backprop.errors import ConfigError, FileFormatError, InputError
from model_files import deflate_stream, npy_bytes, npy_header, raw_zip

N_CASES = int(os.environ.get("BACKPROP_FUZZ_CASES", "600"))
SEED = int(os.environ.get("BACKPROP_FUZZ_SEED", "20261201"))
MEMORY_BOUND = 50 << 20


class Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    marker = None

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _members(path):
    """[(name, bytes)] of a zip file, in order."""
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def _zip(members, method=0):
    """A zip of ``members``: (name, data) pairs, stored or deflated as ``method`` says, or prepared
    (name, payload, method, crc, size) entries taken as they are."""
    entries = []
    for m in members:
        if len(m) == 5:
            entries.append(tuple(m))
            continue
        name, data = m
        if method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            entries.append((name, c.compress(data) + c.flush(), 8, zlib.crc32(data), len(data)))
        else:
            entries.append((name, data, 0, zlib.crc32(data), len(data)))
    return raw_zip(entries)


def _neurons():
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    h, k = g.neuron("h", "tanh"), g.neuron("k", "relu")
    for s in (x1, x2):
        g.connect(s, h)
        g.connect(s, k)
    p = g.product([h, k], name="p")
    o = g.neuron("o", "sigmoid", output=True)
    for s in (p, h, x1):
        g.connect(s, o)
    return g.compile(seed=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    nets = {"mlp": bp.MLP([3, 4, 2], seed=0),
            "seq": bp.Sequential(3, [4, bp.leaky_relu(0.2), 2, "sigmoid"], seed=1),
            "neurons": _neurons()}
    files = {}
    for name, net in nets.items():
        net.save(d / f"{name}.npz")
        files[name] = _members(d / f"{name}.npz")
    net = bp.MLP([2, 3, 2], seed=0)
    X = np.random.default_rng(0).normal(size=(8, 2))
    bp.train(net, "cross_entropy", X, np.arange(8) % 2, optimizer="adam", epochs=2, checkpoint=d / "ck.npz",
             verbose=False)
    files["checkpoint"] = _members(d / "ck.npz")
    return files


# ---- mutations: each returns the bytes of a damaged file ------------------------------------------

_VALUES = [None, True, False, 0, -1, 1, 3, 2 ** 31, 2 ** 64 + 1, -2 ** 63, 1.5, 1e308, -0.0, "", "x", "relu",
           "float64", [], [0], [[0]], [0, 1, 2, 3], {}, {"name": "tanh"}, {"op": "dense"}, [None] * 3,
           "a" * 10_000, list(range(2000))]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:50]):
            yield from _paths(v, prefix + (i,))


def _with_json(members, blob):
    return [(n, npy_bytes(np.frombuffer(blob, np.uint8)) if n == "model.json.npy" else b) for n, b in members]


def _desc(members):
    raw = dict(members)["model.json.npy"]
    return json.loads(np.load(__import__("io").BytesIO(raw)).tobytes())


def flip(rng, members, marker):
    data = bytearray(_zip(members))
    for _ in range(rng.integers(1, 9)):
        data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
    return bytes(data)


def truncate(rng, members, marker):
    data = _zip(members)
    return data[:rng.integers(len(data))]


def append_garbage(rng, members, marker):
    return _zip(members) + rng.bytes(int(rng.integers(1, 200)))


def json_value(rng, members, marker):
    desc = _desc(members)
    paths = [p for p in _paths(desc) if p]
    for _ in range(rng.integers(1, 3)):
        where = paths[rng.integers(len(paths))]
        node = desc
        try:
            for k in where[:-1]:
                node = node[k]
            node[where[-1]] = _VALUES[rng.integers(len(_VALUES))]
        except (KeyError, IndexError, TypeError):
            pass
    return _zip(_with_json(members, json.dumps(desc).encode()))


def json_text(rng, members, marker):
    text = json.dumps(_desc(members))
    trick = rng.integers(7)
    if trick == 0:
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        at = digits[rng.integers(len(digits))]
        text = text[:at] + ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "1" * 30][rng.integers(6)] + \
            text[at + 1:]
    elif trick == 1:
        n = int(rng.integers(60, 3000))
        text = text[:-1] + ', "metadata": {"x": ' + "[" * n + "]" * n + "}}"
    elif trick == 2:
        text = " " * int(rng.integers(1, 1 << 16)) + text
    elif trick == 3:
        text = text[: rng.integers(len(text))]
    elif trick == 4:
        text = text.replace('"', "'", 1)
    elif trick == 5:
        return _zip(_with_json(members, text.encode("utf-16")))
    else:
        text = text[:-1] + ', "metadata": {' + ",".join(f'"k{i}": {{}}' for i in range(70_000)) + "}}"
    return _zip(_with_json(members, text.encode()))


_DESCRS = ["<f8", "<f4", ">f8", "|O", "<c16", "|V8", "<U3", "<i8", "|b1", "|u1", "<M8[s]",
           [("a", "<f8")], "<f2"]


def npy_forge(rng, members, marker):
    k = rng.integers(len(members))
    name, data = members[k]
    shapes = [(10 ** 12,), (2 ** 62,), (-1,), (0,), (3, 4), (17,), (2 ** 31, 2 ** 31), (), (5,) * 40]
    shape = shapes[rng.integers(len(shapes))]
    descr = _DESCRS[rng.integers(len(_DESCRS))]
    trick = rng.integers(4)
    if trick == 0:
        head = npy_header(shape, descr, fortran=bool(rng.integers(2)))
    elif trick == 1:
        head = npy_header(shape, descr, version=[(2, 0), (3, 0), (9, 9)][rng.integers(3)])
    elif trick == 2:
        raw = ["{'descr': '<f8', 'fortran_order': False, 'shape': ('1',), }", "(" * 500 + ")" * 500,
               "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': __import__('os')}",
               "{'descr': '<f8', 'shape': (3,), }", "not a dict", "{" * 1000][rng.integers(6)]
        head = npy_header((), raw_dict=raw)
    else:
        head = npy_header(shape, descr)[:-1] + b"\xff" * int(rng.integers(1, 70_000)) + b"\n"
    body = data[len(npy_header((1,))):] if rng.integers(2) else rng.bytes(int(rng.integers(0, 256)))
    new = list(members)
    new[k] = (name, head + body)
    return _zip(new)


_BOMB = {}


def _bomb(shape, descr, n):
    key = (shape, descr, n)
    if key not in _BOMB:
        _BOMB[key] = deflate_stream(npy_header(shape, descr), n)
    return _BOMB[key]


def bomb(rng, members, marker):
    k = rng.integers(len(members))
    name = members[k][0]
    n = 64 << 20
    descr = "|u1" if name == "model.json.npy" else "<f8"
    shape = (n,) if descr == "|u1" else (n // 8,)
    data, crc, size = _bomb(shape, descr, n)
    lie = rng.integers(4)
    if lie == 1:
        size = int(rng.integers(1, 1 << 32))          # any claim
    elif lie == 2:
        crc ^= 1
    new = list(members)
    new[k] = (name, data, 8, crc, size)
    return _zip(new)


def pickled(rng, members, marker):
    k = rng.integers(len(members))
    name = members[k][0]
    payload = np.array([Payload(marker)], dtype=object)
    kind = rng.integers(3)
    if kind == 0:
        data = npy_bytes(payload)
    elif kind == 1:
        data = pickle.dumps(Payload(marker))
    else:
        data = npy_header((1,), "|O") + pickle.dumps([Payload(marker)])
    new = list(members)
    new[k] = (name, data)
    if rng.integers(2):
        new.append((f"extra/evil{k}.npy", npy_bytes(payload)))
    return _zip(new, method=int(rng.choice([0, 8])))


def members_shuffle(rng, members, marker):
    new = list(members)
    trick = rng.integers(7)
    k = rng.integers(len(new))
    if trick == 0:
        del new[k]
    elif trick == 1:
        new.append(new[k])
    elif trick == 2:
        new[k] = (new[k][0][:-4], new[k][1])
    elif trick == 3:
        new.append(("evil.npy", npy_bytes(np.zeros(3))))
    elif trick == 4:
        new.append(("extra/.npy", npy_bytes(np.zeros(3))))
    elif trick == 5:
        name, data = new[k]
        new[k] = (name, data, int(rng.choice([1, 9, 12, 14, 99])), zlib.crc32(data), len(data))
    else:
        new.extend((f"extra/{i}.npy", npy_bytes(np.zeros(1))) for i in range(int(rng.integers(1, 40))))
    return _zip(new)


def recompressed(rng, members, marker):
    data = bytearray(_zip(members, method=8))
    if rng.integers(2):
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
    return bytes(data)


MUTATIONS = [flip, truncate, append_garbage, json_value, json_text, npy_forge, bomb, pickled, members_shuffle,
             recompressed]


def test_fuzz_the_model_loader(corpus, tmp_path):
    marker = tmp_path / "code-ran"
    rng = np.random.default_rng(SEED)
    path = tmp_path / "case.npz"
    kinds = sorted(corpus)
    outcomes, failures = {}, []
    tracemalloc.start()
    try:
        for case in range(N_CASES):
            mutate = MUTATIONS[case % len(MUTATIONS)]
            base = kinds[rng.integers(len(kinds))]
            data = mutate(rng, corpus[base], marker)
            path.write_bytes(data)
            del data
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            try:
                net, meta, arrays = serialize.load_bundle(path)
            except (FileFormatError, ConfigError) as e:
                outcome = type(e).__name__
                assert str(e)
            except Exception as e:            # noqa: BLE001 - anything else is the bug being hunted
                failures.append(f"case {case} ({mutate.__name__} of {base}): {type(e).__name__}: {e!s:.300}")
                continue
            else:
                outcome = "loaded"
                assert np.all(np.isfinite(net.params)) and isinstance(meta, dict)
                assert all(a.dtype.kind in "biuf" for a in arrays.values())
                try:                           # a loaded network computes (or names a domain error);
                    with np.errstate(all="ignore"):   # mutated exponents and weights may overflow
                        net.predict(np.full((2, net.n_inputs), 0.5))
                except InputError:
                    pass
                del net, meta, arrays
            grew = tracemalloc.get_traced_memory()[1] - start
            if grew > MEMORY_BOUND:
                failures.append(f"case {case} ({mutate.__name__} of {base}): peak {grew >> 20} MB")
            outcomes.setdefault(mutate.__name__, {}).setdefault(outcome, 0)
            outcomes[mutate.__name__][outcome] += 1
    finally:
        tracemalloc.stop()
    assert not failures, "\n".join(failures[:20])
    assert not marker.exists(), "a pickled payload ran"
    assert sum(sum(v.values()) for v in outcomes.values()) == N_CASES >= 500
    # the fuzzer reaches both sides: damaged files are refused, and some damage is harmless (bytes
    # after the zip end record are ignored, as by every zip reader: the content is intact)
    assert all("FileFormatError" in v for k, v in outcomes.items() if k != "append_garbage"), outcomes
    assert outcomes["append_garbage"] == {"loaded": N_CASES // len(MUTATIONS)}, outcomes


def test_the_planted_payload_is_live(tmp_path):
    """The pickled members above really would run code if anything unpickled them."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()
    marker.unlink()
    np.load(__import__("io").BytesIO(npy_bytes(np.array([Payload(marker)], dtype=object))), allow_pickle=True)
    assert marker.exists()
