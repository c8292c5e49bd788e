"""The steps of a trace: every number of one instance's forward and backward pass, in the order computed,
read from the engine, each with its formula (see ``backprop.derivatives.trace``)."""
from __future__ import annotations

from dataclasses import dataclass
import os
from typing import TYPE_CHECKING, Any, Sequence, SupportsFloat

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ...engine.neurons.node_pass import neuron_pass
from ...engine.objective import Objective
from ...errors import InputError
from ...losses import default_loss_for, get_loss
from ...ops.base import At
from ...ops.maxunit import arg_max
from ...ops.product import factor_partials
from ..notation import Profile, Symbols, get_profile
from .formulas import _factor, _fmt, _join_sum
from .table import table
from ...losses import Output

if TYPE_CHECKING:
    from ..trace_layers import Comparison


@dataclass
class TraceStep:
    """One computed number: ``quantity`` = ``symbolic`` = ``numeric`` = ``value``.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 2, 1], seed=0, output="identity")
    >>> step = bp.trace(net, [1.0, 2.0], 0.5).steps[0]
    >>> step.phase, step.key
    ('forward', 'x(h1_1)')
    """

    phase: str            # "forward", "loss" or "backward"
    quantity: str         # in the trace's notation, e.g. "x(h1)", "dE/dw(x1,h1)" ("004"), "delta_1^(1)" ("000")
    symbolic: str
    numeric: str
    value: float
    node: str | None = None
    edge: tuple[str, str] | None = None
    key: str | None = None  # the same quantity in node names, whatever the notation: "x(h1)", "dE/dw(x1,h1)"


def neuron_backprop(net: Any, loss: Any, X: ArrayLike, T: ArrayLike) -> Any:
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

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 2, 1], seed=0, output="identity")
    >>> type(bp.neuron_backprop(net, "l2", np.array([[1.0, 2.0]]), np.array([[0.5]]))).__name__
    'NeuronPass'
    """
    return neuron_pass(_as_network(net), loss, X, T)


def _as_network(net: Any) -> Any:
    if hasattr(net, "compile") and not hasattr(net, "params"):
        return net.compile(seed=0)
    return net


def default_loss(net: Any) -> str:
    """The loss that suits the output activation: cross_entropy for softmax, bce for sigmoid, else l2.

    Parameters
    ----------
    net : Network or NeuronGraph
        The network traced.

    Returns
    -------
    str
        The loss taken on the logits of its output activation, else "l2".

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 2, 1], seed=0, output="identity")
    >>> default_loss(net)
    'l2'
    """
    return default_loss_for(net.output_activation)


def trace(net: Any, x: ArrayLike, t: ArrayLike | None, loss: Any = None, digits: int = 6,
          notation: str = "004") -> "Trace":
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
    notation : str
        Whose symbols label the quantities: "004" (nodes x(j), y(j), dE/dx(j); the default), "000"
        (z, a, w_ji, delta), "001" (a^(k), h^(k), W^(k), delta), "002" (a_j, z_j, y_k, t_k, E_n), "003"
        (z^(k), y^(k), w_ij, Div) or "cmu" (Z0, A1, dLdZ0, dLdW0, ...); see ``backprop.derivatives.notation``.

    Returns
    -------
    Trace
        ``str(trace)`` is the step-by-step table; ``trace.steps``, ``trace.nodes``, ``trace.edges``,
        ``trace.E`` hold the numbers; ``bp.draw_trace(trace, "trace.svg")`` draws it.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 2, 1], seed=0, output="identity")
    >>> bp.trace(net, [1.0, 2.0], 0.5)
    <Trace 5 nodes, 6 edges, E=2.53091>
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
    profile = get_profile(notation)
    npass = neuron_pass(net, loss, X, T)
    fused = Objective(net, loss, X, T).seed_node != len(net.ops)
    return Trace(net, loss, npass, X[0], digits, fused=fused, notation=profile)


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

    Parameters
    ----------
    net : Network
        The network traced.
    loss : Loss
        Its loss.
    npass : NeuronPass
        The engine's pass over the network's neurons for this one instance.
    x : array_like
        The instance's input.
    digits : int, default 6
        Significant digits of the printed numbers.
    fused : bool, default False
        Whether the loss is taken on the logits of the output activation.
    notation : str or Profile, default "004"
        The notation of the printed symbols.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 2, 1], seed=0, output="identity")
    >>> tr = bp.trace(net, [1.0, 2.0], 0.5)
    >>> bool(np.allclose(tr.grad, bp.loss_and_grad(net, "l2", np.array([[1.0, 2.0]]), np.array([[0.5]]))[1]))
    True
    """

    def __init__(self, net: Any, loss: Any, npass: Any, x: ArrayLike, digits: int = 6, fused: bool = False,
                 notation: str | Profile = "004") -> None:
        self.net, self.loss, self.digits = net, loss, int(digits)
        self.layout = lay = npass.layout
        self.sym = Symbols(lay, notation)
        self.notation = self.sym.profile.name
        self.pass_ = npass
        self.x_input = x
        self.E, self.grad = float(npass.value), npass.grad
        self.target = npass.D[0]
        # the loss taken on the logits of the output activation (softmax + cross_entropy, sigmoid + bce,
        # exp + poisson): E is written in the logits x(o) and dE/dx(o) = y(o) - t(o) directly
        self.fused = bool(fused)
        self.l2 = float(loss.l2)
        p = net.params
        reg = net.reg_mask
        self.nodes, self.edges = {}, {}
        for j, u in enumerate(lay.units):
            rec = {"x": float(npass.x[0, j]), "y": float(npass.y[0, j]),
                   "dE/dy": float(npass.dE_dy[0, j]), "dE/dx": float(npass.dE_dx[0, j])}
            if u.bias is not None:
                rec["b"] = float(p[u.bias])
                rec["dE/db"] = float(self.grad[u.bias])
            self.nodes[u.name] = rec
        for k, e in enumerate(lay.edges):
            # dE/dw of the objective: y_i dE/dx_j, plus lambda w_ij for a regularised weight
            self.edges[(lay.names[e.src], lay.names[e.dst])] = {"w": float(p[e.param]),
                                                                "dE/dw": float(self.grad[e.param]),
                                                                "l2": bool(self.l2 and reg[e.param])}
        self.steps: list[Any] = []
        self._forward()
        self._terminal()
        self._backward()

    # ---- helpers ----------------------------------------------------------------------------
    def _f(self, v: SupportsFloat) -> str:
        return _fmt(v, self.digits)

    def _m(self, v: SupportsFloat) -> str:
        return _factor(v, self.digits)

    def _add(self, phase: str, key: str, quantity: str, symbolic: str, numeric: str, value: float,
             node: str | None = None, edge: tuple[str, str] | None = None) -> None:
        self.steps.append(TraceStep(phase, quantity, symbolic, numeric, float(value), node, edge, key))

    def _group_jacobian(self, g: Any) -> NDArray[Any]:
        """J[k, j] = dy_k/dx_j of a vector group at this instance, from the group op's own JVP."""
        lay = self.layout
        n = len(g.units)
        z = np.array([[self.nodes[lay.names[i]]["x"] for i in g.units]])
        y, cache = g.op.forward([z], None)
        ty = g.op.jvp(At([z], y, cache, None), [np.eye(n)[:, None, :]], None)
        return ty[:, 0, :].T

    # ---- forward ----------------------------------------------------------------------------
    def _forward(self) -> None:
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

    def _x_step(self, j: int, u: Any) -> None:
        lay, nm, N = self.layout, self.layout.names, self.nodes
        if u.kind == "neuron":
            S = self.sym
            sym = [f"{S.w(nm[lay.edges[k].src], u.name)}*{S.y(nm[lay.edges[k].src])}" for k in u.edges]
            num = [f"{self._m(self.edges[(nm[lay.edges[k].src], u.name)]['w'])}*{self._m(N[nm[lay.edges[k].src]]['y'])}"
                   for k in u.edges]
            if u.bias is not None:
                sym.append(S.b(u.name))
                num.append(self._m(N[u.name]["b"]))
            s, n = _join_sum(sym), _join_sum(num)
        elif u.kind == "product":
            parts = [(nm[i], a) for i, a in zip(u.inputs, u.exponents)]
            s = " * ".join(self.sym.y(i) + (f"^{a:g}" if a != 1 else "") for i, a in parts)
            n = " * ".join(self._m(N[i]["y"]) + (f"^{a:g}" if a != 1 else "") for i, a in parts)
        else:
            s = "max(" + ", ".join(self.sym.y(nm[i]) for i in u.inputs) + ")"
            n = "max(" + ", ".join(self._f(N[nm[i]]["y"]) for i in u.inputs) + ")"
        self._add("forward", f"x({u.name})", self.sym.x(u.name), s, n, N[u.name]["x"], node=u.name)

    def _y_step(self, u: Any) -> None:
        N = self.nodes[u.name]
        if u.activation == "identity":
            s, n = self.sym.x(u.name), self._f(N["x"])
        else:
            s, n = f"{u.activation}({self.sym.x(u.name)})", f"{u.activation}({self._f(N['x'])})"
        self._add("forward", f"y({u.name})", self.sym.y(u.name), s, n, N["y"], node=u.name)

    def _y_group_step(self, u: Any, g: Any) -> None:
        nm = self.layout.names
        k = g.units.index(self.layout.index[u.name]) + 1
        s = f"{g.name}(" + ", ".join(self.sym.x(nm[i]) for i in g.units) + f")[{k}]"
        n = f"{g.name}(" + ", ".join(self._f(self.nodes[nm[i]]["x"]) for i in g.units) + f")[{k}]"
        self._add("forward", f"y({u.name})", self.sym.y(u.name), s, n, self.nodes[u.name]["y"], node=u.name)

    # ---- the terminal node E ------------------------------------------------------------------
    def _outputs(self) -> list[tuple[str, float, float]]:
        lay = self.layout
        return [(lay.names[i], self.nodes[lay.names[i]]["y"], float(t)) for i, t in zip(lay.outputs, self.target)]

    def _terminal(self) -> None:
        outs = self._loss_rows()
        head = self.loss.fused_head() if self.fused else self.loss
        rows = head.trace_E(outs, self.sym, self._f, self._m)
        if rows is None:
            s = f"{self.loss.name}({', '.join(self.sym.y(o) for o, _, _, _ in outs)}; t)"
            n = self._f(self.E - self._penalty()[1])
        else:
            s, n = rows
        if self.l2:
            sumsq, _ = self._penalty()
            s += " + lambda/2 * ||W||^2"
            n += f" + {self._f(self.l2)}/2 * {self._f(sumsq)}"
        self._add("loss", "E", self.sym.E, s, n, self.E)

    def _loss_rows(self) -> list[Output]:
        """[(name, y, t, x)] of the outputs: what a loss's trace formulas are written in."""
        return [(o, y, t, self.nodes[o]["x"]) for o, y, t in self._outputs()]

    def _penalty(self) -> tuple[float, float]:
        """(||W||^2 over the regularised weights, lambda/2 ||W||^2)."""
        if not self.l2:
            return 0.0, 0.0
        w = self.net.params[self.net.reg_mask]
        sumsq = float(np.dot(w, w))
        return sumsq, 0.5 * self.l2 * sumsq

    # ---- backward ---------------------------------------------------------------------------
    def _loss_term(self, name: str, y: float, t: float) -> tuple[str, str]:
        """dDiv/dy of one output, in symbols and numbers, as the loss writes it."""
        rows = self.loss.trace_dE_dy(name, y, t, self.sym, self._f, self._m)
        if rows is None:
            return f"dDiv/d{self.sym.y(name)}", self._m(self.nodes[name]["dE/dy"])
        return rows

    def _fused_dx_step(self, name: str, t: float, outs: Sequence[Output]) -> None:
        """dE/dx(o) of an output whose activation the loss is fused with: y(o) - t(o), as the loss writes it."""
        y = self.nodes[name]["y"]
        rows = self.loss.fused_head().trace_dE_dx(name, y, t, outs, self.sym, self._f, self._m)
        s, n = rows or (f"dDiv/d{self.sym.x(name)}", self._m(self.nodes[name]["dE/dx"]))
        self._add("backward", f"dE/dx({name})", self.sym.dx(name), s, n, self.nodes[name]["dE/dx"], node=name)

    def _dy_step(self, i: int, u: Any) -> None:
        lay, nm, N, S = self.layout, self.layout.names, self.nodes, self.sym
        sym, num = [], []
        if i in lay.outputs and not self.fused:
            k = lay.outputs.index(i)
            s, n = self._loss_term(u.name, N[u.name]["y"], float(self.target[k]))
            sym.append(s)
            num.append(n)
        for c in lay.consumers[i]:
            if c[0] == "edge":
                e = lay.edges[c[1]]
                d = nm[e.dst]
                sym.append(f"{S.w(u.name, d)}*{S.dx(d)}")
                num.append(f"{self._m(self.edges[(u.name, d)]['w'])}*{self._m(N[d]['dE/dx'])}")
            elif c[0] == "product":
                p = lay.units[c[1]]
                part = self._product_partial(p, c[2])
                sym.append(f"d{S.x(p.name)}/d{S.y(u.name)}*{S.dx(p.name)}")
                num.append(f"{self._m(part)}*{self._m(N[p.name]['dE/dx'])}")
            else:
                m = lay.units[c[1]]
                wins = 1 if self._max_winner(m) == c[2] else 0
                sym.append(f"[{S.y(u.name)} is the max in {S.x(m.name)}]*{S.dx(m.name)}")
                num.append(f"{wins}*{self._m(N[m.name]['dE/dx'])}")
        self._add("backward", f"dE/dy({u.name})", S.dy(u.name), _join_sum(sym), _join_sum(num), N[u.name]["dE/dy"],
                  node=u.name)

    def _product_partial(self, p: Any, slot: int) -> float:
        """dx_p/dy_slot at this instance, from the product op's own partials."""
        ys = np.array([float(self.nodes[self.layout.names[i]]["y"]) for i in p.inputs])
        return float(factor_partials(ys, np.asarray(p.exponents, dtype=float))[2][slot])

    def _max_winner(self, m: Any) -> int:
        """The winning input of max unit m at this instance, as the max op decides it."""
        return int(arg_max(np.array([float(self.nodes[self.layout.names[i]]["y"]) for i in m.inputs])))

    def _dx_step(self, u: Any) -> None:
        N = self.nodes[u.name]
        if u.activation == "identity":
            s, n = self.sym.dy(u.name), self._f(N["dE/dy"])
        else:
            d = float(u.act.df(np.array([N["x"]]), np.array([N["y"]]))[0])
            s = f"{u.activation}'({self.sym.x(u.name)})*{self.sym.dy(u.name)}"
            n = f"{self._m(d)}*{self._m(N['dE/dy'])}"
        self._add("backward", f"dE/dx({u.name})", self.sym.dx(u.name), s, n, N["dE/dx"], node=u.name)

    def _dx_group_steps(self, g: Any) -> None:
        nm = self.layout.names
        J = self._group_jacobian(g)
        for jj, j in enumerate(g.units):
            name = nm[j]
            S = self.sym
            s = " + ".join(f"d{S.y(nm[k])}/d{S.x(name)}*{S.dy(nm[k])}" for k in g.units)
            n = " + ".join(f"{self._m(J[kk, jj])}*{self._m(self.nodes[nm[k]]['dE/dy'])}"
                           for kk, k in enumerate(g.units))
            self._add("backward", f"dE/dx({name})", S.dx(name), s, n, self.nodes[name]["dE/dx"], node=name)

    def _backward(self) -> None:
        lay = self.layout
        outputs = set(lay.outputs)
        outs = self._outputs()
        rows = self._loss_rows()
        by_level: dict[Any, Any] = {}
        for j, u in enumerate(lay.units):
            by_level.setdefault(u.level, []).append(j)
        for level in sorted(by_level, reverse=True):
            units = by_level[level][::-1]
            waiting: dict[Any, Any] = {}                    # vector groups: dE/dx needs dE/dy of every member first
            for j in units:
                u = lay.units[j]
                if self.fused and j in outputs:     # the loss starts at the logits: no dE/dy(o) needed
                    k = lay.outputs.index(j)
                    self._fused_dx_step(u.name, outs[k][2], rows)
                    continue
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
                    self._dw_step(lay.names[e.src], lay.names[e.dst])
            for j in by_level[level]:
                u = lay.units[j]
                if u.bias is not None:
                    self._add("backward", f"dE/db({u.name})", self.sym.db(u.name), self.sym.dx(u.name),
                              self._f(self.nodes[u.name]["dE/dx"]), self.nodes[u.name]["dE/db"], node=u.name)

    def _dw_step(self, i: str, d: str) -> None:
        rec = self.edges[(i, d)]
        S = self.sym
        s = f"{S.y(i)}*{S.dx(d)}"
        n = f"{self._m(self.nodes[i]['y'])}*{self._m(self.nodes[d]['dE/dx'])}"
        if rec["l2"]:                       # the gradient of lambda/2 ||W||^2
            s += f" + lambda*{S.w(i, d)}"
            n += f" + {self._f(self.l2)}*{self._m(rec['w'])}"
        self._add("backward", f"dE/dw({i},{d})", S.dw(i, d), s, n, rec["dE/dw"], edge=(i, d))

    # ---- text ---------------------------------------------------------------------------------
    def table(self) -> str:
        """The steps as a text table: step, quantity, formula, the formula with numbers, value.

        Returns
        -------
        str
            A header naming the instance, the loss and the rules, then one line per step.

        Examples
        --------
        >>> import backprop as bp
        >>> tr = bp.trace(bp.MLP([1, 1, 1], seed=0, output="identity"), [1.0], 0.5)
        >>> print(tr.table())
        trace of one instance: x1=1; target o1=0.5; loss l2
        ...
         5  E               1/2 * (y(o1) - t(o1))^2     1/2 * (-0.352317 - 0.5)^2   0.363222
        ...
        """
        return table(self)

    __str__ = table

    def __repr__(self) -> str:
        return f"<Trace {len(self.nodes)} nodes, {len(self.edges)} edges, E={self.E:.6g}>"

    def layers(self) -> dict[str, Any]:
        """The per-layer quantities under CMU-style names, in the order they are computed.

        A0 (input), Z0, A1, Z1, ..., the loss L, then dLdA{L}, dLdZ{L-1}, dLdW{L-1}, dLdb{L-1}, dLdA{L-1}, ...,
        dLdZ0, dLdW0, dLdb0, dLdA0; vectors of shape (units,), W and dLdW of shape (out, in) as in
        ``net.params``. Needs a layered network (every edge from one layer to the next).

        Returns
        -------
        dict
            Name -> ndarray (the loss ``L``: a float).

        Examples
        --------
        >>> import backprop as bp
        >>> tr = bp.trace(bp.MLP([1, 1, 1], seed=0, output="identity"), [1.0], 0.5)
        >>> list(tr.layers())
        ['A0', 'W0', 'b0', 'Z0', 'A1', 'W1', 'b1', 'Z1', 'A2', 'L', 'dLdA2', 'dLdZ1', 'dLdW1', 'dLdb1', 'dLdA1',
         'dLdZ0', 'dLdW0', 'dLdb0', 'dLdA0']
        """
        from ..trace_layers import named_intermediates
        return named_intermediates(self)

    def compare(self, their_values: Any, rtol: float = 1e-6, atol: float = 1e-8) -> Comparison:
        """Compare a student's own intermediates with the trace, quantity by quantity (see ``layers``).

        Parameters
        ----------
        their_values : mapping or object
            Names such as "Z0", "A1", "dLdZ0", "dLdW0", "dLdb0" to arrays (a leading batch axis of 1 is
            allowed); or an object with these attributes. Names not given are skipped.
        rtol, atol : float
            Tolerances of ``numpy.isclose``.

        Returns
        -------
        Comparison
            ``bool(result)`` is True when everything given agrees; ``result.first`` names the first
            quantity (in the order of computation) and entry that differs; ``str(result)`` says it in words.

        Examples
        --------
        >>> import backprop as bp
        >>> tr = bp.trace(bp.MLP([2, 2, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
        >>> mine = tr.layers(); mine["dLdZ0"] = mine["dLdZ0"] * 2
        >>> tr.compare(mine).first["name"]
        'dLdZ0'
        """
        from ..trace_layers import compare
        return compare(self, their_values, rtol=rtol, atol=atol)

    def to_html(self, path: str | os.PathLike[str] | None = None, title: str | None = None,
                training: Any = None) -> str:
        """One self-contained HTML page to step through this trace (see ``backprop.derivatives.trace_page``).

        Parameters
        ----------
        path : str or Path, optional
            Where to write the page (UTF-8).
        title : str, optional
        training : dict, optional
            A training run to show beside the trace (loss curve, weights over epochs, decision surface for
            two inputs), from ``backprop.faces.teaching.training_view.training_view``.

        Returns
        -------
        str
            The page.

        Examples
        --------
        >>> import backprop as bp
        >>> tr = bp.trace(bp.MLP([1, 1, 1], seed=0, output="identity"), [1.0], 0.5)
        >>> tr.to_html("trace.html").startswith("<!DOCTYPE html>")
        True
        """
        from ..trace_page import to_html
        return to_html(self, path, title=title, training=training)

    def to_dict(self) -> dict[str, Any]:
        """The numbers as plain Python data (for JSON).

        Returns
        -------
        dict
            ``E``, ``nodes`` (name -> values), ``edges`` (a list of {"src", "dst", "w", "dE/dw"}) and ``steps``.

        Examples
        --------
        >>> import backprop as bp
        >>> d = bp.trace(bp.MLP([1, 1, 1], seed=0, output="identity"), [1.0], 0.5).to_dict()
        >>> sorted(d), list(d["nodes"]), round(d["E"], 6)
        (['E', 'edges', 'nodes', 'steps'], ['x1', 'h1_1', 'o1'], 0.363222)
        """
        return {"E": self.E, "nodes": self.nodes,
                "edges": [{"src": s, "dst": d, **v} for (s, d), v in self.edges.items()],
                "steps": [s.__dict__ for s in self.steps]}
