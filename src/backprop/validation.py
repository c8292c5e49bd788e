"""Input checks shared by every entry point: fail early, with a message that says what was expected."""
from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .errors import ConfigError, InputError, MemoryLimitError


#: dtype kinds accepted as numbers: bool, signed and unsigned integers, real floats. Complex numbers
#: (their imaginary part would be dropped), datetimes, timedeltas, strings and objects are refused.
NUMERIC_KINDS = "biuf"
_KIND_NAMES = {"c": "complex", "M": "datetime64", "m": "timedelta64", "U": "string", "S": "bytes",
               "O": "object", "V": "structured"}

#: default largest W x W result (bytes) that ``hessian``, ``gauss_newton``, ``check_hessian`` and a full
#: ``Laplace`` build without being told to: 2 GiB (a float64 Hessian of 16384 parameters)
MAX_MATRIX_BYTES = 2 << 30


def all_finite(a: np.ndarray) -> bool:
    """True if every entry is finite.

    One BLAS dot product x.x first: it is finite when every entry is, and NaN or inf spreads into it.
    Only when it is not finite (which huge but finite entries can also cause, by overflow) does the
    full elementwise scan decide.

    Parameters
    ----------
    a : ndarray
        Any shape, a float dtype.

    Returns
    -------
    bool

    Examples
    --------
    >>> all_finite(np.array([1.0, np.inf]))
    False
    """
    flat = a.ravel()
    if flat.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.dot(flat, flat)):
                return True
    return bool(np.isfinite(a).all())


def _is_sparse(X: object) -> bool:
    try:
        from scipy.sparse import issparse
    except ImportError:        # pragma: no cover - scipy is a dependency
        return False
    return bool(issparse(X))


def as_numeric(a: ArrayLike, name: str, expected: str) -> np.ndarray:
    """``a`` as an ndarray of real numbers (bool, int or float), or InputError naming what was given.

    Never casts complex, datetime, timedelta, string or object data to numbers: such a cast would drop an
    imaginary part, turn dates into nanosecond counts or parse text, silently.

    Parameters
    ----------
    a : array_like
        The data as given.
    name : str
        What it is, for the message ("X", "targets").
    expected : str
        The expected shape, for the message, e.g. "(n, 2)".

    Returns
    -------
    ndarray
        Of bool, integer or float dtype.

    Raises
    ------
    InputError
        For data that are not real numbers.

    Examples
    --------
    >>> as_numeric([[1, 2]], "X", "(n, 2)")
    array([[1, 2]])
    """
    if type(a) is np.ndarray and a.dtype.kind in NUMERIC_KINDS:       # already an array of real numbers
        return a
    if _is_sparse(a):
        raise InputError(f"{name}: sparse input is not supported here; use {name}.toarray() (dense), or the "
                         "scikit-learn estimators (bp.sklearn.MLPClassifier, MLPRegressor), which accept "
                         "scipy sparse matrices")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name} must be a numeric array of shape {expected}: {e}") from None
    if arr.dtype.kind not in NUMERIC_KINDS:
        k = arr.dtype.kind
        kind = _KIND_NAMES.get(k, str(arr.dtype))
        hint = {"c": f"{name}.real (if the imaginary part is meant to be dropped)",
                "M": f"for example {name}.astype('datetime64[s]').astype(float) (seconds)",
                "m": f"for example {name} / np.timedelta64(1, 's') (seconds)"}.get(k, f"{name}.astype(float)")
        if k in "USO" and name == "targets":
            hint += (" for numbers written as text; class labels of any type become class indices with "
                     "indices, classes = bp.datasets.encode_labels(labels) (the labels: classes[indices]), "
                     "and the estimators bp.sklearn.MLPClassifier take them as they are")
        raise InputError(f"{name} must be numeric: real numbers (bool, int or float) of shape {expected}; got "
                         f"an array of dtype {arr.dtype} ({kind}), which is never converted silently; "
                         f"convert it explicitly, e.g. {hint}")
    return arr


def check_X(X: ArrayLike, n_features: int, dtype: DTypeLike, name: str = "X") -> np.ndarray:
    """Return X as a C-contiguous (B, n_features) array of ``dtype``, or raise InputError.

    Rejects: non-numeric data (complex, datetime, timedelta, strings, objects), scipy sparse
    matrices, arrays that are not 2-D, empty batches, the wrong number of columns, and NaN or
    inf entries (also entries that overflow ``dtype``).

    Parameters
    ----------
    X : array_like
        The inputs as given.
    n_features : int
        The number of columns expected.
    dtype : dtype
        The dtype of the result.
    name : str, default "X"
        What the inputs are called in messages.

    Returns
    -------
    ndarray of shape (B, n_features)

    Examples
    --------
    >>> check_X([[1, 2]], 2, np.float64)
    array([[1., 2.]])
    """
    if (type(X) is np.ndarray and X.dtype == dtype and X.ndim == 2 and X.shape[0] > 0
            and X.shape[1] == n_features and X.flags.c_contiguous and all_finite(X)):
        return X            # already what the checks below return: the same array, not a copy
    arr = as_numeric(X, name, f"(n_samples, {n_features})")
    if arr.ndim != 2:
        hint = " (for one sample use X.reshape(1, -1))" if arr.ndim == 1 else ""
        raise InputError(f"{name} must be 2-D of shape (n_samples, {n_features}); got shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise InputError(f"{name} is an empty batch; expected at least one row of {n_features} features")
    if arr.shape[1] != n_features:
        raise InputError(f"{name} has {arr.shape[1]} columns; the network expects {n_features} input features")
    with np.errstate(over="ignore"):
        cast = np.ascontiguousarray(arr, dtype=dtype)
    if not all_finite(cast):
        bad = np.argwhere(~np.isfinite(cast))[0]
        if np.isfinite(arr[bad[0], bad[1]]):
            raise InputError(f"{name}[{bad[0]}, {bad[1]}] = {float(arr[bad[0], bad[1]])!r} exceeds the range of "
                             f"the network's dtype {np.dtype(dtype).name}; scale the inputs or use float64")
        raise InputError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
                         "every input must be finite")
    return cast


def check_sample_weight(w: ArrayLike, n_samples: int, dtype: DTypeLike) -> np.ndarray:
    """Return sample weights as a (n_samples,) array of ``dtype``: finite, >= 0, not all zero.

    Parameters
    ----------
    w : array_like
        A scalar or one weight per sample.
    n_samples : int
        The number of samples.
    dtype : dtype
        The dtype of the result.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> check_sample_weight([1, 2], 2, np.float64)
    array([1., 2.])
    """
    w = as_numeric(w, "sample_weight", f"({n_samples},)")
    with np.errstate(over="ignore"):
        w = w.astype(dtype)
    if w.ndim == 0:
        w = np.full(n_samples, w, dtype=dtype)
    if w.shape != (n_samples,):
        raise InputError(f"sample_weight must have shape ({n_samples},); got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise InputError("sample_weight must be finite, >= 0 and not all zero")
    return w


@overload
def check_seed(seed: object, name: str, generator: Literal[False]) -> int | None: ...
@overload
def check_seed(seed: object, name: str = ..., *, generator: Literal[False]) -> int | None: ...
@overload
def check_seed(seed: object, name: str = ..., generator: bool = ...) -> int | np.random.Generator | None: ...
def check_seed(seed: object, name: str = "seed", generator: bool = True) -> int | np.random.Generator | None:
    """Return a valid seed: None, an integer >= 0, or (with ``generator``) a numpy ``Generator``.

    Anything else (1.5, "x", True, -1) is a ConfigError naming what is expected.
    """
    if seed is None:
        return None
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)) and seed >= 0:
        return int(seed)
    if generator and isinstance(seed, np.random.Generator):
        return seed
    allowed = "None, an integer >= 0" + (" or a numpy Generator (np.random.default_rng(...))" if generator else "")
    raise ConfigError(f"{name} must be {allowed}; got {seed!r}")


def check_matrix_size(n: int, dtype: DTypeLike, max_bytes: int | None, what: str, hint: str, copies: int = 1) -> None:
    """Refuse, before allocating, an n x n result (``copies`` of them) larger than ``max_bytes``.

    ``max_bytes=None`` lifts the limit. The MemoryLimitError states the bytes needed and ``hint``,
    the cheaper alternative.

    Parameters
    ----------
    n : int
        The side of the matrix.
    dtype : dtype
        Its dtype.
    max_bytes : int or None
        The limit.
    what : str
        What the matrix is, for the message.
    hint : str
        What to do instead, for the message.
    copies : int, default 1
        How many such matrices the computation holds at once.

    Raises
    ------
    MemoryLimitError
        When the matrices would exceed ``max_bytes``.

    Examples
    --------
    >>> try:
    ...     check_matrix_size(10**6, np.float64, 10**6, "the Hessian", "use hvp")
    ... except MemoryLimitError as e:
    ...     type(e).__name__
    'MemoryLimitError'
    """
    if max_bytes is None:
        return
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer, float, np.floating)) \
            or not max_bytes > 0:
        raise ConfigError(f"max_bytes must be a positive number of bytes or None (no limit); got {max_bytes!r}")
    need = int(copies) * int(n) * int(n) * np.dtype(dtype).itemsize
    if need > max_bytes:
        raise MemoryLimitError(
            f"{what} for {n} parameters needs {need} bytes = {_bytes(need)} ({copies} x {n} x {n} "
            f"{np.dtype(dtype).name}), "
            f"more than the limit max_bytes={_bytes(max_bytes)}; {hint}, or pass max_bytes=None "
            "(or a larger number of bytes) to build it anyway")


def _bytes(n: float) -> str:
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"    # pragma: no cover


def check_positive(value: Any, name: str, allow_zero: bool = False, allow_none: bool = True) -> float | None:
    """A finite float > 0 (>= 0 with ``allow_zero``), None when allowed, or ConfigError.

    Parameters
    ----------
    value : object
        The value given.
    name : str
        Its name, for the message.
    allow_zero : bool, default False
        Accept 0.
    allow_none : bool, default True
        Accept None (returned as None).

    Returns
    -------
    float or None

    Examples
    --------
    >>> check_positive(0.5, "lr"), check_positive(None, "tol")
    (0.5, None)
    """
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be a finite number {want}" + (" or None" if allow_none else "")
                          + f"; got {value!r}")
    return v
