"""Quality measures reported during training: accuracy for classifiers, R^2 or RMSE for regression.

A metric compares network outputs Y (B, c) with prepared targets D (B, c) (``loss.prepare`` output).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError
from ..registry import Registry

if TYPE_CHECKING:
    from ..losses import Loss


@dataclass(frozen=True)
class Metric:
    """A named measure ``fn(Y, D) -> float``.

    ``higher_is_better`` orders values; ``per_sample`` says the value is a mean over samples,
    so a running average over an epoch's batches is meaningful (accuracy: yes, R^2: no).

    Examples
    --------
    >>> import numpy as np
    >>> Metric("accuracy", class_accuracy)(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[1.0, 0.0], [1.0, 0.0]]))
    0.5
    """

    name: str
    fn: Callable[[NDArray[Any], NDArray[Any]], float]
    higher_is_better: bool = True
    per_sample: bool = False

    def __call__(self, Y: NDArray[Any], D: NDArray[Any]) -> float:
        return float(self.fn(Y, D))


def class_accuracy(Y: NDArray[Any], D: NDArray[Any]) -> float:
    """Fraction of rows whose largest output is the target's largest entry (one-hot or probabilities).

    Parameters
    ----------
    Y : ndarray of shape (B, c)
        The network's outputs.
    D : ndarray of shape (B, c)
        The targets.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> float(class_accuracy(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[1.0, 0.0], [1.0, 0.0]])))
    0.5
    """
    return np.count_nonzero(Y.argmax(axis=1) == D.argmax(axis=1)) / Y.shape[0]


def threshold_accuracy(Y: NDArray[Any], D: NDArray[Any]) -> float:
    """Fraction of outputs on the same side of 1/2 as their target (sigmoid outputs, 0/1 targets).

    Parameters
    ----------
    Y : ndarray of shape (B, c)
        The network's outputs.
    D : ndarray of shape (B, c)
        The targets.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> float(threshold_accuracy(np.array([[0.7], [0.2]]), np.array([[1.0], [1.0]])))
    0.5
    """
    return np.count_nonzero((Y > 0.5) == (D > 0.5)) / Y.size


def r2_score(Y: NDArray[Any], D: NDArray[Any]) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot, averaged over the outputs.

    Parameters
    ----------
    Y : ndarray of shape (B, c)
        The network's outputs.
    D : ndarray of shape (B, c)
        The targets.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(r2_score(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [4.0]])), 6)
    0.785714
    """
    ss_res = ((D - Y) ** 2).sum(axis=0)
    ss_tot = ((D - D.mean(axis=0)) ** 2).sum(axis=0)
    constant = ss_tot == 0
    r2 = np.where(constant, np.where(ss_res == 0, 1.0, 0.0), 1.0 - ss_res / np.where(constant, 1.0, ss_tot))
    return float(np.mean(r2))


def rmse(Y: NDArray[Any], D: NDArray[Any]) -> float:
    """Root mean squared error over all outputs.

    Parameters
    ----------
    Y : ndarray of shape (B, c)
        The network's outputs.
    D : ndarray of shape (B, c)
        The targets.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(rmse(np.array([[1.0], [3.0]]), np.array([[2.0], [3.0]])), 6)
    0.707107
    """
    return float(np.sqrt(np.mean((D - Y) ** 2)))


#: each metric by name, as a factory ``make(loss, n_outputs) -> Metric``
METRICS = Registry("metric")


@METRICS.register("auto")
def _auto(loss: Loss, n_outputs: int) -> Metric:
    """The metric the loss declares (accuracy for classification losses, R^2 for regression)."""
    return METRICS.get(loss.metric)(loss, n_outputs)


@METRICS.register("accuracy")
def _accuracy(loss: Loss, n_outputs: int) -> Metric:
    # one class per row for a multiclass loss (or several outputs of another loss); 0/1 per output for binary
    per_row = loss.task == "multiclass" or (loss.task != "binary" and n_outputs > 1)
    return Metric("accuracy", class_accuracy if per_row else threshold_accuracy, per_sample=True)


METRICS.register("r2", lambda loss, n_outputs: Metric("r2", r2_score))
METRICS.register("rmse", lambda loss, n_outputs: Metric("rmse", rmse, higher_is_better=False))

METRIC_NAMES = METRICS.names()


def _unknown(message: str) -> ConfigError:
    return ConfigError(message + "; or None, or a callable f(Y, D) -> float")


@overload
def get_metric(spec: None, loss: Loss, n_outputs: int) -> None: ...
@overload
def get_metric(spec: str | Metric | Callable[..., Any], loss: Loss, n_outputs: int) -> Metric: ...
def get_metric(spec: Any, loss: Loss, n_outputs: int) -> Metric | None:
    """Resolve ``spec`` for a loss: "auto" gives the loss's declared metric (accuracy or R^2).

    Parameters
    ----------
    spec : None, str or callable
        None (no metric), one of ``METRIC_NAMES`` (``"auto"``, ``"accuracy"``, ``"r2"``, ``"rmse"``), a
        Metric, or a callable ``f(Y, D) -> float`` (higher taken as better).
    loss : Loss
    n_outputs : int

    Returns
    -------
    Metric or None
    """
    if spec is None or isinstance(spec, Metric):
        return spec
    if callable(spec) and not isinstance(spec, str):
        return Metric(getattr(spec, "__name__", "metric"), spec)
    return METRICS.get(spec, error=_unknown)(loss, n_outputs)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> np.ndarray:
    """Counts C[i, j] of samples of class i predicted as class j (classes 0..n_classes-1).

    Parameters
    ----------
    y_true, y_pred : array_like of int
        True and predicted class indices.
    n_classes : int
        The number of classes.

    Returns
    -------
    ndarray of shape (n_classes, n_classes)

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 1, 0], 2).tolist()
    [[1, 0], [1, 1]]
    """
    y_true = np.asarray(y_true, dtype=np.intp)
    y_pred = np.asarray(y_pred, dtype=np.intp)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def format_confusion(cm: ArrayLike, labels: Sequence[Any] | None = None) -> str:
    """A confusion matrix as a text table: rows are true classes, columns predicted ones.

    Parameters
    ----------
    cm : array_like of shape (n_classes, n_classes)
        The counts.
    labels : sequence, optional
        The class names (default 0, 1, ...).

    Returns
    -------
    str

    Examples
    --------
    >>> print(format_confusion([[2, 0], [1, 3]], labels=["a", "b"]))
    true \\ predicted a b
    a                2 0
    b                1 3
    """
    cm = np.asarray(cm)
    labels = [str(c) for c in (labels if labels is not None else range(cm.shape[0]))]
    width = max(max(len(str(int(v))) for v in cm.ravel()), max(len(x) for x in labels)) + 1
    head = "true \\ predicted"
    first = max(len(head), max(len(x) for x in labels))
    lines = [head.ljust(first) + "".join(x.rjust(width) for x in labels)]
    for lab, row in zip(labels, cm):
        lines.append(lab.ljust(first) + "".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)
