"""The compiled neuron graph: a Network that names its nodes and edges, and the check of those names in files."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ...errors import ConfigError, FileFormatError
from ..network import NETWORK_CLASSES, Network
from .layout import NeuronLayout, neuron_layout
from .node_pass import neuron_pass
from .units import is_node_name

if TYPE_CHECKING:
    from ...losses import Loss


def check_unit_names(net: Network, where: str) -> None:
    """Check the node names that the ops of a network read from a file carry; FileFormatError if bad.

    Every op that names its units must give one valid name per unit, every op that names the network
    inputs the same list of ``n_inputs`` valid names, and no name may appear twice in the network.

    Parameters
    ----------
    net : Network
    where : str
        Names the file in messages.

    Examples
    --------
    >>> from backprop.engine.neurons.graph import NeuronGraph
    >>> check_unit_names(NeuronGraph.mlp([2, 3, 2]).compile(), "m.npz")
    """
    seen: set[str] = set()
    input_names: list[str] | None = None
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
        size: int = getattr(op, "size")           # every op sets its width (the base class does not declare it)
        if len(names) != size:
            raise FileFormatError(f"{at} gives {len(names)} unit names for {size} units; expected one per unit")
        for n in names:
            if not is_node_name(n):
                raise FileFormatError(f"{at}: unit name {n!r:.60} is not a non-empty one-line string")
            if n in seen:
                raise FileFormatError(f"{at}: unit name {n!r:.60} appears twice; node names must be unique")
            seen.add(n)


@NETWORK_CLASSES.register("NeuronNetwork")
class NeuronNetwork(Network):
    """A compiled NeuronGraph: a ``Network`` that also answers questions about single neurons.

    Everything that takes a Network takes it (loss_and_grad, check_gradient, jacobian, hessian,
    hvp, train, save). The extra methods name nodes and edges as the graph did. It is usually made by
    ``NeuronGraph.compile``; the examples below use its network ``net``: one input x, one identity neuron h,
    the edge x -> h of weight 2.

    Parameters
    ----------
    n_inputs : int
        Width d of the input node.
    ops : list of Op
        The operations, in order; ``ops[i]`` computes node ``i + 1``.
    inputs : list of tuple of int, optional
        ``inputs[i]`` lists the nodes ``ops[i]`` reads; default: the chain ``(i,)``.
    seed : int or None, default 0
        Seed of the random initialisation.
    dtype : float32 or float64, default float64
        The dtype of the parameters and of every computation.
    params : array, optional
        Initial parameter vector (otherwise initialised from ``seed``).

    Examples
    --------
    >>> from backprop.engine.neurons.graph import NeuronGraph
    >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
    >>> net = g.compile()
    >>> net.edges, net.weight("x", "h"), net.param_names()
    ([('x', 'h')], 2.0, ['w[x->h]', 'b[h]'])
    """

    @classmethod
    def check_loaded(cls, net: Network, where: str) -> None:
        """Check the unit names of a network read from a file (``check_unit_names``).

        Parameters
        ----------
        net : Network
            The network read.
        where : str
            Names the file in messages.

        Raises
        ------
        FileFormatError
            When a name is missing, not a one-line string, or appears twice.

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> NeuronNetwork.check_loaded(NeuronGraph.mlp([2, 3, 2]).compile(), "m.npz")
        """
        check_unit_names(net, where)

    @property
    def layout(self) -> NeuronLayout:
        """The scalar-node view (``NeuronLayout``): units, edges, parameter indices."""
        return neuron_layout(self)

    @property
    def node_names(self) -> list[str]:
        """Every node's name, in the order they are computed (inputs first)."""
        return list(self.layout.names)

    @property
    def input_names(self) -> list[str]:
        """The input nodes' names (the columns of X)."""
        return self.layout.names[:self.n_inputs]

    @property
    def output_names(self) -> list[str]:
        """The output nodes' names (the columns of the prediction)."""
        lay = self.layout
        return [lay.names[i] for i in lay.outputs]

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(src, dst) of every weighted edge, in the order of their weights in ``params``."""
        lay = self.layout
        return [(lay.names[e.src], lay.names[e.dst]) for e in lay.edges]

    def weight(self, src: str, dst: str) -> float:
        """Current weight w of the edge src -> dst.

        Parameters
        ----------
        src, dst : str
            The names of the edge's two nodes.

        Returns
        -------
        float
            Its entry of ``params``.

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> g.compile().weight("x", "h")
        2.0
        """
        return float(self.params[self.layout.edges[self.layout.find_edge(src, dst)].param])

    def set_weight(self, src: str, dst: str, value: float) -> None:
        """Set the weight of the edge src -> dst (its entry of ``params``).

        Parameters
        ----------
        src, dst : str
            The names of the edge's two nodes.
        value : float
            The new weight; ConfigError if it is not finite.

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> net = g.compile()
        >>> net.set_weight("x", "h", -1.5)
        >>> net.weight("x", "h"), net.params.tolist()
        (-1.5, [-1.5, 0.0])
        """
        k = self.layout.edges[self.layout.find_edge(src, dst)].param
        value = float(value)
        if not np.isfinite(value):
            raise ConfigError(f"weight must be finite; got {value}")
        self.params[k] = value

    def bias(self, name: str) -> float:
        """Current bias b of a neuron (ConfigError if it has none).

        Parameters
        ----------
        name : str
            The neuron's name.

        Returns
        -------
        float
            Its entry of ``params``.

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> g.compile().bias("h")
        0.0
        """
        return float(self.params[self._bias_index(name)])

    def set_bias(self, name: str, value: float) -> None:
        """Set the bias of a neuron (ConfigError if it has none or ``value`` is not finite).

        Parameters
        ----------
        name : str
            The neuron's name.
        value : float
            The new bias.

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> net = g.compile()
        >>> net.set_bias("h", 0.5)
        >>> net.bias("h")
        0.5
        """
        value = float(value)
        if not np.isfinite(value):
            raise ConfigError(f"bias must be finite; got {value}")
        self.params[self._bias_index(name)] = value

    def _bias_index(self, name: str) -> int:
        u = self.layout.units[self.layout.find(name)]
        if u.bias is None:
            raise ConfigError(f"node {u.name!r} has no bias")
        return u.bias

    def param_names(self) -> list[str]:
        """A name for every entry of ``params``: 'w[src->dst]' or 'b[node]'.

        Returns
        -------
        list of str
            One name per parameter, in the order of ``params``.

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> g.compile().param_names()
        ['w[x->h]', 'b[h]']
        """
        return [self.layout.param_label(k) or f"p[{k}]" for k in range(self.n_params)]

    def locate(self, k: int) -> str:
        """Parameter ``k`` described by its edge or bias.

        Parameters
        ----------
        k : int
            An index into ``params``.

        Returns
        -------
        str
            ``'w[src->dst] (parameter k)'`` or ``'b[node] (parameter k)'``.

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> g.compile().locate(0)
        'w[x->h] (parameter 0)'
        """
        label = self.layout.param_label(k)
        return f"{label} (parameter {k})" if label else super().locate(k)

    # ---- per-neuron values and derivatives for a batch -----------------------------------------
    def node_values(self, X: ArrayLike) -> dict[str, tuple[NDArray[Any], NDArray[Any]]]:
        """Every node's input x_j and output y_j over a batch (a forward pass only).

        Parameters
        ----------
        X : array_like of shape (B, n_inputs)
            The inputs.

        Returns
        -------
        dict
            ``{name: (x_j, y_j)}``, arrays of shape (B,).

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> g.compile().node_values([[1.0], [0.5]])["h"]
        (array([2., 1.]), array([2., 1.]))
        """
        from ...validation import check_X
        X = check_X(X, self.n_inputs, self.dtype)
        values, _ = self.forward_values(X)
        lay = self.layout
        out = {}
        for name, u in zip(lay.names, lay.units):
            (xn, xc), (yn, yc) = u.x_at, u.y_at or u.x_at          # (a layout sets every y_at)
            out[name] = (values[xn][:, xc], values[yn][:, yc])
        return out

    def node_grads(self, loss: str | Loss, X: ArrayLike, T: ArrayLike) -> dict[str, tuple[NDArray[Any], NDArray[Any]]]:
        """Every node's dE/dy_j and dE/dx_j after one backward pass over a batch.

        Parameters
        ----------
        loss : str or Loss
            The loss E.
        X : array_like of shape (B, n_inputs)
            The inputs.
        T : array_like
            The targets, as for ``loss_and_grad``.

        Returns
        -------
        dict
            ``{name: (dE/dy_j, dE/dx_j)}``, arrays of shape (B,).

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> g.compile().node_grads("l2", [[1.0]], [[0.0]])["h"]      # y = 2, t = 0: dE/dy = y - t
        (array([2.]), array([2.]))
        """
        return neuron_pass(self, loss, X, T).node_grads()

    def edge_grads(self, loss: str | Loss, X: ArrayLike, T: ArrayLike) -> dict[tuple[str, str], NDArray[Any]]:
        """Every edge's dE/dw_ij = y_i dE/dx_j, per instance of a batch.

        Parameters
        ----------
        loss : str or Loss
            The loss E.
        X : array_like of shape (B, n_inputs)
            The inputs.
        T : array_like
            The targets, as for ``loss_and_grad``.

        Returns
        -------
        dict
            ``{(src, dst): dE/dw_ij}``, arrays of shape (B,).

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> g.compile().edge_grads("l2", [[1.0]], [[0.0]])
        {('x', 'h'): array([2.])}
        """
        return neuron_pass(self, loss, X, T).edge_grads()

    def summary(self) -> str:
        """The network's summary, headed by its counts of inputs, units, edges, outputs and levels.

        Returns
        -------
        str
            The head line, then one line per operation as ``Network.summary`` gives them.

        Examples
        --------
        >>> from backprop.engine.neurons.graph import NeuronGraph
        >>> g = NeuronGraph(); x = g.input("x"); h = g.neuron("h", output=True); g.connect(x, h, 2.0)
        >>> print(g.compile().summary())
        NeuronNetwork: 1 inputs, 1 units, 1 edges, 1 outputs, 2 parameters, 1 levels, float64
        ...
        """
        lay = self.layout
        head = (f"NeuronNetwork: {self.n_inputs} inputs, {len(lay.units) - self.n_inputs} units, "
                f"{len(lay.edges)} edges, {len(lay.outputs)} outputs, {self.n_params} parameters, "
                f"{lay.n_levels - 1} levels, {self.dtype.name}")
        return head + "\n" + "\n".join(super().summary().splitlines()[1:])
