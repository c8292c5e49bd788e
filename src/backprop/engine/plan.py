"""Execution plans: what the hot loops need of a network, worked out once and kept.

A plan is compiled for one (network structure and mode, node where the loss is evaluated, batch
size, dtype, what is wanted: "grad" for value and gradient, "hvp" for Hessian-vector products) and
holds everything a gradient needs besides the arithmetic:

* one output buffer per op that takes ``out=`` (``ops.base.accepts_out``), written by its forward;
* one buffer per node adjoint that a single op writes (its ``vjp(..., out=)``), and the list of
  wanted adjoints of every op's inputs;
* the flat gradient, with each op's views into it, so the backward sweep writes straight into it;
* the views of the L2-regularised weights in the parameters and in the gradient;
* buffers a training step gathers its batch into.

The plan holds no formula: ``Network.forward_values`` and ``passes.backward`` run the ops' own
passes, with the plan's buffers. Ops that do not take ``out=`` (any op written without it, or ops
with modes and state) run exactly as without a plan.

Plans are cached per network (``acquire``), keyed on its structure (the op objects, the graph, the
parameter vector, the mode of every op with modes), so they are rebuilt when the structure or mode
changes and never when only ``params`` change (the plan holds views of the parameter vector, which
``net.params = v`` fills in place). A plan is used by one caller at a time: ``acquire`` hands out the
cached plan under its lock, or a fresh uncached one when the cached plan is in use (a call nested in
a callback, another thread), so buffers are never shared between two computations in flight.
"""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import numpy as np
from numpy.typing import NDArray

from ..ops.arrays import Array, Maybe
from ..ops.base import Op, accepts_out
from . import l2

if TYPE_CHECKING:
    from .network import Network

#: what a plan serves: value and gradient, Hessian-vector products as well, or the forward pass only
Want = Literal["grad", "hvp", "value"]
#: ``structure_key``: (parameter vector, number of inputs, ops, graph, modes), the objects by their ids
StructureKey = tuple[int, int, tuple[int, ...], tuple[tuple[int, ...], ...], tuple[bool, ...]]
#: one op's parameter arrays (views), None for an op without parameters
Views = Optional[tuple[Array, ...]]
#: one op of the backward sweep: (j, op, its inputs, its parameter views, its gradient views, the inputs whose
#: adjoints are wanted, its adjoint buffers, its share of the gradient)
Step = tuple[int, Op, list[int], Views, Views, list[bool], Optional[list[Maybe]], Maybe]
#: the rows of a batch: an index array or a slice
Rows = Union[NDArray[np.integer[Any]], slice]

#: per network: {key: Plan}; a network that is garbage-collected takes its plans with it
_CACHE: weakref.WeakKeyDictionary[Network, dict[tuple[StructureKey, int, int, Want], Plan]] = \
    weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()
#: plans kept per network (batch sizes x what is wanted); the oldest is dropped beyond this
MAX_PLANS = 4
#: up to this many parameters a gradient the caller keeps is a copy of the plan's buffer (cheaper than
#: new views of a new array); beyond it the sweep writes into a new array
COPY_FRESH = 1 << 16


def structure_key(net: Network) -> StructureKey:
    """What a plan depends on besides the batch: the parameter vector, the ops, the graph, the mode.

    Parameters
    ----------
    net : Network

    Returns
    -------
    tuple
        Hashable; equal for two calls exactly when the network has the same parameter vector object, ops,
        graph and mode of every op with modes (new values of ``params`` leave it as it is).

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], output="sigmoid", dropout=0.5)
    >>> key = structure_key(net)
    >>> net.params = 2 * net.params                 # new values, same structure
    >>> structure_key(net) == key
    True
    >>> with net.using_mode(True):                  # dropout on: another plan
    ...     structure_key(net) == key
    False
    """
    ops = net.ops
    return (id(net._params), net.n_inputs, tuple(map(id, ops)), tuple(map(tuple, net.inputs)),
            tuple(bool(op.training) for op in ops if op.has_modes))


class Plan:
    """The buffers and per-op lists of one (structure, seed node, batch size, want); see the module notes.

    Parameters
    ----------
    net : Network
    seed_node : int
        Node where the loss is evaluated: the backward pass starts there.
    B : int
        Batch size.
    want : {"grad", "hvp", "value"}
        "value": the forward pass only (no gradient buffers).

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], output="sigmoid")
    >>> plan = Plan(net, seed_node=4, B=8)
    >>> plan.grad.shape                             # the flat gradient: 2*3 + 3 + 3*1 + 1 parameters
    (13,)
    >>> [None if b is None else b.shape for b in plan.fwd_out]      # each op's output buffer
    [(8, 3), (8, 3), (8, 1), (8, 1)]
    >>> Plan(net, seed_node=4, B=8, want="value").grad is None
    True
    """

    seed_node: int
    B: int
    want: Want
    dtype: np.dtype[Any]
    ops: list[Op]
    params: Array
    lock: threading.Lock
    #: per op: the buffer its forward writes, or None (the op makes its own output)
    fwd_out: list[Maybe]
    #: per op: whether the adjoint of each of its inputs is wanted (the input depends on parameters)
    need: list[list[bool]]
    #: per op: one buffer (or None) per input for its ``vjp(..., out=)``, or None for an op without them
    vjp_out: list[Optional[list[Maybe]]]
    #: the flat gradient (None for want "value"), its views per op and each op's slice of it
    grad: Maybe
    gp: list[Views]
    grad_of: list[Maybe]
    #: (gradient view or None, weight view) of every L2-regularised weight
    weights: list[tuple[Maybe, Array]]
    inputs: list[list[int]]
    views: list[Views]
    #: one HVP direction (1, n_params), its views per op, and the same for its product; None when not made
    V1: Maybe
    Vs1: Optional[list[Views]]
    tgrad1: Maybe
    tgp1: Optional[list[Views]]
    #: the backward sweep's list (None without a gradient)
    back: Optional[list[Step]]
    _gather: dict[str, Array]
    _views: dict[int, Plan]

    def __init__(self, net: Network, seed_node: int, B: int, want: Want = "grad") -> None:
        dtype, n = net.dtype, len(net.ops)
        self.seed_node, self.B, self.want, self.dtype = int(seed_node), int(B), want, dtype
        # strong references: the ids in the key stay those of these objects while the plan lives
        self.ops, self.params = list(net.ops), net._params
        self.lock = threading.Lock()
        plain = [not (op.has_modes or op.state_specs) for op in net.ops]
        self.fwd_out = [np.empty((self.B, net.widths[j + 1]), dtype=dtype)
                        if plain[j] and accepts_out(op, "forward") else None
                        for j, op in enumerate(net.ops)]
        readers = [0] * (n + 1)
        for ix in net.inputs:
            for i in ix:
                readers[i] += 1
        dep = net.depends_on_params
        self.need = [[dep[i] for i in ix] for ix in net.inputs]
        self.vjp_out = []
        backward = want != "value"
        for j, (op, ix) in enumerate(zip(net.ops, net.inputs)):
            if backward and j < self.seed_node and plain[j] and accepts_out(op, "vjp"):
                self.vjp_out.append([np.empty((self.B, net.widths[i]), dtype=dtype)
                                     if dep[i] and readers[i] == 1 and i > 0 else None for i in ix])
            else:
                self.vjp_out.append(None)
        self.grad = grad = np.empty(net.n_params, dtype=dtype) if backward else None
        self.gp = [net.split(grad, j) if grad is not None and net.param_counts[j] else None for j in range(n)]
        self.weights = l2.weight_pairs(net, grad)
        self.inputs, self.views = [list(ix) for ix in net.inputs], list(net._views)
        # the gradient's share of each op, set to zero when the backward sweep does not reach the op
        self.grad_of = [None if grad is None or not net.param_counts[j] else
                        grad[net.offsets[j]:net.offsets[j + 1]] for j in range(n)]
        # one HVP direction (small networks): the direction and its product in buffers with fixed views
        self.V1 = self.Vs1 = self.tgrad1 = self.tgp1 = None
        if want == "hvp" and net.n_params <= COPY_FRESH:
            V1, tgrad1 = (np.empty((1, net.n_params), dtype=dtype) for _ in range(2))
            self.V1, self.tgrad1 = V1, tgrad1
            self.Vs1, self.tgp1 = ([net.split(buf, j) if net.param_counts[j] else None for j in range(n)]
                                   for buf in (V1, tgrad1))
        self._gather, self._views = {}, {}
        self._steps()

    def _steps(self) -> None:
        """The backward sweep's list: per op, last first, what ``passes.backward`` hands its ``vjp``."""
        self.back = [(j, op, self.inputs[j], self.views[j], self.gp[j], self.need[j], self.vjp_out[j],
                      self.grad_of[j]) for j, op in reversed(list(enumerate(self.ops)))] \
            if self.grad is not None else None

    def rows(self, n: int) -> Plan:
        """This plan for a batch of n <= B samples: the leading n rows of every buffer.

        The last, smaller batch of an epoch runs on the plan of the others.

        Parameters
        ----------
        n : int
            Batch size, ``0 < n <= B``.

        Returns
        -------
        Plan
            This plan when ``n == B``; else a plan sharing its buffers (their leading n rows), its gradient
            and its lock, made once per n.

        Raises
        ------
        ValueError
            If n is not in ``1..B``.

        Examples
        --------
        >>> import backprop as bp
        >>> plan = Plan(bp.MLP([2, 3, 1], output="sigmoid"), seed_node=4, B=8)
        >>> plan.rows(5).fwd_out[0].shape
        (5, 3)
        >>> plan.rows(5) is plan.rows(5), plan.rows(8) is plan
        (True, True)
        """
        if n == self.B:
            return self
        if not 0 < n <= self.B:
            raise ValueError(f"a plan for batches of {self.B} cannot run a batch of {n}")
        view = self._views.get(n)
        if view is None:
            view = self._views[n] = object.__new__(Plan)
            view.__dict__.update(self.__dict__)
            view.B, view._views = n, {}
            view.fwd_out = [None if b is None else b[:n] for b in self.fwd_out]
            view.vjp_out = [None if bs is None else [None if b is None else b[:n] for b in bs]
                            for bs in self.vjp_out]
            view._steps()
        return view

    def gather(self, name: str, A: Array, rows: Rows) -> Array:
        """``A[rows]`` written into this plan's buffer ``name`` (rows: an index array or a slice).

        Parameters
        ----------
        name : str
            The buffer: one per name (a training step gathers "X" and "D"), grown when a batch needs more rows.
        A : ndarray
            The array whose rows are taken (along axis 0).
        rows : ndarray of int or slice
            The rows to take.

        Returns
        -------
        ndarray
            ``A[rows]``: for an index array in the plan's buffer (valid until the next gather of ``name``), for
            a slice a view of ``A`` (nothing copied).

        Examples
        --------
        >>> import numpy as np
        >>> import backprop as bp
        >>> plan = Plan(bp.MLP([2, 3, 1], output="sigmoid"), seed_node=4, B=8)
        >>> X = np.arange(10.0).reshape(5, 2)
        >>> plan.gather("X", X, np.array([4, 0]))
        array([[8., 9.],
               [0., 1.]])
        >>> np.shares_memory(plan.gather("X", X, slice(1, 2)), X)
        True
        """
        if isinstance(rows, slice):
            return A[rows]
        n = len(rows)
        buf = self._gather.get(name)
        if buf is None or buf.shape[1:] != A.shape[1:] or buf.dtype != A.dtype or buf.shape[0] < n:
            buf = self._gather[name] = np.empty((max(n, self.B),) + A.shape[1:], dtype=A.dtype)
        out = buf[:n]
        A.take(rows, axis=0, out=out)
        return out


def _new(net: Network, seed_node: int, B: int, want: Want) -> Plan:
    return Plan(net, seed_node, B, want)


class acquire:
    """The cached plan for ``net`` (compiled on first use), held for the caller alone while in use.

    ``with acquire(net, seed_node, B, want) as plan:`` gives a plan whose buffers nobody else writes
    until the block ends: the cached one, or when that one is already in use (a nested call, another
    thread) a fresh plan for this call only.

    Parameters
    ----------
    net : Network
    seed_node : int
        Node where the loss is evaluated.
    B : int
        Batch size.
    want : {"grad", "hvp", "value"}, default "grad"
        What the plan serves (see :class:`Plan`).
    cache : bool, default True
        False: always a fresh plan, dropped afterwards (large one-off passes).
    skey : tuple, optional
        ``structure_key(net)``, when the caller has just computed it.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], output="sigmoid")
    >>> with acquire(net, 4, 8) as plan:
    ...     with acquire(net, 4, 8) as inner:       # the cached plan is in use: a plan of its own
    ...         inner is plan
    False
    >>> with acquire(net, 4, 8) as again:           # free again: the cached plan
    ...     again is plan
    True
    """

    __slots__ = ("plan",)
    plan: Plan

    def __init__(self, net: Network, seed_node: int, B: int, want: Want = "grad", cache: bool = True,
                 skey: StructureKey | None = None) -> None:
        plan: Plan | None = None
        if cache:
            key = (structure_key(net) if skey is None else skey, int(seed_node), int(B), want)
            with _CACHE_LOCK:
                plans = _CACHE.get(net)
                if plans is None:
                    plans = _CACHE[net] = {}
                plan = plans.get(key)
            if plan is None:
                plan = _new(net, seed_node, B, want)
                with _CACHE_LOCK:
                    if len(plans) >= MAX_PLANS:
                        plans.pop(next(iter(plans)))
                    plan = plans.setdefault(key, plan)
        if plan is None or not plan.lock.acquire(blocking=False):
            plan = _new(net, seed_node, B, want)           # not cached, or in use: this call gets its own
            plan.lock.acquire()
        self.plan = plan

    def __enter__(self) -> Plan:
        return self.plan

    def __exit__(self, *exc: object) -> Literal[False]:
        self.plan.lock.release()
        return False


def cached_plans(net: Network) -> int:
    """How many plans are cached for ``net`` (for tests and diagnostics).

    Parameters
    ----------
    net : Network

    Returns
    -------
    int
        At most ``MAX_PLANS``.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], output="sigmoid")
    >>> cached_plans(net)
    0
    >>> with acquire(net, 4, 8) as plan:
    ...     pass
    >>> cached_plans(net)
    1
    """
    with _CACHE_LOCK:
        return len(_CACHE.get(net, ()))
