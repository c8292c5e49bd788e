"""The records a NeuronGraph keeps while it is built: node handles, unit and group specifications."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...ops.activations import ScalarActivation
from ...ops.vector import VectorFunction


def is_node_name(name) -> bool:
    """Whether ``name`` can name a node: a non-empty string on one line (no newline, no NUL)."""
    return isinstance(name, str) and bool(name.strip()) and "\n" not in name and "\0" not in name


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
class Spec:
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
class GroupSpec:
    kind: str                       # "softmax" or "vector"
    members: list
    fn: VectorFunction | None = None


def is_identity(act):
    return act is None or (isinstance(act, ScalarActivation) and act.name == "identity")
