"""Finite-difference checks of the input Jacobian and of the exact Hessian, with the same reports as
``check_gradient``.

* Jacobian: dy_k/dx_i ~ (y_k(x_i + eps) - y_k(x_i - eps)) / (2 eps), 2D forward passes (the whole
  batch moves together: sample n's outputs depend on sample n's inputs only).
* Hessian, 4-point formula (``method="fd4"``):
  d2E/dw_a dw_b ~ [E(+,+) - E(+,-) - E(-,+) + E(-,-)] / (4 eps^2), 4 forward passes of O(W) work
  per entry and W^2 / 2 entries: O(W^3), for small networks.
* Hessian, mixed (``method="mixed"``): d2E/dw_a dw_b ~ (dE/dw_a|_{w_b + eps} - dE/dw_a|_{w_b - eps}) / (2 eps)
  with backpropagated gradients: 2 backward passes of O(W) per column, O(W^2) in all.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..engine.objective import Objective
from ..errors import ConfigError
from ..validation import check_X
from ..validation import MAX_MATRIX_BYTES, check_matrix_size
from .checks import (CheckReport, central_difference, check_options, default_eps, default_tol, make_report,
                     param_perturber, pick_indices, rounding_noise, scaled_floor)
from .hessian import hessian_matrix
from .jacobian import input_jacobian

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..losses import Loss


#: largest number of entries the 4-point check evaluates when ``n`` is not given (4 to 8 forward passes each)
FD4_MAX_ENTRIES = 20_000


def _check_order(order: object) -> None:
    if order not in (2, 4):
        raise ConfigError(f"order must be 2 or 4; got {order!r}")


def check_jacobian(net: Network, X: ArrayLike, eps: float | None = None, tol: float | None = None, order: int = 2,
                   floor: float | None = None) -> CheckReport:
    """Compare the backpropagated input Jacobian with central finite differences.

    dy_k/dx_i ~ (y_k(x_i + eps) - y_k(x_i - eps)) / (2 eps), error O(eps^2): 2D forward passes of the
    whole batch (``order=4``: the 4-point central stencil, error O(eps^4), 4D passes).

    Parameters
    ----------
    net : Network
    X : array-like of shape (B, d)
    eps : float, optional
        Step; default u^(1/(order+1)).
    tol : float, optional
        Largest acceptable relative error (default 1e-6 in float64, 2e-2 in float32).
    order : {2, 4}
    floor : float, optional
        Magnitude below which errors are measured absolutely (default: see CheckReport).

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); T = np.array([[1.0], [0.5], [0.0]])
    >>> bool(bp.check_jacobian(net, X))
    True
    """
    _check_order(order)
    eps, tol, floor, _ = check_options(eps, tol, floor, None)
    X = check_X(X, net.n_inputs, net.dtype)
    analytic = input_jacobian(net, X)
    eps = default_eps(net.dtype, order) if eps is None else float(eps)
    tol = default_tol(net.dtype) if tol is None else float(tol)
    Xp = X.copy()

    def perturb(i: int, delta: float, f: Callable[[], Any]) -> Any:
        old = X[:, i]
        try:
            Xp[:, i] = old + delta
            return f()
        finally:
            Xp[:, i] = old

    def Y() -> NDArray[Any]:
        return net.forward_values(Xp)[0][-1].astype(np.float64)

    numeric = np.stack([central_difference(Y, i, eps, order, perturb) for i in range(net.n_inputs)], axis=-1)
    if floor is None:      # rounding of the outputs Y, divided by the step, is what differences resolve
        noise = rounding_noise(np.abs(net.forward_values(X)[0][-1]).max(), eps, net.dtype)
        floor = scaled_floor(analytic, numeric, noise=noise, tol=tol)
    shape = analytic.shape

    def label(k: int) -> str:
        n, out, i = np.unravel_index(k, shape)
        return f"sample {n}: dy_{out}/dx_{i}"

    return make_report("Jacobian", analytic.ravel(), numeric.ravel(), label, analytic.size, tol, eps, floor,
                       method=f"central differences, O(eps^{order}), {order * net.n_inputs} forward passes")


def _pairs(W: int, n: int | None, seed: int | None) -> tuple[NDArray[Any], NDArray[Any]]:
    """Entries (a, b) with a <= b of a symmetric W x W matrix: all, or n at random."""
    total = W * (W + 1) // 2
    k = pick_indices(total, n, seed)
    # invert k = a W - a (a - 1) / 2 + (b - a): row a of the upper triangle starts at a W - a (a - 1) / 2
    starts = np.arange(W) * W - np.arange(W) * (np.arange(W) - 1) // 2
    a = np.searchsorted(starts, k, side="right") - 1
    b = a + (k - starts[a])
    return a, b


def check_hessian(net: Network, loss: str | Loss | dict[str, Any], X: ArrayLike, T: ArrayLike, method: str = "mixed",
                  eps: float | None = None, n: int | None = None, tol: float | None = None, seed: object = 0,
                  order: int = 2, floor: float | None = None, max_bytes: int = MAX_MATRIX_BYTES) -> CheckReport:
    """Compare the exact (backpropagated) Hessian with finite differences.

    Parameters
    ----------
    net, loss, X, T
        As for ``hessian``.
    method : {"mixed", "fd4"}
        ``"fd4"``: the 4-point formula [E(+,+) - E(+,-) - E(-,+) + E(-,-)] / (4 eps^2) on pairs of
        parameters, error O(eps^2), O(W^3) work: for small networks (``order=4`` adds the same formula
        at 2 eps and extrapolates, error O(eps^4)). ``"mixed"``: central differences of backpropagated
        gradients, one column per perturbed parameter, O(W^2) work.
    eps : float, optional
        Step; default u^(1/4) for fd4 (u^(1/6) with order=4), u^(1/(order+1)) for mixed.
    n : int or None
        Check n random entries of the upper triangle (fd4) or n random columns (mixed). None checks
        all of them, except that fd4 caps itself at ``FD4_MAX_ENTRIES`` (20000) random entries: its
        O(W^3) cost is for small networks.
    tol : float, optional
        Largest acceptable relative error. Defaults in float64: 1e-6 for mixed; for fd4 2e-4 with
        ``order=2`` (rounding in E, divided by 4 eps^2, limits the plain formula to about 1e-5) and
        1e-5 with ``order=4``. In float32: 5e-2 for mixed, 1e-1 for fd4 (a second difference loses
        twice the digits of a first one).
    seed : int
        Seed of the random subset.
    order : {2, 4}
        Order of the finite-difference error.
    floor : float, optional
        Magnitude below which errors are measured absolutely (default: see CheckReport).
    max_bytes : int or None
        The check forms the exact W x W Hessian: refuse (MemoryLimitError, before any work) when it would
        need more bytes; default 2 GiB, None for no limit.

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); T = np.array([[1.0], [0.5], [0.0]])
    >>> bool(bp.check_hessian(net, "l2", X, T))
    True
    """
    _check_order(order)
    if method not in ("fd4", "mixed"):
        raise ConfigError(f"method must be 'fd4' or 'mixed'; got {method!r}")
    eps, tol, floor, seed = check_options(eps, tol, floor, seed)
    check_matrix_size(net.n_params, net.dtype, max_bytes, "check_hessian (it forms the exact Hessian)",
                      "check Hessian-vector products (bp.hvp) against differences of gradients instead")
    obj = Objective(net, loss, X, T)
    H = hessian_matrix(obj)
    W = net.n_params
    f64 = np.dtype(net.dtype) == np.float64
    perturb = param_perturber(net)

    def fresh() -> Objective:
        return Objective(net, obj.loss, obj.X, obj.D, validate=False)

    if method == "fd4":
        # rounding u / eps^2 against truncation eps^order: eps ~ u^(1/4), or u^(1/6) when extrapolated
        eps = default_eps(net.dtype, order + 1) if eps is None else float(eps)
        # the plain formula divides rounding errors of E by 4 eps^2: about 1e-5 relative is its limit in float64
        tol = ((2e-4 if order == 2 else 1e-5) if f64 else 1e-1) if tol is None else float(tol)
        if n is None and W * (W + 1) // 2 > FD4_MAX_ENTRIES:
            n = FD4_MAX_ENTRIES
        a, b = _pairs(W, n, seed)

        def E() -> float:
            return fresh().value()

        def four_point(i: int, j: int, h: float) -> float:
            # [E(w_i + h, w_j + h) - E(w_i + h, w_j - h) - E(w_i - h, w_j + h) + E(w_i - h, w_j - h)] / (4 h^2)
            def inner(sj: float) -> Callable[[], float]:
                return lambda: perturb(j, sj, E)
            s = [perturb(i, si, inner(sj)) for si, sj in ((h, h), (h, -h), (-h, h), (-h, -h))]
            return (s[0] - s[1] - s[2] + s[3]) / (4 * h * h)

        if order == 2:
            numeric = np.array([four_point(i, j, eps) for i, j in zip(a, b)])
        else:
            numeric = np.array([(4 * four_point(i, j, eps) - four_point(i, j, 2 * eps)) / 3 for i, j in zip(a, b)])
        analytic = H[a, b]
        noise = rounding_noise(obj.value(), eps * eps, net.dtype)     # rounding of E over 4 eps^2
        n_total = W * (W + 1) // 2
        method_name = f"4-point formula, O(eps^{order}), {4 * (order // 2)} forward passes per entry"

        def labels(k: int) -> str:
            return f"H[{net.locate(int(a[k]))}, {net.locate(int(b[k]))}]"
    else:
        eps = default_eps(net.dtype, order) if eps is None else float(eps)
        tol = (default_tol(net.dtype) if f64 else 5e-2) if tol is None else float(tol)
        cols = pick_indices(W, n, seed)

        def grad() -> NDArray[Any]:
            return fresh().gradient()

        numeric = np.stack([central_difference(grad, k, eps, order, perturb) for k in cols], axis=1)
        analytic = H[:, cols]
        noise = rounding_noise(np.abs(grad()).max(), eps, net.dtype)  # rounding of the gradient over eps
        n_total = W * W
        method_name = f"central differences of backpropagated gradients, O(eps^{order})"

        def labels(k: int) -> str:
            r, c = np.unravel_index(k, analytic.shape)
            return f"H[{net.locate(int(r))}, {net.locate(int(cols[c]))}]"

    if floor is None:
        floor = scaled_floor(analytic, numeric, noise=noise, tol=tol)
    return make_report("Hessian", analytic.ravel(), numeric.ravel(), labels, n_total, tol, eps, floor,
                       method=method_name)
