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
    hvp, train, save). The extra methods name nodes and edges as the graph did.

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
        """Check the unit names of a network read from a file (``check_unit_names``)."""
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
        """Current weight w of the edge src -> dst."""
        return float(self.params[self.layout.edges[self.layout.find_edge(src, dst)].param])

    def set_weight(self, src: str, dst: str, value: float) -> None:
        """Set the weight of the edge src -> dst."""
        k = self.layout.edges[self.layout.find_edge(src, dst)].param
        value = float(value)
        if not np.isfinite(value):
            raise ConfigError(f"weight must be finite; got {value}")
        self.params[k] = value

    def bias(self, name: str) -> float:
        """Current bias b of a neuron (ConfigError if it has none)."""
        return float(self.params[self._bias_index(name)])

    def set_bias(self, name: str, value: float) -> None:
        """Set the bias of a neuron (ConfigError if it has none or ``value`` is not finite)."""
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
        """A name for every entry of ``params``: 'w[src->dst]' or 'b[node]'."""
        return [self.layout.param_label(k) or f"p[{k}]" for k in range(self.n_params)]

    def locate(self, k: int) -> str:
        """Parameter ``k`` described by its edge or bias (``'w[x->h] (parameter 0)'``)."""
        label = self.layout.param_label(k)
        return f"{label} (parameter {k})" if label else super().locate(k)

    # ---- per-neuron values and derivatives for a batch -----------------------------------------
    def node_values(self, X: ArrayLike) -> dict[str, tuple[NDArray[Any], NDArray[Any]]]:
        """{name: (x_j, y_j)} for every node, arrays of shape (B,) (a forward pass only)."""
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
        """{name: (dE/dy_j, dE/dx_j)} for every node after one backward pass, arrays of shape (B,)."""
        return neuron_pass(self, loss, X, T).node_grads()

    def edge_grads(self, loss: str | Loss, X: ArrayLike, T: ArrayLike) -> dict[tuple[str, str], NDArray[Any]]:
        """{(src, dst): dE/dw_ij per instance} = y_i dE/dx_j, arrays of shape (B,)."""
        return neuron_pass(self, loss, X, T).edge_grads()

    def summary(self) -> str:
        """The network's summary, headed by its counts of inputs, units, edges, outputs and levels."""
        lay = self.layout
        head = (f"NeuronNetwork: {self.n_inputs} inputs, {len(lay.units) - self.n_inputs} units, "
                f"{len(lay.edges)} edges, {len(lay.outputs)} outputs, {self.n_params} parameters, "
                f"{lay.n_levels - 1} levels, {self.dtype.name}")
        return head + "\n" + "\n".join(super().summary().splitlines()[1:])
