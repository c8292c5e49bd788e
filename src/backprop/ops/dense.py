"""Dense (affine) layer: z = y_prev W^T + b, with W of shape (out, in)."""
from __future__ import annotations

import sys

import numpy as np

from ..errors import ConfigError
from .base import Op, Param, matmul_right, product_tangent, write
from .fields import Choice, Size
from .registry import register


def issparse(x) -> bool:
    """Whether x is a scipy sparse matrix (it cannot be one unless scipy.sparse is loaded)."""
    if type(x) is np.ndarray:
        return False
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(x)

INIT_SCHEMES = ("glorot", "he")
_ONES: dict = {}


def _ones(B, dtype):
    """A cached vector of B ones: sum_n delta_n as one matrix-vector product."""
    key = (B, dtype)
    if key not in _ONES:
        if len(_ONES) > 64:
            _ONES.clear()
        _ONES[key] = np.ones(B, dtype=dtype)
    return _ONES[key]


def glorot_bound(fan_in, fan_out, gain=6.0):
    """Glorot & Bengio 2010: a = sqrt(gain / (fan_in + fan_out)) for U(-a, a) (gain 6; 2 for logistic units)."""
    return np.sqrt(gain / (fan_in + fan_out))


def init_weights(rng, W, scheme, fan_in, fan_out):
    """Fill W: Glorot uniform U(-a, a), or He normal N(0, 2 / fan_in) (He et al. 2015) for relu units.

    ``fan_in`` may be an array broadcasting against W (one fan-in per weight, for sparse layers).
    """
    if scheme == "he":
        W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / fan_in)
    else:
        a = glorot_bound(fan_in, fan_out)
        W[...] = rng.uniform(-a, a, W.shape)


# The three products of z = x W^T + b, each for plain arrays and for tangents with a leading axis of
# m directions on either factor: what the bilinear rule ``product_tangent`` differentiates.
def z_product(x, W):
    """x W^T: (B, in) or (m, B, in) times W (out, in) or (m, out, in)."""
    return matmul_right(x, W.T) if W.ndim == 2 else np.matmul(x, W.transpose(0, 2, 1))


def x_product(delta, W):
    """delta W = dE/dx: (B, out) or (m, B, out) times W (out, in) or (m, out, in)."""
    return matmul_right(delta, W) if W.ndim == 2 else np.matmul(delta, W)


def w_product(delta, x):
    """delta^T x = dE/dW: (B, out) or (m, B, out) against x (B, in) or (m, B, in)."""
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
    """

    affine = True
    takes_out = True
    config_fields = (Size("n_in"), Size("n_out"), Choice("init", INIT_SCHEMES))

    @property
    def size(self) -> int:
        return self.n_out

    def __init__(self, n_in: int, n_out: int, init: str = "glorot"):
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"Dense {name} must be an integer >= 1; got {v!r}")
        if init not in INIT_SCHEMES:
            raise ConfigError(f"unknown init {init!r}; expected one of {', '.join(INIT_SCHEMES)}")
        self.n_in, self.n_out, self.init = int(n_in), int(n_out), init
        self.param_specs = (Param("W", (self.size, self.n_in), regularized=True), Param("b", (self.size,)))

    def init_params(self, rng, views):
        W, b = views
        init_weights(rng, W, self.init, self.n_in, self.size)
        b[...] = 0

    # z = x W^T + b   (x may be a scipy sparse matrix: the first layer of sparse data)
    def forward(self, xs, p, out=None):
        W, b = p
        if out is None or issparse(xs[0]):
            z = np.asarray(xs[0] @ W.T)
        else:
            z = np.matmul(xs[0], W.T, out=out)
        z += b
        return z, None

    # dE/dW = delta^T x,  dE/db = sum_n delta,  dE/dx = delta W
    def vjp(self, at, dy, *, gp, need, out=None):
        xs, y, cache, p = at
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
    def jvp(self, at, txs, tp):
        xs, y, cache, p = at
        tW, tb = (None, None) if tp is None else tp
        return product_tangent(z_product, xs[0], txs[0], p[0], tW, None if tb is None else tb[:, None, :])

    # R{dE/dW} = R{delta}^T x + delta^T R{x},  R{dE/db} = sum_n R{delta},  R{dE/dx} = R{delta} W + delta R{W}
    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        xs, y, cache, p = at
        if tgp is not None:
            tgW, tgb = tgp
            write(tgW, product_tangent(w_product, dy, tdy, xs[0], txs[0]))
            write(tgb, None if tdy is None else tdy.sum(axis=1))
        if not need[0]:
            return [None]
        return [product_tangent(x_product, dy, tdy, p[0], None if tp is None else tp[0])]

    def input_width(self, k):
        return self.n_in

    def describe(self):
        return f"dense {self.n_in}->{self.size}"
