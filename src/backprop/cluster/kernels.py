"""What one task computes on one block of samples, where the block lives.

A task receives the network as its JSON description plus the parameter vector, the loss as its
configuration, and its block (X_b, T_b, s_b). It rebuilds the network, forms the block's Objective
WITHOUT the L2 term (the driver adds it once), and returns

    (n_b, S_b, terms)

with n_b the block's rows, S_b its total weight (n_b without sample weights) and ``terms`` the block's
weighted MEANS (1/S_b sum_{n in b} s_n ...). The driver's sum sum_b (S_b / S) terms_b is then the mean
over the whole data set, S = sum_b S_b, exactly as the in-memory Objective defines it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..derivatives.gauss_newton import gauss_newton_diagonal, gauss_newton_matrix, gauss_newton_products
from ..derivatives.hessian import hessian_diagonal, hessian_matrix
from ..derivatives.jacobian import input_jacobian, param_jacobian
from ..engine.objective import Objective
from ..engine.serialize import build_network
from ..errors import InputError
from ..losses import get_loss
from ..validation import check_X


def _value_grad(obj: Any) -> Any:
    grad = obj.gradient()
    return obj.value(), grad


#: name -> the block's terms from its Objective (and the extra arguments of that computation)
TERMS = {
    "value": lambda obj: (obj.value(),),
    "value_grad": _value_grad,
    "hvp": lambda obj, V: (obj.hvp(V),),
    "gnvp": lambda obj, V: (gauss_newton_products(obj, V),),
    "gauss_newton": lambda obj: (gauss_newton_matrix(obj),),
    "gauss_newton_diag": lambda obj: (gauss_newton_diagonal(obj),),
    "hessian": lambda obj: (hessian_matrix(obj),),
    "hessian_diag": lambda obj: (hessian_diagonal(obj),),
}


def _weights(sw: Any, n: int | None, dtype: DTypeLike) -> Any:
    """The block's sample weights checked like the in-memory ones (a block may weigh zero in total)."""
    try:
        w = np.asarray(sw, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(f"sample_weight must be numbers, shape ({n},)") from None
    if w.shape != (n,):
        raise InputError(f"sample_weight must have one entry per sample; got shape {w.shape} for {n} rows")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError("sample_weight must be finite, >= 0 and not all zero")
    return w


def block_terms(what: str, desc: dict[str, Any], params: NDArray[Any], loss_cfg: dict[str, Any], extra: Any, X: Any,
                T: Any, sw: Any, rows: Any = None) -> Any:
    """(n_b, S_b, terms) of the computation ``what`` on one block; ``rows`` selects some of its samples."""
    net = build_network(desc, params)
    loss = get_loss(loss_cfg)
    if rows is not None:
        X, T = X[rows], T[rows]
        sw = None if sw is None else sw[rows]
        if len(rows) == 0:
            return 0, 0.0, None
    X = check_X(X, net.n_inputs, net.dtype)
    n = X.shape[0]
    if sw is not None:
        sw = _weights(sw, n, net.dtype)
        S = float(np.sum(sw, dtype=np.float64))
        if S == 0:                               # validate the block, contribute nothing
            loss.prepare(T, n, net.n_outputs, net.dtype)
            return n, 0.0, None
    else:
        S = float(n)
    obj = Objective(net, loss, X, T, sample_weight=sw, l2=0.0, full_forward=False)
    term: Any = TERMS[what]
    return n, S, term(obj, *extra)


def block_output(desc: dict[str, Any], params: NDArray[Any], wrt: str | None, X: Any, T: Any, sw: Any) -> Any:
    """The network output (wrt None) or its Jacobian (wrt "inputs" / "params") on one block."""
    net = build_network(desc, params)
    X = check_X(X, net.n_inputs, net.dtype)
    if wrt is None:
        return net.forward_values(X)[0][-1]
    return input_jacobian(net, X) if wrt == "inputs" else param_jacobian(net, X)
