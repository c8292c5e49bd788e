"""Networks built node by node: any feed-forward topology of single neurons, compiled to a Network.

The derivation treats a network as a computation graph of scalar nodes in order: the input of
node j is computed from outputs of earlier nodes,

    x_j = sum_{i in in(j)} w_ij y_i + b_j,    y_j = f(x_j)

and an extra terminal node holds the loss E. ``NeuronGraph`` builds such a graph: inputs,
neurons with an activation and an optional bias, weighted edges from any earlier node to any
later one (skip connections too), and the special units: products, max units, maxout, and
vector activations over a group of neurons (softmax or a user function).

``compile`` turns it into a plain ``Network`` that computes level by level (level of a node =
length of the longest path from an input). Every level is ONE masked dense op over the outputs
of the earlier levels it reads, the level's product and max units, and its activations grouped
into consecutive runs, so a pass costs a few matrix operations per level and no Python work per
node or per instance. loss_and_grad, check_gradient, Jacobians, Hessians and training work on
it unchanged.

Parameter order in ``net.params`` (documented, stable): level by level; within a level, first
the weights of the edges into it, grouped by the level they come from (earliest first), each
group row-major over (unit of this level, unit of the source level) and listing only edges that
exist; then the biases of the level's units that have one, in level order. A layered graph
therefore has exactly the parameter layout of ``bp.MLP`` (W row-major, then b, layer by layer).
``net.param_names()`` names every entry (``'w[x1->h1]'``, ``'b[h1]'``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, FileFormatError
from ..ops.activations import ScalarActivation, get_activation
from ..ops.elementwise import Elementwise
from ..ops.masked_dense import MaskedDense
from ..ops.maxunit import MaxUnit
from ..ops.product import Product
from ..ops.segments import Segmented
from ..ops.select import Select
from ..ops.softmax import SINGLE_UNIT_MESSAGE, Softmax
from ..ops.vector import VectorActivation, VectorFunction
from .network import NETWORK_CLASSES, Network
from .neuron_layout import neuron_layout, neuron_pass


def is_node_name(name) -> bool:
    """Whether ``name`` can name a node: a non-empty string on one line (no newline, no NUL)."""
    return isinstance(name, str) and bool(name.strip()) and "\n" not in name and "\0" not in name


def check_unit_names(net, where: str) -> None:
    """Check the node names that the ops of a network read from a file carry; FileFormatError if bad.

    Every op that names its units must give one valid name per unit, every op that names the network
    inputs the same list of ``n_inputs`` valid names, and no name may appear twice in the network.
    """
    seen, input_names = set(), None
    for j, op in enumerate(net.ops):
        at = f"{where}: operation {j + 1} ({op.op_name})"
        given = getattr(op, "input_names", None)
        if given is not None:
            if input_names is None:
                if len(given) != net.n_inputs or not all(is_node_name(n) for n in given):
                    raise FileFormatError(f"{at} names the inputs {given!r:.80}; expected {net.n_inputs} "
                                          "non-empty one-line strings")
                input_names = list(given)
                for n in given:
                    if n in seen:
                        raise FileFormatError(f"{at}: input name {n!r} appears twice; node names must be unique")
                    seen.add(n)
            elif list(given) != input_names:
                raise FileFormatError(f"{at} names the inputs {given!r:.80}; expected the names the earlier "
                                      f"operations gave, {input_names!r:.80}")
        names = getattr(op, "names", None)
        if names is None:
            continue
        if len(names) != op.size:
            raise FileFormatError(f"{at} gives {len(names)} unit names for {op.size} units; expected one per unit")
        for n in names:
            if not is_node_name(n):
                raise FileFormatError(f"{at}: unit name {n!r:.60} is not a non-empty one-line string")
            if n in seen:
                raise FileFormatError(f"{at}: unit name {n!r:.60} appears twice; node names must be unique")
            seen.add(n)


class Node:
    """A handle on a node of a NeuronGraph (its name); accepted wherever a node name is."""

    __slots__ = ("graph", "name")

    def __init__(self, graph, name):
        self.graph, self.name = graph, name

    def __repr__(self):
        return f"Node({self.name!r})"

    def __str__(self):
        return self.name


@dataclass
class _Spec:
    name: str
    kind: str                       # "input", "neuron", "product", "max"
    order: int                      # declaration order
    act: object = None              # ScalarActivation, or None for identity
    bias: object = False            # False, True (initialised 0) or a float (initial value)
    inputs: list = field(default_factory=list)      # product / max: the units read, in order
    exponents: list | None = None
    group: int | None = None
    act_given: bool = False


@dataclass
class _Group:
    kind: str                       # "softmax" or "vector"
    members: list
    fn: VectorFunction | None = None


def _is_identity(act):
    return act is None or (isinstance(act, ScalarActivation) and act.name == "identity")


class NeuronGraph:
    """A feed-forward network built one node and one edge at a time.

    Examples
    --------
    >>> import backprop as bp
    >>> g = bp.NeuronGraph()
    >>> x1, x2 = g.input("x1"), g.input("x2")
    >>> h = g.neuron("h", activation="relu")
    >>> o = g.neuron("o", output=True)
    >>> g.connect(x1, h, 0.5); g.connect(x2, h, -1.0); g.connect(h, o, 2.0); g.connect(x1, o, 1.0)
    >>> net = g.compile(seed=0)
    >>> float(net.predict([[2.0, 0.5]])[0, 0])
    3.0
    """

    def __init__(self):
        self._nodes: dict[str, _Spec] = {}
        self._edges: dict[tuple, object] = {}       # (src, dst) -> initial weight or None
        self._outputs: list[str] = []
        self._groups: list[_Group] = []
        self._auto = 0

    # ---- naming -----------------------------------------------------------------------------
    def _name(self, node) -> str:
        name = node.name if isinstance(node, Node) else node
        if not isinstance(name, str):
            raise ConfigError(f"a node is given by its name or the handle from input()/neuron(); got {node!r}")
        if name not in self._nodes:
            raise ConfigError(f"unknown node {name!r}; defined so far: {', '.join(self._nodes) or 'none'}")
        return name

    def _new(self, name, kind, **kw) -> Node:
        if name is None:
            self._auto += 1
            name = f"{kind}{self._auto}"
            while name in self._nodes:
                self._auto += 1
                name = f"{kind}{self._auto}"
        if not is_node_name(name):
            raise ConfigError(f"a node name must be a non-empty string on one line; got {name!r}")
        if name in self._nodes:
            raise ConfigError(f"a node named {name!r} already exists; node names must be unique")
        self._nodes[name] = _Spec(name, kind, len(self._nodes), **kw)
        return Node(self, name)

    def _mark_output(self, name, output):
        if output:
            if name in self._outputs:
                raise ConfigError(f"node {name!r} is already an output")
            self._outputs.append(name)

    # ---- nodes ------------------------------------------------------------------------------
    def input(self, name=None) -> Node:
        """Add an input node (its value is one column of X, in the order the inputs are added)."""
        return self._new(name, "input")

    def inputs(self, *names) -> list:
        """Add several input nodes; ``g.inputs("x1", "x2")``."""
        return [self.input(n) for n in names]

    def neuron(self, name=None, activation="identity", *, bias=True, output=False) -> Node:
        """Add a neuron: x_j = sum_i w_ij y_i + b_j, y_j = f(x_j).

        Parameters
        ----------
        name : str, optional
        activation : str or ScalarActivation
            "identity" (default), "relu", "leaky_relu", "tanh", "sigmoid", "softplus" or
            ``bp.activation(...)``; for softmax put output neurons in ``softmax_group``.
        bias : bool or float
            True: a bias initialised to 0; False: no bias; a number: a bias with that initial value.
        output : bool
            Whether the neuron is a network output (outputs are ordered as they are declared).

        Returns
        -------
        Node
        """
        if isinstance(activation, str) and activation == "softmax":
            raise ConfigError("softmax is a vector activation over several neurons: create identity neurons "
                              "and call g.softmax_group([...]) on them")
        act = get_activation("identity" if activation is None else activation)
        if not (isinstance(bias, bool) or (isinstance(bias, (int, float, np.floating)) and np.isfinite(bias))):
            raise ConfigError(f"bias must be True, False or a finite number; got {bias!r}")
        node = self._new(name, "neuron", act=act, bias=bias, act_given=activation not in (None, "identity"))
        self._mark_output(node.name, output)
        return node

    def product(self, factors, *, name=None, exponents=None, activation="identity", output=False) -> Node:
        """Add a multiplicative unit x = prod_l y_l^alpha_l of earlier nodes' outputs, then y = f(x).

        ``g.product([a, b])`` is o = y_a y_b. Exponents default to 1; non-integer exponents need
        positive inputs, negative ones non-zero inputs. A node may appear once per product.
        """
        names = [self._name(f) for f in self._as_list(factors, "factors")]
        if len(set(names)) != len(names):
            raise ConfigError(f"product lists a node twice ({', '.join(names)}); use an exponent instead")
        if exponents is None:
            alpha = [1.0] * len(names)
        else:
            alpha = [float(a) for a in exponents]
            if len(alpha) != len(names) or not all(np.isfinite(a) and a != 0 for a in alpha):
                raise ConfigError(f"product needs one finite non-zero exponent per factor; got {list(exponents)!r} "
                                  f"for {len(names)} factors")
        act = get_activation("identity" if activation is None else activation)
        node = self._new(name, "product", act=act, inputs=names, exponents=alpha)
        self._mark_output(node.name, output)
        return node

    def max(self, inputs, *, name=None, activation="identity", output=False) -> Node:
        """Add a max unit x = max of the inputs' outputs, then y = f(x).

        Subgradient: dE/dy_i = dE/dx for the arg-max input, 0 for the others; ties go to the
        input listed first.
        """
        names = [self._name(f) for f in self._as_list(inputs, "inputs")]
        if len(set(names)) != len(names):
            raise ConfigError(f"max lists a node twice ({', '.join(names)})")
        act = get_activation("identity" if activation is None else activation)
        node = self._new(name, "max", act=act, inputs=names)
        self._mark_output(node.name, output)
        return node

    def maxout(self, inputs, pieces=2, *, name=None, bias=True, output=False) -> Node:
        """Add a maxout unit: ``pieces`` identity neurons fully connected to ``inputs``, and their max.

        The pieces are named ``"{name}.1"``, ``"{name}.2"``, ...; the max node is ``name``.
        """
        if not isinstance(pieces, (int, np.integer)) or isinstance(pieces, bool) or pieces < 1:
            raise ConfigError(f"maxout needs pieces >= 1; got {pieces!r}")
        srcs = [self._name(f) for f in self._as_list(inputs, "inputs")]
        if name is None:
            self._auto += 1
            name = f"maxout{self._auto}"
        if name in self._nodes:
            raise ConfigError(f"a node named {name!r} already exists; node names must be unique")
        parts = [self.neuron(f"{name}.{k + 1}", bias=bias) for k in range(pieces)]
        for p in parts:
            for s in srcs:
                self.connect(s, p)
        return self.max(parts, name=name, output=output)

    def layer(self, prefix, n, inputs, activation="identity", *, bias=True, output=False) -> list:
        """Add ``n`` neurons ``prefix1..prefixn``, each connected to every node in ``inputs``."""
        nodes = [self.neuron(f"{prefix}{k + 1}", activation, bias=bias, output=output) for k in range(n)]
        for dst in nodes:
            for src in inputs:
                self.connect(src, dst)
        return nodes

    @staticmethod
    def _as_list(nodes, what):
        if isinstance(nodes, (str, Node)) or not hasattr(nodes, "__iter__"):
            raise ConfigError(f"{what} must be a list of nodes; got {nodes!r}")
        nodes = list(nodes)
        if not nodes:
            raise ConfigError(f"{what} must list at least one node")
        return nodes

    # ---- groups -----------------------------------------------------------------------------
    def _group(self, kind, members, fn=None):
        names = [self._name(m) for m in self._as_list(members, "members")]
        if len(set(names)) != len(names):
            raise ConfigError(f"a {kind} group lists a node twice: {', '.join(names)}")
        for n in names:
            spec = self._nodes[n]
            if spec.kind != "neuron":
                raise ConfigError(f"node {n!r} is {spec.kind!r}; only neurons can join a {kind} group")
            if spec.group is not None:
                raise ConfigError(f"node {n!r} is already in a vector group")
            if spec.act_given:
                raise ConfigError(f"node {n!r} has activation {spec.act.name!r}; a {kind} group's members must be "
                                  "identity neurons (the group's function is their activation)")
        if kind == "softmax" and len(names) == 1:
            raise ConfigError(f"softmax group [{names[0]}]: {SINGLE_UNIT_MESSAGE}")
        gid = len(self._groups)
        for n in names:
            self._nodes[n].group = gid
        self._groups.append(_Group(kind, names, fn))

    def softmax_group(self, members) -> None:
        """Make ``members`` (identity neurons) one softmax: y_k = exp(x_k) / sum_l exp(x_l); 2 or more of them."""
        self._group("softmax", members)

    def vector_group(self, members, fn) -> None:
        """Apply a user vector activation ``fn`` (from ``bp.vector_activation``) to ``members``: y = fn(x)."""
        if not isinstance(fn, VectorFunction):
            raise ConfigError(f"vector_group needs a function from bp.vector_activation(...); got {fn!r}")
        self._group("vector", members, fn)

    def output(self, *nodes) -> None:
        """Mark nodes as network outputs (after those already marked, in this order)."""
        for n in nodes:
            self._mark_output(self._name(n), True)

    # ---- edges ------------------------------------------------------------------------------
    def connect(self, src, dst, weight=None) -> None:
        """Add the weighted edge src -> dst (dst must be a neuron); ``weight`` sets its initial value."""
        s, d = self._name(src), self._name(dst)
        kind = self._nodes[d].kind
        if kind == "input":
            raise ConfigError(f"edge {s} -> {d}: {d!r} is an input node; nothing can feed an input")
        if kind != "neuron":
            raise ConfigError(f"edge {s} -> {d}: {d!r} is a {kind} unit, which reads its inputs unweighted "
                              "(they are fixed when it is created)")
        if s == d:
            raise ConfigError(f"edge {s} -> {d} is a cycle: a node cannot feed itself")
        if (s, d) in self._edges:
            raise ConfigError(f"duplicate edge {s} -> {d}: each pair of nodes has at most one weight")
        if weight is not None:
            weight = float(weight)
            if not np.isfinite(weight):
                raise ConfigError(f"edge {s} -> {d}: weight must be finite; got {weight}")
        self._edges[(s, d)] = weight

    edge = connect

    # ---- description ------------------------------------------------------------------------
    @property
    def node_names(self) -> list:
        return list(self._nodes)

    @property
    def edges(self) -> list:
        return list(self._edges)

    def __repr__(self):
        n_in = sum(s.kind == "input" for s in self._nodes.values())
        return (f"<NeuronGraph {n_in} inputs, {len(self._nodes) - n_in} units, {len(self._edges)} edges, "
                f"{len(self._outputs)} outputs>")

    @classmethod
    def mlp(cls, sizes, hidden="tanh", output="softmax") -> "NeuronGraph":
        """The layered network ``bp.MLP(sizes, hidden, output)`` as a neuron graph.

        Inputs are x1..xd, hidden layer k has units h{k}_1.., outputs are o1..oc; ``output`` may be
        a scalar activation or "softmax" (a softmax group over the outputs).
        """
        sizes = list(sizes)
        if len(sizes) < 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
            raise ConfigError(f"sizes must list at least [n_inputs, n_outputs], all >= 1; got {sizes!r}")
        acts = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden] * (len(sizes) - 2)
        if len(acts) != len(sizes) - 2:
            raise ConfigError(f"hidden lists {len(acts)} activations for {len(sizes) - 2} hidden layers")
        g = cls()
        prev = g.inputs(*[f"x{i + 1}" for i in range(sizes[0])])
        for k, act in enumerate(acts):
            prev = g.layer(f"h{k + 1}_", sizes[k + 1], prev, act)
        soft = isinstance(output, str) and output == "softmax"
        outs = g.layer("o", sizes[-1], prev, "identity" if soft else output, output=True)
        if soft:
            g.softmax_group(outs)
        return g

    # ---- validation and compilation ----------------------------------------------------------
    def _preds(self):
        preds = {n: [] for n in self._nodes}
        for s, d in self._edges:
            preds[d].append(s)
        for n, spec in self._nodes.items():
            if spec.kind in ("product", "max"):
                preds[n].extend(spec.inputs)
        return preds

    def _validate(self, preds):
        nodes = self._nodes
        inputs = [n for n, s in nodes.items() if s.kind == "input"]
        if not inputs:
            raise ConfigError("the graph has no input node; add one with g.input(name)")
        if not self._outputs:
            raise ConfigError("the graph has no output node; mark one with output=True or g.output(node)")
        bad_out = [n for n in self._outputs if nodes[n].kind == "input"]
        if bad_out:
            raise ConfigError(f"input node(s) {', '.join(bad_out)} cannot be outputs")
        fed = set()
        for n, ps in preds.items():
            fed.update(ps)
        unfed = [n for n, s in nodes.items() if s.kind == "neuron" and not preds[n]]
        if unfed:
            outs = [n for n in unfed if n in self._outputs]
            what = (f"output(s) nobody feeds: {', '.join(outs)}" if outs
                    else f"neuron(s) without incoming edges: {', '.join(unfed)}")
            raise ConfigError(f"{what}; connect an earlier node to each")
        dangling = [n for n, s in nodes.items()
                    if s.kind != "input" and n not in fed and n not in self._outputs]
        if dangling:
            raise ConfigError(f"dangling node(s) {', '.join(dangling)}: their output feeds no node and they are "
                              "not outputs; connect them onwards or mark them output=True")
        unused = [n for n in inputs if n not in fed]
        if unused:
            raise ConfigError(f"input node(s) {', '.join(unused)} feed no node; connect them or remove them")

    def _cycle_message(self, preds, stuck):
        """Find one cycle among the nodes Kahn's algorithm could not order and describe it."""
        stuck = set(stuck)
        start = min(stuck, key=lambda n: self._nodes[n].order)
        path, seen, n = [], {}, start
        while n not in seen:          # walk backwards along predecessors that are also stuck
            seen[n] = len(path)
            path.append(n)
            n = next(p for p in preds[n] if p in stuck)
        cycle = path[seen[n]:][::-1]
        return " -> ".join(cycle + [cycle[0]])

    def _levels(self, preds):
        """Topological levels with vector groups contracted to one node; rejects cycles."""
        nodes = self._nodes
        sup = {n: (("g", s.group) if s.group is not None else n) for n, s in nodes.items()}
        members = {}
        for n in nodes:
            members.setdefault(sup[n], []).append(n)
        # a group member may not depend on another member of its group
        for g in self._groups:
            gs = set(g.members)
            for m in g.members:
                stack, seen = list(preds[m]), set()
                while stack:
                    p = stack.pop()
                    if p in gs:
                        raise ConfigError(f"vector group [{', '.join(g.members)}]: member {m!r} depends on member "
                                          f"{p!r}; members of one group must not feed each other")
                    if p not in seen:
                        seen.add(p)
                        stack.extend(preds[p])
        spreds = {s: {sup[p] for m in ms for p in preds[m]} for s, ms in members.items()}
        indeg = {s: len(ps) for s, ps in spreds.items()}
        succ = {s: [] for s in members}
        for s, ps in spreds.items():
            for p in ps:
                succ[p].append(s)
        level = {}
        ready = [s for s, k in indeg.items() if k == 0]
        for s in ready:
            level[s] = 0
        while ready:
            s = ready.pop()
            for t in succ[s]:
                indeg[t] -= 1
                if indeg[t] == 0:
                    level[t] = 1 + max(level[p] for p in spreds[t])
                    ready.append(t)
        if len(level) != len(members):
            stuck = [n for n in nodes if sup[n] not in level]
            raise ConfigError(f"the graph has a cycle: {self._cycle_message(preds, stuck)}; "
                              "a feed-forward network needs the nodes in order")
        return {n: level[sup[n]] for n in nodes}

    def compile(self, seed=0, dtype=np.float64) -> "NeuronNetwork":
        """Validate the graph and compile it to a ``NeuronNetwork`` (a ``Network``).

        Parameters
        ----------
        seed : int or None
            Seed of the initial weights of edges without a given weight (Glorot uniform, or He normal
            for levels of relu-like units, with the fan-in of each unit).
        dtype : float64 or float32

        Returns
        -------
        NeuronNetwork

        Raises
        ------
        ConfigError
            Naming the nodes involved: a cycle, a dangling node, an output nobody feeds, an unused input.
        """
        preds = self._preds()
        self._validate(preds)
        level = self._levels(preds)
        # outputs that feed nothing may wait until the last level: then the network ends with the
        # output level's activation, which the loss can fuse with (softmax + CE, sigmoid + BCE)
        top = max(level.values())
        consumed = {p for ps in preds.values() for p in ps}
        for n in self._outputs:
            spec = self._nodes[n]
            members = self._groups[spec.group].members if spec.group is not None else [n]
            if not any(m in consumed for m in members):
                level[n] = top
        return _Compiler(self, level).build(seed, dtype)


# ---- the compiler ------------------------------------------------------------------------------------

class _Compiler:
    """Lay the graph out level by level and emit the ops (see the module docstring)."""

    def __init__(self, graph: NeuronGraph, level: dict):
        self.g, self.level = graph, level
        self.n_levels = 1 + max(level.values())

    def _order_level(self, names, is_last):
        """Order one level: neurons, then products, then max units; runs of one activation kept together."""
        g = self.g
        out_pos = {n: k for k, n in enumerate(g._outputs)}
        spec = g._nodes

        def act_key(n):
            s = spec[n]
            if s.group is not None:
                return ("g", s.group)
            return ("s", s.act.name, tuple(sorted(s.act.params.items())), id(s.act) if getattr(
                s.act, "user_defined", False) else 0)

        first_seen = {}
        for n in sorted(names, key=lambda n: spec[n].order):
            first_seen.setdefault(act_key(n), len(first_seen))
        kinds = {"neuron": 0, "product": 1, "max": 2}
        if is_last:       # the output level: follow the output order (keeping each group together)
            def key(n):
                s = spec[n]
                grp = min(out_pos[m] for m in g._groups[s.group].members) if s.group is not None else out_pos[n]
                return (kinds[s.kind], grp, out_pos[n])
        else:
            def key(n):
                return (kinds[spec[n].kind], first_seen[act_key(n)], spec[n].order)
        return sorted(names, key=key)

    def build(self, seed, dtype):
        g, spec = self.g, self.g._nodes
        by_level = [[] for _ in range(self.n_levels)]
        for n in spec:
            by_level[self.level[n]].append(n)
        # level 0: the inputs, in declaration order = the columns of X
        inputs = by_level[0]
        input_names = list(inputs)
        last_all_outputs = set(by_level[-1]) <= set(g._outputs) and all(
            self.level[o] == self.n_levels - 1 for o in g._outputs)
        loc = {n: (0, c) for c, n in enumerate(inputs)}        # node -> (level, column)
        level_node = [0]                                       # network node holding each level's y
        level_width = [len(inputs)]
        ops, op_inputs = [], []
        explicit = []                                          # (op index, local param index, value)

        def emit(op, reads):
            ops.append(op)
            op_inputs.append(tuple(reads))
            return len(ops)                                    # its network node

        for lv in range(1, self.n_levels):
            order = self._order_level(by_level[lv], lv == self.n_levels - 1 and last_all_outputs)
            for c, n in enumerate(order):
                loc[n] = (lv, c)
            parts = []                                         # (network node, width) per kind
            neurons = [n for n in order if spec[n].kind == "neuron"]
            prods = [n for n in order if spec[n].kind == "product"]
            maxes = [n for n in order if spec[n].kind == "max"]
            if neurons:
                parts.append(self._dense(neurons, loc, level_node, level_width, input_names, emit, explicit))
            for kind, units in (("product", prods), ("max", maxes)):
                if units:
                    parts.append(self._gathering(kind, units, loc, level_node, level_width, input_names, emit))
            if len(parts) == 1:
                x_node = parts[0][0]
            else:
                x_node = emit(Select([w for _, w in parts], np.repeat(np.arange(len(parts)), [w for _, w in parts]),
                                     np.concatenate([np.arange(w) for _, w in parts])), [p for p, _ in parts])
            # the output level always gets its activation op, identity too (as bp.MLP has)
            act_op = self._activation(order, keep_identity=lv == self.n_levels - 1)
            y_node = x_node if act_op is None else emit(act_op, [x_node])
            level_node.append(y_node)
            level_width.append(len(order))
        # the network output: the output units in declared order
        outs = g._outputs
        last = self.n_levels - 1
        if not (last_all_outputs and [loc[o] for o in outs] == [(last, c) for c in range(len(outs))]
                and level_width[last] == len(outs)):
            used = sorted({loc[o][0] for o in outs})
            src = [used.index(loc[o][0]) for o in outs]
            emit(Select([level_width[lv] for lv in used], src, [loc[o][1] for o in outs]),
                 [level_node[lv] for lv in used])
        net = NeuronNetwork(len(inputs), ops, op_inputs, seed=seed, dtype=dtype)
        for j, k, value in explicit:
            net.params[int(net.offsets[j]) + k] = value
        return net

    def _sources(self, names, loc, level_node, level_width, reads_of):
        """The earlier levels ``names`` read, in order, and each read's (source index, column)."""
        used = sorted({loc[p][0] for n in names for p in reads_of(n)})
        return used, [level_width[lv] for lv in used], [level_node[lv] for lv in used]

    def _dense(self, neurons, loc, level_node, level_width, input_names, emit, explicit):
        g, spec = self.g, self.g._nodes
        preds = {n: [] for n in neurons}
        for (s, d), w in g._edges.items():
            if d in preds:
                preds[d].append(s)
        used, widths, nodes = self._sources(neurons, loc, level_node, level_width, lambda n: preds[n])
        row_of = {n: r for r, n in enumerate(neurons)}
        # edge order: by source level, then row-major (unit of this level, unit of the source level)
        edges = sorted(((used.index(loc[s][0]), row_of[d], loc[s][1], s, d)
                        for d in neurons for s in preds[d]))
        src = [e[0] for e in edges]
        row = [e[1] for e in edges]
        col = [e[2] for e in edges]
        bias_rows = [r for r, n in enumerate(neurons) if spec[n].bias is not False]
        he = all(spec[n].group is None and spec[n].act.init == "he" for n in neurons)
        op = MaskedDense(widths, len(neurons), src, row, col, bias_rows, init="he" if he else "glorot",
                         names=list(neurons), input_names=input_names if 0 in used else None)
        node = emit(op, nodes)
        j = node - 1
        for k, e in enumerate(edges):
            w = g._edges[(e[3], e[4])]
            if w is not None:
                explicit.append((j, k, w))
        for pos, r in enumerate(bias_rows):
            b = spec[neurons[r]].bias
            if b is not True:
                explicit.append((j, len(edges) + pos, float(b)))
        return node, len(neurons)

    def _gathering(self, kind, units, loc, level_node, level_width, input_names, emit):
        spec = self.g._nodes
        used, widths, nodes = self._sources(units, loc, level_node, level_width, lambda n: spec[n].inputs)
        unit, src, col, alpha = [], [], [], []
        for u, n in enumerate(units):
            for k, p in enumerate(spec[n].inputs):
                unit.append(u)
                src.append(used.index(loc[p][0]))
                col.append(loc[p][1])
                if kind == "product":
                    alpha.append(spec[n].exponents[k])
        iname = input_names if 0 in used else None
        if kind == "product":
            op = Product(widths, unit, src, col, alpha, n_units=len(units), names=list(units), input_names=iname)
        else:
            op = MaxUnit(widths, unit, src, col, n_units=len(units), names=list(units), input_names=iname)
        return emit(op, nodes), len(units)

    def _activation(self, order, keep_identity=False):
        """The level's activation op: None (all identity), one Elementwise/Softmax/vector op, or Segmented."""
        spec, groups = self.g._nodes, self.g._groups
        runs = []                    # [start, stop, key, op factory]
        for c, n in enumerate(order):
            s = spec[n]
            if s.group is not None:
                key = ("g", s.group)
            else:
                key = ("s", id(s.act)) if getattr(s.act, "user_defined", False) else \
                    ("s", s.act.name, tuple(sorted(s.act.params.items())))
            if runs and runs[-1][2] == key:
                runs[-1][1] = c + 1
            else:
                runs.append([c, c + 1, key, s])
        segs = []
        for start, stop, key, s in runs:
            width = stop - start
            if key[0] == "g":
                grp = groups[key[1]]
                if len(grp.members) != width:
                    raise ConfigError(f"vector group [{', '.join(grp.members)}] could not be laid out in one run")
                sub = Softmax(width) if grp.kind == "softmax" else VectorActivation(width, grp.fn)
            else:
                sub = Elementwise(width, s.act)
            segs.append((start, stop, sub))
        if not keep_identity and all(isinstance(sub, Elementwise) and _is_identity(sub.act) for _, _, sub in segs):
            return None
        if len(segs) == 1:
            return segs[0][2]
        return Segmented(len(order), segs)


# ---- the compiled network ---------------------------------------------------------------------------

@NETWORK_CLASSES.register("NeuronNetwork")
class NeuronNetwork(Network):
    """A compiled NeuronGraph: a ``Network`` that also answers questions about single neurons.

    Everything that takes a Network takes it (loss_and_grad, check_gradient, jacobian, hessian,
    hvp, train, save). The extra methods name nodes and edges as the graph did.
    """

    @classmethod
    def check_loaded(cls, net, where: str) -> None:
        check_unit_names(net, where)

    @property
    def layout(self):
        """The scalar-node view (``NeuronLayout``): units, edges, parameter indices."""
        return neuron_layout(self)

    @property
    def node_names(self) -> list:
        return list(self.layout.names)

    @property
    def input_names(self) -> list:
        return self.layout.names[:self.n_inputs]

    @property
    def output_names(self) -> list:
        lay = self.layout
        return [lay.names[i] for i in lay.outputs]

    @property
    def edges(self) -> list:
        """(src, dst) of every weighted edge, in the order of their weights in ``params``."""
        lay = self.layout
        return [(lay.names[e.src], lay.names[e.dst]) for e in lay.edges]

    def weight(self, src, dst) -> float:
        """Current weight w of the edge src -> dst."""
        return float(self.params[self.layout.edges[self.layout.find_edge(src, dst)].param])

    def set_weight(self, src, dst, value) -> None:
        """Set the weight of the edge src -> dst."""
        k = self.layout.edges[self.layout.find_edge(src, dst)].param
        value = float(value)
        if not np.isfinite(value):
            raise ConfigError(f"weight must be finite; got {value}")
        self.params[k] = value

    def bias(self, name) -> float:
        """Current bias b of a neuron (ConfigError if it has none)."""
        return float(self.params[self._bias_index(name)])

    def set_bias(self, name, value) -> None:
        value = float(value)
        if not np.isfinite(value):
            raise ConfigError(f"bias must be finite; got {value}")
        self.params[self._bias_index(name)] = value

    def _bias_index(self, name):
        u = self.layout.units[self.layout.find(name)]
        if u.bias is None:
            raise ConfigError(f"node {u.name!r} has no bias")
        return u.bias

    def param_names(self) -> list:
        """A name for every entry of ``params``: 'w[src->dst]' or 'b[node]'."""
        return [self.layout.param_label(k) or f"p[{k}]" for k in range(self.n_params)]

    def locate(self, k: int) -> str:
        label = self.layout.param_label(k)
        return f"{label} (parameter {k})" if label else super().locate(k)

    # ---- per-neuron values and derivatives for a batch -----------------------------------------
    def node_values(self, X) -> dict:
        """{name: (x_j, y_j)} for every node, arrays of shape (B,) (a forward pass only)."""
        from ..validation import check_X
        X = check_X(X, self.n_inputs, self.dtype)
        values, _ = self.forward_values(X)
        lay = self.layout
        return {u.name: (values[u.x_at[0]][:, u.x_at[1]], values[u.y_at[0]][:, u.y_at[1]]) for u in lay.units}

    def node_grads(self, loss, X, T) -> dict:
        """{name: (dE/dy_j, dE/dx_j)} for every node after one backward pass, arrays of shape (B,)."""
        return neuron_pass(self, loss, X, T).node_grads()

    def edge_grads(self, loss, X, T) -> dict:
        """{(src, dst): dE/dw_ij per instance} = y_i dE/dx_j, arrays of shape (B,)."""
        return neuron_pass(self, loss, X, T).edge_grads()

    def summary(self) -> str:
        lay = self.layout
        head = (f"NeuronNetwork: {self.n_inputs} inputs, {len(lay.units) - self.n_inputs} units, "
                f"{len(lay.edges)} edges, {len(lay.outputs)} outputs, {self.n_params} parameters, "
                f"{lay.n_levels - 1} levels, {self.dtype.name}")
        return head + "\n" + "\n".join(super().summary().splitlines()[1:])
