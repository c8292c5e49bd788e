"""The estimators' own parameter and sample-weight checks: they accept and reject what scikit-learn's do.

scikit-learn's private validation module serves as the reference here (tests only; the library does not
import it). If a later scikit-learn drops it, the comparisons skip and the direct checks still run.
"""
from numbers import Integral, Real

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.faces.estimators import _params
from backprop.faces.estimators._params import Interval, InvalidParameterError, Options, StrOptions
from backprop.sklearn import MLPClassifier, MLPRegressor

X = np.random.default_rng(0).normal(size=(12, 3))
y = np.arange(12) % 2


def test_invalid_parameter_is_a_config_error_and_a_type_error_with_scikit_learns_message():
    with pytest.raises(InvalidParameterError) as info:
        MLPClassifier(alpha=-1.0).fit(X, y)
    assert isinstance(info.value, bp.ConfigError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, TypeError)
    assert str(info.value) == ("The 'alpha' parameter of MLPClassifier must be a float in the range [0.0, inf). "
                               "Got -1.0 instead.")
    with pytest.raises(InvalidParameterError, match=r"The 'max_iter' parameter of MLPRegressor must be an int "
                                                    r"in the range \[1, inf\)\. Got 0 instead\."):
        MLPRegressor(max_iter=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match=r"'shuffle' parameter .* must be an instance of 'bool' or an "
                                                    r"instance of 'numpy.bool'\. Got 1 instead\."):
        MLPClassifier(shuffle=1).fit(X, y)
    with pytest.raises(InvalidParameterError, match=r"'batch_size' .* must be a str among \{'auto'\} or an int in "
                                                    r"the range \[1, inf\)\. Got 'big' instead\."):
        MLPClassifier(batch_size="big").fit(X, y)


def test_a_failed_validation_changes_nothing():
    clf = MLPClassifier((3,), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    before = dict(clf.__dict__)
    params = clf.network_.params.copy()
    clf.set_params(momentum=2.0, warm_start=True)
    with pytest.raises(InvalidParameterError, match="momentum"):
        clf.fit(X, y)
    assert clf.__dict__.keys() == before.keys() and np.array_equal(clf.network_.params, params)


def test_interval_and_options_rules():
    half_open = Interval(Real, 0, 1, closed="left")
    assert [half_open.is_satisfied_by(v) for v in (0, 0.5, 1, -0.1, np.nan, "0.5", np.float32(0.25))] == \
        [True, True, False, False, False, False, True]
    counts = Interval(Integral, 1, None, closed="left")
    assert [counts.is_satisfied_by(v) for v in (1, np.int64(7), 0, 1.0, 2**70)] == [True, True, False, False, True]
    assert str(Interval(Real, 0, None, closed="neither")) == "a float in the range (0.0, inf)"
    assert str(Interval(Integral, None, 3, closed="right")) == "an int in the range (-inf, 3]"
    assert Options(Real, {np.inf}).is_satisfied_by(np.inf) and not Options(Real, {np.inf}).is_satisfied_by(1e308)
    assert StrOptions({"a", "b"}).is_satisfied_by("a") and not StrOptions({"a"}).is_satisfied_by(["a"])
    assert str(StrOptions({"b", "a"})) == "a str among {'a', 'b'}"
    for bad in (dict(type=float, left=0, right=1, closed="left"), dict(type=Real, left=0, right=1, closed="open"),
                dict(type=Integral, left=0.5, right=None, closed="left"),
                dict(type=Real, left=1, right=0, closed="both")):
        with pytest.raises(ValueError):
            Interval(bad.pop("type"), bad.pop("left"), bad.pop("right"), **bad)
    with pytest.raises(ValueError, match="unknown parameter constraint"):
        _params.validate_params({"p": ["no such rule"]}, {"p": 1}, "Caller")


def test_sample_weight_check():
    np.testing.assert_array_equal(_params.check_sample_weight(None, 3), np.ones(3))
    np.testing.assert_array_equal(_params.check_sample_weight(2, 3), np.full(3, 2.0))
    w = _params.check_sample_weight(np.array([1, 2, 3], dtype=np.int32), 3)
    assert w.dtype == np.float64 and w.flags.c_contiguous
    assert _params.check_sample_weight(np.arange(6.0)[::2], 3).flags.c_contiguous
    for bad, match in [([1, 2], r"sample_weight.shape == \(2,\), expected \(3,\)!"),
                       (np.ones((3, 1)), "1D array or scalar, got 2D"),
                       ([1, -1, 1], "Negative values in data passed to `sample_weight`"),
                       ([0, 0, 0], "at least one non-zero"),
                       ([1, np.nan, 1], "NaN or infinity"), ([1, np.inf, 1], "NaN or infinity"),
                       (["a", "b", "c"], "could not convert"), (-1.0, "Negative")]:
        with pytest.raises(ValueError, match=match):
            _params.check_sample_weight(bad, 3)


# ---- the same decisions as scikit-learn's validation, over the estimators' own declarations ----------------

sk_validation = pytest.importorskip("sklearn.utils._param_validation")


def _sklearn_constraint(c):
    if isinstance(c, Interval):
        return sk_validation.Interval(c.type, c.left, c.right, closed=c.closed)
    if isinstance(c, StrOptions):
        return sk_validation.StrOptions(c.options)
    if isinstance(c, Options):
        return sk_validation.Options(c.type, c.options)
    return c


CONSTRAINTS = {**MLPClassifier._parameter_constraints, **MLPRegressor._parameter_constraints}

values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(2**31, 2**33),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2),
    st.sampled_from([np.float32(0.5), np.int64(3), np.bool_(True), np.inf, np.nan, np.float64, np.dtype("float32"),
                     np.random.RandomState(0), "auto", "relu", "logistic", "softmax", "exp", "float32", "lbfgs",
                     "trust-ncg", "adaptive", "log_loss", "poisson", "", "other", (3, 4), [5], np.array([2]), {},
                     bp.get_activation("tanh"), bp.get_loss("l2"), object()]),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(CONSTRAINTS)), value=values)
def test_every_declared_constraint_accepts_exactly_what_scikit_learn_accepts(name, value):
    ours = [_params._rule(c) for c in CONSTRAINTS[name]]
    theirs = [sk_validation.make_constraint(_sklearn_constraint(c)) for c in CONSTRAINTS[name]]
    assert [r.is_satisfied_by(value) for r in ours] == [r.is_satisfied_by(value) for r in theirs]
    try:
        sk_validation.validate_parameter_constraints({name: [_sklearn_constraint(c) for c in CONSTRAINTS[name]]},
                                                     {name: value}, "Est")
        expected = None
    except sk_validation.InvalidParameterError as e:
        expected = str(e)
    try:
        _params.validate_params(CONSTRAINTS, {name: value}, "Est")
        got = None
    except InvalidParameterError as e:
        got = str(e)
    if all(not isinstance(c, Options) or len(c.options) == 1 for c in CONSTRAINTS[name]):
        assert got == expected          # scikit-learn lists a set of several options in set order
    else:
        assert (got is None) == (expected is None)


@settings(max_examples=100, deadline=None)
@given(w=st.one_of(st.floats(-1, 3, allow_nan=False), st.lists(st.floats(-1, 1e6, allow_nan=False, width=32),
                                                               min_size=1, max_size=6)),
       n=st.integers(1, 6))
def test_sample_weights_as_scikit_learn_checks_them(w, n):
    from sklearn.utils.validation import _check_sample_weight

    def outcome(check):
        try:
            return check()
        except ValueError:
            return "error"

    ours = outcome(lambda: _params.check_sample_weight(w, n))
    theirs = outcome(lambda: _check_sample_weight(w, np.zeros((n, 1)), dtype=np.float64, ensure_non_negative=True))
    if isinstance(theirs, str):
        assert isinstance(ours, str)
    else:
        np.testing.assert_array_equal(ours, theirs)
