"""Second-order training through scipy.optimize, with the exact gradient and Hessian-vector products.

scipy sees E(w) as a function of the flat parameter vector: ``fun`` returns E and its
backpropagated gradient together, ``hessp`` the R-operator product H p (exact, O(W)), ``hess``
(trust-exact only) the exact Hessian. Both reuse the forward and backward pass of the last point
evaluated, so a Newton-CG inner iteration costs one forward and one backward sweep of tangents.
"""
from __future__ import annotations

import numpy as np

from .. import dispatch
from ..derivatives.hessian import hessian_matrix
from ..engine.objective import Objective, loss_head
from ..engine.plan import acquire
from ..errors import ConfigError
from ..losses import get_loss
from ..validation import MAX_MATRIX_BYTES, check_matrix_size, check_X

#: method -> which second-order information scipy takes
METHODS = {"trust-ncg": "hessp", "trust-krylov": "hessp", "newton-cg": "hessp", "trust-exact": "hess",
           "l-bfgs-b": None, "bfgs": None, "cg": None}


class _Point:
    __slots__ = ("obj", "f", "g")

    def __init__(self, obj, f, g):
        self.obj, self.f, self.g = obj, f, g


class AtPoint:
    """``evaluate(w)`` at the last point scipy asked for, evaluated again only when the point changes.

    scipy calls ``fun`` and then ``hessp`` (or ``hess``) at the same point: ``at = AtPoint(evaluate)``
    does the forward and backward pass once per point and gives the same result to every call at it.

    Examples
    --------
    >>> calls = []
    >>> at = AtPoint(lambda w: calls.append(w.copy()) or w.sum())
    >>> at(np.ones(2)), at(np.ones(2)), len(calls)
    (np.float64(2.0), np.float64(2.0), 1)
    """

    def __init__(self, evaluate):
        self.evaluate = evaluate
        self.w = None
        self.result = None

    def __call__(self, w):
        if self.w is None or not np.array_equal(w, self.w):
            self.w = np.array(w, dtype=np.float64)
            self.result = self.evaluate(self.w)
        return self.result


class _Evaluator:
    """E, dE/dw and H p at the points scipy asks for; remembers the best point."""

    def __init__(self, net, loss, X, D, plan=None):
        self.net, self.loss, self.X, self.D, self.plan = net, loss, X, D, plan
        self.best_f, self.best_w = np.inf, None
        self.n_hvp = 0
        self.at = AtPoint(self._evaluate)

    def _evaluate(self, w):
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

    def fun(self, w):
        e = self.at(w)
        return e.f, e.g.copy()

    def hessp(self, w, p):
        e = self.at(w)
        if e.obj is None:
            return np.zeros_like(p)
        self.n_hvp += 1
        V = np.asarray(p, dtype=self.net.dtype)[None, :]
        return e.obj.hvp(V)[0].astype(np.float64)

    def hess(self, w):
        e = self.at(w)
        if e.obj is None:
            return np.eye(self.net.n_params)
        return hessian_matrix(e.obj).astype(np.float64)


def minimize(net, loss, X, T, method="trust-ncg", maxiter=100, tol=None, callback=None, options=None,
             max_bytes=MAX_MATRIX_BYTES):
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
    loss = get_loss(loss)
    X = check_X(X, net.n_inputs, net.dtype)
    D = loss.prepare(T, X.shape[0], net.n_outputs, net.dtype)
    # one execution plan for the whole run: every point scipy asks for is evaluated in its buffers
    with acquire(net, loss_head(net, loss)[1], X.shape[0], want="hvp") as plan:
        return solve(net, _Evaluator(net, loss, X, D, plan), method, key, maxiter, tol, callback, options)


def check_options(method, maxiter, tol, callback) -> str:
    """The key of ``method`` in ``METHODS``, after checking the options every minimize takes."""
    key = method.lower() if isinstance(method, str) else None
    if key not in METHODS:
        raise ConfigError(f"unknown method {method!r}; expected one of trust-ncg, trust-krylov, newton-cg, "
                          "trust-exact, L-BFGS-B, BFGS, CG")
    if not isinstance(maxiter, (int, np.integer)) or isinstance(maxiter, bool) or maxiter < 1:
        raise ConfigError(f"maxiter must be an integer >= 1; got {maxiter!r}")
    if tol is not None and not (np.isfinite(tol) and tol > 0):
        raise ConfigError(f"tol must be a positive number or None; got {tol!r}")
    if callback is not None and not callable(callback):
        raise ConfigError("callback must be callable")
    return key


def solve(net, ev, method, key, maxiter, tol, callback, options):
    """Run scipy's ``method`` on the evaluator ``ev`` (``fun``, ``hessp``, ``hess``, ``best_w``, ``best_f``,
    ``n_hvp``), leave the best point found in ``net.params`` and return scipy's result."""
    opts = dict(options or {})
    opts["maxiter"] = int(maxiter)
    kw = {}
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
