"""A network read as a chain of layers: what PyTorch's nn.Sequential, scikit-learn's MLPs and ONNX's
layered export have in common."""
from __future__ import annotations

from typing import TYPE_CHECKING, Collection

from ...errors import ConfigError
from ...ops.base import Op
from ...ops.dense import Dense
from ...ops.elementwise import Elementwise
from ...ops.softmax import Softmax

if TYPE_CHECKING:
    from ...engine.network import Network


def op_name(op: Op) -> str:
    """'dense', 'softmax', an activation's name, or the op's kind.

    Parameters
    ----------
    op : Op

    Returns
    -------
    str

    Examples
    --------
    >>> import backprop as bp
    >>> [op_name(op) for op in bp.MLP([2, 3, 2]).ops]
    ['dense', 'tanh', 'dense', 'softmax']
    """
    if isinstance(op, Dense):
        return "dense"
    if isinstance(op, Softmax):
        return "softmax"
    if isinstance(op, Elementwise):
        return op.act.name
    return op.describe()


def chain_ops(net: Network, fmt: str, activations: Collection[str], ops: Collection[str] = ()) -> list[Op]:
    """The ops of a chain network, checked: each a dense layer, an activation in ``activations`` or an op
    whose registered name is in ``ops``.

    Raises ConfigError naming the first node that ``fmt`` cannot express.

    Parameters
    ----------
    net : Network
    fmt : str
        The target format, for messages.
    activations : collection of str
        The activations it can express.
    ops : collection of str, optional
        Further op names it can express.

    Returns
    -------
    list of Op
        ``net.ops``.

    Examples
    --------
    >>> import backprop as bp
    >>> len(chain_ops(bp.MLP([2, 3, 2]), "ONNX", ["tanh", "softmax"]))
    4
    >>> chain_ops(bp.MLP([2, 3, 2], hidden="relu"), "X", ["tanh", "softmax"])
    Traceback (most recent call last):
    ...
    backprop.errors.ConfigError: X cannot express node 2 (relu); it takes dense layers and the activations tanh, softmax
    """
    for j, ix in enumerate(net.inputs):
        if tuple(ix) != (j,):
            raise ConfigError(f"{fmt} holds chains of layers; node {j + 1} ({net.ops[j].describe()}) reads nodes "
                              f"{list(ix)}, not just node {j} (a graph with skip connections or several inputs "
                              "per node)")
    for j, op in enumerate(net.ops):
        if isinstance(op, Dense) or op.op_name in ops:
            continue
        name = op_name(op)
        if isinstance(op, Elementwise) and getattr(op.act, "user_defined", False):
            raise ConfigError(f"{fmt} cannot express node {j + 1}: the user-defined activation {name!r} is Python code")
        if not isinstance(op, (Elementwise, Softmax)) or name not in activations:
            raise ConfigError(f"{fmt} cannot express node {j + 1} ({op.describe()}); it takes dense layers"
                              + "".join(f", {name}" for name in ops) + f" and the activations {', '.join(activations)}")
    ops_: list[Op] = net.ops
    return ops_
