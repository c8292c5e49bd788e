"""Jacobians of the network outputs, by backpropagation from the output units.

The notes' algorithm for J_ki = dy_k/dx_i: forward-propagate x, then for each output k start a
backward sweep at the output units with the one-hot adjoint e_k, which yields dy_k/da_j for every
unit j on the way down, and finally J_ki = sum_j (dy_k/da_j) w_ji at the inputs. All c sweeps run
at once: the batch is repeated c times and row k*B + n of the repeated batch carries the seed e_k
of sample n, so one backward sweep over c*B rows gives the whole (B, c, d) Jacobian.

The same sweeps give the Jacobian with respect to the parameters, one sample at a time: for a dense
layer z = x W^T + b, dy_k/dW[o, i] = (dy_k/dz_o) x_i and dy_k/db[o] = dy_k/dz_o (the first-order
deltas of the notes with the output's one-hot seed instead of the loss). Ops that are not dense
layers get their columns from forward sweeps of directional derivatives (``passes.forward_tangent``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Sequence, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import dispatch
from ..engine import passes
from ..errors import ConfigError
from ..validation import check_X

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..ops.base import Op


#: elements of working memory one chunk of the batch may use (about 32 MB in float64)
CHUNK_ELEMENTS = 1 << 22


class DenseLike(Protocol):
    """What the Jacobian reads of a dense layer (W of shape (size, n_in), then b)."""

    size: int
    n_in: int
    n_params: int


def is_dense(op: Op) -> TypeGuard[DenseLike]:
    """True for an op that declares itself affine: z = x W^T + b from one input, parameters (W, b).

    Parameters
    ----------
    op : Op
        An operation of a network.

    Returns
    -------
    bool

    Examples
    --------
    >>> import backprop as bp
    >>> is_dense(bp.MLP([2, 3, 1], seed=0, output="identity").ops[0])
    True
    """
    return bool(op.affine) and op.arity == 1 and len(op.param_specs) == 2


def batch_slices(B: int, rows_per_sample: int, budget: int = CHUNK_ELEMENTS) -> list[slice]:
    """Split range(B) into slices whose working memory, ``rows_per_sample`` elements a sample, fits ``budget``.

    Parameters
    ----------
    B : int
        The number of samples.
    rows_per_sample : int
        Elements of working memory one sample needs.
    budget : int, default CHUNK_ELEMENTS
        Elements of working memory allowed.

    Returns
    -------
    list of slice

    Examples
    --------
    >>> batch_slices(5, 1000, 2000)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    size = max(1, min(B, int(budget // max(1, rows_per_sample))))
    return [slice(s, min(s + size, B)) for s in range(0, B, size)]


def one_hot_sweeps(net: Network, X: NDArray[Any], node: int, need_input: bool) -> tuple[list[NDArray[Any]], list[Any]]:
    """Forward X repeated once per unit of ``node`` and backpropagate one-hot seeds from that node.

    Returns (values, adj) over the c*B repeated rows: row k*B + n of ``adj[i]`` is d node_k / d node_i
    at sample n (the adjoint of the sweep seeded with e_k at sample n).
    """
    c, B = net.widths[node], X.shape[0]
    values, caches = net.forward_values(np.tile(X, (c, 1)))
    seed = np.repeat(np.eye(c, dtype=net.dtype), B, axis=0)      # row k*B + n = e_k
    adj = passes.backward(net, values, caches, node, seed, grad=None, need_input=need_input)
    return values, adj


def input_jacobian(net: Network, X: NDArray[Any], node: int | None = None) -> NDArray[Any]:
    """J[n, k, i] = d node_k / d x_i at X[n] for a validated batch X (default node: the output).

    Parameters
    ----------
    net : Network
        The network.
    X : ndarray of shape (B, n_inputs)
        A validated batch.
    node : int, optional
        The node whose units are differentiated (default: the output).

    Returns
    -------
    ndarray of shape (B, c, n_inputs)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> input_jacobian(bp.MLP([2, 3, 1], seed=0, output="identity"), np.ones((4, 2))).shape
    (4, 1, 2)
    """
    net.check_rows_independent("the per-sample input Jacobian", draws=False)
    node = len(net.ops) if node is None else node
    if not net.rows_independent:
        return jacobian_by_tangents(net, X, node, "inputs")
    B, c, d = X.shape[0], net.widths[node], net.n_inputs
    J = np.empty((B, c, d), dtype=net.dtype)
    for sl in batch_slices(B, 2 * c * sum(net.widths)):
        _, adj = one_hot_sweeps(net, X[sl], node, need_input=True)
        n = sl.stop - sl.start
        # rows are (k, n); J wants (n, k)
        J[sl] = adj[0].reshape(c, n, d).transpose(1, 0, 2)
    return J


def param_jacobian(net: Network, X: NDArray[Any], node: int | None = None) -> NDArray[Any]:
    """J[n, k, w] = d node_k / d params[w] at X[n] for a validated batch X (default node: the output).

    Parameters
    ----------
    net : Network
        The network.
    X : ndarray of shape (B, n_inputs)
        A validated batch.
    node : int, optional
        The node whose units are differentiated (default: the output).

    Returns
    -------
    ndarray of shape (B, c, n_params)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> param_jacobian(bp.MLP([2, 3, 1], seed=0, output="identity"), np.ones((4, 2))).shape
    (4, 1, 13)
    """
    net.check_rows_independent("the per-sample parameter Jacobian", draws=False)
    node = len(net.ops) if node is None else node
    if not net.rows_independent:
        return jacobian_by_tangents(net, X, node, "params")
    B, c, W = X.shape[0], net.widths[node], net.n_params
    J = np.zeros((B, c, W), dtype=net.dtype)
    others = [j for j, op in enumerate(net.ops) if op.n_params and not is_dense(op) and j < node]
    for sl in batch_slices(B, 2 * c * sum(net.widths) + c * W):
        n = sl.stop - sl.start
        values, adj = one_hot_sweeps(net, X[sl], node, need_input=False)
        Jn = J[sl].transpose(1, 0, 2)                             # (c, n, W) view of this chunk
        for j, op in enumerate(net.ops[:node]):
            if not op.n_params or not is_dense(op) or adj[j + 1] is None:
                continue
            delta = adj[j + 1].reshape(c, n, op.size)             # dy_k/dz_o, rows (k, n)
            x = values[net.inputs[j][0]][:n]                      # the repeats of x are identical
            off, n_in = int(net.offsets[j]), op.n_in
            # dy_k/dW[o, i] = (dy_k/dz_o) x_i ;  dy_k/db[o] = dy_k/dz_o
            JW = Jn[:, :, off:off + op.size * n_in].reshape(c, n, op.size, n_in)
            np.multiply(delta[..., None], x[None, :, None, :], out=JW)
            Jn[:, :, off + op.size * n_in:off + op.n_params] = delta
        if others:
            _tangent_columns(net, X[sl], node, others, Jn)
    return J


def jacobian_by_tangents(net: Network, X: NDArray[Any], node: int, wrt: str) -> NDArray[Any]:
    """J (B, c, d or W) by one forward sweep over the whole batch, one direction per input or parameter.

    For a network whose training-mode draws (dropout masks, rrelu slopes) belong to the batch as a whole:
    the batch is neither repeated nor split, so every direction sees the masks of the forward pass of X.
    """
    values, caches = net.forward_values(X)
    B, c = X.shape[0], net.widths[node]
    if wrt == "inputs":
        d = net.n_inputs
        seed = np.tile(np.eye(d, dtype=net.dtype)[:, None, :], (1, B, 1))       # direction i: e_i in every row
        t = passes.forward_tangent(net, values, caches, seeds={0: seed}, upto=node)[node]
        n = d
    else:
        n = net.n_params
        t = passes.forward_tangent(net, values, caches, V=np.eye(n, dtype=net.dtype), upto=node)[node]
    if t is None:
        return np.zeros((B, c, n), dtype=net.dtype)
    return np.ascontiguousarray(t.transpose(1, 2, 0))


def _tangent_columns(net: Network, X: NDArray[Any], node: int, ops: Sequence[int], Jn: NDArray[Any]) -> None:
    """Columns of ops that are not dense layers, by forward sweeps along unit parameter directions."""
    values, caches = net.forward_values(X)
    W = net.n_params
    for j in ops:
        start, stop = int(net.offsets[j]), int(net.offsets[j + 1])
        step = max(1, CHUNK_ELEMENTS // max(1, W + X.shape[0] * sum(net.widths)))
        for a in range(start, stop, step):
            b = min(a + step, stop)
            V = np.zeros((b - a, W), dtype=net.dtype)
            V[np.arange(b - a), np.arange(a, b)] = 1
            t = passes.forward_tangent(net, values, caches, V=V, upto=node)[node]
            if t is not None:
                Jn[:, :, a:b] = t.transpose(2, 1, 0)              # (m, n, c) -> (c, n, m)


def jacobian(net: Network, X: ArrayLike, wrt: str = "inputs") -> NDArray[Any]:
    """Jacobian of the network outputs y (after the output activation), one sample at a time.

    Computed by backpropagation: one backward sweep from the output units per output k, seeded with
    the one-hot adjoint e_k, all outputs and samples in one vectorised sweep.

    Parameters
    ----------
    net : Network
    X : array-like of shape (B, d)
    wrt : {"inputs", "params"}
        Differentiate with respect to the inputs (J[n, k, i] = dy_k/dx_i, the local sensitivity
        of output k to input i) or to every weight and bias (J[n, k, w] = dy_k/dw, in the order
        of ``net.params``).

    Returns
    -------
    ndarray of shape (B, c, d) or (B, c, n_params)

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([4, 8, 3], hidden="tanh", output="softmax", seed=0)
    >>> bp.jacobian(net, np.ones((5, 4))).shape
    (5, 3, 4)
    """
    if (on_dask := dispatch.on_dask("jacobian", X)) is not None:
        return on_dask(net, X, wrt=wrt)
    X = check_X(X, net.n_inputs, net.dtype)
    if wrt == "inputs":
        return input_jacobian(net, X)
    if wrt == "params":
        return param_jacobian(net, X)
    raise ConfigError(f"wrt must be 'inputs' or 'params'; got {wrt!r}")
