"""Two warnings of the notes, shown with numbers.

* ``update_order_demo`` (note 000, "common mistake"): the gradient of every layer must be computed
  before any weight is updated. The same gradient-descent step is done correctly and, as the
  mistake does, updating each layer's weights as soon as its gradient is known, so that the
  deltas of the layers below are propagated through weights that have already changed.
* ``optimizer_trace`` (note 001): a few steps of a real optimiser of the library, with its
  state per step: the gradient g, the momentum buffer Delta <- mu Delta + g (or Adam's moments),
  the weight-decay term lambda W (weights only) and the learning rate, and the new parameters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ...derivatives.trace import TraceStep, _factor, _fmt, trace
from ...errors import ConfigError
from ...training.optimizers import SGD, Adam, get_optimizer

if TYPE_CHECKING:
    from ...derivatives.trace import Trace, TraceStep
    from ...engine.network import Network
    from ...training.optimizers import Optimizer


def _f(v: float, digits: int) -> str:
    """A number as a term of a printed formula."""
    return _fmt(v, digits)


def _m(v: float, digits: int) -> str:
    """A number as a factor of a printed formula (negative numbers in parentheses)."""
    return _factor(v, digits)


# ---- the update-ordering mistake ------------------------------------------------------------------------

class UpdateOrderDemo:
    """See ``update_order_demo``.

    Attributes
    ----------
    correct, mistaken : ndarray
        The parameters after the correct step and after the mistaken one.
    difference : ndarray
        mistaken - correct, per parameter (zero in the top layer: its delta does not depend on the order).
    steps : list of TraceStep
        The mistaken backward pass, level by level, each dE/dw computed from the weights as they are then.

    Parameters
    ----------
    tr : Trace
        The trace of the instance.
    lr : float
        The learning rate.
    correct, mistaken : ndarray
        The parameters after each step.
    steps : list of TraceStep
        The mistaken backward pass.
    labels : list of str
        One name per parameter.

    Examples
    --------
    >>> import backprop as bp
    >>> demo = update_order_demo(bp.MLP([2, 2, 2, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
    >>> type(demo).__name__, len(demo.labels)
    ('UpdateOrderDemo', 15)
    """

    def __init__(self, tr: Trace, lr: float, correct: NDArray[Any], mistaken: NDArray[Any], steps: list[TraceStep],
                 labels: list[str]) -> None:
        self.trace, self.lr, self.correct, self.mistaken = tr, lr, correct, mistaken
        self.difference = mistaken - correct
        self.steps, self.labels = steps, labels

    def table(self) -> str:
        """The parameters before, after the correct step and after the mistaken one, and their difference."""
        d = self.trace.digits
        out = [f"one gradient-descent step, lr = {self.lr:g}: correct (every gradient first, then every update) "
               "and mistaken (each layer updated as soon as its gradient is known, note 000)", ""]
        w = max(len(s) for s in self.labels)
        out.append(f"{'parameter'.ljust(w)}  {'before':>12}  {'correct':>12}  {'mistaken':>12}  {'difference':>12}")
        before = self.trace.net.params
        for k, name in enumerate(self.labels):
            out.append(f"{name.ljust(w)}  {_f(before[k], d):>12}  {_f(self.correct[k], d):>12}  "
                       f"{_f(self.mistaken[k], d):>12}  {_f(self.difference[k], d):>12}")
        out += ["", "-- the mistaken backward pass: deltas below a layer use its already updated weights"]
        for s in self.steps:
            out.append(f"{s.quantity} = {s.symbolic} = {s.numeric} = {_f(s.value, d)}")
        return "\n".join(out)

    __str__ = table


def update_order_demo(net: Network, x: ArrayLike, t: ArrayLike, loss: Any = None, lr: float = 0.1,
                      digits: int = 6) -> UpdateOrderDemo:
    """The same gradient-descent step done correctly and with the update-ordering mistake of note 000.

    Parameters
    ----------
    net : Network
        A network of weighted sums with scalar activations (an MLP); it is not changed.
    x, t, loss, digits
        One instance, as for ``bp.trace``.
    lr : float
        The learning rate eta.

    Returns
    -------
    UpdateOrderDemo
        ``.correct``, ``.mistaken``, ``.difference`` (per parameter), ``.steps``; ``str()`` is the table.

    Examples
    --------
    >>> import backprop as bp
    >>> demo = update_order_demo(bp.MLP([2, 2, 2, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
    >>> demo.difference.shape, bool(abs(demo.difference).max() > 0)
    ((15,), True)
    """
    tr = trace(net, x, t, loss=loss, digits=digits)
    lay, N = tr.layout, tr.nodes
    for u in lay.units:
        if u.kind not in ("input", "neuron") or (u.group is not None and u.level < lay.n_levels - 1):
            raise ConfigError(f"the update-order demonstration needs weighted-sum units with scalar activations "
                              f"below the output; {u.name} is a {u.kind} unit")
    lr = float(lr)
    correct = net.params - lr * tr.grad
    w = net.params.copy()
    reg, lam = net.reg_mask, float(tr.loss.l2)
    top = lay.n_levels - 1
    dx = {lay.names[j]: N[lay.names[j]]["dE/dx"] for j, u in enumerate(lay.units) if u.level == top}
    steps = []
    for level in range(top, 0, -1):
        for e in lay.edges:                         # the weights into this level: gradient, then update at once
            if lay.units[e.dst].level != level:
                continue
            i, d = lay.names[e.src], lay.names[e.dst]
            g = N[i]["y"] * dx[d] + (lam * w[e.param] if reg[e.param] else 0.0)
            w[e.param] -= lr * g
        for j, u in enumerate(lay.units):
            if u.level == level and u.bias is not None:
                w[u.bias] -= lr * dx[u.name]
        for j, u in enumerate(lay.units):           # deltas of the level below, through the updated weights
            if u.level != level - 1 or u.kind == "input":
                continue
            terms = [(lay.names[lay.edges[c[1]].dst], lay.edges[c[1]].param) for c in lay.consumers[j]]
            dy = sum(w[p] * dx[d] for d, p in terms)
            fp = float(u.act.df(np.array([N[u.name]["x"]]), np.array([N[u.name]["y"]]))[0]) if u.act else 1.0
            dx[u.name] = fp * dy
            S = tr.sym
            sym = (f"{u.activation}'({S.x(u.name)})*("
                   + " + ".join(f"{S.w(u.name, d)}_new*{S.dx(d)}" for d, _ in terms) + ")")
            num = f"{_m(fp, digits)}*(" + " + ".join(f"{_m(w[p], digits)}*{_m(dx[d], digits)}" for d, p in terms) + ")"
            steps.append(TraceStep("backward", f"{S.dx(u.name)} (mistaken)", sym, num, dx[u.name], node=u.name,
                                   key=f"dE/dx({u.name})"))
    labels = [lay.param_label(k) or f"param {k}" for k in range(net.n_params)]
    return UpdateOrderDemo(tr, lr, correct, w, steps, labels)


# ---- an optimiser, step by step ----------------------------------------------------------------------

class OptimizerTrace:
    """See ``optimizer_trace``.

    Attributes
    ----------
    params : list of ndarray
        The parameters before step 1, after step 1, ... (``steps + 1`` arrays).
    state : list of dict
        The optimiser's state after each step ("delta" or "m", "v").
    grads, losses : list
        The gradient and the loss at the start of each step.
    rows : list of TraceStep
        Per step and parameter: g, the state update, and the new parameter, each with its numbers.
    """

    def __init__(self, opt: Optimizer, labels: list[str], digits: int) -> None:
        self.opt, self.labels, self.digits = opt, labels, digits
        self.params: list[NDArray[Any]] = []
        self.state: list[dict[str, Any]] = []
        self.grads: list[NDArray[Any]] = []
        self.losses: list[float] = []
        self.rows: list[Any] = []

    def table(self) -> str:
        """The optimiser's steps as a text table: each parameter's gradient, state and update."""
        o, d = self.opt, self.digits
        hyper = ", ".join(f"{k} = {getattr(o, k)}" for k in o._hyper)
        out = [f"{type(o).__name__} ({hyper}); weight decay on the weights only" if o.weight_decay
               else f"{type(o).__name__} ({hyper})"]
        step = None
        for r in self.rows:
            if r.phase != step:
                step = r.phase
                n = int(step.split()[1])
                out.append(f"-- {step}: loss {_f(self.losses[n - 1], d)}")
            out.append(f"{r.quantity} = {r.symbolic} = {r.numeric} = {_f(r.value, d)}")
        return "\n".join(out)

    __str__ = table


def optimizer_trace(net: Network, loss: Any, X: ArrayLike, T: ArrayLike, optimizer: str = "momentum", steps: int = 3,
                    digits: int = 6, **options: Any) -> OptimizerTrace:
    """Run ``steps`` steps of a library optimiser on a copy of ``net`` and show its state at each one.

    Parameters
    ----------
    net : Network
        Not changed (a copy is trained).
    loss, X, T
        As for ``loss_and_grad``: the batch of every step.
    optimizer : str or Optimizer
        "gd", "sgd", "momentum", "nesterov", "adam", or an optimiser (its state is reset first).
    steps : int
    **options
        Optimiser options (lr, momentum, weight_decay, ...), with a name.

    Returns
    -------
    OptimizerTrace
    """
    from ...derivatives.gradient import loss_and_grad

    opt = get_optimizer(optimizer, **options)
    opt.reset()
    net = net.copy()
    if getattr(opt, "decay_mask", None) is None:
        opt.decay_mask = net.reg_mask              # weight decay on the weights, not the biases
    lay_labels = _labels(net)
    out = OptimizerTrace(opt, lay_labels, digits)
    out.params.append(net.params.copy())
    for n in range(1, int(steps) + 1):
        value, g = loss_and_grad(net, loss, X, T)
        before = net.params.copy()
        prev = {k: (getattr(opt, k).copy() if getattr(opt, k, None) is not None else np.zeros_like(before))
                for k in opt._buffers}
        opt.step(net.params, g)
        after = net.params.copy()
        state = {k: getattr(opt, k).copy() for k in opt._buffers if getattr(opt, k, None) is not None}
        out.losses.append(float(value))
        out.grads.append(g.copy())
        out.params.append(after)
        out.state.append(state)
        _rows(out, opt, n, before, g, prev, state, after, net.reg_mask)
    return out


def _labels(net: Network) -> list[str]:
    """A name for every parameter ('w[src->dst]', 'b[node]'; 'p[k]' where the network has none)."""
    from ...engine.neurons.layout import neuron_layout
    try:
        lay = neuron_layout(net)
        return [lay.param_label(k) or f"p[{k}]" for k in range(net.n_params)]
    except ConfigError:
        return [f"p[{k}]" for k in range(net.n_params)]


def _rows(out: OptimizerTrace, opt: Optimizer, n: int, before: NDArray[Any], g: NDArray[Any], prev: dict[str, Any],
          state: dict[str, Any], after: NDArray[Any], reg: NDArray[Any]) -> None:
    """Add the rows of one optimiser step, parameter by parameter, to the trace ``out``."""
    d, lr, lam = out.digits, opt.lr, opt.weight_decay
    ph = f"step {n}"
    for k, name in enumerate(out.labels):
        out.rows.append(TraceStep(ph, f"g {name}", "dL/dW", _f(g[k], d), g[k]))
        decays = lam and (opt.decay_mask is None or opt.decay_mask[k])
        keep = f"{_f(1 - lam, d)}*{_m(before[k], d)}" if decays else _m(before[k], d)
        keep_s = "(1 - lambda)*W" if decays else "W"
        if isinstance(opt, SGD) and opt.momentum:
            mu = opt.momentum
            D = state["delta"][k]
            out.rows.append(TraceStep(ph, f"Delta {name}", "mu*Delta + g",
                                      f"{_f(mu, d)}*{_m(prev['delta'][k], d)} + {_m(g[k], d)}", D))
            if opt.nesterov:
                s = f"{keep_s} - lr*(g + mu*Delta)"
                num = f"{keep} - {_f(lr, d)}*({_m(g[k], d)} + {_f(mu, d)}*{_m(D, d)})"
            else:
                s, num = f"{keep_s} - lr*Delta", f"{keep} - {_f(lr, d)}*{_m(D, d)}"
        elif isinstance(opt, Adam):
            b1, b2 = opt.beta1, opt.beta2
            m, v = state["m"][k], state["v"][k]
            out.rows.append(TraceStep(ph, f"m {name}", "b1*m + (1 - b1)*g",
                                      f"{_f(b1, d)}*{_m(prev['m'][k], d)} + {_f(1 - b1, d)}*{_m(g[k], d)}", m))
            out.rows.append(TraceStep(ph, f"v {name}", "b2*v + (1 - b2)*g^2",
                                      f"{_f(b2, d)}*{_m(prev['v'][k], d)} + {_f(1 - b2, d)}*{_m(g[k], d)}^2", v))
            s = f"{keep_s} - lr*(m/(1 - b1^t))/(sqrt(v/(1 - b2^t)) + eps)"
            num = (f"{keep} - {_f(lr, d)}*({_m(m, d)}/(1 - {_f(b1, d)}^{n}))/"
                   f"(sqrt({_m(v, d)}/(1 - {_f(b2, d)}^{n})) + {_f(opt.eps, d)})")
        else:
            s, num = f"{keep_s} - lr*g", f"{keep} - {_f(lr, d)}*{_m(g[k], d)}"
        out.rows.append(TraceStep(ph, f"W {name}", s, num, after[k]))
