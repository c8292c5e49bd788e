"""The NeuronGraph builder: inputs, neurons, special units and weighted edges, one at a time."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence, Union

import numpy as np
from numpy.typing import DTypeLike

from ...errors import ConfigError
from ...ops.activations import ScalarActivation, get_activation
from ...ops.softmax import SINGLE_UNIT_MESSAGE
from ...ops.vector import VectorFunction
from .compiler import Compiler
from .levels import node_levels
from .units import GroupSpec, Node, Spec, is_node_name

if TYPE_CHECKING:
    from .network import NeuronNetwork

#: a node, by its handle or its name
NodeRef = Union[Node, str]
#: an activation: a built-in's name (or its description) or a ScalarActivation
Act = Union[str, dict[str, Any], ScalarActivation, None]


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

    def __init__(self) -> None:
        self._nodes: dict[str, Spec] = {}
        self._edges: dict[tuple[str, str], float | None] = {}       # (src, dst) -> initial weight or None
        self._outputs: list[str] = []
        self._groups: list[GroupSpec] = []
        self._auto = 0

    # ---- naming -----------------------------------------------------------------------------
    def _name(self, node: object) -> str:
        name = node.name if isinstance(node, Node) else node
        if not isinstance(name, str):
            raise ConfigError(f"a node is given by its name or the handle from input()/neuron(); got {node!r}")
        if name not in self._nodes:
            raise ConfigError(f"unknown node {name!r}; defined so far: {', '.join(self._nodes) or 'none'}")
        return name

    def _new(self, name: str | None, kind: str, **kw: Any) -> Node:
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
        self._nodes[name] = Spec(name, kind, len(self._nodes), **kw)
        return Node(self, name)

    def _mark_output(self, name: str, output: bool) -> None:
        if output:
            if name in self._outputs:
                raise ConfigError(f"node {name!r} is already an output")
            self._outputs.append(name)

    # ---- nodes ------------------------------------------------------------------------------
    def input(self, name: str | None = None) -> Node:
        """Add an input node (its value is one column of X, in the order the inputs are added).

        Parameters
        ----------
        name : str, optional
            Default ``"input{k}"``.

        Returns
        -------
        Node

        Examples
        --------
        >>> NeuronGraph().input("x1")
        Node('x1')
        """
        return self._new(name, "input")

    def inputs(self, *names: str | None) -> list[Node]:
        """Add several input nodes; ``g.inputs("x1", "x2")``.

        Parameters
        ----------
        *names : str

        Returns
        -------
        list of Node

        Examples
        --------
        >>> NeuronGraph().inputs("x1", "x2")
        [Node('x1'), Node('x2')]
        """
        return [self.input(n) for n in names]

    def neuron(self, name: str | None = None, activation: Act = "identity", *, bias: bool | float = True,
               output: bool = False) -> Node:
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

        Examples
        --------
        >>> g = NeuronGraph()
        >>> g.neuron("h", "relu", bias=0.5)
        Node('h')
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

    def product(self, factors: Iterable[NodeRef], *, name: str | None = None,
                exponents: Sequence[float] | None = None, activation: Act = "identity",
                output: bool = False) -> Node:
        """Add a multiplicative unit x = prod_l y_l^alpha_l of earlier nodes' outputs, then y = f(x).

        ``g.product([a, b])`` is o = y_a y_b. Exponents default to 1; non-integer exponents need
        positive inputs, negative ones non-zero inputs. A node may appear once per product.

        Parameters
        ----------
        factors : list of Node or str
        name : str, optional
        exponents : list of float, optional
        activation : str or ScalarActivation
        output : bool

        Returns
        -------
        Node

        Examples
        --------
        >>> g = NeuronGraph(); a, b = g.inputs("a", "b")
        >>> o = g.product([a, b], name="o", output=True)
        >>> float(g.compile().predict([[3.0, 4.0]])[0, 0])
        12.0
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

    def max(self, inputs: Iterable[NodeRef], *, name: str | None = None, activation: Act = "identity",
            output: bool = False) -> Node:
        """Add a max unit x = max of the inputs' outputs, then y = f(x).

        Subgradient: dE/dy_i = dE/dx for the arg-max input, 0 for the others; ties go to the
        input listed first.

        Parameters
        ----------
        inputs : list of Node or str
        name : str, optional
        activation : str or ScalarActivation
        output : bool

        Returns
        -------
        Node

        Examples
        --------
        >>> g = NeuronGraph(); a, b = g.inputs("a", "b")
        >>> o = g.max([a, b], name="o", output=True)
        >>> float(g.compile().predict([[3.0, 4.0]])[0, 0])
        4.0
        """
        names = [self._name(f) for f in self._as_list(inputs, "inputs")]
        if len(set(names)) != len(names):
            raise ConfigError(f"max lists a node twice ({', '.join(names)})")
        act = get_activation("identity" if activation is None else activation)
        node = self._new(name, "max", act=act, inputs=names)
        self._mark_output(node.name, output)
        return node

    def maxout(self, inputs: Iterable[NodeRef], pieces: int = 2, *, name: str | None = None,
               bias: bool | float = True, output: bool = False) -> Node:
        """Add a maxout unit: ``pieces`` identity neurons fully connected to ``inputs``, and their max.

        The pieces are named ``"{name}.1"``, ``"{name}.2"``, ...; the max node is ``name``.

        Parameters
        ----------
        inputs : list of Node or str
        pieces : int, default 2
        name : str, optional
        bias : bool or float
        output : bool

        Returns
        -------
        Node
            The max node.

        Examples
        --------
        >>> g = NeuronGraph(); x = g.input("x")
        >>> g.maxout([x], 3, name="m", output=True)
        Node('m')
        >>> g.node_names
        ['x', 'm.1', 'm.2', 'm.3', 'm']
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

    def layer(self, prefix: str, n: int, inputs: Iterable[NodeRef], activation: Act = "identity", *,
              bias: bool | float = True, output: bool = False) -> list[Node]:
        """Add ``n`` neurons ``prefix1..prefixn``, each connected to every node in ``inputs``.

        Parameters
        ----------
        prefix : str
        n : int
        inputs : list of Node or str
        activation : str or ScalarActivation
        bias : bool or float
        output : bool

        Returns
        -------
        list of Node

        Examples
        --------
        >>> g = NeuronGraph(); xs = g.inputs("x1", "x2")
        >>> g.layer("h", 2, xs, "tanh")
        [Node('h1'), Node('h2')]
        >>> len(g.edges)
        4
        """
        nodes = [self.neuron(f"{prefix}{k + 1}", activation, bias=bias, output=output) for k in range(n)]
        for dst in nodes:
            for src in inputs:
                self.connect(src, dst)
        return nodes

    @staticmethod
    def _as_list(nodes: Any, what: str) -> list[Any]:
        if isinstance(nodes, (str, Node)) or not hasattr(nodes, "__iter__"):
            raise ConfigError(f"{what} must be a list of nodes; got {nodes!r}")
        nodes = list(nodes)
        if not nodes:
            raise ConfigError(f"{what} must list at least one node")
        return nodes

    # ---- groups -----------------------------------------------------------------------------
    def _group(self, kind: str, members: Iterable[NodeRef], fn: VectorFunction | None = None) -> None:
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
                raise ConfigError(f"node {n!r} has activation {getattr(spec.act, 'name', 'identity')!r}; a {kind} group's members must be "
                                  "identity neurons (the group's function is their activation)")
        if kind == "softmax" and len(names) == 1:
            raise ConfigError(f"softmax group [{names[0]}]: {SINGLE_UNIT_MESSAGE}")
        gid = len(self._groups)
        for n in names:
            self._nodes[n].group = gid
        self._groups.append(GroupSpec(kind, names, fn))

    def softmax_group(self, members: Iterable[NodeRef]) -> None:
        """Make ``members`` (identity neurons) one softmax: y_k = exp(x_k) / sum_l exp(x_l); 2 or more of them.

        Parameters
        ----------
        members : list of Node or str

        Examples
        --------
        >>> g = NeuronGraph(); x = g.input("x")
        >>> outs = g.layer("o", 2, [x], output=True)
        >>> g.softmax_group(outs)
        >>> float(g.compile().predict([[1.0]]).sum())
        1.0
        """
        self._group("softmax", members)

    def vector_group(self, members: Iterable[NodeRef], fn: VectorFunction) -> None:
        """Apply a user vector activation ``fn`` (from ``bp.vector_activation``) to ``members``: y = fn(x).

        Parameters
        ----------
        members : list of Node or str
            Identity neurons.
        fn : VectorFunction

        Examples
        --------
        >>> import backprop as bp
        >>> square = bp.vector_activation("square", lambda z: z * z,
        ...                               jacobian=lambda z, y: 2 * z[:, :, None] * np.eye(z.shape[1]))
        >>> g = NeuronGraph(); x = g.input("x")
        >>> outs = g.layer("o", 2, [x], output=True)
        >>> g.vector_group(outs, square)
        """
        if not isinstance(fn, VectorFunction):
            raise ConfigError(f"vector_group needs a function from bp.vector_activation(...); got {fn!r}")
        self._group("vector", members, fn)

    def output(self, *nodes: NodeRef) -> None:
        """Mark nodes as network outputs (after those already marked, in this order).

        Parameters
        ----------
        *nodes : Node or str

        Examples
        --------
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h"); g.connect(x, h)
        >>> g.output(h)
        >>> g
        <NeuronGraph 1 inputs, 1 units, 1 edges, 1 outputs>
        """
        for n in nodes:
            self._mark_output(self._name(n), True)

    # ---- edges ------------------------------------------------------------------------------
    def connect(self, src: NodeRef, dst: NodeRef, weight: float | None = None) -> None:
        """Add the weighted edge src -> dst (dst must be a neuron); ``weight`` sets its initial value.

        Parameters
        ----------
        src, dst : Node or str
        weight : float, optional
            The initial weight (default: drawn at ``compile``).

        Examples
        --------
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h")
        >>> g.connect(x, h, 0.5)
        >>> g.edges
        [('x', 'h')]
        """
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
    def node_names(self) -> list[str]:
        """The names of the nodes, in the order they were added."""
        return list(self._nodes)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """The edges (src, dst), in the order they were added."""
        return list(self._edges)

    def __repr__(self) -> str:
        n_in = sum(s.kind == "input" for s in self._nodes.values())
        return (f"<NeuronGraph {n_in} inputs, {len(self._nodes) - n_in} units, {len(self._edges)} edges, "
                f"{len(self._outputs)} outputs>")

    @classmethod
    def mlp(cls, sizes: Sequence[int], hidden: Act | Sequence[Act] = "tanh", output: Act = "softmax") -> NeuronGraph:
        """The layered network ``bp.MLP(sizes, hidden, output)`` as a neuron graph.

        Inputs are x1..xd, hidden layer k has units h{k}_1.., outputs are o1..oc; ``output`` may be
        a scalar activation or "softmax" (a softmax group over the outputs).

        Parameters
        ----------
        sizes : list of int
        hidden : str or ScalarActivation, or a list of them (one per hidden layer)
        output : str or ScalarActivation

        Returns
        -------
        NeuronGraph

        Examples
        --------
        >>> NeuronGraph.mlp([2, 3, 2])
        <NeuronGraph 2 inputs, 5 units, 12 edges, 2 outputs>
        """
        sizes = list(sizes)
        if len(sizes) < 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
            raise ConfigError(f"sizes must list at least [n_inputs, n_outputs], all >= 1; got {sizes!r}")
        acts: list[Any] = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden] * (len(sizes) - 2)
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

    def compile(self, seed: int | None = 0, dtype: DTypeLike = np.float64) -> NeuronNetwork:
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

        Examples
        --------
        >>> NeuronGraph.mlp([2, 3, 2]).compile(seed=0).n_params
        17
        """
        return Compiler(self, node_levels(self)).build(seed, dtype)
