"""The sweeps over a network's graph, written once for every kind of network.

* ``backward``          reverse sweep of vector-Jacobian products: adjoints dE/d(node), gradient dE/dp
* ``forward_tangent``   forward sweep of Jacobian-vector products: R{node} for m directions at once
* ``backward_tangent``  reverse sweep of the second-order terms: R{dE/d(node)} and R{dE/dp}

Node values come from ``Network.forward_values``. A sweep skips every op whose incoming
adjoint or tangent is zero (None), so work starts where a perturbation enters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..ops.arrays import Array, Maybe
from ..ops.base import At, accumulate

if TYPE_CHECKING:
    from ..ops.base import BufferedOp
    from .network import Network
    from .plan import Plan

#: per op, its parameter arrays as views of the directions (or of ``tgrad``), None for an op without any
Views = list["tuple[Array, ...] | None"]


def backward(net: Network, values: Sequence[Array], caches: Sequence[object], seed_node: int,
             seed_adjoint: Array, grad: Array | None = None, need_input: bool = False,
             plan: Plan | None = None) -> list[Maybe]:
    """Backpropagate ``seed_adjoint`` = dE/d(node seed_node) down to the inputs.

    Parameters
    ----------
    net : Network
        The network.
    values, caches : list
        The node values and op caches of the forward pass (``Network.forward_values``).
    seed_node : int
        The node where the sweep starts (the output, or the input of a fused output activation).
    seed_adjoint : ndarray
        dE/d(node seed_node), (B, width).
    grad : 1-D array or None
        Array of length n_params that receives dE/dp (its contents are overwritten, and the
        parameters of ops that the sweep does not reach are set to zero); None skips them.
    need_input : bool
        Also compute dE/dX at node 0 (and at nodes that depend on X only).
    plan : Plan, optional
        An execution plan (``engine.plan``): the wanted inputs of every op and its adjoint buffers are
        used instead of being worked out here, and its views of its gradient buffer when ``grad`` is
        that buffer. Not with ``need_input``.

    Returns
    -------
    list
        ``adj[i]`` = dE/d(node i), shape (B, width), or None where not needed.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([1, 1], output="identity")
    >>> net.params[:] = [2.0, 0.0]                       # y = 2 x
    >>> X = np.array([[3.0]])
    >>> values, caches = net.forward_values(X)
    >>> grad = np.empty(2)
    >>> adj = backward(net, values, caches, 2, np.ones((1, 1)), grad, need_input=True)
    >>> grad, adj[0]                                     # dE/dW = x, dE/db = 1, dE/dx = W
    (array([3., 1.]), array([[2.]]))
    """
    adj: list[Maybe] = [None] * (len(net.ops) + 1)
    adj[seed_node] = seed_adjoint
    if plan is not None and grad is not None and grad is plan.grad and plan.seed_node == seed_node:
        return _backward_planned(values, caches, adj, plan)
    dep, counts = net.depends_on_params, net.param_counts
    for j in range(len(net.ops) - 1, -1, -1):
        dy = adj[j + 1] if j < seed_node else None
        if dy is None:
            if grad is not None and counts[j]:
                grad[net.offsets[j]:net.offsets[j + 1]] = 0
            continue
        op, ix = net.ops[j], net.inputs[j]
        at = At([values[i] for i in ix], values[j + 1], caches[j], net.views(j))
        if plan is None:
            gp = net.split(grad, j) if grad is not None and counts[j] else None
            need = [need_input or dep[i] for i in ix]
            dxs = op.vjp(at, dy, gp=gp, need=need)
        else:
            gp = None if grad is None or not counts[j] else plan.gp[j] if grad is plan.grad else net.split(grad, j)
            need, out = plan.need[j], plan.vjp_out[j]
            dxs = (op.vjp(at, dy, gp=gp, need=need) if out is None else
                   cast("BufferedOp", op).vjp(at, dy, gp=gp, need=need, out=out))
        for i, dx, nd in zip(ix, dxs, need):
            if nd:
                adj[i] = accumulate(adj[i], dx)
    return adj


def _backward_planned(values: Sequence[Array], caches: Sequence[object], adj: list[Maybe],
                      plan: Plan) -> list[Maybe]:
    """``backward`` into the plan's gradient buffer, on the plan's lists (the same passes, in the same order)."""
    seed_node, back = plan.seed_node, plan.back
    assert back is not None, "a plan with a backward sweep (want 'grad' or 'hvp')"
    for j, op, ix, p, gp, need, out, share in back:
        dy = adj[j + 1] if j < seed_node else None
        if dy is None:
            if share is not None:
                share[...] = 0
            continue
        at = At([values[i] for i in ix], values[j + 1], caches[j], p)
        dxs = (op.vjp(at, dy, gp=gp, need=need) if out is None else
               cast("BufferedOp", op).vjp(at, dy, gp=gp, need=need, out=out))
        for i, dx, nd in zip(ix, dxs, need):
            if nd:
                adj[i] = accumulate(adj[i], dx)
    return adj


def split_directions(net: Network, V: Array) -> Views:
    """Each op's parameter arrays as views of the directions V (m, n_params), None for ops without any:
    worked out once per call and shared by both tangent sweeps.

    Parameters
    ----------
    net : Network
        The network.
    V : ndarray of shape (m, n_params)
        Parameter directions.

    Returns
    -------
    list of tuple of ndarray or None
        Per op, its arrays as views ``(m, *shape)``.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([3, 2])
    >>> [None if v is None else [a.shape for a in v] for v in split_directions(net, np.zeros((4, net.n_params)))]
    [[(4, 2, 3), (4, 2)], None]
    """
    return [net.split(V, j) if n else None for j, n in enumerate(net.param_counts)]


def forward_tangent(net: Network, values: Sequence[Array], caches: Sequence[object], V: Array | None = None,
                    seeds: dict[int, Array] | None = None, upto: int | None = None,
                    Vs: Views | None = None) -> list[Maybe]:
    """Propagate directional derivatives forward: R{node} for m directions.

    Parameters
    ----------
    net : Network
        The network.
    values, caches : list
        The node values and op caches of the forward pass.
    V : array of shape (m, n_params) or None
        Parameter directions.
    seeds : dict {node: array (m, B, width)} or None
        Tangents injected directly at nodes (a perturbation of that node's value).
    upto : int or None
        Last node to compute (default: the output).
    Vs : list, optional
        ``split_directions(net, V)``, when the caller has it.

    Returns
    -------
    list
        ``tan[i]`` = R{node i} of shape (m, B, width), or None where it is zero.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([1, 1], output="identity")
    >>> net.params[:] = [2.0, 0.0]                       # y = W x + b
    >>> values, caches = net.forward_values(np.array([[3.0]]))
    >>> forward_tangent(net, values, caches, V=np.array([[1.0, 0.0]]))[-1]      # R{y} = R{W} x
    array([[[3.]]])
    """
    last = len(net.ops) if upto is None else upto
    tan: list[Maybe] = [None] * (len(net.ops) + 1)
    for node, t in (seeds or {}).items():
        tan[node] = t
    if V is not None and Vs is None:
        Vs = split_directions(net, V)
    views = net._views
    for j, op, ix in zip(range(last), net.ops, net.inputs):
        txs = [tan[i] for i in ix]
        tp = Vs[j] if Vs is not None and V is not None else None
        if tp is None and _all_none(txs):
            continue
        ty = op.jvp(At([values[i] for i in ix], values[j + 1], caches[j], views[j]), txs, tp)
        tan[j + 1] = accumulate(tan[j + 1], ty)
    return tan


def backward_tangent(net: Network, values: Sequence[Array], caches: Sequence[object], adj: Sequence[Maybe],
                     tan: Sequence[Maybe], seed_node: int, seed_tadjoint: Maybe, V: Array | None = None,
                     tgrad: Array | None = None, need_input: bool = False, Vs: Views | None = None,
                     tgps: Views | None = None) -> list[Maybe]:
    """Propagate the tangents of the adjoints backward (the R-operator applied to ``backward``).

    Parameters
    ----------
    net : Network
        The network.
    values, caches : list
        The node values and op caches of the forward pass.
    adj : list
        Adjoints from ``backward``.
    tan : list
        Node tangents from ``forward_tangent``.
    seed_tadjoint : array (m, B, width) or None
        R{dE/d(node seed_node)}, from the loss's second derivative.
    V : array (m, n_params) or None
        Parameter directions (the same as given to ``forward_tangent``).
    seed_node : int
        The node where the sweep starts (as for ``backward``).
    tgrad : array (m, n_params) or None
        Receives R{dE/dp} (Hessian-vector products); its contents are overwritten, and the
        parameters of ops that the sweep does not reach are set to zero (as in ``backward``).
    need_input : bool
        Also compute R{dE/dX} at node 0 (and at nodes that depend on X only).
    Vs : list, optional
        ``split_directions(net, V)``, when the caller has it.
    tgps : list, optional
        Each op's parameter arrays as views of ``tgrad`` (``split_directions(net, tgrad)``), when the
        caller has them.

    Returns
    -------
    list
        ``tadj[i]`` = R{dE/d(node i)}, shape (m, B, width), or None where zero.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([1, 1], output="identity")
    >>> net.params[:] = [2.0, 0.0]                       # E = y^2 / 2 with y = W x + b at x = 3
    >>> values, caches = net.forward_values(np.array([[3.0]]))
    >>> V = np.array([[1.0, 0.0]])                       # the direction of W
    >>> adj = backward(net, values, caches, 2, values[2])          # dE/dy = y
    >>> tan = forward_tangent(net, values, caches, V=V)
    >>> tgrad = np.empty((1, 2))
    >>> _ = backward_tangent(net, values, caches, adj, tan, 2, tan[2], V=V, tgrad=tgrad)
    >>> tgrad                                            # H V: d2E/dW2 = x^2, d2E/dW db = x
    array([[9., 3.]])
    """
    tadj: list[Maybe] = [None] * (len(net.ops) + 1)
    tadj[seed_node] = seed_tadjoint
    dep, counts, views = net.depends_on_params, net.param_counts, net._views
    if V is not None and Vs is None:
        Vs = split_directions(net, V)
    for j in range(len(net.ops) - 1, -1, -1):
        dy = adj[j + 1] if j < seed_node else None
        op, ix = net.ops[j], net.inputs[j]
        tdy, txs = tadj[j + 1], [tan[i] for i in ix]
        tp = Vs[j] if Vs is not None and V is not None else None
        if dy is None or (tdy is None and tp is None and _all_none(txs)):
            if tgrad is not None and counts[j]:
                tgrad[..., net.offsets[j]:net.offsets[j + 1]] = 0
            continue
        tgp = None if tgrad is None or not counts[j] else net.split(tgrad, j) if tgps is None else tgps[j]
        need = [need_input or dep[i] for i in ix]
        tdxs = op.vjp_tangent(At([values[i] for i in ix], values[j + 1], caches[j], views[j]), dy, tdy, txs,
                              tan[j + 1], tp, tgp=tgp, need=need)
        for i, tdx, nd in zip(ix, tdxs, need):
            if nd:
                tadj[i] = accumulate(tadj[i], tdx)
    return tadj


def _all_none(xs: Sequence[object]) -> bool:
    """Whether every entry of the list xs is None (all tangents zero)."""
    for x in xs:
        if x is not None:
            return False
    return True


def as_directions(V: ArrayLike, n_params: int, dtype: DTypeLike) -> Array:
    """Parameter directions as a C-contiguous (m, n_params) array, whether given as (n_params,) or (n_params, m).

    Parameters
    ----------
    V : array-like of shape (n_params,) or (n_params, m)
        One direction, or m directions as columns.
    n_params : int
        The number of parameters.
    dtype : numpy dtype
        The network's dtype.

    Returns
    -------
    ndarray of shape (m, n_params)

    Examples
    --------
    >>> as_directions([1.0, 2.0], 2, np.float64), as_directions(np.eye(2), 2, np.float64).shape
    (array([[1., 2.]]), (2, 2))
    """
    A = np.asarray(V, dtype=dtype)
    return np.ascontiguousarray(A[None, :] if A.ndim == 1 else A.T)
