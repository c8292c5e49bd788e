"""A trace of one instance, node by node: every number of the forward and backward pass, with its formula.

For one input x and target t, ``bp.trace`` records what the derivation computes at every
scalar node j and every edge i -> j, in the order it is computed:

    forward, node by node in order:     x_j = sum_{i in in(j)} w_ij y_i + b_j,   y_j = f(x_j)
    the terminal node:                  E = Div(y_out, t)
    backward, level by level in reverse: dE/dy_i = sum_{j in out(i)} w_ij dE/dx_j
                                         dE/dx_j = f'(x_j) dE/dy_j
                                         dE/dw_ij = y_i dE/dx_j,  dE/db_j = dE/dx_j

Every step carries the formula in symbols and with the numbers filled in, so a student can
redo it by hand. The numbers come from the same engine that trains the network (they are not
recomputed by a second implementation); the formulas show how each one follows from the
others. Prints as a table (``str(trace)``); ``bp.draw_trace`` draws the network with the
values on the nodes and the gradients on the edges.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.neuron_layout import neuron_pass
from ..errors import InputError
from ..losses import get_loss


@dataclass
class TraceStep:
    """One computed number: ``quantity`` = ``symbolic`` = ``numeric`` = ``value``."""

    phase: str            # "forward", "loss" or "backward"
    quantity: str         # e.g. "x(h1)", "dE/dw(x1,h1)"
    symbolic: str
    numeric: str
    value: float
    node: str | None = None
    edge: tuple | None = None


def neuron_backprop(net, loss, X, T):
    """Forward and backward pass on a batch, with every neuron's x, y, dE/dy, dE/dx and every edge's dE/dw.

    Parameters
    ----------
    net : Network or NeuronGraph
        An MLP, a compiled neuron graph, or a NeuronGraph (compiled with seed 0).
    loss : str or Loss
    X : array-like of shape (B, d)
    T : array-like
        Targets, as for ``loss_and_grad``.

    Returns
    -------
    NeuronPass
        ``.x, .y, .dE_dy, .dE_dx`` (B, n_nodes), ``.dE_dw`` (B, n_edges), ``.names``,
        ``.node_values()``, ``.node_grads()``, ``.edge_grads()``, ``.value``, ``.grad``.
    """
    return neuron_pass(_as_network(net), loss, X, T)


def _as_network(net):
    if hasattr(net, "compile") and not hasattr(net, "params"):
        return net.compile(seed=0)
    return net


def default_loss(net) -> str:
    """The loss that suits the output activation: cross_entropy for softmax, bce for sigmoid, else l2."""
    act = net.output_activation
    return {"softmax": "cross_entropy", "sigmoid": "bce"}.get(act, "l2")


def trace(net, x, t, loss=None, digits=6) -> "Trace":
    """Record the forward and backward pass of ONE instance node by node.

    Parameters
    ----------
    net : Network or NeuronGraph
        An MLP (each unit becomes a node named x1.., h1_1.., o1..), a compiled neuron graph, or a
        NeuronGraph (compiled with seed 0; give every edge a weight to fix the numbers).
    x : array-like of shape (d,) or (1, d)
        The input.
    t : scalar or array-like
        The target: a value per output, or a class label for cross_entropy.
    loss : str or Loss, optional
        Default: cross_entropy for a softmax output, bce for a sigmoid output, l2 otherwise.
    digits : int
        Significant digits of the numbers in the formulas.

    Returns
    -------
    Trace
        ``str(trace)`` is the step-by-step table; ``trace.steps``, ``trace.nodes``, ``trace.edges``,
        ``trace.E`` hold the numbers; ``bp.draw_trace(trace, "trace.svg")`` draws it.
    """
    net = _as_network(net)
    loss = get_loss(default_loss(net) if loss is None else loss)
    x = np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind in "biuf" else np.asarray(x)
    if x.ndim == 2 and x.shape[0] != 1:
        raise InputError(f"trace records one instance; got {x.shape[0]} rows (pass one row x of shape "
                         f"({net.n_inputs},))")
    X = x.reshape(1, -1) if x.ndim <= 1 else x
    T = np.asarray(t)
    if not (loss.name == "cross_entropy" and T.ndim == 0):
        T = T.reshape(1, -1) if T.ndim <= 1 else T
    else:
        T = T.reshape(1)
    return Trace(net, loss, neuron_pass(net, loss, X, T), X[0], digits)


def _fmt(v, digits):
    return f"{float(v) + 0.0:.{digits}g}"          # + 0.0 turns -0.0 into 0.0


def _factor(v, digits):
    """A number as a factor of a product: negative numbers in parentheses."""
    s = _fmt(v, digits)
    return f"({s})" if s.startswith("-") else s


def _join_sum(terms, max_terms=8):
    if len(terms) > max_terms:
        return " + ".join(terms[:3]) + f" + ... ({len(terms) - 3} more terms)"
    return " + ".join(terms) if terms else "0"


class Trace:
    """The recorded pass of one instance (see ``bp.trace``).

    Attributes
    ----------
    steps : list of TraceStep
        In the order they are computed.
    nodes : dict
        name -> {"x", "y", "dE/dy", "dE/dx"} (and "b", "dE/db" for neurons with a bias).
    edges : dict
        (src, dst) -> {"w", "dE/dw"}.
    E : float
        The loss of this instance.
    grad : ndarray
        dE/dw for all of ``net.params``, from the engine (includes the L2 term of the loss, if any).
    """

    def __init__(self, net, loss, npass, x, digits=6):
        self.net, self.loss, self.digits = net, loss, int(digits)
        self.layout = lay = npass.layout
        self.pass_ = npass
        self.x_input = x
        self.E, self.grad = float(npass.value), npass.grad
        self.target = npass.D[0]
        p = net.params
        self.nodes, self.edges = {}, {}
        for j, u in enumerate(lay.units):
            rec = {"x": float(npass.x[0, j]), "y": float(npass.y[0, j]),
                   "dE/dy": float(npass.dE_dy[0, j]), "dE/dx": float(npass.dE_dx[0, j])}
            if u.bias is not None:
                rec["b"] = float(p[u.bias])
                rec["dE/db"] = rec["dE/dx"]
            self.nodes[u.name] = rec
        for k, e in enumerate(lay.edges):
            self.edges[(lay.names[e.src], lay.names[e.dst])] = {"w": float(p[e.param]),
                                                                "dE/dw": float(npass.dE_dw[0, k])}
        self.steps = []
        self._forward()
        self._terminal()
        self._backward()

    # ---- helpers ----------------------------------------------------------------------------
    def _f(self, v):
        return _fmt(v, self.digits)

    def _m(self, v):
        return _factor(v, self.digits)

    def _add(self, phase, quantity, symbolic, numeric, value, node=None, edge=None):
        self.steps.append(TraceStep(phase, quantity, symbolic, numeric, float(value), node, edge))

    def _group_jacobian(self, g):
        """J[k, j] = dy_k/dx_j of a vector group at this instance, from the group op's own JVP."""
        lay = self.layout
        n = len(g.units)
        z = np.array([[self.nodes[lay.names[i]]["x"] for i in g.units]])
        y, cache = g.op.forward([z], None)
        ty = g.op.jvp([np.eye(n)[:, None, :]], None, [z], y, cache, None)
        return ty[:, 0, :].T

    # ---- forward ----------------------------------------------------------------------------
    def _forward(self):
        lay = self.layout
        last_of_group = {}
        for j, u in enumerate(lay.units):
            if u.group is not None:
                last_of_group[u.group] = j
        for j, u in enumerate(lay.units):
            if u.kind == "input":
                continue
            self._x_step(j, u)
            if u.group is None:
                self._y_step(u)
            elif last_of_group[u.group] == j:
                for i in lay.groups[u.group].units:
                    self._y_group_step(lay.units[i], lay.groups[u.group])

    def _x_step(self, j, u):
        lay, nm, N = self.layout, self.layout.names, self.nodes
        if u.kind == "neuron":
            sym = [f"w({nm[lay.edges[k].src]},{u.name})*y({nm[lay.edges[k].src]})" for k in u.edges]
            num = [f"{self._m(self.edges[(nm[lay.edges[k].src], u.name)]['w'])}*{self._m(N[nm[lay.edges[k].src]]['y'])}"
                   for k in u.edges]
            if u.bias is not None:
                sym.append(f"b({u.name})")
                num.append(self._m(N[u.name]["b"]))
            s, n = _join_sum(sym), _join_sum(num)
        elif u.kind == "product":
            parts = [(nm[i], a) for i, a in zip(u.inputs, u.exponents)]
            s = " * ".join(f"y({i})" + (f"^{a:g}" if a != 1 else "") for i, a in parts)
            n = " * ".join(self._m(N[i]["y"]) + (f"^{a:g}" if a != 1 else "") for i, a in parts)
        else:
            s = "max(" + ", ".join(f"y({nm[i]})" for i in u.inputs) + ")"
            n = "max(" + ", ".join(self._f(N[nm[i]]["y"]) for i in u.inputs) + ")"
        self._add("forward", f"x({u.name})", s, n, N[u.name]["x"], node=u.name)

    def _y_step(self, u):
        N = self.nodes[u.name]
        if u.activation == "identity":
            s, n = f"x({u.name})", self._f(N["x"])
        else:
            s, n = f"{u.activation}(x({u.name}))", f"{u.activation}({self._f(N['x'])})"
        self._add("forward", f"y({u.name})", s, n, N["y"], node=u.name)

    def _y_group_step(self, u, g):
        nm = self.layout.names
        k = g.units.index(self.layout.index[u.name]) + 1
        s = f"{g.name}(" + ", ".join(f"x({nm[i]})" for i in g.units) + f")[{k}]"
        n = f"{g.name}(" + ", ".join(self._f(self.nodes[nm[i]]["x"]) for i in g.units) + f")[{k}]"
        self._add("forward", f"y({u.name})", s, n, self.nodes[u.name]["y"], node=u.name)

    # ---- the terminal node E ------------------------------------------------------------------
    def _outputs(self):
        lay = self.layout
        return [(lay.names[i], self.nodes[lay.names[i]]["y"], float(t)) for i, t in zip(lay.outputs, self.target)]

    def _terminal(self):
        outs, name = self._outputs(), self.loss.name
        if name == "l2":
            s = " + ".join(f"(y({o}) - t({o}))^2" for o, _, _ in outs)
            n = " + ".join(f"({self._f(y)} - {self._f(t)})^2" for _, y, t in outs)
            s, n = (f"1/2 * {s}", f"1/2 * {n}") if len(outs) == 1 else (f"1/2 * ({s})", f"1/2 * ({n})")
        elif name == "cross_entropy":
            terms = [(o, y, t) for o, y, t in outs if t != 0]
            s = " + ".join(f"-t({o})*log(y({o}))" for o, _, _ in terms) or "0"
            n = " + ".join(f"-{self._m(t)}*log({self._f(y)})" for _, y, t in terms) or "0"
        elif name == "bce":
            s = " + ".join(f"-(t({o})*log(y({o})) + (1 - t({o}))*log(1 - y({o})))" for o, _, _ in outs)
            n = " + ".join(f"-({self._m(t)}*log({self._f(y)}) + {self._m(1 - t)}*log({self._f(1 - y)}))"
                           for _, y, t in outs)
        else:
            s, n = f"{name}(y, t)", f"{name}(y, t)"
        if self.loss.l2:
            s += " + lambda/2 * ||W||^2"
            n += f" + {self._f(self.loss.l2)}/2 * ||W||^2"
        self._add("loss", "E", s, n, self.E)

    # ---- backward ---------------------------------------------------------------------------
    def _loss_term(self, name, y, t):
        ln = self.loss.name
        if ln == "l2":
            return f"(y({name}) - t({name}))", f"({self._f(y)} - {self._f(t)})"
        if ln == "cross_entropy":
            return f"-t({name})/y({name})", f"-{self._m(t)}/{self._m(y)}"
        if ln == "bce":
            return (f"(-t({name})/y({name}) + (1 - t({name}))/(1 - y({name})))",
                    f"(-{self._m(t)}/{self._m(y)} + {self._m(1 - t)}/{self._m(1 - y)})")
        return f"dDiv/dy({name})", "dDiv/dy"

    def _dy_step(self, i, u):
        lay, nm, N = self.layout, self.layout.names, self.nodes
        sym, num = [], []
        if i in lay.outputs:
            k = lay.outputs.index(i)
            s, n = self._loss_term(u.name, N[u.name]["y"], float(self.target[k]))
            sym.append(s)
            num.append(n)
        for c in lay.consumers[i]:
            if c[0] == "edge":
                e = lay.edges[c[1]]
                d = nm[e.dst]
                sym.append(f"w({u.name},{d})*dE/dx({d})")
                num.append(f"{self._m(self.edges[(u.name, d)]['w'])}*{self._m(N[d]['dE/dx'])}")
            elif c[0] == "product":
                p = lay.units[c[1]]
                part = self._product_partial(p, c[2])
                sym.append(f"dx({p.name})/dy({u.name})*dE/dx({p.name})")
                num.append(f"{self._m(part)}*{self._m(N[p.name]['dE/dx'])}")
            else:
                m = lay.units[c[1]]
                wins = 1 if self._max_winner(m) == c[2] else 0
                sym.append(f"[{u.name} = argmax of {m.name}]*dE/dx({m.name})")
                num.append(f"{wins}*{self._m(N[m.name]['dE/dx'])}")
        self._add("backward", f"dE/dy({u.name})", _join_sum(sym), _join_sum(num), N[u.name]["dE/dy"], node=u.name)

    def _product_partial(self, p, slot):
        """dx_p/dy_slot = alpha z^(alpha-1) prod_{l != slot} z_l^alpha_l at this instance."""
        ys = [self.nodes[self.layout.names[i]]["y"] for i in p.inputs]
        out = p.exponents[slot] * ys[slot] ** (p.exponents[slot] - 1)
        for k, (v, a) in enumerate(zip(ys, p.exponents)):
            if k != slot:
                out *= v ** a
        return out

    def _max_winner(self, m):
        ys = [self.nodes[self.layout.names[i]]["y"] for i in m.inputs]
        return int(np.argmax(ys))           # the first of tied inputs, as in the engine

    def _dx_step(self, u):
        N = self.nodes[u.name]
        if u.activation == "identity":
            s, n = f"dE/dy({u.name})", self._f(N["dE/dy"])
        else:
            d = float(u.act.df(np.array([N["x"]]), np.array([N["y"]]))[0])
            s = f"{u.activation}'(x({u.name}))*dE/dy({u.name})"
            n = f"{self._m(d)}*{self._m(N['dE/dy'])}"
        self._add("backward", f"dE/dx({u.name})", s, n, N["dE/dx"], node=u.name)

    def _dx_group_steps(self, g):
        nm = self.layout.names
        J = self._group_jacobian(g)
        for jj, j in enumerate(g.units):
            name = nm[j]
            s = " + ".join(f"dy({nm[k]})/dx({name})*dE/dy({nm[k]})" for k in g.units)
            n = " + ".join(f"{self._m(J[kk, jj])}*{self._m(self.nodes[nm[k]]['dE/dy'])}"
                           for kk, k in enumerate(g.units))
            self._add("backward", f"dE/dx({name})", s, n, self.nodes[name]["dE/dx"], node=name)

    def _backward(self):
        lay = self.layout
        by_level = {}
        for j, u in enumerate(lay.units):
            by_level.setdefault(u.level, []).append(j)
        for level in sorted(by_level, reverse=True):
            units = by_level[level][::-1]
            waiting = {}                    # vector groups: dE/dx needs dE/dy of every member first
            for j in units:
                u = lay.units[j]
                self._dy_step(j, u)
                if u.kind == "input":
                    continue
                if u.group is None:
                    self._dx_step(u)
                    continue
                left = waiting.setdefault(u.group, set(lay.groups[u.group].units))
                left.discard(j)
                if not left:
                    self._dx_group_steps(lay.groups[u.group])
            # the weights into this level, in the order of net.params, then its biases
            for k, e in enumerate(lay.edges):
                if lay.units[e.dst].level == level:
                    i, d = lay.names[e.src], lay.names[e.dst]
                    self._add("backward", f"dE/dw({i},{d})", f"y({i})*dE/dx({d})",
                              f"{self._m(self.nodes[i]['y'])}*{self._m(self.nodes[d]['dE/dx'])}",
                              self.edges[(i, d)]["dE/dw"], edge=(i, d))
            for j in by_level[level]:
                u = lay.units[j]
                if u.bias is not None:
                    self._add("backward", f"dE/db({u.name})", f"dE/dx({u.name})",
                              self._f(self.nodes[u.name]["dE/dx"]), self.nodes[u.name]["dE/dx"], node=u.name)

    # ---- text ---------------------------------------------------------------------------------
    def table(self) -> str:
        """The steps as a text table: step, quantity, formula, the formula with numbers, value."""
        head = ["#", "quantity", "formula", "with numbers", "value"]
        rows = [[str(k + 1), s.quantity, s.symbolic, s.numeric, self._f(s.value)] for k, s in enumerate(self.steps)]
        widths = [max(len(r[c]) for r in rows + [head]) for c in range(5)]
        widths[2], widths[3] = min(widths[2], 70), min(widths[3], 70)     # longer cells overflow, never cut

        def line(r):
            cells = [r[0].rjust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                     r[3].ljust(widths[3]), r[4].rjust(widths[4])]
            return "  ".join(cells).rstrip()

        x = ", ".join(f"{n}={self._f(v)}" for n, v in zip(self.layout.names, self.x_input))
        t = ", ".join(f"{n}={self._f(v)}" for n, _, v in self._outputs())
        out = [f"trace of one instance: {x}; target {t}; loss {self.loss.name}",
               "x(j) = sum_i w(i,j)*y(i) + b(j), y(j) = f(x(j)); "
               "dE/dy(i) = sum_j w(i,j)*dE/dx(j), dE/dx(j) = f'(x(j))*dE/dy(j), dE/dw(i,j) = y(i)*dE/dx(j)",
               "", line(head), line(["-" * w for w in widths])]
        phase = None
        for s, r in zip(self.steps, rows):
            if s.phase != phase:
                phase = s.phase
                out.append({"forward": "-- forward pass, node by node in order",
                            "loss": "-- terminal node",
                            "backward": "-- backward pass, level by level in reverse order"}[phase])
            out.append(line(r))
        return "\n".join(out)

    __str__ = table

    def __repr__(self):
        return f"<Trace {len(self.nodes)} nodes, {len(self.edges)} edges, E={self.E:.6g}>"

    def to_dict(self) -> dict:
        """The numbers as plain Python data (for JSON)."""
        return {"E": self.E, "nodes": self.nodes,
                "edges": [{"src": s, "dst": d, **v} for (s, d), v in self.edges.items()],
                "steps": [s.__dict__ for s in self.steps]}

