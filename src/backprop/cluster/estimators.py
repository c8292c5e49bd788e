"""The scikit-learn estimators on Dask data: full-batch solvers summed over blocks, stochastic ones streamed.

``solver="lbfgs"`` / ``"trust-ncg"``: the estimator is set up (classes, network, initial weights) on a
small sample holding every class, exactly as by ``fit`` on in-memory data; its own solver then runs,
with every evaluation of its objective 1/S sum_n s_n Div_n + alpha/(2S) ||W||^2 (and every H v)
computed by the cluster over all blocks. ``solver="sgd"`` / ``"adam"``: ``partial_fit`` is one pass over
the blocks in a seeded random order, each block an in-memory ``partial_fit`` (its own seeded shuffle and
mini-batches); ``fit`` is ``max_iter`` such passes from a fresh start, stopping like scikit-learn when the
epoch's loss has not improved by ``tol`` for ``n_iter_no_change`` epochs.
"""
from __future__ import annotations

import copy
import threading
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .._optional import require
from ..errors import ConfigError
from .shards import Shards, _aligned, _as_array, _dask, _rows_only
from .sums import Sums

if TYPE_CHECKING:
    from ..engine.network import Network


_STOCHASTIC = ("sgd", "adam")


# ---- the objective of the full-batch solvers ------------------------------------------------------

class _Objective:
    """The estimator's batch objective over Dask blocks, with the methods its solvers call."""

    def __init__(self, sums: Any, alpha: float, S: float) -> None:
        self.sums = sums
        sums.l2 = alpha / S
        self._value = None

    def gradient(self) -> NDArray[Any]:
        self._value, grad = self.sums.value_grad()
        return grad

    def value(self) -> float | None:
        if self._value is None:
            self.gradient()
        return self._value

    def hvp(self, V: NDArray[Any]) -> NDArray[Any]:
        return self.sums.products("hvp", V)


class _Data:
    """The persisted blocks of one fit, shared by every evaluation of its objective."""

    def __init__(self, X: Any, D: Any, sw: Any, S: float) -> None:
        self.X, self.D, self.sw, self.S = X, D, sw, S
        self.shards = Shards(X, D, sw)


#: the data of the fit in progress, per thread (fits in several threads do not see each other's)
_fitting = threading.local()


def batch_objective(net: Network, loss: Any, X: Any, D: Any, sw: Any, alpha: float) -> Any:
    """``batch_objective`` of the estimators for Dask blocks (the data of the fit in progress)."""
    data = getattr(_fitting, "data", None)
    if data is None or data.X is not X:
        raise ConfigError("Dask data reach the estimators' solvers only through fit(X, y) with Dask X")
    return _Objective(Sums(net, loss, shards=data.shards), alpha, data.S)


def _block_targets(est: Any, loss: Any, output: Any, dtype: DTypeLike, Xb: Any, yb: Any) -> Any:
    """The block's targets as the estimator's solver sees them (validated like in-memory data)."""
    _, Y = est._validate_input(Xb, yb, True, False)
    return est._targets(Y, loss, output, dtype)


def _targets(est: Any, X: Any, y: Any, loss: Any, output: Any, dtype: DTypeLike, n_outputs: int) -> Any:
    dask, da = _dask()
    delayed = dask.delayed
    shipped = copy.copy(est)                        # the estimator as set up, without this fit's solver
    shipped.__dict__.pop("_fit_full_batch", None)
    task = delayed(_block_targets, pure=False)
    parts = [da.from_delayed(task(shipped, loss, output, dtype, xb, yb), shape=(n, n_outputs), dtype=dtype)
             for xb, yb, n in zip(X.to_delayed().ravel(), y.to_delayed().ravel(), X.chunks[0])]
    return da.concatenate(parts)


# ---- entry -------------------------------------------------------------------------------------------

def _inputs(X: Any, y: Any, sample_weight: Any) -> Any:
    X = _rows_only(_as_array(X, "X"), "X")
    if X.ndim != 2:
        raise ConfigError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}")
    y = _aligned(y, X.chunks[0], "y", X.shape[0])
    sw = _aligned(sample_weight, X.chunks[0], "sample_weight", X.shape[0])
    return X, y, sw


def _sample(est: Any, X: Any, y: Any) -> Any:
    """A few rows on the driver that set the estimator up as the whole data would (every class present)."""
    dask, da = _dask()
    is_classifier = require("sklearn.base", extra="sklearn", feature="the estimators").is_classifier
    if is_classifier(est) and y.ndim == 1:
        classes = da.unique(y).compute()
        first = [int(i) for i in dask.compute(*[da.argmax(y == c) for c in classes])]
        return X[first].compute(), classes
    k = min(int(X.shape[0]), 8)
    return X[:k].compute(), y[:k].compute()


def estimator_fit(est: Any, X: Any, y: Any, sample_weight: Any, incremental: bool) -> Any:
    """``fit`` / ``partial_fit`` of MLPClassifier and MLPRegressor on Dask data (see the module notes)."""
    X, y, sw = _inputs(X, y, sample_weight)
    if est.solver in _STOCHASTIC:
        return _stream(est, X, y, sw, incremental)
    if incremental:
        raise ValueError(f"partial_fit is not available with solver={est.solver!r}")
    return _full_batch(est, X, y, sw)


def _full_batch(est: Any, X: Any, y: Any, sw: Any) -> None:
    dask, _ = _dask()
    X, y, sw = dask.persist(X, y, sw)
    Xs, ys = _sample(est, X, y)
    S = float(X.shape[0]) if sw is None else float(sw.sum(dtype=np.float64).compute())
    cls = type(est)

    # the estimator's own solver, on every block
    def solve(net: Network, loss: Any, Xs_: Any, Ds_: Any, sws_: Any) -> None:
        output = est._output_and_loss(net.n_outputs)[0]
        D = _targets(est, X, y, loss, output, net.dtype, net.n_outputs)
        _fitting.data = _Data(X, D, sw, S)
        cls._fit_full_batch(est, net, loss, X, D, sw)

    est.__dict__["_fit_full_batch"] = solve        # this fit only: the blocks instead of the sample
    try:
        cls._fit_unguarded(est, Xs, ys, None, False)
    finally:
        est.__dict__.pop("_fit_full_batch", None)
        _fitting.data = None


def _block_order(est: Any, n_blocks: int, epoch: int) -> NDArray[Any]:
    seed = est.random_state if isinstance(est.random_state, (int, np.integer)) else None
    return np.random.default_rng([0 if seed is None else int(seed), epoch]).permutation(n_blocks)


def estimator_partial_fit(est: Any, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> Any:
    """``MLPClassifier.partial_fit`` on Dask data: one pass over the blocks, each an in-memory partial_fit."""
    X, y, sw = _inputs(X, y, sample_weight)
    return _stream(est, X, y, sw, True, classes=classes)


def _stream(est: Any, X: Any, y: Any, sw: Any, incremental: bool, classes: Any = None) -> Any:
    base = require("sklearn.base", extra="sklearn", feature="the estimators")
    clone, is_classifier = base.clone, base.is_classifier
    ConvergenceWarning = require("sklearn.exceptions", extra="sklearn", feature="the estimators").ConvergenceWarning
    dask, da = _dask()
    if est.solver not in _STOCHASTIC:
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
                             "stochastic.")
    if est.early_stopping:
        raise ValueError("early_stopping=True holds out a validation split, which needs the data in memory; "
                         "with Dask data use early_stopping=False")
    shards = Shards(X, y, sw)
    if classes is None and not incremental and is_classifier(est) and y.ndim == 1:
        classes = da.unique(shards.T).compute()
    # a copy trains: a call that fails leaves the estimator as it was
    work = copy.deepcopy(est) if incremental or est.warm_start else clone(est)

    def one_pass(epoch: int) -> Any:
        total = 0.0
        for b in _block_order(work, len(shards), epoch):
            Xb, yb, wb = shards.fetch(b)
            kw = {"classes": classes} if is_classifier(work) else {}
            type(work).partial_fit(work, Xb, yb, sample_weight=wb, **kw)
            total += work.loss_ * len(Xb)
        return total / shards.n

    if incremental:
        epoch = int(work.__dict__.get("_dask_epochs", 0))
        work.loss_ = one_pass(epoch)
        work._dask_epochs = epoch + 1
        est.__dict__.clear()
        est.__dict__.update(work.__dict__)
        return est
    curve, best, wait = [], np.inf, 0
    for epoch in range(work.max_iter):
        loss = one_pass(epoch)
        curve.append(loss)
        wait = wait + 1 if loss > best - work.tol else 0
        best = min(best, loss)
        if wait > work.n_iter_no_change:
            break
    else:
        warnings.warn(f"Stochastic Optimizer: Maximum iterations ({work.max_iter}) reached and the "
                      "optimization hasn't converged yet.", ConvergenceWarning)
    work.loss_, work.loss_curve_, work.best_loss_, work.n_iter_ = curve[-1], curve, best, len(curve)
    work._dask_epochs = len(curve)
    est.__dict__.clear()
    est.__dict__.update(work.__dict__)
    return est
