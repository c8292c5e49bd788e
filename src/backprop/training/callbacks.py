"""Hooks into a training run: watch it (log, write a CSV row per epoch) and steer it (stop early, keep
checkpoints of the best and the last parameters, lower the learning rate on a plateau).

A callback is any object with some of the methods of :class:`Callback`; ``train(..., callbacks=[...])``
calls them in list order. ``on_epoch_end`` returning True stops training (``stop_reason "callback"``).
"""
from __future__ import annotations

import csv
import logging
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..losses import Loss
    from .history import History


HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end")


class Callback:
    """Base class: every hook does nothing. ``self.net`` and ``self.optimizer`` are set before training.

    Examples
    --------
    >>> import backprop as bp
    >>> class Count(Callback):
    ...     batches = 0
    ...     def on_batch_end(self, batch, loss):
    ...         self.batches += 1
    >>> X, y = bp.datasets.xor()
    >>> c = Count()
    >>> _ = bp.train(bp.MLP([2, 3, 1], output="sigmoid"), "bce", X, y, epochs=3, batch_size=2, verbose=False,
    ...              callbacks=[c])
    >>> c.batches
    6
    """

    #: the network, optimiser and run being trained (set by ``set_run`` when training starts)
    net: Any = None
    optimizer: Any = None
    run: Any = None

    # the hooks, in the order train calls them; a subclass overrides those it needs
    def set_run(self, run: Any) -> None:
        """Called once before training starts: keep the run, its network and its optimiser.

        Parameters
        ----------
        run : object
            The training run, with ``run.net`` (the network) and ``run.opt`` (the optimiser).

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> c = Callback()
        >>> c.set_run(SimpleNamespace(net="the network", opt="the optimiser"))
        >>> c.net, c.optimizer
        ('the network', 'the optimiser')
        """
        self.run, self.net, self.optimizer = run, run.net, run.opt

    def on_train_begin(self, history: History) -> None:
        """Called when training starts, before the first epoch.

        Parameters
        ----------
        history : History
            The run's history, empty or holding the epochs of a resumed run.

        Examples
        --------
        >>> from backprop.training.history import History
        >>> Callback().on_train_begin(History())
        """

    def on_epoch_begin(self, epoch: int) -> None:
        """Called at the start of each epoch.

        Parameters
        ----------
        epoch : int
            The epoch about to run (1, 2, ...).

        Examples
        --------
        >>> Callback().on_epoch_begin(1)
        """

    def on_batch_end(self, batch: int, loss: Loss) -> None:
        """Called after each update.

        Parameters
        ----------
        batch : int
            The batch's index in its epoch (0, 1, ...).
        loss : float
            The batch's loss, at the parameters before the update.

        Examples
        --------
        >>> Callback().on_batch_end(0, 0.25)
        """

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> bool | None:
        """Called after each epoch with its history row; returning True stops training.

        Parameters
        ----------
        epoch : int
            The epoch that ended (1, 2, ...).
        record : dict
            Its history row: ``loss``, ``val_loss``, ``train_metric``, ``val_metric``, ``lr``, ``time``, ...

        Returns
        -------
        bool or None
            True to stop training (``stop_reason "callback"``); False or None to go on.

        Examples
        --------
        >>> print(Callback().on_epoch_end(1, {"loss": 0.5}))
        None
        >>> stop = EarlyStopping(monitor="loss", patience=1)
        >>> stop.on_epoch_end(1, {"loss": 0.5}), stop.on_epoch_end(2, {"loss": 0.6})
        (None, True)
        """
        return None

    def on_train_end(self, history: History) -> None:
        """Called once when training ends, however it ends.

        Parameters
        ----------
        history : History
            The run's history, with its ``stop_reason``.

        Examples
        --------
        >>> from backprop.training.history import History
        >>> Callback().on_train_end(History(stop_reason="max_epochs"))
        """


def check_callbacks(callbacks: Any) -> list[Any]:
    """The callbacks as a list, each with at least one hook; ConfigError otherwise.

    Parameters
    ----------
    callbacks : Callback, list of Callback or None
        What ``train`` was given.

    Returns
    -------
    list of Callback
        The callbacks, in the order they are called.

    Examples
    --------
    >>> check_callbacks(None), len(check_callbacks(EarlyStopping()))
    ([], 1)
    """
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    for c in callbacks:
        if not any(callable(getattr(c, h, None)) for h in HOOKS):
            raise ConfigError(f"a callback has at least one of the methods {', '.join(HOOKS)}; got {c!r}")
    return list(callbacks)


def _monitored(record: dict[str, Any], monitor: str) -> float:
    if monitor not in record:
        raise ConfigError(f"monitor {monitor!r} is not a column of the history; use loss, val_loss, "
                          "train_metric or val_metric")
    return record[monitor]


def _better(mode: str, value: float, best: float | None, min_delta: float) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


MONITORS = ("loss", "val_loss", "train_metric", "val_metric")


def _check_mode(mode: str, monitor: str) -> str:
    if monitor not in MONITORS:
        raise ConfigError(f"monitor {monitor!r} is not a column of the history; use {', '.join(MONITORS)}")
    if mode == "auto":
        return "max" if monitor.endswith("metric") else "min"
    if mode not in ("min", "max"):
        raise ConfigError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A column of the history: ``loss``, ``val_loss``, ``train_metric`` or ``val_metric``.
    patience : int, default 10
        Epochs without improvement before training stops.
    min_delta : float, default 0.0
        How much better a value must be to count as an improvement.
    mode : {"auto", "min", "max"}, default "auto"
        "auto": larger is better for the metrics, smaller for the losses.
    restore_best : bool, default False
        At the end, put back the parameters of the best epoch.

    Examples
    --------
    >>> import backprop as bp
    >>> X, y = bp.datasets.xor()
    >>> net = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
    >>> stop = bp.EarlyStopping(monitor="loss", patience=2, min_delta=10.0)
    >>> len(bp.train(net, "bce", X, y, epochs=50, batch_size=4, verbose=False, callbacks=[stop]))
    3
    """

    best: float | None
    best_epoch: int | None
    _params: NDArray[Any] | None

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0, mode: str = "auto",
                 restore_best: bool = False) -> None:
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.mode, self.restore_best = _check_mode(mode, monitor), bool(restore_best)
        self.best, self.best_epoch, self.wait, self._params = None, None, 0, None

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> bool | None:
        value = _monitored(record, self.monitor)
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self._params = self.net.params.copy()
            return None
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, history: History) -> None:
        if self.restore_best and self._params is not None:
            np.copyto(self.net.params, self._params)


class ModelCheckpoint(Callback):
    """Save the network (``net.save``) after every epoch (``"last"``), or when ``monitor`` improves
    (``"best"``), to ``path``; ``{epoch}`` in the path is replaced by the epoch number.

    Parameters
    ----------
    path : str or path-like
        Where to save; ``{epoch}`` is replaced by the epoch number.
    save : {"best", "last"}, default "best"
        Save when ``monitor`` improves, or after every epoch.
    monitor : str, default "val_loss"
        The history column that "best" compares.
    mode : {"auto", "min", "max"}, default "auto"
        Whether lower or higher is better ("auto": higher for the metrics, lower for the losses).

    Examples
    --------
    >>> import os, tempfile
    >>> import backprop as bp
    >>> X, y = bp.datasets.xor()
    >>> net = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ck = bp.ModelCheckpoint(os.path.join(d, "net-{epoch}.npz"), save="last")
    ...     _ = bp.train(net, "bce", X, y, epochs=2, batch_size=4, verbose=False, callbacks=[ck])
    ...     sorted(os.listdir(d))
    ['net-1.npz', 'net-2.npz']
    """

    best: float | None
    saved: list[str]

    def __init__(self, path: str | os.PathLike[str], save: str = "best", monitor: str = "val_loss",
                 mode: str = "auto") -> None:
        if save not in ("best", "last"):
            raise ConfigError(f"save must be 'best' or 'last'; got {save!r}")
        self.path, self.save, self.monitor, self.mode = os.fspath(path), save, monitor, _check_mode(mode, monitor)
        self.best, self.saved = None, []

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> bool | None:
        if self.save == "best":
            value = _monitored(record, self.monitor)
            if not _better(self.mode, value, self.best, 0.0):
                return None
            self.best = value
        path = self.path.replace("{epoch}", str(epoch))
        self.net.save(path)
        self.saved.append(path)
        return None


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience``
    epochs (then wait ``cooldown`` epochs), never below ``min_lr``. It scales the learning rate that
    the schedule gives, from the next epoch on.

    Parameters
    ----------
    monitor : str, default "val_loss"
        The history column watched.
    factor : float, default 0.5
        The learning rate is multiplied by it (0 < factor < 1).
    patience : int, default 5
        Epochs without improvement before a reduction.
    min_delta : float, default 0.0
        How much better a value must be to count as an improvement.
    cooldown : int, default 0
        Epochs to wait after a reduction before counting again.
    min_lr : float, default 0.0
        The learning rate never goes below it.
    mode : {"auto", "min", "max"}, default "auto"
        Whether lower or higher is better.

    Examples
    --------
    >>> import backprop as bp
    >>> X, y = bp.datasets.xor()
    >>> net = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
    >>> plateau = bp.ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10.0)
    >>> h = bp.train(net, "bce", X, y, epochs=4, batch_size=4, lr=0.1, verbose=False, callbacks=[plateau])
    >>> plateau.reductions
    [2, 3, 4]
    """

    best: float | None
    reductions: list[int]

    def __init__(self, monitor: str = "val_loss", factor: float = 0.5, patience: int = 5, min_delta: float = 0.0,
                 cooldown: int = 0, min_lr: float = 0.0, mode: str = "auto") -> None:
        if not 0.0 < factor < 1.0:
            raise ConfigError(f"factor must lie strictly between 0 and 1; got {factor!r}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.min_delta, self.cooldown, self.min_lr = float(min_delta), int(cooldown), float(min_lr)
        self.mode = _check_mode(mode, monitor)
        self.best, self.wait, self.cool, self.reductions = None, 0, 0, []

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> bool | None:
        value = _monitored(record, self.monitor)
        if self.cool > 0:
            self.cool -= 1
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.wait = value, 0
            return None
        self.wait += 1
        if self.wait >= self.patience and self.cool == 0:
            lr = record["lr"] * self.factor
            if lr >= self.min_lr:
                self.run.lr_scale *= self.factor
                self.reductions.append(epoch)
            self.wait, self.cool = 0, self.cooldown
        return None


class CSVLogger(Callback):
    """One CSV row per epoch (the history's scalar columns), flushed every epoch.

    Parameters
    ----------
    path : str or path-like
        The CSV file, written anew when training starts.

    Examples
    --------
    >>> import os, tempfile
    >>> import backprop as bp
    >>> X, y = bp.datasets.xor()
    >>> net = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "log.csv")
    ...     _ = bp.train(net, "bce", X, y, epochs=2, batch_size=4, verbose=False, callbacks=[bp.CSVLogger(path)])
    ...     with open(path) as f:
    ...         f.readline().strip()
    'epoch,loss,val_loss,train_metric,val_metric,lr,time'
    """

    _file: Any
    _writer: Any

    COLUMNS = ("epoch", "loss", "val_loss", "train_metric", "val_metric", "lr", "time")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path, self._file, self._writer = os.fspath(path), None, None

    def on_train_begin(self, history: History) -> None:
        self._file = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(self.COLUMNS)

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> bool | None:
        self._writer.writerow([record[c] if c == "epoch" else repr(float(record[c])) for c in self.COLUMNS])
        self._file.flush()
        return None

    def on_train_end(self, history: History) -> None:
        if self._file is not None:
            self._file.close()


class LoggingCallback(Callback):
    """Each epoch as one message to a ``logging`` logger (default ``backprop.training``, INFO).

    Parameters
    ----------
    logger : logging.Logger, logging.LoggerAdapter or str, default "backprop.training"
        The logger, or its name.
    level : int, default logging.INFO
        The level of the messages.

    Examples
    --------
    >>> import logging
    >>> LoggingCallback(level=logging.DEBUG).logger.name
    'backprop.training'
    """

    logger: logging.Logger | logging.LoggerAdapter[Any]

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any] | str = "backprop.training",
                 level: int = logging.INFO) -> None:
        # checked here, not at the first epoch's message: a bad option must not fail half-way through training
        if not isinstance(logger, (str, logging.Logger, logging.LoggerAdapter)):
            raise ConfigError(f"logger must be a logging.Logger (or LoggerAdapter) or a logger's name; got {logger!r}")
        if isinstance(level, bool) or not isinstance(level, int):
            raise ConfigError(f"level must be a logging level, an integer such as logging.INFO; got {level!r}")
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> bool | None:
        parts = [f"{k} {record[k]:.6g}" for k in ("loss", "val_loss", "train_metric", "val_metric", "lr")
                 if math.isfinite(record[k])]
        self.logger.log(self.level, "epoch %d: %s", epoch, ", ".join(parts))
        return None

    def on_train_end(self, history: History) -> None:
        self.logger.log(self.level, "training ended after %d epochs (%s)", len(history), history.stop_reason)
