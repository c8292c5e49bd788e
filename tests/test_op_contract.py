"""The op contract, checked by one harness over one table of settings rows (BackPACK style).

Each row is (id, op factory, input factory); the harness checks, for every row, in float64:
the VJP and JVP against the numeric Jacobian over inputs and parameters (of the whole batch, so an
op whose rows depend on each other, BatchNorm in training mode, is checked as it is), ``vjp_tangent`` against
the directional derivative of the VJP, and the config round trip; and that the op computes in
float32. Every op in the registry and every registered scalar activation must have a row.
"""
from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from backprop.ops.activations import ACTIVATIONS
from backprop.ops.base import At, Op
from backprop.ops.dense import Dense
from backprop.ops.dropout import Dropout
from backprop.ops.elementwise import Elementwise
from backprop.ops.masked_dense import MaskedDense
from backprop.ops.maxunit import MaxUnit
from backprop.ops.normalization import BatchNorm, LayerNorm
from backprop.ops.product import Product
from backprop.ops.registry import load_ops, op_from_config
from backprop.ops.rrelu import RReLU
from backprop.ops.segments import Segmented
from backprop.ops.select import Select
from backprop.ops.softmax import Softmax
from backprop.ops.user_functions import resolve, used_by
from backprop.ops.vector import VectorActivation
from helpers import numeric_jacobian
from test_units import MIX, MIX_PRODUCTS


class Row(NamedTuple):
    id: str
    op: Callable[[], Op]
    inputs: Callable              # (op, B, rng) -> xs


def training(op, step=3):
    """The op in training mode at network step ``step`` (an op with modes starts in evaluation mode)."""
    op.training, op.step = True, step
    return op


def normal(op, B, rng):
    """One normal input per input node, away from the kinks of relu-like units."""
    xs = [rng.normal(size=(B, op.input_width(k))) for k in range(op.arity)]
    return [np.where(np.abs(x) < 0.05, 0.3, x) for x in xs]


def positive_factors(signs):
    def make(op, B, rng):
        return [rng.uniform(0.5, 2.0, size=(B, 2)) * (rng.choice([-1, 1], (B, 2)) if signs else 1),
                rng.uniform(0.5, 2.0, size=(B, 3))]
    return make


def distinct(op, B, rng):          # no ties in a max
    return [rng.permutation(np.linspace(-2, 2, B * 2)).reshape(B, 2) + 0.01,
            rng.permutation(np.linspace(-1.9, 2.1, B * 3)).reshape(B, 3)]


def training(op):
    op.training = True
    return op


def with_running_stats(op):
    """An evaluation-mode BatchNorm with running statistics away from their initial zeros and ones."""
    rng = np.random.default_rng(5)
    op.state["running_mean"][...] = rng.normal(size=op.size)
    op.state["running_var"][...] = rng.uniform(0.5, 2.0, op.size)
    return op


def batch(op, B, rng):
    """At least 2 samples (batch statistics), spread apart so that no feature's variance is near 0."""
    return normal(op, max(B, 2), rng)


ROWS = [
    Row("dense", lambda: Dense(3, 4), normal),
    Row("dense_he", lambda: Dense(2, 3, init="he"), normal),
    *[Row(f"activation_{name}", lambda name=name: Elementwise(3, name), normal) for name in ACTIVATIONS.names()],
    Row("activation_leaky_relu_0.2", lambda: Elementwise(3, {"name": "leaky_relu", "slope": 0.2}), normal),
    Row("softmax", lambda: Softmax(3), normal),
    Row("masked_dense", lambda: MaskedDense([3, 2], 3, src=[0, 0, 0, 1, 1], row=[0, 2, 2, 1, 2], col=[0, 1, 2, 0, 1],
                                            bias_rows=[0, 2]), normal),
    Row("masked_dense_full", lambda: MaskedDense([2], 3, src=[0] * 6, row=[0, 0, 1, 1, 2, 2], col=[0, 1] * 3,
                                                 bias_rows=[0, 1, 2]), normal),
    Row("product", lambda: Product([2, 3], unit=[0, 0, 1, 1, 1], src=[0, 1, 0, 1, 1], col=[1, 0, 0, 2, 1]),
        positive_factors(signs=True)),
    Row("product_general", lambda: Product([2, 3], unit=[0, 0, 1, 1, 1], src=[0, 1, 0, 1, 1], col=[1, 0, 0, 2, 1],
                                           alpha=[2, -1, 0.5, 3, 1.5]), positive_factors(signs=False)),
    Row("max", lambda: MaxUnit([2, 3], unit=[0, 0, 0, 1, 1], src=[0, 1, 1, 0, 1], col=[0, 0, 2, 1, 1]), distinct),
    Row("select", lambda: Select([2, 3], src=[1, 0, 1, 1], col=[2, 1, 0, 2]), normal),
    Row("vector_activation", lambda: VectorActivation(3, MIX), normal),
    Row("vector_activation_products", lambda: VectorActivation(3, MIX_PRODUCTS), normal),
    Row("dropout", lambda: Dropout(3, p=0.4, seed=1), normal),
    Row("dropout_training", lambda: training(Dropout(3, p=0.4, seed=1)), normal),
    Row("rrelu", lambda: RReLU(3), normal),
    Row("rrelu_training", lambda: training(RReLU(3, lower=0.1, upper=0.6, seed=2)), normal),
    Row("segments", lambda: Segmented(6, [(0, 2, Elementwise(2, "tanh")), (2, 4, Softmax(2)),
                                          (4, 5, Elementwise(1, "identity")), (5, 6, VectorActivation(1, MIX))]),
        normal),
    Row("layer_norm", lambda: LayerNorm(4), normal),
    Row("layer_norm_no_affine", lambda: LayerNorm(3, eps=1e-3, elementwise_affine=False), normal),
    Row("batch_norm_train", lambda: training(BatchNorm(3)), batch),
    Row("batch_norm_eval", lambda: with_running_stats(BatchNorm(3, momentum=0.2)), normal),
]
BY_ID = {r.id: r for r in ROWS}


class Case:
    """An op at a point: inputs xs, parameters p, and (inputs, params) flattened to one vector."""

    def __init__(self, row, B, rng, dtype=np.float64):
        self.op = row.op()
        self.xs = [x.astype(dtype) for x in row.inputs(self.op, B, rng)]
        self.p = tuple(rng.normal(size=s).astype(dtype) for s in self.op.param_shapes) or None
        self.shapes = [x.shape for x in self.xs] + [a.shape for a in (self.p or ())]
        self.sizes = [int(np.prod(s)) for s in self.shapes]

    def pack(self, xs, p):
        return np.concatenate([a.ravel() for a in list(xs) + list(p or ())])

    def unpack(self, v):
        arrs = [a.reshape(s) for a, s in zip(np.split(v, np.cumsum(self.sizes)[:-1]), self.shapes)]
        k = len(self.xs)
        return arrs[:k], (tuple(arrs[k:]) if self.p is not None else None)

    def f(self, v):
        xs, p = self.unpack(v)
        return self.op.forward(xs, p)[0]

    def vjp_flat(self, v, dy):
        xs, p = self.unpack(v)
        y, c = self.op.forward(xs, p)
        gp = tuple(np.full_like(a, np.nan) for a in p) if p is not None else None     # overwritten, never read
        dxs = self.op.vjp(At(xs, y, c, p), dy, gp=gp, need=[True] * len(xs))
        return self.pack([np.zeros_like(x) if d is None else d for x, d in zip(xs, dxs)], gp)

    def split_directions(self, t):
        """Rows of t (m, size) as input tangents [(m, B, w)] and parameter tangents ((m, *shape))."""
        m = t.shape[0]
        parts = [self.unpack(t[k]) for k in range(m)]
        txs = [np.stack([parts[k][0][i] for k in range(m)]) for i in range(len(self.xs))]
        tp = tuple(np.stack([parts[k][1][i] for k in range(m)]) for i in range(len(self.p))) if self.p else None
        return txs, tp


def check_vjp_and_jvp(row, B, seed):
    """VJP and JVP against the numeric Jacobian of the whole batch (rows may depend on each other)."""
    rng = np.random.default_rng(seed)
    case = Case(row, B, rng)
    v = case.pack(case.xs, case.p)
    J = numeric_jacobian(case.f, v)
    y, cache = case.op.forward(case.xs, case.p)
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(case.vjp_flat(v, dy), J.T @ dy.ravel(), rtol=1e-7, atol=1e-8)
    t = rng.normal(size=(2, v.size))
    txs, tp = case.split_directions(t)
    ty = case.op.jvp(At(case.xs, y, cache, case.p), txs, tp)
    np.testing.assert_allclose(ty.reshape(2, -1), t @ J.T, rtol=1e-7, atol=1e-8)


def check_vjp_tangent(row, B, seed):
    """R{vjp} = d/dr vjp(dy + r tdy; v + r t) at r = 0, by central differences in r."""
    rng = np.random.default_rng(seed)
    case = Case(row, B, rng)
    v = case.pack(case.xs, case.p)
    y, cache = case.op.forward(case.xs, case.p)
    dy, tdy, t = rng.normal(size=y.shape), rng.normal(size=(1,) + y.shape), rng.normal(size=(1, v.size))
    h = 1e-6
    numeric = (case.vjp_flat(v + h * t[0], dy + h * tdy[0]) - case.vjp_flat(v - h * t[0], dy - h * tdy[0])) / (2 * h)
    txs, tp = case.split_directions(t)
    at = At(case.xs, y, cache, case.p)
    ty = case.op.jvp(at, txs, tp)
    tgp = tuple(np.full((1,) + a.shape, np.nan) for a in case.p) if case.p is not None else None   # overwritten
    tdx = case.op.vjp_tangent(at, dy, tdy, txs, ty, tp, tgp=tgp, need=[True] * len(case.xs))
    analytic = case.pack([np.zeros_like(x) if d is None else d[0] for x, d in zip(case.xs, tdx)],
                         tuple(g[0] for g in tgp) if tgp is not None else None)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(row=st.sampled_from(ROWS), B=st.integers(1, 4), seed=st.integers(0, 1000))
def test_vjp_and_jvp_match_the_numeric_jacobian(row, B, seed):
    check_vjp_and_jvp(row, B, seed)


@settings(max_examples=60, deadline=None)
@given(row=st.sampled_from(ROWS), B=st.integers(1, 3), seed=st.integers(0, 1000))
def test_vjp_tangent_is_the_directional_derivative_of_the_vjp(row, B, seed):
    check_vjp_tangent(row, B, seed)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_every_row_passes_the_derivative_checks_at_a_fixed_point(row):
    """The sampled rows above may miss a row in a run: each is also checked once at a fixed point."""
    check_vjp_and_jvp(row, 3, 0)
    check_vjp_tangent(row, 3, 0)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_config_round_trip_rebuilds_the_same_op(row):
    case = Case(row, 2, np.random.default_rng(0))
    again = op_from_config(resolve(case.op.config(), used_by([case.op])))   # user functions are passed, not stored
    assert type(again) is type(case.op) and again.config() == case.op.config()
    assert not again.training           # the mode is not part of the description: a rebuilt op evaluates
    # nor are the step and the buffers (a model file stores them beside the parameters): carry them over
    again.training, again.step = case.op.training, case.op.step
    if case.op.state_specs:
        again.state = {k: v.copy() for k, v in case.op.state.items()}
    np.testing.assert_array_equal(again.forward(case.xs, case.p)[0], case.op.forward(case.xs, case.p)[0])


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_float32_in_float32_out_close_to_float64(row):
    c64 = Case(row, 3, np.random.default_rng(1))
    c32 = Case(row, 3, np.random.default_rng(1), dtype=np.float32)
    y64, k64 = c64.op.forward(c64.xs, c64.p)
    y32, k32 = c32.op.forward(c32.xs, c32.p)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    dy = np.random.default_rng(2).normal(size=y64.shape)
    gp = tuple(np.empty_like(a) for a in c32.p) if c32.p else None
    dxs = c32.op.vjp(At(c32.xs, y32, k32, c32.p), dy.astype(np.float32), gp=gp, need=[True] * len(c32.xs))
    ref = c64.op.vjp(At(c64.xs, y64, k64, c64.p), dy, gp=None, need=[True] * len(c64.xs))
    own = not isinstance(c32.op, VectorActivation)        # a user vector function chooses its own dtype
    for d32, d64 in zip(dxs, ref):
        if d64 is not None:
            assert d32.dtype == np.float32 or not own
            np.testing.assert_allclose(d32, d64, rtol=1e-3, atol=1e-4)


def test_every_registered_op_and_activation_has_a_row():
    covered = {r.op().op_name for r in ROWS}
    assert set(load_ops().names()) <= covered, set(load_ops().names()) - covered
    acts = {r.op().act.name for r in ROWS if isinstance(r.op(), Elementwise)}
    assert set(ACTIVATIONS.names()) <= acts


def test_the_op_lookup_finds_every_op_of_the_ops_package():
    """Every Op subclass defined in a module of backprop.ops is registered (the lookup imports them all)."""
    import importlib
    import pkgutil

    import backprop.ops as package
    registry = load_ops()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"backprop.ops.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Op) and obj is not Op and obj.__module__ == module.__name__:
                assert obj.op_name in registry and registry.get(obj.op_name) is obj, obj


def test_a_fresh_interpreter_loads_an_op_that_nothing_imported(tmp_path):
    """The registry imports the ops package itself: a model naming any op loads in a new process."""
    import subprocess
    import sys
    code = ("import sys; import backprop.ops.registry as r; sys.modules.pop('backprop.ops.maxunit', None); "
            "r._loaded = False; del r.OPS._members['max']; print(r.op_type('max').__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "MaxUnit"
