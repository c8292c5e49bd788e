"""Masked dense op: the weighted sums of one level of a neuron graph, x_j = sum_{i in in(j)} w_ij y_i + b_j.

The op reads k earlier nodes (widths n_1..n_k) and computes n_out sums. Only the edges that
exist are parameters: edge e connects column ``col[e]`` of input ``src[e]`` to unit ``row[e]``
with weight ``w[e]``. On every pass the edges are scattered into one dense block
W_k (n_out, n_k) per input, zero where there is no edge, so the work is k matrix products:

    x = sum_k y_k W_k^T + b

and the gradient of each block, dE/dW_k = delta^T y_k, is gathered back at the edges
(dE/dw_ij = y_i dE/dx_j, summed over the batch). A block whose edges are all present and
listed row-major in a contiguous run of ``w`` (a fully connected layer) is used in place,
with no scatter or gather at all.

Units listed in ``bias_rows`` have a bias b_j; the others have none.
"""
from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError
from .arrays import Array, Index, Maybe
from .base import At, Op, Param, accumulate, product_tangent, write
from .dense import INIT_SCHEMES, init_weights, w_product, x_product, z_product
from .gather import NamedNodes, as_index, check_widths
from .fields import Choice, Indices, Size, Texts, Widths
from .registry import register


class _Block:
    """The edges of one input k: flat indices ``idx`` into w, their rows and columns."""

    def __init__(self, idx: Index, rows: Index, cols: Index, n_out: int, width: int):
        self.idx, self.rows, self.cols = idx, rows, cols
        self.shape = (n_out, width)
        n = n_out * width
        # contiguous and complete, row-major: W_k is a view of w[start:start + n]
        self.full = bool(idx.size == n and n and np.array_equal(idx, np.arange(idx[0], idx[0] + n))
                         and np.array_equal(rows, np.repeat(np.arange(n_out), width))
                         and np.array_equal(cols, np.tile(np.arange(width), n_out)))
        self.start = int(idx[0]) if idx.size else 0

    def scatter(self, w: Array) -> Array:
        """The dense block from edge values ``w`` (..., n_edges) -> (..., n_out, width)."""
        lead = w.shape[:-1]
        if self.full:
            return w[..., self.start:self.start + self.idx.size].reshape(lead + self.shape)
        W = np.zeros(lead + self.shape, dtype=w.dtype)
        W[..., self.rows, self.cols] = w[..., self.idx]
        return W

    def write_grad(self, g: Array, dy: Array, x: Array) -> None:
        """g[idx] = (delta^T y_k)[rows, cols]: the batch-summed dE/dw of this block's edges."""
        if self.full:
            np.matmul(dy.T, x, out=g[self.start:self.start + self.idx.size].reshape(self.shape))
        else:
            g[self.idx] = (dy.T @ x)[self.rows, self.cols]

    def gather_into(self, g: Array, G: Array) -> None:
        """g[..., idx] += G[..., rows, cols] (the gradient at the edges from the dense block gradient)."""
        if self.full:
            g[..., self.start:self.start + self.idx.size] += G.reshape(G.shape[:-2] + (-1,))
        else:
            g[..., self.idx] += G[..., self.rows, self.cols]


@register("masked_dense")
class MaskedDense(NamedNodes, Op):
    """Weighted sums over the edges that exist: x_j = sum_{i in in(j)} w_ij y_i + b_j.

    Parameters
    ----------
    in_widths : list of int
        Widths of the input nodes it reads.
    n_out : int
        Number of units (sums) it computes.
    src, row, col : list of int
        Edge e goes from column ``col[e]`` of input ``src[e]`` to unit ``row[e]``; the edge's weight
        is parameter ``w[e]``. No (src, row, col) may repeat.
    bias_rows : list of int, optional
        Units that have a bias b_j (default: none).
    init : {"glorot", "he"}
        Initialisation; the fan-in of a unit is its number of incoming edges.
    names, input_names : list of str, optional
        Names of the units, and of the columns of node 0 when this op reads it (labels only).

    Examples
    --------
    >>> op = MaskedDense([2], 2, src=[0, 0], row=[0, 1], col=[1, 0], bias_rows=[1])
    >>> op.param_shapes
    ((2,), (1,))
    >>> w, b = np.array([10.0, 100.0]), np.array([0.5])
    >>> op.forward([np.array([[1.0, 2.0]])], (w, b))[0]
    array([[ 20. , 100.5]])
    """


    config_fields = (Widths("in_widths"), Size("n_out"), Indices("src", below="in_widths"),
                     Indices("row", below="n_out", length="src"), Indices("col", length="src"),
                     Indices("bias_rows", below="n_out", optional=True), Choice("init", INIT_SCHEMES, optional=True),
                     Texts("names", optional=True), Texts("input_names", optional=True))

    @property
    def size(self) -> int:
        """The number of units (``n_out``)."""
        return self.n_out

    def __init__(self, in_widths: Sequence[int], n_out: int, src: ArrayLike, row: ArrayLike, col: ArrayLike,
                 bias_rows: ArrayLike = (), init: str = "glorot", names: Sequence[str] | None = None,
                 input_names: Sequence[str] | None = None):
        self.in_widths = check_widths(in_widths, "masked_dense")
        if not isinstance(n_out, (int, np.integer)) or isinstance(n_out, bool) or n_out < 1:
            raise ConfigError(f"masked_dense n_out must be an integer >= 1; got {n_out!r}")
        if init not in INIT_SCHEMES:
            raise ConfigError(f"unknown init {init!r}; expected one of {', '.join(INIT_SCHEMES)}")
        self.n_out, self.init = int(n_out), init
        self.arity = len(self.in_widths)
        self.src, self.row, self.col = as_index(src, "src"), as_index(row, "row"), as_index(col, "col")
        self.bias_rows = as_index(bias_rows, "bias_rows")
        n = self.src.size
        if not (self.row.size == n and self.col.size == n):
            raise ConfigError(f"src, row and col must have one entry per edge; got {n}, {self.row.size}, "
                              f"{self.col.size}")
        if n and (self.src.min() < 0 or self.src.max() >= self.arity or self.row.min() < 0
                  or self.row.max() >= self.size or self.col.min() < 0
                  or np.any(self.col >= np.asarray(self.in_widths)[self.src])):
            raise ConfigError("an edge of masked_dense points outside its inputs or units")
        keys = (self.src * self.size + self.row) * max(self.in_widths) + self.col
        if np.unique(keys).size != n:
            raise ConfigError("masked_dense lists the same edge twice")
        if self.bias_rows.size and (np.unique(self.bias_rows).size != self.bias_rows.size
                                    or self.bias_rows.min() < 0 or self.bias_rows.max() >= self.size):
            raise ConfigError("bias_rows must be distinct unit indices")
        self._set_names(names, input_names)
        self.param_specs = (Param("w", (n,), regularized=True), Param("b", (int(self.bias_rows.size),)))
        self.blocks: list[_Block] = []
        for k, width in enumerate(self.in_widths):
            idx = np.flatnonzero(self.src == k)
            self.blocks.append(_Block(idx, self.row[idx], self.col[idx], self.size, width))
        self.all_bias = bool(np.array_equal(self.bias_rows, np.arange(self.size)))
        self.fan_in = np.bincount(self.row, minlength=self.size)

    def init_params(self, rng: np.random.Generator, views: Sequence[Array]) -> None:
        """Draw w (``init``, the fan-in of a unit its incoming edges) and zero b, in place in ``views``."""
        w, b = views
        init_weights(rng, w, self.init, np.maximum(self.fan_in[self.row], 1), self.size)   # fan-in per unit
        b[...] = 0

    def _add_bias(self, z: Array, b: Array) -> None:
        if self.all_bias:
            z += b
        elif b.size:
            z[..., self.bias_rows] += b

    # x = sum_k y_k W_k^T + b
    def forward(self, xs: Sequence[Array], p: Sequence[Array]) -> tuple[Array, list[Array | None]]:
        w, b = p
        Ws = [blk.scatter(w) if blk.idx.size else None for blk in self.blocks]
        z: Array | None = None
        for x, W in zip(xs, Ws):
            if W is not None:
                z = x @ W.T if z is None else z + x @ W.T
        if z is None:
            z = np.zeros((xs[0].shape[0], self.size), dtype=xs[0].dtype)
        self._add_bias(z, b)
        return z, Ws

    # dE/dw_ij = y_i dE/dx_j (summed over the batch);  dE/db_j = sum_n dE/dx_j;  dE/dy_k = delta W_k
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        xs, Ws = at.xs, cast("list[Array | None]", at.cache)
        if gp is not None:
            gw, gb = gp
            for x, blk in zip(xs, self.blocks):      # the blocks' edges partition w
                if blk.idx.size:
                    blk.write_grad(gw, dy, x)
            gb[...] = dy[:, self.bias_rows].sum(axis=0) if not self.all_bias else dy.sum(axis=0)
        out: list[Maybe] = []
        for k, W in enumerate(Ws):
            if not need[k]:
                out.append(None)
            elif W is None:
                out.append(np.zeros((dy.shape[0], self.in_widths[k]), dtype=dy.dtype))
            else:
                out.append(dy @ W)
        return out

    # R{x} = sum_k R{y_k} W_k^T + (sum_k y_k R{W_k}^T + R{b})
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Array] | None) -> Maybe:
        xs, y, Ws = at.xs, cast(Array, at.y), cast("list[Array | None]", at.cache)
        tz = None
        for tx, W in zip(txs, Ws):
            if tx is not None and W is not None:
                tz = accumulate(tz, z_product(tx, W))
        if tp is not None:
            tw, tb = tp
            term = np.zeros((tw.shape[0],) + y.shape, dtype=y.dtype)
            for x, blk in zip(xs, self.blocks):
                if blk.idx.size:
                    term += z_product(x, blk.scatter(tw))
            self._add_bias(term, tb[:, None, :])
            tz = accumulate(tz, term)
        return tz

    # R{dE/dW_k} = R{delta}^T y_k + delta^T R{y_k};  R{dE/db} = sum_n R{delta};
    # R{dE/dy_k} = R{delta} W_k + delta R{W_k}
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Maybe] | None, *, tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        xs, Ws = at.xs, cast("list[Array | None]", at.cache)
        if tgp is not None:
            tgw, tgb = tgp
            tgw[...] = 0
            for x, tx, blk in zip(xs, txs, self.blocks):       # the blocks' edges partition w
                G = product_tangent(w_product, dy, tdy, x, tx) if blk.idx.size else None
                if G is not None:
                    blk.gather_into(tgw, G)
            write(tgb, None if tdy is None else
                  tdy.sum(axis=1) if self.all_bias else tdy[..., self.bias_rows].sum(axis=1))
        tW = None if tp is None else tp[0]
        return [product_tangent(x_product, dy, tdy, W, None if tW is None else blk.scatter(tW))
                if need[k] and W is not None else None
                for k, (W, blk) in enumerate(zip(Ws, self.blocks))]

    def input_width(self, k: int) -> int:
        return self.in_widths[k]

    def describe(self) -> str:
        return f"masked dense {'+'.join(map(str, self.in_widths))}->{self.size} ({self.src.size} edges)"
