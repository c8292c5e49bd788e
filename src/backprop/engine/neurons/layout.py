"""Any network read as a graph of scalar nodes: which column of which node holds x_j and y_j of every unit.

The engine computes with nodes that hold many units at once (a dense layer, a level of a
compiled neuron graph). ``neuron_layout(net)`` reads the ops of a network and recovers the
picture of the derivation, one scalar node per unit:

    x_j = sum_{i in in(j)} w_ij y_i + b_j,   y_j = f(x_j)

with, for every unit, where x_j and y_j live (network node, column), which flat parameter is
each w_ij and b_j, and which units it reads. It understands dense layers, masked dense levels,
product and max units, column selections and every activation op, so it works for MLPs, for
compiled neuron graphs and for either after saving and loading.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

import numpy as np
from numpy.typing import NDArray

from ...errors import ConfigError
from ...ops.dense import Dense
from ...ops.elementwise import Elementwise
from ...ops.masked_dense import MaskedDense
from ...ops.maxunit import MaxUnit
from ...ops.product import Product
from ...ops.segments import Segmented
from ...ops.select import Select
from ...ops.softmax import Softmax
from ...ops.vector import VectorActivation

if TYPE_CHECKING:
    from ...ops.activations import ScalarActivation
    from ...ops.base import Op
    from ..network import Network

#: where a unit's x or y lives: (network node, column)
At = tuple[int, int]
#: {network node: (unit indices, columns)}
Cols = dict[int, tuple[NDArray[np.intp], NDArray[np.intp]]]


@dataclass
class Unit:
    """One scalar node of the network.

    ``kind`` is "input", "neuron" (weighted sum), "product" or "max". ``inputs`` lists the units it
    reads (for a neuron, one per incoming edge, parallel to ``edges``); ``act`` is its scalar
    activation (None for identity or a group member), ``group`` the index of its vector group.

    Examples
    --------
    >>> Unit("h1", "neuron", (1, 0)).y_at is None
    True
    """

    name: str | None
    kind: str
    x_at: At
    y_at: At | None = None
    activation: str = "identity"
    act: ScalarActivation | None = None
    group: int | None = None
    bias: int | None = None
    inputs: list[int] = field(default_factory=list)
    edges: list[int] = field(default_factory=list)
    exponents: list[float] | None = None
    level: int = 0


@dataclass
class Edge:
    """A weighted edge i -> j: its weight is ``net.params[param]``.

    Examples
    --------
    >>> Edge(0, 2, 5)
    Edge(src=0, dst=2, param=5)
    """

    src: int
    dst: int
    param: int


@dataclass
class Group:
    """Units whose outputs come from one vector activation (softmax or a user function).

    Examples
    --------
    >>> Group([4, 5], "softmax", None).units
    [4, 5]
    """

    units: list[int]
    name: str
    op: Op | None


class NeuronLayout:
    """The scalar-node view of a network (see the module docstring).

    Attributes
    ----------
    units : list of Unit
        In the order they are computed (inputs first).
    edges : list of Edge
        In the order of their weights in ``net.params``.
    outputs : list of int
        The units that make up the network's output, in its column order.
    groups : list of Group

    Examples
    --------
    >>> import backprop as bp
    >>> lay = neuron_layout(bp.MLP([2, 2, 2]))
    >>> lay.names, len(lay.edges), lay.outputs
    (['x1', 'x2', 'h1_1', 'h1_2', 'o1', 'o2'], 8, [4, 5])
    """

    def __init__(self, units: list[Unit], edges: list[Edge], outputs: list[int], groups: list[Group]):
        self.units, self.edges, self.outputs, self.groups = units, edges, outputs, groups
        self.names: list[str] = [u.name for u in units if u.name is not None]
        assert len(self.names) == len(units), "every unit is named (see _default_names)"
        self.index = {name: i for i, name in enumerate(self.names)}
        self.edge_index = {(e.src, e.dst): k for k, e in enumerate(edges)}
        # consumers of every unit: ("edge", edge k) for weighted edges, ("product"/"max", unit j, slot)
        self.consumers: list[list[tuple[Any, ...]]] = [[] for _ in units]
        for k, e in enumerate(edges):
            self.consumers[e.src].append(("edge", k))
        for j, u in enumerate(units):
            if u.kind in ("product", "max"):
                for slot, i in enumerate(u.inputs):
                    self.consumers[i].append((u.kind, j, slot))
        self.src = np.array([e.src for e in edges], dtype=np.intp)
        self.dst = np.array([e.dst for e in edges], dtype=np.intp)
        self.param = np.array([e.param for e in edges], dtype=np.intp)
        self.bias_units = np.array([j for j, u in enumerate(units) if u.bias is not None], dtype=np.intp)
        self.bias_param = np.array([units[j].bias for j in self.bias_units], dtype=np.intp)
        self.x_cols = _by_node([u.x_at for u in units])
        self.y_cols = _by_node([u.y_at or u.x_at for u in units])     # (every y_at is set once read)
        self.n_levels = 1 + max(u.level for u in units)

    def find(self, name: object) -> int:
        """Index of the unit called ``name`` (ConfigError naming the known units otherwise).

        Parameters
        ----------
        name : str or Node

        Returns
        -------
        int

        Examples
        --------
        >>> import backprop as bp
        >>> neuron_layout(bp.MLP([2, 2, 2])).find("h1_2")
        3
        """
        key = getattr(name, "name", name)
        if key not in self.index:
            known = ", ".join(self.names[:20]) + (" ..." if len(self.names) > 20 else "")
            raise ConfigError(f"no node named {key!r}; nodes: {known}")
        return self.index[key]

    def find_edge(self, src: object, dst: object) -> int:
        """Index (in ``edges``) of the weighted edge src -> dst (ConfigError if there is none).

        Parameters
        ----------
        src, dst : str or Node

        Returns
        -------
        int

        Examples
        --------
        >>> import backprop as bp
        >>> neuron_layout(bp.MLP([2, 2, 2])).find_edge("x2", "h1_1")
        1
        """
        i, j = self.find(src), self.find(dst)
        if (i, j) not in self.edge_index:
            raise ConfigError(f"there is no weighted edge {self.names[i]} -> {self.names[j]}")
        return self.edge_index[(i, j)]

    def param_label(self, k: int) -> str | None:
        """Name of flat parameter k ('w[x1->h1]' or 'b[h1]'), or None if it is not an edge or bias."""
        if not hasattr(self, "_labels"):
            labels: dict[int, str] = {}
            for e in self.edges:
                labels[e.param] = f"w[{self.names[e.src]}->{self.names[e.dst]}]"
            for j, p in zip(self.bias_units, self.bias_param):
                labels[int(p)] = f"b[{self.names[j]}]"
            self._labels = labels
        return self._labels.get(int(k))


def _by_node(locs: Sequence[At]) -> Cols:
    """{network node: (unit indices, columns)} for a list of (node, column) locations."""
    out: dict[int, tuple[list[int], list[int]]] = {}
    for u, (node, col) in enumerate(locs):
        out.setdefault(node, ([], []))
        out[node][0].append(u)
        out[node][1].append(col)
    return {n: (np.array(us, dtype=np.intp), np.array(cs, dtype=np.intp)) for n, (us, cs) in out.items()}


def _activation_runs(op: Any) -> list[tuple[int, int, Any]]:
    """(start, stop, activation op) runs of an activation node."""
    if isinstance(op, Segmented):
        return op.segments
    return [(0, op.size, op)]


def neuron_layout(net: Network) -> NeuronLayout:
    """Read ``net`` as scalar nodes; cached on the network.

    Parameters
    ----------
    net : Network

    Returns
    -------
    NeuronLayout

    Raises
    ------
    ConfigError
        If an op has no neuron-level reading (e.g. an activation applied twice to one unit).

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 2, 2])
    >>> neuron_layout(net) is neuron_layout(net)
    True
    """
    cached: NeuronLayout | None = net.__dict__.get("_neuron_layout")
    if cached is not None:
        return cached
    layout = _read(net)
    net.__dict__["_neuron_layout"] = layout
    return layout


def _read(net: Network) -> NeuronLayout:
    units = [Unit(None, "input", (0, c), (0, c)) for c in range(net.n_inputs)]
    cols: dict[int, list[tuple[int, str]]] = {0: [(u, "y") for u in range(net.n_inputs)]}
    edges: list[Edge] = []
    groups: list[Group] = []
    n_layers = 0

    def fail(node: int, op: Any, why: str) -> NoReturn:
        raise ConfigError(f"node {node} ({op.describe()}) cannot be shown as single neurons: {why}")

    def read(node: int, col: int, op: Any, at: int) -> int:
        """The unit whose output a consumer reads at (node, col); a not-yet-activated unit becomes identity."""
        u, role = cols[node][col]
        unit = units[u]
        if role == "x":
            if unit.y_at is None:
                unit.y_at = unit.x_at
            elif unit.y_at != unit.x_at:
                fail(at, op, f"it reads the input x of unit {u} that also has an activation")
        return u

    def name_inputs(op: Any, ix: Sequence[int]) -> None:
        names = getattr(op, "input_names", None)
        if names and 0 in ix:
            for c, nm in enumerate(names[:net.n_inputs]):
                units[c].name = nm

    for j, op in enumerate(net.ops):
        node, ix = j + 1, net.inputs[j]
        off = int(net.offsets[j])
        if isinstance(op, (Dense, MaskedDense)):
            name_inputs(op, ix)
            n_layers += 1
            if isinstance(op, Dense):
                n_in = op.n_in
                src = np.zeros(op.size * n_in, dtype=np.intp)
                row, col = np.repeat(np.arange(op.size), n_in), np.tile(np.arange(n_in), op.size)
                bias_rows = np.arange(op.size)
                n_edges = op.size * n_in
            else:
                src, row, col, bias_rows = op.src, op.row, op.col, op.bias_rows
                n_edges = src.size
            names = getattr(op, "names", None)
            first = len(units)
            for r in range(op.size):
                units.append(Unit(names[r] if names else f"\0h{n_layers}_{r + 1}", "neuron", (node, r)))
            for e in range(n_edges):
                i = read(ix[src[e]], int(col[e]), op, node)
                dst = first + int(row[e])
                units[dst].inputs.append(i)
                units[dst].edges.append(len(edges))
                edges.append(Edge(i, dst, off + e))
            for pos, rb in enumerate(bias_rows):
                units[first + int(rb)].bias = off + n_edges + pos
            cols[node] = [(first + r, "x") for r in range(op.size)]
        elif isinstance(op, (Product, MaxUnit)):
            name_inputs(op, ix)
            names, first = op.names, len(units)
            kind = "product" if isinstance(op, Product) else "max"
            for r in range(op.size):
                units.append(Unit(names[r] if names else f"\0{kind}{first + r}", kind, (node, r)))
            order = np.lexsort((op.slot, op.unit))
            for f in order:
                pu = units[first + int(op.unit[f])]
                pu.inputs.append(read(ix[op.gather.src[f]], int(op.gather.col[f]), op, node))
                if isinstance(op, Product):
                    pu.exponents = (pu.exponents or []) + [float(op.alpha[f])]
            cols[node] = [(first + r, "x") for r in range(op.size)]
        elif isinstance(op, Select):
            cols[node] = [cols[ix[s]][c] for s, c in zip(op.gather.src, op.gather.col)]
        elif isinstance(op, (Elementwise, Softmax, VectorActivation, Segmented)):
            col_units = cols[ix[0]]
            for start, stop, sub in _activation_runs(op):
                gid: int | None = None
                if isinstance(sub, (Softmax, VectorActivation)):
                    gid = len(groups)
                    groups.append(Group([col_units[c][0] for c in range(start, stop)], sub.describe(), sub))
                for c in range(start, stop):
                    ui, role = col_units[c]
                    if role != "x" or units[ui].y_at is not None:
                        fail(node, op, f"unit {ui} already has its output")
                    units[ui].y_at = (node, c)
                    units[ui].group = gid
                    units[ui].activation = sub.describe()
                    units[ui].act = sub.act if isinstance(sub, Elementwise) else None
            cols[node] = [(u, "y") for u, _ in col_units]
        else:
            fail(node, op, "no neuron-level reading of this operation")
    for u in units:
        if u.y_at is None:
            u.y_at = u.x_at
    outputs = [u for u, _ in cols[len(net.ops)]]
    # levels: inputs 0, every other unit one past its deepest input; a group shares its deepest level
    for u in units:
        if u.kind != "input":
            u.level = 1 + max(units[i].level for i in u.inputs) if u.inputs else 1
    for g in groups:
        top = max(units[i].level for i in g.units)
        for i in g.units:
            units[i].level = top
    # outputs that feed nothing are drawn (and computed, in a compiled graph) on the last level
    consumed = {i for u in units for i in u.inputs}
    last = max(u.level for u in units)
    for i in outputs:
        gi = units[i].group
        grp = groups[gi].units if gi is not None else [i]
        if not any(k in consumed for k in grp):
            units[i].level = last
    _default_names(units, outputs)
    return NeuronLayout(units, edges, outputs, groups)


def _default_names(units: list[Unit], outputs: list[int]) -> None:
    """x1.. for inputs, o1.. for outputs, h{layer}_{i} (or product7, max9) for the rest, unless named."""
    for c, u in enumerate(units):
        if u.kind == "input" and u.name is None:
            u.name = f"x{c + 1}"
    for k, i in enumerate(outputs):
        name = units[i].name
        if name is None or name.startswith("\0"):
            units[i].name = f"o{k + 1}"
    for u in units:
        if u.name is not None and u.name.startswith("\0"):
            u.name = u.name[1:]
    seen: set[str | None] = set()
    for u in units:
        if u.name in seen:        # labels from different ops may clash: keep them distinct
            k = 2
            while f"{u.name}#{k}" in seen:
                k += 1
            u.name = f"{u.name}#{k}"
        seen.add(u.name)
