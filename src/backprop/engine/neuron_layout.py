"""Where ``neuron_layout`` and ``neuron_pass`` were first importable from; they live in ``engine.neurons``
(``layout``: any network read as scalar nodes; ``node_pass``: the pass per unit and edge)."""
from .neurons.layout import Edge, Group, NeuronLayout, Unit, neuron_layout
from .neurons.node_pass import NeuronPass, neuron_pass

__all__ = ["Edge", "Group", "NeuronLayout", "Unit", "neuron_layout", "NeuronPass", "neuron_pass"]
