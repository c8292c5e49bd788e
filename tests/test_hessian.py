"""The exact Hessian (backpropagating M), Hessian-vector products and Gauss-Newton, against finite
differences, against each other, and against the notes' two-layer closed forms."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import backprop as bp
from backprop.derivatives.hessian import hessian_matrix
from backprop.engine.objective import Objective
from backprop.ops.base import Op
from backprop.ops.dense import Dense
from helpers import heads, nudge_off_kinks, off_loss_kinks, targets

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]
# every loss, fused with its output activation (softmax + CE, sigmoid + BCE) and not
HEADS = heads(("softmax", "l2"), ("tanh", "l2"), ("softmax", "bce"), ("sigmoid", "cross_entropy"))
FUSED = [(out, name) for out, name in HEADS if bp.get_loss(name).fuses_with == out]


@settings(max_examples=80, deadline=None)
@given(depth=st.integers(1, 3), width=st.integers(1, 4), d=st.integers(1, 3), c=st.integers(2, 3),
       B=st.integers(1, 5), act=st.sampled_from(HIDDEN), head=st.sampled_from(HEADS),
       l2=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 10_000))
def test_hessian_against_finite_differences_and_hvp(depth, width, d, c, B, act, head, l2, seed):
    rng = np.random.default_rng(seed)
    output, loss_name = head
    net = bp.MLP([d] + [width] * depth + [c], hidden=act, output=output, seed=seed)
    X = rng.normal(size=(B, d))
    nudge_off_kinks(net, X, act)
    # Keep finite differences meaningful: deep in saturation (logits beyond +-6) f' and f'' fall below
    # what differences of O(1) numbers resolve, and a head that is not fused with its output activation
    # computes 1 - y, which loses digits as y nears 1 (the fused heads work on the logits).
    values = net.forward_values(X)[0]
    assume(np.abs(values[-2]).max() < 6)
    if head not in FUSED and output != "identity":
        assume(np.all(np.abs(values[-1]) < 0.99) and (output == "tanh" or values[-1].min() > 0.01))
    loss, T = bp.get_loss(loss_name, l2=l2), targets(loss_name, B, c, rng)
    assume(off_loss_kinks(net, loss, X, T))
    H = bp.hessian(net, loss, X, T)
    assert H.shape == (net.n_params, net.n_params)
    np.testing.assert_array_equal(H, H.T)
    # central differences of backpropagated gradients (O(eps^4) stencil), every column
    mixed = bp.check_hessian(net, loss, X, T, method="mixed", order=4, eps=2e-4, tol=1e-7)
    assert mixed.passed and mixed.n_checked == net.n_params ** 2, str(mixed)
    # the notes' 4-point formula on 100 random pairs (extrapolated from eps and 2 eps: O(eps^4))
    fd4 = bp.check_hessian(net, loss, X, T, method="fd4", order=4, eps=1e-3, n=100, seed=seed, tol=1e-5)
    assert fd4.passed, str(fd4)
    V = rng.normal(size=(net.n_params, 3))
    np.testing.assert_allclose(bp.hvp(net, loss, X, T, V), H @ V, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(bp.hessian_diag(net, loss, X, T), np.diag(H), rtol=1e-10, atol=1e-14)


def test_notes_two_layer_closed_forms():
    """Tanh hidden units, linear outputs, E_n = 1/2 sum_k (y_k - t_k)^2, one pattern:
    (a) M_kk' z_j z_j'   (b) M_jj' x_i x_i'   (c) M_jk x_i z_j' + delta_k h'(a_j) delta_jj' x_i,
    with M_kk' = delta_kk' at the outputs and M_jk = h'(a_j) w_kj, and the recursion (**) for M_jj'."""
    rng = np.random.default_rng(0)
    D, Mh, K = 3, 4, 2
    net = bp.MLP([D, Mh, K], hidden="tanh", output="identity", seed=5)
    x, t = rng.normal(size=D), rng.normal(size=K)
    W1, b1 = net.views(0)
    W2, b2 = net.views(2)
    a = W1 @ x + b1
    z = np.tanh(a)
    y = W2 @ z + b2
    delta_k = y - t
    h1, h2 = 1 - z ** 2, -2 * z * (1 - z ** 2)                   # h'(a), h''(a)
    M_out = np.eye(K)
    M_hid = np.diag(h2 * (W2.T @ delta_k)) + np.outer(h1, h1) * (W2.T @ M_out @ W2)   # (**)
    M_hk = h1[:, None] * W2.T                                    # M_jk = h'(a_j) w_kj
    xe, ze = np.append(x, 1.0), np.append(z, 1.0)                # inputs with the bias "unit" 1

    def idx1(j, i):                                              # w^(1)_ji, i == D is the bias
        return j * D + i if i < D else Mh * D + j

    def idx2(k, j):                                              # w^(2)_kj, j == Mh is the bias
        off = Mh * D + Mh
        return off + (k * Mh + j if j < Mh else K * Mh + k)

    H = np.zeros((net.n_params, net.n_params))
    for k in range(K):
        for j in range(Mh + 1):
            for k2 in range(K):
                for j2 in range(Mh + 1):
                    H[idx2(k, j), idx2(k2, j2)] = M_out[k, k2] * ze[j] * ze[j2]                  # (a)
    for j in range(Mh):
        for i in range(D + 1):
            for j2 in range(Mh):
                for i2 in range(D + 1):
                    H[idx1(j, i), idx1(j2, i2)] = M_hid[j, j2] * xe[i] * xe[i2]                  # (b)
            for k in range(K):
                for j2 in range(Mh + 1):
                    v = M_hk[j, k] * xe[i] * ze[j2] + (delta_k[k] * h1[j] * xe[i] if j2 == j else 0)  # (c)
                    H[idx1(j, i), idx2(k, j2)] = H[idx2(k, j2), idx1(j, i)] = v
    np.testing.assert_allclose(bp.hessian(net, "l2", x[None], t[None]), H, rtol=1e-12, atol=1e-14)


def test_plain_four_point_formula_agrees_to_its_rounding_limit():
    """The notes' formula itself (error O(eps^2) + O(u / eps^2)): about 1e-5, limited by rounding in float64."""
    rng = np.random.default_rng(1)
    net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=1)
    X, y = rng.normal(size=(4, 2)), rng.integers(0, 2, 4)
    report = bp.check_hessian(net, "cross_entropy", X, y, method="fd4", tol=2e-4)
    assert report.passed and report.n_checked == report.n_total == 17 * 18 // 2, str(report)
    assert "4-point formula" in str(report)


def test_fd4_pairs_cover_the_upper_triangle_and_cap_themselves(monkeypatch):
    from backprop.derivatives import second_checks
    a, b = second_checks._pairs(7, None, 0)
    assert sorted(zip(a.tolist(), b.tolist())) == [(i, j) for i in range(7) for j in range(i, 7)]
    a, b = second_checks._pairs(7, 5, 3)
    assert len(set(zip(a.tolist(), b.tolist()))) == 5 and np.all(a <= b) and b.max() < 7
    monkeypatch.setattr(second_checks, "FD4_MAX_ENTRIES", 40)
    net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    X, y = np.random.default_rng(0).normal(size=(3, 2)), np.array([0, 1, 1])
    report = bp.check_hessian(net, "cross_entropy", X, y, method="fd4")
    assert report.passed and report.n_checked == 40 and report.n_total == 17 * 18 // 2


def test_check_hessian_catches_a_missing_second_order_term(monkeypatch):
    rng = np.random.default_rng(2)
    net = bp.MLP([2, 3, 2], hidden="tanh", output="identity", seed=0)
    X, T = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    from backprop.ops import elementwise

    def first_order_only(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        return [None if tdy is None else tdy * self.act.df(at.xs[0], at.y)]           # drops f''(z) R{z} dE/dy
    monkeypatch.setattr(elementwise.Elementwise, "vjp_tangent", first_order_only)
    for method in ("mixed", "fd4"):
        report = bp.check_hessian(net, "l2", X, T, method=method)
        assert not report.passed and "FAIL" in str(report), method


def test_hvp_shapes_and_linearity():
    rng = np.random.default_rng(3)
    net = bp.MLP([3, 5, 3], hidden="softplus", output="softmax", seed=0)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    v, w = rng.normal(size=net.n_params), rng.normal(size=net.n_params)
    hv = bp.hvp(net, "cross_entropy", X, y, v)
    assert hv.shape == (net.n_params,)
    both = bp.hvp(net, "cross_entropy", X, y, np.stack([v, w], axis=1))
    assert both.shape == (net.n_params, 2)
    np.testing.assert_allclose(both[:, 0], hv, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(bp.hvp(net, "cross_entropy", X, y, 2 * v - w), 2 * hv - both[:, 1],
                               rtol=1e-10, atol=1e-14)
    # a finite difference of gradients along v: (g(w + e v) - g(w - e v)) / 2e
    e = 1e-5
    w0 = net.params.copy()
    net.params[:] = w0 + e * v
    gp = bp.loss_and_grad(net, "cross_entropy", X, y)[1]
    net.params[:] = w0 - e * v
    gm = bp.loss_and_grad(net, "cross_entropy", X, y)[1]
    net.params[:] = w0
    np.testing.assert_allclose(hv, (gp - gm) / (2 * e), rtol=1e-6, atol=1e-9)


def test_l2_adds_lambda_on_the_diagonal_of_the_weights_only():
    rng = np.random.default_rng(4)
    net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    X, y = rng.normal(size=(5, 2)), rng.integers(0, 2, 5)
    H0 = bp.hessian(net, "cross_entropy", X, y)
    H1 = bp.hessian(net, bp.get_loss("cross_entropy", l2=0.3), X, y)
    np.testing.assert_allclose(H1 - H0, 0.3 * np.diag(net.reg_mask.astype(float)), atol=1e-15)
    G0 = bp.gauss_newton(net, "cross_entropy", X, y)
    G1 = bp.gauss_newton(net, bp.get_loss("cross_entropy", l2=0.3), X, y)
    np.testing.assert_allclose(G1 - G0, 0.3 * np.diag(net.reg_mask.astype(float)), atol=1e-15)


@pytest.mark.parametrize("budget", [1, 200, 5000])
def test_chunks_of_units_and_samples_give_the_same_hessian(budget):
    rng = np.random.default_rng(5)
    net = bp.MLP([3, 5, 4, 3], hidden=["tanh", "sigmoid"], output="softmax", seed=0)
    X, y = rng.normal(size=(7, 3)), rng.integers(0, 3, 7)
    obj = Objective(net, "cross_entropy", X, y)
    np.testing.assert_allclose(hessian_matrix(obj, budget=budget), bp.hessian(net, "cross_entropy", X, y),
                               rtol=1e-12, atol=1e-15)


def test_hessian_with_hundreds_of_parameters_is_symmetric_and_matches_hvp_columns():
    rng = np.random.default_rng(10)
    net = bp.MLP([10, 20, 3], hidden="tanh", output="softmax", seed=0)         # W = 283: several tiles
    X, y = rng.normal(size=(16, 10)), rng.integers(0, 3, 16)
    H = bp.hessian(net, "cross_entropy", X, y)
    np.testing.assert_array_equal(H, H.T)
    cols = rng.choice(net.n_params, size=12, replace=False)
    E = np.zeros((net.n_params, 12))
    E[cols, np.arange(12)] = 1
    np.testing.assert_allclose(H[:, cols], bp.hvp(net, "cross_entropy", X, y, E), rtol=1e-10, atol=1e-15)


def test_mirror_upper_with_partial_tiles():
    from backprop.derivatives.hessian import mirror_upper
    U = np.triu(np.random.default_rng(11).normal(size=(70, 70)))
    A = U + np.tril(np.full((70, 70), np.nan), -1)         # whatever is below the diagonal is overwritten
    mirror_upper(A, tile=16)
    np.testing.assert_array_equal(A, U + np.triu(U, 1).T)


def test_float32_hessian_agrees_with_float64():
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 3, 8)
    n64 = bp.MLP([3, 5, 3], hidden="tanh", output="softmax", seed=0)
    n32 = bp.MLP([3, 5, 3], hidden="tanh", output="softmax", seed=0, dtype=np.float32)
    H32, H64 = bp.hessian(n32, "cross_entropy", X, y), bp.hessian(n64, "cross_entropy", X, y)
    assert H32.dtype == np.float32 and np.array_equal(H32, H32.T)
    np.testing.assert_allclose(H32, H64, rtol=1e-3, atol=1e-5 * np.abs(H64).max())
    for f in (bp.hvp, bp.gnvp):
        out = f(n32, "cross_entropy", X, y, np.ones(n32.n_params))
        assert out.dtype == np.float32
    assert bp.hessian_diag(n32, "cross_entropy", X, y).dtype == np.float32
    assert bp.gauss_newton(n32, "cross_entropy", X, y).dtype == np.float32
    report = bp.check_hessian(n32, "cross_entropy", X, y, method="mixed")
    assert report.passed and report.tol == 5e-2, str(report)      # second differences in float32: ~1e-2


# ---- Gauss-Newton -------------------------------------------------------------------------------

def test_gauss_newton_is_the_hessian_of_a_network_linear_in_its_parameters():
    rng = np.random.default_rng(7)
    net = bp.MLP([4, 3], output="identity", seed=0)
    X, T = rng.normal(size=(9, 4)), rng.normal(size=(9, 3))
    loss = bp.get_loss("l2", l2=0.1)
    G, H = bp.gauss_newton(net, loss, X, T), bp.hessian(net, loss, X, T)
    np.testing.assert_allclose(G, H, rtol=1e-13, atol=1e-15)
    # closed form: blocks of X^T X / B for every output, identity-weighted
    Xe = np.hstack([X, np.ones((9, 1))])
    np.testing.assert_allclose(G[:4, :4], X.T @ X / 9 + 0.1 * np.eye(4), rtol=1e-13)
    np.testing.assert_allclose(G[12, :4], Xe[:, :4].sum(0) / 9, rtol=1e-13)


@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"), ("sigmoid", "bce"), ("tanh", "l2"),
                                          ("softmax", "bce")])
def test_gauss_newton_is_psd_and_matches_its_products_and_diagonal(output, loss):
    rng = np.random.default_rng(8)
    net = bp.MLP([3, 4, 4, 3], hidden="tanh", output=output, seed=1)
    X = rng.normal(size=(6, 3))
    T = targets(loss, 6, 3, rng)
    G = bp.gauss_newton(net, loss, X, T)
    np.testing.assert_array_equal(G, G.T)
    assert np.linalg.eigvalsh(G).min() > -1e-12 * np.abs(G).max()
    V = rng.normal(size=(net.n_params, 2))
    np.testing.assert_allclose(bp.gnvp(net, loss, X, T, V), G @ V, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(bp.gauss_newton_diag(net, loss, X, T), np.diag(G), rtol=1e-10, atol=1e-15)
    H = bp.hessian(net, loss, X, T)
    assert np.abs(H - G).max() > 1e-6           # hidden layers: the dropped terms are not zero here


# ---- ops that are not dense layers: the Hessian-vector fallback, and graphs that are not chains --

class Scale(Op):
    """y = x * a + c unit by unit, a parametric op that is not a dense layer."""

    kind = "scale"
    regularized = (True, False)

    def __init__(self, size):
        self.size = size
        self.param_shapes = ((size,), (size,))

    def init_params(self, rng, views):
        views[0][...] = rng.uniform(0.5, 1.5, self.size)
        views[1][...] = rng.normal(size=self.size) * 0.1

    def forward(self, xs, p):
        return xs[0] * p[0] + p[1], None

    def vjp(self, at, dy, *, gp, need):
        xs, y, cache, p = at
        if gp is not None:
            gp[0][...] = (dy * xs[0]).sum(0)
            gp[1][...] = dy.sum(0)
        return [dy * p[0] if need[0] else None]

    def jvp(self, at, txs, tp):
        xs, y, cache, p = at
        out = None if txs[0] is None else txs[0] * p[0]
        if tp is not None:
            term = xs[0][None] * tp[0][:, None, :] + tp[1][:, None, :]
            out = term if out is None else out + term
        return out

    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        xs, y, cache, p = at
        if tgp is not None:              # overwrite (the op contract): start from zero, then add the terms
            tgp[0][...] = 0
            tgp[1][...] = 0
            if tdy is not None:
                tgp[0][...] += (tdy * xs[0][None]).sum(1)
                tgp[1][...] += tdy.sum(1)
            if txs[0] is not None:
                tgp[0][...] += (dy[None] * txs[0]).sum(1)
        if not need[0]:
            return [None]
        out = None if tdy is None else tdy * p[0]
        if tp is not None:
            term = dy[None] * tp[0][:, None, :]
            out = term if out is None else out + term
        return [out]

    def config(self):
        return {"op": "scale", "size": self.size}


class Add(Op):
    """y = x0 + x1: a node with two inputs, for a residual connection."""

    arity = 2
    kind = "add"

    def __init__(self, size):
        self.size = size

    def forward(self, xs, p):
        return xs[0] + xs[1], None

    def vjp(self, at, dy, *, gp, need):
        xs, y, cache, p = at
        return [dy if need[0] else None, dy if need[1] else None]

    def jvp(self, at, txs, tp):
        xs, y, cache, p = at
        a, b = txs
        return b if a is None else a if b is None else a + b

    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        xs, y, cache, p = at
        return [tdy if need[0] else None, tdy if need[1] else None]

    def config(self):
        return {"op": "add", "size": self.size}


class OwnDense(Dense):
    """A dense layer with its own forward: the Hessian cannot assume its structure and uses the fallback."""

    def forward(self, xs, p):
        return super().forward(xs, p)


def residual_net(seed=0):
    from backprop.ops.elementwise import Elementwise
    from backprop.ops.softmax import Softmax
    ops = [Dense(3, 4), Elementwise(4, "tanh"), Dense(4, 4), Scale(4), Add(4), Elementwise(4, "softplus"),
           OwnDense(4, 3), Softmax(3)]
    inputs = [(0,), (1,), (2,), (3,), (2, 4), (5,), (6,), (7,)]
    return bp.Network(3, ops, inputs=inputs, seed=seed)


def test_hessian_of_a_residual_graph_with_ops_that_are_not_dense():
    rng = np.random.default_rng(9)
    net = residual_net()
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    loss = bp.get_loss("cross_entropy", l2=0.2)
    H = bp.hessian(net, loss, X, y)
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_allclose(H, bp.hvp(net, loss, X, y, np.eye(net.n_params)), rtol=1e-10, atol=1e-14)
    report = bp.check_hessian(net, loss, X, y, method="mixed", order=4, tol=1e-7)
    assert report.passed, str(report)
    np.testing.assert_allclose(bp.hessian_diag(net, loss, X, y), np.diag(H), rtol=1e-10, atol=1e-14)
    G = bp.gauss_newton(net, loss, X, y)
    np.testing.assert_allclose(G, bp.gnvp(net, loss, X, y, np.eye(net.n_params)), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(bp.gauss_newton_diag(net, loss, X, y), np.diag(G), rtol=1e-10, atol=1e-14)
    J = bp.jacobian(net, X, wrt="params")
    e, k = 1e-6, int(net.offsets[3]) + 1          # a parameter of the Scale op
    net.params[k] += e
    up = net.predict(X)
    net.params[k] -= 2 * e
    down = net.predict(X)
    net.params[k] += e
    np.testing.assert_allclose(J[:, :, k], (up - down) / (2 * e), rtol=1e-6, atol=1e-10)
    assert bp.check_jacobian(net, X, order=4, tol=1e-7).passed


# ---- input errors ----------------------------------------------------------------------------

def test_direction_errors_name_the_expected_shape():
    net = bp.MLP([2, 3, 2], seed=0)
    X, y = np.ones((2, 2)), np.array([0, 1])
    W = net.n_params
    for f in (bp.hvp, bp.gnvp):
        with pytest.raises(bp.InputError, match=rf"\({W},\) or \({W}, m\)"):
            f(net, "cross_entropy", X, y, np.ones(W + 1))
        with pytest.raises(bp.InputError, match="NaN"):
            f(net, "cross_entropy", X, y, np.full(W, np.nan))
        with pytest.raises(bp.InputError, match="numbers"):
            f(net, "cross_entropy", X, y, np.array(["a"] * W))
        with pytest.raises(bp.InputError, match=rf"\({W},\)"):
            f(net, "cross_entropy", X, y, np.ones((W, 0)))
    with pytest.raises(bp.InputError, match="labels"):
        bp.hessian(net, "cross_entropy", X, np.array([0, 5]))
    with pytest.raises(bp.ConfigError, match="method"):
        bp.check_hessian(net, "cross_entropy", X, y, method="fd")
    with pytest.raises(bp.ConfigError, match="order"):
        bp.check_hessian(net, "cross_entropy", X, y, order=6)


def test_hessian_is_finite_at_extreme_logits():
    net = bp.MLP([2, 3], output="softmax", seed=0)
    net.params[:] = [1e4, 0, -1e4, 0, 0, 0, 0, 0, 0]
    X = np.array([[1.0, 0.0]])
    H = bp.hessian(net, "cross_entropy", X, [1])
    assert np.isfinite(H).all()
    assert np.isfinite(bp.gauss_newton(net, "cross_entropy", X, [1])).all()
