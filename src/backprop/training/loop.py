"""The training loop: epochs of mini-batch updates, each batch forward, backward, then one update.

For every batch the whole gradient dL/dW is computed by backpropagation first, and only then
does the optimiser change W (updating a layer before the layers below it have used its old
weights would be the update-ordering mistake). One epoch is one pass over the shuffled data.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np

from .. import dispatch
from ..engine.network import Network
from ..engine.objective import Objective
from ..errors import ConfigError, DivergenceError, DivergenceWarning, InputError
from ..losses import get_loss
from ..validation import all_finite, check_seed, check_X
from . import checkpoint as ckpt
from .history import DIVERGED_FACTOR, History
from .metrics import get_metric
from .optimizers import get_optimizer
from .pairing import check_output_loss
from .schedules import get_schedule


def _check_count(name, value, minimum=1, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        extra = " or None" if allow_none else ""
        raise ConfigError(f"{name} must be an integer >= {minimum}{extra}; got {value!r}")
    return int(value)


def run_epoch(net, loss, X, D, optimizer, batch_size, rng=None, on_batch=None) -> float:
    """One pass over the training data in mini-batches, one optimiser step per batch.

    Parameters
    ----------
    net : Network
    loss : str or Loss
    X : ndarray of shape (B, d)
        Inputs, already validated (``check_X``): no checks are repeated here.
    D : ndarray of shape (B, c)
        Targets prepared by ``loss.prepare``.
    optimizer : Optimizer
        Stepped as ``optimizer.step(net, grad)``: weight decay, if any, applies to the network's
        weights and not to its biases.
    batch_size : int or None
        Samples per update; None uses the whole set (gradient descent).
    rng : numpy.random.Generator, optional
        Shuffles the samples (one permutation per epoch); None keeps their order.
    on_batch : callable, optional
        ``on_batch(i, loss_value, objective, grad)`` after the update of batch i; a true return
        value ends the epoch early.

    Returns
    -------
    float
        Training loss over the samples of the batches processed, each batch's loss taken at the
        parameters before its update: their mean for a loss with reduction "mean", their sum (plus
        the L2 term once) for reduction "sum". If a batch's loss or gradient is NaN or inf, the epoch stops
        before updating with it and the non-finite value is returned.
    """
    loss = get_loss(loss)
    n = X.shape[0]
    bs = n if batch_size is None else min(_check_count("batch_size", batch_size), n)
    if rng is not None:
        perm = rng.permutation(n)
        X, D = X[perm], D[perm]          # one gather per epoch; every batch below is a view
    total, seen = 0.0, 0
    summed = loss.reduction == "sum"
    # a diverging run overflows on its way to inf/NaN; that is detected below, not warned about
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i, start in enumerate(range(0, n, bs)):
            obj = Objective(net, loss, X[start:start + bs], D[start:start + bs], validate=False,
                            full_forward=False)
            grad = obj.gradient()          # the whole gradient (and the divergences with it), before any update
            value = obj.value()
            if not math.isfinite(value):
                return value
            if not math.isfinite(grad @ grad) and not np.isfinite(grad).all():
                return math.nan
            penalty = obj.regularization() if summed else 0.0
            optimizer.step(net, grad)          # weight decay, if any, on the network's weights only
            # mean: the batch means weighted by batch size; sum: the batch sums added, the L2 term once
            total += value - penalty if summed else value * obj.B
            seen += obj.B
            if on_batch is not None and on_batch(i, value, obj, grad):
                break
    return total + penalty if summed else total / seen


@contextmanager
def _graceful_interrupt():
    """While active, the first Ctrl-C only sets ``flag[0]`` (the loop stops after the current batch);
    a second one interrupts at once. Only in the main thread, and only over Python's default handler."""
    flag = [False]
    installed = (threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if installed:
        def handler(signum, frame):
            flag[0] = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _layer_names(net):
    return [f"layer {k + 1} ({op.describe()})" for k, (_, op, _) in enumerate(net.param_layers())]


def _split_validation(X, D, fraction, rng):
    n = X.shape[0]
    if not isinstance(fraction, (float, np.floating)) or not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation_fraction must be a number strictly between 0 and 1; got {fraction!r}")
    n_val = int(round(fraction * n))
    if n_val < 1 or n - n_val < 1:
        raise InputError(f"validation_fraction={fraction} of {n} samples leaves an empty training or "
                         "validation part; use more data or another fraction")
    perm = rng.permutation(n)
    val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return X[tr], D[tr], X[val], D[val]


class _Progress:
    """tqdm bar over epochs (or nothing when not verbose)."""

    def __init__(self, verbose, total, initial):
        self.bar = None
        if verbose:
            from .._optional import progress_bar as tqdm     # tqdm's bar, or a plain one without tqdm
            self.bar = tqdm(total=total, initial=initial, desc="training", unit="epoch", file=sys.stderr,
                            dynamic_ncols=True, leave=True)

    def update(self, record, metric_name):
        if self.bar is None:
            return
        parts = [f"loss={record['loss']:.4f}"]
        if math.isfinite(record["val_loss"]):
            parts.append(f"val_loss={record['val_loss']:.4f}")
        if metric_name:
            val = record["val_metric"] if math.isfinite(record["val_metric"]) else record["train_metric"]
            if math.isfinite(val):
                parts.append(f"{'val_' if math.isfinite(record['val_metric']) else ''}{metric_name}={val:.4f}")
        self.bar.set_postfix_str(" ".join(parts), refresh=False)
        self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def train(net, loss, X, T, optimizer="sgd", lr=None, batch_size=32, epochs=100, *, momentum=None,
          weight_decay=None, schedule=None, shuffle=True, seed=0, validation_data=None,
          validation_fraction=None, early_stopping=None, restore_best=True, tol=1e-6, n_iter_no_change=10,
          metric="auto", verbose=True, on_epoch_end=None, checkpoint=None, checkpoint_every=None,
          resume=False) -> History:
    """Train ``net`` in place by mini-batch gradient descent on ``loss`` over (X, T).

    Every input is checked before the first update, so a call that fails leaves the network as it was.

    Parameters
    ----------
    net : Network
    loss : str or Loss
        ``"cross_entropy"``, ``"bce"``, ``"l2"``, ... (a Loss carries the L2 strength ``l2``).
    X : array-like of shape (B, d)
    T : array-like
        Targets: (B, c), or (B,) class labels for cross_entropy, or (B,) when c == 1.
    optimizer : str or Optimizer, default "sgd"
        ``"gd"`` (full batch), ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"`` or an Optimizer.
    lr : float, optional
        Initial learning rate (default: the optimiser's, 0.01 for SGD and 0.001 for Adam).
    batch_size : int or None, default 32
        Samples per update (None: the whole training set; always so with ``"gd"``).
    epochs : int, default 100
        Maximum number of epochs (passes over the data), counting epochs of a resumed run.
    momentum, weight_decay : float, optional
        Passed to the optimiser named by ``optimizer``.
    schedule : None, str, Schedule or callable, optional
        Learning-rate schedule: ``"constant"``, ``"step"``, ``"invscaling"``, ``"cosine"``, a Schedule,
        or ``f(epoch, step) -> lr`` (asked before every update).
    shuffle : bool, default True
        Reshuffle the training samples every epoch.
    seed : int or None, default 0
        Seed of the shuffling and of the validation split; the same seed gives bitwise identical
        parameters on the same machine.
    validation_data : tuple (X_val, T_val), optional
        Data to measure ``val_loss`` and ``val_metric`` on after every epoch.
    validation_fraction : float, optional
        Instead of ``validation_data``, hold out this fraction of (X, T) (a seeded random split).
    early_stopping : bool, optional
        Stop when the validation loss has not improved by more than ``tol`` for ``n_iter_no_change``
        epochs. Default: True when there is validation data. ``True`` without validation data holds
        out ``validation_fraction=0.1``.
    restore_best : bool, default True
        With validation data, end with the parameters of the epoch of lowest validation loss.
    tol : float or None, default 1e-6
        Convergence: stop when |L(W^k) - L(W^(k-1))| < tol for ``n_iter_no_change`` consecutive epochs
        (L the epoch's training loss). None never stops early.
    n_iter_no_change : int, default 10
    metric : "auto", "accuracy", "r2", "rmse", callable or None
        Reported per epoch; "auto" is accuracy for cross_entropy and bce, R^2 for l2.
    verbose : bool, default True
        Show a progress bar (tqdm) with epoch, loss and metric.
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, record)`` after every epoch: ``epoch`` is its number (1, 2, ...) and
        ``record`` its history row; returning True stops training.
    checkpoint : str or path, optional
        File to write a checkpoint to every ``checkpoint_every`` epochs (and at the end).
    checkpoint_every : int, optional
        Default 1 when ``checkpoint`` is given.
    resume : bool, default False
        If ``checkpoint`` exists, continue from it (network, optimiser, shuffling state, history).

    Returns
    -------
    History
        One row per epoch; ``history.stop_reason`` says why training ended. On Ctrl-C (or a
        KeyboardInterrupt raised by a callback) training ends after the current batch and returns
        the history, with the best parameters when validation data is used.

    Raises
    ------
    DivergenceError
        If the loss becomes NaN or inf. The network keeps the parameters it had at the end of the
        last finished epoch (the last finite ones); ``err.history`` holds the epochs before.
    InputError, ConfigError
        For bad data or options, before anything is changed.
    """
    if (on_dask := dispatch.on_dask("train", X, T)) is not None:       # streams the blocks (backprop.cluster)
        return on_dask(net, loss, X, T, optimizer, lr, batch_size, epochs, momentum=momentum,
                       weight_decay=weight_decay, schedule=schedule, shuffle=shuffle, seed=seed,
                       validation_data=validation_data, validation_fraction=validation_fraction,
                       early_stopping=early_stopping, restore_best=restore_best, tol=tol,
                       n_iter_no_change=n_iter_no_change, metric=metric, verbose=verbose, on_epoch_end=on_epoch_end,
                       checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume)
    # ---- every check before the first update --------------------------------------------------
    if not isinstance(net, Network):
        raise ConfigError(f"train needs a backprop Network; got {type(net).__name__}")
    loss = get_loss(loss)
    check_output_loss(net, loss)          # an output the loss cannot be computed on: refused, with advice
    X = check_X(X, net.n_inputs, net.dtype)
    D = loss.prepare(T, X.shape[0], net.n_outputs, net.dtype)
    epochs = _check_count("epochs", epochs)
    batch_size = _check_count("batch_size", batch_size, allow_none=True)
    n_iter_no_change = _check_count("n_iter_no_change", n_iter_no_change)
    opt = get_optimizer(optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = get_schedule(schedule, opt.lr, epochs)
    if tol is not None:
        try:
            tol = float(tol)
        except (TypeError, ValueError):
            tol = math.nan
        if not math.isfinite(tol) or tol < 0:
            raise ConfigError(f"tol must be a finite number >= 0 or None; got {tol!r}")
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise ConfigError(f"on_epoch_end must be callable as f(epoch, record); got {on_epoch_end!r}")
    metric_fn = get_metric(metric, loss, net.n_outputs)
    if checkpoint is None and (checkpoint_every is not None or resume):
        raise ConfigError("checkpoint_every and resume need a checkpoint file: pass checkpoint=PATH")
    checkpoint_every = (_check_count("checkpoint_every", checkpoint_every) if checkpoint_every is not None
                        else (1 if checkpoint is not None else None))
    if checkpoint is not None:
        ckpt.check_target(checkpoint)     # a checkpoint that cannot be written fails now, not after an epoch

    split_seq, shuffle_seq = np.random.SeedSequence(check_seed(seed, generator=False)).spawn(2)
    if validation_data is not None and validation_fraction is not None:
        raise ConfigError("give validation_data or validation_fraction, not both")
    if early_stopping and validation_data is None and validation_fraction is None:
        validation_fraction = 0.1
    if validation_fraction is not None:
        X, D, Xv, Dv = _split_validation(X, D, validation_fraction, np.random.default_rng(split_seq))
    elif validation_data is not None:
        try:
            Xv, Tv = validation_data
        except (TypeError, ValueError):
            raise ConfigError("validation_data must be a pair (X_val, T_val)") from None
        Xv = check_X(Xv, net.n_inputs, net.dtype, name="X_val")
        Dv = loss.prepare(Tv, Xv.shape[0], net.n_outputs, net.dtype)
    else:
        Xv = Dv = None
    has_val = Xv is not None
    early_stopping = has_val if early_stopping is None else bool(early_stopping)
    bs = None if (opt.full_batch or batch_size is None) else min(batch_size, X.shape[0])
    rng = np.random.default_rng(shuffle_seq)
    state = ckpt.TrainState()
    history = History(metric_fn.name if metric_fn else None, _layer_names(net))
    if resume and ckpt.exists(checkpoint):
        # checked completely before anything is applied
        loaded = ckpt.read(checkpoint, net, opt, n_samples=X.shape[0], layers=history.layers,
                           metric=history.metric)
        state, history = loaded.state, loaded.history
        history.diverged = False
        if history.start_loss is None and history.records:
            history.start_loss = history.records[0]["loss"]
    else:
        loaded = None
        # the loss the run starts from: what the end of training is compared with
        history.start_loss = start = _training_loss(net, loss, X, D, bs)
        if not math.isfinite(start):
            raise _divergence(0, start, opt.lr, history, before_update=True)
    if loaded is not None:
        loaded.apply(net, opt, rng)

    # ---- the loop ----------------------------------------------------------------------------
    params = net.params
    starts = [int(net.offsets[j]) for j, _, _ in net.param_layers()]
    sq = np.empty_like(params)
    last_good = params.copy()
    best = state.best_params if state.best_params is not None else (params.copy() if has_val else None)
    progress = _Progress(verbose, epochs, state.epoch)
    stop_reason = "max_epochs"
    acc = {}

    def on_batch(i, value, obj, grad):
        # per-layer ||dL/dp||: one squared copy and one segmented sum per batch
        np.multiply(grad, grad, out=sq)
        acc["norms"] += np.sqrt(np.add.reduceat(sq, starts)) if starts else 0.0
        acc["batches"] += 1
        if metric_fn is not None and metric_fn.per_sample:
            acc["metric"] += metric_fn(obj.output, obj.D) * obj.B
            acc["seen"] += obj.B
        state.step += 1
        if sched.per_step:
            opt.lr = sched(state.epoch, state.step)
        return flag[0]

    try:
        with _graceful_interrupt() as flag:
            while state.epoch < epochs:
                t0 = time.perf_counter()
                np.copyto(last_good, params)
                opt_snapshot = opt.state_dict()
                acc.update(norms=np.zeros(len(starts)), batches=0, metric=0.0, seen=0)
                lr0 = opt.lr = sched(state.epoch, state.step)
                value = run_epoch(net, loss, X, D, opt, bs, rng if shuffle else None, on_batch)
                if flag[0]:
                    raise KeyboardInterrupt
                if not math.isfinite(value) or not all_finite(params):
                    np.copyto(params, last_good)
                    opt.load_state_dict(opt_snapshot)
                    stop_reason = "diverged"
                    raise _divergence(state.epoch, value, lr0, history)
                record = {"epoch": state.epoch + 1, "loss": value, "val_loss": math.nan,
                          "train_metric": (acc["metric"] / acc["seen"]) if acc["seen"] else math.nan,
                          "val_metric": math.nan, "lr": lr0,
                          "grad_norms": (acc["norms"] / max(acc["batches"], 1)).tolist(),
                          "time": 0.0}
                if has_val:
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        vobj = Objective(net, loss, Xv, Dv, validate=False)
                        record["val_loss"] = vobj.value()
                        if metric_fn is not None:
                            record["val_metric"] = metric_fn(vobj.output, Dv)
                state.epoch += 1
                stop = _update_stopping(state, record, has_val, early_stopping, tol, n_iter_no_change, params, best)
                record["time"] = time.perf_counter() - t0
                history.append(record)
                progress.update(record, history.metric)
                if on_epoch_end is not None and on_epoch_end(state.epoch, history.records[-1]) is True:
                    stop = stop or "callback"
                if stop:
                    stop_reason = stop
                if checkpoint is not None and (state.epoch % checkpoint_every == 0 or stop
                                               or state.epoch == epochs):
                    ckpt.write(checkpoint, net, opt, rng, state, history, best, n_samples=X.shape[0])
                if stop:
                    break
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    finally:
        progress.close()
        history.stop_reason = stop_reason
    history.best_epoch = state.best_epoch
    if has_val and restore_best and state.best_epoch is not None:
        np.copyto(params, best)
    history.end_loss = _training_loss(net, loss, X, D, bs)
    _check_worsening(history, opt)
    if stop_reason == "interrupted" and verbose:
        print(f"training interrupted after {len(history)} epoch(s); "
              + ("best parameters restored" if has_val and restore_best else "parameters kept"), file=sys.stderr)
    return history


def _update_stopping(state, record, has_val, early_stopping, tol, n_iter_no_change, params, best):
    """Advance the convergence and early-stopping counters; return a stop reason or None."""
    reason = None
    if has_val:
        v = record["val_loss"]
        improved = math.isfinite(v) and (not math.isfinite(state.best_val) or v < state.best_val - (tol or 0.0))
        if state.best_epoch is None or improved:
            state.best_val, state.best_epoch, state.wait = v, record["epoch"], 0
            np.copyto(best, params)
        else:
            state.wait += 1
        if early_stopping and state.wait >= n_iter_no_change:
            reason = "early_stopping"
    if tol is not None:
        if state.prev_loss is not None and abs(record["loss"] - state.prev_loss) < tol:
            state.calm += 1
        else:
            state.calm = 0
        if state.calm >= n_iter_no_change and reason is None:
            reason = "converged"
    state.prev_loss = record["loss"]
    return reason


def _training_loss(net, loss, X, D, batch_size):
    """The loss over the whole training set at the current parameters, in batches (forward passes only)."""
    n = X.shape[0]
    bs = max(n if batch_size is None else batch_size, 4096)
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, n, bs):
            obj = Objective(net, loss, X[start:start + bs], D[start:start + bs], validate=False,
                            full_forward=False)
            total += float(np.sum(obj.divergences(), dtype=np.float64))
        return (total if obj.reduction == "sum" else total / n) + obj.regularization()


def _check_worsening(history, opt):
    """Flag and warn about a run that ends far worse than it started (without ever reaching NaN or inf)."""
    start, end = history.start_loss, history.end_loss
    if start is None or end is None or not math.isfinite(start):
        return
    if math.isfinite(end) and end - start <= (DIVERGED_FACTOR - 1) * max(abs(start), 1e-12):
        return
    history.diverged = True
    lr = history.records[0]["lr"] if history.records else opt.lr
    decay = f", or the weight decay {opt.weight_decay:g}," if opt.weight_decay else ""
    warnings.warn(
        f"training diverged: the training loss ended at {end:.4g}, more than {DIVERGED_FACTOR:g} times the "
        f"{start:.4g} it started from; the learning rate {lr:g}{decay} is probably too large, try a smaller "
        f"one (e.g. {lr / 10:g}). history.diverged is True.", DivergenceWarning, stacklevel=3)


def _divergence(epoch, value, lr, history, before_update=False):
    if before_update:
        err = DivergenceError(
            f"the training loss is already {value} at the initial parameters, before any update, so the "
            "learning rate is not the cause: check the data (targets far out of the output's range?) and "
            "that the output activation suits the loss. Nothing was changed.")
    else:
        where = f"the end of epoch {epoch}" if epoch else "the start of training"
        what = f"the training loss became {value}" if not math.isfinite(value) else "the parameters became NaN or inf"
        err = DivergenceError(
            f"training diverged in epoch {epoch + 1}: {what}; the learning rate "
            f"{lr:g} is probably too large, try a smaller one (e.g. {lr / 10:g}). The network keeps its "
            f"parameters from {where}, the last finite ones.")
    err.epoch = epoch + 1
    err.history = history
    history.stop_reason = "diverged"
    history.diverged = True
    return err
