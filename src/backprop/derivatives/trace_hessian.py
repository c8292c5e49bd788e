"""The exact Hessian of one instance step by step, as note 002 derives it for a two-layer network.

With a_j = sum_i w_ji x_i, z_j = h(a_j) (hidden), a_k = sum_j w_kj z_j, y_k = f(a_k) (outputs),
biases as w_j0, w_k0 (x_0 = z_0 = 1), and delta = dE_n/da from the first-order pass:

1. the forward sweep of the downstream derivatives: da_k/da_j = w_kj h'(a_j), and
   dy_k/da_j = sum_k' dy_k/da_k' da_k'/da_j;
2. M at the outputs, M_kk' = d2E_n/(da_k da_k'): I for identity + l2; y_k (1 - y_k) on the diagonal for
   sigmoid + bce; y_k (delta_kk' - y_k') for softmax + cross_entropy; in general
   f'(a_k) f'(a_k') d2E_n/(dy_k dy_k') + delta_kk' f''(a_k) dE_n/dy_k;
3. M backpropagated to the hidden units (002's (**)):
   M_jj' = h''(a_j) delta_jj' sum_k w_kj delta_k + h'(a_j) h'(a_j') sum_kk' w_kj w_k'j' M_kk',
   and the mixed M_jk = h'(a_j) sum_k' w_k'j M_k'k;
4. the Hessian blocks:
   (a) d2E_n/(dw_kj dw_k'j') = M_kk' z_j z_j'
   (b) d2E_n/(dw_ji dw_j'i') = M_jj' x_i x_i'
   (c) d2E_n/(dw_ji dw_kj') = M_jk x_i z_j' + delta_k h'(a_j) delta_jj' x_i
   plus lambda on the diagonal of the weights when the loss has an L2 term.

The recursion is carried out here in the open, in the notes' scalar form, for display; the result
is compared with the engine's own ``bp.hessian`` (``.max_difference``), which tests keep at rounding level.
"""
from __future__ import annotations

import os
from typing import Any, SupportsFloat

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine.objective import Objective
from ..errors import ConfigError
from .trace import TraceStep, _factor, _fmt, trace


def hessian_trace(net: Any, x: ArrayLike, t: ArrayLike | None, loss: Any = None, digits: int = 6) -> "HessianTrace":
    """Record note 002's exact Hessian of one instance: dy_k/da_j, M at the outputs, M at the hidden units,
    and every entry of the blocks (a), (b), (c).

    Parameters
    ----------
    net : Network
        A network with one hidden layer of scalar units (the notes' two-layer network), e.g.
        ``bp.MLP([D, M, K], hidden="tanh", output="identity")``.
    x, t, loss, digits
        As for ``bp.trace``.

    Returns
    -------
    HessianTrace
        ``.steps`` (rows in 002's symbols), ``.M`` (the matrix over hidden and output units), ``.H`` (the
        assembled Hessian), ``.H_engine`` (``bp.hessian``), ``.max_difference``; ``str()`` is the table.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 2, 1], seed=0, output="identity")
    >>> ht = bp.hessian_trace(net, [1.0, 2.0], 0.5)
    >>> bool(np.allclose(ht.H, bp.hessian(net, "l2", np.array([[1.0, 2.0]]), np.array([[0.5]]))))
    True
    """
    tr = trace(net, x, t, loss=loss, digits=digits, notation="002")
    return HessianTrace(tr)


class HessianTrace:
    """See ``hessian_trace``.

    Parameters
    ----------
    tr : Trace
        The first-order trace of the instance, of a network with one hidden layer.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 2, 1], seed=0, output="identity")
    >>> bp.hessian_trace(net, [1.0, 2.0], 0.5).H.shape
    (9, 9)
    """

    def __init__(self, tr: Any) -> None:
        self.first_order, self.digits = tr, tr.digits
        self.net, self.loss, self.sym = tr.net, tr.loss, tr.sym
        lay = tr.layout
        if lay.n_levels != 3:
            raise ConfigError(f"the step-by-step Hessian follows note 002's two-layer network (one hidden layer); "
                              f"this network has {lay.n_levels - 2} hidden layers: use bp.hessian for it")
        names = lay.names
        self.inputs = [u.name for u in lay.units if u.level == 0]
        self.hidden = [u.name for u in lay.units if u.level == 1]
        self.outputs = [names[i] for i in lay.outputs]
        for u in lay.units:
            if u.level == 1 and (u.kind != "neuron" or u.group is not None or u.act is None and
                                 u.activation != "identity"):
                raise ConfigError(f"hidden unit {u.name} is not a weighted sum with a scalar activation; "
                                  "the step-by-step Hessian needs one")
        self.steps: list[Any] = []
        self._sweep()
        self._m_outputs()
        self._m_hidden()
        self._blocks()

    # ---- helpers ---------------------------------------------------------------------------------------
    def _f(self, v: SupportsFloat) -> str:
        return _fmt(v, self.digits)

    def _m(self, v: SupportsFloat) -> str:
        return _factor(v, self.digits)

    def _add(self, phase: str, quantity: str, symbolic: str, numeric: str, value: float, key: str) -> None:
        self.steps.append(TraceStep(phase, quantity, symbolic, numeric, float(value), key=key))

    def _unit(self, name: str) -> Any:
        return self.first_order.layout.units[self.first_order.layout.index[name]]

    def _h(self, name: str, order: int) -> float:
        u = self._unit(name)
        N = self.first_order.nodes[name]
        if u.act is None:                               # identity
            return 1.0 if order == 1 else 0.0
        z, y = np.array([N["x"]]), np.array([N["y"]])
        return float((u.act.df if order == 1 else u.act.d2f)(z, y)[0])

    def _w(self, src: str, dst: str) -> float:
        return self.first_order.edges.get((src, dst), {"w": 0.0})["w"]

    # ---- 1. the forward sweep of the downstream derivatives -----------------------------------------
    def _out_jacobian(self) -> NDArray[Any]:
        """dy_k/da_k' of the output layer at this instance."""
        tr, lay = self.first_order, self.first_order.layout
        gid = self._unit(self.outputs[0]).group
        if gid is not None:
            return tr._group_jacobian(lay.groups[gid])
        return np.diag([self._h(o, 1) for o in self.outputs])

    def _sweep(self) -> None:
        S = self.sym
        self.J_out = J = self._out_jacobian()
        self.da = {}
        for j in self.hidden:
            hp = self._h(j, 1)
            act = self._unit(j).activation
            for k in self.outputs:
                v = self._w(j, k) * hp
                self.da[(k, j)] = v
                self._add("sweep", f"d{S.x(k)}/d{S.x(j)}", f"{S.w(j, k)}*{act}'({S.x(j)})",
                          f"{self._m(self._w(j, k))}*{self._m(hp)}", v, key=f"da({k})/da({j})")
        for j in self.hidden:
            for a, k in enumerate(self.outputs):
                terms = [(b, k2) for b, k2 in enumerate(self.outputs) if J[a, b] != 0]
                s = " + ".join(f"d{S.y(k)}/d{S.x(k2)}*d{S.x(k2)}/d{S.x(j)}" for _, k2 in terms) or "0"
                n = " + ".join(f"{self._m(J[a, b])}*{self._m(self.da[(k2, j)])}" for b, k2 in terms) or "0"
                v = sum(J[a, b] * self.da[(k2, j)] for b, k2 in terms)
                self._add("sweep", f"d{S.y(k)}/d{S.x(j)}", s, n, v, key=f"dy({k})/da({j})")

    # ---- 2. M at the outputs ----------------------------------------------------------------------------
    def _m_outputs(self) -> Any:
        tr, S = self.first_order, self.sym
        K = len(self.outputs)
        obj = Objective(self.net, self.loss, tr.x_input[None], tr.target[None])
        eye = np.eye(K)[:, None, :]
        y = np.array([tr.nodes[o]["y"] for o in self.outputs])
        if tr.fused:
            z = obj.values[obj.seed_node]
            Mo = obj.head.hvp(z, obj.D, eye)[:, 0, :]
        else:
            if self._unit(self.outputs[0]).group is not None:
                raise ConfigError("the step-by-step Hessian takes a softmax output only with cross_entropy "
                                  "(the fused form); use bp.hessian for other losses")
            Hy = self.loss.hvp(y[None], obj.D, eye)[:, 0, :]
            fp = np.array([self._h(o, 1) for o in self.outputs])
            fpp = np.array([self._h(o, 2) for o in self.outputs])
            dEdy = np.array([tr.nodes[o]["dE/dy"] for o in self.outputs])
            Mo = fp[:, None] * Hy * fp[None, :] + np.diag(fpp * dEdy)
            self._Hy, self._fp, self._fpp, self._dEdy = Hy, fp, fpp, dEdy
        self.M = {}
        head = self.loss.fused_head() if tr.fused else None
        rows = tr._loss_rows() if tr.fused else None
        for a, k in enumerate(self.outputs):
            for b, k2 in enumerate(self.outputs):
                same = a == b
                if head is not None:                     # d2E/dx(k)dx(k2) at the logits, as the loss writes it
                    s, n = head.trace_M(k, k2, y[a], y[b], same, rows, S, self._f, self._m) or \
                        (f"d2{S.E}/d{S.x(k)}d{S.x(k2)}", self._m(Mo[a, b]))
                else:
                    act_k, act_k2 = self._unit(k).activation, self._unit(k2).activation
                    s = f"{act_k}'({S.x(k)})*{act_k2}'({S.x(k2)})*d2{S.E}/d{S.y(k)}d{S.y(k2)}"
                    n = f"{self._m(self._fp[a])}*{self._m(self._fp[b])}*{self._m(self._Hy[a, b])}"
                    if same:
                        s += f" + {act_k}''({S.x(k)})*d{S.E}/d{S.y(k)}"
                        n += f" + {self._m(self._fpp[a])}*{self._m(self._dEdy[a])}"
                self.M[(k, k2)] = float(Mo[a, b])
                self._add("M outputs", f"M({S.x(k)},{S.x(k2)})", s, n, Mo[a, b], key=f"M({k},{k2})")

    # ---- 3. M at the hidden units --------------------------------------------------------------------
    def _m_hidden(self) -> None:
        tr, S = self.first_order, self.sym
        O = self.outputs
        for j in self.hidden:
            for j2 in self.hidden:
                act = self._unit(j).activation
                hp, hp2, hpp = self._h(j, 1), self._h(j2, 1), self._h(j, 2)
                pairs = [(k, k2) for k in O for k2 in O if self.M[(k, k2)] != 0]
                s = (f"{act}'({S.x(j)})*{self._unit(j2).activation}'({S.x(j2)})*sum_kk' "
                     f"w_kj*w_k'j'*M_kk'")
                inner = " + ".join(f"{self._m(self._w(j, k))}*{self._m(self._w(j2, k2))}*{self._m(self.M[(k, k2)])}"
                                   for k, k2 in pairs) or "0"
                n = f"{self._m(hp)}*{self._m(hp2)}*({inner})"
                v = hp * hp2 * sum(self._w(j, k) * self._w(j2, k2) * self.M[(k, k2)] for k, k2 in pairs)
                if j == j2:
                    dEdz = tr.nodes[j]["dE/dy"]
                    s = f"{act}''({S.x(j)})*{S.dy(j)} + " + s
                    n = f"{self._m(hpp)}*{self._m(dEdz)} + " + n
                    v = hpp * dEdz + v
                self.M[(j, j2)] = v
                self._add("M hidden", f"M({S.x(j)},{S.x(j2)})", s, n, v, key=f"M({j},{j2})")
        for j in self.hidden:
            for k in O:
                hp = self._h(j, 1)
                terms = [k2 for k2 in O if self.M[(k2, k)] != 0]
                s = f"{self._unit(j).activation}'({S.x(j)})*sum_k' w_k'j*M_k'k"
                n = f"{self._m(hp)}*(" + (" + ".join(f"{self._m(self._w(j, k2))}*{self._m(self.M[(k2, k)])}"
                                                     for k2 in terms) or "0") + ")"
                v = hp * sum(self._w(j, k2) * self.M[(k2, k)] for k2 in terms)
                self.M[(j, k)] = self.M[(k, j)] = v
                self._add("M mixed", f"M({S.x(j)},{S.x(k)})", s, n, v, key=f"M({j},{k})")

    # ---- 4. the Hessian blocks -----------------------------------------------------------------------
    def _params(self) -> list[tuple[int, int, str, str | None]]:
        """(flat index, layer, unit j, source i or None for the bias) of every parameter."""
        lay = self.first_order.layout
        out = []
        for e in lay.edges:
            out.append((e.param, lay.units[e.dst].level, lay.names[e.dst], lay.names[e.src]))
        for j, p in zip(lay.bias_units, lay.bias_param):
            out.append((int(p), lay.units[j].level, lay.names[j], None))
        return sorted(out)

    def _input_of(self, i: str | None) -> tuple[str, float]:
        """x_i or z_j of a source (1 for the bias), symbol and value."""
        if i is None:
            return "1", 1.0
        return self.sym.y(i), self.first_order.nodes[i]["y"]

    def _label(self, p: tuple[int, int, str, str | None]) -> str:
        _, _, j, i = p
        return self.sym.w(i, j) if i is not None else self.sym.b(j)

    def _blocks(self) -> None:
        tr, S = self.first_order, self.sym
        net = self.net
        params = self._params()
        n = net.n_params
        H = np.zeros((n, n))
        reg = net.reg_mask
        rows: dict[str, list[Any]] = {"(a)": [], "(b)": [], "(c)": []}
        for a in range(len(params)):
            for b in range(a, len(params)):
                P, Q = params[a], params[b]
                if P[1] > Q[1]:
                    P, Q = Q, P
                (p, lp, j, i), (q, lq, k, j2) = P, Q
                xs, xv = self._input_of(i)
                zs, zv = self._input_of(j2)
                if lp == lq == 2:
                    block, s = "(a)", f"M({S.x(j)},{S.x(k)})*{xs}*{zs}"
                    num, v = f"{self._m(self.M[(j, k)])}*{self._m(xv)}*{self._m(zv)}", self.M[(j, k)] * xv * zv
                elif lp == lq == 1:
                    block, s = "(b)", f"M({S.x(j)},{S.x(k)})*{xs}*{zs}"
                    num, v = f"{self._m(self.M[(j, k)])}*{self._m(xv)}*{self._m(zv)}", self.M[(j, k)] * xv * zv
                else:                                   # P in the first layer (j, i), Q in the second (k, j2)
                    block = "(c)"
                    s = f"M({S.x(j)},{S.x(k)})*{xs}*{zs}"
                    num = f"{self._m(self.M[(j, k)])}*{self._m(xv)}*{self._m(zv)}"
                    v = self.M[(j, k)] * xv * zv
                    if j2 == j:                         # delta_jj': the second weight leaves unit j itself
                        hp, dk = self._h(j, 1), tr.nodes[k]["dE/dx"]
                        s += f" + {S.dx(k)}*{self._unit(j).activation}'({S.x(j)})*{xs}"
                        num += f" + {self._m(dk)}*{self._m(hp)}*{self._m(xv)}"
                        v += dk * hp * xv
                if p == q and self.loss.l2 and reg[p]:
                    s += " + lambda"
                    num += f" + {self._f(self.loss.l2)}"
                    v += self.loss.l2
                H[p, q] = H[q, p] = v
                qty = f"d2{S.E}/d{self._label(P)}d{self._label(Q)}"
                rows[block].append((qty, s, num, v, f"H[{p},{q}]"))
        for block in ("(a)", "(b)", "(c)"):            # in the order of the note
            for qty, s, num, v, key in rows[block]:
                self._add(f"block {block}", qty, s, num, v, key=key)
        self.H = H
        from .hessian import hessian
        self.H_engine = hessian(net, self.loss, tr.x_input[None], tr.target[None])
        self.max_difference = float(np.max(np.abs(H - self.H_engine))) if n else 0.0

    # ---- text ------------------------------------------------------------------------------------------
    def table(self) -> str:
        """The steps of note 002's Hessian as a text table, section by section.

        Returns
        -------
        str
            The forward sweep, M at the outputs and at the hidden units, then every entry of the blocks
            (a), (b), (c): step, quantity, formula, the formula with numbers, value.

        Examples
        --------
        >>> import backprop as bp
        >>> ht = bp.hessian_trace(bp.MLP([1, 1, 1], seed=0, output="identity"), [1.0], 0.5)
        >>> print(ht.table())
        exact Hessian of one instance, note 002 (loss l2); ...
        -- 1. forward sweep: da_k/da_j = w_kj h'(a_j), dy_k/da_j = sum_k' dy_k/da_k' da_k'/da_j
        ...
        """
        titles = {"sweep": "-- 1. forward sweep: da_k/da_j = w_kj h'(a_j), dy_k/da_j = sum_k' dy_k/da_k' da_k'/da_j",
                  "M outputs": "-- 2. M at the outputs: M_kk' = d2E_n/(da_k da_k')",
                  "M hidden": "-- 3. M backpropagated to the hidden units (002's (**))",
                  "M mixed": "-- 3'. the mixed M_jk = h'(a_j) sum_k' w_k'j M_k'k",
                  "block (a)": "-- 4(a). both weights in the second layer: M_kk' z_j z_j'",
                  "block (b)": "-- 4(b). both weights in the first layer: M_jj' x_i x_i'",
                  "block (c)": "-- 4(c). one weight in each layer: M_jk x_i z_j' + delta_k h'(a_j) delta_jj' x_i"}
        rows = [[str(k + 1), s.quantity, s.symbolic, s.numeric, self._f(s.value)] for k, s in enumerate(self.steps)]
        widths = [min(max(len(r[c]) for r in rows), 70) for c in range(5)]
        out = [f"exact Hessian of one instance, note 002 (loss {self.loss.name}); the first-order pass is "
               "str(self.first_order)", ""]
        phase = None
        for s, r in zip(self.steps, rows):
            if s.phase != phase:
                phase = s.phase
                out.append(titles[phase])
            out.append("  ".join([r[0].rjust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                                  r[3].ljust(widths[3]), r[4].rjust(widths[4])]).rstrip())
        out.append(f"-- assembled into the {self.net.n_params} x {self.net.n_params} Hessian; largest difference "
                   f"from bp.hessian: {self.max_difference:.3g}")
        return "\n".join(out)

    __str__ = table

    def to_html(self, path: str | os.PathLike[str] | None = None, title: str | None = None) -> str:
        """One self-contained HTML page to step through this walk-through, step by step on the network's
        picture: the forward sweep, the M recursion and every entry of blocks (a), (b), (c) (the page of ``Trace.to_html``).

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
        >>> ht = bp.hessian_trace(bp.MLP([2, 2, 1], hidden='tanh', output='identity', seed=0), [0.5, -1.0], [0.2])
        >>> '<svg' in ht.to_html()
        True
        """
        from .trace_page import hessian_page_data, to_html
        return to_html(None, path, title=title, data=hessian_page_data(self))
