"""Randomized leaky ReLU: y = x for x >= 0, a x below, with a slope a per element.

In training each element draws its slope a ~ U(lower, upper); at inference every slope is the mean
(lower + upper) / 2, a leaky ReLU. Below zero the map is linear in x, so f'' = 0 (a subgradient
f' = 1 at x = 0, as for relu).
"""
from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np

from ..errors import ConfigError
from .arrays import Array, Maybe
from .base import At, Op, draw
from .fields import Number, Seed, Size
from .dropout import check_op_seed, check_size
from .registry import register


@register("rrelu")
class RReLU(Op):
    """Randomized leaky ReLU (the defaults are torch.nn.RReLU's: lower = 1/8, upper = 1/3).

    Parameters
    ----------
    size : int
        Width of the input (and output).
    lower, upper : float
        Range of the random slopes in training, 0 <= lower <= upper; at inference the slope is their mean.
    seed : int, default 0
        Seed of the slopes: those of a forward pass are a function of (seed, ``net.step``, batch shape).

    Examples
    --------
    >>> import numpy as np
    >>> op = RReLU(2, lower=0.1, upper=0.3)
    >>> op.forward([np.array([[-1.0, 2.0]])], None)[0]         # evaluation mode: slope 0.2 below zero
    array([[-0.2,  2. ]])
    """

    has_modes = True
    random = True
    config_fields = (Size("size"), Number("lower", optional=True), Number("upper", optional=True),
                     Seed("seed", optional=True))

    def __init__(self, size: int, lower: float = 1.0 / 8, upper: float = 1.0 / 3, seed: int = 0):
        self.size = check_size(size, "rrelu")
        try:
            lower, upper = float(lower), float(upper)
        except (TypeError, ValueError):
            raise ConfigError(f"rrelu lower and upper must be numbers; got {lower!r}, {upper!r}") from None
        if not (np.isfinite(lower) and np.isfinite(upper) and 0.0 <= lower <= upper):
            raise ConfigError(f"rrelu slopes need finite 0 <= lower <= upper; got lower={lower}, upper={upper}")
        self.lower, self.upper = lower, upper
        self.seed = check_op_seed(seed, "rrelu")
        self.training = False

    def slopes(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
        """The slopes a below zero: drawn per element in training, the scalar mean at inference.

        Parameters
        ----------
        shape : tuple of int
            The batch's shape (B, size).
        dtype : numpy dtype
            The dtype of the slopes.

        Returns
        -------
        ndarray or numpy scalar
            An array of ``shape`` in training mode, else the scalar (lower + upper) / 2.

        Examples
        --------
        >>> op = RReLU(2, lower=0.1, upper=0.3)
        >>> float(op.slopes((1, 2), np.dtype(np.float64)))      # evaluation mode: the mean
        0.2
        >>> op.training = True
        >>> a = op.slopes((1, 2), np.dtype(np.float64))
        >>> a.shape, bool(np.all((0.1 <= a) & (a <= 0.3)))
        ((1, 2), True)
        """
        if not self.training or self.lower == self.upper:
            return dtype.type((self.lower + self.upper) / 2)
        return draw(self.seed, self.step, shape).uniform(self.lower, self.upper, shape).astype(dtype)

    # y = x for x >= 0, a x below;  f' = d = 1 for x >= 0, a below;  f'' = 0
    def forward(self, xs: Sequence[Array], p: Any) -> tuple[Array, Array]:
        x = xs[0]
        d = np.where(x >= 0, x.dtype.type(1), self.slopes(x.shape, x.dtype))
        return x * d, d

    # dE/dx = dE/dy * d
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        return [dy * cast(Array, at.cache)]

    # R{y} = d R{x}
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Array] | None) -> Maybe:
        tx = txs[0]
        return None if tx is None else cast(Array, at.cache) * tx

    # R{dE/dx} = R{dE/dy} d  (f'' = 0)
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Array] | None, *, tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        return [None if tdy is None else tdy * cast(Array, at.cache)]

    def describe(self) -> str:
        return f"rrelu [{self.lower:g}, {self.upper:g}]"
