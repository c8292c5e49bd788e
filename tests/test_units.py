"""The special units and the graph ops, each against finite differences away from kinks.

For every op: the VJP and JVP against the numeric Jacobian (inputs and parameters), and the
second-order terms against the central difference of the VJP (the style of test_ops.py).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.ops.elementwise import Elementwise
from backprop.ops.masked_dense import MaskedDense
from backprop.ops.maxunit import MaxUnit
from backprop.ops.product import Product
from backprop.ops.registry import op_from_config
from backprop.ops.segments import Segmented
from backprop.ops.select import Select
from backprop.ops.base import At
from backprop.ops.softmax import Softmax
from backprop.ops.vector import VectorActivation

# ---- a user vector activation, given in both ways ------------------------------------------------


def _f(z):             # y_j = z_j^2 / 2 + z_j * sum(z):  mixes all inputs
    return 0.5 * z * z + z * z.sum(axis=1, keepdims=True)


def _jac(z, y):        # dy_j/dz_i = delta_ij (z_j + s) + z_j
    n = z.shape[1]
    s = z.sum(axis=1)[:, None, None]
    return np.eye(n) * (z[:, :, None] + s) + z[:, :, None] * np.ones((1, 1, n))


def _hess(z, y):       # d2y_j/dz_i dz_k = delta_ij delta_ik + delta_ij + delta_jk
    n = z.shape[1]
    I = np.eye(n)
    H = I[:, :, None] * I[:, None, :] + I[:, :, None] + I[:, None, :]
    return np.broadcast_to(H, (z.shape[0], n, n, n))


MIX = bp.vector_activation("mix", _f, _jac, hessian=_hess)
MIX_PRODUCTS = bp.vector_activation(
    "mix_products", _f,
    jvp=lambda z, y, tz: np.einsum("bji,bi->bj", _jac(z, y), tz),
    vjp=lambda z, y, dy: np.einsum("bj,bji->bi", dy, _jac(z, y)),
    vhp=lambda z, y, dy, tz: np.einsum("bj,bjik,bk->bi", dy, _hess(z, y), tz))


# ---- generic derivative checks for an op with several inputs and parameters ------------------------

def numeric_jacobian(f, v, h=1e-6):
    cols = []
    for j in range(v.size):
        e = np.zeros_like(v)
        e[j] = h
        cols.append(((f(v + e) - f(v - e)) / (2 * h)).ravel())
    return np.array(cols).T


class Case:
    """An op at a point: inputs xs, parameters p, and flattening of (inputs, params) to one vector."""

    def __init__(self, op, xs, p):
        self.op, self.xs, self.p = op, xs, p
        self.shapes = [x.shape for x in xs] + [a.shape for a in (p or ())]
        self.sizes = [int(np.prod(s)) for s in self.shapes]

    def pack(self, xs, p):
        return np.concatenate([a.ravel() for a in list(xs) + list(p or ())])

    def unpack(self, v):
        parts = np.split(v, np.cumsum(self.sizes)[:-1])
        arrs = [a.reshape(s) for a, s in zip(parts, self.shapes)]
        k = len(self.xs)
        return arrs[:k], (tuple(arrs[k:]) if self.p is not None else None)

    def f(self, v):
        xs, p = self.unpack(v)
        return self.op.forward(xs, p)[0]

    def vjp_flat(self, v, dy):
        xs, p = self.unpack(v)
        y, c = self.op.forward(xs, p)
        gp = tuple(np.zeros_like(a) for a in p) if p is not None else None
        dxs = self.op.vjp(At(xs, y, c, p), dy, gp=gp, need=[True] * len(xs))
        return self.pack([np.zeros_like(x) if d is None else d for x, d in zip(xs, dxs)], gp)


def check_first_order(case, rng, m=2):
    v = case.pack(case.xs, case.p)
    J = numeric_jacobian(case.f, v)
    y, cache = case.op.forward(case.xs, case.p)
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(case.vjp_flat(v, dy), J.T @ dy.ravel(), rtol=1e-7, atol=1e-8)
    t = rng.normal(size=(m, v.size))
    txs = [np.stack([case.unpack(t[k])[0][i] for k in range(m)]) for i in range(len(case.xs))]
    tp = (tuple(np.stack([case.unpack(t[k])[1][i] for k in range(m)]) for i in range(len(case.p)))
          if case.p is not None else None)
    ty = case.op.jvp(At(case.xs, y, cache, case.p), txs, tp)
    np.testing.assert_allclose(ty.reshape(m, -1), t @ J.T, rtol=1e-7, atol=1e-8)


def check_second_order(case, rng):
    """R{vjp} = d/dr vjp(dy + r tdy; v + r t) at r = 0, by central differences in r."""
    v = case.pack(case.xs, case.p)
    y, cache = case.op.forward(case.xs, case.p)
    dy, tdy, t = rng.normal(size=y.shape), rng.normal(size=(1,) + y.shape), rng.normal(size=v.size)
    h = 1e-6
    numeric = (case.vjp_flat(v + h * t, dy + h * tdy[0]) - case.vjp_flat(v - h * t, dy - h * tdy[0])) / (2 * h)
    txs_, tp_ = case.unpack(t)
    txs = [a[None] for a in txs_]
    tp = tuple(a[None] for a in tp_) if tp_ is not None else None
    ty = case.op.jvp(At(case.xs, y, cache, case.p), txs, tp)
    tgp = tuple(np.zeros((1,) + a.shape) for a in case.p) if case.p is not None else None
    tdx = case.op.vjp_tangent(At(case.xs, y, cache, case.p), dy, tdy, txs, ty, tp, tgp=tgp, need=[True] * len(case.xs))
    analytic = case.pack([np.zeros_like(x) if d is None else d[0] for x, d in zip(case.xs, tdx)],
                         tuple(g[0] for g in tgp) if tgp is not None else None)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


def make_case(name, B, rng):
    if name == "masked_dense":
        op = MaskedDense([3, 2], 3, src=[0, 0, 0, 1, 1], row=[0, 2, 2, 1, 2], col=[0, 1, 2, 0, 1], bias_rows=[0, 2])
        xs = [rng.normal(size=(B, 3)), rng.normal(size=(B, 2))]
        p = tuple(rng.normal(size=s) for s in op.param_shapes)
    elif name == "masked_dense_full":      # a complete block: weights used in place
        op = MaskedDense([2], 3, src=[0] * 6, row=[0, 0, 1, 1, 2, 2], col=[0, 1] * 3, bias_rows=[0, 1, 2])
        assert op.blocks[0].full
        xs = [rng.normal(size=(B, 2))]
        p = tuple(rng.normal(size=s) for s in op.param_shapes)
    elif name in ("product", "product_general"):
        alpha = [1, 1, 1, 1, 1] if name == "product" else [2, -1, 0.5, 3, 1.5]
        op = Product([2, 3], unit=[0, 0, 1, 1, 1], src=[0, 1, 0, 1, 1], col=[1, 0, 0, 2, 1], alpha=alpha)
        xs = [rng.uniform(0.5, 2.0, size=(B, 2)) * (1 if name != "product" else rng.choice([-1, 1], (B, 2))),
              rng.uniform(0.5, 2.0, size=(B, 3))]
        p = None
    elif name == "max":
        op = MaxUnit([2, 3], unit=[0, 0, 0, 1, 1], src=[0, 1, 1, 0, 1], col=[0, 0, 2, 1, 1])
        xs = [rng.permutation(np.linspace(-2, 2, B * 2)).reshape(B, 2) + 0.01,
              rng.permutation(np.linspace(-1.9, 2.1, B * 3)).reshape(B, 3)]     # distinct: no ties
        p = None
    elif name == "select":
        op = Select([2, 3], src=[1, 0, 1, 1], col=[2, 1, 0, 2])     # a column picked twice
        xs = [rng.normal(size=(B, 2)), rng.normal(size=(B, 3))]
        p = None
    elif name in ("vector", "vector_jvp"):
        op = VectorActivation(3, MIX if name == "vector" else MIX_PRODUCTS)
        xs, p = [rng.normal(size=(B, 3))], None
    elif name == "segments":
        op = Segmented(6, [(0, 2, Elementwise(2, "tanh")), (2, 4, Softmax(2)), (4, 5, Elementwise(1, "identity")),
                           (5, 6, VectorActivation(1, MIX))])
        xs, p = [rng.normal(size=(B, 6))], None
    return Case(op, xs, p)


NAMES = ["masked_dense", "masked_dense_full", "product", "product_general", "max", "select", "vector",
         "vector_jvp", "segments"]


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(NAMES), B=st.integers(1, 4), seed=st.integers(0, 1000))
def test_vjp_and_jvp_match_the_numeric_jacobian(name, B, seed):
    rng = np.random.default_rng(seed)
    check_first_order(make_case(name, B, rng), rng)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(NAMES), B=st.integers(1, 3), seed=st.integers(0, 1000))
def test_second_order_terms_are_the_derivative_of_the_vjp(name, B, seed):
    rng = np.random.default_rng(seed)
    check_second_order(make_case(name, B, rng), rng)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_rebuilds_the_same_op(name):
    rng = np.random.default_rng(0)
    case = make_case(name, 2, rng)
    again = op_from_config(case.op.config())
    np.testing.assert_array_equal(again.forward(case.xs, case.p)[0], case.op.forward(case.xs, case.p)[0])


# ---- the formulas of the derivation, exactly ------------------------------------------------------

def test_multiplicative_unit_backward_is_the_other_factor():
    """o = y_j y_l:  dE/dy_j = y_l dE/do,  dE/dy_l = y_j dE/do."""
    op = Product([2], unit=[0, 0], src=[0, 0], col=[0, 1])
    Y = np.array([[3.0, -2.0], [0.0, 5.0]])
    o, cache = op.forward([Y], None)
    np.testing.assert_array_equal(o[:, 0], [-6.0, 0.0])
    do = np.array([[0.5], [2.0]])
    dY = op.vjp(At([Y], o, cache, None), do, gp=None, need=[True])[0]
    np.testing.assert_array_equal(dY, [[-2.0 * 0.5, 3.0 * 0.5], [5.0 * 2.0, 0.0 * 2.0]])


def test_general_product_derivative_formula():
    """dy_i/dz_j = alpha_j z_j^(alpha_j - 1) prod_{l != j} z_l^alpha_l."""
    alpha = np.array([2.0, -1.0, 0.5])
    z = np.array([[1.5, 0.8, 2.0]])
    op = Product([3], unit=[0, 0, 0], src=[0, 0, 0], col=[0, 1, 2], alpha=alpha)
    y, cache = op.forward([z], None)
    assert y[0, 0] == pytest.approx(np.prod(z[0] ** alpha))
    g = op.vjp(At([z], y, cache, None), np.ones((1, 1)), gp=None, need=[True])[0][0]
    for j in range(3):
        others = np.prod([z[0, l] ** alpha[l] for l in range(3) if l != j])
        assert g[j] == pytest.approx(alpha[j] * z[0, j] ** (alpha[j] - 1) * others, rel=1e-14)


def test_product_with_a_zero_factor_has_finite_derivatives():
    op = Product([3], unit=[0, 0, 0], src=[0, 0, 0], col=[0, 1, 2], alpha=[1, 2, 1])
    z = np.array([[0.0, 0.0, 3.0]])
    y, cache = op.forward([z], None)
    g = op.vjp(At([z], y, cache, None), np.ones((1, 1)), gp=None, need=[True])[0]
    np.testing.assert_array_equal(g, [[0.0, 0.0, 0.0]])
    tz = np.array([[[1.0, 1.0, 1.0]]])
    ty = op.jvp(At([z], y, cache, None), [tz], None)
    tdx = op.vjp_tangent(At([z], y, cache, None), np.ones((1, 1)), None, [tz], ty, None, tgp=None, need=[True])[0]
    assert np.all(np.isfinite(tdx))
    # every second derivative of z1 z2^2 z3 has a factor z1 or z2, both 0 here
    np.testing.assert_allclose(tdx[0, 0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("alpha, z, rule", [(0.5, -1.0, "> 0"), (1.5, 0.0, "> 0"), (-1.0, 0.0, "!= 0")])
def test_product_outside_its_domain_names_the_unit(alpha, z, rule):
    op = Product([2], unit=[0, 0], src=[0, 0], col=[0, 1], alpha=[1.0, alpha], names=["gate"])
    with pytest.raises(bp.InputError, match=rf"product 'gate'.*needs inputs {rule}"):
        op.forward([np.array([[2.0, z]])], None)


def test_product_rejects_zero_exponent():
    with pytest.raises(bp.ConfigError, match="non-zero"):
        Product([2], unit=[0, 0], src=[0, 0], col=[0, 1], alpha=[1.0, 0.0])


def test_max_subgradient_goes_to_the_argmax_and_ties_to_the_first_listed():
    # unit 0 reads columns (2, 0, 1); unit 1 reads (1, 2)
    op = MaxUnit([3], unit=[0, 0, 0, 1, 1], src=[0] * 5, col=[2, 0, 1, 1, 2])
    Z = np.array([[1.0, 5.0, 5.0],      # unit 0 reads 5, 1, 5: the tie goes to col 2 (listed first); unit 1 -> col 1
                  [7.0, 7.0, 7.0]])     # all tied: unit 0 -> col 2, unit 1 -> col 1 (listed first)
    x, win = op.forward([Z], None)
    np.testing.assert_array_equal(x, [[5.0, 5.0], [7.0, 7.0]])
    dZ = op.vjp(At([Z], x, win, None), np.array([[1.0, 10.0], [1.0, 10.0]]), gp=None, need=[True])[0]
    np.testing.assert_array_equal(dZ, [[0.0, 10.0, 1.0], [0.0, 10.0, 1.0]])


def test_max_of_clear_winner_routes_gradient_only_there():
    op = MaxUnit([4], unit=[0, 0, 0, 0], src=[0] * 4, col=[0, 1, 2, 3])
    Z = np.array([[0.1, -3.0, 2.5, 2.4]])
    x, win = op.forward([Z], None)
    assert x[0, 0] == 2.5
    np.testing.assert_array_equal(op.vjp(At([Z], x, win, None), np.array([[2.0]]), gp=None, need=[True])[0], [[0, 0, 2.0, 0]])


def test_softmax_group_and_user_vector_activation_agree_with_the_derivation():
    """A user vector activation given by its Jacobian equals softmax when f is softmax."""
    def sm(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    user = bp.vector_activation("my_softmax", sm,
                                jacobian=lambda z, y: y[:, :, None] * (np.eye(z.shape[1]) - y[:, None, :]))
    rng = np.random.default_rng(2)
    z, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    a, b = VectorActivation(4, user), Softmax(4)
    ya, ca = a.forward([z], None)
    yb, cb = b.forward([z], None)
    np.testing.assert_allclose(ya, yb, rtol=1e-14)
    np.testing.assert_allclose(a.vjp(At([z], ya, ca, None), g, gp=None, need=[True])[0],
                               b.vjp(At([z], yb, cb, None), g, gp=None, need=[True])[0], rtol=1e-12, atol=1e-15)


def test_vector_activation_without_second_derivatives_says_what_to_pass():
    fn = bp.vector_activation("first_only", _f, _jac)
    op = VectorActivation(3, fn)
    z = np.ones((1, 3))
    y, J = op.forward([z], None)
    with pytest.raises(bp.ConfigError, match="hessian= or vhp="):
        op.vjp_tangent(At([z], y, J, None), np.ones((1, 3)), None, [np.ones((1, 1, 3))], None, None, tgp=None, need=[True])


def test_vector_activation_needs_a_jacobian_or_both_products():
    with pytest.raises(bp.ConfigError, match="jacobian=, or both jvp= and vjp="):
        bp.vector_activation("broken", _f, jvp=lambda z, y, t: t)
    with pytest.raises(bp.ConfigError, match="other than 'softmax'"):
        bp.vector_activation("softmax", _f, _jac)


def test_vector_activation_with_wrong_output_shape_is_reported():
    fn = bp.vector_activation("bad_shape", lambda z: z[:, :1], lambda z, y: None)
    with pytest.raises(bp.ConfigError, match="'bad_shape': f returned shape"):
        VectorActivation(3, fn).forward([np.ones((2, 3))], None)


def test_relu_and_leaky_relu_subgradient_at_zero_inside_a_graph():
    """f'(0) = 1 for relu and leaky relu (the convention of the notes): dE/dx = dE/dy at x = 0."""
    for act in ("relu", bp.leaky_relu(0.1)):
        g = bp.NeuronGraph()
        x = g.input("x")
        h = g.neuron("h", act, bias=False)
        o = g.neuron("o", output=True, bias=False)
        g.connect(x, h, 1.0)
        g.connect(h, o, 2.0)
        tr = bp.trace(g, [0.0], [1.0], loss="l2")
        assert tr.nodes["h"]["x"] == 0.0
        assert tr.nodes["h"]["dE/dx"] == tr.nodes["h"]["dE/dy"] == 2.0 * (0.0 - 1.0)


def test_float32_ops_keep_float32():
    rng = np.random.default_rng(0)
    for name in NAMES:
        case = make_case(name, 2, rng)
        xs = [x.astype(np.float32) for x in case.xs]
        p = tuple(a.astype(np.float32) for a in case.p) if case.p is not None else None
        y, _ = case.op.forward(xs, p)
        assert y.dtype == np.float32, name
