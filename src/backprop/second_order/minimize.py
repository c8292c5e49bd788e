"""Second-order training through scipy.optimize, with the exact gradient and Hessian-vector products.

scipy sees E(w) as a function of the flat parameter vector: ``fun`` returns E and its
backpropagated gradient together, ``hessp`` the R-operator product H p (exact, O(W)), ``hess``
(trust-exact only) the exact Hessian. Both reuse the forward and backward pass of the last point
evaluated, so a Newton-CG inner iteration costs one forward and one backward sweep of tangents.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generic, Mapping, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import dispatch
from ..derivatives.hessian import hessian_matrix
from ..engine.objective import Objective, loss_head
from ..engine.plan import acquire
from ..errors import ConfigError
from ..losses import get_loss
from ..validation import MAX_MATRIX_BYTES, check_matrix_size, check_X

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

    from ..engine.network import Network
    from ..engine.plan import Plan
    from ..losses import Loss

R = TypeVar("R")

#: method -> which second-order information scipy takes
METHODS = {"trust-ncg": "hessp", "trust-krylov": "hessp", "newton-cg": "hessp", "trust-exact": "hess",
           "l-bfgs-b": None, "bfgs": None, "cg": None}


class _Point:
    __slots__ = ("obj", "f", "g")

    def __init__(self, obj: Objective | None, f: float, g: NDArray[np.float64]) -> None:
        self.obj, self.f, self.g = obj, f, g


class AtPoint(Generic[R]):
    """``evaluate(w)`` at the last point scipy asked for, evaluated again only when the point changes.

    scipy calls ``fun`` and then ``hessp`` (or ``hess``) at the same point: ``at = AtPoint(evaluate)``
    does the forward and backward pass once per point and gives the same result to every call at it.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(w)`` for a float64 copy ``w`` of the point; ``at(w)`` returns its result.

    Attributes
    ----------
    w : ndarray or None
        The last point evaluated (None before the first call).
    result : object
        ``evaluate(w)`` at that point (None before the first call).

    Examples
    --------
    >>> calls = []
    >>> at = AtPoint(lambda w: calls.append(w.copy()) or w.sum())
    >>> at(np.ones(2)), at(np.ones(2)), len(calls)
    (np.float64(2.0), np.float64(2.0), 1)
    """

    def __init__(self, evaluate: Callable[[NDArray[np.float64]], R]) -> None:
        self.evaluate = evaluate
        self._last: tuple[NDArray[np.float64], R] | None = None     # (w, evaluate(w)) at the last point

    @property
    def w(self) -> NDArray[np.float64] | None:
        """The last point evaluated, or None before the first call."""
        return None if self._last is None else self._last[0]

    @property
    def result(self) -> R | None:
        """``evaluate(w)`` at the last point, or None before the first call."""
        return None if self._last is None else self._last[1]

    def __call__(self, w: ArrayLike) -> R:
        last = self._last
        if last is None or not np.array_equal(w, last[0]):
            point = np.array(w, dtype=np.float64)
            last = self._last = (point, self.evaluate(point))
        return last[1]


@runtime_checkable
class EvaluatorLike(Protocol):
    """What ``solve`` asks of an evaluator: E and dE/dw, H p, H at a point, and the best point seen.

    ``hessp`` and ``hess`` are called only by the methods of ``METHODS`` that take them.

    Examples
    --------
    E(w) = ||w||^2 / 2:

    >>> class Quadratic:
    ...     best_f, best_w, n_hvp = np.inf, None, 0
    ...     def fun(self, w):
    ...         return 0.5 * float(w @ w), w.copy()
    ...     def hessp(self, w, p):
    ...         return p
    ...     def hess(self, w):
    ...         return np.eye(w.size)
    >>> isinstance(Quadratic(), EvaluatorLike)
    True
    """

    @property
    def best_f(self) -> float:
        """The lowest finite E evaluated so far (inf before one)."""

    @property
    def best_w(self) -> NDArray[Any] | None:
        """The point of ``best_f`` (None before one)."""

    @property
    def n_hvp(self) -> int:
        """The number of products H p computed."""

    def fun(self, w: NDArray[Any]) -> tuple[float, NDArray[Any]]:
        """(E, dE/dw) at ``w``; E = inf at a point where it cannot be evaluated."""

    def hessp(self, w: NDArray[Any], p: NDArray[Any]) -> NDArray[Any]:
        """H p at ``w``."""

    def hess(self, w: NDArray[Any]) -> NDArray[Any]:
        """H at ``w``."""


class _Evaluator:
    """E, dE/dw and H p at the points scipy asks for; remembers the best point."""

    def __init__(self, net: Network, loss: Loss, X: NDArray[Any], D: NDArray[Any], plan: Plan | None = None) -> None:
        self.net, self.loss, self.X, self.D, self.plan = net, loss, X, D, plan
        self.best_f: float = np.inf
        self.best_w: NDArray[Any] | None = None
        self.n_hvp = 0
        self.at = AtPoint(self._evaluate)

    def _evaluate(self, w: NDArray[np.float64]) -> _Point:
        """(objective or None, E, dE/dw) at w; a point with NaN or inf entries has E = inf."""
        net = self.net
        if not np.all(np.isfinite(w)):
            return _Point(None, np.inf, np.zeros(net.n_params))
        net.params[:] = w                      # cast to the network's dtype
        # on the plan (when given), the last point's values stay in its buffers until the next point
        obj = Objective(net, self.loss, self.X, self.D, validate=False, plan=self.plan)
        g = obj.gradient()
        f = obj.value()
        if np.isfinite(f) and f < self.best_f:
            self.best_f, self.best_w = f, w.copy()
        return _Point(obj, f, g.astype(np.float64))

    def fun(self, w: NDArray[Any]) -> tuple[float, NDArray[np.float64]]:
        e = self.at(w)
        return e.f, e.g.copy()

    def hessp(self, w: NDArray[Any], p: NDArray[Any]) -> NDArray[Any]:
        e = self.at(w)
        if e.obj is None:
            return np.zeros_like(p)
        self.n_hvp += 1
        V = np.asarray(p, dtype=self.net.dtype)[None, :]
        return e.obj.hvp(V)[0].astype(np.float64)

    def hess(self, w: NDArray[Any]) -> NDArray[Any]:
        e = self.at(w)
        if e.obj is None:
            return np.eye(self.net.n_params)
        return hessian_matrix(e.obj).astype(np.float64)


def minimize(net: Network, loss: str | dict[str, Any] | Loss, X: ArrayLike, T: ArrayLike, method: str = "trust-ncg",
             maxiter: int = 100, tol: float | None = None, callback: Callable[..., object] | None = None,
             options: Mapping[str, Any] | None = None, max_bytes: int | None = MAX_MATRIX_BYTES) -> OptimizeResult:
    """Train ``net`` on (X, T) by a second-order method of ``scipy.optimize.minimize``.

    The objective is the training loss E(w) = 1/B sum_n Div(y_n, t_n) + lambda/2 ||W||^2 over the
    whole batch (sum_n Div(y_n, t_n) + lambda/2 ||W||^2 for a loss with ``reduction="sum"``), with its exact backpropagated gradient and, for the Newton-type methods, exact
    Hessian-vector products by the R-operator (``trust-ncg``, ``trust-krylov``, ``newton-cg``) or
    the exact Hessian (``trust-exact``, small networks).

    Parameters
    ----------
    net : Network
        Trained in place: on return it holds the parameters with the lowest loss seen.
    loss : str or Loss
    X : array-like of shape (B, d)
    T : array-like
        Targets, as for ``loss_and_grad``.
    method : {"trust-ncg", "trust-krylov", "newton-cg", "trust-exact", "L-BFGS-B", "BFGS", "CG"}
    maxiter : int
        Largest number of iterations (outer iterations for the Newton methods).
    tol : float, optional
        Tolerance passed to scipy (its meaning depends on the method).
    callback : callable, optional
        Passed to scipy unchanged.
    options : dict, optional
        Further solver options for scipy (``maxiter`` is set from the argument).
    max_bytes : int or None
        ``trust-exact`` forms the W x W Hessian at every iteration: it is refused (MemoryLimitError, before
        any work) when that needs more bytes; default 2 GiB, None for no limit.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (the parameters left in ``net``), ``fun``, ``nit``, ``nfev``, ``success``, ``message``,
        and ``nhvp``, the number of Hessian-vector products.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> X = np.linspace(-1, 1, 20)[:, None]
    >>> net = bp.MLP([1, 8, 1], hidden="tanh", output="identity", seed=0)
    >>> res = bp.minimize(net, "l2", X, np.sin(3 * X), maxiter=50)
    >>> res.fun < 0.01
    True
    """
    if (on_dask := dispatch.on_dask("minimize", X, T)) is not None:
        return on_dask(net, loss, X, T, method=method, maxiter=maxiter, tol=tol, callback=callback,
                       options=options)
    key = check_options(method, maxiter, tol, callback)
    if METHODS[key] == "hess":
        check_matrix_size(net.n_params, net.dtype, max_bytes, "method='trust-exact' (it forms the exact Hessian)",
                          "use method='trust-ncg' or 'trust-krylov' (Hessian-vector products, O(W) memory)")
    lo = get_loss(loss)
    Xa = check_X(X, net.n_inputs, net.dtype)
    D = lo.prepare(T, Xa.shape[0], net.n_outputs, net.dtype)
    # one execution plan for the whole run: every point scipy asks for is evaluated in its buffers
    with acquire(net, loss_head(net, lo)[1], Xa.shape[0], want="hvp") as plan:
        return solve(net, _Evaluator(net, lo, Xa, D, plan), method, key, maxiter, tol, callback, options)


def check_options(method: object, maxiter: object, tol: float | None, callback: object) -> str:
    """The key of ``method`` in ``METHODS``, after checking the options every minimize takes.

    Parameters
    ----------
    method : str
        A method of ``METHODS``, in any case ("L-BFGS-B" or "l-bfgs-b").
    maxiter : int
        At least 1.
    tol : float or None
        A positive number, or None for scipy's default.
    callback : callable or None

    Returns
    -------
    str
        ``method`` in lower case.

    Raises
    ------
    ConfigError
        For an unknown method or an option out of range, naming the values allowed.

    Examples
    --------
    >>> check_options("L-BFGS-B", 10, None, None)
    'l-bfgs-b'
    >>> check_options("trust-ncg", 0, None, None)
    Traceback (most recent call last):
    ...
    backprop.errors.ConfigError: maxiter must be an integer >= 1; got 0
    """
    key = method.lower() if isinstance(method, str) else None
    if key not in METHODS:
        raise ConfigError(f"unknown method {method!r}; expected one of trust-ncg, trust-krylov, newton-cg, "
                          "trust-exact, L-BFGS-B, BFGS, CG")
    _check_maxiter(maxiter)
    if tol is not None and not (np.isfinite(tol) and tol > 0):
        raise ConfigError(f"tol must be a positive number or None; got {tol!r}")
    if callback is not None and not callable(callback):
        raise ConfigError("callback must be callable")
    return key


def _check_maxiter(maxiter: object) -> int:
    """``maxiter`` as an int, or ConfigError when it is not an integer >= 1."""
    if not isinstance(maxiter, (int, np.integer)) or isinstance(maxiter, bool) or maxiter < 1:
        raise ConfigError(f"maxiter must be an integer >= 1; got {maxiter!r}")
    return int(maxiter)


def solve(net: Network, ev: EvaluatorLike, method: str, key: str, maxiter: int, tol: float | None,
          callback: Callable[..., object] | None, options: Mapping[str, Any] | None) -> OptimizeResult:
    """Run scipy's ``method`` on the evaluator ``ev``, leave the best point found in ``net.params`` and return
    scipy's result.

    Parameters
    ----------
    net : Network
        Its parameters are the starting point; on return they are the point of the lowest E seen (on an
        error, the starting point again).
    ev : EvaluatorLike
        ``fun``, ``hessp``, ``hess``, ``best_w``, ``best_f``, ``n_hvp`` at the points scipy asks for.
    method : str
        The method, as scipy spells it.
    key : str
        Its key in ``METHODS`` (``check_options(method, ...)``).
    maxiter : int
        Largest number of iterations, checked by ``check_options``.
    tol : float or None
        Tolerance passed to scipy.
    callback : callable or None
        Passed to scipy unchanged.
    options : dict or None
        Further solver options for scipy (``maxiter`` is set from the argument).

    Returns
    -------
    scipy.optimize.OptimizeResult
        With ``x`` and ``fun`` those of the best point and ``nhvp`` the number of Hessian-vector products.

    Examples
    --------
    E(w) = ||w - 1||^2 / 2 over the two parameters of a 1-1 network:

    >>> import backprop as bp
    >>> class Quadratic:
    ...     best_f, best_w, n_hvp = np.inf, None, 0
    ...     def fun(self, w):
    ...         return 0.5 * float(((w - 1) ** 2).sum()), w - 1
    ...     def hessp(self, w, p):
    ...         self.n_hvp += 1
    ...         return p
    ...     def hess(self, w):
    ...         return np.eye(w.size)
    >>> net = bp.MLP([1, 1], output="identity", seed=0)
    >>> res = solve(net, Quadratic(), "trust-ncg", "trust-ncg", 10, None, None, None)
    >>> net.params, res.nhvp > 0
    (array([1., 1.]), True)
    """
    opts = dict(options or {})
    opts["maxiter"] = int(maxiter)
    kw: dict[str, Callable[..., NDArray[Any]]] = {}
    if METHODS[key] == "hessp":
        kw["hessp"] = ev.hessp
    elif METHODS[key] == "hess":
        kw["hess"] = ev.hess
    w0 = net.params.astype(np.float64)
    import scipy.optimize                      # loaded on first use: importing backprop does not load it
    try:
        res = scipy.optimize.minimize(ev.fun, w0, method=method, jac=True, tol=tol, callback=callback,
                                      options=opts, **kw)
    except BaseException:
        net.params[:] = w0                         # no partial change on a failed call
        raise
    best = ev.best_w if ev.best_w is not None else w0
    if np.isfinite(res.fun) and res.fun <= ev.best_f:
        best = np.asarray(res.x, dtype=np.float64)
    else:
        res.x, res.fun = best, float(ev.best_f)
    net.params[:] = best
    res.nhvp = ev.n_hvp
    return res
