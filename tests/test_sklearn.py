"""backprop.sklearn: MLPClassifier and MLPRegressor against scikit-learn's, and against the engine.

The mini-batch kernel is checked against the engine's gradient; the estimators against scikit-learn's
MLP (same objective, initialisation and batches: the sgd loss curves agree to rounding), on the data sets
scikit-learn ships (test score within 1 point or better), and in scikit-learn's tools.
"""
import copy
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st
from sklearn.base import clone
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine,
                              make_classification, make_multilabel_classification, make_regression)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import backprop as bp
from backprop.engine.objective import Objective
from backprop.faces.estimators._common import batch_objective
from backprop.ops.activations import get_activation
from backprop.sklearn import MLPClassifier, MLPRegressor
from helpers import heads

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

softsign = bp.activation("softsign_test", lambda z: z / (1 + np.abs(z)), lambda z: 1 / (1 + np.abs(z)) ** 2,
                         lambda z: -2 * np.sign(z) / (1 + np.abs(z)) ** 3)


def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


# --- the kernel against the engine --------------------------------------------------------------------

HEADS = heads(("tanh", "l2"), ("sigmoid", "l2"))
HIDDEN = ["relu", "tanh", "sigmoid", "identity", "leaky_relu", "softplus", softsign]


def _targets(loss, B, c, rng):
    if bp.get_loss(loss).task == "multiclass":          # soft rows, not only one-hot ones
        return np.eye(c)[rng.integers(0, c, size=B)] * 0.9 + 0.1 / c
    return bp.get_loss(loss).make_targets(rng, B, c)


def _loss(name):
    return bp.get_loss(name)


def _output(name):
    return get_activation("exp") if name == "exp" else name


def _engine_value_and_grad(net, loss, X, D, w, alpha):
    """sum_n w_n E_n / S + alpha / (2 S) ||W||^2 from the engine, one sample at a time (no shared code)."""
    S = w.sum()
    value, grad = 0.0, np.zeros(net.n_params)
    for n in range(X.shape[0]):
        obj = Objective(net, loss, X[n:n + 1], D[n:n + 1], validate=False)
        grad += w[n] * obj.gradient()
        value += w[n] * obj.value()
    W = np.where(net.reg_mask, net.params, 0)
    return value / S + 0.5 * alpha / S * W @ W, grad / S + alpha / S * W


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=0, max_size=3), d=st.integers(1, 5), c=st.integers(2, 4),
       B=st.integers(1, 7), act=st.sampled_from(HIDDEN), head=st.sampled_from(HEADS),
       alpha=st.sampled_from([0.0, 0.7]), weighted=st.booleans(), sparse=st.booleans(),
       seed=st.integers(0, 10_000))
def test_batch_objective_equals_sum_of_instance_gradients(sizes, d, c, B, act, head, alpha, weighted, sparse,
                                                          seed):
    rng = np.random.default_rng(seed)
    output, loss_name = head
    net = bp.MLP([d] + sizes + [c], hidden=act, output=_output(output), seed=seed)
    X = rng.normal(size=(B, d))
    D = _targets(loss_name, B, c, rng)
    w = rng.uniform(0.1, 3.0, size=B) if weighted else np.ones(B)
    obj = batch_objective(net, _loss(loss_name), sp.csr_matrix(X) if sparse else X, D,
                          w if weighted else None, alpha)
    want_value, want_grad = _engine_value_and_grad(net, _loss(loss_name), X, D, w, alpha)
    grad = obj.gradient()
    assert obj.value() == pytest.approx(want_value, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-12)


def test_batch_objective_in_float32_and_with_zero_total_weight():
    rng = np.random.default_rng(0)
    net = bp.MLP([4, 8, 3], hidden="relu", output="softmax", seed=0, dtype=np.float32)
    net64 = bp.MLP([4, 8, 3], hidden="relu", output="softmax", seed=0)
    for B in (7, 3, 9, 1):
        X = rng.normal(size=(B, 4)).astype(np.float32)
        D = np.eye(3, dtype=np.float32)[rng.integers(0, 3, B)]
        obj = batch_objective(net, bp.get_loss("cross_entropy"), X, D, None, 0.1)
        ref = Objective(net64, bp.get_loss("cross_entropy", l2=0.1 / B), X, D, validate=False)
        g = obj.gradient()
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, ref.gradient(), rtol=1e-4, atol=1e-6)
        assert obj.value() == pytest.approx(ref.value(), rel=1e-5)
    assert batch_objective(net, bp.get_loss("cross_entropy"), X, D, np.zeros(B, np.float32), 0.1) is None


def test_weighted_hessian_vector_products_match_differences_of_the_gradient():
    rng = np.random.default_rng(1)
    net = bp.MLP([3, 5, 4], hidden="tanh", output="softmax", seed=1)
    X, D = rng.normal(size=(6, 3)), np.eye(4)[rng.integers(0, 4, 6)]
    s = rng.uniform(0, 2, 6)
    s *= 6 / s.sum()
    loss = bp.get_loss("cross_entropy", l2=0.3)
    V = rng.normal(size=(2, net.n_params))
    Hv = Objective(net, loss, X, D, sample_weight=s, validate=False).hvp(V)
    base = net.params.copy()
    for v, hv in zip(V, Hv):
        grads = []
        for h in (1e-5, -1e-5):
            net.params[:] = base + h * v
            grads.append(Objective(net, loss, X, D, sample_weight=s, validate=False).gradient())
        net.params[:] = base
        np.testing.assert_allclose(hv, (grads[0] - grads[1]) / 2e-5, rtol=1e-6, atol=1e-8)


# --- the same training as scikit-learn's ----------------------------------------------------------------

def test_sgd_follows_scikit_learn_step_for_step():
    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16
    y = y[:600]
    kw = dict(hidden_layer_sizes=(30,), solver="sgd", learning_rate_init=0.05, max_iter=6, random_state=3,
              alpha=1e-3, batch_size=64)
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
    assert ours.t_ == theirs.t_ == 6 * 600 and ours.n_iter_ == theirs.n_iter_ == 6


@pytest.mark.parametrize("kw", [
    dict(solver="sgd", momentum=0.0, learning_rate="invscaling", power_t=0.3, learning_rate_init=0.5),
    dict(solver="sgd", momentum=0.0, learning_rate="adaptive", tol=0.05, n_iter_no_change=1,
         learning_rate_init=0.2),
    dict(solver="sgd", nesterovs_momentum=False, shuffle=False, learning_rate_init=0.1),
    dict(solver="sgd", early_stopping=True, validation_fraction=0.2, learning_rate_init=0.1),
    dict(solver="sgd", early_stopping=True, learning_rate_init=0.1, n_iter_no_change=2, tol=0.5, max_iter=40),
    dict(solver="sgd", tol=0.05, n_iter_no_change=2, max_iter=50, learning_rate_init=0.1),
])
def test_schedules_and_stopping_rules_are_scikit_learns(kw):
    X, y = iris()
    kw = dict(dict(hidden_layer_sizes=(8,), max_iter=12, random_state=0, batch_size=32), **kw)
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-8)
    if kw.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_validation_score_ == theirs.best_validation_score_ and ours.best_loss_ is None
        assert len(ours.validation_loss_curve_) == ours.n_iter_
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6)
    else:
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-8)
        assert ours.validation_scores_ is None and ours.validation_loss_curve_ is None


def test_adam_and_lbfgs_follow_scikit_learn():
    X, y = iris()
    kw = dict(hidden_layer_sizes=(10,), max_iter=15, random_state=0)
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    # Adam differs only in where epsilon goes (added to sqrt(v_hat) here, to sqrt(v) in scikit-learn)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-4)
    kw["solver"] = "lbfgs"
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 15
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    assert len(ours.loss_curve_) == 15 and ours.loss_curve_[-1] == pytest.approx(ours.loss_)


@pytest.mark.parametrize("problem", ["binary", "multilabel", "multioutput", "poisson"])
def test_every_kind_of_target_matches_scikit_learn(problem):
    kw = dict(hidden_layer_sizes=(7,), solver="sgd", max_iter=5, random_state=1, learning_rate_init=0.02)
    if problem == "binary":
        X, y = make_classification(120, 5, random_state=0)
        ours, theirs = MLPClassifier(**kw), SkClassifier(**kw)
    elif problem == "multilabel":
        X, y = make_multilabel_classification(120, 5, n_classes=3, random_state=0)
        ours, theirs = MLPClassifier(**kw), SkClassifier(**kw)
    elif problem == "multioutput":
        X, y = make_regression(120, 5, n_targets=3, random_state=0)
        y = y / 100
        ours, theirs = MLPRegressor(alpha=0, **kw), SkRegressor(alpha=0, **kw)
    else:
        X, y = make_regression(120, 5, random_state=0)
        y = np.exp(y / 200)
        ours, theirs = MLPRegressor(loss="poisson", **kw), SkRegressor(loss="poisson", **kw)
    ours.fit(X, y)
    theirs.fit(X, y)
    # with several outputs scikit-learn reports the squared error averaged over them (it follows the gradient
    # of their sum); backprop reports the sum it minimises
    scale = 3 if problem == "multioutput" else 1
    np.testing.assert_allclose(ours.loss_curve_, scale * np.array(theirs.loss_curve_), rtol=1e-8)
    assert ours.out_activation_ == theirs.out_activation_
    assert ours.n_outputs_ == theirs.n_outputs_ and ours.n_layers_ == theirs.n_layers_ == 3
    method = "predict_proba" if hasattr(theirs, "predict_proba") else "predict"
    np.testing.assert_allclose(getattr(ours, method)(X), getattr(theirs, method)(X), rtol=1e-6, atol=1e-9)
    assert ours.predict(X).shape == theirs.predict(X).shape
    if problem in ("binary", "multilabel"):
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_sparse_input_no_hidden_layer_and_float32_train_like_scikit_learn():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    kw = dict(solver="sgd", max_iter=4, random_state=0, learning_rate_init=0.1)
    dense = MLPClassifier((12,), **kw).fit(X, y)
    sparse = MLPClassifier((12,), **kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(sparse.predict_proba(sp.csc_matrix(X)), dense.predict_proba(X), rtol=1e-9)
    lbfgs = MLPClassifier((12,), solver="lbfgs", max_iter=10, random_state=0)
    assert lbfgs.fit(sp.csr_matrix(X), y).loss_ == pytest.approx(lbfgs.fit(X, y).loss_, rel=1e-9)
    ours = MLPClassifier((), **kw).fit(X, y)
    theirs = SkClassifier((), **kw).fit(X, y)
    assert ours.n_layers_ == 2 and [c.shape for c in ours.coefs_] == [(64, 10)]
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    ours = MLPClassifier((12,), **kw).fit(X.astype(np.float32), y)
    theirs = SkClassifier((12,), **kw).fit(X.astype(np.float32), y)
    assert ours.network_.dtype == theirs.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)
    with pytest.raises(ValueError, match="single output"):
        MLPClassifier(output_activation="softmax").fit(X, y > 4)


# --- parity of the test score on scikit-learn's data sets -----------------------------------------------

def _split(X, y, scale_y=False):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    sx = StandardScaler().fit(Xtr)
    if scale_y:
        m, s = ytr.mean(), ytr.std()
        ytr, yte = (ytr - m) / s, (yte - m) / s
    return sx.transform(Xtr), sx.transform(Xte), ytr, yte


@pytest.mark.parametrize("name, load, kw", [
    ("digits", load_digits, dict(max_iter=40)),
    ("breast_cancer", load_breast_cancer, dict(max_iter=60)),
    ("wine", load_wine, dict(max_iter=100)),
    ("iris", load_iris, dict(max_iter=150)),
    ("iris lbfgs", load_iris, dict(solver="lbfgs", max_iter=100, hidden_layer_sizes=(20,))),
    ("breast_cancer sgd", load_breast_cancer, dict(solver="sgd", max_iter=60, learning_rate_init=0.01)),
])
def test_classification_test_score_is_within_a_point_of_scikit_learn(name, load, kw):
    Xtr, Xte, ytr, yte = _split(*load(return_X_y=True))
    kw = dict(kw, random_state=0)
    ours = MLPClassifier(**kw).fit(Xtr, ytr).score(Xte, yte)
    theirs = SkClassifier(**kw).fit(Xtr, ytr).score(Xte, yte)
    assert ours >= theirs - 0.01, (name, ours, theirs)


@pytest.mark.parametrize("kw", [dict(max_iter=100), dict(solver="lbfgs", max_iter=50, hidden_layer_sizes=(10,))])
def test_diabetes_regression_test_score_is_within_a_point_of_scikit_learn(kw):
    Xtr, Xte, ytr, yte = _split(*load_diabetes(return_X_y=True), scale_y=True)
    kw = dict(kw, random_state=0)
    ours = MLPRegressor(**kw).fit(Xtr, ytr).score(Xte, yte)
    theirs = SkRegressor(**kw).fit(Xtr, ytr).score(Xte, yte)
    assert ours >= theirs - 0.01, (ours, theirs)


# --- scikit-learn's tools -------------------------------------------------------------------------------

def test_pipeline_grid_search_cross_val_score_and_clone():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), solver="lbfgs", max_iter=200, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1.0], "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]},
                        cv=3).fit(X, y)
    assert grid.best_score_ > 0.85 and set(grid.best_params_) == {"mlpclassifier__alpha",
                                                                   "mlpclassifier__hidden_layer_sizes"}
    est = MLPRegressor(hidden_layer_sizes=(5,), activation=softsign, dtype="float32", random_state=2)
    twin = clone(est)
    params = twin.get_params()
    assert params.pop("activation").name == "softsign_test" and twin is not est
    assert params == {k: v for k, v in est.get_params().items() if k != "activation"}
    assert "network_" not in clone(grid.best_estimator_[-1]).__dict__


def test_fitted_attributes_have_scikit_learns_shapes_and_coefs_are_views():
    X, y = iris()
    clf = MLPClassifier((6, 5), random_state=0, max_iter=5).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(4, 6), (6, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(6,), (5,), (3,)]
    assert (clf.n_layers_, clf.n_outputs_, clf.out_activation_, clf.n_features_in_) == (4, 3, "softmax", 4)
    assert clf.n_iter_ == 5 and clf.t_ == 5 * 150 and len(clf.loss_curve_) == 5
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    W = clf.network_.views(0)[0]
    assert np.shares_memory(clf.coefs_[0], clf.network_.params) and clf.coefs_[0].base is not None
    np.testing.assert_array_equal(clf.coefs_[0], W.T)
    before = clf.predict_proba(X[:3])
    clf.coefs_[2][:] = 0                 # writing into the view changes the network
    clf.intercepts_[2][:] = [0.0, 1.0, 0.0]
    np.testing.assert_allclose(clf.predict_proba(X[:3]), np.tile(np.exp([0, 1, 0]) / np.exp([0, 1, 0]).sum(), (3, 1)))
    clf.coefs_ = [np.ones((4, 6)), np.ones((6, 5)), np.ones((5, 3))]
    assert np.all(clf.network_.views(0)[0] == 1) and not np.allclose(before, clf.predict_proba(X[:3]))
    with pytest.raises(ValueError, match="shapes"):
        clf.coefs_ = [np.ones((6, 4))]
    with pytest.raises(AttributeError):
        MLPClassifier().coefs_


def test_binary_and_multilabel_outputs_and_probabilities():
    X, y = make_classification(200, 6, random_state=0)
    labels = np.array(["no", "yes"])[y]
    clf = MLPClassifier((10,), solver="lbfgs", random_state=0).fit(X, labels)
    P = clf.predict_proba(X)
    assert P.shape == (200, 2) and clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    np.testing.assert_allclose(P.sum(axis=1), 1)
    assert set(clf.predict(X)) <= {"no", "yes"} and clf.score(X, labels) > 0.9
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), P, rtol=1e-10, atol=1e-300)
    np.testing.assert_array_equal(clf.decision_function(X) > 0, P[:, 1] > 0.5)
    X, Y = make_multilabel_classification(100, 5, n_classes=4, random_state=0)
    clf = MLPClassifier((10,), solver="lbfgs", random_state=0).fit(X, Y)
    assert clf.predict(X).shape == (100, 4) and clf.predict_proba(X).shape == (100, 4)
    assert clf.out_activation_ == "logistic" and clf.network_.output_activation == "sigmoid"
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X), rtol=1e-10)


def test_log_probabilities_stay_finite_where_probabilities_underflow():
    X, y = iris()
    clf = MLPClassifier((5,), solver="lbfgs", random_state=0).fit(X, y)
    far = X[:4] * 1e4
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        logp = clf.predict_log_proba(far)
    assert np.all(np.isfinite(logp))
    P = clf.predict_proba(far)
    assert np.any(P == 0)          # exp underflows; its log from the logits does not
    np.testing.assert_allclose(np.exp(logp), P, atol=1e-300)


def test_partial_fit_runs_one_epoch_per_call_like_scikit_learn():
    X, y = iris()
    kw = dict(hidden_layer_sizes=(6,), solver="sgd", random_state=0, learning_rate_init=0.05)
    ours, theirs = MLPClassifier(**kw), SkClassifier(**kw)
    with pytest.raises(ValueError, match="classes must be passed"):
        ours.partial_fit(X, y)
    assert "network_" not in ours.__dict__
    for k in range(3):
        ours.partial_fit(X[k::3], y[k::3], classes=[0, 1, 2])
        theirs.partial_fit(X[k::3], y[k::3], classes=[0, 1, 2])
    assert ours.n_iter_ == 1 and ours.t_ == theirs.t_ == 150
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    with pytest.raises(ValueError, match="not the same"):
        ours.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit
    reg = MLPRegressor(hidden_layer_sizes=(4,), solver="adam", random_state=0)
    reg.partial_fit(X, y.astype(float)).partial_fit(X, y.astype(float))
    assert reg.t_ == 300 and len(reg.loss_curve_) == 2
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y.astype(float))


def test_warm_start_continues_and_a_failed_call_changes_nothing():
    X, y = iris()
    clf = MLPClassifier((6,), warm_start=True, max_iter=5, random_state=0).fit(X, y)
    net_before, params_before = clf.network_, clf.network_.params.copy()
    state = {k: copy.copy(v) for k, v in clf.__dict__.items()}
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])
    assert clf.__dict__.keys() == state.keys() and clf.network_ is net_before
    np.testing.assert_array_equal(clf.network_.params, params_before)
    assert clf.loss_curve_ == state["loss_curve_"] and clf.t_ == state["t_"]
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 10 and clf.t_ == 1500 and clf.n_iter_ == 5
    assert not np.array_equal(clf.network_.params, params_before)
    clf.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match="warm_start=False"):
        clf.fit(X, y)


def test_divergence_raises_and_leaves_the_estimator_unfitted():
    X, y = iris()
    reg = MLPRegressor(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=1e6, momentum=0.0, random_state=0)
    with pytest.raises(bp.DivergenceError, match="learning_rate_init"):
        reg.fit(X * 1e3, y * 1e3)
    assert not any(k.endswith("_") for k in reg.__dict__)
    with pytest.raises(NotFittedError):
        reg.predict(X)


def test_sample_weights_count_like_repeated_samples():
    X, y = iris()
    w = np.random.default_rng(0).integers(0, 4, size=len(y))
    kw = dict(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0, max_iter=30)
    weighted = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6, atol=1e-9)
    kw["solver"] = "trust-ncg"
    weighted = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="Negative"):
        MLPClassifier(**kw).fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="zero"):
        MLPClassifier(**kw).fit(X, y, sample_weight=np.zeros(len(y)))


def test_sample_weights_match_scikit_learn_in_mini_batches():
    X, y = iris()
    w = np.random.default_rng(1).uniform(0, 2, len(y))
    w[:40] = 0
    kw = dict(hidden_layer_sizes=(5,), solver="sgd", random_state=0, max_iter=4, batch_size=20,
              learning_rate_init=0.05)
    ours, theirs = MLPClassifier(**kw).fit(X, y, sample_weight=w), SkClassifier(**kw).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


def test_trust_ncg_reaches_a_stationary_point_with_exact_curvature():
    X, y = iris()
    # a smooth activation: at a relu kink the quadratic model breaks and scipy stops with a warning
    clf = MLPClassifier((6,), activation="tanh", solver="trust-ncg", tol=1e-6, max_iter=200, alpha=1e-2,
                        random_state=0)
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    D = np.eye(3)[y]
    value, grad = bp.loss_and_grad(clf.network_, bp.get_loss("cross_entropy", l2=1e-2 / 150), X, D)
    assert np.linalg.norm(grad) < 1e-6 and value == pytest.approx(clf.loss_, rel=1e-10)
    assert clf.score(X, y) > 0.95 and clf.n_iter_ < 200
    with pytest.raises(ValueError, match="second derivatives"):
        MLPClassifier((3,), solver="trust-ncg", activation=bp.activation("nod2", np.tanh,
                                                                         lambda z: 1 - np.tanh(z) ** 2)).fit(X, y)


def test_extras_dtype_label_smoothing_activations_and_losses():
    X, y = iris()
    clf = MLPClassifier((8,), dtype="float32", solver="lbfgs", random_state=0, max_iter=50).fit(X, y)
    assert clf.network_.dtype == np.float32 and clf.predict_proba(X).dtype == np.float32
    assert MLPClassifier((4,), max_iter=3).fit(X.astype(np.float32), y).network_.dtype == np.float32
    assert MLPClassifier((4,), max_iter=3).fit(X.astype(int), y).network_.dtype == np.float64
    # label smoothing: the objective uses targets 1 - 2 eps on the class and eps on the two others
    eps = 0.1
    smooth = MLPClassifier((8,), label_smoothing=eps, solver="lbfgs", random_state=0, alpha=0, tol=1e-9,
                           max_iter=2000).fit(X, y)
    sharp = MLPClassifier((8,), solver="lbfgs", random_state=0, alpha=0).fit(X, y)
    D = np.eye(3)[y] * (1 - 3 * eps) + eps
    value, grad = bp.loss_and_grad(smooth.network_, "cross_entropy", X, D)
    assert value == pytest.approx(smooth.loss_, rel=1e-10)
    # the smoothed optimum is the target itself, 1 - 2 eps on the class, for every sample the net can fit
    assert smooth.predict_proba(X).max(axis=1).mean() < 1 - 2 * eps + 0.02 < sharp.predict_proba(X).max(axis=1).mean()
    binary = MLPClassifier((4,), label_smoothing=eps, solver="lbfgs", random_state=0, max_iter=20).fit(X, y > 0)
    value, _ = bp.loss_and_grad(binary.network_, bp.get_loss("bce", l2=1e-4 / 150), X,
                                (y > 0).astype(float) * (1 - 2 * eps) + eps)
    assert value == pytest.approx(binary.loss_, rel=1e-10)
    with pytest.raises(ValueError, match="too large"):
        MLPClassifier(label_smoothing=0.4).fit(X, y)
    # one activation per hidden layer, user-defined ones, built-in instances, other losses and outputs
    clf = MLPClassifier((6, 5), activation=["tanh", softsign], solver="lbfgs", random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9 and clf.network_.ops[3].act is softsign
    clf = MLPClassifier((6,), activation=bp.leaky_relu(0.2), loss="l2", solver="lbfgs", random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    reg = MLPRegressor(loss="bce", hidden_layer_sizes=(6,), solver="lbfgs", random_state=0).fit(X, y / 2)
    p = reg.predict(X)
    assert reg.out_activation_ == "logistic" and np.all((p >= 0) & (p <= 1)) and reg.score(X, y / 2) > 0.9
    reg = MLPRegressor(hidden_layer_sizes=(6,), output_activation="tanh", solver="lbfgs", random_state=0)
    assert reg.fit(X, y / 2 - 0.5).out_activation_ == "tanh"
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation=["relu"] * 2, hidden_layer_sizes=(3,)).fit(X, y)
    with pytest.raises(ValueError):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        MLPClassifier(loss=bp.get_loss("cross_entropy", l2=0.1)).fit(X, y)
    with pytest.raises(ValueError, match="binary"):
        MLPClassifier(loss="cross_entropy").fit(X, y > 0)


def test_pickle_keeps_predictions_and_activation_parameters():
    X, y = iris()
    clf = MLPClassifier((5,), activation=bp.leaky_relu(0.3), solver="lbfgs", random_state=0, max_iter=30).fit(X, y)
    twin = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    assert twin.activation.name == "leaky_relu" and twin.activation.params == {"slope": 0.3}
    assert type(twin.network_) is type(clf.network_) and twin.network_.params is not clf.network_.params
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))
    clf = MLPClassifier((3,), activation=softsign, max_iter=3).fit(X, y)
    deep = copy.deepcopy(clf)
    assert deep.network_.ops[1].act.name == "softsign_test"
    np.testing.assert_array_equal(deep.predict_proba(X), clf.predict_proba(X))


def test_network_is_a_backprop_network_for_derivatives():
    X, y = iris()
    clf = MLPClassifier((5,), activation="tanh", solver="lbfgs", random_state=0, alpha=1e-1).fit(X, y)
    net = clf.network_
    assert isinstance(net, bp.Network) and net.output_activation == "softmax"
    np.testing.assert_allclose(net.predict(X), clf.predict_proba(X))
    loss = bp.get_loss("cross_entropy", l2=1e-1 / 150)        # alpha / n: the estimator's objective
    value, grad = bp.loss_and_grad(net, loss, X, y)
    assert value == pytest.approx(clf.loss_, rel=1e-10) and grad.shape == net.params.shape
    # the input Jacobian of the fitted model against central differences of predict_proba
    J = bp.jacobian(net, X[:3])
    h = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        fd = (clf.predict_proba(X[:3] + e) - clf.predict_proba(X[:3] - e)) / (2 * h)
        np.testing.assert_allclose(J[:, :, i], fd, rtol=1e-6, atol=1e-9)
    la = bp.Laplace(net, loss, X, y, prior_precision=1.0)
    mean, var = la.predict(X[:5], return_var=True)
    assert mean.shape == var.shape == (5, 3) and np.all(var > 0)
    np.testing.assert_allclose(mean.sum(axis=1), 1)
    assert np.array_equal(mean.argmax(axis=1), clf.predict(X[:5]))


def test_early_stopping_restores_the_best_parameters():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    clf = MLPClassifier((20,), early_stopping=True, n_iter_no_change=3, random_state=0, max_iter=100).fit(X, y)
    assert len(clf.validation_scores_) == len(clf.validation_loss_curve_) == clf.n_iter_ < 100
    assert clf.best_validation_score_ == max(clf.validation_scores_) and clf.best_loss_ is None
    best = int(np.argmax(clf.validation_scores_))
    assert clf.validation_loss_curve_[best] < clf.validation_loss_curve_[0]
    assert 0.8 < clf.best_validation_score_ <= 1


def test_convergence_warning_verbose_output_and_parameter_validation(capsys):
    X, y = iris()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(2\\)"):
        MLPClassifier((3,), max_iter=2).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier((3,), solver="lbfgs", max_iter=2).fit(X, y)
    MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, verbose=True, early_stopping=True).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Validation score: " in out
    for bad in (dict(solver="newton"), dict(alpha=-1), dict(momentum=1.0), dict(batch_size=0),
                dict(dtype="float16"), dict(label_smoothing=1.0), dict(hidden_layer_sizes=(0,))):
        with pytest.raises(ValueError):
            MLPClassifier(**bad).fit(X, y)
    with pytest.warns(UserWarning, match="clipped"):
        MLPRegressor(hidden_layer_sizes=(3,), batch_size=1000, max_iter=1).fit(X, y)
    clf = MLPClassifier((3,), solver="lbfgs", max_fun=7, max_iter=100).fit(X, y)
    assert clf.n_iter_ <= 7
