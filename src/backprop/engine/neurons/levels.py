"""Validation of a NeuronGraph and its levels: each node's longest path from an input, cycles refused."""
from __future__ import annotations

from typing import TYPE_CHECKING, Hashable, Iterable

from ...errors import ConfigError

if TYPE_CHECKING:
    from .graph import NeuronGraph

#: {node: the nodes it reads}
Preds = dict[str, list[str]]


def predecessors(graph: NeuronGraph) -> Preds:
    """{node: the nodes it reads} (edge sources, and the inputs of product and max units).

    Parameters
    ----------
    graph : NeuronGraph

    Returns
    -------
    dict of str -> list of str

    Examples
    --------
    >>> import backprop as bp
    >>> g = bp.NeuronGraph()
    >>> x = g.input("x"); h = g.neuron("h"); o = g.neuron("o", output=True)
    >>> g.connect(x, h); g.connect(h, o); g.connect(x, o)
    >>> predecessors(g)
    {'x': [], 'h': ['x'], 'o': ['h', 'x']}
    """
    preds: Preds = {n: [] for n in graph._nodes}
    for s, d in graph._edges:
        preds[d].append(s)
    for n, spec in graph._nodes.items():
        if spec.kind in ("product", "max"):
            preds[n].extend(spec.inputs)
    return preds


def validate(graph: NeuronGraph, preds: Preds) -> None:
    """ConfigError naming the nodes if the graph has no input or output, or a node feeds or is fed by nothing.

    Parameters
    ----------
    graph : NeuronGraph
    preds : dict
        From :func:`predecessors`.

    Examples
    --------
    >>> import backprop as bp
    >>> g = bp.NeuronGraph(); x = g.input("x")
    >>> validate(g, predecessors(g))
    Traceback (most recent call last):
    ...
    backprop.errors.ConfigError: the graph has no output node; mark one with output=True or g.output(node)
    """
    nodes = graph._nodes
    inputs = [n for n, s in nodes.items() if s.kind == "input"]
    if not inputs:
        raise ConfigError("the graph has no input node; add one with g.input(name)")
    if not graph._outputs:
        raise ConfigError("the graph has no output node; mark one with output=True or g.output(node)")
    bad_out = [n for n in graph._outputs if nodes[n].kind == "input"]
    if bad_out:
        raise ConfigError(f"input node(s) {', '.join(bad_out)} cannot be outputs")
    fed: set[str] = set()
    for n, ps in preds.items():
        fed.update(ps)
    unfed = [n for n, s in nodes.items() if s.kind == "neuron" and not preds[n]]
    if unfed:
        outs = [n for n in unfed if n in graph._outputs]
        what = (f"output(s) nobody feeds: {', '.join(outs)}" if outs
                else f"neuron(s) without incoming edges: {', '.join(unfed)}")
        raise ConfigError(f"{what}; connect an earlier node to each")
    dangling = [n for n, s in nodes.items()
                if s.kind != "input" and n not in fed and n not in graph._outputs]
    if dangling:
        raise ConfigError(f"dangling node(s) {', '.join(dangling)}: their output feeds no node and they are "
                          "not outputs; connect them onwards or mark them output=True")
    unused = [n for n in inputs if n not in fed]
    if unused:
        raise ConfigError(f"input node(s) {', '.join(unused)} feed no node; connect them or remove them")


def cycle_message(graph: NeuronGraph, preds: Preds, stuck: Iterable[str]) -> str:
    """Find one cycle among the nodes Kahn's algorithm could not order and describe it.

    Parameters
    ----------
    graph : NeuronGraph
    preds : dict
        From :func:`predecessors`.
    stuck : iterable of str
        The nodes left unordered (each on or after a cycle).

    Returns
    -------
    str
        The cycle as ``"a -> b -> a"``.

    Examples
    --------
    >>> import backprop as bp
    >>> g = bp.NeuronGraph(); x = g.input("x"); a = g.neuron("a"); b = g.neuron("b")
    >>> cycle_message(g, {"x": [], "a": ["x", "b"], "b": ["a"]}, ["a", "b"])
    'b -> a -> b'
    """
    stuck = set(stuck)
    start = min(stuck, key=lambda n: graph._nodes[n].order)
    path: list[str] = []
    seen: dict[str, int] = {}
    n = start
    while n not in seen:          # walk backwards along predecessors that are also stuck
        seen[n] = len(path)
        path.append(n)
        n = next(p for p in preds[n] if p in stuck)
    cycle = path[seen[n]:][::-1]
    return " -> ".join(cycle + [cycle[0]])


def levels(graph: NeuronGraph, preds: Preds) -> dict[str, int]:
    """Topological levels with vector groups contracted to one node; rejects cycles.

    Parameters
    ----------
    graph : NeuronGraph
    preds : dict
        From :func:`predecessors`.

    Returns
    -------
    dict of str -> int
        Each node's level: the longest path from an input.

    Examples
    --------
    >>> import backprop as bp
    >>> g = bp.NeuronGraph()
    >>> x = g.input("x"); h = g.neuron("h"); o = g.neuron("o", output=True)
    >>> g.connect(x, h); g.connect(h, o); g.connect(x, o)
    >>> levels(g, predecessors(g))
    {'x': 0, 'h': 1, 'o': 2}
    """
    nodes = graph._nodes
    sup: dict[str, Hashable] = {n: (("g", s.group) if s.group is not None else n) for n, s in nodes.items()}
    members: dict[Hashable, list[str]] = {}
    for n in nodes:
        members.setdefault(sup[n], []).append(n)
    # a group member may not depend on another member of its group
    for g in graph._groups:
        gs = set(g.members)
        for m in g.members:
            stack, seen = list(preds[m]), set[str]()
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
    succ: dict[Hashable, list[Hashable]] = {s: [] for s in members}
    for s, ps in spreds.items():
        for q in ps:
            succ[q].append(s)
    level: dict[Hashable, int] = {}
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
        raise ConfigError(f"the graph has a cycle: {cycle_message(graph, preds, stuck)}; "
                          "a feed-forward network needs the nodes in order")
    return {n: level[sup[n]] for n in nodes}


def node_levels(graph: NeuronGraph) -> dict[str, int]:
    """Validate the graph; {node: its level} (longest path from an input), the outputs that feed
    nothing moved to the last level.

    Parameters
    ----------
    graph : NeuronGraph

    Returns
    -------
    dict of str -> int

    Examples
    --------
    >>> import backprop as bp
    >>> g = bp.NeuronGraph()
    >>> x = g.input("x"); h = g.neuron("h"); o = g.neuron("o", output=True); p = g.neuron("p", output=True)
    >>> g.connect(x, h); g.connect(x, o); g.connect(h, p)
    >>> node_levels(g)
    {'x': 0, 'h': 1, 'o': 2, 'p': 2}
    """
    preds = predecessors(graph)
    validate(graph, preds)
    level = levels(graph, preds)
    # outputs that feed nothing may wait until the last level: then the network ends with the
    # output level's activation, which the loss can fuse with (softmax + CE, sigmoid + BCE)
    top = max(level.values())
    consumed = {p for ps in preds.values() for p in ps}
    for n in graph._outputs:
        spec = graph._nodes[n]
        members = graph._groups[spec.group].members if spec.group is not None else [n]
        if not any(m in consumed for m in members):
            level[n] = top
    return level
