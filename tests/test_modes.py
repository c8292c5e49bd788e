"""The train/eval mode and buffer contract, checked generically over every registered op that has a mode
or buffers (read from the op registry), plus the test-only ``Centering`` op (tests/stateful_op.py), which
has both, a parameter, and couples the rows of a batch in training mode.

A new op with ``has_modes``/``state_specs`` (BatchNorm, ...) is covered here without editing this file.
"""
import numpy as np
import pytest

import backprop as bp
from backprop.engine.state_dict import keys as state_dict_keys
from backprop.ops.dense import Dense
from backprop.ops.dropout import Dropout
from backprop.ops.registry import load_ops

import stateful_op

WIDTH = 4


@pytest.fixture
def centering():
    remove = stateful_op.install()
    yield stateful_op.Centering
    remove()


def mode_ops():
    """(name, factory) for every registered op with a mode or buffers; each is built as ``cls(width)``."""
    out = []
    for name, cls in load_ops().items():
        try:
            op = cls(WIDTH)
        except TypeError:
            continue              # an op that is not built from a width alone (graphs' levels): no mode
        if op.has_modes or op.state_specs:
            out.append((name, lambda cls=cls: cls(WIDTH)))
    return out


def stateful_ops():
    return [(n, f) for n, f in mode_ops() if f().state_specs]


def network(op, dtype=np.float64, seed=0):
    """Dense -> op -> Dense -> tanh: the op in the middle of a chain, node 2."""
    return bp.Network(3, [Dense(3, WIDTH), op, Dense(WIDTH, 2), bp.Elementwise(2, "tanh")], seed=seed, dtype=dtype)


def fill_state(net, seed=1):
    """Give every buffer values other than its initial ones (counters >= 0, floats above their minimum)."""
    rng = np.random.default_rng(seed)
    for op in net.ops:
        for s in op.state_specs:
            if s.kind == "int":
                op.state[s.name] = np.asarray(rng.integers(0, 100, size=s.shape), dtype=np.int64)
            else:
                low = 0.0 if s.minimum is None else s.minimum
                op.state[s.name] = (low + rng.uniform(0.1, 2.0, size=s.shape)).astype(net.dtype)


def same_state(a, b):
    return all(x.keys() == y.keys() and all(x[k].dtype == y[k].dtype and x[k].tobytes() == y[k].tobytes()
                                            for k in x)
               for x, y in ((oa.state, ob.state) for oa, ob in zip(a.ops, b.ops) if oa.state_specs))


X = np.random.default_rng(0).normal(size=(6, 3))
T = np.random.default_rng(1).normal(size=(6, 2)) * 0.5


def test_the_mode_ops_include_dropout_rrelu_and_the_test_op(centering):
    names = {n for n, _ in mode_ops()}
    assert {"dropout", "rrelu", stateful_op.NAME} <= names


# ---- mode -------------------------------------------------------------------------------------------

def test_a_network_starts_in_evaluation_mode_and_train_eval_switch_every_op(centering):
    for name, make in mode_ops():
        net = network(make())
        assert net.training is False and net.ops[1].training is False, name
        assert net.train() is net and net.training and net.ops[1].training
        assert net.eval() is net and not net.training and not net.ops[1].training
        with pytest.raises(bp.ConfigError, match="mode must be True"):
            net.train("yes")


def test_predict_runs_in_evaluation_mode_and_keeps_the_mode(centering):
    for name, make in mode_ops():
        net = network(make())
        fill_state(net)
        reference = net.predict(X)
        net.train()
        np.testing.assert_array_equal(net.predict(X), reference, err_msg=name)
        assert net.training


def test_copy_has_its_own_mode_step_and_buffers(centering):
    for name, make in mode_ops():
        net = network(make())
        fill_state(net)
        twin = net.copy()
        assert twin.ops[1] is not net.ops[1], name
        assert same_state(net, twin)
        twin.train()
        twin.step = 5
        for s in twin.ops[1].state_specs:
            twin.ops[1].state[s.name] = twin.ops[1].state[s.name] + 1
        assert not net.training and net.step == 0 and net.ops[1].step == 0
        assert twin.ops[1].step == 5
        if net.ops[1].state_specs:
            assert not same_state(net, twin)


def test_step_is_checked_and_reaches_every_op_with_a_mode(centering):
    net = bp.MLP([3, 4, 2], hidden="rrelu", dropout=0.5)
    net.step = 3
    assert [op.step for op in net.ops if op.has_modes] == [3, 3]
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(bp.ConfigError, match="step must be an integer"):
            net.step = bad
    assert net.step == 3


def test_derivatives_and_checks_change_no_buffer_and_no_step(centering):
    for name, make in mode_ops():
        net = network(make())
        fill_state(net)
        before = net.copy()
        for training in (False, True):
            net.train(training)
            bp.loss_and_grad(net, "l2", X, T)
            bp.hessian(net, "l2", X, T)
            bp.hvp(net, "l2", X, T, np.ones(net.n_params))
            bp.check_gradient(net, "l2", X, T, n=5)
        assert same_state(net, before) and net.step == 0, name


# ---- state_dict -----------------------------------------------------------------------------------------

def test_state_dict_puts_each_ops_buffers_after_its_parameters(centering):
    net = network(centering(WIDTH))
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.bias", "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked", "2.weight", "2.bias"]
    assert net.state_dict()["1.num_batches_tracked"].dtype == np.int64
    for name, make in mode_ops():
        net = network(make())
        keys = state_dict_keys(net)
        assert list(net.state_dict()) == keys
        op = net.ops[1]
        mine = [k for k in keys if k.startswith("1.")]
        assert mine == [f"1.{n}" for n in op.param_names] + [f"1.{s.name}" for s in op.state_specs], name


def test_load_state_dict_takes_the_buffers_back_bitwise(centering):
    for name, make in stateful_ops():
        net, other = network(make()), network(make(), seed=5)
        fill_state(net)
        other.load_state_dict(net.state_dict())
        assert other.params.tobytes() == net.params.tobytes() and same_state(net, other), name
        sd = other.state_dict()
        next(v for k, v in sd.items() if k.startswith("1."))[...] += 1      # a copy: the network is unchanged
        assert same_state(net, other)


def bad_buffers(spec):
    """(what, bad value) for a buffer declared by ``spec``: each must be refused."""
    shape = tuple(spec.shape)
    out = [("shape", np.zeros(shape + (2,)))]
    if spec.kind == "int":
        out += [("negative", np.full(shape, -1, dtype=np.int64)), ("float", np.zeros(shape, dtype=np.float64))]
    else:
        out += [("nan", np.full(shape, np.nan)), ("text", np.full(shape, "a"))]
        if spec.minimum is not None:
            out.append(("below minimum", np.full(shape, spec.minimum - 1.0)))
    return out


def test_bad_buffers_are_refused_all_or_nothing(centering):
    for name, make in stateful_ops():
        net = network(make())
        fill_state(net)
        before = net.copy()
        for spec in net.ops[1].state_specs:
            for what, value in bad_buffers(spec):
                sd = network(make(), seed=3).state_dict()
                sd[f"1.{spec.name}"] = value
                with pytest.raises(bp.ConfigError, match=f"1.{spec.name}"):
                    net.load_state_dict(sd)
                assert net.params.tobytes() == before.params.tobytes() and same_state(net, before), (name, what)


# ---- model files --------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_files_keep_the_buffers_bitwise_and_load_in_evaluation_mode(centering, tmp_path, suffix, dtype):
    for name, make in mode_ops():
        net = network(make(), dtype=dtype).train()
        fill_state(net)
        path = tmp_path / f"{name}{suffix}"
        net.save(path)
        back = bp.load(path)
        assert back.config() == net.config() and back.params.tobytes() == net.params.tobytes()
        assert same_state(net, back) and back.training is False, name
        np.testing.assert_array_equal(back.predict(X.astype(dtype)), net.predict(X.astype(dtype)))


def _npz_members(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_damaged_buffers_in_a_model_file_are_refused(centering, tmp_path):
    for name, make in stateful_ops():
        net = network(make())
        fill_state(net)
        path = tmp_path / "m.npz"
        net.save(path)
        good = _npz_members(path)
        spec = net.ops[1].state_specs[0]
        member = f"state/1.{spec.name}"
        cases = {"missing": lambda m: m.pop(member),
                 "unexpected": lambda m: m.update({"state/7.extra": np.zeros(2)}),
                 "wrong shape": lambda m: m.update({member: np.zeros(tuple(spec.shape) + (2,))}),
                 "wrong dtype": lambda m: m.update({member: m[member].astype(np.float32)})}
        for s in net.ops[1].state_specs:
            for what, value in bad_buffers(s):
                if what not in ("shape", "text", "float"):
                    cases[f"{s.name} {what}"] = lambda m, k=f"state/1.{s.name}", v=value: m.update({k: v})
        for what, change in cases.items():
            members = dict(good)
            change(members)
            bad = tmp_path / "bad.npz"
            np.savez(bad, **members)
            with pytest.raises(bp.FileFormatError, match="buffer"):
                bp.load(bad)


def test_damaged_buffers_in_a_safetensors_file_are_refused(centering, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open
    for name, make in stateful_ops():
        net = network(make())
        fill_state(net)
        path = tmp_path / "m.safetensors"
        net.save(path)
        with safe_open(str(path), "np") as f:
            metadata = f.metadata()
        good = safetensors_numpy.load_file(str(path))
        for s in net.ops[1].state_specs:
            key = f"1.{s.name}"
            changes = [("float counter" if s.kind == "int" else "counter dtype",
                        good[key].astype(np.float64 if s.kind == "int" else np.int64))]
            changes += [(what, value) for what, value in bad_buffers(s) if what not in ("text", "float")]
            for what, value in changes:
                tensors = dict(good, **{key: np.ascontiguousarray(value)})
                safetensors_numpy.save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=metadata)
                with pytest.raises(bp.FileFormatError):
                    bp.load(tmp_path / "bad.safetensors")


# ---- torch and ONNX -------------------------------------------------------------------------------------

def _torch_centering(torch):
    class TorchCentering(torch.nn.Module):
        def __init__(self, size):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(size, dtype=torch.float64))
            self.register_buffer("running_mean", torch.zeros(size, dtype=torch.float64))
            self.register_buffer("running_var", torch.ones(size, dtype=torch.float64))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

        def forward(self, x):
            return x - (x.mean(0) if self.training else self.running_mean) + self.bias
    return TorchCentering


@pytest.fixture
def torch_centering(centering):
    torch = pytest.importorskip("torch")
    from backprop.faces.exports.torch_io import TORCH_OPS, TorchOp
    cls = _torch_centering(torch)
    torch.nn.TestCentering = cls          # where from_torch looks a module class up
    TORCH_OPS[stateful_op.NAME] = TorchOp("TestCentering", lambda op, nn, dtype: cls(op.size),
                                          lambda m, width, j: centering(width))
    yield torch
    del TORCH_OPS[stateful_op.NAME]
    del torch.nn.TestCentering


def test_buffers_travel_to_and_from_torch(torch_centering):
    torch = torch_centering
    from backprop.faces.exports.torch_io import TORCH_OPS
    for name, make in mode_ops():
        if name not in TORCH_OPS:
            continue
        net = network(make())
        fill_state(net)
        for training in (False, True):
            module = bp.to_torch(net.train(training))
            assert module.training == training
            sd = module.state_dict()
            assert list(sd) == list(net.state_dict()), name
            for k, v in net.state_dict().items():
                assert sd[k].numpy().tobytes() == v.tobytes(), (name, k)
            with torch.no_grad():
                for b in module.buffers():
                    b += 1
            back = bp.from_torch(module)
            assert back.training == training
            for k, v in back.state_dict().items():
                assert module.state_dict()[k].numpy().tobytes() == v.tobytes(), (name, k)
        module.eval()
        np.testing.assert_allclose(module(torch.from_numpy(X)).detach().numpy(), back.predict(X), rtol=1e-12,
                                   atol=1e-12)


def test_onnx_exports_the_inference_graph_or_names_the_op(centering):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    for name, make in mode_ops():
        net = network(make(), dtype=np.float32).train()
        try:
            model = bp.to_onnx(net)
        except bp.ConfigError as e:
            assert "node 2" in str(e) and net.ops[1].describe() in str(e), name
            continue
        session = ort.InferenceSession(model.SerializeToString())
        x = X.astype(np.float32)
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(out, net.predict(x), rtol=1e-5, atol=1e-6, err_msg=name)
    with pytest.raises(bp.ConfigError, match=f"node 2 \\({stateful_op.NAME}\\)"):
        bp.to_onnx(network(centering(WIDTH), dtype=np.float32))


# ---- training -------------------------------------------------------------------------------------------

class ModeSpy:
    """Records (training, batch rows) of every forward pass of the op it wraps."""

    def __init__(self, op):
        self.seen = []
        forward = op.forward

        def spy(xs, p):
            self.seen.append((op.training, xs[0].shape[0]))
            return forward(xs, p)
        op.forward = spy


@pytest.mark.parametrize("start_training", [False, True])
def test_train_updates_in_training_mode_and_measures_in_evaluation_mode(centering, start_training):
    for name, make in mode_ops():
        net = network(make()).train(start_training)
        spy = ModeSpy(net.ops[1])
        Xv, Tv = X[:3] + 0.1, T[:3]
        hist = bp.train(net, "l2", X, T, optimizer="sgd", lr=0.01, batch_size=2, epochs=2, shuffle=False,
                        validation_data=(Xv, Tv), verbose=False, tol=None)
        assert len(hist) == 2
        assert net.training == start_training, name          # the mode it had
        assert net.step == 6                                # 3 updates per epoch
        updates = [rows for training, rows in spy.seen if training]
        assert updates == [2] * 6, (name, spy.seen)         # every update's forward in training mode,
        # the start and end losses (6 rows) and the validation (3 rows) in evaluation mode
        assert set(spy.seen) == {(True, 2), (False, 6), (False, 3)}, (name, spy.seen)
        if net.ops[1].state_specs and "num_batches_tracked" in net.ops[1].state:
            assert int(net.ops[1].state["num_batches_tracked"]) == 6


def test_the_training_step_updates_the_buffers_from_the_batch(centering):
    net = network(centering(WIDTH))
    z = X @ net.layers[0].W.T + net.layers[0].b            # the batch's input to the op, before the update
    bp.train(net, "l2", X, T, lr=0.1, batch_size=None, epochs=1, verbose=False, shuffle=False, tol=None)
    np.testing.assert_allclose(net.ops[1].state["running_mean"], 0.1 * z.mean(axis=0))
    np.testing.assert_allclose(net.ops[1].state["running_var"], 0.9 + 0.1 * z.var(axis=0, ddof=1))


def test_train_restores_the_mode_when_a_callback_fails(centering):
    class Boom(bp.Callback):
        def on_epoch_end(self, epoch, record):
            raise RuntimeError("boom")
    for name, make in mode_ops():
        for start in (False, True):
            net = network(make()).train(start)
            with pytest.raises(RuntimeError, match="boom"):
                bp.train(net, "l2", X, T, epochs=2, verbose=False, callbacks=[Boom()])
            assert net.training == start, name


def test_a_diverging_epoch_gives_back_the_buffers_and_the_step(centering):
    net = network(centering(WIDTH))
    fill_state(net)
    before = net.copy()
    with pytest.raises(bp.DivergenceError):
        bp.train(net, "l2", X, T * 1e200, lr=1e300, batch_size=None, epochs=3, verbose=False)
    assert same_state(net, before) and net.step == 0


# ---- the guards: per-row and batch-splitting computations with a batch-coupled op ------------------

def _guarded(net):
    """(what, call) for every function that treats rows independently or splits the batch."""
    from backprop.second_order.laplace import Laplace
    from backprop.training.loop import _training_loss
    from backprop.cluster.sums import travelling
    D = bp.get_loss("l2").prepare(T, X.shape[0], 2, net.dtype)
    return [
        ("per-instance deltas", lambda: bp.backprop(net, "l2", X, T)),
        ("input Jacobian", lambda: bp.jacobian(net, X)),
        ("parameter Jacobian", lambda: bp.jacobian(net, X, wrt="params")),
        ("Jacobian check", lambda: bp.check_jacobian(net, X)),
        ("Gauss-Newton", lambda: bp.gauss_newton(net, "l2", X, T)),
        ("Gauss-Newton diagonal", lambda: bp.gauss_newton_diag(net, "l2", X, T)),
        ("Laplace", lambda: Laplace(net, "l2", X, T, hessian="gauss_newton")),
        ("Laplace diag", lambda: Laplace(net, "l2", X, T, structure="diag", hessian="gauss_newton")),
        ("chunked loss", lambda: _training_loss(net, bp.get_loss("l2"), np.tile(X, (1000, 1)), np.tile(D, (1000, 1)), 8)),
        ("Dask blocks", lambda: travelling(net)),
    ]


def test_every_per_row_computation_refuses_a_batch_coupled_op_and_says_to_call_eval(centering):
    net = network(centering(WIDTH)).train()
    for what, call in _guarded(net):
        with pytest.raises(bp.ConfigError, match=f"node 2 \\({stateful_op.NAME}\\).*net.eval\\(\\)"):
            call()
    net.eval()
    for what, call in _guarded(net):
        if what != "Dask blocks":          # buffers do not travel to Dask workers: refused in any mode
            call()


def test_the_batch_trace_refuses_a_random_op_in_training_mode():
    net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0, dropout=0.5).train()
    with pytest.raises(bp.ConfigError, match="node 3 \\(dropout p=0.5\\).*net.eval"):
        bp.trace_batch(net, X[:3, :2], T[:3, :1])


def test_the_whole_batch_hessian_and_hvp_are_exact_for_a_batch_coupled_op(centering):
    """E of the whole batch couples the rows through the batch mean; H against central differences of the
    gradient (whole batch), HVP against H v."""
    from helpers import numeric_jacobian
    net = network(centering(WIDTH)).train()
    w0 = net.params.copy()

    def grad(w):
        net.params = w
        return bp.loss_and_grad(net, "l2", X, T)[1]
    H_fd = numeric_jacobian(grad, w0)
    net.params = w0
    H = bp.hessian(net, "l2", X, T)
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(H, H.T)
    v = np.random.default_rng(3).normal(size=net.n_params)
    np.testing.assert_allclose(bp.hvp(net, "l2", X, T, v), H @ v, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(bp.hessian_diag(net, "l2", X, T), np.diag(H), rtol=1e-9, atol=1e-10)
    # the coupling is real: the training-mode Hessian is not the evaluation-mode one
    assert not np.allclose(H, bp.hessian(net.eval(), "l2", X, T))


# ---- the estimators ---------------------------------------------------------------------------------

def test_estimator_dropout_is_validated_like_the_other_parameters():
    from backprop.sklearn import MLPClassifier, MLPRegressor
    Xc, yc = X, (X[:, 0] > 0).astype(int)
    for est in (MLPClassifier, MLPRegressor):
        for bad in (-0.1, 1.0, "0.5", None):
            with pytest.raises(bp.ConfigError, match="'dropout' parameter"):
                est(dropout=bad, max_iter=2).fit(Xc, yc)
    with pytest.raises(ValueError, match="stochastic solver"):
        MLPRegressor(dropout=0.2, solver="lbfgs").fit(Xc, yc)


def test_estimators_train_with_dropout_and_predict_without_it():
    import pickle
    import warnings
    from backprop.sklearn import MLPClassifier, MLPRegressor
    yc = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MLPClassifier((8,), dropout=0.3, max_iter=5, random_state=0).fit(X, yc)
        b = MLPClassifier((8,), dropout=0.3, max_iter=5, random_state=0).fit(X, yc)
        c = MLPClassifier((8,), dropout=0.3, max_iter=5, random_state=1).fit(X, yc)
        r = MLPRegressor(hidden_layer_sizes=(8,), dropout=0.5, max_iter=3, random_state=0).fit(X, T[:, 0])
    assert a.network_.params.tobytes() == b.network_.params.tobytes()           # reproducible for a seed
    assert a.network_.params.tobytes() != c.network_.params.tobytes()
    assert sum(op.op_name == "dropout" for op in a.network_.ops) == 1 and not a.network_.training
    assert a.network_.step == 5 * 1                                             # one batch per epoch here
    np.testing.assert_array_equal(a.predict_proba(X)[:, 1:], a.network_.predict(X))    # evaluation mode
    np.testing.assert_array_equal(a.predict_proba(X), a.predict_proba(X))
    back = pickle.loads(pickle.dumps(a))
    assert back.network_.config() == a.network_.config() and back.network_.step == a.network_.step
    np.testing.assert_array_equal(back.predict_proba(X), a.predict_proba(X))
    assert r.predict(X).shape == (6,)


def test_a_resumed_run_continues_the_buffers_and_the_step_bitwise(centering, tmp_path):
    def make():
        return bp.Network(3, [Dense(3, WIDTH), centering(WIDTH), Dropout(WIDTH, 0.5, seed=4), Dense(WIDTH, 2)],
                          seed=0)
    options = dict(batch_size=2, verbose=False, tol=None, seed=3)
    straight = make()
    bp.train(straight, "l2", X, T, epochs=4, **options)
    resumed = make()
    path = tmp_path / "run.ckpt"
    bp.train(resumed, "l2", X, T, epochs=2, checkpoint=path, **options)
    again = make()                                   # a fresh process would start from a new network
    bp.train(again, "l2", X, T, epochs=4, checkpoint=path, resume=True, **options)
    assert again.params.tobytes() == straight.params.tobytes()
    assert same_state(again, straight) and again.step == straight.step == 12
