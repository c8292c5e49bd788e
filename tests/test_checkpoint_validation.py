"""Resuming from a checkpoint: every field is checked before anything is applied, and a checkpoint
path that cannot be written is refused before the first update."""
import copy
import io
import json
import math
import os
import stat
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import backprop as bp
from backprop.engine.serialize import _EXTRA, _JSON_KEY
from backprop.errors import ConfigError, FileFormatError
from backprop.training import train

QUIET = dict(verbose=False)


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _net(seed=0, dtype=np.float64):
    return bp.MLP([3, 4, 2], hidden="tanh", output="softmax", seed=seed, dtype=dtype)


RUNS = {
    "adam": dict(optimizer="adam", lr=0.01, batch_size=8, validation_fraction=0.25, early_stopping=False),
    "momentum": dict(optimizer="momentum", lr=0.1, batch_size=8, tol=1.0),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One checkpoint per run kind, as bytes: Adam with validation (best parameters), momentum with tol."""
    X, y = _data()
    out = {}
    for kind, opts in RUNS.items():
        path = tmp_path_factory.mktemp(kind) / "run.npz"
        train(_net(), "cross_entropy", X, y, epochs=3, checkpoint=path, **opts, **QUIET)
        out[kind] = path.read_bytes()
    return out


def _read(blob):
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    meta = json.loads(members[_JSON_KEY].tobytes().decode("utf-8"))
    return members, meta


def _write(path, members, meta):
    members = dict(members)
    members[_JSON_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **members)


MISSING = object()


def _mutate(blob, field, value):
    """The checkpoint with ``field`` ("meta:state.epoch" or "array:best_val") set to ``value`` (MISSING: removed)."""
    members, desc = _read(blob)
    where, name = field.split(":", 1)
    if where == "array":
        key = _EXTRA + name if name != "params" else "params"
        if value is MISSING:
            del members[key]
        else:
            members[key] = value(members[key]) if callable(value) else value
    else:
        node = desc["metadata"]
        *path, last = name.split(".")
        for p in path:
            node = node[p]
        if value is MISSING:
            del node[last]
        else:
            node[last] = copy.deepcopy(value)
    return members, desc


def _fields(blob):
    """Every field of a checkpoint: the scalars of its metadata (leaves of the JSON) and its arrays."""
    members, desc = _read(blob)
    fields = [f"array:{k[len(_EXTRA):]}" for k in members if k.startswith(_EXTRA)] + ["array:params"]

    def walk(node, prefix):
        for k, v in node.items():
            if prefix == "history" and k == "records":
                fields.append("meta:history.records")
                continue
            if isinstance(v, dict):
                walk(v, f"{prefix}.{k}" if prefix else k)
            else:
                fields.append(f"meta:{prefix + '.' if prefix else ''}{k}")
    walk(desc["metadata"], "")
    return fields


def _nan_at_0(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


def _times(f):
    return lambda a: a * f


# a bad value (or several) for every field: each is one no run can have written
BAD = {
    "meta:kind": ["backprop-model", 3],
    "meta:n_samples": [0, -1, 1.5, "40", None, True],
    "meta:optimizer.t": [-1, 1.5, None, "3", True, 2 ** 64, math.nan],
    "meta:optimizer.lr": [0, -0.1, math.inf, math.nan, "0.01", None, True],
    "meta:optimizer.weight_decay": [1.0, -0.1, math.nan, "0"],
    "meta:optimizer.beta1": [1.0, -0.1, math.nan, None],
    "meta:optimizer.beta2": [1.0, -0.1, math.inf],
    "meta:optimizer.eps": [0, -1e-8, math.nan],
    "meta:optimizer.m": [[0.0] * 3, 1.0],
    "meta:optimizer.v": [[0.0] * 3, 1.0],
    "meta:optimizer.delta": [[0.0] * 3, 1.0],
    "meta:optimizer.momentum": [1.0, -0.5, math.nan, "0.9"],
    "meta:optimizer.nesterov": ["yes", 1, None],
    "meta:rng.bit_generator": ["MT19937", 3],
    "meta:rng.state.state": [-1, 2 ** 128, 1.5, None, "1"],
    "meta:rng.state.inc": [2, -1, 2 ** 129 + 1, None],
    "meta:rng.has_uint32": [2, -1, None, 0.5],
    "meta:rng.uinteger": [2 ** 32, -1, None],
    "meta:state.epoch": [-math.inf, math.nan, -1, 1.5, None, "3", True, 4, 2],
    "meta:state.step": [-1, 1.5, None, 2, 2 ** 63],
    "meta:state.best_epoch": [0, 4, -1, 1.5, "1"],
    "meta:state.wait": [-1, 4, 0.5, None],
    "meta:state.calm": [-1, 4, 0.5, None],
    "meta:state.net_step": [-1, 0.5, None, "3", True],
    "meta:history.format": ["other", None],
    "meta:history.metric": [3, ["accuracy"]],
    "meta:history.layers": [["x"], "layer 1", None],
    "meta:history.stop_reason": ["bored", 3],
    "meta:history.best_epoch": [7, "1", 0],
    "meta:history.start_loss": [math.inf, "1", [1.0]],
    "meta:history.end_loss": [math.nan, "1"],
    "meta:history.diverged": ["no", 1, None],
    "meta:history.records": [[], None, "x", [{"epoch": 1}]],
    "array:best_val": [_nan_at_0, np.float64(-math.inf), np.zeros(2), np.int64(1), np.float64(0.5)],
    "array:prev_loss": [np.float64(math.nan), np.float64(math.inf), np.zeros(2), MISSING],
    "array:best_params": [_nan_at_0, _times(np.inf), lambda a: a[:-1], lambda a: a.astype(np.int64), MISSING],
    "array:params": [_nan_at_0, lambda a: a[:-1]],
    "array:optimizer.m": [_nan_at_0, _times(1e200), lambda a: a[:-1], lambda a: a.astype(np.float32), MISSING],
    "array:optimizer.v": [_nan_at_0, lambda a: -a - 1.0, _times(math.inf)],
    "array:optimizer.delta": [_nan_at_0, _times(math.inf), lambda a: a[:-1], lambda a: a.astype(np.int64),
                              _times(1e200), _times(1e3)],
}
# fields that must be there: removing them is a bad value too (best_params, prev_loss, the Adam moments: above)
REQUIRED = [f for f in BAD if f.startswith(("meta:kind", "meta:n_samples", "meta:state.", "meta:rng."))
            and f not in ("meta:state.best_epoch", "meta:state.net_step")] + [   # net_step: 0 in older files
    "meta:optimizer.t", "meta:optimizer.lr", "array:best_val"]


def _cases(kind, blob):
    fields = _fields(blob)
    cases = [(f, v) for f in fields for v in BAD.get(f, [])]
    cases += [(f, MISSING) for f in REQUIRED if f in fields]
    return cases


def test_every_field_of_a_checkpoint_has_bad_values_listed(written):
    # a field added to checkpoints without saying what is bad for it fails here
    for kind, blob in written.items():
        missing = [f for f in _fields(blob) if f not in BAD and f not in ("meta:optimizer.name",)]
        assert missing == [], f"{kind}: no bad values listed for {missing}"


def _snapshot(net, opt):
    return net.params.copy(), {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.__dict__.items()}


def _assert_unchanged(net, opt, snap):
    params, state = snap
    np.testing.assert_array_equal(net.params, params)
    assert set(opt.__dict__) == set(state)
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(getattr(opt, k), v)
            assert getattr(opt, k).dtype == v.dtype
        else:
            assert getattr(opt, k) == v or (v != v and getattr(opt, k) != getattr(opt, k)), k


def _resume_fails(tmp_path, kind, members, meta, match=None, error=FileFormatError):
    path = tmp_path / "bad.npz"
    _write(path, members, meta)
    before_file = path.read_bytes()
    X, y = _data()
    net = _net(seed=5)
    opts = dict(RUNS[kind])
    opt = bp.get_optimizer(opts.pop("optimizer"), lr=opts.pop("lr"))
    opt.step(net.copy(), np.ones(net.n_params))          # a used optimiser: its state must survive as it is
    snap = _snapshot(net, opt)
    calls = []
    with pytest.raises(error, match=match) as info:
        train(net, "cross_entropy", X, y, optimizer=opt, epochs=5, checkpoint=path, resume=True,
              on_epoch_end=lambda *a: calls.append(a), **opts, **QUIET)
    _assert_unchanged(net, opt, snap)
    assert calls == [] and path.read_bytes() == before_file
    return info.value


@pytest.mark.parametrize("kind", list(RUNS))
def test_every_bad_field_is_refused_naming_it_and_changes_nothing(tmp_path, written, kind):
    blob = written[kind]
    cases = _cases(kind, blob)
    assert len(cases) > 60
    for field, value in cases:
        members, meta = _mutate(blob, field, value)
        err = _resume_fails(tmp_path, kind, members, meta)
        name = field.split(":")[1].split(".")[-1]
        name = {"params": "parameter", "kind": "not a training checkpoint"}.get(name, name)
        if field.startswith("meta:") and isinstance(value, float) and not math.isfinite(value):
            # backprop never writes NaN or Infinity into JSON: the file's reader refuses them first
            name = "Infinity is not a JSON number" if value == value else "NaN is not a JSON number"
        assert name in str(err), (field, value, str(err))


def test_the_reported_cases(tmp_path, written):
    blob = written["adam"]
    cases = [
        ("array:optimizer.m", _nan_at_0, r"optimiser state m contains NaN"),
        ("array:optimizer.m", _times(1e200), r"m \(Adam's first moment\) is inconsistent with v"),
        ("array:best_params", _nan_at_0, r"best_params must be finite"),
        ("meta:state.epoch", -math.inf, r"not valid JSON \(-Infinity is not a JSON number\)"),
        ("meta:state.epoch", -3, r"state\.epoch must be an integer in \[0, 2\*\*63 - 1\]; got -3"),
        ("meta:rng.state.state", 2 ** 130, r"rng\.state\.state must be an integer in \[0, 2\*\*128 - 1\]"),
        ("meta:rng.state.inc", 4, r"rng\.state\.inc must be an odd integer"),
    ]
    for field, value, match in cases:
        members, meta = _mutate(blob, field, value)
        _resume_fails(tmp_path, "adam", members, meta, match=match)
    members, meta = _mutate(written["momentum"], "array:optimizer.delta", _times(1e200))
    _resume_fails(tmp_path, "momentum", members, meta, match=r"optimizer\.delta must be a momentum no run")


def test_a_checkpoint_of_another_run_is_a_config_error_and_changes_nothing(tmp_path, written):
    members, meta = _mutate(written["adam"], "meta:optimizer.name", "sgd")
    _resume_fails(tmp_path, "adam", members, meta, match="optimiser 'sgd'", error=ConfigError)
    members, meta = _mutate(written["adam"], "meta:history.metric", "rmse")
    _resume_fails(tmp_path, "adam", members, meta, match="metric 'rmse'", error=ConfigError)


def test_a_valid_checkpoint_still_resumes(tmp_path, written):
    for kind, blob in written.items():
        path = tmp_path / f"{kind}.npz"
        path.write_bytes(blob)
        X, y = _data()
        net = _net(seed=5)
        h = train(net, "cross_entropy", X, y, epochs=4, checkpoint=path, resume=True, **RUNS[kind], **QUIET)
        assert list(h["epoch"]) == [1, 2, 3, 4]


# ---- the whole class: random bad values of each kind of field ----------------------------------

_NOT_INT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3), st.none(), st.booleans(),
                     st.lists(st.integers(0, 3), max_size=2))
_NOT_NUMBER = st.one_of(st.text(max_size=3), st.none(), st.booleans(), st.lists(st.floats(0, 1), max_size=2),
                        st.sampled_from([math.nan, math.inf, -math.inf]))
_INT_FIELDS = {"meta:state.epoch": (0, None), "meta:state.step": (3, 2 ** 63 - 1), "meta:state.wait": (0, 3),
               "meta:state.calm": (0, 3),
               "meta:state.net_step": (0, 2 ** 63 - 1), "meta:optimizer.t": (0, 2 ** 63 - 1), "meta:n_samples": (1, None),
               "meta:rng.state.state": (0, 2 ** 128 - 1), "meta:rng.has_uint32": (0, 1),
               "meta:rng.uinteger": (0, 2 ** 32 - 1)}
_RATE_FIELDS = {"meta:optimizer.lr": (0, None), "meta:optimizer.beta1": (0, 1), "meta:optimizer.beta2": (0, 1)}


@st.composite
def _bad_field(draw):
    kind = draw(st.sampled_from(["int", "rate", "array"]))
    if kind == "int":
        field = draw(st.sampled_from(sorted(_INT_FIELDS)))
        low, high = _INT_FIELDS[field]
        options = [_NOT_INT, st.integers(max_value=low - 1)]
        if high is not None:
            options.append(st.integers(min_value=high + 1, max_value=high * 4 + 8))
        if field == "meta:state.epoch":          # any other count than the history's 3 epochs
            options.append(st.integers(0, 40).filter(lambda e: e != 3))
        return field, draw(st.one_of(options))
    if kind == "rate":
        field = draw(st.sampled_from(sorted(_RATE_FIELDS)))
        low, high = _RATE_FIELDS[field]
        options = [_NOT_NUMBER, st.floats(max_value=low, exclude_max=field == "meta:optimizer.beta1"
                                          or field == "meta:optimizer.beta2", allow_nan=False)]
        if high is not None:
            options.append(st.floats(min_value=high, allow_nan=False, allow_infinity=False))
        value = draw(st.one_of(options))
        return field, value
    field = draw(st.sampled_from(["array:optimizer.m", "array:optimizer.v", "array:best_params", "array:params"]))
    index = draw(st.integers(0, 30))
    bad = draw(st.sampled_from([math.nan, math.inf, -math.inf]))

    def poke(a, index=index, bad=bad):
        a = a.copy()
        a.flat[index % a.size] = bad
        return a
    return field, poke


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_bad_field())
def test_any_bad_value_of_any_field_is_refused_and_changes_nothing(tmp_path, written, case):
    field, value = case
    members, meta = _mutate(written["adam"], field, value)
    _resume_fails(tmp_path, "adam", members, meta)


# ---- checkpoint paths ------------------------------------------------------------------------

@pytest.mark.parametrize("where, match", [
    ("no/such/dir/run.npz", "directory .*no/such/dir does not exist"),
    ("", "is a directory"),
])
def test_an_unwritable_checkpoint_path_is_refused_before_the_first_update(tmp_path, where, match):
    X, y = _data()
    net = _net()
    before = net.params.copy()
    calls = []
    with pytest.raises(ConfigError, match=match):
        train(net, "cross_entropy", X, y, epochs=2, checkpoint=tmp_path / where,
              on_epoch_end=lambda *a: calls.append(a), **QUIET)
    np.testing.assert_array_equal(net.params, before)
    assert calls == []


def test_a_file_in_the_way_of_the_directory_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    X, y = _data()
    with pytest.raises(ConfigError, match="is not a directory"):
        train(_net(), "cross_entropy", X, y, epochs=1, checkpoint=tmp_path / "file" / "run.npz", **QUIET)


@pytest.mark.skipif(os.name == "nt" or (hasattr(os, "geteuid") and os.geteuid() == 0),
                    reason="needs POSIX permissions that apply to this user")
def test_a_read_only_directory_is_refused_before_the_first_update(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        X, y = _data()
        net = _net()
        before = net.params.copy()
        with pytest.raises(ConfigError, match="not writable"):
            train(net, "cross_entropy", X, y, epochs=1, checkpoint=ro / "run.npz", **QUIET)
        np.testing.assert_array_equal(net.params, before)
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(stat.S_IRWXU)


@settings(max_examples=60, deadline=None)
@given(beta1=st.floats(0, 0.999), beta2=st.floats(0, 0.9999), steps=st.integers(1, 60), seed=st.integers(0, 2**16),
       float32=st.booleans(), spread=st.floats(-30, 30))
def test_every_state_adam_reaches_is_accepted(beta1, beta2, steps, seed, float32, spread):
    # the bound |m| <= sqrt(C v) that refuses impossible first moments never refuses a reachable one,
    # whatever the betas, the number of steps, the dtype or the scale of the gradients
    dtype = np.float32 if float32 else np.float64
    rng = np.random.default_rng(seed)
    opt = bp.Adam(lr=0.01, beta1=beta1, beta2=beta2)
    W = np.zeros(6, dtype=dtype)
    scale = 10.0 ** (spread / 3 if float32 else spread)
    for _ in range(steps):
        g = np.clip(rng.standard_cauchy(6), -1e3, 1e3) * scale
        if rng.random() < 0.3:
            g = np.full(6, scale * rng.choice([-1.0, 1.0]))      # runs of equal gradients: the bound is tightest
        opt.step(W, g.astype(dtype))
    bp.Adam().load_state_dict(opt.state_dict())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(optimizer=st.sampled_from(["momentum", "nesterov", "adam", "sgd", "gd"]), lr=st.floats(1e-3, 0.5),
       momentum=st.floats(0.05, 0.99), batch_size=st.integers(1, 40), l2=st.floats(0, 0.1),
       validation=st.booleans(), float32=st.booleans(), epochs=st.integers(1, 2))
def test_every_checkpoint_a_run_writes_resumes(tmp_path, optimizer, lr, momentum, batch_size, l2, validation,
                                               float32, epochs):
    # the checks refuse only what no run writes: random runs' checkpoints all resume (after one epoch of
    # one full batch with momentum, ||Delta|| = ||g|| meets its bound exactly)
    X, y = _data()
    dtype = np.float32 if float32 else np.float64
    path = tmp_path / "run.npz"
    opts = dict(optimizer=optimizer, lr=lr, batch_size=batch_size, tol=None,
                validation_fraction=0.25 if validation else None, early_stopping=False)
    if optimizer in ("momentum", "nesterov"):
        opts["momentum"] = momentum
    loss = bp.get_loss("cross_entropy", l2=l2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bp.DivergenceWarning)
        try:
            train(_net(dtype=dtype), loss, X, y, epochs=epochs, checkpoint=path, **opts, **QUIET)
        except bp.DivergenceError:
            return
        h = train(_net(seed=3, dtype=dtype), loss, X, y, epochs=3, checkpoint=path, resume=True, **opts, **QUIET)
    assert len(h) == 3
