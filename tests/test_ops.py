"""Every operation's derivatives against central differences: f', f'', JVP, VJP and the second-order terms."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.ops.activations import SCALAR_NAMES, get_activation
from backprop.ops.dense import Dense
from backprop.ops.base import At
from backprop.ops.elementwise import Elementwise
from backprop.ops.softmax import Softmax


def away_from_zero(z):
    return np.where(np.abs(z) < 1e-3, 0.1, z)


@pytest.mark.parametrize("name", SCALAR_NAMES)
def test_first_and_second_derivatives_match_central_differences(name):
    act = get_activation(name)
    z = away_from_zero(np.linspace(-4, 4, 41))
    h = 1e-5
    y = act.f(z)
    df = act.df(z, y)
    np.testing.assert_allclose(df, (act.f(z + h) - act.f(z - h)) / (2 * h), rtol=1e-8, atol=1e-9)
    d2 = act.d2f(z, y)
    num = (act.df(z + h, act.f(z + h)) - act.df(z - h, act.f(z - h))) / (2 * h)
    np.testing.assert_allclose(d2, num, rtol=1e-6, atol=1e-8)


def test_relu_subgradient_convention_at_zero():
    relu, leaky = get_activation("relu"), bp.leaky_relu(0.1)
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(relu.df(z, relu.f(z)), [0, 1, 1])
    np.testing.assert_array_equal(leaky.df(z, leaky.f(z)), [0.1, 1, 1])
    np.testing.assert_array_equal(leaky.f(z), [-0.1, 0, 2])
    assert relu.piecewise_linear and leaky.piecewise_linear and not get_activation("tanh").piecewise_linear


def test_leaky_relu_default_slope_and_named_with_options():
    assert get_activation("leaky_relu").params == {"slope": 0.01}
    assert get_activation({"name": "leaky_relu", "slope": 0.2}).f(np.array([-1.0]))[0] == -0.2


def numeric_jacobian(f, x, h=1e-6):
    """J[i, j] = d f(x)_i / d x_j for a function of one flat vector."""
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = h
        cols.append(((f(x + e) - f(x - e)) / (2 * h)).ravel())
    return np.array(cols).T


OPS = {
    "dense": lambda: Dense(3, 4),
    "tanh": lambda: Elementwise(3, "tanh"),
    "sigmoid": lambda: Elementwise(3, "sigmoid"),
    "softplus": lambda: Elementwise(3, "softplus"),
    "softmax": lambda: Softmax(3),
}


def setup_op(name, B, seed):
    rng = np.random.default_rng(seed)
    op = OPS[name]()
    p = tuple(rng.normal(size=s) for s in op.param_shapes) or None
    x = rng.normal(size=(B, op.input_width(0)))
    return op, p, x, rng


def flat_fn(op, p, x, which):
    """The op's output as a function of one flat vector: its input x, or its parameters."""
    if which == "x":
        return lambda v: op.forward([v.reshape(x.shape)], p)[0]
    sizes = [a.size for a in p]

    def f(v):
        parts = np.split(v, np.cumsum(sizes)[:-1])
        return op.forward([x], tuple(a.reshape(s.shape) for a, s in zip(parts, p)))[0]
    return f


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(OPS)), B=st.integers(1, 4), seed=st.integers(0, 1000))
def test_vjp_and_jvp_agree_with_the_numeric_jacobian(name, B, seed):
    op, p, x, rng = setup_op(name, B, seed)
    y, cache = op.forward([x], p)
    Jx = numeric_jacobian(flat_fn(op, p, x, "x"), x.ravel())
    dy = rng.normal(size=y.shape)
    gp = tuple(np.zeros_like(a) for a in p) if p else None
    dx = op.vjp(At([x], y, cache, p), dy, gp=gp, need=[True])[0]
    np.testing.assert_allclose(dx.ravel(), Jx.T @ dy.ravel(), rtol=1e-7, atol=1e-9)
    tx = rng.normal(size=(2,) + x.shape)
    tp = tuple(rng.normal(size=(2,) + a.shape) for a in p) if p else None
    ty = op.jvp(At([x], y, cache, p), [tx], tp)
    expect = np.stack([Jx @ tx[m].ravel() for m in range(2)])
    if p:
        Jp = numeric_jacobian(flat_fn(op, p, x, "p"), np.concatenate([a.ravel() for a in p]))
        np.testing.assert_allclose(np.concatenate([g.ravel() for g in gp]), Jp.T @ dy.ravel(), rtol=1e-7, atol=1e-9)
        expect += np.stack([Jp @ np.concatenate([a[m].ravel() for a in tp]) for m in range(2)])
    np.testing.assert_allclose(ty.reshape(2, -1), expect, rtol=1e-7, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(OPS)), B=st.integers(1, 3), seed=st.integers(0, 1000))
def test_second_order_terms_are_the_derivative_of_the_vjp(name, B, seed):
    """R{vjp}: d/dr vjp(dy + r tdy; x + r tx, p + r tp) at r = 0, by central differences in r."""
    op, p, x, rng = setup_op(name, B, seed)
    y, cache = op.forward([x], p)
    dy = rng.normal(size=y.shape)
    tdy, tx = rng.normal(size=(1,) + y.shape), rng.normal(size=(1,) + x.shape)
    tp = tuple(rng.normal(size=(1,) + a.shape) for a in p) if p else None

    def vjp_at(r):
        pr = tuple(a + r * t[0] for a, t in zip(p, tp)) if p else None
        xr = x + r * tx[0]
        yr, cr = op.forward([xr], pr)
        gp = tuple(np.zeros_like(a) for a in p) if p else None
        dx = op.vjp(At([xr], yr, cr, pr), dy + r * tdy[0], gp=gp, need=[True])[0]
        return np.concatenate([dx.ravel()] + ([g.ravel() for g in gp] if gp else []))

    h = 1e-6
    numeric = (vjp_at(h) - vjp_at(-h)) / (2 * h)
    ty = op.jvp(At([x], y, cache, p), [tx], tp)
    tgp = tuple(np.zeros((1,) + a.shape) for a in p) if p else None
    tdx = op.vjp_tangent(At([x], y, cache, p), dy, tdy, [tx], ty, tp, tgp=tgp, need=[True])[0]
    analytic = np.concatenate([tdx.ravel()] + ([g.ravel() for g in tgp] if tgp else []))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_softmax_jacobian_product_formula():
    """dDiv/dz_i = sum_j dDiv/dy_j y_i (delta_ij - y_j)."""
    rng = np.random.default_rng(0)
    z, g = rng.normal(size=(1, 4)), rng.normal(size=(1, 4))
    op = Softmax(4)
    y, _ = op.forward([z], None)
    J = np.diag(y[0]) - np.outer(y[0], y[0])
    np.testing.assert_allclose(op.vjp(At([z], y, None, None), g, gp=None, need=[True])[0][0], J @ g[0], rtol=1e-14)
    assert np.isfinite(op.forward([np.array([[1e4, -1e4, 0.0]])], None)[0]).all()
