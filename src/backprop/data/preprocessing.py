"""Preparing arrays for training: one-hot targets, standardisation, train/test splits."""
from __future__ import annotations

import numbers
from typing import Any, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .._optional import require
from ..errors import ConfigError, InputError
from ..validation import check_seed


__all__ = ["one_hot", "Standardizer", "train_test_split"]


def _float_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    """Return ``np.dtype(dtype)``, raising ConfigError unless it is a floating type."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise ConfigError(f"dtype {dtype!r} is not a NumPy dtype; expected a float type such as np.float64") from exc
    if not np.issubdtype(resolved, np.floating):
        raise ConfigError(f"dtype must be a floating type such as np.float32 or np.float64, got {resolved}")
    return resolved


def _is_count(value: object) -> TypeGuard[int]:
    """True for a Python or NumPy integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def one_hot(y: ArrayLike, n_classes: int | None = None, dtype: DTypeLike = np.float64) -> NDArray[Any]:
    """Encode integer class labels as one-hot rows.

    Parameters
    ----------
    y : array_like, shape (n,)
        Class labels 0, 1, ..., K-1. Floats are accepted when they hold whole numbers.
    n_classes : int, optional
        Number of classes K. Defaults to ``max(y) + 1``.
    dtype : dtype, default np.float64
        Type of the returned array.

    Returns
    -------
    ndarray, shape (n, K)
        Row ``i`` is all zeros except a one in column ``y[i]``.

    Examples
    --------
    >>> one_hot([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise InputError(f"one_hot expects a 1-D array of labels with shape (n,), got shape {labels.shape}")
    if labels.dtype.kind not in "iuf":
        raise InputError(f"one_hot expects integer class labels, got an array of dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            index = int(np.flatnonzero(~whole)[0])
            raise InputError(
                f"one_hot expects integer class labels, but y[{index}] = {labels[index]!r} is not a whole number"
            )
    if labels.size and labels.min() < 0:
        index = int(np.argmin(labels))
        raise InputError(f"class labels must be >= 0, but y[{index}] = {labels[index]!r} is negative")
    labels = labels.astype(np.int64)

    if n_classes is None:
        if labels.size == 0:
            raise InputError("cannot infer n_classes from an empty label array; pass n_classes explicitly")
        n_classes = int(labels.max()) + 1
    elif not _is_count(n_classes) or n_classes < 1:
        raise ConfigError(f"n_classes must be a positive integer, got {n_classes!r}")
    elif labels.size and labels.max() >= n_classes:
        index = int(np.argmax(labels))
        raise InputError(
            f"label y[{index}] = {labels[index]} is out of range for n_classes={n_classes}; "
            f"expected labels 0..{n_classes - 1}"
        )

    encoded = np.zeros((labels.size, n_classes), dtype=dtype)
    encoded[np.arange(labels.size), labels] = 1
    return encoded


class Standardizer:
    """Shift and scale each column to mean 0 and standard deviation 1.

    Columns that are constant in the data passed to ``fit`` get ``scale_ = 1``, so
    they become exact zeros instead of causing a division by zero.

    Attributes
    ----------
    mean_ : ndarray, shape (n_features,)
        Column means seen by ``fit``.
    scale_ : ndarray, shape (n_features,)
        Column standard deviations seen by ``fit`` (1 for constant columns).
    n_features_in_ : int
        Number of columns seen by ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> s = Standardizer()
    >>> Z = s.fit_transform(np.array([[1.0], [3.0]]))
    >>> Z.ravel().tolist(), s.inverse_transform(Z).ravel().tolist()
    ([-1.0, 1.0], [1.0, 3.0])
    """

    def __init__(self) -> None:
        self.mean_ = None
        self.scale_ = None
        self.n_features_in_ = None

    def __repr__(self) -> str:
        state = "unfitted" if self.mean_ is None else f"n_features_in_={self.n_features_in_}"
        return f"Standardizer({state})"

    def fit(self, X: ArrayLike) -> Standardizer:
        """Compute the column means and standard deviations of ``X``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training data; must be finite and have at least one row.

        Returns
        -------
        Standardizer
            ``self``, so calls can be chained.

        Examples
        --------
        >>> import numpy as np
        >>> s = Standardizer().fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
        >>> s.mean_.tolist(), s.scale_.tolist()
        ([2.0, 5.0], [1.0, 1.0])
        """
        data = self._as_matrix(X)
        if data.shape[0] == 0:
            raise InputError("cannot fit a Standardizer on X with 0 rows; expected at least one sample")
        if not np.all(np.isfinite(data)):
            row, col = np.argwhere(~np.isfinite(data))[0]
            raise InputError(f"X must be finite to fit a Standardizer, but X[{row}, {col}] = {data[row, col]}")
        data = data.astype(np.float64, copy=False)
        mean = data.mean(axis=0)
        std = data.std(axis=0)
        # Rounding can leave a constant column with a tiny non-zero std; treat it as constant.
        # Such columns map to exact zeros: centre them on their value, scale by 1.
        constant = std <= 100 * np.finfo(np.float64).eps * np.abs(mean)
        mean[constant] = data[0, constant]
        std[constant] = 1.0
        self.mean_ = mean
        self.scale_ = std
        self.n_features_in_ = data.shape[1]
        return self

    def transform(self, X: ArrayLike) -> NDArray[Any]:
        """Standardise ``X`` with the statistics learned by ``fit``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Data with the same columns as the data passed to ``fit``.

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            ``(X - mean_) / scale_``; float input keeps its dtype, other input becomes float64.

        Examples
        --------
        >>> import numpy as np
        >>> s = Standardizer().fit(np.array([[0.0], [4.0]]))
        >>> s.transform(np.array([[2.0], [6.0]])).ravel().tolist()
        [0.0, 2.0]
        """
        data = self._checked(X)
        return ((data - self.mean_) / self.scale_).astype(self._out_dtype(data), copy=False)

    def fit_transform(self, X: ArrayLike) -> NDArray[Any]:
        """Fit on ``X`` and return it standardised.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training data.

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            Same as ``fit(X).transform(X)``.

        Examples
        --------
        >>> import numpy as np
        >>> Standardizer().fit_transform(np.array([[1.0], [2.0], [3.0]])).ravel().round(4).tolist()
        [-1.2247, 0.0, 1.2247]
        """
        return self.fit(X).transform(X)

    def inverse_transform(self, X: ArrayLike) -> NDArray[Any]:
        """Undo ``transform``: map standardised data back to the original units.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Standardised data.

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            ``X * scale_ + mean_``.

        Examples
        --------
        >>> import numpy as np
        >>> s = Standardizer().fit(np.array([[0.0], [4.0]]))
        >>> s.inverse_transform(np.array([[0.0], [1.0]])).ravel().tolist()
        [2.0, 4.0]
        """
        data = self._checked(X)
        return (data * self.scale_ + self.mean_).astype(self._out_dtype(data), copy=False)

    @staticmethod
    def _as_matrix(X: ArrayLike) -> NDArray[Any]:
        data = np.asarray(X)
        if data.ndim != 2:
            raise InputError(f"X must be 2-D with shape (n_samples, n_features), got shape {data.shape}")
        if data.dtype.kind not in "biuf":
            raise InputError(f"X must hold numbers, got an array of dtype {data.dtype}")
        return data

    @staticmethod
    def _out_dtype(data: Any) -> np.dtype[Any]:
        return data.dtype if data.dtype.kind == "f" else np.dtype(np.float64)

    def _checked(self, X: ArrayLike) -> NDArray[Any]:
        if self.mean_ is None:
            raise ConfigError("this Standardizer is not fitted yet; call fit(X) before transform or inverse_transform")
        data = self._as_matrix(X)
        if data.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {data.shape[1]} columns but the Standardizer was fitted on {self.n_features_in_}; "
                f"expected shape (n_samples, {self.n_features_in_})"
            )
        return data


def train_test_split(X: ArrayLike, y: ArrayLike, test_size: float = 0.25, seed: int | None = 0,
                     stratify: bool = False) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Shuffle the samples and split them into a training and a test part.

    Parameters
    ----------
    X : array_like, shape (n_samples, ...)
        Inputs.
    y : array_like, shape (n_samples, ...)
        Targets, one per row of ``X``.
    test_size : float or int, default 0.25
        Fraction of samples in the test part (0 < test_size < 1), or their number.
    seed : int or None, default 0
        Seed for the shuffle; the same seed gives the same split.
    stratify : bool, default False
        If True, keep the class proportions of ``y`` in both parts.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        The two parts of ``X`` and ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> X_train, X_test, y_train, y_test = train_test_split(np.arange(20.0).reshape(10, 2), np.arange(10),
    ...                                                     test_size=0.3)
    >>> X_train.shape, X_test.shape, y_test.shape
    ((7, 2), (3, 2), (3,))
    """
    seed = check_seed(seed, generator=False)
    sklearn_split = require("sklearn.model_selection", extra="sklearn",
                            feature="datasets.train_test_split()").train_test_split

    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise InputError("X and y must be arrays with one row per sample, got a scalar")
    n = X.shape[0]
    if y.shape[0] != n:
        raise InputError(f"X has {n} rows but y has {y.shape[0]}; expected one target per row of X")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ConfigError(f"test_size must be between 0 and 1 (exclusive) when a fraction, got {test_size}")
    elif _is_count(test_size):
        if not 1 <= test_size < n:
            raise ConfigError(f"test_size must be a count from 1 to {n - 1} for {n} samples, got {test_size}")
    else:
        raise ConfigError(f"test_size must be a float fraction or an int count, got {test_size!r}")
    if n < 2:
        raise InputError(f"need at least 2 samples to split into train and test parts, got {n}")

    try:
        X_train, X_test, y_train, y_test = sklearn_split(
            X, y, test_size=test_size, random_state=seed, shuffle=True, stratify=y if stratify else None
        )
    except ValueError as exc:
        raise InputError(f"cannot split {n} samples with test_size={test_size}, stratify={stratify}: {exc}") from exc
    return X_train, X_test, y_train, y_test
