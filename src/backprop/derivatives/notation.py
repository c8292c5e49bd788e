"""The symbols of each lecture note, for labelling a trace in the notation a learner is reading.

A trace computes the same numbers whatever the notation; a profile only names them. Every
quantity of a scalar node j (at layer l, position p within its layer) and of an edge i -> j
gets the symbol the note uses for it:

=========  ===================  ==================  =================  ===============  ============
profile    pre-activation       output              weight i -> j      local gradient   loss
=========  ===================  ==================  =================  ===============  ============
"004"      x(j)                 y(j)                w(i,j)             dE/dx(j)         E
"000"      z_j^(l)              a_j^(l), yhat_k     w_{j,i}^(l)        delta_j^(l)      L
"001"      a_j^(l+1)            h_j^(l+1)           W^(l)_{j,i}        delta_j^(l+1)    L
"002"      a_j^(l)              z_j^(l), y_k        w_{j,i}^(l)        delta_j^(l)      E_n
"003"      z_j^(l)              y_j^(l)             w_{i,j}^(l)        dDiv/dz_j^(l)    Div
"cmu"      Z{l-1}[j]            A{l}[j]             W{l-1}[j,i]        dLdZ{l-1}[j]     L
=========  ===================  ==================  =================  ===============  ============

* "004" (computation graph of scalar nodes, the default): nodes by name, x into a node, y out.
* "000" (1-hidden-layer MLP, generalised to deep nets): inputs x_i, net input z, activation a,
  output yhat_k, target y_k, w_ji from unit i to unit j, delta = dL/dz.
* "001" (L-layer vector form): h^(1) = x, a^(k+1) = b^(k) + W^(k) h^(k), h^(k) = g(a^(k)),
  delta^(k) = dL/da^(k).
* "002" (arbitrary feed-forward topology, the two-layer tanh example): a_j = sum_i w_ji z_i,
  z_j = h(a_j), inputs x_i, outputs y_k, targets t_k, biases as w_j0 (z_0 = 1), E_n of pattern n.
* "003" (divergences, forward and backward pass): y^(0) = x, z_j^(k) = sum_i w_ij^(k) y_i^(k-1),
  y_j^(k) = f_k(z_j^(k)), target d, Div; note w_ij runs from i to j.
* "cmu" (the per-layer names of CMU 11-785's autograder, 0-based): A0 = x, Z0 = W0 A0 + b0,
  A1 = f(Z0), ..., with dLdZ0, dLdA0, dLdW0, dLdb0, so a student can compare an implementation
  quantity by quantity (``Trace.compare``).

The layered profiles (all but "004") number units by layer: they need every weighted edge and
every product or max input to go from layer l-1 to layer l.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..registry import Registry


@dataclass(frozen=True)
class Profile:
    """Templates of one note's symbols (fields: n name, l layer, p position from 1, p0 from 0, k = l+1,
    m = l-1; for an edge i -> j: j, i positions from 1 (j0, i0 from 0), src, dst names, l the layer of j).

    Examples
    --------
    >>> get_profile("cmu").name
    'cmu'
    """

    name: str
    note: str
    rules: str
    in_post: str
    pre: str
    post: str
    out_post: str
    w: str
    b: str
    t: str
    E: str
    d_in: str
    d_post: str
    d_out: str
    d_pre: str
    d_w: str
    d_b: str
    layered: bool = True


#: every notation profile by name
PROFILES = Registry("notation")
for _profile in (
    Profile(
        "004", "note 004: the network as a computation graph of scalar nodes in order",
        "x(j) = sum_i w(i,j)*y(i) + b(j), y(j) = f(x(j)); dE/dy(i) = sum_j w(i,j)*dE/dx(j), "
        "dE/dx(j) = f'(x(j))*dE/dy(j), dE/dw(i,j) = y(i)*dE/dx(j)",
        "y({n})", "x({n})", "y({n})", "y({n})", "w({src},{dst})", "b({n})", "t({n})", "E",
        "dE/dy({n})", "dE/dy({n})", "dE/dy({n})", "dE/dx({n})", "dE/dw({src},{dst})", "dE/db({n})", layered=False),
    Profile(
        "000", "note 000: backpropagation in a 1-hidden-layer MLP (w_ji, z, a, local gradients delta), generalised to "
        "deep nets by the layer index (l)",
        "z_j^(l) = sum_i w_ji^(l)*a_i^(l-1) + b_j^(l), a_j^(l) = sigma(z_j^(l)), a^(0) = x; "
        "delta_j^(l) = sigma'(z_j^(l))*sum_k w_kj^(l+1)*delta_k^(l+1), dL/dw_ji^(l) = delta_j^(l)*a_i^(l-1)",
        "x_{p}", "z_{p}^({l})", "a_{p}^({l})", "yhat_{p}", "w_{{{j},{i}}}^({l})", "b_{p}^({l})", "y_{p}", "L",
        "dL/dx_{p}", "dL/da_{p}^({l})", "dL/dyhat_{p}", "delta_{p}^({l})", "dL/dw_{{{j},{i}}}^({l})",
        "dL/db_{p}^({l})"),
    Profile(
        "001", "note 001: the L-layer vector form (h^(1) = x, a^(k+1) = b^(k) + W^(k) h^(k), delta = dL/da)",
        "a^(k+1) = b^(k) + W^(k)*h^(k), h^(k) = g(a^(k)), h^(1) = x; delta^(k) = dL/da^(k) = "
        "(W^(k)^T delta^(k+1)) . g'(a^(k)), dL/dW^(k) = delta^(k+1) h^(k)^T, dL/db^(k) = delta^(k+1)",
        "h_{p}^(1)", "a_{p}^({k})", "h_{p}^({k})", "h_{p}^({k})", "W^({l})_{{{j},{i}}}", "b^({l})_{p}", "y_{p}",
        "L", "dL/dh_{p}^(1)", "dL/dh_{p}^({k})", "dL/dh_{p}^({k})", "delta_{p}^({k})", "dL/dW^({l})_{{{j},{i}}}",
        "dL/db^({l})_{p}"),
    Profile(
        "002", "note 002: error backpropagation for any feed-forward topology (a_j = sum_i w_ji z_i, z_j = h(a_j), "
        "delta_j = dE_n/da_j, biases as w_j0 with z_0 = 1)",
        "a_j = sum_i w_ji*z_i (z_0 = 1 for the bias w_j0), z_j = h(a_j); delta_k = dE_n/da_k at the outputs, "
        "delta_j = h'(a_j)*sum_k w_kj*delta_k, dE_n/dw_ji = delta_j*z_i",
        "x_{p}", "a_{p}^({l})", "z_{p}^({l})", "y_{p}", "w_{{{j},{i}}}^({l})", "w_{{{p},0}}^({l})", "t_{p}",
        "E_n", "dE_n/dx_{p}", "dE_n/dz_{p}^({l})", "dE_n/dy_{p}", "delta_{p}^({l})", "dE_n/dw_{{{j},{i}}}^({l})",
        "dE_n/dw_{{{p},0}}^({l})"),
    Profile(
        "003", "note 003: forward and backward pass with divergences (y^(0) = x, z^(k), y^(k), w_ij from i to j)",
        "z_j^(k) = sum_i w_ij^(k)*y_i^(k-1) + b_j^(k), y_j^(k) = f_k(z_j^(k)); dDiv/dy_i^(k) = "
        "sum_j w_ij^(k+1)*dDiv/dz_j^(k+1), dDiv/dz_i^(k) = f_k'(z_i^(k))*dDiv/dy_i^(k), "
        "dDiv/dw_ij^(k) = y_i^(k-1)*dDiv/dz_j^(k)",
        "y_{p}^(0)", "z_{p}^({l})", "y_{p}^({l})", "y_{p}^({l})", "w_{{{i},{j}}}^({l})", "b_{p}^({l})", "d_{p}",
        "Div", "dDiv/dy_{p}^(0)", "dDiv/dy_{p}^({l})", "dDiv/dy_{p}^({l})", "dDiv/dz_{p}^({l})",
        "dDiv/dw_{{{i},{j}}}^({l})", "dDiv/db_{p}^({l})"),
    Profile(
        "cmu", "the CMU 11-785 autograder's names, per layer and 0-based (A0 = x, Z0 = W0 A0 + b0, A1 = f(Z0), ...)",
        "Z{l} = W{l} A{l} + b{l}, A{l+1} = f(Z{l}), A0 = x; dLdZ{l} = f'(Z{l}) * dLdA{l+1}, "
        "dLdW{l} = dLdZ{l} A{l}^T, dLdb{l} = dLdZ{l}, dLdA{l} = W{l}^T dLdZ{l}",
        "A0[{p0}]", "Z{m}[{p0}]", "A{l}[{p0}]", "A{l}[{p0}]", "W{m}[{j0},{i0}]", "b{m}[{p0}]", "Y[{p0}]", "L",
        "dLdA0[{p0}]", "dLdA{l}[{p0}]", "dLdA{l}[{p0}]", "dLdZ{m}[{p0}]", "dLdW{m}[{j0},{i0}]", "dLdb{m}[{p0}]"),
):
    PROFILES.register(_profile.name, _profile)
NOTATIONS = PROFILES.names()


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (one of NOTATIONS); ConfigError otherwise.

    Parameters
    ----------
    name : str
        One of NOTATIONS.

    Returns
    -------
    Profile

    Examples
    --------
    >>> get_profile("004").name
    '004'
    """
    return PROFILES.get(str(name))


class Symbols:
    """The symbols of one profile for the units and edges of one network layout.

    Parameters
    ----------
    layout : NeuronLayout
        The network's neurons and edges.
    profile : str or Profile
        The notation.

    Examples
    --------
    >>> import backprop as bp
    >>> tr = bp.trace(bp.MLP([2, 3, 1], seed=0, output="identity"), [1.0, 2.0], 0.5)
    >>> S = Symbols(tr.layout, "cmu")
    >>> S.x("h1_1"), S.w("x1", "h1_1")
    ('Z0[0]', 'W0[0,0]')
    """

    def __init__(self, layout: Any, profile: str | Profile) -> None:
        self.layout, self.profile = layout, get_profile(profile) if isinstance(profile, str) else profile
        pr = self.profile
        by_level: dict[Any, Any] = {}
        for j, u in enumerate(layout.units):
            by_level.setdefault(u.level, []).append(j)
        self.level = {u.name: u.level for u in layout.units}
        self.pos = {}
        for units in by_level.values():
            for p, j in enumerate(units):
                self.pos[layout.names[j]] = p
        self.outputs = {layout.names[i] for i in layout.outputs}
        self.inputs = {u.name for u in layout.units if u.kind == "input"}
        if pr.layered:
            self._check_layered()

    def _check_layered(self) -> None:
        lay = self.layout
        for u in lay.units:
            for i in u.inputs:
                if lay.units[i].level != u.level - 1:
                    raise ConfigError(
                        f"notation {self.profile.name!r} names units by layer, but {lay.names[i]} -> {u.name} "
                        f"skips from layer {lay.units[i].level} to layer {u.level}; use notation '004', which "
                        "names every node of any graph")
        last = max(u.level for u in lay.units)
        for n in self.outputs:
            if self.level[n] != last:
                raise ConfigError(f"notation {self.profile.name!r} needs every output on the last layer; "
                                  f"{n} is on layer {self.level[n]}; use notation '004'")

    # ---- fields of the templates ---------------------------------------------------------------------
    def _unit(self, n: str) -> dict[str, Any]:
        l, p = self.level[n], self.pos[n]
        return {"n": n, "l": l, "p": p + 1, "p0": p, "k": l + 1, "m": l - 1}

    def _edge(self, src: str, dst: str) -> dict[str, Any]:
        l = self.level[dst]
        return {"src": src, "dst": dst, "l": l, "m": l - 1, "j": self.pos[dst] + 1, "i": self.pos[src] + 1,
                "j0": self.pos[dst], "i0": self.pos[src]}

    def generic_output(self) -> dict[str, Any]:
        """The symbols of "output k" (index k, on the outputs' layer) as fields x, y, t, E, dx, dy, for
        writing a formula about every output at once in this profile's symbols."""
        pr = self.profile
        l = max(self.level[n] for n in self.outputs) if self.outputs else 0
        u = {"n": "k", "l": l, "p": "k", "p0": "k", "k": l + 1, "m": l - 1}
        return {"x": pr.pre.format(**u), "y": pr.out_post.format(**u), "t": pr.t.format(**u), "E": pr.E,
                "dx": pr.d_pre.format(**u), "dy": pr.d_out.format(**u)}

    # ---- the quantities -----------------------------------------------------------------------------
    def x(self, n: str) -> str:
        """Pre-activation (net input) of unit n."""
        return self.profile.pre.format(**self._unit(n))

    def y(self, n: str) -> str:
        """Output (activation) of unit n."""
        pr = self.profile
        t = pr.in_post if n in self.inputs else pr.out_post if n in self.outputs else pr.post
        return t.format(**self._unit(n))

    def w(self, src: str, dst: str) -> str:
        return self.profile.w.format(**self._edge(src, dst))

    def b(self, n: str) -> str:
        return self.profile.b.format(**self._unit(n))

    def t(self, n: str) -> str:
        """Target of output n (numbered among the outputs)."""
        k = self.layout.outputs.index(self.layout.index[n])
        return self.profile.t.format(**{**self._unit(n), "p": k + 1, "p0": k})

    @property
    def E(self) -> str:
        return self.profile.E

    def dy(self, n: str) -> str:
        pr = self.profile
        t = pr.d_in if n in self.inputs else pr.d_out if n in self.outputs else pr.d_post
        return t.format(**self._unit(n))

    def dx(self, n: str) -> str:
        return self.profile.d_pre.format(**self._unit(n))

    def dw(self, src: str, dst: str) -> str:
        return self.profile.d_w.format(**self._edge(src, dst))

    def db(self, n: str) -> str:
        return self.profile.d_b.format(**self._unit(n))
