"""Full-batch second-order training over a Dask data set: scipy on the driver, the sums on the cluster.

The data are persisted once; every evaluation E(w), dE/dw is one round trip (the parameters out,
one (value, gradient) per block back), every Hessian-vector product another.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..second_order.minimize import check_options, solve
from .sums import Sums

if TYPE_CHECKING:
    from ..engine.network import Network


class _Evaluator:
    """E, dE/dw and H p from the cluster at the points scipy asks for; remembers the last and the best."""

    def __init__(self, sums: Any) -> None:
        self.sums, self.net = sums, sums.net
        self.w: NDArray[Any] | None = None
        self.best_f: float = np.inf
        self.best_w: NDArray[Any] | None = None
        self.n_hvp = self.n_eval = 0

    def at(self, w: NDArray[Any]) -> Any:
        if self.w is None or not np.array_equal(w, self.w):
            self.w = np.array(w, dtype=np.float64)
            if not np.all(np.isfinite(w)):
                self.f, self.g = np.inf, np.zeros(self.net.n_params)
                return self
            self.net.params[:] = w
            f, g = self.sums.value_grad()
            self.n_eval += 1
            self.f, self.g = f, g.astype(np.float64)
            if np.isfinite(f) and f < self.best_f:
                self.best_f, self.best_w = f, self.w.copy()
        return self

    def fun(self, w: NDArray[Any]) -> tuple[float, NDArray[Any]]:
        e = self.at(w)
        return e.f, e.g.copy()

    def hessp(self, w: NDArray[Any], p: NDArray[Any]) -> NDArray[Any]:
        e = self.at(w)
        if not np.isfinite(e.f):
            return np.zeros_like(p)
        self.n_hvp += 1
        V = np.asarray(p, dtype=self.net.dtype)[None, :]
        return self.sums.products("hvp", V)[0].astype(np.float64)

    def hess(self, w: NDArray[Any]) -> NDArray[Any]:
        e = self.at(w)
        if not np.isfinite(e.f):
            return np.eye(self.net.n_params)
        return self.sums.matrix("hessian").astype(np.float64)


def minimize(net: Network, loss: Any, X: Any, T: Any, method: str = "trust-ncg", maxiter: int = 100,
             tol: float | None = None, callback: Any = None, options: Any = None, sample_weight: Any = None) -> Any:
    """``backprop.minimize`` over a Dask data set: exact gradients and Hessian-vector products by the cluster.

    The result's ``nfev_cluster`` counts the gradient round trips, ``nhvp`` the H p ones.

    Parameters
    ----------
    net : Network
        Trained in place: on return it holds the parameters with the lowest loss seen.
    loss : str or Loss
        The loss E.
    X : Dask array (N, d) or Dask DataFrame
        The inputs, chunked along the samples.
    T : Dask or NumPy array
        The targets, as for ``backprop.loss_and_grad``.
    method : {"trust-ncg", "trust-krylov", "newton-cg", "trust-exact", "L-BFGS-B", "BFGS", "CG"}
        The method of ``scipy.optimize.minimize``.
    maxiter : int
        Largest number of iterations (outer iterations for the Newton methods).
    tol : float, optional
        Tolerance passed to scipy (its meaning depends on the method).
    callback : callable, optional
        Passed to scipy unchanged.
    options : dict, optional
        Further solver options for scipy (``maxiter`` is set from the argument).
    sample_weight : array (N,), optional
        Weights s_n of the weighted mean 1/S sum_n s_n Div_n.

    Returns
    -------
    scipy.optimize.OptimizeResult
        As ``backprop.minimize`` returns it (``x``, ``fun``, ``nit``, ``nfev``, ``success``, ``message``,
        ``nhvp``), and ``nfev_cluster``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> X = np.linspace(-1, 1, 40)[:, None]
    >>> net = bp.MLP([1, 8, 1], hidden="tanh", output="identity", seed=0)
    >>> res = bp.minimize(net, "l2", da.from_array(X, chunks=10), np.sin(3 * X), maxiter=50)
    >>> res.fun < 0.01
    True
    """
    key = check_options(method, maxiter, tol, callback)
    ev = _Evaluator(Sums(net, loss, X, T, sample_weight))        # persists the data, once
    res = solve(net, ev, method, key, maxiter, tol, callback, options)
    res.nfev_cluster = ev.n_eval
    return res
