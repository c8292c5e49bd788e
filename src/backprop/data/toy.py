"""Small built-in classification data sets: xor, digits, moons and spirals.

Every function returns ``(X, y)`` with ``X`` a float matrix of inputs and ``y`` an
int64 vector of class labels 0..K-1. Nothing is downloaded.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .._optional import require
from ..errors import ConfigError
from ..validation import check_seed
from ..registry import Registry
from .preprocessing import _float_dtype, _is_count


__all__ = ["xor", "digits", "moons", "spirals"]


def _check_count(name: str, value: Any, minimum: int) -> None:
    if not _is_count(value) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_noise(noise: float) -> float:
    if not isinstance(noise, numbers.Real) or not np.isfinite(noise) or noise < 0:
        raise ConfigError(f"noise must be a finite number >= 0, got {noise!r}")


def xor(dtype: DTypeLike = np.float64) -> tuple[NDArray[Any], NDArray[Any]]:
    """The four points of the XOR problem.

    Parameters
    ----------
    dtype : dtype, default np.float64
        Float type of ``X``.

    Returns
    -------
    X : ndarray, shape (4, 2)
        The corners (0, 0), (0, 1), (1, 0), (1, 1).
    y : ndarray of int64, shape (4,)
        1 where exactly one input is 1, else 0.

    Examples
    --------
    >>> X, y = xor()
    >>> X.shape, y.ravel().tolist()
    ((4, 2), [0, 1, 1, 0])
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=_float_dtype(dtype))
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y


def digits(binary: bool = False, dtype: DTypeLike = np.float64) -> tuple[NDArray[Any], NDArray[Any]]:
    """The 1797 8x8 handwritten digits shipped with scikit-learn.

    Parameters
    ----------
    binary : bool, default False
        If True, the task is "2 or not 2": ``y`` is 1 for images of a 2, else 0.
    dtype : dtype, default np.float64
        Float type of ``X``.

    Returns
    -------
    X : ndarray, shape (1797, 64)
        Pixel intensities scaled from 0..16 to [0, 1], one flattened image per row.
    y : ndarray of int64, shape (1797,)
        The digit 0..9, or 0/1 when ``binary`` is True.

    Examples
    --------
    >>> X, y = digits()
    >>> X.shape, y.shape
    ((1797, 64), (1797,))
    """
    load_digits = require("sklearn.datasets", extra="sklearn", feature="datasets.digits()").load_digits

    dtype = _float_dtype(dtype)
    images, labels = load_digits(return_X_y=True)
    X = (images / 16.0).astype(dtype)
    y = labels.astype(np.int64)
    if binary:
        y = (y == 2).astype(np.int64)
    return X, y


def moons(n_samples: int = 200, noise: float = 0.1, seed: int | None = 0,
          dtype: DTypeLike = np.float64) -> tuple[NDArray[Any], NDArray[Any]]:
    """Two interleaving half circles (scikit-learn's ``make_moons``).

    Parameters
    ----------
    n_samples : int, default 200
        Total number of points, split evenly between the two moons.
    noise : float, default 0.1
        Standard deviation of Gaussian noise added to the coordinates.
    seed : int or None, default 0
        Random seed; the same seed gives the same points.
    dtype : dtype, default np.float64
        Float type of ``X``.

    Returns
    -------
    X : ndarray, shape (n_samples, 2)
        Point coordinates.
    y : ndarray of int64, shape (n_samples,)
        Which moon (0 or 1) each point belongs to.

    Examples
    --------
    >>> X, y = moons(n_samples=10, seed=0)
    >>> X.shape, y.dtype
    ((10, 2), dtype('int64'))
    """
    make_moons = require("sklearn.datasets", extra="sklearn", feature="datasets.moons()").make_moons

    _check_count("n_samples", n_samples, 2)
    _check_noise(noise)
    dtype = _float_dtype(dtype)
    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=check_seed(seed, generator=False))
    return X.astype(dtype), y.astype(np.int64)


def spirals(n_samples: int = 200, n_classes: int = 2, noise: float = 0.2, turns: float = 1.5, seed: int | None = 0,
            dtype: DTypeLike = np.float64) -> tuple[NDArray[Any], NDArray[Any]]:
    """Interleaved spiral arms around the origin, one arm per class.

    Each arm starts near the origin and winds ``turns`` times outwards to radius 1;
    the arms are rotated against each other by equal angles.

    Parameters
    ----------
    n_samples : int, default 200
        Total number of points, shared as evenly as possible between the classes.
    n_classes : int, default 2
        Number of arms (classes).
    noise : float, default 0.2
        Standard deviation of Gaussian jitter added to each point's angle, in radians.
        The jitter moves outer points further, as on a real spiral drawn by hand.
    turns : float, default 1.5
        How many full revolutions each arm makes.
    seed : int or None, default 0
        Random seed; the same seed gives the same points.
    dtype : dtype, default np.float64
        Float type of ``X``.

    Returns
    -------
    X : ndarray, shape (n_samples, 2)
        Point coordinates, within the disc of radius 1 (plus jitter), in shuffled order.
    y : ndarray of int64, shape (n_samples,)
        The arm (class 0..n_classes-1) of each point.

    Examples
    --------
    >>> X, y = spirals(n_samples=12, n_classes=3, seed=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((12, 2), [0, 1, 2])
    """
    _check_count("n_classes", n_classes, 1)
    _check_count("n_samples", n_samples, n_classes)
    _check_noise(noise)
    if not isinstance(turns, numbers.Real) or not np.isfinite(turns) or turns <= 0:
        raise ConfigError(f"turns must be a finite number > 0, got {turns!r}")
    dtype = _float_dtype(dtype)
    rng = np.random.default_rng(check_seed(seed, generator=False))

    # Class k gets n_samples // n_classes points, the first classes one extra each.
    sizes = np.full(n_classes, n_samples // n_classes)
    sizes[: n_samples % n_classes] += 1
    y = np.repeat(np.arange(n_classes, dtype=np.int64), sizes)

    # Position along the arm: 0 at the centre, 1 at the outer end. Starting at a
    # small radius keeps the arms apart where they meet in the middle.
    t = rng.uniform(0.0, 1.0, size=n_samples)
    radius = 0.05 + 0.95 * t
    angle = 2 * np.pi * (turns * t + y / n_classes)
    angle = angle + noise * rng.standard_normal(n_samples)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])

    order = rng.permutation(n_samples)
    return X[order].astype(dtype), y[order]


class Named:
    """A built-in data set under a name: ``load()`` gives its ``(X, y)``; ``description`` says what it is;
    ``standardize``: whether its inputs are best standardised before training (inputs of very different
    scales), or left as they are (pixel intensities sharing one scale, 0/1 inputs).

    Parameters
    ----------
    description : str
        One line on what the data set is.
    make : callable
        The function that builds ``(X, y)``.
    standardize : bool, default False
        Whether the inputs are best standardised before training.
    **options
        Keyword arguments of ``make``.

    Examples
    --------
    >>> Named("the XOR truth table", xor).load()[0].shape
    (4, 2)
    """

    def __init__(self, description: str, make: Callable[..., Any], standardize: bool = False, **options: Any) -> None:
        self.description, self._make, self._options = description, make, options
        self.standardize = standardize

    def load(self) -> tuple[NDArray[Any], NDArray[Any]]:
        """``(X, y)`` of this data set."""
        return self._make(**self._options)

    def __repr__(self) -> str:
        return f"Named({self.description!r})"


#: the built-in data sets by name (what ``backprop train --data NAME`` and its help read)
DATASETS = Registry("data set")
DATASETS.register("xor", Named("the 4 points of XOR", xor))
DATASETS.register("digits", Named("8x8 digits, 10 classes (scikit-learn's copy)", digits))
DATASETS.register("digits-2", Named("8x8 digits, the binary task '2 or not 2'", digits, binary=True))
DATASETS.register("moons", Named("two interleaving half circles, 2 classes", moons, n_samples=400, noise=0.2,
                                 seed=0))
# the spirals' coordinates (standard deviation 0.43) are standardised; XOR's 0/1 inputs, the moons'
# coordinates (standard deviations 0.9 and 0.5) and pixel intensities are left as they are
DATASETS.register("spirals", Named("two interleaved spirals, 2 classes", spirals, standardize=True,
                                   n_samples=400, seed=0))
