"""The special units and the graph ops: the formulas of the derivation, exactly.

The generic derivative checks of every op (VJP, JVP, second-order terms, config round trip) are
the settings rows of test_op_contract.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings

import backprop as bp
from backprop.ops.maxunit import MaxUnit
from backprop.ops.product import Product
from backprop.ops.base import At
from backprop.ops.softmax import Softmax
from backprop.ops.vector import VectorActivation

# ---- a user vector activation, given in both ways (also used by test_op_contract.py) -------------


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
