"""Fused loops for the SGD updates of large parameter vectors, compiled by numba when it is installed.

NumPy runs SGD's update of the flat parameter vector as separate passes over memory (classical
momentum: four, Delta *= mu, Delta += g, buf = eta Delta, W -= buf), and in a training step the
vectors are out of cache by then, after the batch's matrix products. One loop that reads and
writes every entry once does the same arithmetic in a fraction of the time
(``benchmarks/bench_kernels.py``: 1.7-2.2x at W = 235k after a batch's products).

The loops here compute exactly what NumPy's passes compute, operation by operation in the same
order and precision, without fused multiply-adds (numba's default, no ``fastmath``), so a run gives
the same parameters bitwise with and without numba (``tests/test_fused.py``). They are used when

* numba is installed (the ``fast`` extra: ``pip install 'backprop-exact[fast]'``) and the
  environment variable ``BACKPROP_FUSED`` is not ``0``;
* the vector has at least ``MIN_SIZE`` entries: below it the passes are in cache anyway and the
  one-off cost of loading numba (about half a second per process) does not pay off;
* every array is a contiguous float32 or float64 vector of one dtype.

Otherwise the caller runs its NumPy passes. numba is imported on the first update that qualifies,
never at import. A numba that is installed but cannot serve (built for another NumPy, unable to
compile) is reported once with a RuntimeWarning, and NumPy's passes run from then on.
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from .._optional import require

#: the smallest parameter vector updated by a fused loop
MIN_SIZE = 1 << 16

_KERNELS: dict[str, Callable[..., None]] | None = None
_AVAILABLE: bool | None = None


def available() -> bool:
    """Whether fused updates can run here: numba importable and ``BACKPROP_FUSED`` not ``0``.

    Returns
    -------
    bool

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    global _AVAILABLE
    if os.environ.get("BACKPROP_FUSED", "1") == "0":
        return False
    if _AVAILABLE is None:
        _AVAILABLE = importlib.util.find_spec("numba") is not None
    return _AVAILABLE


def _unusable(reason: object) -> None:
    """numba is installed but cannot serve (an import or compile error): NumPy's passes from now on."""
    global _AVAILABLE
    _AVAILABLE = False
    warnings.warn(f"numba is installed but cannot compile the fused SGD updates ({reason}); the updates run "
                  "as NumPy passes instead (the same numbers, slower)", RuntimeWarning, stacklevel=4)


def _jit(numba: Any, fn: Callable[..., None]) -> Callable[..., None]:
    try:
        return numba.njit(cache=True, nogil=True)(fn)          # compiled code kept for the next process
    except RuntimeError:                                       # no writable place for numba's cache
        return numba.njit(nogil=True)(fn)


def _kernels() -> dict[str, Callable[..., None]] | None:
    global _KERNELS
    if _KERNELS is None:
        try:
            numba = require("numba", extra="fast", feature="the fused SGD updates")
        except ImportError as e:          # e.g. a numba built for another NumPy
            _unusable(e)
            return None

        # W <- W - eta g
        def plain(p: Any, g: Any, lr: Any) -> None:
            for i in range(p.shape[0]):
                p[i] -= g[i] * lr

        # Delta <- mu Delta + g;  W <- W - eta Delta
        def momentum(p: Any, d: Any, g: Any, mu: Any, lr: Any) -> None:
            for i in range(p.shape[0]):
                d[i] = d[i] * mu + g[i]
                p[i] -= d[i] * lr

        # Delta <- mu Delta + g;  W <- W - eta (g + mu Delta)
        def nesterov(p: Any, d: Any, g: Any, mu: Any, lr: Any) -> None:
            for i in range(p.shape[0]):
                d[i] = d[i] * mu + g[i]
                p[i] -= (d[i] * mu + g[i]) * lr

        _KERNELS = {"plain": _jit(numba, plain), "momentum": _jit(numba, momentum),
                    "nesterov": _jit(numba, nesterov)}
    return _KERNELS


def sgd_update(params: NDArray[Any], grad: NDArray[Any], delta: NDArray[Any] | None, lr: float, mu: float,
               nesterov: bool) -> bool:
    """SGD's update of ``params`` (and of the velocity ``delta``) in one fused loop, if it qualifies.

    Parameters
    ----------
    params : ndarray of shape (n,)
        The parameters W, updated in place.
    grad : ndarray of shape (n,)
        The gradient g.
    delta : ndarray of shape (n,) or None
        The velocity Delta (None without momentum), updated in place.
    lr, mu : float
        The learning rate eta and the momentum mu (0: plain SGD).
    nesterov : bool
        Nesterov's momentum instead of the classical one.

    Returns
    -------
    bool
        True when the update ran here; False when it did not qualify (see the module notes) and
        nothing was changed: the caller then runs its NumPy passes.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.ones(4)
    >>> sgd_update(W, np.ones(4), None, 0.1, 0.0, False)     # far below MIN_SIZE: not fused
    False
    """
    arrays = (params, grad) if delta is None else (params, grad, delta)
    if params.size < MIN_SIZE or not available():
        return False
    dtype = params.dtype
    if dtype not in (np.float32, np.float64) or any(
            a.dtype != dtype or a.ndim != 1 or not a.flags.c_contiguous for a in arrays) or not params.flags.writeable:
        return False
    k, cast = _kernels(), dtype.type
    if k is None:
        return False
    try:                    # a signature's first call compiles it, before any entry is written
        if delta is None or not mu:
            k["plain"](params, grad, cast(lr))
        else:
            k["nesterov" if nesterov else "momentum"](params, delta, grad, cast(mu), cast(lr))
    except Exception as e:
        if type(e).__module__.split(".")[0] != "numba":
            raise
        _unusable(e)
        return False
    return True
