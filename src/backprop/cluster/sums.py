"""The objective's value, gradient and curvature over a Dask data set, as sums of per-block terms.

    E(w) = sum_b (S_b / S) E_b(w) + lambda/2 ||W||^2,    S = sum_b S_b

with E_b the block's weighted mean divergence (see ``kernels``). Every derivative is linear in the
per-sample terms, so the same weighted sum gives the gradient, H V, G V, G, H and their diagonals; the
L2 term (lambda W, lambda V, lambda on the diagonal) is added once, here, never per block.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..engine import l2
from ..derivatives.hvp import check_vectors
from ..engine.passes import as_directions
from ..engine.serialize import build_network, describe
from ..errors import ConfigError, InputError
from ..losses import get_loss
from . import kernels
from .shards import ClusterError, Shards

if TYPE_CHECKING:
    from ..engine.network import Network


def travelling(net: Network) -> dict[str, Any]:
    """The network as it travels to the workers: its JSON description, checked to rebuild here."""
    net.check_rows_independent("a Dask data set's sums over blocks")
    for j, op in enumerate(net.ops):
        if op.state_specs:
            raise ConfigError(f"node {j + 1} ({op.describe()}) has buffers, which the workers' copies of the "
                              "network would not have; networks with buffers work on in-memory data only")
    desc = describe(net)
    try:
        build_network(desc, net.params)
    except ValueError as e:
        raise ConfigError(f"this network cannot be sent to the workers as its description: {e}. Networks with "
                          "user-defined activations (code) work on in-memory data only") from None
    return desc


class Sums:
    """Per-evaluation weighted sums over the blocks of one persisted data set.

    Parameters
    ----------
    net : Network
    loss : str or Loss
    X, T, sample_weight
        Dask collections (or ``Shards`` already built from them), see ``Shards``.
    """

    def __init__(self, net: Network, loss: Any, X: Any = None, T: Any = None, sample_weight: Any = None,
                 shards: Any = None) -> None:
        self.net = net
        self.loss = get_loss(loss)
        self.l2 = self.loss.l2
        self.desc = travelling(net)
        self.loss_cfg = self.loss.config()
        self.shards = shards if shards is not None else Shards(X, T, sample_weight, n_features=net.n_inputs)
        self.n = self.shards.n

    def terms(self, what: str, *extra: Any, params: NDArray[Any] | None = None, rows: Any = None) -> Any:
        """sum_b (S_b / S) terms_b of the computation ``what`` (sum_b terms_b for a loss with reduction "sum"),
        in float64, without the L2 term."""
        p = np.array(self.net.params if params is None else params, dtype=self.net.dtype)   # a snapshot
        results = self.shards.map(kernels.block_terms, what, self.desc, p, self.loss_cfg, tuple(extra),
                                  per_block=rows, what=what.replace("_", " "))
        count = sum(r[0] for r in results)
        expected = self.n if rows is None else sum(len(r) for r in rows)
        if count != expected:
            raise ClusterError(f"{what}: the blocks answered for {count} samples, the data set has {expected}; "
                               "nothing is returned")
        S = sum(r[1] for r in results)
        if not S > 0:
            raise InputError("sample_weight must be finite, >= 0 and not all zero")
        total = None
        summed = self.loss.reduction == "sum"        # E = sum_n s_n Div_n: the blocks' sums add up
        for _, S_b, t in results:
            if t is None:
                continue
            f = 1.0 if summed else S_b / S
            part = [f * np.asarray(x, dtype=np.float64) for x in t]
            total = part if total is None else [a + b for a, b in zip(total, part)]
        return total, count

    # ---- the L2 term, once --------------------------------------------------------------------
    def penalty(self, w: NDArray[Any]) -> float:
        lam = self.l2
        if not lam:
            return 0.0
        W = w[self.net.reg_mask]
        return 0.5 * lam * float(np.dot(W.astype(np.float64), W.astype(np.float64)))

    def value_grad(self, w: NDArray[Any] | None = None) -> tuple[float, NDArray[Any]]:
        """E(w) and dE/dw over the whole data set (at the network's parameters when ``w`` is None)."""
        value, grad, _ = self.batch_value_grad(w)
        return value, grad

    def batch_value_grad(self, w: NDArray[Any] | None = None, rows: Any = None) -> tuple[float, NDArray[Any], int]:
        """E, dE/dw and the number of samples over the rows ``rows[b]`` of every block b (all rows: None)."""
        net = self.net
        w = net.params if w is None else np.asarray(w, dtype=net.dtype)
        (value, grad), count = self.terms("value_grad", params=w, rows=rows)
        grad = grad.astype(net.dtype)
        if self.l2:
            grad += (self.l2 * np.where(net.reg_mask, w, 0)).astype(net.dtype)
        return float(value) + self.penalty(w), grad, count

    def products(self, what: str, V: NDArray[Any], w: NDArray[Any] | None = None) -> NDArray[Any]:
        """H V or G V for directions V (m, n_params); returns (m, n_params)."""
        net = self.net
        (HV,), _ = self.terms(what, V, params=w)
        HV = HV.astype(net.dtype)
        if self.l2:
            HV += (self.l2 * np.where(net.reg_mask, V, 0)).astype(net.dtype)
        return HV

    def matrix(self, what: str) -> NDArray[Any]:
        (M,), _ = self.terms(what)
        M = M.astype(self.net.dtype)
        l2.add_diagonal(M, self.net, self.l2)
        return M

    def diagonal(self, what: str) -> NDArray[Any]:
        (d,), _ = self.terms(what)
        d = d.astype(self.net.dtype)
        if self.l2:
            d += (self.l2 * self.net.reg_mask).astype(self.net.dtype)
        return d


# ---- the public functions on Dask data ------------------------------------------------------------

def loss_and_grad(net: Network, loss: Any, X: Any, T: Any, sample_weight: Any = None) -> tuple[float, NDArray[Any]]:
    """``backprop.loss_and_grad`` over a Dask data set: the blocks' sums, added on the driver.

    Parameters
    ----------
    net : Network
    loss : str or Loss
    X : Dask array (N, d) or Dask DataFrame, chunked along the samples
    T : Dask or NumPy array, targets as for ``backprop.loss_and_grad``
    sample_weight : array (N,), optional
        Weights s_n of the weighted mean 1/S sum_n s_n Div_n.

    Returns
    -------
    value : float
    grad : ndarray of shape (n_params,)
        Equal to the in-memory result on the same data up to rounding (summation order).

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([3, 4, 2], hidden="tanh", output="softmax", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
    >>> v, g = bp.loss_and_grad(net, "cross_entropy", da.from_array(X, chunks=10), y)
    >>> bool(np.allclose(g, bp.loss_and_grad(net, "cross_entropy", X, y)[1], rtol=1e-12, atol=1e-15))
    True
    """
    return Sums(net, loss, X, T, sample_weight).value_grad()


def _directions(net: Network, v: Any) -> Any:
    v = check_vectors(v, net.n_params, net.dtype)
    return v, as_directions(v, net.n_params, net.dtype)


def hvp(net: Network, loss: Any, X: Any, T: Any, v: Any, sample_weight: Any = None) -> NDArray[Any]:
    """``backprop.hvp`` over a Dask data set (the directions travel once, with the parameters).

    Parameters
    ----------
    net : Network
        The network, at its current parameters.
    loss : str or Loss
        The loss E.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    T : Dask or NumPy array
        The targets, as for ``backprop.loss_and_grad``.
    v : array_like of shape (n_params,) or (n_params, m)
        One direction, or m directions as columns.
    sample_weight : array (N,), optional
        Weights s_n of the weighted mean 1/S sum_n s_n Div_n.

    Returns
    -------
    ndarray of shape (n_params,) or (n_params, m)
        H v, including the L2 term lambda v on the weights.
        Equal to the in-memory result on the same data up to rounding (summation order).

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(8, 2)); y = X[:, :1] ** 2
    >>> v = np.ones(net.n_params)
    >>> Hv = bp.cluster.hvp(net, "l2", da.from_array(X, chunks=4), y, v)
    >>> bool(np.allclose(Hv, bp.hvp(net, "l2", X, y, v)))
    True
    """
    v, V = _directions(net, v)
    HV = Sums(net, loss, X, T, sample_weight).products("hvp", V)
    return HV[0] if v.ndim == 1 else HV.T


def gnvp(net: Network, loss: Any, X: Any, T: Any, v: Any, sample_weight: Any = None) -> NDArray[Any]:
    """``backprop.gnvp`` over a Dask data set.

    Parameters
    ----------
    net : Network
        The network, at its current parameters.
    loss : str or Loss
        The loss E.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    T : Dask or NumPy array
        The targets, as for ``backprop.loss_and_grad``.
    v : array_like of shape (n_params,) or (n_params, m)
        One direction, or m directions as columns.
    sample_weight : array (N,), optional
        Weights s_n of the weighted mean 1/S sum_n s_n Div_n.

    Returns
    -------
    ndarray of shape (n_params,) or (n_params, m)
        G v, the Gauss-Newton matrix times v (with the L2 term).
        Equal to the in-memory result on the same data up to rounding (summation order).

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(8, 2)); y = X[:, :1] ** 2
    >>> v = np.ones(net.n_params)
    >>> Gv = bp.cluster.gnvp(net, "l2", da.from_array(X, chunks=4), y, v)
    >>> bool(np.allclose(Gv, bp.gnvp(net, "l2", X, y, v)))
    True
    """
    v, V = _directions(net, v)
    GV = Sums(net, loss, X, T, sample_weight).products("gnvp", V)
    return GV[0] if v.ndim == 1 else GV.T


def gauss_newton(net: Network, loss: Any, X: Any, T: Any, sample_weight: Any = None) -> NDArray[Any]:
    """``backprop.gauss_newton`` over a Dask data set: one W x W matrix per block, summed.

    Parameters
    ----------
    net : Network
        The network, at its current parameters.
    loss : str or Loss
        The loss E.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    T : Dask or NumPy array
        The targets, as for ``backprop.loss_and_grad``.
    sample_weight : array (N,), optional
        Weights s_n of the weighted mean 1/S sum_n s_n Div_n.

    Returns
    -------
    ndarray of shape (n_params, n_params)
        The Gauss-Newton matrix G (with the L2 term).
        Equal to the in-memory result on the same data up to rounding (summation order).

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(8, 2)); y = X[:, :1] ** 2
    >>> G = bp.cluster.gauss_newton(net, "l2", da.from_array(X, chunks=4), y)
    >>> bool(np.allclose(G, bp.gauss_newton(net, "l2", X, y)))
    True
    """
    return Sums(net, loss, X, T, sample_weight).matrix("gauss_newton")


def gauss_newton_diag(net: Network, loss: Any, X: Any, T: Any, sample_weight: Any = None) -> NDArray[Any]:
    """``backprop.gauss_newton_diag`` over a Dask data set.

    Parameters
    ----------
    net : Network
        The network, at its current parameters.
    loss : str or Loss
        The loss E.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    T : Dask or NumPy array
        The targets, as for ``backprop.loss_and_grad``.
    sample_weight : array (N,), optional
        Weights s_n of the weighted mean 1/S sum_n s_n Div_n.

    Returns
    -------
    ndarray of shape (n_params,)
        The diagonal of G (with the L2 term).
        Equal to the in-memory result on the same data up to rounding (summation order).

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(8, 2)); y = X[:, :1] ** 2
    >>> d = bp.cluster.gauss_newton_diag(net, "l2", da.from_array(X, chunks=4), y)
    >>> bool(np.allclose(d, bp.gauss_newton_diag(net, "l2", X, y)))
    True
    """
    return Sums(net, loss, X, T, sample_weight).diagonal("gauss_newton_diag")


def hessian(net: Network, loss: Any, X: Any, T: Any, sample_weight: Any = None) -> NDArray[Any]:
    """``backprop.hessian`` over a Dask data set: one W x W matrix per block, summed.

    Parameters
    ----------
    net : Network
        The network, at its current parameters.
    loss : str or Loss
        The loss E.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    T : Dask or NumPy array
        The targets, as for ``backprop.loss_and_grad``.
    sample_weight : array (N,), optional
        Weights s_n of the weighted mean 1/S sum_n s_n Div_n.

    Returns
    -------
    ndarray of shape (n_params, n_params)
        The Hessian H of the loss (with the L2 term).
        Equal to the in-memory result on the same data up to rounding (summation order).

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(8, 2)); y = X[:, :1] ** 2
    >>> H = bp.cluster.hessian(net, "l2", da.from_array(X, chunks=4), y)
    >>> bool(np.allclose(H, bp.hessian(net, "l2", X, y)))
    True
    """
    return Sums(net, loss, X, T, sample_weight).matrix("hessian")


def hessian_diag(net: Network, loss: Any, X: Any, T: Any, sample_weight: Any = None) -> NDArray[Any]:
    """``backprop.hessian_diag`` over a Dask data set.

    Parameters
    ----------
    net : Network
        The network, at its current parameters.
    loss : str or Loss
        The loss E.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    T : Dask or NumPy array
        The targets, as for ``backprop.loss_and_grad``.
    sample_weight : array (N,), optional
        Weights s_n of the weighted mean 1/S sum_n s_n Div_n.

    Returns
    -------
    ndarray of shape (n_params,)
        The diagonal of H (with the L2 term).
        Equal to the in-memory result on the same data up to rounding (summation order).

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> net = bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(8, 2)); y = X[:, :1] ** 2
    >>> d = bp.cluster.hessian_diag(net, "l2", da.from_array(X, chunks=4), y)
    >>> bool(np.allclose(d, bp.hessian_diag(net, "l2", X, y)))
    True
    """
    return Sums(net, loss, X, T, sample_weight).diagonal("hessian_diag")
