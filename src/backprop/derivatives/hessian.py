"""The exact Hessian of the error with respect to all weights and biases, by backpropagating M.

All weights and biases are relabelled with one consecutive index (the order of ``net.params``), and

    H[(p,j,i), (q,k,l)] = d2E / dW_p[j,i] dW_q[k,l]

for dense layers p and q (z^p = x^p W_p^T + b_p). W_p[j,i] enters E only through the
pre-activation a^p_j = z^p_j of each sample, with dz^p_j/dW_p[j,i] = x^p_i. Differentiating the
gradient dE/dW_q[k,l] = sum_n delta^q_{n,k} x^q_{n,l} with respect to W_p[j,i] therefore gives,
for p at or before q in node order,

    H[(p,j,i), (q,k,l)] = sum_n x^p_{n,i} ( M^{qp}_{n,kj} x^q_{n,l} + delta^q_{n,k} dx^q_{n,l}/da^p_{n,j} )

with M^{qp}_{kj} = d2E / (da^q_k da^p_j), the second derivatives of the notes, and x = 1 for a
bias. This is the notes' two-layer result, (a) M_kk' z_j z_j', (b) M_jj' x_i x_i', (c) M_jk x_i z_j'
+ delta_k h'(a_j) delta_jj' x_i, for any depth and any op between the layers (softmax included).

M is backpropagated exactly as the notes describe, by the engine's second-order sweep: seeding
the forward tangent at a^p with the identity (one direction per unit j) makes the forward sweep
compute dx^q/da^p_j at every later layer, and the backward sweep of second-order terms (each op's
``vjp_tangent``: h''(a) delta-terms and h'(a) h'(a') w w' M-terms, the softmax's own second-order
terms for vector activations) then yields R_j{delta^q} = M^{qp}_{:,j} at every layer q.
The adjoints already contain the per-instance factor of the loss (1/B for the mean, 1 for the sum),
so the blocks need no further scaling;
lambda is added to the diagonal of the weights for the L2 term.

Ops with parameters that are not dense layers get their rows from Hessian-vector products with
unit vectors (correct for every op). When an op couples the samples of the batch (BatchNorm in
training mode: ``batch_coupled``) M is no longer a per-sample matrix and a unit seeded in every
sample at once is not one direction of the objective; every row then comes from Hessian-vector
products of the whole batch, whose passes carry the coupling inside the op, so the result stays exact. The result is made exactly symmetric by copying its upper
triangle; working memory stays within about the size of the result (units and samples in chunks).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import dispatch
from ..engine import l2, passes
from ..engine.objective import Objective
from ..engine.plan import acquire
from ..validation import MAX_MATRIX_BYTES, check_matrix_size
from .jacobian import DenseLike, is_dense

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..engine.plan import Plan
    from ..losses import Loss

#: per node, the swept directions: None for nodes the sweep does not reach, else (m, B, width)
Sweep = Sequence["NDArray[Any] | None"]
#: node -> (rows, units): the directions seeded at that node and the unit each one perturbs
Seeds = Mapping[int, "tuple[NDArray[np.integer[Any]], NDArray[np.integer[Any]]]"]

HESSIAN_HINT = ("use bp.hvp (Hessian-vector products, O(W) memory) or bp.hessian_diag (the diagonal) "
                "instead")

#: working memory of the sweeps and products, in elements, at least this much (512 kB in float64)
MIN_BUDGET = 1 << 16
#: units of a layer whose block rows are formed by one matrix product: up to this many elements of C
GROUP_ELEMENTS = 1 << 17


def mirror_upper(H: NDArray[Any], tile: int = 256) -> None:
    """Copy the upper triangle of H onto the lower one, tile by tile (cache-sized, no W x W temporary).

    Parameters
    ----------
    H : ndarray of shape (W, W)
        Changed in place: on return H[i, j] = H[j, i] = the old H[min(i, j), max(i, j)].
    tile : int, default 256
        Side of the square tiles copied at once.

    Examples
    --------
    >>> H = np.arange(9.0).reshape(3, 3)
    >>> mirror_upper(H)
    >>> H
    array([[0., 1., 2.],
           [1., 4., 5.],
           [2., 5., 8.]])
    """
    W = H.shape[0]
    if W <= 32:
        low = np.tril_indices(W, -1)
        H[low] = H.T[low]
        return
    for r0 in range(0, W, tile):
        r1 = min(r0 + tile, W)
        for c0 in range(0, r0, tile):
            H[r0:r1, c0:c0 + tile] = H[c0:c0 + tile, r0:r1].T
        mirror_upper(H[r0:r1, r0:r1], tile=max(32, tile // 8))     # the diagonal tile, in smaller tiles


class _Layout:
    """Where each dense layer's parameters live and which nodes it reads and writes."""

    def __init__(self, net: Network, j: int, op: DenseLike) -> None:
        self.j, self.op = j, op
        self.inp: int = net.inputs[j][0]                      # node of x^p
        self.out = j + 1                                      # node of z^p = a^p
        self.n_in: int = op.n_in
        self.n_out: int = op.size
        self.off = int(net.offsets[j])
        self.nW: int = op.n_in * op.size
        self.size: int = op.n_params


def unit_sweeps(obj: Objective, seeds: Seeds) -> tuple[list[NDArray[Any] | None], list[NDArray[Any] | None]]:
    """Forward and second-order backward sweeps seeded with unit tangents at pre-activations.

    Parameters
    ----------
    obj : Objective
        An objective whose gradient has been computed (``obj.gradient()``).
    seeds : dict
        node -> (rows, units): direction r = rows[t] perturbs unit units[t] of that node for every sample
        at once (the samples are independent); m directions in all.

    Returns
    -------
    tan : list
        tan[i] = da_i/da_j, (m, B, width) or None where the sweep does not reach node i.
    tadj : list
        tadj[i] = R_j{dE/d node i}, (m, B, width) or None; direction-major like ``tan``.

    Examples
    --------
    >>> import backprop as bp
    >>> from backprop.engine.objective import Objective
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> obj = Objective(net, "l2", np.ones((4, 2)), np.zeros(4))
    >>> _ = obj.gradient()
    >>> tan, tadj = unit_sweeps(obj, {1: (np.arange(3), np.arange(3))})   # the 3 units of z_1
    >>> tan[0] is None, tan[1].shape, tadj[3].shape
    (True, (3, 4, 3), (3, 4, 1))
    """
    net, B = obj.net, obj.B
    m = sum(len(r) for r, _ in seeds.values())
    seed_arrays = {}
    for node, (rows, units) in seeds.items():
        t = np.zeros((m, B, net.widths[node]), dtype=net.dtype)
        t[rows, :, units] = 1
        seed_arrays[node] = t
    tan = obj.tangents(seeds=seed_arrays)
    tadj = passes.backward_tangent(net, obj.values, obj.caches, obj.adjoints, tan, obj.seed_node,
                                   obj.seed_tadjoint(tan))
    return tan, tadj


def _unit_chunks(layers: Sequence[_Layout], per_unit: int, budget: int) -> list[list[tuple[int, int]]]:
    """Group the (layer, unit) pairs of all dense layers, in order, into chunks of directions."""
    size = max(1, int(budget // max(1, per_unit)))
    flat = [(li, u) for li, L in enumerate(layers) for u in range(L.n_out)]
    return [flat[s:s + size] for s in range(0, len(flat), size)]


def _segments(chunk: Sequence[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Split a chunk of (layer, unit) pairs into runs of one layer: (layer, first row, unit0, unit1)."""
    out: list[tuple[int, int, int, int]] = []
    start = 0
    for t in range(1, len(chunk) + 1):
        if t == len(chunk) or chunk[t][0] != chunk[start][0]:
            out.append((chunk[start][0], start, chunk[start][1], chunk[t - 1][1] + 1))
            start = t
    return out


def _add_block(H: NDArray[Any], P: _Layout, Q: _Layout, r: slice, obj: Objective, tan: Sweep, tadj: Sweep,
               j0: int, j1: int, scale: float, first: bool, buf: NDArray[Any]) -> None:
    """Rows of units j0..j1 of layer P times the columns of layer Q (Q at or after P) of H.

    ``r`` selects the sweep directions of those units. With C of shape (B, units, W_q),

        C[n, j, (k, l)] = M_{n,kj} x^q_{n,l} + delta^q_{n,k} dx^q_{n,l}/da^p_j ,   C[n, j, b_k] = M_{n,kj}
        H[(j, i), Q] = sum_n x^p_{n,i} C[n, j, :] ,   H[b_j, Q] = sum_n C[n, j, :]

    one matrix product for a group of units (small layers), or one per unit written straight into H
    (large ones). Within a layer's own block only the columns from the group's first unit on are
    needed (the rest is lower triangle, copied at the end). ``first``: the block is still zero.
    """
    Mq = tadj[Q.out]                                       # M_{n,kj} = R_j{delta^q}_{n,k}, (m, B, n_out_q)
    if Mq is None:
        return
    M = Mq[r]
    xq = obj.values[Q.inp]
    tq = tan[Q.inp]
    dxq = tq[r] if tq is not None else None                # dx^q/da^p_j, (J, B, n_in_q)
    delta = obj.adjoints[Q.out]
    xpT = obj.values[P.inp].T
    if scale != 1:
        xpT = xpT * scale
    B = xpT.shape[1]
    half = buf.size // 2
    g = max(1, min(j1 - j0, half // (B * Q.size)))
    for a in range(j0, j1, g):
        b = min(a + g, j1)
        m, t = b - a, slice(a - j0, b - j0)
        k0 = a if P is Q else 0                            # first unit k of the columns needed
        c0 = k0 * Q.n_in
        w = Q.size - c0
        C = buf[:B * m * w].reshape(B, m, w)
        CW = C[:, :, :Q.nW - c0].reshape(B, m, Q.n_out - k0, Q.n_in)
        Mt = M[t].transpose(1, 0, 2)                       # (B, m, n_out_q)
        np.multiply(Mt[:, :, k0:, None], xq[:, None, None, :], out=CW)
        if dxq is not None:
            T = buf[half:half + CW.size].reshape(CW.shape)
            np.multiply(delta[:, None, k0:, None], dxq[t].transpose(1, 0, 2)[:, :, None, :], out=T)
            CW += T
        C[:, :, Q.nW - c0:] = Mt
        cols = slice(Q.off + c0, Q.off + Q.size)
        rows = H[P.off + a * P.n_in:P.off + b * P.n_in, cols]
        brows = H[P.off + P.nW + a:P.off + P.nW + b, cols]
        if m == 1:
            C2 = C.reshape(B, w)
            if first:
                np.matmul(xpT, C2, out=rows)
            else:
                rows += xpT @ C2
        else:
            R = (xpT @ C.reshape(B, m * w)).reshape(P.n_in, m, w).transpose(1, 0, 2)
            if first:
                rows.reshape(m, P.n_in, w)[...] = R
            else:
                rows.reshape(m, P.n_in, w)[...] += R
        bsum = C.sum(axis=0)
        if scale != 1:
            bsum *= scale
        if first:
            brows[...] = bsum
        else:
            brows += bsum


def _unit_hvps(net: Network, obj: Objective, ops: Sequence[int],
               budget: int) -> Iterator[tuple[int, int, NDArray[Any]]]:
    """For ops that are not dense layers: yield (a, b, H[a:b]) = H e_w for parameters w in a..b-1 of
    each op, by the R-operator, as many unit directions at once as the budget allows."""
    W = net.n_params
    step = max(1, int(budget // max(1, 2 * W + 4 * obj.B * sum(net.widths))))
    for j in ops:
        start, stop = int(net.offsets[j]), int(net.offsets[j + 1])
        for a in range(start, stop, step):
            b = min(a + step, stop)
            V = np.zeros((b - a, W), dtype=net.dtype)
            V[np.arange(b - a), np.arange(a, b)] = 1
            yield a, b, obj.hvp(V)


def _hvp_rows(H: NDArray[Any], net: Network, obj: Objective, ops: Sequence[int], scale: float, budget: int) -> None:
    """Rows of ops that are not dense layers: H e_w for each of their parameters, by the R-operator."""
    for a, b, Hv in _unit_hvps(net, obj, ops, budget):
        H[a:b] += Hv * scale if scale != 1 else Hv


def _split_by_path(net: Network) -> tuple[list[_Layout], list[int]]:
    """(dense layers for the per-sample fast path, indices of the other ops with parameters).

    The fast path sums per-sample blocks (x_n x_n^T times M_n), which needs rows that do not depend on one
    another: with a batch-coupled op in the network every op's rows come from products H e_w instead.
    """
    coupled = bool(net.batch_coupled_ops)
    layers = [] if coupled else [_Layout(net, j, op) for j, op in enumerate(net.ops) if op.n_params and is_dense(op)]
    others = [j for j, op in enumerate(net.ops) if op.n_params and (coupled or not is_dense(op))]
    return layers, others


def hessian_matrix(obj: Objective, budget: int | None = None) -> NDArray[Any]:
    """The exact Hessian for a validated Objective ``obj`` (see ``hessian``).

    Parameters
    ----------
    obj : Objective
        A validated objective: the network, the loss and the batch.
    budget : int, optional
        Working memory in elements (default: about the size of the result, at least ``MIN_BUDGET``).

    Returns
    -------
    ndarray of shape (n_params, n_params)
        Exactly symmetric, including the L2 term.

    Examples
    --------
    >>> import backprop as bp
    >>> from backprop.engine.objective import Objective
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X, T = np.ones((4, 2)), np.zeros(4)
    >>> H = hessian_matrix(Objective(net, "l2", X, T), budget=1000)
    >>> bool(np.allclose(H, bp.hessian(net, "l2", X, T)))
    True
    """
    net = obj.net
    W, B = net.n_params, obj.B
    budget = max(W * W, MIN_BUDGET) if budget is None else int(budget)
    H = np.zeros((W, W), dtype=net.dtype)
    layers, others = _split_by_path(net)
    widths = sum(net.widths)
    biggest = max((L.size for L in layers), default=0)
    # elements per (direction, sample): tangents, their adjoints and op temporaries
    per = 4 * widths
    n_dir = sum(L.n_out for L in layers)
    Bc = min(B, max(1, int(budget // (per * max(1, min(n_dir, 16)) + 2 * biggest))))
    if not net.rows_independent:
        Bc = B             # rows that depend on the whole batch: one chunk, so the Hessian stays exact
    with acquire(net, obj.seed_node, Bc) as plan:        # every chunk's passes in one execution plan
        _chunks(H, obj, plan, layers, others, B, Bc, per, biggest, budget)
    for j in others:                                       # the rows computed above are also the columns
        a, b = int(net.offsets[j]), int(net.offsets[j + 1])
        H[:, a:b] = H[a:b, :].T
    mirror_upper(H)
    l2.add_diagonal(H, net, obj.l2)
    return H


def _chunks(H: NDArray[Any], obj: Objective, plan: Plan, layers: Sequence[_Layout], others: Sequence[int], B: int,
            Bc: int, per: int, biggest: int, budget: int) -> None:
    """The upper block rows of H (and the rows of ops that are not dense), chunk of samples by chunk."""
    net = obj.net
    for s in range(0, B, Bc):
        sl = slice(s, min(s + Bc, B))
        n = sl.stop - sl.start
        # the chunk keeps the batch's per-instance factors (1/B, 1, ...); L2 is added once by the caller
        o = Objective(net, obj.loss, obj.X[sl], obj.D[sl], l2=0.0, validate=False, scale=obj.instance_scale(sl),
                      plan=plan)
        o.gradient()
        scale = 1
        if layers:
            # C and a scratch term for the products, reused; the sweeps' tangents get the rest of the budget
            group = min(GROUP_ELEMENTS, budget // 4)
            buf = np.empty(2 * max(n * biggest, group), dtype=net.dtype)
            for chunk in _unit_chunks(layers, per * n, budget - 2 * group):
                segs = _segments(chunk)
                seeds: dict[int, tuple[NDArray[np.integer[Any]], NDArray[np.integer[Any]]]] = {}
                for li, r0, u0, u1 in segs:
                    rows = np.arange(r0, r0 + u1 - u0)
                    seeds[layers[li].out] = (rows, np.arange(u0, u1))
                tan, tadj = unit_sweeps(o, seeds)
                for li, r0, u0, u1 in segs:
                    r = slice(r0, r0 + u1 - u0)
                    for Q in layers[li:]:
                        _add_block(H, layers[li], Q, r, o, tan, tadj, u0, u1, scale, s == 0, buf)
        if others:
            _hvp_rows(H, net, o, others, scale, budget)


def hessian(net: Network, loss: str | dict[str, Any] | Loss, X: ArrayLike, T: ArrayLike,
            max_bytes: int | None = MAX_MATRIX_BYTES) -> NDArray[Any]:
    """Exact Hessian of the training loss with respect to all weights and biases.

    E(w) = 1/B sum_n Div(y_n, t_n) + lambda/2 ||W||^2, with every weight and bias relabelled by
    one consecutive index (the order of ``net.params``). Evaluated by backpropagating the second
    derivatives M = d2E/(da da') through the layers and combining them with the first-order
    deltas for the mixed terms, summed over the batch; O(B W^2) work.

    Parameters
    ----------
    net : Network
        The network, at its current parameters ``net.params``.
    loss : str, dict or Loss
        As for ``loss_and_grad``.
    X : array-like of shape (B, d)
        The inputs, one row per instance.
    T : array-like
        Targets, as for ``loss_and_grad``.
    max_bytes : int or None
        Refuse (MemoryLimitError, before any work) when the W x W result would need more bytes; default
        2 GiB (``backprop.validation.MAX_MATRIX_BYTES``, a float64 Hessian of 16384 parameters). None: no
        limit.

    Returns
    -------
    ndarray of shape (n_params, n_params)
        Exactly symmetric.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> H = bp.hessian(net, "l2", np.ones((4, 2)), np.zeros(4))
    >>> H.shape, bool((H == H.T).all())
    ((13, 13), True)
    """
    check_matrix_size(net.n_params, net.dtype, max_bytes, "the Hessian", HESSIAN_HINT)
    if (on_dask := dispatch.on_dask("hessian", X, T)) is not None:
        return on_dask(net, loss, X, T)
    return hessian_matrix(Objective(net, loss, X, T))


def weighted_squares(M: NDArray[Any], x: NDArray[Any]) -> NDArray[Any]:
    """sum_n M[j, n] x[n, i]^2 as a (J, d) array, right for every finite x and M.

    Where every non-zero |x| lies between the square roots of the dtype's smallest normal and largest
    number (1.5e-154 and 1.3e154 in float64), x^2 neither overflows nor underflows and the sum is the
    plain product M (x * x). Otherwise x^2 would overflow (and 0 * inf be NaN where M is 0: a saturated
    unit, f' = 0) or underflow to 0 (and a term M x^2 that matters vanish). Then each entry is written
    exactly as x = u 2^(s k) with 1 <= |u| < 2^s, in bands k of s binary orders (s = 341 in float64, 42
    in float32), and M as Mh 2^a with |Mh| < 1: u^2 < 2^(2s) and each band's sum Mh (u * u) stay finite,
    are scaled back exactly by 2^(2 s k + a), and the bands are added from the highest down (a band
    that overflows decides the sign of the inf). An entry whose true value exceeds the largest float
    comes out as +-inf, the others finite. (An entry of M smaller than 2^-1074 times the largest |M|
    is 0 in Mh: M's non-zero entries are taken to span less than that, 1e323, as the second-derivative
    factors of a network do.)

    Parameters
    ----------
    M : ndarray of shape (J, N)
        The weights M[j, n].
    x : ndarray of shape (N, d)
        The values whose squares are weighted.

    Returns
    -------
    ndarray of shape (J, d)

    Examples
    --------
    >>> weighted_squares(np.array([[1.0, 2.0]]), np.array([[3.0], [1.0]]))      # 1 * 9 + 2 * 1
    array([[11.]])
    >>> weighted_squares(np.array([[0.0]]), np.array([[1e200]]))                # 0 * 1e400 is 0, not NaN
    array([[0.]])
    >>> weighted_squares(np.array([[0.0, 2.0]]), np.array([[1e200], [1.0]]))    # 0 * 1e400 + 2 * 1
    array([[2.]])
    """
    dtype = np.result_type(M, x)
    info = np.finfo(dtype)
    ax = np.abs(x)
    present = ax > 0
    if not present.any():
        return np.zeros((M.shape[0], x.shape[1]), dtype=dtype)
    nz = ax[present]
    if nz.min() >= np.sqrt(info.tiny) and nz.max() <= np.sqrt(info.max):
        with np.errstate(over="ignore"):
            return M @ (x * x)
    s = info.maxexp // 3                  # bits per band: N 2^(2s) stays far below the largest float
    band = (np.frexp(ax)[1] - 1) // s     # |x| in [2^(s k), 2^(s (k + 1)))
    a = int(np.frexp(np.abs(M).max())[1])
    Mh = np.ldexp(M, -a).astype(dtype, copy=False)          # M = Mh 2^a exactly, |Mh| < 1
    out = np.zeros((M.shape[0], x.shape[1]), dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in np.unique(band[present])[::-1]:
            u = np.where(present & (band == k), np.ldexp(x, -s * int(k)), 0).astype(dtype, copy=False)
            part = np.ldexp(Mh @ (u * u), 2 * s * int(k) + a).astype(dtype, copy=False)
            out = np.where(np.isinf(out), out, out + part)
    return out


def hessian_diagonal(obj: Objective, budget: int | None = None) -> NDArray[Any]:
    """diag(H) for a validated Objective: only the (p, p) blocks' diagonals M_jj x_i^2, no W x W matrix.

    Parameters
    ----------
    obj : Objective
        A validated objective: the network, the loss and the batch.
    budget : int, optional
        Working memory in elements (default: at least 2**20).

    Returns
    -------
    ndarray of shape (n_params,)
        The diagonal of ``hessian_matrix(obj)``, including the L2 term.

    Examples
    --------
    >>> import backprop as bp
    >>> from backprop.engine.objective import Objective
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> obj = Objective(net, "l2", np.ones((4, 2)), np.zeros(4))
    >>> bool(np.allclose(hessian_diagonal(obj), np.diag(hessian_matrix(obj))))
    True
    """
    net = obj.net
    W, B = net.n_params, obj.B
    budget = max(16 * W, MIN_BUDGET, 1 << 20) if budget is None else int(budget)
    diag = np.zeros(W, dtype=net.dtype)
    layers, others = _split_by_path(net)
    per = 4 * sum(net.widths)
    Bc = min(B, max(1, int(budget // (per * 16))))
    if not net.rows_independent:
        Bc = B             # rows that depend on the whole batch: one chunk, so the diagonal stays exact
    for s in range(0, B, Bc):
        sl = slice(s, min(s + Bc, B))
        n = sl.stop - sl.start
        # the chunk keeps the batch's per-instance factors (1/B, 1, ...); L2 is added once below
        o = Objective(net, obj.loss, obj.X[sl], obj.D[sl], l2=0.0, validate=False, scale=obj.instance_scale(sl))
        o.gradient()
        scale = 1
        if layers:
            for chunk in _unit_chunks(layers, per * n, budget):
                segs = _segments(chunk)
                seeds = {layers[li].out: (np.arange(r0, r0 + u1 - u0), np.arange(u0, u1))
                         for li, r0, u0, u1 in segs}
                _, tadj = unit_sweeps(o, seeds)
                for li, r0, u0, u1 in segs:
                    P = layers[li]
                    Mp = tadj[P.out]
                    if Mp is None:
                        continue
                    units = np.arange(u0, u1)
                    Mjj = Mp[r0 + units - u0, :, units] * scale     # M_{n,jj}, (J, n)
                    x = o.values[P.inp]
                    # H[(j,i),(j,i)] = sum_n M_{n,jj} x_{n,i}^2 ;  H[b_j, b_j] = sum_n M_{n,jj}
                    diag[P.off + u0 * P.n_in:P.off + u1 * P.n_in] += weighted_squares(Mjj, x).ravel()
                    diag[P.off + P.nW + u0:P.off + P.nW + u1] += Mjj.sum(axis=1)
        for a, b, Hv in _unit_hvps(net, o, others, budget):
            diag[a:b] += Hv[np.arange(b - a), np.arange(a, b)] * scale
    l2.add_diagonal(diag, net, obj.l2)
    return diag


def hessian_diag(net: Network, loss: str | dict[str, Any] | Loss, X: ArrayLike, T: ArrayLike) -> NDArray[Any]:
    """Diagonal of the exact Hessian, d2E/dw_k^2 for every weight and bias, without forming the matrix.

    The same per-layer backward sweeps of M as ``hessian``, keeping only M_jj:
    d2E/dW[j,i]^2 = sum_n M_{n,jj} x_{n,i}^2 and d2E/db_j^2 = sum_n M_{n,jj}; O(B W n_units) work.

    Parameters
    ----------
    net, loss, X, T
        As for ``hessian``.

    Returns
    -------
    ndarray of shape (n_params,)
        d2E/dw_k^2 in the order of ``net.params``, including the L2 term lambda on the weights.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X, T = np.ones((4, 2)), np.zeros(4)
    >>> d = bp.hessian_diag(net, "l2", X, T)
    >>> d.shape, bool(np.allclose(d, np.diag(bp.hessian(net, "l2", X, T))))
    ((13,), True)
    """
    if (on_dask := dispatch.on_dask("hessian_diag", X, T)) is not None:
        return on_dask(net, loss, X, T)
    return hessian_diagonal(Objective(net, loss, X, T))
