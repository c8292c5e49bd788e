"""The records a NeuronGraph keeps while it is built: node handles, unit and group specifications."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...ops.activations import ScalarActivation
from ...ops.vector import VectorFunction

if TYPE_CHECKING:
    from .graph import NeuronGraph


def is_node_name(name: object) -> bool:
    """Whether ``name`` can name a node: a non-empty string on one line (no newline, no NUL).

    Parameters
    ----------
    name : object

    Returns
    -------
    bool

    Examples
    --------
    >>> is_node_name("h1"), is_node_name(" "), is_node_name("a" + chr(10) + "b"), is_node_name(3)
    (True, False, False, False)
    """
    return isinstance(name, str) and bool(name.strip()) and "\n" not in name and "\0" not in name


class Node:
    """A handle on a node of a NeuronGraph (its name); accepted wherever a node name is.

    Parameters
    ----------
    graph : NeuronGraph
        The graph the node belongs to.
    name : str
        The node's name.

    Examples
    --------
    >>> import backprop as bp
    >>> g = bp.NeuronGraph()
    >>> x = g.input("x")
    >>> x, str(x)
    (Node('x'), 'x')
    """

    __slots__ = ("graph", "name")

    def __init__(self, graph: NeuronGraph, name: str):
        self.graph, self.name = graph, name

    def __repr__(self) -> str:
        return f"Node({self.name!r})"

    def __str__(self) -> str:
        return self.name


@dataclass
class Spec:
    """One node as the builder records it (see :class:`NeuronGraph`).

    Examples
    --------
    >>> Spec("h", "neuron", 1).inputs
    []
    """

    name: str
    kind: str                       # "input", "neuron", "product", "max"
    order: int                      # declaration order
    act: ScalarActivation | None = None     # None for identity
    bias: bool | float = False      # False, True (initialised 0) or a float (initial value)
    inputs: list[str] = field(default_factory=list)      # product / max: the units read, in order
    exponents: list[float] | None = None
    group: int | None = None
    act_given: bool = False


@dataclass
class GroupSpec:
    """A vector group as the builder records it: its kind, member nodes and (vector) function.

    Examples
    --------
    >>> GroupSpec("softmax", ["o1", "o2"]).fn is None
    True
    """

    kind: str                       # "softmax" or "vector"
    members: list[str]
    fn: VectorFunction | None = None


def is_identity(act: object) -> bool:
    """Whether ``act`` is the identity (None or the built-in "identity").

    Parameters
    ----------
    act : ScalarActivation or None

    Returns
    -------
    bool

    Examples
    --------
    >>> is_identity(None)
    True
    """
    return act is None or (isinstance(act, ScalarActivation) and act.name == "identity")
