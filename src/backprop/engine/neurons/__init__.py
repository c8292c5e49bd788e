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

The package, one job per module:

* ``units``      the builder's records (node handles, unit and group specifications)
* ``graph``      ``NeuronGraph``, the builder
* ``levels``     validation and levels (longest path from an input; cycles refused)
* ``compiler``   levels -> ops (masked dense, product, max, select, activations)
* ``network``    ``NeuronNetwork``, the compiled network, and the check of node names in files
* ``layout``     any network read as scalar nodes (``neuron_layout``)
* ``node_pass``  the forward and backward pass per unit and edge (``neuron_pass``)
"""
from .graph import NeuronGraph
from .layout import Edge, Group, NeuronLayout, Unit, neuron_layout
from .network import NeuronNetwork, check_unit_names
from .node_pass import NeuronPass, neuron_pass
from .units import Node, is_node_name

__all__ = ["NeuronGraph", "NeuronNetwork", "Node", "NeuronLayout", "NeuronPass", "Unit", "Edge", "Group",
           "neuron_layout", "neuron_pass", "check_unit_names", "is_node_name"]
