"""Softmax, a vector activation: y_i = exp(z_i) / sum_j exp(z_j)."""
from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np

from ..errors import ConfigError
from .arrays import Array, Maybe
from .base import At, Op, accumulate
from .fields import Size
from .registry import register

SINGLE_UNIT_MESSAGE = ("a softmax over a single unit is the constant 1 (its loss and gradient are 0, nothing can "
                       "be learned); for one output use the sigmoid with the 'bce' loss (binary classification) "
                       "or the identity with the 'l2' loss (regression), e.g. bp.MLP([d, h, 1], "
                       "output='sigmoid'); a softmax needs 2 or more units")


def softmax(z: Array, out: Array | None = None) -> Array:
    """Row-wise softmax, shifted by the row maximum so that no exp overflows (written into ``out`` if given).

    Parameters
    ----------
    z : ndarray
        Scores (..., c); the softmax is taken over the last axis.
    out : ndarray, optional
        A buffer like z for the result.

    Returns
    -------
    ndarray
        y_i = exp(z_i) / sum_j exp(z_j), each row summing to 1.

    Examples
    --------
    >>> softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    array([[0.25, 0.75],
           [0.5 , 0.5 ]])
    """
    e = np.subtract(z, np.maximum.reduce(z, axis=-1, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= np.add.reduce(e, axis=-1, keepdims=True)
    return e


def log_sum_exp_shifted(e: Array, s: Array) -> Array:
    """log sum_j e^{s_j} for rows s = z - max(z) with e = e^s, as log1p of the terms other than the maximum's.

    sum_j e^{s_j} = 1 + (the others): taking log1p of the others keeps full relative precision even when one
    class takes almost all the mass (a plain log of the sum would round the small remainder away).

    Parameters
    ----------
    e : ndarray
        e^s (..., c).
    s : ndarray
        Shifted scores z - max(z) (..., c): the maximum of each row is 0.

    Returns
    -------
    ndarray
        (..., 1).

    Examples
    --------
    >>> s = np.array([[0.0, -50.0]])
    >>> float(log_sum_exp_shifted(np.exp(s), s)[0, 0])      # log(1 + e^-50), not rounded to 0
    1.9287498479639178e-22
    """
    others = np.add.reduce(np.where(s < 0, e, 0), axis=-1, keepdims=True)
    ties = np.add.reduce(s == 0, axis=-1, keepdims=True) - 1      # further entries equal to the maximum
    return np.log1p(others + ties)


def log_softmax(z: Array) -> Array:
    """Row-wise log softmax, z - logsumexp(z), stable for any finite z and accurate near probability 1.

    Parameters
    ----------
    z : ndarray
        Scores (..., c).

    Returns
    -------
    ndarray
        log y (..., c).

    Examples
    --------
    >>> log_softmax(np.array([[0.0, 0.0]]))
    array([[-0.69314718, -0.69314718]])
    """
    s = z - z.max(axis=-1, keepdims=True)
    return s - log_sum_exp_shifted(np.exp(s), s)


def _dot(a: Array, b: Array) -> Array:
    return np.einsum("...i,...i->...", a, b)[..., None]


def softmax_jvp(y: Array, tz: Array) -> Array:
    """R{y} = y * (R{z} - <y, R{z}>): the softmax Jacobian diag(y) - y y^T times tangents tz (..., c).

    Parameters
    ----------
    y : ndarray
        The softmax output (B, c).
    tz : ndarray
        Tangents of its input (..., B, c).

    Returns
    -------
    ndarray
        R{y}, like ``tz``.

    Examples
    --------
    >>> softmax_jvp(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))
    array([[ 0.25, -0.25]])
    """
    return y * (tz - _dot(y, tz))


@register("softmax")
class Softmax(Op):
    """Softmax over all units of its input node. Jacobian dy_j/dz_i = y_i (delta_ij - y_j).

    Parameters
    ----------
    size : int
        Width of the input (and output) node, at least 2.

    Examples
    --------
    >>> Softmax(2).forward([np.array([[0.0, 0.0]])], None)[0]
    array([[0.5, 0.5]])
    """

    config_fields = (Size("size"),)
    in_segments = True
    takes_out = True

    def __init__(self, size: int):
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"softmax size must be an integer >= 2; got {size!r}")
        if size == 1:
            raise ConfigError(SINGLE_UNIT_MESSAGE)
        self.size = int(size)

    # y_i = exp(z_i) / sum_j exp(z_j)
    def forward(self, xs: Sequence[Any], p: Any, out: Array | None = None) -> tuple[Array, None]:
        return softmax(xs[0], out=out), None

    # dE/dz_i = sum_j dE/dy_j y_i (delta_ij - y_j) = y_i (dE/dy_i - <dE/dy, y>)
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool],
            out: Sequence[Maybe] | None = None) -> list[Maybe]:
        y = cast(Array, at.y)
        buf = None if out is None else out[0]
        return [y * (dy - _dot(dy, y)) if buf is None else np.multiply(y, dy - _dot(dy, y), out=buf)]

    # R{y} = y * (R{z} - <y, R{z}>)
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Array] | None) -> Maybe:
        y = cast(Array, at.y)
        tz = txs[0]
        return None if tz is None else softmax_jvp(y, tz)

    # R{dE/dz} = R{y} (g - <g, y>) + y (R{g} - <R{g}, y> - <g, R{y}>),  g = dE/dy
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Array] | None, *, tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        y = cast(Array, at.y)
        out = None
        if ty is not None:
            out = ty * (dy - _dot(dy, y)) - y * _dot(dy, ty)
        if tdy is not None:
            out = accumulate(out, y * (tdy - _dot(tdy, y)))
        return [out]

    def describe(self) -> str:
        return "softmax"
