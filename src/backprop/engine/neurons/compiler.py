"""The compiler of a NeuronGraph: levels laid out as masked dense, product, max, select and activation ops.

See the package docstring for what each level becomes and for the order of the parameters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Hashable, Sequence

import numpy as np
from numpy.typing import DTypeLike

from ...errors import ConfigError
from ...ops.base import Op
from ...ops.elementwise import Elementwise
from ...ops.masked_dense import MaskedDense
from ...ops.maxunit import MaxUnit
from ...ops.product import Product
from ...ops.segments import Segmented
from ...ops.select import Select
from ...ops.softmax import Softmax
from ...ops.vector import VectorActivation
from .network import NeuronNetwork
from .units import Spec, is_identity

if TYPE_CHECKING:
    from .graph import NeuronGraph

#: a node's place: (level, column)
Loc = dict[str, tuple[int, int]]
#: append an op reading the given network nodes; returns the node it computes
Emit = Callable[[Op, Sequence[int]], int]
#: edges and biases with a given initial value: (op index, local parameter index, value)
Explicit = list[tuple[int, int, float]]


class Compiler:
    """Lay the graph out level by level and emit the ops (see the package docstring of ``engine.neurons``).

    Parameters
    ----------
    graph : NeuronGraph
    level : dict of str -> int
        Each node's level (``levels.node_levels``).

    Examples
    --------
    >>> from backprop.engine.neurons.graph import NeuronGraph
    >>> from backprop.engine.neurons.levels import node_levels
    >>> g = NeuronGraph.mlp([2, 3, 2])
    >>> [op.op_name for op in Compiler(g, node_levels(g)).build(0, np.float64).ops]
    ['masked_dense', 'activation', 'masked_dense', 'softmax']
    """

    def __init__(self, graph: NeuronGraph, level: dict[str, int]):
        self.g, self.level = graph, level
        self.n_levels = 1 + max(level.values())

    def _order_level(self, names: list[str], is_last: bool) -> list[str]:
        """Order one level: neurons, then products, then max units; runs of one activation kept together."""
        g = self.g
        out_pos = {n: k for k, n in enumerate(g._outputs)}
        spec = g._nodes

        def act_key(n: str) -> Hashable:
            s = spec[n]
            assert s.act is not None
            if s.group is not None:
                return ("g", s.group)
            return ("s", s.act.name, tuple(sorted(s.act.params.items())), id(s.act) if getattr(
                s.act, "user_defined", False) else 0)

        first_seen: dict[Hashable, int] = {}
        for n in sorted(names, key=lambda n: spec[n].order):
            first_seen.setdefault(act_key(n), len(first_seen))
        kinds = {"neuron": 0, "product": 1, "max": 2}
        if is_last:       # the output level: follow the output order (keeping each group together)
            def key(n: str) -> tuple[int, ...]:
                s = spec[n]
                grp = min(out_pos[m] for m in g._groups[s.group].members) if s.group is not None else out_pos[n]
                return (kinds[s.kind], grp, out_pos[n])
        else:
            def key(n: str) -> tuple[int, ...]:
                return (kinds[spec[n].kind], first_seen[act_key(n)], spec[n].order)
        return sorted(names, key=key)

    def build(self, seed: int | None, dtype: DTypeLike) -> NeuronNetwork:
        """The compiled network: the ops level by level, the given initial weights and biases set.

        Parameters
        ----------
        seed : int or None
            Seed of the weights drawn.
        dtype : float64 or float32

        Returns
        -------
        NeuronNetwork
        """
        g, spec = self.g, self.g._nodes
        by_level: list[list[str]] = [[] for _ in range(self.n_levels)]
        for n in spec:
            by_level[self.level[n]].append(n)
        # level 0: the inputs, in declaration order = the columns of X
        inputs = by_level[0]
        input_names = list(inputs)
        last_all_outputs = set(by_level[-1]) <= set(g._outputs) and all(
            self.level[o] == self.n_levels - 1 for o in g._outputs)
        loc: Loc = {n: (0, c) for c, n in enumerate(inputs)}        # node -> (level, column)
        level_node = [0]                                       # network node holding each level's y
        level_width = [len(inputs)]
        ops: list[Op] = []
        op_inputs: list[tuple[int, ...]] = []
        explicit: Explicit = []                                        # (op index, local param index, value)

        def emit(op: Op, reads: Sequence[int]) -> int:
            ops.append(op)
            op_inputs.append(tuple(reads))
            return len(ops)                                    # its network node

        for lv in range(1, self.n_levels):
            order = self._order_level(by_level[lv], lv == self.n_levels - 1 and last_all_outputs)
            for c, n in enumerate(order):
                loc[n] = (lv, c)
            parts: list[tuple[int, int]] = []                                       # (network node, width) per kind
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

    def _sources(self, names: Sequence[str], loc: Loc, level_node: list[int], level_width: list[int],
                 reads_of: Callable[[str], list[str]]) -> tuple[list[int], list[int], list[int]]:
        """The earlier levels ``names`` read, in order, and each read's (source index, column)."""
        used = sorted({loc[p][0] for n in names for p in reads_of(n)})
        return used, [level_width[lv] for lv in used], [level_node[lv] for lv in used]

    def _dense(self, neurons: list[str], loc: Loc, level_node: list[int], level_width: list[int],
               input_names: list[str], emit: Emit, explicit: Explicit) -> tuple[int, int]:
        g, spec = self.g, self.g._nodes
        preds: dict[str, list[str]] = {n: [] for n in neurons}
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
        he = all(spec[n].group is None and getattr(spec[n].act, "init", None) == "he" for n in neurons)
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

    def _gathering(self, kind: str, units: list[str], loc: Loc, level_node: list[int], level_width: list[int],
                   input_names: list[str], emit: Emit) -> tuple[int, int]:
        spec = self.g._nodes
        used, widths, nodes = self._sources(units, loc, level_node, level_width, lambda n: spec[n].inputs)
        unit: list[int] = []
        src: list[int] = []
        col: list[int] = []
        alpha: list[float] = []
        for u, n in enumerate(units):
            for k, p in enumerate(spec[n].inputs):
                unit.append(u)
                src.append(used.index(loc[p][0]))
                col.append(loc[p][1])
                if kind == "product":
                    alpha.append((spec[n].exponents or [])[k])
        iname = input_names if 0 in used else None
        op: Op
        if kind == "product":
            op = Product(widths, unit, src, col, alpha, n_units=len(units), names=list(units), input_names=iname)
        else:
            op = MaxUnit(widths, unit, src, col, n_units=len(units), names=list(units), input_names=iname)
        return emit(op, nodes), len(units)

    def _activation(self, order: list[str], keep_identity: bool = False) -> Op | None:
        """The level's activation op: None (all identity), one Elementwise/Softmax/vector op, or Segmented."""
        spec, groups = self.g._nodes, self.g._groups
        runs: list[list[Any]] = []   # [start, stop, key, spec]
        for c, n in enumerate(order):
            s = spec[n]
            key: tuple[Any, ...]
            if s.group is not None:
                key = ("g", s.group)
            else:
                assert s.act is not None
                key = ("s", id(s.act)) if getattr(s.act, "user_defined", False) else \
                    ("s", s.act.name, tuple(sorted(s.act.params.items())))
            if runs and runs[-1][2] == key:
                runs[-1][1] = c + 1
            else:
                runs.append([c, c + 1, key, s])
        segs: list[tuple[int, int, Op]] = []
        for start, stop, key, s in runs:
            width = stop - start
            if key[0] == "g":
                grp = groups[key[1]]
                if len(grp.members) != width:
                    raise ConfigError(f"vector group [{', '.join(grp.members)}] could not be laid out in one run")
                assert grp.kind == "softmax" or grp.fn is not None
                sub: Op = Softmax(width) if grp.kind == "softmax" else VectorActivation(width, grp.fn)
            else:
                sub = Elementwise(width, s.act)
            segs.append((start, stop, sub))
        if not keep_identity and all(isinstance(sub, Elementwise) and is_identity(sub.act) for _, _, sub in segs):
            return None
        if len(segs) == 1:
            return segs[0][2]
        return Segmented(len(order), segs)
