"""A trace of B instances at once: each instance's own pass, and the sum over n that forms every gradient entry.

The notes define everything per instance n first (002: E = sum_n E_n, dE/dw_ji = sum_n dE_n/dw_ji;
000: what changes with a batch of B > 1), and the engine's objective is their mean
(or sum) over the batch:

    E = 1/B sum_n E_n + lambda/2 ||W||^2,     dE/dw_ij = 1/B sum_n y_i,n delta_j,n + lambda w_ij

where delta_j,n = dE_n/dx_j is the per-instance local gradient of instance n (not divided by B).
``trace_batch`` records each instance's pass (a ``Trace`` of E_n alone, without the L2 term),
shows the hidden representations and the deltas of all instances side by side, and writes each
gradient entry as the mean of the per-instance terms; every batch-level number is the engine's
own ``loss_and_grad`` of the whole batch, and the per-instance numbers add up to it.
"""
from __future__ import annotations

import os
from typing import Any, Sequence, SupportsFloat

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine.objective import Objective
from ..errors import InputError
from ..losses import get_loss
from .trace import TraceStep, _as_network, _factor, _fmt, default_loss, trace


def trace_batch(net: Any, X: ArrayLike, T: ArrayLike, loss: Any = None, digits: int = 6,
                notation: str = "004") -> "BatchTrace":
    """Record the forward and backward pass of a batch, instance by instance, and the batch gradient.

    Parameters
    ----------
    net : Network or NeuronGraph
    X : array-like of shape (B, d)
    T : array-like
        Targets of the B instances, as for ``loss_and_grad``.
    loss : str or Loss, optional
        As for ``bp.trace``.
    digits : int
    notation : str
        As for ``bp.trace``.

    Returns
    -------
    BatchTrace
        ``.instances`` (one ``Trace`` per instance, of E_n), ``.steps`` (E and every dE/dw, dE/db of the
        batch, with the per-instance terms), ``.values(key)``; ``str()`` is the table.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 2, 1], hidden="relu", output="sigmoid", seed=0)
    >>> bt = bp.trace_batch(net, [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0])
    >>> bt.values("y(h1_1)").shape                 # the hidden unit's value in each of the four instances
    (4,)
    """
    net = _as_network(net)
    net.check_rows_independent("the trace's per-instance view")
    loss = get_loss(default_loss(net) if loss is None else loss)
    obj = Objective(net, loss, X, T)             # validates X and T; E and dE/dw of the batch, from the engine
    grad = obj.gradient()
    cfg = {k: v for k, v in loss.config().items() if k not in ("name", "l2")}
    per_instance = get_loss(loss.name, **cfg)        # E_n: the divergence of one instance, no L2 term
    D = obj.D
    instances = [trace(net, obj.X[n], D[n], loss=per_instance, digits=digits, notation=notation)
                 for n in range(obj.B)]
    return BatchTrace(net, loss, obj, grad, instances, digits)


class BatchTrace:
    """The pass of a batch (see ``trace_batch``).

    Attributes
    ----------
    instances : list of Trace
        Instance n's own trace: E_n and its per-instance deltas dE_n/dx.
    E : float
        The batch objective (the engine's value).
    grad : ndarray
        The batch gradient (the engine's).
    steps : list of TraceStep
        E, then every dE/dw and dE/db of the batch as the mean (or sum) of the instances' terms.

    Parameters
    ----------
    net : Network
        The network traced.
    loss : Loss
        Its loss.
    obj : Objective
        The engine's objective over the batch.
    grad : ndarray
        The batch gradient.
    instances : list of Trace
        One trace per instance.
    digits : int, default 6
        Significant digits of the printed numbers.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 2, 1], seed=0, output="identity")
    >>> bt = bp.trace_batch(net, np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[0.5], [0.0]]))
    >>> bt
    <BatchTrace 2 instances, E=1.76972>
    """

    def __init__(self, net: Any, loss: Any, obj: Any, grad: NDArray[Any], instances: Any, digits: int) -> None:
        self.net, self.loss, self.instances, self.digits = net, loss, instances, int(digits)
        self.B = len(instances)
        self.E, self.grad = float(obj.value()), grad
        self.sum = getattr(loss, "reduction", "mean") == "sum"
        self.l2 = float(loss.l2)
        self.sym = instances[0].sym
        self.layout = instances[0].layout
        self.steps: list[Any] = []
        self._build()

    def _f(self, v: SupportsFloat) -> str:
        return _fmt(v, self.digits)

    def _m(self, v: SupportsFloat) -> str:
        return _factor(v, self.digits)

    def values(self, key: str) -> np.ndarray:
        """One quantity over the instances, by its key.

        Parameters
        ----------
        key : str
            A node's quantity (``"y(h1_1)"``, ``"dE/dx(o1)"``), an edge's (``"dE/dw(x1,h1_1)"``), or ``"E"``.

        Returns
        -------
        ndarray of shape (B,)
            Its value for each instance of the batch.

        Examples
        --------
        >>> import backprop as bp
        >>> bt = bp.trace_batch(bp.MLP([1, 1, 1], seed=0, output="identity"), [[1.0], [2.0]], [0.5, 0.0])
        >>> bt.values("E").round(6).tolist()
        [0.363222, 0.173794]
        """
        out = []
        for tr in self.instances:
            match = [s.value for s in tr.steps if s.key == key]
            if not match:
                if key.startswith("y(") and key[2:-1] in tr.nodes:     # an input's y is not a step
                    match = [tr.nodes[key[2:-1]]["y"]]
                else:
                    raise InputError(f"no quantity {key!r} in this trace; keys look like 'y(h1_1)', "
                                     "'dE/dx(o1)', 'dE/dw(x1,h1_1)', 'E'")
            out.append(match[0])
        return np.array(out)

    def _mean(self, terms: Sequence[str]) -> str:
        inner = " + ".join(terms)
        return f"({inner})" if self.sum else f"1/{self.B} * ({inner})"

    def _build(self) -> None:
        S, lay, net = self.sym, self.layout, self.net
        E_n = [tr.E for tr in self.instances]
        agg = "sum_n" if self.sum else "1/B sum_n"
        s = f"{agg} {S.E}_n"
        n = self._mean([self._m(v) for v in E_n])
        if self.l2:
            w = net.params[net.reg_mask]
            s += " + lambda/2 * ||W||^2"
            n += f" + {self._f(self.l2)}/2 * {self._f(float(np.dot(w, w)))}"
        self.steps.append(TraceStep("loss", S.E, s, n, self.E, key="E"))
        reg = net.reg_mask
        for k, e in enumerate(lay.edges):
            i, d = lay.names[e.src], lay.names[e.dst]
            terms = [f"{self._m(tr.nodes[i]['y'])}*{self._m(tr.nodes[d]['dE/dx'])}" for tr in self.instances]
            s = f"{agg} {S.y(i)}_n*{S.dx(d)}_n"
            n = self._mean(terms)
            if self.l2 and reg[e.param]:
                s += f" + lambda*{S.w(i, d)}"
                n += f" + {self._f(self.l2)}*{self._m(net.params[e.param])}"
            self.steps.append(TraceStep("backward", S.dw(i, d), s, n, float(self.grad[e.param]), edge=(i, d),
                                        key=f"dE/dw({i},{d})"))
        for j, p in zip(lay.bias_units, lay.bias_param):
            name = lay.names[j]
            terms = [self._m(tr.nodes[name]["dE/dx"]) for tr in self.instances]
            self.steps.append(TraceStep("backward", S.db(name), f"{agg} {S.dx(name)}_n", self._mean(terms),
                                        float(self.grad[p]), node=name, key=f"dE/db({name})"))

    # ---- text -----------------------------------------------------------------------------------------
    def table(self) -> str:
        """Per-instance values and deltas side by side, then the batch gradient entry by entry.

        Returns
        -------
        str
            The forward values and the local gradients, one column per instance, then each entry of the
            batch gradient as the mean of the instances' terms.

        Examples
        --------
        >>> import backprop as bp
        >>> bt = bp.trace_batch(bp.MLP([1, 1, 1], seed=0, output="identity"), [[1.0], [2.0]], [0.5, 0.0])
        >>> print(bt.table())
        trace of a batch of 2 instances; loss l2 (mean over the batch)
        ...
        E               =  1/B sum_n E_n  =  1/2 * (0.363222 + 0.173794)  =  0.268508
        ...
        """
        S, lay, f = self.sym, self.layout, self._f
        cols = [f"n={k + 1}" for k in range(self.B)]

        def grid(title: str, rows: Any) -> list[str]:
            w0 = max([len(r[0]) for r in rows] + [8])
            width = [max(len(c), *(len(r[1][k]) for r in rows)) for k, c in enumerate(cols)]
            out = [title, "  ".join([" " * w0] + [c.rjust(w) for c, w in zip(cols, width)])]
            for name, vals in rows:
                out.append("  ".join([name.ljust(w0)] + [v.rjust(w) for v, w in zip(vals, width)]))
            return out

        fwd = [(S.y(u.name) if u.kind == "input" else S.y(u.name),
                [f(tr.nodes[u.name]["y"]) for tr in self.instances]) for u in lay.units]
        fwd.append((f"{S.E}_n", [f(tr.E) for tr in self.instances]))
        back = [(S.dx(u.name) if u.kind != "input" else S.dy(u.name),
                 [f(tr.nodes[u.name]["dE/dx" if u.kind != "input" else "dE/dy"]) for tr in self.instances])
                for u in reversed(lay.units)]
        agg = "sum" if self.sum else "mean"
        out = [f"trace of a batch of {self.B} instances; loss {self.loss.name} ({agg} over the batch)", ""]
        out += grid("-- forward pass: every node's output for each instance n", fwd)
        out += [""] + grid("-- backward pass: each instance's own local gradients (delta_n = dE_n/dx, "
                           "not divided by B)", back)
        out += ["", f"-- the batch: E and every gradient entry as the {agg} of the instances' terms"]
        w1 = max(len(s.quantity) for s in self.steps)
        for s in self.steps:
            out.append(f"{s.quantity.ljust(w1)}  =  {s.symbolic}  =  {s.numeric}  =  {f(s.value)}")
        return "\n".join(out)

    __str__ = table

    def to_html(self, path: str | os.PathLike[str] | None = None, title: str | None = None) -> str:
        """One self-contained HTML page to step through this walk-through, step by step on the network's
        picture: each instance's E_n and deltas dE_n/dx, then E and every gradient entry as the mean (or sum) of the instances' terms (the page of ``Trace.to_html``).

        Parameters
        ----------
        path : str or Path, optional
            Where to write the page (UTF-8).
        title : str, optional

        Returns
        -------
        str
            The page.

        Examples
        --------
        >>> import backprop as bp
        >>> bt = bp.trace_batch(bp.MLP([2, 2, 1], output='identity', seed=0), [[0.5, -1.0], [1.0, 2.0]], [[0.2], [0.1]])
        >>> '<svg' in bt.to_html()
        True
        """
        from .trace_page import batch_page_data, to_html
        return to_html(None, path, title=title, data=batch_page_data(self))

    def __repr__(self) -> str:
        return f"<BatchTrace {self.B} instances, E={self.E:.6g}>"
