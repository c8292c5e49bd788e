"""scikit-learn's own estimator checks on backprop's MLPClassifier and MLPRegressor.

Every check runs and must pass: nothing is skipped or marked as an expected failure here. As in
scikit-learn's own test suite (sklearn/tests/test_common.py), ConvergenceWarnings of the short fits the
checks make are ignored; every other warning stays an error. SCIPY_ARRAY_API=1 (set while a check runs)
lets the array-API check run with numpy inputs instead of skipping itself. Checks that need pandas skip
themselves when pandas is not installed (it is not a dependency of backprop).
"""
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from backprop.sklearn import MLPClassifier, MLPRegressor


@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
