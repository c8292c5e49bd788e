"""Each op declares its description once (typed ``config_fields``): ``config()`` and the untrusted-file
schema both read that declaration, so a new op with parameters is one file."""
import json
import zipfile

import numpy as np
import pytest

import backprop as bp
from backprop.engine.model_schema import op_schemas
from backprop.errors import FileFormatError
from backprop.ops.base import Op, Param
from backprop.ops.fields import Choice, Field, Size
from backprop.ops.registry import OPS, load_ops
from interop_nets import all_networks


def test_every_registered_op_declares_typed_fields_and_the_schema_knows_it():
    ops = load_ops()
    for name, cls in ops.items():
        assert cls.config_fields and all(isinstance(f, Field) for f in cls.config_fields), name
        names = [f.name for f in cls.config_fields]
        assert len(set(names)) == len(names), name
    assert set(op_schemas()) == set(ops.names())
    assert set(op_schemas(inner=True)) == {n for n, c in ops.items() if c.in_segments}


def _ops_of(net):
    for op in net.ops:
        yield op
        for _, _, inner in getattr(op, "segments", ()):
            yield inner


def test_config_writes_exactly_the_declared_fields():
    seen = set()
    for _, net in all_networks():
        for op in _ops_of(net):
            cfg = op.config()
            declared = {f.name for f in type(op).config_fields}
            required = {f.name for f in type(op).config_fields if not f.optional}
            assert cfg["op"] == op.op_name and required <= set(cfg) - {"op"} <= declared, op.op_name
            json.dumps(cfg)
            seen.add(op.op_name)
    assert seen == set(load_ops().names())


# ---- a new op with parameters, written as one class, saves, loads and is checked from files ----------

class Scale(Op):
    """y = x * a (one factor per unit), a toy op with parameters declared in one place."""

    config_fields = (Size("size"), Choice("init", ("ones", "zeros"), optional=True))

    def __init__(self, size, init="ones"):
        self.size, self.init = int(size), init
        self.param_specs = (Param("a", (self.size,), regularized=True),)

    def init_params(self, rng, views):
        views[0][...] = 1.0 if self.init == "ones" else 0.0

    def forward(self, xs, p):
        return xs[0] * p[0], None

    def vjp(self, at, dy, *, gp, need):
        if gp is not None:
            gp[0][...] = (dy * at.xs[0]).sum(axis=0)
        return [dy * at.p[0]]

    def jvp(self, at, txs, tp):
        out = None if txs[0] is None else txs[0] * at.p[0]
        if tp is not None:
            term = at.xs[0] * tp[0][:, None, :]
            out = term if out is None else out + term
        return out

    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        raise NotImplementedError


@pytest.fixture
def scale_op(monkeypatch):
    load_ops()
    monkeypatch.setitem(OPS._members, "scale_demo", Scale)
    monkeypatch.setattr(Scale, "op_name", "scale_demo")
    return Scale


def _rewrite_json(path, mutate):
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    import io
    raw = np.load(io.BytesIO(members["model.json.npy"]))
    desc = json.loads(raw.tobytes())
    mutate(desc)
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(desc).encode(), dtype=np.uint8))
    members["model.json.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def test_a_new_op_declared_in_one_class_round_trips_and_is_checked(tmp_path, scale_op):
    net = bp.Network(3, [bp.Dense(3, 4), scale_op(4), bp.Elementwise(4, "tanh")], seed=0)
    path = tmp_path / "s.npz"
    net.save(path)
    back = bp.load(path)
    assert back.config() == net.config() and back.params.tobytes() == net.params.tobytes()
    X = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    for mutate, words in [(lambda d: d["network"]["ops"][1].update(size=0), r"ops\[1\]\.size is 0"),
                          (lambda d: d["network"]["ops"][1].update(init="pi"), r"ops\[1\]\.init is 'pi'; expected one of"),
                          (lambda d: d["network"]["ops"][1].update(scale=2), "unknown key"),
                          (lambda d: d["network"]["ops"][1].pop("size"), "lacks 'size'")]:
        bad = tmp_path / "bad.npz"
        bad.write_bytes(path.read_bytes())
        _rewrite_json(bad, mutate)
        with pytest.raises(FileFormatError, match=words):
            bp.load(bad)
