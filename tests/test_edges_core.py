"""Edges of the core API: every call gives the right number or a clear error.

* the fused loss is evaluated at the node the output op reads, in any graph;
* a softmax over one unit is refused wherever a network is built;
* complex, datetime, timedelta, object, string and sparse inputs are refused at every entry point;
* second derivatives at huge and tiny inputs are warning-free and finite where the true value is;
* reduction="sum" is B times the mean everywhere, and per-instance deltas are dE_n/d(node);
* seeds, check options, constructor arguments and W x W sizes are validated before any work.
"""
import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from scipy.special import expit, xlogy

import backprop as bp
from backprop.engine.serialize import describe
from helpers import heads
from backprop.errors import ConfigError, InputError, MemoryLimitError
from backprop.faces.estimators._common import chain_forward
from backprop.ops.dense import Dense
from backprop.ops.elementwise import Elementwise
from backprop.ops.select import Select
from backprop.ops.softmax import Softmax

def fast(n):
    return settings(deadline=None, max_examples=n, suppress_health_check=[HealthCheck.too_slow])


# ---- 1. the fused head is found from the graph -------------------------------------------------------

def _issue_net():
    # the softmax reads node 1 (the dense output), not node 2 (tanh of it), which is a dead branch
    return bp.Network(4, [Dense(4, 3), Elementwise(3, "tanh"), Softmax(3)], inputs=[(0,), (1,), (1,)], seed=0)


def test_fused_cross_entropy_is_the_cross_entropy_of_predict_when_the_output_reads_an_earlier_node():
    net = _issue_net()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 4)), np.array([0, 1, 2, 1, 0, 2])
    value, grad = bp.loss_and_grad(net, "cross_entropy", X, y)
    P = net.predict(X)
    assert value == pytest.approx(-np.log(P[np.arange(6), y]).mean(), rel=1e-13)
    assert net.head_input == 1
    # the estimators' logits come from the same node
    values, _ = net.forward_values(X)
    assert np.array_equal(chain_forward(net, X, logits=True)[1], values[1])
    # and the gradient is that of this value
    assert bp.check_gradient(net, "cross_entropy", X, y).passed


def _independent_loss(name, Y, D, opts, B, reg, reduction):
    """The loss of outputs Y, written out here from the definitions (not from backprop.losses)."""
    if name == "cross_entropy":
        c = Y.shape[1]
        T = np.eye(c)[D]
        eps = opts.get("label_smoothing", 0.0)
        if eps:
            T = T * (1 - c * eps) + eps
        div = -(T * np.log(Y)).sum(axis=1)
        if opts.get("kl"):
            div += xlogy(T, T).sum(axis=1)
    elif name == "bce":
        div = -(D * np.log(Y) + (1 - D) * np.log1p(-Y)).sum(axis=1)
    elif name == "poisson":
        div = (Y - D + xlogy(D, D) - xlogy(D, Y)).sum(axis=1)
    else:
        div = 0.5 * ((Y - D) ** 2).sum(axis=1)
    total = div.sum() if reduction == "sum" else div.mean()
    return total + reg


HEADS = {  # output activation -> losses that may follow it (fused and plain)
    "softmax": [("cross_entropy", {}), ("cross_entropy", {"label_smoothing": 0.1}), ("cross_entropy", {"kl": True}),
                ("l2", {})],
    "sigmoid": [("bce", {}), ("l2", {})],
    "exp": [("poisson", {}), ("l2", {})],
    "identity": [("l2", {})],
    "tanh": [("l2", {})],
}


@st.composite
def dags(draw):
    """A random feed-forward graph: ops read any earlier node, skips (concatenations) and dead branches,
    then a dense layer to c outputs, dead ops after it, and the output activation reading that dense layer."""
    d = draw(st.integers(1, 3))
    head = draw(st.sampled_from(sorted(HEADS)))
    c = draw(st.integers(2 if head == "softmax" else 1, 3))
    widths, ops, inputs = [d], [], []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["dense", "act", "select"]))
        i = draw(st.integers(0, len(widths) - 1))
        if kind == "dense":
            op = Dense(widths[i], draw(st.integers(1, 3)))
            ix = (i,)
        elif kind == "act":
            op = Elementwise(widths[i], draw(st.sampled_from(["tanh", "sigmoid", "softplus", "identity"])))
            ix = (i,)
        else:
            k = draw(st.integers(0, len(widths) - 1))
            src = [0] * widths[i] + [1] * widths[k]
            col = list(range(widths[i])) + list(range(widths[k]))
            op, ix = Select([widths[i], widths[k]], src, col), (i, k)
        ops.append(op)
        inputs.append(ix)
        widths.append(op.size)
    i = draw(st.integers(0, len(widths) - 1))
    ops.append(Dense(widths[i], c))
    inputs.append((i,))
    widths.append(c)
    logits = len(widths) - 1
    for _ in range(draw(st.integers(0, 2))):          # dead ops after the logits
        k = draw(st.integers(0, len(widths) - 1))
        ops.append(Elementwise(widths[k], "tanh"))
        inputs.append((k,))
        widths.append(widths[k])
    ops.append(Softmax(c) if head == "softmax" else Elementwise(c, head))
    inputs.append((logits,))
    loss, opts = draw(st.sampled_from(HEADS[head]))
    return d, ops, inputs, head, loss, opts


@fast(60)
@given(spec=dags(), B=st.integers(1, 4), seed=st.integers(0, 10_000), l2=st.sampled_from([0.0, 0.3]),
       reduction=st.sampled_from(["mean", "sum"]))
def test_loss_of_any_graph_is_the_loss_of_predict_and_its_gradient_the_differences(spec, B, seed, l2, reduction):
    d, ops, inputs, head, name, opts = spec
    net = bp.Network(d, ops, inputs=inputs, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, d))
    c = net.n_outputs
    if name == "cross_entropy":
        T = rng.integers(0, c, size=B)
    elif name == "bce":
        T = rng.integers(0, 2, size=(B, c)).astype(float)
    elif name == "poisson":
        T = rng.poisson(1.5, size=(B, c)).astype(float)
    else:
        T = rng.normal(size=(B, c))
    loss = bp.get_loss(name, l2=l2, reduction=reduction, **opts)
    mask = net.reg_mask

    def E(w):
        old = net.params.copy()
        net.params[:] = w
        try:
            reg = 0.5 * l2 * float(np.sum(w[mask] ** 2))
            return _independent_loss(name, net.predict(X), T, opts, B, reg, reduction)
        finally:
            net.params[:] = old

    value, grad = bp.loss_and_grad(net, loss, X, T)
    w = net.params.copy()
    assert value == pytest.approx(E(w), rel=1e-10, abs=1e-12)
    h = 1e-6
    numeric = np.array([(E(w + h * e) - E(w - h * e)) / (2 * h) for e in np.eye(net.n_params)])
    scale = max(1.0, np.abs(numeric).max())
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6 * scale)
    # the second-order sweeps start at the same node: the Hessian is the differences of that gradient
    def g(wk):
        old = net.params.copy()
        net.params[:] = wk
        try:
            return bp.loss_and_grad(net, loss, X, T)[1]
        finally:
            net.params[:] = old

    H = bp.hessian(net, loss, X, T)
    numeric_H = np.stack([(g(w + h * e) - g(w - h * e)) / (2 * h) for e in np.eye(net.n_params)], axis=1)
    np.testing.assert_allclose(H, numeric_H, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(numeric_H).max()))
    v = rng.normal(size=net.n_params)
    np.testing.assert_allclose(bp.hvp(net, loss, X, T, v), H @ v, rtol=1e-9, atol=1e-11 * max(1.0, np.abs(H).max()))


# ---- 2. a softmax over one unit ----------------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: bp.MLP([2, 4, 1]),                                     # softmax is the default output
    lambda: bp.MLP([2, 4, 1], output="softmax"),
    lambda: bp.MLP([3, 1], output="softmax"),
    lambda: bp.Sequential(2, [4, "tanh", 1, "softmax"]),
    lambda: bp.Network(2, [Dense(2, 1), Softmax(1)]),
    lambda: Softmax(1),
    lambda: bp.NeuronGraph.mlp([2, 3, 1], output="softmax"),
])
def test_a_softmax_over_one_unit_is_refused_with_what_to_use(build):
    with pytest.raises(ConfigError, match="sigmoid .*'bce'.* identity .*'l2'"):
        build()


def test_a_softmax_group_of_one_neuron_is_refused_and_the_graph_is_unchanged():
    g = bp.NeuronGraph()
    g.inputs("x1", "x2")
    g.neuron("o", "identity", output=True)
    g.connect("x1", "o")
    g.connect("x2", "o")
    with pytest.raises(ConfigError, match="softmax group \\[o\\]: a softmax over a single unit"):
        g.softmax_group(["o"])
    net = g.compile(seed=0)                       # still the plain identity output
    assert net.output_activation != "softmax"


def test_a_model_file_with_a_softmax_over_one_unit_is_refused(tmp_path):
    net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    desc = describe(net)
    desc["network"]["ops"][-2]["n_out"] = 1
    desc["network"]["ops"][-1]["size"] = 1
    params = net.params[:2 * 3 + 3 + 3 + 1].copy()
    path = tmp_path / "one.npz"
    np.savez(path, params=params, **{"model.json": np.frombuffer(json.dumps(desc).encode(), dtype=np.uint8)})
    with pytest.raises(bp.FileFormatError, match="softmax over a single unit"):
        bp.load(path)


# ---- 9. inputs that are not real numbers -------------------------------------------------------------

def _bad_X(kind, X):
    if kind == "complex":
        return X + 5j
    if kind == "complex_zero_imag":
        return X.astype(complex)
    if kind == "datetime":
        return np.full(X.shape, np.datetime64("2020-01-01"))
    if kind == "timedelta":
        return np.full(X.shape, np.timedelta64(3, "s"))
    if kind == "object":
        return X.astype(object)
    if kind == "str":
        return X.astype(str)
    if kind == "bytes":
        return X.astype(str).astype(bytes)
    if kind == "list_complex":
        return (X + 1j).tolist()
    return sp.csr_matrix(X)                    # sparse


BAD_KINDS = ["complex", "complex_zero_imag", "datetime", "timedelta", "object", "str", "bytes", "list_complex",
             "sparse"]


def _entry_points():
    """Every public entry point that takes X (and T): name -> call(net, X, T)."""
    ones = lambda net: np.ones(net.n_params)   # noqa: E731
    return {
        "loss_and_grad": lambda net, X, T: bp.loss_and_grad(net, "cross_entropy", X, T),
        "backprop": lambda net, X, T: bp.backprop(net, "cross_entropy", X, T),
        "predict": lambda net, X, T: net.predict(X),
        "call": lambda net, X, T: net(X),
        "train": lambda net, X, T: bp.train(net, "cross_entropy", X, T, epochs=1, verbose=False),
        "jacobian": lambda net, X, T: bp.jacobian(net, X),
        "jacobian_params": lambda net, X, T: bp.jacobian(net, X, wrt="params"),
        "hessian": lambda net, X, T: bp.hessian(net, "cross_entropy", X, T),
        "hessian_diag": lambda net, X, T: bp.hessian_diag(net, "cross_entropy", X, T),
        "hvp": lambda net, X, T: bp.hvp(net, "cross_entropy", X, T, ones(net)),
        "gauss_newton": lambda net, X, T: bp.gauss_newton(net, "cross_entropy", X, T),
        "gauss_newton_diag": lambda net, X, T: bp.gauss_newton_diag(net, "cross_entropy", X, T),
        "gnvp": lambda net, X, T: bp.gnvp(net, "cross_entropy", X, T, ones(net)),
        "check_gradient": lambda net, X, T: bp.check_gradient(net, "cross_entropy", X, T),
        "check_jacobian": lambda net, X, T: bp.check_jacobian(net, X),
        "check_hessian": lambda net, X, T: bp.check_hessian(net, "cross_entropy", X, T),
        "minimize": lambda net, X, T: bp.minimize(net, "cross_entropy", X, T, maxiter=2),
        "laplace": lambda net, X, T: bp.Laplace(net, "cross_entropy", X, T),
        "neuron_backprop": lambda net, X, T: bp.neuron_backprop(net, "cross_entropy", X, T),
        "trace": lambda net, X, T: bp.trace(net, X[:1] if not isinstance(X, list) else X[:1], 0),
    }


ENTRY_POINTS = _entry_points()


@fast(80)
@given(kind=st.sampled_from(BAD_KINDS), entry=st.sampled_from(sorted(ENTRY_POINTS)), seed=st.integers(0, 100))
def test_inputs_that_are_not_real_numbers_are_refused_everywhere_and_change_nothing(kind, entry, seed):
    net = bp.MLP([3, 4, 2], hidden="tanh", output="softmax", seed=seed)
    rng = np.random.default_rng(seed)
    X, T = _bad_X(kind, rng.normal(size=(4, 3))), np.array([0, 1, 1, 0])
    if entry == "trace" and kind == "sparse":
        X = sp.csr_matrix(rng.normal(size=(1, 3)))
    before = net.params.copy()
    # (trace reads its one instance with np.asarray first: a sparse row arrives as an object array)
    sparse_message = kind == "sparse" and entry != "trace"
    with pytest.raises(InputError, match="sparse input is not supported here; use X.toarray()" if sparse_message
                       else "real numbers|numeric|must hold"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")            # no ComplexWarning on the way to the error either
            ENTRY_POINTS[entry](net, X, T)
    assert np.array_equal(net.params, before)


@pytest.mark.parametrize("kind", ["complex", "datetime", "timedelta", "str"])
@pytest.mark.parametrize("loss, good", [("l2", np.zeros((4, 2))), ("cross_entropy", np.array([0, 1, 1, 0])),
                                        ("bce", np.zeros((4, 2)))])
def test_targets_that_are_not_real_numbers_are_refused(kind, loss, good):
    output = {"l2": "identity", "cross_entropy": "softmax", "bce": "sigmoid"}[loss]    # a pairing train accepts
    net = bp.MLP([3, 4, 2], hidden="tanh", output=output, seed=0)
    X = np.random.default_rng(0).normal(size=(4, 3))
    T = _bad_X(kind, good.astype(float))
    for call in (lambda: bp.loss_and_grad(net, loss, X, T), lambda: bp.hvp(net, loss, X, T, np.ones(net.n_params)),
                 lambda: bp.train(net, loss, X, T, epochs=1, verbose=False)):
        with pytest.raises(InputError, match="targets must be numeric"):
            call()


def test_inputs_beyond_the_float32_range_are_named():
    net = bp.MLP([2, 3, 2], seed=0, dtype=np.float32)
    with pytest.raises(InputError, match=r"X\[0, 1\] = 1e\+300 exceeds the range of the network's dtype float32"):
        net.predict(np.array([[0.0, 1e300]]))


def test_complex_sample_weights_are_refused():
    from backprop.validation import check_sample_weight
    with pytest.raises(InputError, match="sample_weight must be numeric"):
        check_sample_weight(np.ones(3) + 1j, 3, np.float64)


@pytest.mark.parametrize("kind", ["complex", "datetime", "timedelta", "str"])
def test_estimators_refuse_inputs_that_are_not_real_numbers(kind):
    from backprop.sklearn import MLPClassifier, MLPRegressor
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    for est, target in ((MLPClassifier(max_iter=5), y), (MLPRegressor(max_iter=5), y.astype(float))):
        with pytest.raises(InputError):
            est.fit(_bad_X(kind, X), target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, target)
        with pytest.raises(InputError):
            est.predict(_bad_X(kind, X))
    with pytest.raises(InputError):
        MLPRegressor(max_iter=5).fit(X, _bad_X(kind, y.astype(float)))


def test_estimators_refuse_a_summed_loss():
    from backprop.sklearn import MLPRegressor
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ConfigError, match="reduction='mean'"):
        MLPRegressor(loss=bp.get_loss("l2", reduction="sum"), max_iter=3).fit(X, X[:, 0])


# ---- 11. second derivatives at huge and tiny inputs ---------------------------------------------------

@fast(40)
@given(exponent=st.sampled_from([300, 250, 200, 160, -300, -200]), sign=st.sampled_from([1, -1]),
       hidden=st.sampled_from(["tanh", "sigmoid"]), head=st.sampled_from(["l2", "bce", "cross_entropy"]),
       seed=st.integers(0, 1000), d=st.integers(1, 3), B=st.integers(1, 3))
def test_second_derivatives_at_huge_and_tiny_inputs_are_finite_and_warning_free(exponent, sign, hidden, head, seed,
                                                                                  d, B):
    out = {"l2": "identity", "bce": "sigmoid", "cross_entropy": "softmax"}[head]
    net = bp.MLP([d, 3, 2], hidden=hidden, output=out, seed=seed)
    rng = np.random.default_rng(seed)
    X = sign * rng.uniform(0.5, 1.0, size=(B, d)) * 10.0 ** exponent
    T = rng.integers(0, 2, size=B) if head == "cross_entropy" else rng.integers(0, 2, size=(B, 2)).astype(float)
    v = rng.normal(size=net.n_params)
    with warnings.catch_warnings(), np.errstate(all="warn", under="ignore"):
        warnings.simplefilter("error")
        H = bp.hessian(net, head, X, T)
        diag = bp.hessian_diag(net, head, X, T)
        Hv = bp.hvp(net, head, X, T, v)
        G = bp.gauss_newton(net, head, X, T)
        gdiag = bp.gauss_newton_diag(net, head, X, T)
    # saturated (huge) or linear (tiny) hidden units: every true value here is finite
    for a in (H, diag, Hv, G, gdiag):
        assert np.all(np.isfinite(a))
    np.testing.assert_allclose(diag, np.diag(H), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(gdiag, np.diag(G), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(Hv, H @ v, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(H).max() * np.abs(v).max()))


def test_hessian_diag_at_1e300_where_f_prime_is_zero_is_zero_not_nan():
    net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    X = np.array([[1e300, -1e300], [1e300, 1e300]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diag = bp.hessian_diag(net, "l2", X, [0.0, 1.0])
    assert np.all(np.isfinite(diag))
    assert np.all(diag[:6] == 0)              # the first layer's weights: tanh' = 0 at every sample


def _exact_sums(M, x):
    """(sum_n M x^2, sum_n |M| x^2) per entry, in exact rational arithmetic."""
    from fractions import Fraction
    J, N, d = M.shape[0], M.shape[1], x.shape[1]
    exact, size = {}, {}
    for j in range(J):
        for i in range(d):
            terms = [Fraction(float(M[j, n])) * Fraction(float(x[n, i])) ** 2 for n in range(N)]
            exact[j, i], size[j, i] = sum(terms), sum(abs(t) for t in terms)
    return exact, size


#: a float at any binary order from the subnormals to near the largest, or 0
_ANY = st.one_of(st.just(0.0), st.builds(lambda m, e: float(np.ldexp(m, e)), st.floats(-1.0, 1.0), st.integers(-1070, 1023)))
#: the weights M: second-derivative factors of a network, of any sign, within 2^-100 .. 2^100, or 0
_WEIGHT = st.one_of(st.just(0.0), st.builds(lambda m, sign, e: float(np.ldexp(sign * m, e)), st.floats(0.5, 1.0),
                                             st.sampled_from([-1.0, 1.0]), st.integers(-100, 100)))


@fast(200)
@given(J=st.integers(1, 3), N=st.integers(1, 4), d=st.integers(1, 3), data=st.data())
def test_weighted_squares_is_right_for_every_finite_input(J, N, d, data):
    """The diagonal's sum_n M x^2 at any magnitude of x: no 0 * inf = NaN, no term lost to underflow
    (M = [0, 2], x = [1e200, 1] gives 2), +-inf exactly where the true value overflows, else within a
    few roundings of the exact sum (relative to the sum of |terms|)."""
    from fractions import Fraction
    from backprop.derivatives.hessian import weighted_squares
    M = np.array(data.draw(st.lists(_WEIGHT, min_size=J * N, max_size=J * N))).reshape(J, N)
    x = np.array(data.draw(st.lists(_ANY, min_size=N * d, max_size=N * d))).reshape(N, d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = weighted_squares(M, x)
    exact, size = _exact_sums(M, x)
    largest = Fraction(float(np.finfo(float).max))
    for (j, i), e in exact.items():
        g = got[j, i]
        assert not np.isnan(g), (M, x)
        tol = 8 * (N + 2) * Fraction(float(np.finfo(float).eps)) * size[j, i] + Fraction(2.0 ** -1070)
        if abs(e) > largest + tol:
            assert g == (np.inf if e > 0 else -np.inf), (M, x, float(e) if abs(e) < largest else e, g)
        elif np.isfinite(g):
            assert abs(Fraction(float(g)) - e) <= tol, (M, x, g)
        else:
            assert size[j, i] > largest, (M, x, g)      # inf only where the terms themselves overflow


def test_weighted_squares_keeps_a_term_beside_a_huge_entry():
    from backprop.derivatives.hessian import weighted_squares
    assert weighted_squares(np.array([[0.0, 2.0]]), np.array([[1e200], [1.0]]))[0, 0] == 2.0
    assert weighted_squares(np.array([[1e300, 1.0]]), np.array([[1e-200], [1.0]]))[0, 0] == 1.0
    got32 = weighted_squares(np.array([[0.0, 2.0]], np.float32), np.array([[1e30], [1.0]], np.float32))
    assert got32.dtype == np.float32 and got32[0, 0] == 2.0


# ---- 5. reduction="sum" and per-instance deltas -------------------------------------------------------

LOSSES = [(out, name, {}) for out, name in heads(("tanh", "l2"), ("softmax", "l2"))] + \
    [("softmax", "cross_entropy", {"label_smoothing": 0.05})]


def _targets(name, B, c, rng):
    return bp.get_loss(name).make_targets(rng, B, c)


@fast(30)
@given(case=st.sampled_from(LOSSES), B=st.integers(1, 6), seed=st.integers(0, 1000))
def test_sum_is_B_times_mean_for_value_gradient_hessian_hvp_and_gauss_newton(case, B, seed):
    out, name, opts = case
    net = bp.MLP([3, 4, 2], hidden="tanh", output=out, seed=seed)
    rng = np.random.default_rng(seed)
    X, T = rng.normal(size=(B, 3)), _targets(name, B, 2, rng)
    v = rng.normal(size=(net.n_params, 2))
    mean, total = bp.get_loss(name, **opts), bp.get_loss(name, reduction="sum", **opts)
    assert total.reduction == "sum" and bp.get_loss(total.config()).reduction == "sum"
    close = dict(rtol=1e-11, atol=1e-13)
    vm, gm = bp.loss_and_grad(net, mean, X, T)
    vs, gs = bp.loss_and_grad(net, total, X, T)
    assert vs == pytest.approx(B * vm, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(gs, B * gm, **close)
    for f in (bp.hessian, bp.hessian_diag, bp.gauss_newton, bp.gauss_newton_diag):
        np.testing.assert_allclose(f(net, total, X, T), B * f(net, mean, X, T), **close)
    for f in (bp.hvp, bp.gnvp):
        np.testing.assert_allclose(f(net, total, X, T, v), B * f(net, mean, X, T, v), **close)


def test_sum_with_l2_adds_the_penalty_once_and_laplace_and_minimize_follow():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 2))
    T = np.sin(X[:, :1])
    net = bp.MLP([2, 4, 1], hidden="tanh", output="identity", seed=0)
    lam = 0.2
    mean, total = bp.get_loss("l2", l2=lam), bp.get_loss("l2", l2=lam, reduction="sum")
    reg = 0.5 * lam * float(np.sum(net.params[net.reg_mask] ** 2))
    vm, gm = bp.loss_and_grad(net, mean, X, T)
    vs, gs = bp.loss_and_grad(net, total, X, T)
    assert vs - reg == pytest.approx(7 * (vm - reg), rel=1e-12)
    lw = lam * np.where(net.reg_mask, net.params, 0)
    np.testing.assert_allclose(gs - lw, 7 * (gm - lw), rtol=1e-11, atol=1e-13)
    # the same posterior from the summed loss without a penalty as from the mean one: A = B/s2 H_mean = H_sum/s2
    la_m = bp.Laplace(net, "l2", X, T, noise_variance=0.1, hessian="gauss_newton")
    la_s = bp.Laplace(net, bp.get_loss("l2", reduction="sum"), X, T, noise_variance=0.1, hessian="gauss_newton")
    np.testing.assert_allclose(la_s.precision_, la_m.precision_, rtol=1e-10)
    # minimize reports the summed value at the parameters it leaves
    res = bp.minimize(net, total, X, T, maxiter=5)
    assert res.fun == pytest.approx(bp.loss_and_grad(net, total, X, T)[0], rel=1e-12)


@fast(30)
@given(case=st.sampled_from(LOSSES), B=st.integers(1, 5), seed=st.integers(0, 1000),
       reduction=st.sampled_from(["mean", "sum"]))
def test_per_instance_deltas_are_finite_differences_of_E_n(case, B, seed, reduction):
    out, name, opts = case
    net = bp.MLP([3, 4, 2], hidden="tanh", output=out, seed=seed)
    rng = np.random.default_rng(seed)
    X, T = rng.normal(size=(B, 3)), _targets(name, B, 2, rng)
    loss = bp.get_loss(name, reduction=reduction, **opts)
    obj = bp.backprop(net, loss, X, T)
    T = np.asarray(T)

    def E_n(n, Xn=None):
        Xn = X[n:n + 1] if Xn is None else Xn
        return bp.loss_and_grad(net, bp.get_loss(name, **opts), Xn, T[n:n + 1])[0]

    h = 1e-6
    for n in range(B):
        # at the input node: dE_n/dx_n
        num = []
        for i in range(3):
            e = np.zeros((1, 3))
            e[0, i] = h
            num.append((E_n(n, X[n:n + 1] + e) - E_n(n, X[n:n + 1] - e)) / (2 * h))
        np.testing.assert_allclose(obj.deltas[0][n], num, rtol=1e-6, atol=1e-8)
        # at every dense layer's output a_j: dE_n/da_j = dE_n/db_j for instance n alone
        for j, op, (W, b) in net.param_layers():
            num = []
            for k in range(b.size):
                old = b[k]
                b[k] = old + h
                up = E_n(n)
                b[k] = old - h
                down = E_n(n)
                b[k] = old
                num.append((up - down) / (2 * h))
            np.testing.assert_allclose(obj.deltas[j + 1][n], num, rtol=1e-6, atol=1e-8)
    # the batch adjoints are the deltas times the loss's per-instance factor
    factor = 1.0 / B if reduction == "mean" else 1.0
    for i in range(len(net.ops)):
        if obj.adjoints[i] is not None:
            np.testing.assert_allclose(obj.adjoints[i], factor * obj.deltas[i], rtol=1e-12, atol=1e-15)


def test_neuron_backprop_offers_the_per_instance_deltas_beside_the_batch_adjoints():
    net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(5, 2)), np.array([0, 1, 1, 0, 1])
    npass = bp.neuron_backprop(net, "cross_entropy", X, y)
    obj = bp.backprop(net, "cross_entropy", X, y)
    j = npass.layout.find("h1_1")
    np.testing.assert_allclose(npass.dEn_dx[:, j], obj.deltas[1][:, 0], rtol=1e-13)
    np.testing.assert_allclose(npass.dE_dx, npass.dEn_dx / 5, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(npass.dEn_dw.sum(axis=0) / 5, npass.dE_dw.sum(axis=0), rtol=1e-12, atol=1e-16)
    # one instance alone: the delta of output o1 is y - d (softmax + cross-entropy)
    o1 = npass.layout.find("o1")
    Y = net.predict(X)
    np.testing.assert_allclose(npass.dEn_dx[:, o1], Y[:, 0] - (y == 0), rtol=1e-12, atol=1e-15)
    assert set(npass.node_deltas()) == set(npass.names)


def test_full_batch_training_on_a_summed_loss_steps_along_the_summed_gradient():
    rng = np.random.default_rng(3)
    X, T = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    total = bp.get_loss("l2", reduction="sum")
    w0 = net.params.copy()
    E0, g0 = bp.loss_and_grad(net, total, X, T)
    hist = bp.train(net, total, X, T, optimizer="gd", lr=0.01, epochs=1, verbose=False, shuffle=False)
    np.testing.assert_allclose(net.params, w0 - 0.01 * g0, rtol=1e-13, atol=1e-15)
    assert hist.records[0]["loss"] == pytest.approx(E0, rel=1e-12)


def test_an_unknown_reduction_is_refused():
    with pytest.raises(ConfigError, match="reduction must be 'mean'"):
        bp.get_loss("l2", reduction="avg")


# ---- errors that escape: seeds, check options, constructors, W x W sizes ------------------------------

BAD_SEEDS = [1.5, "x", True, -1, [1, 2], np.float64(2.0)]


@pytest.mark.parametrize("seed", BAD_SEEDS)
@pytest.mark.parametrize("call", [
    lambda s: bp.MLP([2, 3, 2], seed=s),
    lambda s: bp.Sequential(2, [3, "tanh", 2, "softmax"], seed=s),
    lambda s: bp.Network(2, [Dense(2, 2), Softmax(2)], seed=s),
    lambda s: bp.train(bp.MLP([2, 3, 2]), "cross_entropy", np.zeros((4, 2)), [0, 1, 0, 1], epochs=1, seed=s,
                       verbose=False),
    lambda s: bp.check_gradient(bp.MLP([2, 3, 2]), "cross_entropy", np.zeros((4, 2)), [0, 1, 0, 1], n=3, seed=s),
], ids=["MLP", "Sequential", "Network", "train", "check_gradient"])
def test_bad_seeds_are_a_config_error_naming_what_is_expected(call, seed):
    with pytest.raises(ConfigError, match="seed must be None, an integer >= 0"):
        call(seed)


@pytest.mark.parametrize("seed", [1.5, "x", -1])
def test_estimators_refuse_bad_random_states_with_a_value_error(seed):
    from backprop.sklearn import MLPClassifier
    X, y = np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2
    with pytest.raises(ValueError, match="random_state"):
        MLPClassifier(random_state=seed, max_iter=2).fit(X, y)


def test_a_bad_seed_in_train_changes_nothing():
    net = bp.MLP([2, 3, 2], seed=0)
    before = net.params.copy()
    with pytest.raises(ConfigError, match="seed"):
        bp.train(net, "cross_entropy", np.ones((4, 2)), [0, 1, 0, 1], epochs=2, seed=2.5, verbose=False)
    assert np.array_equal(net.params, before)


def test_good_seeds_still_work():
    assert np.array_equal(bp.MLP([2, 3, 2], seed=np.int64(3)).params, bp.MLP([2, 3, 2], seed=3).params)
    bp.MLP([2, 3, 2], seed=None)
    bp.MLP([2, 3, 2], seed=np.random.default_rng(0))


@fast(30)
@given(st.integers(1, 60))
def test_check_seed_accepts_every_non_negative_int_and_refuses_every_other_float(k):
    from backprop.validation import check_seed
    assert check_seed(k) == k
    with pytest.raises(ConfigError):
        check_seed(k + 0.5)
    with pytest.raises(ConfigError):
        check_seed(-k)


BAD_OPTIONS = [dict(eps=0), dict(eps=np.nan), dict(eps=-1e-6), dict(eps=np.inf), dict(eps="x"), dict(tol=-1),
               dict(tol=np.nan), dict(floor=0), dict(floor=-1.0)]


@pytest.mark.parametrize("kw", BAD_OPTIONS, ids=[str(k) for k in BAD_OPTIONS])
@pytest.mark.parametrize("check", ["gradient", "jacobian", "hessian", "hessian_fd4"])
def test_bad_check_options_are_refused_before_any_work(check, kw):
    net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    X, y = np.random.default_rng(0).normal(size=(3, 2)), [0, 1, 1]
    calls = {"gradient": lambda: bp.check_gradient(net, "cross_entropy", X, y, **kw),
             "jacobian": lambda: bp.check_jacobian(net, X, **kw),
             "hessian": lambda: bp.check_hessian(net, "cross_entropy", X, y, **kw),
             "hessian_fd4": lambda: bp.check_hessian(net, "cross_entropy", X, y, method="fd4", **kw)}
    with pytest.raises(ConfigError, match=f"{next(iter(kw))} must be a finite number"):
        calls[check]()


@pytest.mark.parametrize("n", [0, -1, 1.5, "x", True])
def test_bad_subset_sizes_are_refused(n):
    net = bp.MLP([2, 3, 2], seed=0)
    with pytest.raises(ConfigError, match="n must be a positive integer or None"):
        bp.check_gradient(net, "cross_entropy", np.zeros((2, 2)), [0, 1], n=n)


@pytest.mark.parametrize("build, match", [
    (lambda: bp.MLP(5), "sizes must list"),
    (lambda: bp.MLP(None), "sizes must list"),
    (lambda: bp.MLP([2, 3, 2], dtype="nope"), "dtype must be float32 or float64"),
    (lambda: bp.MLP([2, 3, 2], dtype=5), "dtype must be float32 or float64"),
    (lambda: bp.MLP([2, 3, 2], dtype=np.int32), "dtype must be float32 or float64"),
    (lambda: bp.Sequential(None, [3]), "number of inputs"),
    (lambda: bp.Sequential(2, 5), "layers must be a list"),
    (lambda: bp.Network(2, 5), "ops must be a list"),
    (lambda: bp.Network(2, [Dense(2, 2)], inputs=5), "inputs must list"),
    (lambda: bp.Network(2, [Dense(2, 2)], inputs=[("a",)]), "nodes are integers"),
    (lambda: bp.get_loss("l2", l2="x"), "l2 regularisation strength"),
])
def test_bad_constructor_arguments_are_config_errors(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


BIG = bp.MLP([1000, 200, 1], hidden="tanh", output="sigmoid", seed=0)     # W = 200,401: a Hessian of 321 GB


@pytest.mark.parametrize("call", [
    lambda net, X, T: bp.hessian(net, "bce", X, T),
    lambda net, X, T: bp.gauss_newton(net, "bce", X, T),
    lambda net, X, T: bp.Laplace(net, "bce", X, T),
    lambda net, X, T: bp.check_hessian(net, "bce", X, T),
    lambda net, X, T: bp.check_hessian(net, "bce", X, T, method="fd4"),
    lambda net, X, T: bp.minimize(net, "bce", X, T, method="trust-exact"),
], ids=["hessian", "gauss_newton", "laplace", "check_hessian", "check_hessian_fd4", "minimize_trust_exact"])
def test_W_by_W_requests_beyond_the_limit_are_refused_early_with_the_size_and_the_alternative(call):
    assert BIG.n_params == 200_401
    with pytest.raises(MemoryLimitError, match=r"200401 parameters needs \d+ bytes = \d+\.\d [GT]iB.*max_bytes=None") as e:
        call(BIG, np.zeros((1, 1000)), [0.0])
    assert any(alt in str(e.value) for alt in ("hvp", "diag", "trust-ncg"))
    assert isinstance(e.value, ValueError)


def test_the_limit_can_be_lowered_raised_and_lifted():
    net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    X, T = np.ones((3, 2)), np.zeros(3)
    with pytest.raises(MemoryLimitError, match="13 parameters needs 1352 bytes = 1.3 KiB"):
        bp.hessian(net, "l2", X, T, max_bytes=1000)
    H = bp.hessian(net, "l2", X, T, max_bytes=None)
    np.testing.assert_array_equal(bp.hessian(net, "l2", X, T, max_bytes=10_000), H)
    np.testing.assert_array_equal(bp.gauss_newton(net, "l2", X, T, max_bytes=None), bp.gauss_newton(net, "l2", X, T))
    bp.Laplace(net, "l2", X, T, hessian="gauss_newton", max_bytes=None)
    bp.Laplace(net, "l2", X, T, hessian="gauss_newton", structure="diag", max_bytes=1)      # the diagonal needs no W x W array
    with pytest.raises(ConfigError, match="max_bytes must be a positive number"):
        bp.hessian(net, "l2", X, T, max_bytes=-5)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 9), batch=st.integers(1, 9), l2=st.sampled_from([0.0, 0.3]),
       name=st.sampled_from(["l2", "bce", "cross_entropy"]))
def test_the_epoch_loss_of_a_summed_loss_is_the_summed_loss(n, batch, l2, name):
    """With a learning rate too small to move the parameters, the epoch loss and the history's start
    loss equal the loss of the whole set, for either reduction."""
    output = {"l2": "identity", "bce": "sigmoid", "cross_entropy": "softmax"}[name]
    net = bp.MLP([3, 4, 2], hidden="tanh", output=output, seed=1)
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3))
    T = {"l2": rng.normal(size=(n, 2)), "bce": rng.integers(0, 2, size=(n, 2)).astype(float),
         "cross_entropy": rng.integers(0, 2, size=n)}[name]
    for reduction in ("mean", "sum"):
        loss = bp.get_loss(name, l2=l2, reduction=reduction)
        whole, _ = bp.loss_and_grad(net, loss, X, T)
        history = bp.train(net, loss, X, T, optimizer="sgd", lr=1e-300, batch_size=batch, epochs=1,
                           shuffle=False, verbose=False)
        assert history["loss"][0] == pytest.approx(whole, rel=1e-12)
        assert history.start_loss == pytest.approx(whole, rel=1e-12)


@pytest.mark.parametrize("bad", [1.5, "x", True, -1])
def test_data_set_seeds_are_checked_like_every_other_seed(bad):
    X, y = np.zeros((8, 2)), np.arange(8) % 2
    for call in (lambda: bp.datasets.spirals(seed=bad), lambda: bp.datasets.moons(seed=bad),
                 lambda: bp.datasets.train_test_split(X, y, seed=bad)):
        with pytest.raises(ConfigError, match=r"seed must be None, an integer >= 0; got"):
            call()
