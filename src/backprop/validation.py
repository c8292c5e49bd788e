"""Input checks shared by every entry point: fail early, with a message that says what was expected."""
from __future__ import annotations

import numpy as np

from .errors import InputError


def all_finite(a: np.ndarray) -> bool:
    """True if every entry is finite.

    One BLAS dot product x.x first: it is finite when every entry is, and NaN or inf spreads into it.
    Only when it is not finite (which huge but finite entries can also cause, by overflow) does the
    full elementwise scan decide.
    """
    flat = a.ravel()
    if flat.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.dot(flat, flat)):
                return True
    return bool(np.isfinite(a).all())


def check_X(X, n_features: int, dtype, name: str = "X") -> np.ndarray:
    """Return X as a C-contiguous (B, n_features) array of ``dtype``, or raise InputError.

    Rejects: non-numeric data, arrays that are not 2-D, empty batches, the wrong number
    of columns, and NaN or inf entries.
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name} must be a numeric array of shape (n_samples, {n_features}): {e}") from None
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name} must hold numbers; got an array of dtype {arr.dtype} "
                             "with non-numeric entries") from None
    if arr.ndim != 2:
        hint = " (for one sample use X.reshape(1, -1))" if arr.ndim == 1 else ""
        raise InputError(f"{name} must be 2-D of shape (n_samples, {n_features}); got shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise InputError(f"{name} is an empty batch; expected at least one row of {n_features} features")
    if arr.shape[1] != n_features:
        raise InputError(f"{name} has {arr.shape[1]} columns; the network expects {n_features} input features")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
                         "every input must be finite")
    return arr


def check_sample_weight(w, n_samples: int, dtype) -> np.ndarray:
    """Return sample weights as a (n_samples,) array of ``dtype``: finite, >= 0, not all zero."""
    try:
        w = np.asarray(w, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(f"sample_weight must be numbers, shape ({n_samples},)") from None
    if w.ndim == 0:
        w = np.full(n_samples, w, dtype=dtype)
    if w.shape != (n_samples,):
        raise InputError(f"sample_weight must have shape ({n_samples},); got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise InputError("sample_weight must be finite, >= 0 and not all zero")
    return w
