"""Finite-difference checks of backpropagated derivatives, with a readable report."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import dispatch
from ..engine.objective import Objective
from ..errors import ConfigError
from ..validation import check_positive, check_seed

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..losses import Loss


@dataclass
class CheckReport:
    """Outcome of comparing analytic derivatives with finite differences.

    ``rel_error`` of one entry is ``|analytic - numeric| / max(|analytic|, |numeric|, floor)``. The floor is
    the larger of 1e-3 times the largest entry and the smallest magnitude the differences resolve to the
    tolerance (rounding of E(w) puts noise of about ``16 u |E| / eps`` on a difference quotient, u the unit roundoff):
    entries below it cannot be compared relatively and are measured on that scale instead.
    ``bool(report)`` is ``report.passed``.

    Parameters
    ----------
    what : str
        What was checked ("gradient", "Jacobian", "Hessian").
    max_rel_error : float
        The largest relative error over the entries checked.
    worst : str
        The entry with that error, e.g. ``"W1[0, 2]"``.
    analytic, numeric : float
        That entry's two values.
    n_checked, n_total : int
        Entries compared, and entries there are.
    tol : float
        The tolerance ``max_rel_error`` is held to.
    eps : float
        The finite-difference step.
    method : str
        How the numeric values were computed.
    errors : ndarray or None
        The relative error of every entry checked.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); T = np.array([[1.0], [0.5], [0.0]])
    >>> report = bp.check_gradient(net, "l2", X, T)
    >>> report.passed, report.n_checked, report.n_total
    (True, 13, 13)
    """

    what: str
    max_rel_error: float
    worst: str
    analytic: float
    numeric: float
    n_checked: int
    n_total: int
    tol: float
    eps: float
    method: str = "central differences, O(eps^2)"
    errors: NDArray[Any] | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        """Whether the largest relative error is within ``tol`` (also the report's truth value)."""
        return bool(self.max_rel_error <= self.tol)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return "\n".join([
            f"{self.what} check: {verdict}  ({self.method}, eps={self.eps:g})",
            f"  entries checked     {self.n_checked} of {self.n_total}",
            f"  max relative error  {self.max_rel_error:.3e}  (tolerance {self.tol:.1e})",
            f"  worst entry         {self.worst}",
            f"    analytic {self.analytic:+.12e}",
            f"    numeric  {self.numeric:+.12e}",
        ])


def relative_errors(analytic: NDArray[Any], numeric: NDArray[Any], floor: float) -> NDArray[Any]:
    """|analytic - numeric| / max(|analytic|, |numeric|, floor), entry by entry.

    Parameters
    ----------
    analytic, numeric : ndarray
        The two values of every entry.
    floor : float
        The smallest denominator.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> relative_errors(np.array([1.0, 0.0]), np.array([1.1, 0.0]), 1e-3).round(6)
    array([0.090909, 0.      ])
    """
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)


def default_eps(dtype: DTypeLike, order: int = 2) -> float:
    """Step that balances truncation (eps^order) against rounding (u / eps): about u^(1/(order+1)).

    Parameters
    ----------
    dtype : dtype
        The floating type of the computation.
    order : int, default 2
        The order of the difference formula (2 or 4).

    Returns
    -------
    float

    Examples
    --------
    >>> f"{default_eps(np.float64):.3g}"
    '6.06e-06'
    """
    u = np.finfo(dtype).eps
    return float(u ** (1.0 / (order + 1)))


def central_difference(f: Callable[[], Any], k: int, eps: float, order: int,
                       perturb: Callable[[int, float, Callable[[], Any]], Any]) -> Any:
    """df/dp_k by central differences: O(eps^2) with 2 evaluations, or O(eps^4) with 4 (order=4).

    Parameters
    ----------
    f : callable
        ``f()`` evaluates the function at the current parameters.
    k : int
        The parameter differentiated.
    eps : float
        The step.
    order : int
        2 or 4.
    perturb : callable
        ``perturb(k, delta, f)``: ``f()`` with parameter k shifted by delta (see ``param_perturber``).

    Returns
    -------
    float or ndarray
        The difference quotient (the shape of ``f()``).

    Examples
    --------
    >>> round(central_difference(lambda: 0.0, 0, 0.1, 2, lambda k, d, f: (1.0 + d) ** 2), 12)
    2.0
    """
    if order == 2:
        return (perturb(k, eps, f) - perturb(k, -eps, f)) / (2 * eps)
    return (8 * (perturb(k, eps, f) - perturb(k, -eps, f))
            - (perturb(k, 2 * eps, f) - perturb(k, -2 * eps, f))) / (12 * eps)


def scaled_floor(analytic: NDArray[Any], numeric: NDArray[Any], rel: float = 1e-3, noise: float = 0.0,
                 tol: float = 1.0) -> float:
    """max(rel * largest entry, noise / tol): see CheckReport.

    Parameters
    ----------
    analytic, numeric : ndarray
        The two values of every entry.
    rel : float, default 1e-3
        The fraction of the largest entry.
    noise : float, default 0.0
        The rounding noise of a difference quotient.
    tol : float, default 1.0
        The tolerance of the check.

    Returns
    -------
    float

    Examples
    --------
    >>> scaled_floor(np.array([1.0]), np.array([1.0]))
    0.001
    """
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)))
    return max(rel * scale, noise / tol, np.finfo(np.float64).tiny)


def rounding_noise(value: float, eps: float, dtype: DTypeLike, ulps: float = 16) -> float:
    """Noise that rounding of a function value ``value`` puts on a difference quotient with step eps.

    Evaluating E(w) rounds a few ulps of its magnitude (sums of many terms, exp and log): ``ulps`` of them.

    Parameters
    ----------
    value : float
        The function value.
    eps : float
        The step of the difference quotient.
    dtype : dtype
        The floating type of the computation.
    ulps : float, default 16
        Units of roundoff assumed in a function value.

    Returns
    -------
    float

    Examples
    --------
    >>> f"{rounding_noise(2.0, 1e-5, np.float64):.3g}"
    '7.11e-10'
    """
    return ulps * float(np.finfo(dtype).eps) * max(abs(float(value)), float(np.finfo(dtype).tiny)) / eps


def default_tol(dtype: DTypeLike) -> float:
    """The tolerance of a check in ``dtype``: 1e-6 in float64, 2e-2 in float32.

    Parameters
    ----------
    dtype : dtype
        The floating type of the computation.

    Returns
    -------
    float

    Examples
    --------
    >>> default_tol(np.float64), default_tol(np.float32)
    (1e-06, 0.02)
    """
    return 1e-6 if np.dtype(dtype) == np.float64 else 2e-2


def check_options(eps: float | None, tol: float | None, floor: float | None,
                  seed: object) -> tuple[float | None, float | None, float | None, int | None]:
    """Validate the options shared by the checks: eps finite > 0, tol finite >= 0, floor finite > 0 (each
    or None), seed None or an integer >= 0. Returns them (floats where given).

    Parameters
    ----------
    eps, tol, floor : float or None
        The options as given.
    seed : object
        The seed as given.

    Returns
    -------
    tuple
        (eps, tol, floor, seed), checked.

    Examples
    --------
    >>> check_options(1e-5, None, None, 0)
    (1e-05, None, None, 0)
    """
    return (check_positive(eps, "eps"), check_positive(tol, "tol", allow_zero=True),
            check_positive(floor, "floor"), check_seed(seed, generator=False))


def pick_indices(n_total: int, n: object, seed: int | None) -> NDArray[Any]:
    """The entries to check: all of range(n_total), or n of them drawn without replacement, sorted.

    Parameters
    ----------
    n_total : int
        The number of entries there are.
    n : int or None
        How many to check (None: all).
    seed : int or None
        Seed of the draw.

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> pick_indices(4, None, 0)
    array([0, 1, 2, 3])
    """
    if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1):
        raise ConfigError(f"n must be a positive integer or None; got {n!r}")
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=int(n), replace=False))


def make_report(what: str, analytic: NDArray[Any], numeric: NDArray[Any], labels: Callable[[int], str], n_total: int,
                tol: float, eps: float, floor: float, method: str | None = None) -> CheckReport:
    """The CheckReport of a comparison of analytic and numeric values.

    Parameters
    ----------
    what : str
        What was checked.
    analytic, numeric : ndarray
        The values of the entries checked.
    labels : callable
        ``labels(k)`` names entry k.
    n_total : int
        The number of entries there are.
    tol, eps, floor : float
        The tolerance, the step and the floor of the relative errors.
    method : str, optional
        How the numeric values were computed.

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> r = make_report("gradient", np.array([1.0, 2.0]), np.array([1.0, 2.0]), lambda k: f"p[{k}]", 2,
    ...                 1e-6, 1e-5, 1e-3)
    >>> r.passed, r.worst
    (True, 'p[0]')
    """
    err = relative_errors(analytic, numeric, floor)
    k = int(np.argmax(err)) if err.size else 0
    kw = {"method": method} if method else {}
    return CheckReport(what, float(err[k]) if err.size else 0.0, labels(k) if err.size else "-",
                       float(np.ravel(analytic)[k]) if err.size else 0.0,
                       float(np.ravel(numeric)[k]) if err.size else 0.0,
                       int(err.size), int(n_total), tol, eps, errors=err, **kw)


def param_perturber(net: Network) -> Callable[[int, float, Callable[[], Any]], Any]:
    """perturb(k, delta, f): evaluate f() with params[k] shifted by delta, then restore it exactly.

    Parameters
    ----------
    net : Network
        The network whose parameters are shifted.

    Returns
    -------
    callable

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], seed=0, output="identity")
    >>> perturb = param_perturber(net)
    >>> w0 = float(net.params[0])
    >>> perturb(0, 0.5, lambda: float(net.params[0])) - w0, float(net.params[0]) == w0
    (0.5, True)
    """
    p = net.params

    def perturb(k: int, delta: float, f: Callable[[], Any]) -> Any:
        old = p[k]
        try:
            p[k] = old + delta
            return f()
        finally:
            p[k] = old
    return perturb


def check_gradient(net: Network, loss: str | Loss | dict[str, Any], X: ArrayLike, T: ArrayLike,
                   eps: float | None = None, n: int | None = None, tol: float | None = None, seed: object = 0,
                   order: int = 2, floor: float | None = None) -> CheckReport:
    """Compare the backpropagated gradient with central finite differences.

    dE/dw_k ~ (E(w_k + eps) - E(w_k - eps)) / (2 eps), error O(eps^2); 2 forward passes per entry
    (``order=4``: the 4-point central stencil, error O(eps^4), 4 forward passes per entry).

    Parameters
    ----------
    net, loss, X, T
        As for ``loss_and_grad``.
    eps : float, optional
        Step; default u^(1/(order+1)) (6e-6 in float64 for order 2, 7e-4 for order 4).
    n : int or None
        Check a random subset of n parameters (all when None).
    tol : float, optional
        Largest acceptable relative error (default 1e-6 in float64, 2e-2 in float32).
    seed : int
        Seed of the random subset.
    order : {2, 4}
        Order of the central difference.
    floor : float, optional
        Magnitude below which errors are measured absolutely (default: see CheckReport).

    Returns
    -------
    CheckReport
        Prints as a short table; ``report.passed`` against ``tol``.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); T = np.array([[1.0], [0.5], [0.0]])
    >>> bool(bp.check_gradient(net, "l2", X, T))
    True
    """
    if (on_dask := dispatch.on_dask("check_gradient", X, T)) is not None:
        return on_dask(net, loss, X, T, eps=eps, n=n, tol=tol, seed=seed, order=order, floor=floor)
    if order not in (2, 4):
        raise ConfigError(f"order must be 2 or 4; got {order!r}")
    eps, tol, floor, seed = check_options(eps, tol, floor, seed)
    obj = Objective(net, loss, X, T)
    analytic = obj.gradient()
    eps = default_eps(net.dtype, order) if eps is None else float(eps)
    tol = default_tol(net.dtype) if tol is None else float(tol)
    idx = pick_indices(net.n_params, n, seed)

    def E() -> float:
        return Objective(net, obj.loss, obj.X, obj.D, validate=False, full_forward=False).value()

    perturb = param_perturber(net)
    numeric = np.array([central_difference(E, k, eps, order, perturb) for k in idx])
    if floor is None:
        floor = scaled_floor(analytic[idx], numeric, noise=rounding_noise(obj.value(), eps, net.dtype), tol=tol)
    method = f"central differences, O(eps^{order})"
    return make_report("gradient", analytic[idx], numeric, lambda i: net.locate(int(idx[i])),
                       net.n_params, tol, eps, floor, method=method)
