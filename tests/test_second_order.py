"""Uses of the second derivatives: Newton-type training through scipy.optimize, the Laplace approximation."""
import numpy as np
import pytest

import backprop as bp


def regression_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    return X, np.sin(3 * X) + 0.05 * rng.normal(size=(n, 1))


# ---- bp.minimize --------------------------------------------------------------------------------

def test_trust_ncg_beats_sgd_with_fewer_iterations():
    X, T = regression_data()
    sgd_net = bp.MLP([1, 8, 1], hidden="tanh", output="identity", seed=0)
    newton_net = bp.MLP([1, 8, 1], hidden="tanh", output="identity", seed=0)
    start = bp.loss_and_grad(sgd_net, "l2", X, T)[0]
    epochs, batch = 100, 10
    bp.train(sgd_net, "l2", X, T, optimizer="sgd", lr=0.1, batch_size=batch, epochs=epochs, tol=None,
             verbose=False)
    sgd_updates = epochs * len(X) // batch                        # 400 gradient steps
    sgd_loss = bp.loss_and_grad(sgd_net, "l2", X, T)[0]
    res = bp.minimize(newton_net, "l2", X, T, method="trust-ncg", maxiter=40)
    newton_loss = bp.loss_and_grad(newton_net, "l2", X, T)[0]
    assert sgd_loss < start                                       # SGD did learn, just more slowly
    assert res.nit <= 40 < sgd_updates
    assert newton_loss < 0.5 * sgd_loss
    # even counting every gradient and Hessian-vector product, fewer passes than SGD's steps
    assert res.nfev + res.nhvp < sgd_updates
    assert newton_loss == pytest.approx(res.fun, rel=1e-12)
    np.testing.assert_array_equal(newton_net.params, res.x)


@pytest.mark.parametrize("method", ["trust-ncg", "trust-krylov", "newton-cg", "trust-exact", "L-BFGS-B", "BFGS",
                                    "CG"])
def test_every_method_lowers_the_loss_and_leaves_the_best_parameters(method):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 2)), rng.integers(0, 3, 30)
    net = bp.MLP([2, 5, 3], hidden="tanh", output="softmax", seed=0)
    loss = bp.get_loss("cross_entropy", l2=1e-3)
    before = bp.loss_and_grad(net, loss, X, y)[0]
    res = bp.minimize(net, loss, X, y, method=method, maxiter=30)
    after, grad = bp.loss_and_grad(net, loss, X, y)
    assert after < 0.7 * before
    assert after == pytest.approx(res.fun, rel=1e-12)
    assert ("nhvp" in res) and (res.nhvp > 0) == (method in ("trust-ncg", "trust-krylov", "newton-cg"))


def test_minimize_float32_network():
    X, T = regression_data(seed=2)
    net = bp.MLP([1, 6, 1], hidden="tanh", output="identity", seed=0, dtype=np.float32)
    before = bp.loss_and_grad(net, "l2", X, T)[0]
    res = bp.minimize(net, "l2", X, T, maxiter=20)
    assert net.params.dtype == np.float32 and res.fun < 0.2 * before


def test_minimize_rejects_bad_options_before_changing_anything():
    X, T = regression_data()
    net = bp.MLP([1, 4, 1], hidden="tanh", output="identity", seed=0)
    w0 = net.params.copy()
    with pytest.raises(bp.ConfigError, match="unknown method"):
        bp.minimize(net, "l2", X, T, method="sgd")
    with pytest.raises(bp.ConfigError, match="maxiter"):
        bp.minimize(net, "l2", X, T, maxiter=0)
    with pytest.raises(bp.ConfigError, match="tol"):
        bp.minimize(net, "l2", X, T, tol=-1)
    with pytest.raises(bp.InputError):
        bp.minimize(net, "l2", X, T[:-1])

    def stop(*args):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        bp.minimize(net, "l2", X, T, method="L-BFGS-B", callback=stop)
    np.testing.assert_array_equal(net.params, w0)


# ---- bp.Laplace ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_regression():
    X, T = regression_data(n=30, seed=3)
    net = bp.MLP([1, 10, 1], hidden="tanh", output="identity", seed=1)
    bp.minimize(net, bp.get_loss("l2", l2=1e-3), X, T, method="trust-ncg", maxiter=100)
    return net, X, T


@pytest.mark.parametrize("hessian, structure", [("exact", "full"), ("gauss_newton", "full"),
                                                ("gauss_newton", "diag"), ("exact", "diag")])
def test_predictive_variance_grows_away_from_the_training_data(trained_regression, hessian, structure):
    net, X, T = trained_regression
    la = bp.Laplace(net, bp.get_loss("l2", l2=1e-3), X, T, prior_precision=1.0, hessian=hessian,
                    structure=structure, noise_variance=0.05 ** 2)
    inside = np.linspace(-0.9, 0.9, 19)[:, None]
    mean_in, var_in = la.predict(inside, return_var=True)
    np.testing.assert_allclose(mean_in, net.predict(inside))      # the mean is the trained network
    model_in = var_in[:, 0] - la.noise_variance                   # the part from the weights' uncertainty
    assert np.all(model_in > 0)
    out = np.array([[-4.0], [-2.5], [-1.5], [1.5], [2.5], [4.0]])
    model_out = la.predict(out, return_var=True)[1][:, 0] - la.noise_variance
    # it keeps growing with the distance from the data, on both sides
    assert model_out[0] > model_out[1] > model_out[2] > model_in[0]
    assert model_out[5] > model_out[4] > model_out[3] > model_in[-1]
    # far out it exceeds everything inside, by far with the full covariance (the diagonal misses
    # the correlations between weights, so it grows less)
    factor = 50 if structure == "full" else 2
    assert min(model_out[0], model_out[5]) > factor * model_in.max()


def test_posterior_precision_is_the_hessian_of_the_summed_regularised_loss(trained_regression):
    net, X, T = trained_regression
    B, lam, alpha, s2 = len(X), 1e-3, 2.0, 0.1
    la = bp.Laplace(net, bp.get_loss("l2", l2=lam), X, T, prior_precision=alpha, noise_variance=s2)
    H = bp.hessian(net, bp.get_loss("l2", l2=lam), X, T)          # of the batch-MEAN training loss
    expect = B / s2 * H + alpha * np.eye(net.n_params)
    np.testing.assert_allclose(la.precision_, expect, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(la.covariance_ @ la.precision_, np.eye(net.n_params), atol=1e-8)
    d = bp.Laplace(net, bp.get_loss("l2", l2=lam), X, T, prior_precision=alpha, noise_variance=s2, structure="diag")
    np.testing.assert_allclose(d.precision_, np.diag(expect), rtol=1e-12)
    # the function covariance is J Sigma J^T with the parameter Jacobian of the output
    x = np.array([[0.3], [1.7]])
    J = bp.jacobian(net, x, wrt="params")[:, 0, :]
    np.testing.assert_allclose(la.function_covariance(x)[:, 0, 0], np.einsum("nw,wv,nv->n", J, la.covariance_, J),
                               rtol=1e-10)


def test_laplace_keeps_its_own_copy_of_the_mode(trained_regression):
    net, X, T = trained_regression
    la = bp.Laplace(net, "l2", X, T, hessian="gauss_newton")
    x = np.array([[0.5]])
    before = la.predict(x)
    other = net.copy()
    other.params[:] += 1.0
    np.testing.assert_array_equal(la.predict(x), before)
    np.testing.assert_array_equal(la.mode_, net.params)


def test_probit_classification_is_less_confident_than_the_mode():
    X, y = bp.datasets.moons(n_samples=80, noise=0.15, seed=0)
    net = bp.MLP([2, 8, 1], hidden="tanh", output="sigmoid", seed=0)
    bp.minimize(net, bp.get_loss("bce", l2=1e-3), X, y, maxiter=60)
    la = bp.Laplace(net, bp.get_loss("bce", l2=1e-3), X, y, prior_precision=1.0, hessian="gauss_newton")
    grid = np.random.default_rng(0).uniform(-6, 6, size=(50, 2))
    p_map = net.predict(grid)
    p, var = la.predict(grid, return_var=True)
    assert np.all(var > 0)
    # sigmoid(kappa z) with 0 < kappa <= 1 lies between 1/2 and sigmoid(z)
    assert np.all(np.abs(p - 0.5) <= np.abs(p_map - 0.5) + 1e-15)
    assert np.mean(np.abs(p - 0.5)) < np.mean(np.abs(p_map - 0.5))

    Xm, ym = bp.datasets.spirals(n_samples=60, n_classes=3, noise=0.1, seed=0)
    net3 = bp.MLP([2, 8, 3], hidden="tanh", output="softmax", seed=0)
    bp.minimize(net3, "cross_entropy", Xm, ym, maxiter=40)
    la3 = bp.Laplace(net3, "cross_entropy", Xm, ym, prior_precision=1.0, hessian="gauss_newton", structure="diag")
    p3 = la3.predict(grid)
    np.testing.assert_allclose(p3.sum(axis=1), 1, rtol=1e-12)
    assert np.mean(p3.max(axis=1)) < np.mean(net3.predict(grid).max(axis=1))


def test_laplace_errors():
    X, T = regression_data(n=10)
    net = bp.MLP([1, 4, 1], hidden="tanh", output="identity", seed=0)
    with pytest.raises(bp.ConfigError, match="structure"):
        bp.Laplace(net, "l2", X, T, structure="kron")
    with pytest.raises(bp.ConfigError, match="hessian"):
        bp.Laplace(net, "l2", X, T, hessian="fisher")
    with pytest.raises(bp.ConfigError, match="prior_precision"):
        bp.Laplace(net, "l2", X, T, prior_precision=0)
    with pytest.raises(bp.ConfigError, match="noise_variance"):
        bp.Laplace(net, "l2", X, T, noise_variance=np.nan)
    with pytest.raises(bp.ConfigError, match="cross_entropy"):
        bp.Laplace(bp.MLP([1, 3, 2], output="sigmoid"), "cross_entropy", X, np.zeros(10, int))
    # far from a minimum the exact Hessian is indefinite; with a tiny prior that is caught
    rng = np.random.default_rng(0)
    wild = bp.MLP([1, 6, 1], hidden="tanh", output="identity", seed=0)
    wild.params[:] = rng.normal(size=wild.n_params) * 3
    with pytest.raises(bp.ConfigError, match="gauss_newton"):
        bp.Laplace(wild, "l2", X, 5 * T, prior_precision=1e-8)
    la = bp.Laplace(wild, "l2", X, 5 * T, prior_precision=1e-8, hessian="gauss_newton")
    assert np.all(np.isfinite(la.predict(X)))
