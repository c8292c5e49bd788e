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

import numpy as np

from ..losses import get_loss
from ..ops.base import At
from ..validation import check_sample_weight, check_X
from . import l2, passes, plan as plans


def loss_head(net, loss):
    """(head, seed node): the loss as applied, fused with the output activation where it can be, and
    the node it is evaluated at (the node the output op reads when fused, found from the graph)."""
    fused = loss.fused_head() if loss.fuses_with == net.output_activation else None
    return (fused, net.head_input) if fused is not None else (loss, len(net.ops))


class Objective:
    """E(w) for ``net`` on the batch (X, T); every check happens before anything is computed.

    Parameters
    ----------
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
    """

    def __init__(self, net, loss, X, T, *, sample_weight=None, l2=None, validate=True, full_forward=True,
                 scale=None, plan=None, head=None):
        self.net = net
        self.plan = plan
        self.loss = get_loss(loss)
        # the L2 strength: the loss's own, or ``l2`` for this evaluation only (e.g. scaled per batch)
        self.l2 = self.loss.l2 if l2 is None else float(l2)
        if validate:
            X = check_X(X, net.n_inputs, net.dtype)
            self.D = self.loss.prepare(T, X.shape[0], net.n_outputs, net.dtype)
            if sample_weight is not None:
                sample_weight = check_sample_weight(sample_weight, X.shape[0], net.dtype)
        else:
            self.D = T
        self.X = X
        self.B = X.shape[0]
        self.reduction = self.loss.reduction
        mean = self.reduction == "mean"
        # per-instance factor dE/dDiv_n: 1/B (mean) or 1 (sum); s_n / S (mean) or s_n (sum) with sample weights
        if scale is not None:       # given by the caller: a chunk of a larger batch keeps the batch's factors
            self.scale = scale
        elif sample_weight is None:
            self.scale = 1.0 / self.B if mean else 1.0
        else:
            self.scale = (sample_weight / sample_weight.sum() if mean else sample_weight)[:, None]
        self._plain_mean = scale is None and sample_weight is None and mean
        self.sample_weight = sample_weight
        self.head, self.seed_node = loss_head(net, self.loss) if head is None else head
        if plan is not None:
            if plan.seed_node != self.seed_node:
                raise ValueError(f"the plan stops at node {plan.seed_node}; this objective needs node {self.seed_node}")
            plan = self.plan = plan.rows(self.B)
        # with a fused head the last op (softmax or sigmoid) is not needed for E or its derivatives:
        # full_forward=False (hot loops) skips it until someone asks for ``output``
        self.values, self.caches = net.forward_values(X, upto=None if full_forward else self.seed_node,
                                                      out=None if plan is None else plan.fwd_out)
        self.adjoints = None
        self._div = None

    @property
    def output(self):
        """Network output Y (B, c)."""
        net = self.net
        if len(self.values) <= len(net.ops):         # complete the forward pass past the fused head
            for j in range(len(self.values) - 1, len(net.ops)):
                xs, buf = [self.values[i] for i in net.inputs[j]], None if self.plan is None else self.plan.fwd_out[j]
                y, cache = (net.ops[j].forward(xs, net.views(j)) if buf is None else
                            net.ops[j].forward(xs, net.views(j), out=buf))
                self.values.append(y)
                self.caches.append(cache)
        return self.values[-1]

    def update_state(self):
        """Let every op with buffers update them from this forward pass (``op.update_state``).

        Only the training step calls it, once per update, after a training-mode forward pass: gradients,
        Hessians, checks and predictions never change a buffer.
        """
        net = self.net
        for j, op in enumerate(net.ops[:len(self.values) - 1]):
            if op.state_specs:
                op.update_state(At([self.values[i] for i in net.inputs[j]], self.values[j + 1], self.caches[j],
                                   net.views(j)))

    def divergences(self):
        """Per-instance divergence Div(Y_n, d_n), shape (B,)."""
        if self._div is None:
            self._div = self.head.div(self.values[self.seed_node], self.D)
        return self._div

    def regularization(self) -> float:
        """lambda/2 sum_k ||W_k||^2 over the weights (not the biases)."""
        if self.plan is not None:
            return l2.penalty_of(self.plan.weights, self.l2)
        return l2.penalty(self.net, self.l2)

    def value(self) -> float:
        """E(w): the mean (or sum) of the divergences plus the L2 term."""
        div = self.divergences()
        if self._plain_mean:
            total = np.add.reduce(div, dtype=np.float64) / div.shape[0]      # the mean, as np.mean takes it
        elif np.ndim(self.scale) == 0:
            total = float(self.scale) * np.sum(div, dtype=np.float64)
        else:
            total = np.dot(self.scale[:, 0].astype(np.float64), div)
        return float(total) + self.regularization()

    def instance_scale(self, rows=None):
        """``scale`` for the instances ``rows`` (a slice): a float, or an (n, 1) array with sample weights."""
        if np.ndim(self.scale) == 0 or rows is None:
            return self.scale
        return self.scale[rows]

    def instance_deltas(self):
        """Per-instance deltas: ``d[i]`` = dE_n/d(node i), shape (B, width), E_n = Div(Y_n, d_n).

        The notes' deltas of each pattern n on its own (no 1/B, no sample weight, no L2 term, which does
        not depend on any node), for every node the loss depends on (None elsewhere). With a fused
        head, the output node's entry is dDiv_n/dY_n of the plain loss (0 where a target is 0).
        """
        net = self.net
        net.check_rows_independent("per-instance deltas", draws=False)    # one sweep over the whole batch
        _, g = self.head.div_grad(self.values[self.seed_node], self.D)
        deltas = passes.backward(net, self.values, self.caches, self.seed_node, g, grad=None, need_input=True)
        last = len(net.ops)
        if self.seed_node != last:
            deltas[last] = self.output_delta()
        return deltas

    def output_delta(self):
        """dDiv_n/dY_n of the plain (unfused) loss at the output, per instance; 0 where a target is 0."""
        y = self.output
        with np.errstate(divide="ignore", invalid="ignore"):
            g = self.loss.grad(y, self.D)
        return np.where(np.isnan(g), 0, g).astype(self.net.dtype, copy=False)

    def seed_adjoint(self):
        """dE/d(seed node) = scale * dDiv/d(seed node): (1/B) for the mean, 1 for the sum, s_n/S or s_n."""
        self._div, g = self.head.div_grad(self.values[self.seed_node], self.D)
        g *= self.scale
        return g

    def gradient(self, need_input=False, fresh=False):
        """Backpropagate; return dE/dw as one flat array (and keep the adjoints of every node).

        With a plan (and not ``need_input``) the array is the plan's gradient buffer, unless ``fresh``
        asks for a new array (the caller keeps it).
        """
        net, plan = self.net, (None if need_input else self.plan)
        copy = plan is not None and fresh and net.n_params <= plans.COPY_FRESH
        grad = np.empty(net.n_params, dtype=net.dtype) if plan is None or (fresh and not copy) else plan.grad
        self.adjoints = passes.backward(net, self.values, self.caches, self.seed_node, self.seed_adjoint(),
                                        grad, need_input=need_input, plan=plan)
        # + lambda W on the weights (biases are not regularised)
        if plan is None or grad is not plan.grad:
            l2.add_gradient(grad, net, self.l2)
        else:
            l2.add_gradient_of(plan.weights, self.l2)
        return grad.copy() if copy else grad

    def tangents(self, V=None, seeds=None):
        """Forward sweep of directional derivatives up to the loss's node (see ``passes.forward_tangent``)."""
        return passes.forward_tangent(self.net, self.values, self.caches, V=V, seeds=seeds, upto=self.seed_node)

    def seed_tadjoint(self, tan):
        """R{dE/d(seed node)} = scale (d2Div/d(seed)^2) R{seed}, or None if R{seed} is zero."""
        t = tan[self.seed_node]
        if t is None:
            return None
        return self.head.hvp(self.values[self.seed_node], self.D, t) * self.scale

    def hvp(self, V):
        """Hessian-vector products H V for directions V of shape (m, n_params); returns (m, n_params)."""
        net = self.net
        if self.adjoints is None:
            self.gradient()
        plan = self.plan
        one = plan is not None and plan.V1 is not None and V.shape[0] == 1
        if one:                                       # one direction: the plan's buffers and their views
            np.copyto(plan.V1, V)
            V, Vs, tgrad, tgps = plan.V1, plan.Vs1, plan.tgrad1, plan.tgp1
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
_NAMED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _named_head(net, name, skey):
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
    plan is released when it ends (also on error)."""

    __slots__ = ("_objective", "_hold")

    def __init__(self, net, loss, X, T, want="grad"):
        skey = plans.structure_key(net)
        loss, head = _named_head(net, loss, skey) if isinstance(loss, str) else (get_loss(loss), None)
        X = check_X(X, net.n_inputs, net.dtype)
        D = loss.prepare(T, X.shape[0], net.n_outputs, net.dtype)
        if head is None:
            head = loss_head(net, loss)
        self._objective = (net, loss, X, D, head)
        self._hold = plans.acquire(net, head[1], X.shape[0], want, skey=skey)     # holds the plan

    def __enter__(self):
        net, loss, X, D, head = self._objective
        try:
            return Objective(net, loss, X, D, validate=False, full_forward=False, plan=self._hold.plan, head=head)
        except BaseException:
            self._hold.__exit__()
            raise

    def __exit__(self, *exc):
        return self._hold.__exit__(*exc)
