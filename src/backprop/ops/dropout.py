"""Dropout (inverted): in training y = x * m / (1 - p) with m_i ~ Bernoulli(1 - p); at inference y = x."""
from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np

from ..errors import ConfigError
from ..validation import check_seed
from .arrays import Array, Maybe
from .base import At, Op, draw
from .fields import Number, Seed, Size
from .registry import register


def check_size(size: object, what: str) -> int:
    """The width of a parameter-free op as an int: an integer >= 1 (ConfigError otherwise).

    Parameters
    ----------
    size : int
        The width given.
    what : str
        The op, for the message.

    Returns
    -------
    int

    Examples
    --------
    >>> check_size(np.int64(3), "dropout")
    3
    """
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"{what} size must be an integer >= 1; got {size!r}")
    return int(size)


def check_op_seed(seed: object, what: str) -> int:
    """The seed of a random op: an integer >= 0 (None is refused: the draw is a function of it).

    Parameters
    ----------
    seed : int
        The seed given.
    what : str
        The op, for the message.

    Returns
    -------
    int

    Examples
    --------
    >>> check_op_seed(7, "dropout")
    7
    """
    if seed is None:
        raise ConfigError(f"{what} seed must be an integer >= 0 (the draw is a function of it); got None")
    checked = check_seed(seed, generator=False)
    assert checked is not None           # (seed is not None)
    return int(checked)


@register("dropout")
class Dropout(Op):
    """Inverted dropout: each unit is zeroed with probability ``p`` in training, the others scaled by 1/(1-p).

    Parameters
    ----------
    size : int
        Width of the input (and output).
    p : float, default 0.5
        Probability of zeroing a unit, 0 <= p < 1.
    seed : int, default 0
        Seed of the masks: the mask of a forward pass is a function of (seed, ``net.step``, batch shape).

    Examples
    --------
    >>> import numpy as np
    >>> op = Dropout(4, p=0.5)
    >>> x = np.ones((1, 4))
    >>> bool((op.forward([x], None)[0] == x).all())        # evaluation mode: the identity
    True
    >>> op.training = True
    >>> sorted(set(op.forward([x], None)[0].ravel().tolist()) - {0.0})
    [2.0]
    """

    has_modes = True
    random = True
    config_fields = (Size("size"), Number("p", lo=0, hi=1, optional=True), Seed("seed", optional=True))

    def __init__(self, size: int, p: float = 0.5, seed: int = 0):
        self.size = check_size(size, "dropout")
        try:
            p = float(p)
        except (TypeError, ValueError):
            p = np.nan
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout probability p must be a number with 0 <= p < 1; got {p!r}")
        self.p = p
        self.seed = check_op_seed(seed, "dropout")
        self.training = False

    def scale(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array | None:
        """m / (1 - p) for a batch of ``shape`` at the current step, or None (the identity).

        Parameters
        ----------
        shape : tuple of int
            The batch's shape (B, size).
        dtype : numpy dtype
            The dtype of the scale.

        Returns
        -------
        ndarray or None
            0 or 1 / (1 - p) per element in training mode; None in evaluation mode or for p = 0.

        Examples
        --------
        >>> op = Dropout(4, p=0.5)
        >>> op.scale((2, 4), np.dtype(np.float64)) is None       # evaluation mode
        True
        >>> op.training = True
        >>> op.scale((2, 4), np.dtype(np.float64))
        array([[0., 2., 2., 2.],
               [0., 0., 0., 2.]])
        """
        if not self.training or self.p == 0.0:
            return None
        keep = draw(self.seed, self.step, shape).random(shape) >= self.p
        return keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.p))

    # y = x * s, s = m / (1 - p) in training (s = 1 at inference)
    def forward(self, xs: Sequence[Array], p: Any) -> tuple[Array, Array | None]:
        x = xs[0]
        s = self.scale(x.shape, x.dtype)
        return (x if s is None else x * s), s

    # dE/dx = dE/dy * s
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        s = cast("Array | None", at.cache)
        return [dy if s is None else dy * s]

    # R{y} = s R{x}
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Array] | None) -> Maybe:
        s, tx = cast("Array | None", at.cache), txs[0]
        return None if tx is None else (tx if s is None else tx * s)

    # R{dE/dx} = R{dE/dy} s  (linear in x: no second-order term)
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Array] | None, *, tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        s = cast("Array | None", at.cache)
        return [None if tdy is None else (tdy if s is None else tdy * s)]

    def describe(self) -> str:
        return f"dropout p={self.p:g}"
