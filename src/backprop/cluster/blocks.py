"""Per-sample results over a Dask data set, block by block: outputs, Jacobians, a gradient check on a sample.

Outputs and Jacobians have one row per sample, so they stay Dask arrays with the row blocks of X
(nothing is computed until asked for); each block is computed where it lives.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..derivatives.checks import check_gradient as check_gradient_in_memory
from ..errors import ConfigError, InputError
from . import kernels
from .shards import _as_array, _dask, _rows_only
from .sums import travelling

if TYPE_CHECKING:
    from ..derivatives.checks import CheckReport
    from ..engine.network import Network


def _rows(X: Any, net: Network) -> Any:
    X = _rows_only(_as_array(X, "X"), "X")
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        raise InputError(f"X must be 2-D of shape (n_samples, {net.n_inputs}); got shape {X.shape}")
    return X


def _per_block(X: Any, net: Network, wrt: str | None, trailing: tuple[int, ...]) -> Any:
    _, da = _dask()
    desc, params = travelling(net), net.params.copy()
    chunks = (X.chunks[0],) + tuple((k,) for k in trailing)
    new_axis = list(range(2, 1 + len(trailing))) or None
    return da.map_blocks(kernels.block_output, desc, params, wrt, X, None, None, chunks=chunks,
                         new_axis=new_axis, dtype=net.dtype, meta=np.empty((0,) * (1 + len(trailing)), net.dtype))


def predict(net: Network, X: Any) -> Any:
    """``net.predict`` over a Dask array: a Dask array (N, c) with the row blocks of X.

    Parameters
    ----------
    net : Network
        The network.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.

    Returns
    -------
    dask.array.Array of shape (N, c)
        The outputs, computed block by block when asked for.

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([3, 4, 2], seed=0)
    >>> Y = net.predict(da.ones((10, 3), chunks=5))
    >>> Y.shape, type(Y).__name__
    ((10, 2), 'Array')
    """
    return _per_block(_rows(X, net), net, None, (net.n_outputs,))


def jacobian(net: Network, X: Any, wrt: str | None = "inputs") -> Any:
    """``backprop.jacobian`` over a Dask array: a Dask array (N, c, d) or (N, c, n_params), by row blocks.

    Parameters
    ----------
    net : Network
        The network.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    wrt : {"inputs", "params"}, default "inputs"
        Differentiate the outputs with respect to the inputs or to the parameters.

    Returns
    -------
    dask.array.Array of shape (N, c, d) or (N, c, n_params)
        dy_n/dx_n (or dy_n/dw) per sample, with the row blocks of X.

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([3, 4, 2], seed=0)
    >>> X = np.random.default_rng(0).normal(size=(6, 3))
    >>> J = bp.cluster.jacobian(net, da.from_array(X, chunks=3))
    >>> J.shape, bool(np.allclose(J.compute(), bp.jacobian(net, X)))
    ((6, 2, 3), True)
    """
    if wrt not in ("inputs", "params"):
        raise ConfigError(f"wrt must be 'inputs' or 'params'; got {wrt!r}")
    X = _rows(X, net)
    return _per_block(X, net, wrt, (net.n_outputs, net.n_inputs if wrt == "inputs" else net.n_params))


def check_gradient(net: Network, loss: Any, X: Any, T: Any, eps: float | None = None, n: int | None = None,
                   tol: float | None = None, seed: int | None = 0, order: int = 2, floor: float | None = None,
                   n_samples: int = 256) -> CheckReport:
    """``backprop.check_gradient`` on a seeded random sample of ``n_samples`` rows of a Dask data set.

    Finite differences need many evaluations of the loss, so they run in memory on a sample that is
    brought to the driver (rows drawn without replacement with ``seed``, kept in their order). The
    derivative being checked is the same formula on any data, so a sample checks it as well as the whole.

    Parameters
    ----------
    net : Network
        The network.
    loss : str or Loss
        The loss E.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    T : Dask or NumPy array
        The targets, as for ``backprop.loss_and_grad``.
    eps, n, tol, order, floor
        As for ``backprop.check_gradient``.
    seed : int or None, default 0
        Seed of the sample of rows (and of the random subset of parameters).
    n_samples : int, default 256
        Number of rows checked (all when the data set has fewer).

    Returns
    -------
    CheckReport
        Identical to ``backprop.check_gradient`` on ``X[rows], T[rows]``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(20, 2))
    >>> report = bp.cluster.check_gradient(net, "l2", da.from_array(X, chunks=5), X[:, :1], n_samples=8)
    >>> report.passed
    True
    """
    dask, da = _dask()
    X = _rows(X, net)
    N = X.shape[0]
    if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) or n_samples < 1:
        raise ConfigError(f"n_samples must be an integer >= 1; got {n_samples!r}")
    rows = sample_rows(N, n_samples, seed)
    Xs = X[rows]
    Ts = (T[rows] if isinstance(T, da.Array) or hasattr(T, "to_dask_array")
          else np.asarray(T)[rows])
    if hasattr(Ts, "to_dask_array"):
        Ts = Ts.to_dask_array(lengths=True)
    Xs, Ts = dask.compute(Xs, Ts)
    return check_gradient_in_memory(net, loss, Xs, Ts, eps=eps, n=n, tol=tol, seed=seed, order=order, floor=floor)


def sample_rows(N: int, n_samples: int, seed: int | None) -> NDArray[Any]:
    """Sorted row indices of a seeded sample of min(n_samples, N) rows."""
    if n_samples >= N:
        return np.arange(N)
    return np.sort(np.random.default_rng(seed).choice(N, size=n_samples, replace=False))
