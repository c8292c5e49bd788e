"""The training objective of one network on one batch: validation, forward pass, loss, and the sweeps.

    E(w) = 1/B sum_n Div(Y_n, d_n) + lambda/2 ||W||^2        (the loss's reduction="mean", the default)
    E(w) = sum_n Div(Y_n, d_n) + lambda/2 ||W||^2            (reduction="sum": the notes' E = sum_n E_n)

or, with sample weights s_n, 1/S sum_n s_n Div(Y_n, d_n) (S = sum_n s_n) or sum_n s_n Div(Y_n, d_n).
The factor of each instance, dE/dDiv_n (1/B, 1, s_n/S or s_n), is ``scale``.

When the loss fuses with the output activation (softmax + cross_entropy, sigmoid + bce, exp + poisson)
the divergence is evaluated on that activation's input z, the node the output op reads
(``net.head_input``, found from the graph, not from its position), and the backward sweep starts
there with dE/dz = scale * (y - d).

Two kinds of node derivatives come out of the backward sweep, and they are named apart:

* ``adjoints[i]`` = dE/d(node i) for the batch objective E above: row n carries the factor ``scale``
  (1/B for the mean); summed over the rows against the node's inputs they give the gradient dE/dw.
* ``instance_deltas()[i]`` = dE_n/d(node i) with E_n = Div(Y_n, d_n), row n for instance n: the notes'
  per-pattern deltas, the same for either reduction (no 1/B).
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Hashable, Literal, cast

import numpy as np
from numpy.typing import ArrayLike

from ..losses import Loss, get_loss
from ..ops.arrays import Array, Maybe
from ..ops.base import At
from ..validation import check_sample_weight, check_X
from . import l2, passes, plan as plans

if TYPE_CHECKING:
    from ..ops.base import BufferedOp
    from .network import Network
    from .plan import Plan

#: a loss as ``get_loss`` takes it: a name, a saved model's dict, or a Loss
LossSpec = str | dict[str, Any] | Loss
#: (the loss as applied, the node it is evaluated at), as ``loss_head`` returns it
Head = tuple[Loss, int]


def loss_head(net: Network, loss: Loss) -> Head:
    """(head, seed node): the loss as applied, fused with the output activation where it can be, and
    the node it is evaluated at (the node the output op reads when fused, found from the graph).

    Parameters
    ----------
    net : Network
        The network.
    loss : Loss
        The loss.

    Returns
    -------
    head : Loss
        The fused loss on the output op's input z (softmax + cross-entropy, sigmoid + bce, exp + poisson),
        or ``loss`` itself.
    seed_node : int
        The node the head is evaluated at: ``net.head_input`` when fused, else the output node.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([3, 4, 2], output="softmax")
    >>> head, node = loss_head(net, bp.get_loss("cross_entropy"))
    >>> node, len(net.ops)                  # evaluated at z, the input of the softmax
    (3, 4)
    """
    fused = loss.fused_head() if loss.fuses_with == net.output_activation else None
    return (fused, net.head_input) if fused is not None else (loss, len(net.ops))


class Objective:
    """E(w) for ``net`` on the batch (X, T); every check happens before anything is computed.

    Parameters
    ----------
    net : Network
        The network.
    loss : str, dict or Loss
        The loss (``get_loss``).
    X : array-like of shape (B, d)
        The inputs.
    T : array-like
        The targets, in any format the loss accepts.
    sample_weight : array (B,), optional
        Weights s_n of the weighted mean.
    l2 : float, optional
        L2 strength for this evaluation, instead of the loss's own.
    validate : bool
        Check X and T (False: X is a validated array and T the loss's prepared targets).
    full_forward : bool
        Compute every node (False: stop at the node where the loss is evaluated; ``output`` completes it).
    scale : float or array (B, 1), optional
        The per-instance factors dE/dDiv_n, instead of those of this batch (a chunk of a larger batch).
    head : tuple, optional
        ``loss_head(net, loss)``, when the caller has it (a loop over batches).
    plan : Plan, optional
        An execution plan (``engine.plan.acquire``) for this network, loss node and batch size, held by
        the caller: the forward and backward passes write into its buffers, and ``gradient()`` returns
        its gradient buffer (valid until the plan is used again), not a new array.

    Attributes
    ----------
    X, D : arrays
        Validated inputs (B, d) and targets in the loss's format (B, c).
    head : Loss
        The loss as applied at ``seed_node`` (the fused form where one exists).
    seed_node : int
        Node at which the divergence is evaluated: the output, or with a fused head the node the output
        op reads (``net.head_input``).
    scale : float or array (B, 1)
        dE/dDiv_n per instance: 1/B for the mean, 1 for the sum, s_n/S or s_n with sample weights.
    adjoints : list
        After ``gradient()``: dE/d(node) of the batch objective (see the module notes).
    values, caches : lists
        Forward-pass values of every node.
    grad_squares : list of float or None
        Set by a training step (``training.run_epoch``): ||dE/dp||^2 of each layer with parameters.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([1, 1], output="identity")
    >>> net.params[:] = [2.0, 0.0]
    >>> obj = Objective(net, "l2", np.array([[1.0], [2.0]]), np.array([[1.0], [1.0]]))
    >>> obj.divergences(), obj.value()          # Div_n = (y - d)^2 / 2, E = their mean
    (array([0.5, 4.5]), 2.5)
    >>> obj.gradient()                          # dE/dW = mean (y - d) x, dE/db = mean (y - d)
    array([3.5, 2. ])
    """

    #: set by a training step: ||dE/dp||^2 of each layer with parameters (see the class notes)
    grad_squares: list[float] | None = None

    def __init__(self, net: Network, loss: LossSpec, X: ArrayLike, T: Any, *,
                 sample_weight: ArrayLike | None = None, l2: float | None = None, validate: bool = True,
                 full_forward: bool = True, scale: float | Array | None = None, plan: Plan | None = None,
                 head: Head | None = None):
        self.net = net
        self.plan = plan
        self.loss = get_loss(loss)
        # the L2 strength: the loss's own, or ``l2`` for this evaluation only (e.g. scaled per batch)
        self.l2 = self.loss.l2 if l2 is None else float(l2)
        sw: Array | None
        if validate:
            X = check_X(X, net.n_inputs, net.dtype)
            self.D: Array = self.loss.prepare(T, X.shape[0], net.n_outputs, net.dtype)
            sw = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0], net.dtype)
        else:
            X = cast(Array, X)
            self.D = T
            sw = cast("Array | None", sample_weight)
        self.X: Array = X
        self.B: int = X.shape[0]
        self.reduction = self.loss.reduction
        mean = self.reduction == "mean"
        # per-instance factor dE/dDiv_n: 1/B (mean) or 1 (sum); s_n / S (mean) or s_n (sum) with sample weights
        self.scale: float | Array
        if scale is not None:       # given by the caller: a chunk of a larger batch keeps the batch's factors
            self.scale = scale
        elif sw is None:
            self.scale = 1.0 / self.B if mean else 1.0
        else:
            self.scale = (sw / sw.sum() if mean else sw)[:, None]
        self._plain_mean = scale is None and sw is None and mean
        self.sample_weight = sw
        self.head, self.seed_node = loss_head(net, self.loss) if head is None else head
        if plan is not None:
            if plan.seed_node != self.seed_node:
                raise ValueError(f"the plan stops at node {plan.seed_node}; this objective needs node {self.seed_node}")
            plan = self.plan = plan.rows(self.B)
        # with a fused head the last op (softmax or sigmoid) is not needed for E or its derivatives:
        # full_forward=False (hot loops) skips it until someone asks for ``output``
        self.values, self.caches = net.forward_values(X, upto=None if full_forward else self.seed_node,
                                                      out=None if plan is None else plan.fwd_out)
        # list[Maybe] once ``gradient()`` has run, None before; Any: callers that ran it read it unchecked
        self.adjoints: Any = None
        self._div: Array | None = None

    @property
    def output(self) -> Array:
        """Network output Y (B, c)."""
        net = self.net
        if len(self.values) <= len(net.ops):         # complete the forward pass past the fused head
            for j in range(len(self.values) - 1, len(net.ops)):
                xs, buf = [self.values[i] for i in net.inputs[j]], None if self.plan is None else self.plan.fwd_out[j]
                y, cache = (net.ops[j].forward(xs, net.views(j)) if buf is None else
                            cast("BufferedOp", net.ops[j]).forward(xs, net.views(j), out=buf))
                self.values.append(y)
                self.caches.append(cache)
        return self.values[-1]

    def update_state(self) -> None:
        """Let every op with buffers update them from this forward pass (``op.update_state``).

        Only the training step calls it, once per update, after a training-mode forward pass: gradients,
        Hessians, checks and predictions never change a buffer.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 2, 1], output="identity", normalization="batch").train()
        >>> Objective(net, "l2", np.array([[0.0], [1.0]]), np.zeros((2, 1))).update_state()
        >>> int(net.ops[1].state["num_batches_tracked"])
        1
        """
        net = self.net
        for j, op in enumerate(net.ops[:len(self.values) - 1]):
            if op.state_specs:
                op.update_state(At([self.values[i] for i in net.inputs[j]], self.values[j + 1], self.caches[j],
                                   net.views(j)))

    def divergences(self) -> Array:
        """Per-instance divergence Div(Y_n, d_n), shape (B,).

        Returns
        -------
        ndarray of shape (B,)

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [0.0, 1.0]
        >>> Objective(net, "l2", np.zeros((2, 1)), np.array([[1.0], [3.0]])).divergences()
        array([0., 2.])
        """
        if self._div is None:
            self._div = self.head.div(self.values[self.seed_node], self.D)
        return self._div

    def regularization(self) -> float:
        """lambda/2 sum_k ||W_k||^2 over the weights (not the biases).

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [2.0, 1.0]
        >>> Objective(net, "l2", np.zeros((1, 1)), np.zeros((1, 1)), l2=0.5).regularization()
        1.0
        """
        if self.plan is not None:
            return l2.penalty_of(self.plan.weights, self.l2)
        return l2.penalty(self.net, self.l2)

    def value(self) -> float:
        """E(w): the mean (or sum) of the divergences plus the L2 term.

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [2.0, 1.0]
        >>> Objective(net, "l2", np.zeros((2, 1)), np.zeros((2, 1)), l2=0.5).value()     # 1/2 + 1/2 * 4 / 2
        1.5
        """
        div = self.divergences()
        if self._plain_mean:
            total = np.add.reduce(div, dtype=np.float64) / div.shape[0]      # the mean, as np.mean takes it
        elif np.ndim(self.scale) == 0:
            total = float(self.scale) * np.sum(div, dtype=np.float64)
        else:
            total = np.dot(cast(Array, self.scale)[:, 0].astype(np.float64), div)
        return float(total) + self.regularization()

    def instance_scale(self, rows: slice | None = None) -> Any:     # float | Array; Any: callers index an array
        """``scale`` for the instances ``rows`` (a slice): a float, or an (n, 1) array with sample weights.

        Parameters
        ----------
        rows : slice, optional
            The instances (default: all).

        Returns
        -------
        float or ndarray of shape (n, 1)
            dE/dDiv_n of those instances.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> obj = Objective(bp.MLP([1, 1], output="identity"), "l2", np.zeros((4, 1)), np.zeros((4, 1)),
        ...                 sample_weight=[1.0, 1.0, 2.0, 4.0])
        >>> obj.instance_scale(slice(2, 4))
        array([[0.25],
               [0.5 ]])
        """
        if np.ndim(self.scale) == 0 or rows is None:
            return self.scale
        return cast(Array, self.scale)[rows]

    def instance_deltas(self) -> list[Any]:      # list[Maybe]; Any: callers use the entries the loss depends on
        """Per-instance deltas: ``d[i]`` = dE_n/d(node i), shape (B, width), E_n = Div(Y_n, d_n).

        The notes' deltas of each pattern n on its own (no 1/B, no sample weight, no L2 term, which does
        not depend on any node), for every node the loss depends on (None elsewhere). With a fused
        head, the output node's entry is dDiv_n/dY_n of the plain loss (0 where a target is 0).

        Returns
        -------
        list of ndarray or None
            One entry per node, node 0 (the input) first.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [2.0, 0.0]
        >>> d = Objective(net, "l2", np.array([[1.0], [2.0]]), np.zeros((2, 1))).instance_deltas()
        >>> d[-1], d[0]                              # y - t, and (y - t) W at the input
        (array([[2.],
               [4.]]), array([[4.],
               [8.]]))
        """
        net = self.net
        net.check_rows_independent("per-instance deltas", draws=False)    # one sweep over the whole batch
        _, g = self.head.div_grad(self.values[self.seed_node], self.D)
        deltas = passes.backward(net, self.values, self.caches, self.seed_node, g, grad=None, need_input=True)
        last = len(net.ops)
        if self.seed_node != last:
            deltas[last] = self.output_delta()
        return deltas

    def output_delta(self) -> Array:
        """dDiv_n/dY_n of the plain (unfused) loss at the output, per instance; 0 where a target is 0.

        Returns
        -------
        ndarray of shape (B, c)

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 2], output="softmax"); net.params[:] = 0.0
        >>> Objective(net, "cross_entropy", np.zeros((1, 1)), np.array([0])).output_delta() + 0.0   # -t / y
        array([[-2.,  0.]])
        """
        y = self.output
        with np.errstate(divide="ignore", invalid="ignore"):
            g = self.loss.grad(y, self.D)
        return np.where(np.isnan(g), 0, g).astype(self.net.dtype, copy=False)

    def seed_adjoint(self) -> Array:
        """dE/d(seed node) = scale * dDiv/d(seed node): (1/B) for the mean, 1 for the sum, s_n/S or s_n.

        Returns
        -------
        ndarray of shape (B, width)
            A new array (the divergences of the batch are kept on the way).

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 2], output="softmax"); net.params[:] = 0.0
        >>> Objective(net, "cross_entropy", np.zeros((2, 1)), np.array([0, 1])).seed_adjoint()   # (y - t) / B
        array([[-0.25,  0.25],
               [ 0.25, -0.25]])
        """
        self._div, g = self.head.div_grad(self.values[self.seed_node], self.D)
        g *= self.scale
        return g

    def gradient(self, need_input: bool = False, fresh: bool = False) -> Array:
        """Backpropagate; return dE/dw as one flat array (and keep the adjoints of every node).

        Parameters
        ----------
        need_input : bool, default False
            Also keep dE/dX in ``adjoints[0]``.
        fresh : bool, default False
            With a plan: return a new array, not the plan's gradient buffer (valid until the plan is used
            again); without a plan the array is always new.

        Returns
        -------
        ndarray of shape (n_params,)

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [2.0, 0.0]
        >>> obj = Objective(net, "l2", np.array([[3.0]]), np.zeros((1, 1)))
        >>> obj.gradient(need_input=True), obj.adjoints[0]        # (y - t) x, y - t;  (y - t) W
        (array([18.,  6.]), array([[12.]]))
        """
        net, plan = self.net, (None if need_input else self.plan)
        copy = plan is not None and fresh and net.n_params <= plans.COPY_FRESH
        grad = (np.empty(net.n_params, dtype=net.dtype) if plan is None or plan.grad is None or (fresh and not copy)
                else plan.grad)
        self.adjoints = passes.backward(net, self.values, self.caches, self.seed_node, self.seed_adjoint(),
                                        grad, need_input=need_input, plan=plan)
        # + lambda W on the weights (biases are not regularised)
        if plan is None or grad is not plan.grad:
            l2.add_gradient(grad, net, self.l2)
        else:
            l2.add_gradient_of(plan.weights, self.l2)
        return grad.copy() if copy else grad

    def tangents(self, V: Array | None = None, seeds: dict[int, Array] | None = None) -> list[Maybe]:
        """Forward sweep of directional derivatives up to the loss's node (see ``passes.forward_tangent``).

        Parameters
        ----------
        V : ndarray of shape (m, n_params), optional
            Parameter directions.
        seeds : dict {node: ndarray (m, B, width)}, optional
            Tangents injected at nodes.

        Returns
        -------
        list of ndarray or None
            R{node i} (m, B, width) per node, None where zero.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [2.0, 0.0]
        >>> obj = Objective(net, "l2", np.array([[3.0]]), np.zeros((1, 1)))
        >>> obj.tangents(V=np.array([[0.0, 1.0]]))[-1]            # R{y} = R{b}
        array([[[1.]]])
        """
        return passes.forward_tangent(self.net, self.values, self.caches, V=V, seeds=seeds, upto=self.seed_node)

    def seed_tadjoint(self, tan: list[Maybe]) -> Maybe:
        """R{dE/d(seed node)} = scale (d2Div/d(seed)^2) R{seed}, or None if R{seed} is zero.

        Parameters
        ----------
        tan : list of ndarray or None
            The node tangents (``tangents``).

        Returns
        -------
        ndarray of shape (m, B, width) or None

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [2.0, 0.0]
        >>> obj = Objective(net, "l2", np.array([[3.0]]), np.zeros((1, 1)))
        >>> obj.seed_tadjoint(obj.tangents(V=np.array([[1.0, 0.0]])))         # 1 * R{y} = R{W} x
        array([[[3.]]])
        """
        t = tan[self.seed_node]
        if t is None:
            return None
        return self.head.hvp(self.values[self.seed_node], self.D, t) * self.scale

    def hvp(self, V: Array) -> Array:
        """Hessian-vector products H V for directions V of shape (m, n_params); returns (m, n_params).

        Parameters
        ----------
        V : ndarray of shape (m, n_params)
            The directions, C-contiguous, of the network's dtype (``passes.as_directions``).

        Returns
        -------
        ndarray of shape (m, n_params)

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [2.0, 0.0]
        >>> obj = Objective(net, "l2", np.array([[3.0]]), np.zeros((1, 1)))
        >>> obj.hvp(np.eye(2))                  # H = [[x^2, x], [x, 1]]
        array([[9., 3.],
               [3., 1.]])
        """
        net = self.net
        if self.adjoints is None:
            self.gradient()
        plan = self.plan
        V1, tgrad1 = (None, None) if plan is None or V.shape[0] != 1 else (plan.V1, plan.tgrad1)
        one = V1 is not None and tgrad1 is not None
        tgps: passes.Views | None
        tgrad: Array
        if plan is not None and V1 is not None and tgrad1 is not None:
            # one direction: the plan's buffers and their views
            np.copyto(V1, V)
            V, Vs, tgrad, tgps = V1, plan.Vs1, tgrad1, plan.tgp1
        else:
            Vs = passes.split_directions(net, V)      # each op's directions, for both sweeps
            tgrad, tgps = np.empty(V.shape, dtype=net.dtype), None
        tan = passes.forward_tangent(net, self.values, self.caches, V=V, upto=self.seed_node, Vs=Vs)
        passes.backward_tangent(net, self.values, self.caches, self.adjoints, tan, self.seed_node,
                                self.seed_tadjoint(tan), V=V, tgrad=tgrad, Vs=Vs, tgps=tgps)
        l2.add_products(tgrad, net, self.l2, V)
        return tgrad.copy() if one else tgrad


#: per network: {(loss name, structure key): (loss, head)} for losses given by name (a loss built here
#: and never handed out, so nobody changes its options)
_NAMED: weakref.WeakKeyDictionary[Network, dict[tuple[str, Hashable], tuple[Loss, Head]]] = \
    weakref.WeakKeyDictionary()


def _named_head(net: Network, name: str, skey: Hashable) -> tuple[Loss, Head]:
    """(get_loss(name), loss_head(net, that loss)), built once per network structure and loss name."""
    heads = _NAMED.get(net)
    if heads is None:
        heads = _NAMED.setdefault(net, {})
    found = heads.get((name, skey))
    if found is None:
        loss = get_loss(name)
        if len(heads) >= plans.MAX_PLANS:
            heads.clear()
        found = heads[(name, skey)] = (loss, loss_head(net, loss))
    return found


class planned:
    """``Objective(net, loss, X, T)`` (X and T checked) on the network's cached execution plan for this
    loss node and batch size, held for the ``with`` block: its gradient is the plan's buffer (copy what
    is kept past the block). ``want``: "grad" or "hvp" (a plan of its own).

    ``with planned(net, loss, X, T) as obj:``; the checks run when the ``with`` statement starts, and the
    plan is released when it ends (also on error).

    Parameters
    ----------
    net : Network
        The network.
    loss : str, dict or Loss
        The loss (a name is looked up once per network structure).
    X : array-like of shape (B, d)
        The inputs.
    T : array-like
        The targets.
    want : {"grad", "hvp"}, default "grad"
        What the plan serves.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([1, 1], output="identity"); net.params[:] = [2.0, 0.0]
    >>> with planned(net, "l2", np.array([[3.0]]), np.zeros((1, 1))) as obj:
    ...     g = obj.gradient().copy()
    >>> g
    array([18.,  6.])
    """

    __slots__ = ("_objective", "_hold")

    def __init__(self, net: Network, loss: LossSpec, X: ArrayLike, T: Any,
                 want: Literal["grad", "hvp"] = "grad"):
        skey = plans.structure_key(net)
        head: Head | None
        the_loss, head = _named_head(net, loss, skey) if isinstance(loss, str) else (get_loss(loss), None)
        Xc = check_X(X, net.n_inputs, net.dtype)
        D = the_loss.prepare(T, Xc.shape[0], net.n_outputs, net.dtype)
        if head is None:
            head = loss_head(net, the_loss)
        self._objective = (net, the_loss, Xc, D, head)
        self._hold = plans.acquire(net, head[1], Xc.shape[0], want, skey=skey)     # holds the plan

    def __enter__(self) -> Objective:
        net, loss, X, D, head = self._objective
        try:
            return Objective(net, loss, X, D, validate=False, full_forward=False, plan=self._hold.plan, head=head)
        except BaseException:
            self._hold.__exit__()
            raise

    def __exit__(self, *exc: object) -> bool | None:
        result: bool | None = self._hold.__exit__(*exc)
        return result
