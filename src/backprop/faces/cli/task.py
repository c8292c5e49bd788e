"""The task of a run: loss, output activation and targets, chosen from the labels; stored in the model."""
from __future__ import annotations

from dataclasses import dataclass
import argparse
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ...data.tables import encode_labels
from ...errors import ConfigError, InputError
from ...losses import LOSS_ALIASES, LOSS_NAMES, get_loss
from ...ops.activations import ALIASES, SCALAR_NAMES
from .numbers import number
from .usage import UsageError

if TYPE_CHECKING:
    from ...losses import Loss


#: the loss the command line trains each kind of task with (its output activation and targets follow)
TASK_LOSSES = {"multiclass": "cross_entropy", "binary": "bce", "regression": "l2"}

#: the library's losses that the command line chooses between
CLI_LOSSES = tuple(name for name in TASK_LOSSES.values() if name in LOSS_NAMES)

#: activations the command line names (custom ones need the Python API)
ACTIVATIONS = SCALAR_NAMES + ("softmax",)


#: "--task auto" takes whole-number targets for classes only with at most this many distinct values
MAX_AUTO_CLASSES = 20

TASKS = ("auto", "classification", "regression")


@dataclass
class Task:
    """What a model learns: the kind of target, its loss and output, the classes or the target scaling."""
    kind: str                  # "multiclass", "binary" or "regression"
    loss: Loss
    output: str
    n_outputs: int
    classes: Any               # the class labels (a list) of a classification task, None for regression
    y_mean: float = 0.0        # regression: the network learns (y - y_mean) / y_scale
    y_scale: float = 1.0
    why: str = ""              # why this task was chosen (printed by backprop train)

    def targets(self, y: ArrayLike) -> NDArray[Any]:
        """Labels as the network's targets: class indices for classification, standardised values for
        regression."""
        if self.kind == "regression":
            return (np.asarray(y, dtype=np.float64) - self.y_mean) / self.y_scale
        try:
            return encode_labels(np.asarray(y).ravel(), self.classes)[0]
        except InputError as e:
            raise InputError(f"{e}, those the model was trained on") from None

    def indices(self, Y: NDArray[Any]) -> NDArray[Any]:
        """Network outputs -> predicted class indices."""
        return Y.argmax(axis=1) if self.kind == "multiclass" else (Y[:, 0] > 0.5).astype(int)

    def labels(self, Y: NDArray[Any]) -> NDArray[Any]:
        """Network outputs -> predicted labels (regression: in the target's own units)."""
        if self.kind == "regression":
            Y = Y * self.y_scale + self.y_mean
            return Y[:, 0] if Y.shape[1] == 1 else Y
        return np.asarray(self.classes)[self.indices(Y)]

    def probabilities(self, Y: NDArray[Any]) -> NDArray[Any]:
        """One column per class (the binary task's single output as two)."""
        return Y if self.kind == "multiclass" else np.column_stack([1 - Y[:, 0], Y[:, 0]])

    def to_dict(self) -> dict[str, Any]:
        """The task as JSON-able data, for the model file's metadata."""
        return {"kind": self.kind, "loss": self.loss.config(), "output": self.output,
                "n_outputs": self.n_outputs, "classes": self.classes, "y_mean": self.y_mean,
                "y_scale": self.y_scale}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        """The task stored by ``to_dict``, checked (ValueError if a stored value is impossible)."""
        y_mean, y_scale = float(d.get("y_mean", 0.0)), float(d.get("y_scale", 1.0))
        if not (np.isfinite(y_mean) and np.isfinite(y_scale) and y_scale > 0):
            raise ValueError(f"the stored target scaling ({y_mean}, {y_scale}) is not finite and positive")
        classes = d["classes"]
        if classes is not None and not (isinstance(classes, list) and all(
                isinstance(c, (str, int, bool)) for c in classes)):
            raise ValueError("the stored classes are not a list of labels")
        return cls(d["kind"], get_loss(d["loss"]), d["output"], int(d["n_outputs"]), classes, y_mean, y_scale)

    def scale_targets(self, y: ArrayLike) -> Task:
        """Regression: learn the standardisation of the training targets (restored on output)."""
        if self.kind == "regression":
            y = np.asarray(y, dtype=np.float64)
            self.y_mean = float(y.mean())
            std = float(y.std())
            self.y_scale = std if std > 0 and np.isfinite(std) else 1.0
        return self


def _kind_of_target(y: NDArray[Any], task: str) -> tuple[bool, str]:
    """(classification?, why) for ``--task``: labels that are not numbers are classes; whole numbers
    with few distinct values too; other numbers are a regression target."""
    if y.dtype.kind in "USOb":
        if task == "regression":
            raise InputError(f"--task regression needs numbers as targets; the target holds labels such as "
                             f"{number(y[0])!r}")
        return True, f"the target holds labels ({y.dtype.kind in 'b' and 'booleans' or 'text'})"
    distinct = len(np.unique(y))
    if task != "auto":
        return task == "classification", f"--task {task}"
    if y.dtype.kind not in "iu":
        return False, "the target holds numbers that are not all whole"
    if distinct > MAX_AUTO_CLASSES:
        return False, (f"the target holds {distinct} distinct whole numbers, more than {MAX_AUTO_CLASSES} "
                       "for classes (--task classification to take them as classes)")
    return True, f"the target holds {distinct} distinct whole numbers (--task regression to fit them as numbers)"


def infer_task(y: ArrayLike, loss: str = "auto", output: str = "auto", l2: float = 0.0, label_smoothing: float = 0.0,
               task: str = "auto") -> Task:
    """Choose loss and output activation: labels (text, booleans, few whole numbers) -> classification
    (2 classes: sigmoid + bce, more: softmax + cross_entropy); other numbers -> regression
    (identity + l2). ``task`` ("auto", "classification", "regression") overrides the choice."""
    y = np.asarray(y)
    if task not in TASKS:
        raise UsageError(f"--task {task}: expected one of {', '.join(TASKS)}")
    classify, why = _kind_of_target(y, task)
    name: str | None = LOSS_ALIASES.get(loss, loss)
    if task == "auto" and name in CLI_LOSSES:           # --loss decides where the target allows it
        chosen = name != "l2"
        if chosen != classify and (y.dtype.kind in "iu" or not chosen):
            classify, why = chosen, f"--loss {loss}"
    if task == "classification" and y.dtype.kind == "f":
        raise InputError("--task classification needs class labels (whole numbers, text or booleans) as "
                         "targets; the target holds other numbers")
    name = _loss_name(loss, classify)
    if name == "l2":
        if y.dtype.kind in "USOb":
            raise InputError(f"--loss {loss} needs numbers as targets; the target holds labels")
        classes: Any = None
        kind, opts = "regression", {"l2": l2}
    else:
        if not classify:
            raise InputError(f"--loss {loss} needs class labels (whole numbers) as targets; the target holds "
                             "other numbers (use --loss l2 for regression)")
        classes = encode_labels(y.ravel())[1].tolist()
        kind, name, opts = _classification(classes, name, l2, label_smoothing)
    if label_smoothing and name != "cross_entropy":
        raise UsageError(f"--label-smoothing applies to --loss cross_entropy only; the loss here is {name}")
    n_out = len(classes) if kind == "multiclass" else 1
    defaults = {"regression": "identity", "binary": "sigmoid", "multiclass": "softmax"}
    output = defaults[kind] if output == "auto" else output
    if n_out == 1 and str(output).lower() == "softmax":
        raise UsageError(_SOFTMAX_OVER_ONE.format(what="2 classes" if kind == "binary" else "regression"))
    return Task(kind, get_loss(name, **opts), output, n_out, classes, why=why)


def _loss_name(loss: str, integral: bool) -> str | None:
    """The loss named by --loss (None: a classification loss chosen by the number of classes)."""
    name = LOSS_ALIASES.get(loss, loss)
    if name == "auto":
        return "l2" if not integral else None
    if name in ("kl", "binary_kl"):
        raise UsageError(f"--loss {loss}: use cross_entropy or bce (the KL forms have the same gradients)")
    if name not in CLI_LOSSES:
        raise UsageError(f"--loss {loss}: expected one of {', '.join(CLI_LOSSES)} (or an alias such as "
                         f"{', '.join(a for a, n in LOSS_ALIASES.items() if n in CLI_LOSSES)})")
    return name


def _classification(classes: NDArray[Any], name: str | None, l2: float,
                    label_smoothing: float) -> tuple[str, str, dict[str, Any]]:
    """(kind, loss name, loss options) for these classes."""
    if len(classes) < 2:
        raise InputError(f"the target has a single class ({classes[0]}); classification needs at least 2")
    if name is None:
        name = TASK_LOSSES["binary"] if len(classes) == 2 else TASK_LOSSES["multiclass"]
    if name == TASK_LOSSES["binary"]:
        if len(classes) != 2:
            raise ConfigError(f"--loss bce is for 2 classes; the target has {len(classes)} "
                              "(use --loss cross_entropy)")
        return "binary", name, {"l2": l2}
    return "multiclass", name, {"l2": l2, "label_smoothing": label_smoothing}


_SOFTMAX_OVER_ONE = ("--output softmax over the single output of {what} is the constant 1 (zero loss, zero "
                     "gradient); use --output sigmoid with --loss bce for 2 classes, --loss cross_entropy for 2 "
                     "softmax outputs, or --output identity with --loss l2 for regression")


def check_activation_names(args: argparse.Namespace) -> None:
    """--activation and --output name activations of the library (custom ones need the Python API)."""
    for flag, name in (("--activation", args.activation), ("--output", args.output)):
        if name is not None and name != "auto" and ALIASES.get(name, name) not in ACTIVATIONS:
            raise UsageError(f"{flag} {name}: unknown activation; expected one of {', '.join(ACTIVATIONS)}")


def describe_loss(loss: Loss) -> str:
    """``bce``, or ``cross_entropy (l2 0.1, label_smoothing 0.1)``: the loss and its non-zero options."""
    extra = [f"{k} {number(v)}" for k, v in loss.config().items() if k != "name" and v]
    return loss.name + (f" ({', '.join(extra)})" if extra else "")
