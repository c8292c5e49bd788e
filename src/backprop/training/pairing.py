"""Which outputs a loss can be computed on: the rule, in one place, checked before training starts.

Each loss is a divergence of the network's output y, and each declares what it needs of y (its ``needs``,
one of ``KINDS``): ``bce`` a probability in (0, 1), ``cross_entropy`` a distribution in every row,
``poisson`` a positive mean count, ``l2`` and ``huber`` any real y.

What an output can be is read off the op that computes it: a softmax gives distributions, an affine
map any real number, and an elementwise activation whatever its f gives over a range of inputs
(sigmoid: (0, 1); exp, softplus: > 0; relu: >= 0; tanh, identity: negative values too).
A pairing whose output cannot meet the loss's need is refused with a message saying what to use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..losses import LOSSES, loss_class
from ..ops.dense import Dense
from ..ops.elementwise import Elementwise
from ..ops.masked_dense import MaskedDense
from ..ops.select import Select
from ..ops.softmax import Softmax

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..losses import Loss


#: what an output can be, from the least to the most constrained
KINDS = ("real", "nonnegative", "positive", "probability", "distribution")

_WHAT = {
    "real": "any real number",
    "nonnegative": "a number >= 0",
    "positive": "a number > 0",
    "probability": "a probability in (0, 1)",
    "distribution": "a probability distribution (entries > 0 summing to 1 in every row)",
}

# what each loss needs of its input y is its ``needs`` declaration (losses.py), and the output that meets
# it (with which the loss is evaluated on the logits, exactly) its ``advice``.


def _fits(have: Sequence[str]) -> str:
    """The losses that suit an output of kind ``have``, for the advice to keep the output and change the loss."""
    names = [name for name, member in LOSSES.items()
             if member is loss_class(name) and member.needs in (have, "real")]
    quoted = [f"{n!r}" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


# inputs at which an elementwise activation is probed: wide enough to show its range, narrow enough
# that no built-in activation saturates to exactly 0 or 1 in float64
_PROBE = np.linspace(-30.0, 30.0, 241)[None, :]


def _activation_kind(act: Any) -> str | None:
    """The kind of values activation ``act`` gives over the probe inputs, or None if it cannot say."""
    try:
        with np.errstate(all="ignore"):
            y = np.asarray(act.f(_PROBE.copy()), dtype=float)
    except (TypeError, ValueError, ArithmeticError):
        return None
    if y.shape != _PROBE.shape or not np.isfinite(y).all():
        return None
    if y.min() > 0:
        return "probability" if y.max() < 1 else "positive"
    return "nonnegative" if y.min() == 0 else "real"


def output_kind(net: Network, node: int | None = None) -> str | None:
    """What the values of ``node`` (default: the output) can be: one of ``KINDS``, or None when unknown.

    Parameters
    ----------
    net : Network
    node : int, optional
        Node index (0 is the input).

    Returns
    -------
    str or None
    """
    node = len(net.ops) if node is None else node
    if node == 0:
        return "real"
    op = net.ops[node - 1]
    if isinstance(op, Softmax):
        return "distribution"
    if isinstance(op, Elementwise):
        return _activation_kind(op.act)
    if isinstance(op, (Dense, MaskedDense)):
        return "real"
    if isinstance(op, Select):
        # chosen columns of earlier nodes: what the least constrained of them can be, but no longer
        # a distribution (a subset of a row's entries does not sum to 1)
        kinds = [output_kind(net, i) for i in net.inputs[node - 1]]
        if None in kinds:
            return None
        return KINDS[min(min(KINDS.index(k) for k in kinds), KINDS.index("probability"))]
    return None


def _output_label(net: Network) -> str:
    op = net.ops[-1]
    if isinstance(op, Elementwise):
        return f"the {op.act.name} output"
    return f"the output ({op.describe()})"


def check_output_loss(net: Network, loss: Loss) -> None:
    """Refuse an output/loss pairing that cannot work, before any computation.

    Parameters
    ----------
    net : Network
    loss : Loss

    Raises
    ------
    ConfigError
        Naming the loss, what it needs of the output, what the output gives, and what to use instead.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 2], output="relu")
    >>> check_output_loss(net, bp.get_loss("cross_entropy"))      # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    backprop.errors.ConfigError: loss 'cross_entropy' needs every output row to be a probability distribution ...
    """
    need = loss.needs
    have = output_kind(net)
    if have is None or KINDS.index(have) >= KINDS.index(need):
        return
    label = loss.label()
    where = "row" if need == "distribution" else "entry"
    raise ConfigError(
        f"loss {label!r} needs every output {where} to be {_WHAT[need]}, but {_output_label(net)} of this "
        f"network gives {_WHAT[have]}, where the loss is undefined or does not measure the fit; use "
        f"{loss.advice}; or keep this output with a loss that suits it: {_fits(have)}")
