"""The training loop: epochs of mini-batch updates, each batch forward, backward, then one update.

For every batch the whole gradient dL/dW is computed by backpropagation first, and only then
does the optimiser change W (updating a layer before the layers below it have used its old
weights would be the update-ordering mistake). One epoch is one pass over the shuffled data.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, Literal, Optional, Union, cast, overload

import numpy as np
from numpy.typing import ArrayLike

from .. import dispatch
from ..engine.network import Network
from ..engine.objective import Objective, loss_head
from ..engine.plan import acquire
from ..errors import ConfigError, DivergenceError, DivergenceWarning, InputError
from ..losses import Loss, get_loss
from ..ops.arrays import Array
from ..validation import all_finite, check_sample_weight, check_seed, check_X
from . import checkpoint as ckpt
from .callbacks import Callback, check_callbacks
from .history import DIVERGED_FACTOR as DIVERGED_FACTOR      # re-exported: the CLI reads it from here
from .history import History
from .metrics import Metric, get_metric
from .optimizers import Optimizer, get_optimizer
from .pairing import check_output_loss
from .schedules import Schedule, get_schedule

#: ``on_batch(i, loss_value, objective, grad)`` of :func:`run_epoch`; a true return value ends the epoch
OnBatch = Callable[[int, float, Objective, Array], object]
#: ``on_epoch_end(epoch, record)`` of :func:`train`; True stops training
OnEpochEnd = Callable[[int, dict[str, Any]], object]
#: a learning-rate schedule as :func:`train` takes it
ScheduleSpec = Union[str, Schedule, Callable[[int, int], float], None]
#: a metric as :func:`train` takes it
MetricSpec = Union[str, Metric, Callable[[Array, Array], float], None]
#: (X, D, X_val, D_val, w, w_val): the training part, the validation part (or None), their sample weights
Parts = tuple[Array, Array, Optional[Array], Optional[Array], Optional[Array], Optional[Array]]
#: the network's step counter and a copy of every op's buffers (None for ops without)
Buffers = tuple[int, list[Optional[dict[str, Array]]]]
#: what :class:`SetLoss` evaluates the network on: the loss, X, D, the batch size and the sample weights
LossArgs = tuple[Loss, Array, Array, Optional[int], Optional[Array]]


@overload
def _check_count(name: str, value: object, minimum: int = ..., allow_none: Literal[False] = ...) -> int: ...
@overload
def _check_count(name: str, value: object, minimum: int = ..., allow_none: bool = ...) -> int | None: ...
def _check_count(name: str, value: object, minimum: int = 1, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        extra = " or None" if allow_none else ""
        raise ConfigError(f"{name} must be an integer >= {minimum}{extra}; got {value!r}")
    return int(value)


def run_epoch(net: Network, loss: str | Loss, X: Array, D: Array, optimizer: Optimizer, batch_size: int | None,
              rng: np.random.Generator | None = None, on_batch: OnBatch | None = None,
              sample_weight: Array | None = None) -> float:
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
        value ends the epoch early. ``objective`` (with ``objective.grad_squares``, the squared
        gradient norm of each layer with parameters) and ``grad`` live in the epoch's execution plan:
        they are valid during the call (copy what is kept).
    sample_weight : ndarray of shape (B,), optional
        Checked weights of the samples: each batch's loss is their weighted mean (or sum), and the
        epoch's loss the weighted mean over the batches. A batch whose weights are all zero makes no update.

    Returns
    -------
    float
        Training loss over the samples of the batches processed, each batch's loss taken at the
        parameters before its update (in training mode): their mean for a loss with reduction "mean",
        their sum (plus the L2 term once) for reduction "sum". If a batch's loss or gradient is NaN or
        inf, the epoch stops before updating with it and the non-finite value is returned.

    Notes
    -----
    The updates run in training mode (dropout on, batch statistics), whatever the network's mode, which
    is restored on return: after each batch's forward pass every op with buffers updates them
    (``op.update_state``), and ``net.step`` advances by one per update (a fresh dropout mask each time).

    Examples
    --------
    >>> import numpy as np
    >>> import backprop as bp
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> net = bp.MLP([2, 3, 1], output="sigmoid")
    >>> loss = bp.get_loss("bce")
    >>> D = loss.prepare([0, 1, 1, 1], 4, 1, net.dtype)         # the targets of x1 OR x2
    >>> opt = bp.SGD(lr=0.5)
    >>> first = bp.run_epoch(net, loss, X, D, opt, batch_size=2)
    >>> losses = [bp.run_epoch(net, loss, X, D, opt, batch_size=2) for _ in range(49)]
    >>> losses[-1] < first, net.step                            # 50 epochs of 2 updates
    (True, 100)
    """
    loss = get_loss(loss)
    n = X.shape[0]
    bs = n if batch_size is None else min(_check_count("batch_size", batch_size), n)
    w = sample_weight
    # one permutation per epoch; every batch is gathered through it into its plan's buffers
    order = rng.permutation(n) if rng is not None else None
    total = 0.0
    seen: float = 0
    summed = loss.reduction == "sum"
    head = loss_head(net, loss)
    seed_node = head[1]
    stateful = any(op.state_specs for op in net.ops)     # ops whose buffers follow the updates
    segments = [(int(net.offsets[j]), int(net.offsets[j + 1])) for j, _, _ in net.param_layers()]
    # the network's execution plan for batches of bs samples (the last, smaller batch runs on its leading
    # rows), held for the whole epoch
    # (in training mode: the plan is keyed on the mode)
    with net.using_mode(True), acquire(net, seed_node, bs) as plan:
        # a diverging run overflows on its way to inf/NaN; that is detected below, not warned about
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i, start in enumerate(range(0, n, bs)):
                stop = min(start + bs, n)
                rows = slice(start, stop) if order is None else order[start:stop]
                wb = None if w is None else w[rows]
                if wb is not None and not wb.any():
                    continue                   # no weight, no update
                obj = Objective(net, loss, plan.gather("X", X, rows), plan.gather("D", D, rows), validate=False,
                                full_forward=False, sample_weight=wb, plan=plan, head=head)
                grad = obj.gradient()          # the whole gradient (and the divergences with it), before any update
                value = obj.value()
                if not math.isfinite(value):
                    return value
                # ||dL/dp||^2 of each layer, one dot product each: the finiteness check of the whole
                # gradient and, through ``obj.grad_squares``, the history's per-layer gradient norms
                squares = [float(np.dot(g, g)) for g in (grad[a:b] for a, b in segments)]
                obj.grad_squares = squares
                if not math.isfinite(sum(squares)) and not np.isfinite(grad).all():
                    return math.nan
                penalty = obj.regularization() if summed else 0.0      # at the parameters before the update
                apply_update(obj, optimizer, net, grad, stateful)   # weight decay, if any, on the weights only
                # mean: the batch means weighted by batch size; sum: the batch sums added, the L2 term once
                size = obj.B if wb is None else float(np.sum(wb, dtype=np.float64))
                total += value - penalty if summed else value * size
                seen += size
                if on_batch is not None and on_batch(i, value, obj, grad):
                    break
    if summed:
        return total + (penalty if seen else 0.0)
    return total / seen


def apply_update(obj: Objective, optimizer: Optimizer, target: Network | Array, grad: Array,
                 stateful: bool) -> None:
    """What follows a training-mode forward pass that drives an update, in one place for every training loop.

    The ops' buffers follow this forward pass (``op.update_state``, when ``stateful``), the network's step
    counter advances (``net.step``: the next update draws fresh dropout masks), and the optimiser updates
    the parameters with ``grad``, the whole gradient at the parameters of this forward pass.

    Parameters
    ----------
    obj : Objective
        The batch's objective, after its training-mode forward pass and ``gradient()``.
    optimizer : Optimizer
        Stepped as ``optimizer.step(target, grad)``.
    target : Network or ndarray
        The network (weight decay then applies to its weights only) or its flat parameter vector.
    grad : ndarray of shape (n_params,)
        dE/dw at the parameters before the update.
    stateful : bool
        Whether any op of the network has buffers (``op.state_specs``); computed once per loop.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> from backprop.engine.objective import Objective
    >>> net = bp.MLP([2, 1], output="identity", seed=0)
    >>> obj = Objective(net, "l2", np.ones((1, 2)), np.zeros((1, 1)))
    >>> before, g = net.params.copy(), obj.gradient().copy()
    >>> apply_update(obj, bp.SGD(lr=0.1), net, g, stateful=False)
    >>> net.step, bool(np.allclose(net.params, before - 0.1 * g))
    (1, True)
    """
    if stateful:
        obj.update_state()
    obj.net.step += 1
    optimizer.step(target, grad)


@contextmanager
def _graceful_interrupt() -> Iterator[list[bool]]:
    """While active, the first Ctrl-C only sets ``flag[0]`` (the loop stops after the current batch);
    a second one interrupts at once. Only in the main thread, and only over Python's default handler."""
    flag = [False]
    installed = (threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if installed:
        def handler(signum: int, frame: FrameType | None) -> None:
            flag[0] = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _layer_names(net: Network) -> list[str]:
    return [f"layer {k + 1} ({op.describe()})" for k, (_, op, _) in enumerate(net.param_layers())]


def _split_validation(X: Array, D: Array, fraction: float, rng: np.random.Generator, w: Array | None = None) -> Parts:
    n = X.shape[0]
    if not isinstance(fraction, (float, np.floating)) or not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation_fraction must be a number strictly between 0 and 1; got {fraction!r}")
    n_val = int(round(fraction * n))
    if n_val < 1 or n - n_val < 1:
        raise InputError(f"validation_fraction={fraction} of {n} samples leaves an empty training or "
                         "validation part; use more data or another fraction")
    perm = rng.permutation(n)
    val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    if w is None:
        return X[tr], D[tr], X[val], D[val], None, None
    return X[tr], D[tr], X[val], D[val], w[tr], w[val]


class _Progress:
    """tqdm bar over epochs (or nothing when not verbose)."""

    def __init__(self, verbose: bool, total: int, initial: int) -> None:
        self.bar: Any = None         # tqdm.tqdm or _optional's plain bar
        if verbose:
            from .._optional import progress_bar as tqdm     # tqdm's bar, or a plain one without tqdm
            self.bar = tqdm(total=total, initial=initial, desc="training", unit="epoch", file=sys.stderr,
                            dynamic_ncols=True, leave=True)

    def update(self, record: dict[str, Any], metric_name: str | None) -> None:
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

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class TrainOptions:
    """The options of :func:`train`, as given; :meth:`prepare` checks them all, once, before any update.

    Parameters
    ----------
    optimizer, lr, batch_size, epochs, momentum, weight_decay, schedule, shuffle, seed, validation_data, \
validation_fraction, early_stopping, restore_best, tol, n_iter_no_change, metric, verbose, on_epoch_end, \
checkpoint, checkpoint_every, resume, sample_weight, callbacks
        The keyword arguments of :func:`train`, with the same defaults and meaning.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], output="sigmoid")
    >>> run = TrainOptions(epochs=2).prepare(net, "bce", [[0, 0], [1, 1]], [0, 1])
    >>> run.epochs, run.batch_size
    (2, 2)
    """

    optimizer: str | Optimizer = "sgd"
    lr: float | None = None
    batch_size: int | None = 32
    epochs: int = 100
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: ScheduleSpec = None
    shuffle: bool = True
    seed: int | None = 0
    validation_data: tuple[ArrayLike, ArrayLike] | None = None
    validation_fraction: float | None = None
    early_stopping: bool | None = None
    restore_best: bool = True
    tol: float | None = 1e-6
    n_iter_no_change: int = 10
    metric: MetricSpec = "auto"
    verbose: bool = True
    on_epoch_end: OnEpochEnd | None = None
    checkpoint: str | os.PathLike[str] | None = None
    checkpoint_every: int | None = None
    resume: bool = False
    sample_weight: ArrayLike | None = None
    callbacks: Callback | Sequence[Callback] | None = None

    def prepare(self, net: Network, loss: str | Loss, X: ArrayLike, T: ArrayLike) -> _Run:
        """Every check of a training run, in one place: the data, the options, the checkpoint file.

        Parameters
        ----------
        net : Network
        loss : str or Loss
        X : array-like of shape (B, d)
        T : array-like
            Targets, as :func:`train` takes them.

        Returns
        -------
        _Run
            The run with its data prepared (targets as the loss needs them, the validation part split
            off) and its optimiser, schedule and metric made; ``fit`` (in ``backprop.training.loop``) trains it.

        Raises
        ------
        ConfigError, InputError
            For bad data or options; nothing is changed.

        Examples
        --------
        >>> import backprop as bp
        >>> net = bp.MLP([2, 3, 1], output="sigmoid")
        >>> X, T = [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 1]
        >>> run = TrainOptions(validation_fraction=0.25).prepare(net, "bce", X, T)
        >>> run.X.shape, run.Xv.shape, run.early_stopping           # one sample held out
        ((3, 2), (1, 2), True)
        """
        if not isinstance(net, Network):
            raise ConfigError(f"train needs a backprop Network; got {type(net).__name__}")
        loss = get_loss(loss)
        check_output_loss(net, loss)          # an output the loss cannot be computed on: refused, with advice
        X = check_X(X, net.n_inputs, net.dtype)
        D = loss.prepare(T, X.shape[0], net.n_outputs, net.dtype)
        w = None if self.sample_weight is None else check_sample_weight(self.sample_weight, X.shape[0], net.dtype)
        epochs = _check_count("epochs", self.epochs)
        batch_size = _check_count("batch_size", self.batch_size, allow_none=True)
        n_iter_no_change = _check_count("n_iter_no_change", self.n_iter_no_change)
        opt = get_optimizer(self.optimizer, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        sched = get_schedule(self.schedule, opt.lr, epochs)
        tol = _check_tol(self.tol)
        if self.on_epoch_end is not None and not callable(self.on_epoch_end):
            raise ConfigError(f"on_epoch_end must be callable as f(epoch, record); got {self.on_epoch_end!r}")
        metric_fn = get_metric(self.metric, loss, net.n_outputs)
        callbacks = check_callbacks(self.callbacks)
        checkpoint = self.checkpoint
        if checkpoint is None and (self.checkpoint_every is not None or self.resume):
            raise ConfigError("checkpoint_every and resume need a checkpoint file: pass checkpoint=PATH")
        checkpoint_every = (_check_count("checkpoint_every", self.checkpoint_every) if self.checkpoint_every
                            is not None else (1 if checkpoint is not None else None))
        if checkpoint is not None:
            ckpt.check_target(checkpoint)     # a checkpoint that cannot be written fails now, not after an epoch
        split_seq, shuffle_seq = np.random.SeedSequence(check_seed(self.seed, generator=False)).spawn(2)
        X, D, Xv, Dv, w, wv = self._validation(net, loss, X, D, split_seq, w)
        if w is not None and not w.any():
            raise InputError("sample_weight: every training sample has weight 0 (after the validation split)")
        has_val = Xv is not None
        return _Run(net=net, loss=loss, X=X, D=D, Xv=Xv, Dv=Dv, w=w, wv=wv, opt=opt, sched=sched, metric_fn=metric_fn,
                    epochs=epochs, batch_size=None if (opt.full_batch or batch_size is None) else min(batch_size,
                                                                                                  X.shape[0]),
                    tol=tol, n_iter_no_change=n_iter_no_change,
                    early_stopping=has_val if self.early_stopping is None else bool(self.early_stopping),
                    restore_best=self.restore_best, rng=np.random.default_rng(shuffle_seq), shuffle=self.shuffle,
                    verbose=self.verbose, on_epoch_end=self.on_epoch_end, checkpoint=checkpoint,
                    checkpoint_every=checkpoint_every, resume=self.resume, callbacks=callbacks)

    def _validation(self, net: Network, loss: Loss, X: Array, D: Array, split_seq: np.random.SeedSequence,
                    w: Array | None) -> Parts:
        """(X, D, X_val, D_val, w, w_val): the validation part given, split off, or None; the weights of
        both parts (validation data given: unweighted)."""
        fraction, data = self.validation_fraction, self.validation_data
        if data is not None and fraction is not None:
            raise ConfigError("give validation_data or validation_fraction, not both")
        if self.early_stopping and data is None and fraction is None:
            fraction = 0.1
        if fraction is not None:
            return _split_validation(X, D, fraction, np.random.default_rng(split_seq), w)
        if data is None:
            return X, D, None, None, w, None
        try:
            Xv, Tv = data
        except (TypeError, ValueError):
            raise ConfigError("validation_data must be a pair (X_val, T_val)") from None
        Xv = check_X(Xv, net.n_inputs, net.dtype, name="X_val")
        return X, D, Xv, loss.prepare(Tv, Xv.shape[0], net.n_outputs, net.dtype), w, None


def _check_tol(tol: float | None) -> float | None:
    if tol is None:
        return None
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        tol = math.nan
    if not math.isfinite(tol) or tol < 0:
        raise ConfigError(f"tol must be a finite number >= 0 or None; got {tol!r}")
    return tol


@dataclass
class _Run:
    """A checked training run: data, optimiser, schedule, metric and stopping rules."""

    net: Network
    loss: Loss
    X: Array
    D: Array
    Xv: Array | None
    Dv: Array | None
    w: Array | None
    wv: Array | None
    opt: Optimizer
    sched: Schedule
    metric_fn: Metric | None
    epochs: int
    batch_size: int | None
    tol: float | None
    n_iter_no_change: int
    early_stopping: bool
    restore_best: bool
    rng: np.random.Generator
    shuffle: bool
    verbose: bool
    on_epoch_end: OnEpochEnd | None
    checkpoint: str | os.PathLike[str] | None
    checkpoint_every: int | None
    resume: bool
    callbacks: list[Any]           # duck-typed: each has at least one of the hooks (check_callbacks)
    lr_scale: float = 1.0          # times the schedule's learning rate (ReduceLROnPlateau lowers it)

    @property
    def has_val(self) -> bool:
        return self.Xv is not None


def train(net: Network, loss: str | Loss, X: ArrayLike, T: ArrayLike, optimizer: str | Optimizer = "sgd",
          lr: float | None = None, batch_size: int | None = 32, epochs: int = 100, *, momentum: float | None = None,
          weight_decay: float | None = None, schedule: ScheduleSpec = None, shuffle: bool = True,
          seed: int | None = 0, validation_data: tuple[ArrayLike, ArrayLike] | None = None,
          validation_fraction: float | None = None, early_stopping: bool | None = None, restore_best: bool = True,
          tol: float | None = 1e-6, n_iter_no_change: int = 10, metric: MetricSpec = "auto", verbose: bool = True,
          on_epoch_end: OnEpochEnd | None = None, checkpoint: str | os.PathLike[str] | None = None,
          checkpoint_every: int | None = None, resume: bool = False, sample_weight: ArrayLike | None = None,
          callbacks: Callback | Sequence[Callback] | None = None) -> History:
    """Train ``net`` in place by mini-batch gradient descent on ``loss`` over (X, T).

    Every input is checked before the first update, so a call that fails leaves the network as it was.
    The updates run in training mode (dropout on; ops with buffers update them once per update, and
    ``net.step`` advances once per update), the loss records and validation in evaluation mode; the
    network ends in the mode it had, also on error.

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
        Convergence: stop when ``|L(W^k) - L(W^(k-1))| < tol`` for ``n_iter_no_change`` consecutive epochs
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
    callbacks : list of Callback, optional
        Hooks called before training, at the start of every epoch, after every batch, after every
        epoch (True from ``on_epoch_end`` stops training) and at the end: see
        ``bp.callbacks`` (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, CSVLogger,
        LoggingCallback).
    sample_weight : array-like of shape (B,), optional
        Weights of the samples (finite, >= 0, not all zero): the loss is their weighted mean (or sum).
        A ``validation_fraction`` part keeps its samples' weights for the validation loss; the metric
        is unweighted.

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

    Examples
    --------
    >>> import numpy as np
    >>> import backprop as bp
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> T = np.array([0, 1, 1, 1])                              # x1 OR x2
    >>> net = bp.MLP([2, 3, 1], output="sigmoid")
    >>> history = bp.train(net, "bce", X, T, optimizer="adam", lr=0.1, epochs=100, verbose=False)
    >>> len(history), history.stop_reason
    (100, 'max_epochs')
    >>> history.end_loss < history.start_loss
    True
    >>> (net.predict(X) > 0.5).astype(int).ravel()
    array([0, 1, 1, 1])
    """
    if (on_dask := dispatch.on_dask("train", X, T)) is not None:       # streams the blocks (backprop.cluster)
        if sample_weight is not None or callbacks:
            raise ConfigError(f"{'sample_weight' if sample_weight is not None else 'callbacks'} is not supported "
                              "for Dask arrays; train on numpy arrays for it")
        return on_dask(net, loss, X, T, optimizer, lr, batch_size, epochs, momentum=momentum,
                       weight_decay=weight_decay, schedule=schedule, shuffle=shuffle, seed=seed,
                       validation_data=validation_data, validation_fraction=validation_fraction,
                       early_stopping=early_stopping, restore_best=restore_best, tol=tol,
                       n_iter_no_change=n_iter_no_change, metric=metric, verbose=verbose, on_epoch_end=on_epoch_end,
                       checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume)
    options = TrainOptions(optimizer, lr, batch_size, epochs, momentum, weight_decay, schedule, shuffle, seed,
                           validation_data, validation_fraction, early_stopping, restore_best, tol,
                           n_iter_no_change, metric, verbose, on_epoch_end, checkpoint, checkpoint_every, resume,
                           sample_weight, callbacks)
    return fit(options.prepare(net, loss, X, T))


def _start(run: _Run) -> tuple[ckpt.TrainState, History]:
    """(state, history) of a fresh run, or of the checkpoint resumed (checked completely, then applied)."""
    state = ckpt.TrainState()
    history = History(run.metric_fn.name if run.metric_fn else None, _layer_names(run.net))
    if run.resume and run.checkpoint is not None and ckpt.exists(run.checkpoint):
        loaded = ckpt.read(run.checkpoint, run.net, run.opt, n_samples=run.X.shape[0], layers=history.layers,
                           metric=history.metric)
        state, history = loaded.state, loaded.history
        history.diverged = False
        if history.start_loss is None and history.records:
            history.start_loss = history.records[0]["loss"]
        loaded.apply(run.net, run.opt, run.rng)
        return state, history
    # the loss the run starts from (exact, over the whole training set), computed when the run ends
    history.start_loss = SetLoss(run)
    return state, history


class SetLoss:
    """The loss over the whole training set at the network as it is now, computed when first asked for.

    ``History.start_loss`` holds one from the start of a run: it keeps a copy of the network (parameters,
    buffers, mode) as it was then, and the run's data, evaluates once (forward passes only, through an
    execution plan) and then lets them go. The divergence check at the end of ``train`` reads both
    losses, so a finished run holds values, not copies.

    Parameters
    ----------
    run : _Run
        A prepared run (:meth:`TrainOptions.prepare`): its network as it is now, and its data.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], output="sigmoid")
    >>> X, T = [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 1]
    >>> run = TrainOptions(optimizer="adam", lr=0.1, epochs=20, verbose=False).prepare(net, "bce", X, T)
    >>> start = SetLoss(run)                    # the loss at the parameters before training
    >>> history = fit(run)
    >>> value = start()                         # evaluated now, at the copy
    >>> value == history.start_loss, value > history.end_loss, start.net is None
    (True, True, True)
    """

    def __init__(self, run: _Run) -> None:
        # the parameters, and the ops with a mode or buffers, as they are now; both dropped once evaluated
        self.net: Network | None = run.net.copy()
        self.args: LossArgs | None = (run.loss, run.X, run.D, run.batch_size, run.w)

    def __call__(self) -> float:
        value = _training_loss(cast(Network, self.net), *cast(LossArgs, self.args))
        self.net = self.args = None
        return value


class _BatchStats:
    """What one epoch gathers over its batches: per-layer gradient norms and the training metric; it
    also steps the schedule per update and asks for the stop after a Ctrl-C."""

    def __init__(self, run: _Run, state: ckpt.TrainState, flag: list[bool]) -> None:
        self.run, self.state, self.flag = run, state, flag
        net = run.net
        self.segments = [(int(net.offsets[j]), int(net.offsets[j + 1])) for j, _, _ in net.param_layers()]
        self.reset()

    def reset(self) -> None:
        self.norms, self.batches, self.metric, self.seen = np.zeros(len(self.segments)), 0, 0.0, 0

    def __call__(self, i: int, value: float, obj: Objective, grad: Array) -> bool:
        # per-layer ||dL/dp||, from the squares run_epoch took for its finiteness check
        for k, sq in enumerate(obj.grad_squares or ()):
            self.norms[k] += math.sqrt(sq)
        self.batches += 1
        metric_fn = self.run.metric_fn
        if metric_fn is not None and metric_fn.per_sample:
            self.metric += metric_fn(obj.output, obj.D) * obj.B
            self.seen += obj.B
        self.state.step += 1
        if self.run.sched.per_step:
            self.run.opt.lr = self.run.sched(self.state.epoch, self.state.step) * self.run.lr_scale
        for c in self.run.callbacks:
            c.on_batch_end(i, value) if hasattr(c, "on_batch_end") else None
        return self.flag[0]


def _record(run: _Run, state: ckpt.TrainState, value: float, lr0: float, stats: _BatchStats) -> dict[str, Any]:
    """The history row of the epoch just run (validation loss and metric measured now)."""
    record = {"epoch": state.epoch + 1, "loss": value, "val_loss": math.nan,
              "train_metric": (stats.metric / stats.seen) if stats.seen else math.nan,
              "val_metric": math.nan, "lr": lr0,
              "grad_norms": (stats.norms / max(stats.batches, 1)).tolist(), "time": 0.0}
    Xv, Dv = run.Xv, run.Dv
    if Xv is not None and Dv is not None:          # run.has_val (the two are given together)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), run.net.using_mode(False):
            vobj = Objective(run.net, run.loss, Xv, Dv, validate=False, sample_weight=run.wv)
            record["val_loss"] = vobj.value()
            if run.metric_fn is not None:
                record["val_metric"] = run.metric_fn(vobj.output, Dv)
    return record


def _epoch(run: _Run, state: ckpt.TrainState, history: History, stats: _BatchStats, last_good: Array,
           best: Array | None) -> str | None:
    """One epoch: the updates, the divergence check, the record, the stopping rules, the checkpoint.
    Returns the stop reason, or None to go on."""
    net, opt, params = run.net, run.opt, run.net.params
    t0 = time.perf_counter()
    np.copyto(last_good, params)
    opt_snapshot = opt.state_dict()
    state_snapshot = _buffers(net)
    stats.reset()
    lr0 = opt.lr = run.sched(state.epoch, state.step) * run.lr_scale
    value = run_epoch(net, run.loss, run.X, run.D, opt, run.batch_size, run.rng if run.shuffle else None, stats,
                      sample_weight=run.w)
    if stats.flag[0]:
        raise KeyboardInterrupt
    if not math.isfinite(value) or not all_finite(params):
        np.copyto(params, last_good)
        opt.load_state_dict(opt_snapshot)
        _restore_buffers(net, state_snapshot)
        if not history.records and (start := history.start_loss) is not None and not math.isfinite(start):
            # the first epoch of the run, and already the loss at the starting parameters is not finite
            raise _divergence(0, start, lr0, history, before_update=True)
        raise _divergence(state.epoch, value, lr0, history)
    record = _record(run, state, value, lr0, stats)
    state.epoch += 1
    stop = _update_stopping(state, record, run.has_val, run.early_stopping, run.tol, run.n_iter_no_change,
                            params, best)
    record["time"] = time.perf_counter() - t0
    history.append(record)
    return stop


def _buffers(net: Network) -> Buffers:
    """A copy of the step counter and of every op's buffers, to go back to when an epoch diverges."""
    return net.step, net.buffers()


def _restore_buffers(net: Network, snapshot: Buffers) -> None:
    net.step, states = snapshot
    net.set_buffers(states)


def fit(run: _Run) -> History:
    """Train a prepared run (:meth:`TrainOptions.prepare`) to its end; see :func:`train`.

    The updates run in training mode, the loss records and validation in evaluation mode; the network
    ends in the mode it had (also when training fails).

    Parameters
    ----------
    run : _Run
        What :meth:`TrainOptions.prepare` returned; its network is trained in place.

    Returns
    -------
    History
        As :func:`train` returns it.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], output="sigmoid")
    >>> run = TrainOptions(epochs=5, verbose=False).prepare(net, "bce", [[0, 0], [1, 1]], [0, 1])
    >>> history = fit(run)
    >>> len(history), history.stop_reason
    (5, 'max_epochs')
    """
    with run.net.using_mode(False):
        return _fit(run)


def _fit(run: _Run) -> History:
    state, history = _start(run)
    params = run.net.params
    last_good = params.copy()
    best = state.best_params if state.best_params is not None else (params.copy() if run.has_val else None)
    progress = _Progress(run.verbose, run.epochs, state.epoch)
    stop_reason = "max_epochs"
    for c in run.callbacks:
        c.set_run(run) if hasattr(c, "set_run") else None
        c.on_train_begin(history) if hasattr(c, "on_train_begin") else None
    try:
        with _graceful_interrupt() as flag:
            stats = _BatchStats(run, state, flag)
            while state.epoch < run.epochs:
                for c in run.callbacks:
                    c.on_epoch_begin(state.epoch + 1) if hasattr(c, "on_epoch_begin") else None
                try:
                    stop = _epoch(run, state, history, stats, last_good, best)
                except DivergenceError:
                    stop_reason = "diverged"
                    raise
                progress.update(history.records[-1], history.metric)
                if run.on_epoch_end is not None and run.on_epoch_end(state.epoch, history.records[-1]) is True:
                    stop = stop or "callback"
                for c in run.callbacks:
                    if hasattr(c, "on_epoch_end") and c.on_epoch_end(state.epoch, history.records[-1]) is True:
                        stop = stop or "callback"
                if stop:
                    stop_reason = stop
                if run.checkpoint is not None and run.checkpoint_every is not None and (
                        state.epoch % run.checkpoint_every == 0 or stop
                                                   or state.epoch == run.epochs):
                    ckpt.write(run.checkpoint, run.net, run.opt, run.rng, state, history, best,
                               n_samples=run.X.shape[0])
                if stop:
                    break
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    finally:
        progress.close()
        history.stop_reason = stop_reason
    return _end(run, state, history, best, stop_reason)


def _end(run: _Run, state: ckpt.TrainState, history: History, best: Array | None, stop_reason: str) -> History:
    """The best parameters restored, the end loss measured, a worsening run flagged."""
    history.best_epoch = state.best_epoch
    if run.has_val and run.restore_best and state.best_epoch is not None and best is not None:
        np.copyto(run.net.params, best)
    for c in run.callbacks:
        c.on_train_end(history) if hasattr(c, "on_train_end") else None
    history.end_loss = _training_loss(run.net, run.loss, run.X, run.D, run.batch_size, run.w)
    _check_worsening(history, run.opt)
    if stop_reason == "interrupted" and run.verbose:
        print(f"training interrupted after {len(history)} epoch(s); "
              + ("best parameters restored" if run.has_val and run.restore_best else "parameters kept"),
              file=sys.stderr)
    return history


def _update_stopping(state: ckpt.TrainState, record: dict[str, Any], has_val: bool, early_stopping: bool,
                     tol: float | None, n_iter_no_change: int, params: Array, best: Array | None) -> str | None:
    """Advance the convergence and early-stopping counters; return a stop reason or None."""
    reason = None
    if has_val:
        v = record["val_loss"]
        improved = math.isfinite(v) and (not math.isfinite(state.best_val) or v < state.best_val - (tol or 0.0))
        if state.best_epoch is None or improved:
            assert best is not None             # with validation data the caller keeps the best parameters here
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


def _training_loss(net: Network, loss: Loss, X: Array, D: Array, batch_size: int | None,
                   w: Array | None = None) -> float:
    """The loss over the whole training set at the current parameters, in batches (forward passes only);
    with weights ``w`` their weighted mean (or sum)."""
    n = X.shape[0]
    bs = min(n, max(n if batch_size is None else batch_size, 4096))
    if bs < n:
        net.check_rows_independent("the training loss in chunks of rows")
    total = 0.0
    # forward passes only, through one plan for this call (buffers reused chunk after chunk, then dropped)
    with acquire(net, loss_head(net, loss)[1], bs, want="value", cache=False) as plan, \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, n, bs):
            obj = Objective(net, loss, X[start:start + bs], D[start:start + bs], validate=False,
                            full_forward=False, plan=plan)
            div = obj.divergences()
            total += float(np.sum(div, dtype=np.float64) if w is None else
                           np.dot(w[start:start + bs].astype(np.float64), div))
        count = n if w is None else float(np.sum(w, dtype=np.float64))
        return (total if obj.reduction == "sum" else total / count) + obj.regularization()


def _worse(start: float, end: float) -> bool:
    return not math.isfinite(end) or end - start > (DIVERGED_FACTOR - 1) * max(abs(start), 1e-12)


def _check_worsening(history: History, opt: Optimizer) -> None:
    """Flag and warn about a run that ends far worse than it started (without ever reaching NaN or inf).

    The exact whole-set losses at the start and at the end (``history.start_loss``, ``end_loss``: two
    forward passes over the training set per call to ``train``, not per epoch) decide, and the warning
    quotes them. The epochs' own losses cannot stand in for them: each batch's loss is taken before its
    update, so an epoch's loss never sees the effect of the run's last updates.
    """
    start, end = history.start_loss, history.end_loss
    if start is None or end is None or not math.isfinite(start):
        return
    if not _worse(start, end):
        return
    history.diverged = True
    lr = history.records[0]["lr"] if history.records else opt.lr
    decay = f", or the weight decay {opt.weight_decay:g}," if opt.weight_decay else ""
    warnings.warn(
        f"training diverged: the training loss ended at {end:.4g}, more than {DIVERGED_FACTOR:g} times the "
        f"{start:.4g} it started from; the learning rate {lr:g}{decay} is probably too large, try a smaller "
        f"one (e.g. {lr / 10:g}). history.diverged is True.", DivergenceWarning, stacklevel=6)   # train, fit, _fit, _end, here


def _divergence(epoch: int, value: float, lr: float, history: History, before_update: bool = False) -> DivergenceError:
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
    # what the caller catching it reads (DivergenceError does not declare these attributes)
    setattr(err, "epoch", epoch + 1)
    setattr(err, "history", history)
    history.stop_reason = "diverged"
    history.diverged = True
    return err
