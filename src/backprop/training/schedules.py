"""Learning-rate schedules: a schedule maps (epoch, step) to the learning rate eta.

``epoch`` counts completed epochs (0 during the first one) and ``step`` counts the updates made
so far over the whole run (0 before the first one). The built-in schedules depend on the epoch
only; a user callable may use either.

* constant           eta_k = eta_0
* step               eta_k = eta_0 * factor ** floor(k / every)
* inverse scaling    eta_k = eta_0 / (1 + k) ** power
* cosine             eta_k = eta_min + (eta_0 - eta_min) (1 + cos(pi k / K)) / 2,  K = number of epochs
"""
from __future__ import annotations

import math
from typing import Any, Callable

from ..errors import ConfigError
from ..registry import Registry
from .optimizers import _check_rate


class Schedule:
    """Base class: ``schedule(epoch, step) -> lr``.

    ``per_step`` says whether the rate may change within an epoch (then ``train`` asks
    before every update; otherwise once per epoch).

    Examples
    --------
    >>> StepDecay(0.1, factor=0.5, every=10)(25, 0)
    0.025
    """

    per_step = False

    def __call__(self, epoch: int, step: int) -> float:
        raise NotImplementedError


class Constant(Schedule):
    """eta_k = lr.

    Parameters
    ----------
    lr : float
        The learning rate.

    Examples
    --------
    >>> Constant(0.1)(7, 3)
    0.1
    """

    def __init__(self, lr: float) -> None:
        self.lr = _check_rate("learning rate lr", lr)

    def __call__(self, epoch: int, step: int) -> float:
        return self.lr

    def __repr__(self) -> str:
        return f"Constant(lr={self.lr!r})"


class StepDecay(Schedule):
    """eta_k = lr * factor ** (k // every): multiply the rate by ``factor`` every ``every`` epochs.

    Parameters
    ----------
    lr : float
        The learning rate of the first ``every`` epochs.
    factor : float, default 0.5
        What the rate is multiplied by every ``every`` epochs.
    every : int, default 10
        Epochs between two steps down.

    Examples
    --------
    >>> StepDecay(0.1, factor=0.5, every=10)(25, 0)
    0.025
    """

    def __init__(self, lr: float, factor: float = 0.5, every: int = 10) -> None:
        self.lr = _check_rate("learning rate lr", lr)
        self.factor = _check_rate("step factor", factor, high=1.0, inclusive_high=True)
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ConfigError(f"step schedule 'every' must be an integer >= 1 (epochs); got {every!r}")
        self.every = every

    def __call__(self, epoch: int, step: int) -> float:
        return self.lr * self.factor ** (epoch // self.every)

    def __repr__(self) -> str:
        return f"StepDecay(lr={self.lr!r}, factor={self.factor!r}, every={self.every!r})"


class InverseScaling(Schedule):
    """eta_k = lr / (1 + k) ** power.

    Parameters
    ----------
    lr : float
        The learning rate at epoch 0.
    power : float, default 0.5
        The exponent of the decay.

    Examples
    --------
    >>> InverseScaling(0.1, power=0.5)(3, 0)
    0.05
    """

    def __init__(self, lr: float, power: float = 0.5) -> None:
        self.lr = _check_rate("learning rate lr", lr)
        self.power = _check_rate("inverse-scaling power", power, inclusive_low=True)

    def __call__(self, epoch: int, step: int) -> float:
        return self.lr / (1.0 + epoch) ** self.power

    def __repr__(self) -> str:
        return f"InverseScaling(lr={self.lr!r}, power={self.power!r})"


class Cosine(Schedule):
    """eta_k = lr_min + (lr - lr_min) (1 + cos(pi k / epochs)) / 2, from lr at k = 0 down towards lr_min.

    After ``epochs`` epochs the rate stays at ``lr_min``.

    Parameters
    ----------
    lr : float
        The learning rate at epoch 0.
    epochs : int
        The epoch at which the rate reaches ``lr_min``.
    lr_min : float, default 0.0
        The smallest rate.

    Examples
    --------
    >>> Cosine(0.1, epochs=10)(5, 0)
    0.05
    """

    #: ``get_schedule`` passes it the run's length
    needs_epochs = True

    def __init__(self, lr: float, epochs: int, lr_min: float = 0.0) -> None:
        self.lr = _check_rate("learning rate lr", lr)
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ConfigError(f"cosine schedule needs the number of epochs, an integer >= 1; got {epochs!r}")
        self.epochs = epochs
        self.lr_min = _check_rate("lr_min", lr_min, inclusive_low=True, high=self.lr, inclusive_high=True)

    def __call__(self, epoch: int, step: int) -> float:
        k = min(epoch, self.epochs)
        return self.lr_min + (self.lr - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * k / self.epochs))

    def __repr__(self) -> str:
        return f"Cosine(lr={self.lr!r}, epochs={self.epochs!r}, lr_min={self.lr_min!r})"


class FromCallable(Schedule):
    """A user function ``f(epoch, step) -> lr``; asked before every update, its answer checked.

    Parameters
    ----------
    f : callable
        ``f(epoch, step)`` -> the learning rate (a finite number >= 0).

    Examples
    --------
    >>> FromCallable(lambda epoch, step: 0.1 / (1 + epoch))(1, 0)
    0.05
    """

    per_step = True

    def __init__(self, f: Callable[[int, int], float]) -> None:
        if not callable(f):
            raise ConfigError(f"a schedule must be callable as f(epoch, step) -> lr; got {f!r}")
        self.f = f

    def __call__(self, epoch: int, step: int) -> float:
        lr = self.f(epoch, step)
        try:
            v = float(lr)
        except (TypeError, ValueError):
            v = float("nan")
        if isinstance(lr, bool) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"the learning-rate schedule returned {lr!r} at epoch {epoch}, step {step}; "
                              "it must return a finite number >= 0")
        return v

    def __repr__(self) -> str:
        return f"FromCallable({self.f!r})"


#: every named schedule: a class taking (lr, **options)
SCHEDULES = Registry("learning-rate schedule")
SCHEDULES.register("constant", Constant)
SCHEDULES.register("step", StepDecay, aliases=("step_decay",))
SCHEDULES.register("invscaling", InverseScaling, aliases=("inverse_scaling", "inverse-scaling"))
SCHEDULES.register("cosine", Cosine)

SCHEDULE_NAMES = SCHEDULES.names()


def get_schedule(spec: Any, lr: float, epochs: int | None = None, **kwargs: Any) -> Schedule:
    """Return a schedule from a name, a Schedule, or a callable ``f(epoch, step) -> lr``.

    Parameters
    ----------
    spec : None, str, Schedule or callable
        None or ``"constant"``, ``"step"`` (options ``factor``, ``every``), ``"invscaling"``
        (option ``power``), ``"cosine"`` (option ``lr_min``), a Schedule, or a callable.
    lr : float
        The initial rate eta_0 of a named schedule.
    epochs : int, optional
        Length of the run; needed by ``"cosine"``.
    **kwargs
        Options of the named schedule.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> get_schedule("cosine", lr=0.1, epochs=10)
    Cosine(lr=0.1, epochs=10, lr_min=0.0)
    """
    if isinstance(spec, Schedule):
        if kwargs:
            raise ConfigError("schedule options can only be given with a schedule name")
        return spec
    if spec is None:
        spec = "constant"
    if not isinstance(spec, str):
        if callable(spec):
            if kwargs:
                raise ConfigError("schedule options can only be given with a schedule name")
            return FromCallable(spec)
        raise ConfigError(f"a schedule is a name ({', '.join(SCHEDULE_NAMES)}), a Schedule or a callable "
                          f"f(epoch, step) -> lr; got {spec!r}")
    name = SCHEDULES.canonical(spec.lower() if spec.lower() in SCHEDULES else spec)
    cls = SCHEDULES.get(name)
    if getattr(cls, "needs_epochs", False):
        kwargs = {"epochs": epochs, **kwargs}
    try:
        return cls(lr, **kwargs)
    except TypeError as e:
        raise ConfigError(f"bad option for schedule {name!r}: {e}") from None
