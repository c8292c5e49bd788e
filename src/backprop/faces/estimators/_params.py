"""Checking the estimators' constructor parameters against declared constraints, when ``fit`` starts.

Each parameter has a list of constraints and is valid when it meets at least one of them. A constraint
is one of:

- :class:`Interval`: a number of a given kind (``Integral`` or ``Real``) between two bounds;
- :class:`Options` or :class:`StrOptions`: one of a set of values;
- ``None``: the value ``None``;
- a type: any instance of it;
- ``"array-like"``: a sequence or array (not a string or scalar);
- ``"boolean"``: ``bool`` or ``numpy.bool_``;
- ``"random_state"``: ``None``, an int in [0, 2**32 - 1] or a ``numpy.random.RandomState``;
- ``"verbose"``: a boolean or an int >= 0.

The same declarations and messages as scikit-learn's parameter validation, so that the estimators
behave like scikit-learn's; written here because that machinery is private to scikit-learn.
"""
from __future__ import annotations

import math
from abc import ABCMeta
from numbers import Integral, Real
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ...errors import ConfigError


class InvalidParameterError(ConfigError, TypeError):
    """A constructor parameter of an estimator has a value that none of its constraints allows.

    A ``ValueError`` (like every configuration error of backprop) and a ``TypeError``, as scikit-learn's.

    Examples
    --------
    >>> issubclass(InvalidParameterError, ValueError), issubclass(InvalidParameterError, TypeError)
    (True, True)
    """


class Interval:
    """Numbers of kind ``type`` (``Integral`` or ``Real``) from ``left`` to ``right`` (None: unbounded).

    ``closed`` says which bounds belong to the interval: "left", "right", "both" or "neither".

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
        The kind of number.
    left, right : number or None
        The bounds; None for no bound on that side.
    closed : {"left", "right", "both", "neither"}
        Which bounds belong to the interval.

    Examples
    --------
    >>> from numbers import Integral
    >>> positive = Interval(Integral, 1, None, closed="left")
    >>> positive.is_satisfied_by(3), positive.is_satisfied_by(0), positive.is_satisfied_by(2.0)
    (True, False, False)
    >>> print(positive)
    an int in the range [1, inf)
    """

    def __init__(self, type: ABCMeta, left: float | None, right: float | None, *, closed: str) -> None:
        if type not in (Integral, Real):
            raise ValueError(f"Interval type must be numbers.Integral or numbers.Real, got {type!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be 'left', 'right', 'both' or 'neither', got {closed!r}")
        for bound in (left, right):
            if bound is not None and not isinstance(bound, type):
                raise ValueError(f"the bounds of an Interval of {type.__name__} must be {type.__name__}s or None; "
                                 f"got {bound!r}")
        if left is not None and right is not None and right <= left:
            raise ValueError(f"an Interval needs left < right; got [{left}, {right}]")
        self.type, self.left, self.right, self.closed = type, left, right, closed

    def __contains__(self, val: Real) -> bool:
        if not isinstance(val, Integral) and math.isnan(val):
            return False
        # a missing bound is -inf or inf, which belongs to the interval only if that side is closed
        left = -math.inf if self.left is None else self.left
        right = math.inf if self.right is None else self.right
        if val < left or (val == left and self.closed in ("right", "neither")):
            return False
        if not val <= right or (val == right and self.closed in ("left", "neither")):     # NaN returned above
            return False
        return True

    def is_satisfied_by(self, val: object) -> bool:
        """True if ``val`` is a number of this kind inside the interval.

        Parameters
        ----------
        val : object
            Any value.

        Returns
        -------
        bool

        Examples
        --------
        >>> from numbers import Real
        >>> Interval(Real, 0, 1, closed="left").is_satisfied_by(1.0)
        False
        """
        # ``type`` is Integral or Real, both kinds of Real: the second test says so to the type checker
        return isinstance(val, self.type) and isinstance(val, Real) and val in self

    def __str__(self) -> str:
        kind = "an int" if self.type is Integral else "a float"

        def bound(b: float | None, infinity: str) -> float | str:
            if b is None:
                return infinity
            return b if self.type is Integral else float(b)

        opening = "[" if self.closed in ("left", "both") else "("
        closing = "]" if self.closed in ("right", "both") else ")"
        return f"{kind} in the range {opening}{bound(self.left, '-inf')}, {bound(self.right, 'inf')}{closing}"


class Options:
    """One of the values in ``options``, which must be an instance of ``type``.

    Parameters
    ----------
    type : type
        The type of the values.
    options : iterable
        The values allowed.

    Examples
    --------
    >>> from numbers import Real
    >>> Options(Real, {np.inf}).is_satisfied_by(np.inf), Options(Real, {np.inf}).is_satisfied_by(1.0)
    (True, False)
    """

    def __init__(self, type: type, options: Iterable[object]) -> None:
        self.type, self.options = type, set(options)

    def is_satisfied_by(self, val: object) -> bool:
        """True if ``val`` is an instance of ``type`` and one of the options.

        Parameters
        ----------
        val : object
            Any value.

        Returns
        -------
        bool

        Examples
        --------
        >>> Options(int, {1, 2}).is_satisfied_by(2), Options(int, {1, 2}).is_satisfied_by(2.0)
        (True, False)
        """
        return isinstance(val, self.type) and val in self.options

    def _kind(self) -> str:
        return f"a {_type_name(self.type)}"

    def __str__(self) -> str:
        listed = ", ".join(repr(o) for o in sorted(self.options, key=repr))
        return f"{self._kind()} among {{{listed}}}"


class StrOptions(Options):
    """One of the strings in ``options``.

    Parameters
    ----------
    options : iterable of str
        The strings allowed.

    Examples
    --------
    >>> solvers = StrOptions({"adam", "sgd"})
    >>> solvers.is_satisfied_by("sgd"), solvers.is_satisfied_by("lbfgs")
    (True, False)
    >>> print(solvers)
    a str among {'adam', 'sgd'}
    """

    def __init__(self, options: Iterable[str]) -> None:
        super().__init__(str, options)

    def _kind(self) -> str:
        return "a str"


def _type_name(t: type) -> str:
    if t.__module__ == "builtins":
        return t.__qualname__
    if t in (Integral, Real):
        return "int" if t is Integral else "float"
    return f"{t.__module__}.{t.__qualname__}"


class _Rule:
    """A constraint given by name or by a type or None, with its test and its description."""

    def __init__(self, test: Callable[[object], bool], text: str) -> None:
        self.is_satisfied_by, self.text = test, text

    def __str__(self) -> str:
        return self.text


def _is_array_like(val: object) -> bool:
    return (hasattr(val, "__len__") or hasattr(val, "shape") or hasattr(val, "__array__")) and not np.isscalar(val)


def _is_boolean(val: object) -> bool:
    return isinstance(val, (bool, np.bool_))


_SEED = Interval(Integral, 0, 2**32 - 1, closed="both")
_COUNT = Interval(Integral, 0, None, closed="left")

_NAMED = {
    "array-like": _Rule(_is_array_like, "an array-like"),
    "boolean": _Rule(_is_boolean, "an instance of 'bool' or an instance of 'numpy.bool'"),
    "random_state": _Rule(lambda v: v is None or _SEED.is_satisfied_by(v) or isinstance(v, np.random.RandomState),
                          f"{_SEED}, an instance of 'numpy.random.mtrand.RandomState' or None"),
    "verbose": _Rule(lambda v: _COUNT.is_satisfied_by(v) or _is_boolean(v),
                     f"{_COUNT}, an instance of 'bool' or an instance of 'numpy.bool'"),
}


def _rule(constraint: object) -> Interval | Options | _Rule:
    """The constraint object for a declaration (an Interval/Options as is; a name, type or None as a _Rule)."""
    if isinstance(constraint, (Interval, Options)):
        return constraint
    if constraint is None:
        return _Rule(lambda v: v is None, "None")
    if isinstance(constraint, str):
        if constraint not in _NAMED:
            raise ValueError(f"unknown parameter constraint {constraint!r}; expected one of {sorted(_NAMED)}")
        return _NAMED[constraint]
    if isinstance(constraint, type):
        cls = constraint
        return _Rule(lambda v: isinstance(v, cls), f"an instance of {_type_name(cls)!r}")
    raise ValueError(f"unknown parameter constraint {constraint!r}: expected an Interval, Options, None, a type "
                     f"or one of {sorted(_NAMED)}")


def validate_params(constraints: Mapping[str, Sequence[object]], params: Mapping[str, object], caller: str) -> None:
    """Raise :class:`InvalidParameterError` for the first parameter that meets none of its constraints.

    Parameters
    ----------
    constraints : dict
        Parameter name -> list of constraints (see the module docstring). Parameters without an entry are
        not checked.
    params : dict
        Parameter name -> value, e.g. ``estimator.get_params(deep=False)``.
    caller : str
        Who takes the parameters, for the message (the estimator's class name).

    Raises
    ------
    InvalidParameterError
        With the message "The 'alpha' parameter of MLPClassifier must be a float in the range [0.0, inf).
        Got -1 instead."

    Examples
    --------
    >>> from numbers import Real
    >>> validate_params({"alpha": [Interval(Real, 0, None, closed="left")]}, {"alpha": -1}, "MLPClassifier")
    Traceback (most recent call last):
    ...
    backprop.faces.estimators._params.InvalidParameterError: The 'alpha' parameter of MLPClassifier must be a float in the range [0.0, inf). Got -1 instead.
    """
    for name, value in params.items():
        if name not in constraints:
            continue
        rules = [_rule(c) for c in constraints[name]]
        if any(r.is_satisfied_by(value) for r in rules):
            continue
        texts = [str(r) for r in rules]
        allowed = texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"
        raise InvalidParameterError(f"The {name!r} parameter of {caller} must be {allowed}. Got {value!r} instead.")


def check_sample_weight(sample_weight: ArrayLike | None, n_samples: int, dtype: DTypeLike = np.float64) -> NDArray[Any]:
    """Sample weights as a C-contiguous float vector of length ``n_samples``: finite, >= 0, not all zero.

    Parameters
    ----------
    sample_weight : None, a number, or array-like of shape (n_samples,)
        None gives ones; a number gives that weight to every sample.
    n_samples : int
        The number of samples (rows of X) the weights are for.
    dtype : dtype, default np.float64

    Returns
    -------
    ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        For weights of the wrong shape, non-finite, negative or all zero.

    Examples
    --------
    >>> check_sample_weight([1, 2, 0], 3)
    array([1., 2., 0.])
    """
    if sample_weight is None:
        w = np.ones(n_samples, dtype=dtype)
    elif isinstance(sample_weight, (Real, np.number)) and not isinstance(sample_weight, (bool, np.bool_)):
        w = np.full(n_samples, sample_weight, dtype=dtype)
    else:
        try:
            w = np.ascontiguousarray(np.asarray(sample_weight), dtype=dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"sample_weight must be numbers, one per sample; could not convert it: {e}") from None
        if w.ndim != 1:
            raise ValueError(f"Sample weights must be 1D array or scalar, got {w.ndim}D array. Expected either "
                             f"a scalar value or a 1D array of length {n_samples}.")
        if w.shape != (n_samples,):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n_samples,)}!")
    if not np.all(np.isfinite(w)):
        raise ValueError("Input sample_weight contains NaN or infinity; expected finite weights >= 0.")
    if np.any(w < 0):
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if not np.any(w):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w
