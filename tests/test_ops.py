"""Scalar activations' f' and f'' against central differences, and the softmax formula (the generic op
checks are the rows of test_op_contract.py)."""
import numpy as np
import pytest

import backprop as bp
from backprop.ops.activations import SCALAR_NAMES, get_activation
from backprop.ops.base import At
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


def test_softmax_jacobian_product_formula():
    """dDiv/dz_i = sum_j dDiv/dy_j y_i (delta_ij - y_j)."""
    rng = np.random.default_rng(0)
    z, g = rng.normal(size=(1, 4)), rng.normal(size=(1, 4))
    op = Softmax(4)
    y, _ = op.forward([z], None)
    J = np.diag(y[0]) - np.outer(y[0], y[0])
    np.testing.assert_allclose(op.vjp(At([z], y, None, None), g, gp=None, need=[True])[0][0], J @ g[0], rtol=1e-14)
    assert np.isfinite(op.forward([np.array([[1e4, -1e4, 0.0]])], None)[0]).all()
