"""Dense (affine) layer: z = y_prev W^T + b, with W of shape (out, in)."""
from __future__ import annotations

import sys
from typing import Any, Sequence, cast

import numpy as np
from numpy.typing import DTypeLike

from ..errors import ConfigError
from .arrays import Array, Maybe
from .base import At, Op, Param, matmul_right, product_tangent, write
from .fields import Choice, Size
from .registry import register


def issparse(x: object) -> bool:
    """Whether x is a scipy sparse matrix (it cannot be one unless scipy.sparse is loaded).

    Parameters
    ----------
    x : object
        Anything.

    Returns
    -------
    bool

    Examples
    --------
    >>> issparse(np.eye(2))
    False
    """
    if type(x) is np.ndarray:
        return False
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(x))

INIT_SCHEMES = ("glorot", "he")
_ONES: dict[tuple[int, DTypeLike], Array] = {}


def _ones(B: int, dtype: DTypeLike) -> Array:
    """A cached vector of B ones: sum_n delta_n as one matrix-vector product."""
    key = (B, dtype)
    if key not in _ONES:
        if len(_ONES) > 64:
            _ONES.clear()
        _ONES[key] = np.ones(B, dtype=dtype)
    return _ONES[key]


def glorot_bound(fan_in: float | Array, fan_out: float | Array, gain: float = 6.0) -> Any:
    """Glorot & Bengio 2010: a = sqrt(gain / (fan_in + fan_out)) for U(-a, a) (gain 6; 2 for logistic units).

    Parameters
    ----------
    fan_in, fan_out : int or ndarray
        The numbers of inputs and outputs of a unit (arrays broadcast: one per weight).
    gain : float, default 6.0
        The numerator.

    Returns
    -------
    float or ndarray
        The bound a.

    Examples
    --------
    >>> float(glorot_bound(2, 1))
    1.4142135623730951
    """
    return np.sqrt(gain / (fan_in + fan_out))


def init_weights(rng: np.random.Generator, W: Array, scheme: str, fan_in: float | Array,
                 fan_out: float | Array) -> None:
    """Fill W: Glorot uniform U(-a, a), or He normal N(0, 2 / fan_in) (He et al. 2015) for relu units.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator to draw from.
    W : ndarray
        The weights, filled in place.
    scheme : {"glorot", "he"}
        The initialisation.
    fan_in, fan_out : int or ndarray
        ``fan_in`` may be an array broadcasting against W (one fan-in per weight, for sparse layers).

    Examples
    --------
    >>> W = np.empty((2, 3))
    >>> init_weights(np.random.default_rng(0), W, "glorot", 3, 2)
    >>> bool(np.all(np.abs(W) <= glorot_bound(3, 2)))
    True
    """
    if scheme == "he":
        W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / fan_in)
    else:
        a = glorot_bound(fan_in, fan_out)
        W[...] = rng.uniform(-a, a, W.shape)


# The three products of z = x W^T + b, each for plain arrays and for tangents with a leading axis of
# m directions on either factor: what the bilinear rule ``product_tangent`` differentiates.
def z_product(x: Array, W: Array) -> Array:
    """x W^T: (B, in) or (m, B, in) times W (out, in) or (m, out, in).

    Parameters
    ----------
    x : ndarray
        Inputs (B, in) or their tangents (m, B, in).
    W : ndarray
        Weights (out, in) or their tangents (m, out, in).

    Returns
    -------
    ndarray
        (B, out) or (m, B, out).

    Examples
    --------
    >>> z_product(np.ones((1, 2, 3)), np.ones((4, 3))).shape
    (1, 2, 4)
    """
    return matmul_right(x, W.T) if W.ndim == 2 else np.matmul(x, W.transpose(0, 2, 1))


def x_product(delta: Array, W: Array) -> Array:
    """delta W = dE/dx: (B, out) or (m, B, out) times W (out, in) or (m, out, in).

    Parameters
    ----------
    delta : ndarray
        Adjoints dE/dz (B, out) or their tangents (m, B, out).
    W : ndarray
        Weights (out, in) or their tangents (m, out, in).

    Returns
    -------
    ndarray
        (B, in) or (m, B, in).

    Examples
    --------
    >>> x_product(np.ones((1, 2, 4)), np.ones((4, 3))).shape
    (1, 2, 3)
    """
    return matmul_right(delta, W) if W.ndim == 2 else np.matmul(delta, W)


def w_product(delta: Array, x: Array) -> Array:
    """delta^T x = dE/dW: (B, out) or (m, B, out) against x (B, in) or (m, B, in).

    Parameters
    ----------
    delta : ndarray
        Adjoints dE/dz (B, out) or their tangents (m, B, out).
    x : ndarray
        Inputs (B, in) or their tangents (m, B, in).

    Returns
    -------
    ndarray
        (out, in) or (m, out, in), summed over the batch.

    Examples
    --------
    >>> w_product(np.ones((2, 4)), np.ones((2, 3)))[0]
    array([2., 2., 2.])
    """
    return np.matmul(delta.transpose(0, 2, 1) if delta.ndim == 3 else delta.T, x)


@register("dense")
class Dense(Op):
    """Fully connected affine map from ``n_in`` to ``n_out`` units.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    init : {"glorot", "he"}
        Glorot (Xavier) uniform, for tanh/sigmoid/linear/softmax units, or He normal, for relu units.

    Examples
    --------
    >>> op = Dense(2, 1)
    >>> op.param_shapes
    ((1, 2), (1,))
    >>> op.forward([np.array([[1.0, 2.0]])], (np.array([[3.0, 4.0]]), np.array([0.5])))[0]
    array([[11.5]])
    """

    affine = True
    takes_out = True
    config_fields = (Size("n_in"), Size("n_out"), Choice("init", INIT_SCHEMES))

    @property
    def size(self) -> int:
        """The output width (``n_out``)."""
        return self.n_out

    def __init__(self, n_in: int, n_out: int, init: str = "glorot"):
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"Dense {name} must be an integer >= 1; got {v!r}")
        if init not in INIT_SCHEMES:
            raise ConfigError(f"unknown init {init!r}; expected one of {', '.join(INIT_SCHEMES)}")
        self.n_in, self.n_out, self.init = int(n_in), int(n_out), init
        self.param_specs = (Param("W", (self.size, self.n_in), regularized=True), Param("b", (self.size,)))

    def init_params(self, rng: np.random.Generator, views: Sequence[Array]) -> None:
        W, b = views
        init_weights(rng, W, self.init, self.n_in, self.size)
        b[...] = 0

    # z = x W^T + b   (x may be a scipy sparse matrix: the first layer of sparse data)
    def forward(self, xs: Sequence[Any], p: Any, out: Array | None = None) -> tuple[Array, None]:
        W, b = p
        if out is None or issparse(xs[0]):
            z = np.asarray(xs[0] @ W.T)
        else:
            z = np.matmul(xs[0], W.T, out=out)
        z += b
        return z, None

    # dE/dW = delta^T x,  dE/db = sum_n delta,  dE/dx = delta W
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool],
            out: Sequence[Maybe] | None = None) -> list[Maybe]:
        xs, p = at.xs, cast("tuple[Array, Array]", at.p)
        if gp is not None:
            gW, gb = gp
            if issparse(xs[0]):
                gW[...] = np.asarray(xs[0].T @ dy).T
            else:
                np.matmul(dy.T, xs[0], out=gW)
            np.matmul(_ones(dy.shape[0], dy.dtype), dy, out=gb)
        if not need[0]:
            return [None]
        return [dy @ p[0] if out is None or out[0] is None else np.matmul(dy, p[0], out=out[0])]

    # R{z} = R{x} W^T + (x R{W}^T + R{b})
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Array] | None) -> Maybe:
        xs, p = at.xs, cast("tuple[Array, Array]", at.p)
        tW, tb = (None, None) if tp is None else tp
        return product_tangent(z_product, xs[0], txs[0], p[0], tW, None if tb is None else tb[:, None, :])

    # R{dE/dW} = R{delta}^T x + delta^T R{x},  R{dE/db} = sum_n R{delta},  R{dE/dx} = R{delta} W + delta R{W}
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Array] | None, *, tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        xs, p = at.xs, cast("tuple[Array, Array]", at.p)
        if tgp is not None:
            tgW, tgb = tgp
            write(tgW, product_tangent(w_product, dy, tdy, xs[0], txs[0]))
            write(tgb, None if tdy is None else tdy.sum(axis=1))
        if not need[0]:
            return [None]
        return [product_tangent(x_product, dy, tdy, p[0], None if tp is None else tp[0])]

    def input_width(self, k: int) -> int:
        return self.n_in

    def describe(self) -> str:
        return f"dense {self.n_in}->{self.size}"
