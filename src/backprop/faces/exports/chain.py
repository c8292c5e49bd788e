"""A network read as a chain of layers: what PyTorch's nn.Sequential, scikit-learn's MLPs and ONNX's
layered export have in common."""
from __future__ import annotations

from ...errors import ConfigError
from ...ops.dense import Dense
from ...ops.elementwise import Elementwise
from ...ops.softmax import Softmax


def op_name(op) -> str:
    """'dense', 'softmax', an activation's name, or the op's kind."""
    if isinstance(op, Dense):
        return "dense"
    if isinstance(op, Softmax):
        return "softmax"
    if isinstance(op, Elementwise):
        return op.act.name
    return op.describe()


def chain_ops(net, fmt, activations):
    """The ops of a chain network, checked: each a dense layer, an activation in ``activations``, or an op
    whose registered name is in ``activations`` (a layer the format has a module for, e.g. "layer_norm").

    Raises ConfigError naming the first node that ``fmt`` cannot express.
    """
    for j, ix in enumerate(net.inputs):
        if tuple(ix) != (j,):
            raise ConfigError(f"{fmt} holds chains of layers; node {j + 1} ({net.ops[j].describe()}) reads nodes "
                              f"{list(ix)}, not just node {j} (a graph with skip connections or several inputs "
                              "per node)")
    for j, op in enumerate(net.ops):
        if isinstance(op, Dense):
            continue
        name = op_name(op)
        if isinstance(op, Elementwise) and getattr(op.act, "user_defined", False):
            raise ConfigError(f"{fmt} cannot express node {j + 1}: the user-defined activation {name!r} is Python code")
        if isinstance(op, (Elementwise, Softmax)):
            if name in activations:
                continue
        elif op.op_name in activations:       # another layer the format maps by its registered name
            continue
        raise ConfigError(f"{fmt} cannot express node {j + 1} ({op.describe()}); it takes dense layers and the "
                          f"activations {', '.join(activations)}")
    return net.ops
