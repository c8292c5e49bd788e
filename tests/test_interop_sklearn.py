"""scikit-learn both ways: from_sklearn / to_sklearn round trips give the same predictions (float64 to 1e-12)."""
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier as SkClassifier, MLPRegressor as SkRegressor
from sklearn.preprocessing import StandardScaler

import backprop as bp
from backprop.faces.exports.sklearn_io import SKLEARN_NAMES, _HIDDEN
from backprop.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SK_HIDDEN = [SKLEARN_NAMES[a] for a in _HIDDEN]


def data(kind):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if kind == "multiclass":
        return X, y
    if kind == "binary":
        return X, (y == 1).astype(int)
    if kind == "multilabel":
        return X, np.column_stack([y == 1, y == 2, X[:, 0] > 0]).astype(int)
    if kind == "regression":
        return X, X[:, 0] * 2 - X[:, 1]
    if kind == "multi-output":
        return X, np.column_stack([X[:, 0], X[:, 1] * X[:, 2]])
    return X, np.random.default_rng(0).poisson(np.exp(X[:, 0] / 2))      # counts


def assert_same_predictions(a, b, X, classifier):
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-12, atol=1e-12)
    if classifier:
        np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(a.classes_, b.classes_)


CLASSIFY = [(k, a) for k in ("multiclass", "binary", "multilabel") for a in SK_HIDDEN]
REGRESS = [(k, a, "squared_error") for k in ("regression", "multi-output") for a in SK_HIDDEN] + \
          [("counts", "tanh", "poisson")]


@pytest.mark.parametrize("kind,activation", CLASSIFY)
def test_classifier_both_ways(kind, activation):
    X, y = data(kind)
    sk = SkClassifier((6, 4), activation=activation, max_iter=30, random_state=0).fit(X, y)
    ours = bp.from_sklearn(sk)
    assert isinstance(ours, MLPClassifier) and ours.get_params()["activation"] == activation
    assert ours.n_iter_ == sk.n_iter_ and ours.loss_curve_ == sk.loss_curve_
    assert_same_predictions(sk, ours, X, True)
    back = bp.to_sklearn(ours)
    assert type(back) is SkClassifier
    assert_same_predictions(sk, back, X, True)
    for c1, c2 in zip(back.coefs_, sk.coefs_):
        assert c1.tobytes() == np.ascontiguousarray(c2).tobytes()


@pytest.mark.parametrize("kind,activation,loss", REGRESS)
def test_regressor_both_ways(kind, activation, loss):
    X, y = data(kind)
    sk = SkRegressor(hidden_layer_sizes=(5,), activation=activation, loss=loss, max_iter=30, random_state=0).fit(X, y)
    ours = bp.from_sklearn(sk)
    assert isinstance(ours, MLPRegressor)
    assert_same_predictions(sk, ours, X, False)
    back = bp.to_sklearn(ours)
    assert type(back) is SkRegressor
    assert_same_predictions(sk, back, X, False)


def test_a_backprop_estimator_fitted_by_backprop_goes_to_sklearn():
    X, y = data("multiclass")
    ours = MLPClassifier((5,), activation="tanh", solver="lbfgs", random_state=0, max_iter=50).fit(X, y)
    sk = bp.to_sklearn(ours)
    assert_same_predictions(ours, sk, X, True)
    assert sk.score(X, y) == ours.score(X, y)


@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax", "tanh"])
def test_a_bare_network_becomes_a_regressor_computing_predict(output):
    net = bp.MLP([4, 5, 3], hidden="relu", output=output, seed=0)
    X = np.random.default_rng(0).normal(size=(6, 4))
    sk = bp.to_sklearn(net)
    np.testing.assert_allclose(sk.predict(X), net.predict(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make,match", [
    (lambda: bp.MLP([3, 4, 2], hidden="leaky_relu"), "activations identity, sigmoid, tanh, relu, softmax, exp"),
    (lambda: bp.MLP([3, 4, 4, 2], hidden=["tanh", "relu"]), "one activation for all hidden layers"),
    (lambda: bp.MLP([3, 4, 2], hidden="exp"), "no exp hidden layer"),
    (lambda: bp.Sequential(3, [4, "tanh", 2]), "alternates dense layers and activations"),
    (lambda: bp.NeuronGraph.mlp([2, 3, 2]).compile(), "cannot express node 1"),
    (lambda: MLPClassifier(), "not fitted"),
])
def test_to_sklearn_names_what_scikit_learn_cannot_compute(make, match):
    with pytest.raises(bp.ConfigError, match=match):
        bp.to_sklearn(make())


def test_from_sklearn_refuses_unfitted_and_other_estimators():
    with pytest.raises(bp.ConfigError, match="not fitted"):
        bp.from_sklearn(SkClassifier())
    with pytest.raises(bp.ConfigError, match="MLPClassifier or MLPRegressor"):
        bp.from_sklearn(StandardScaler())


def test_float32_estimators_travel():
    X, y = data("multiclass")
    ours = MLPClassifier((5,), dtype="float32", max_iter=5, random_state=0).fit(X, y)
    sk = bp.to_sklearn(ours)
    assert sk.coefs_[0].dtype == np.float32
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(sk.predict_proba(X32), ours.predict_proba(X32), rtol=1e-5, atol=1e-6)
    again = bp.from_sklearn(sk)
    assert again.network_.dtype == np.float32 and again.network_.params.tobytes() == ours.network_.params.tobytes()
