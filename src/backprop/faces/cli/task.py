"""The task of a run: loss, output activation and targets, chosen from the labels; stored in the model."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError, InputError
from ...losses import LOSS_ALIASES, LOSS_NAMES, get_loss
from ...ops.activations import ALIASES, SCALAR_NAMES
from .numbers import number
from .usage import UsageError

#: the loss the command line trains each kind of task with (its output activation and targets follow)
TASK_LOSSES = {"multiclass": "cross_entropy", "binary": "bce", "regression": "l2"}

#: the library's losses that the command line chooses between
CLI_LOSSES = tuple(name for name in TASK_LOSSES.values() if name in LOSS_NAMES)

#: activations the command line names (custom ones need the Python API)
ACTIVATIONS = SCALAR_NAMES + ("softmax",)


@dataclass
class Task:
    kind: str                  # "multiclass", "binary" or "regression"
    loss: object
    output: str
    n_outputs: int
    classes: list | None

    def targets(self, y):
        """Labels as the network's targets: class indices for classification, floats for regression."""
        if self.kind == "regression":
            return np.asarray(y, dtype=np.float64)
        y = np.asarray(y)
        idx = np.searchsorted(self.classes, y)
        idx = np.clip(idx, 0, len(self.classes) - 1)
        bad = np.asarray(self.classes)[idx] != y
        if bad.any():
            raise InputError(f"label {number(y[bad][0])} did not occur in training; the model knows the classes "
                             f"{', '.join(map(str, self.classes))}")
        return idx

    def indices(self, Y):
        """Network outputs -> predicted class indices."""
        return Y.argmax(axis=1) if self.kind == "multiclass" else (Y[:, 0] > 0.5).astype(int)

    def labels(self, Y):
        """Network outputs -> predicted labels."""
        if self.kind == "regression":
            return Y[:, 0] if Y.shape[1] == 1 else Y
        return np.asarray(self.classes)[self.indices(Y)]

    def probabilities(self, Y):
        """One column per class (the binary task's single output as two)."""
        return Y if self.kind == "multiclass" else np.column_stack([1 - Y[:, 0], Y[:, 0]])

    def to_dict(self):
        return {"kind": self.kind, "loss": self.loss.config(), "output": self.output,
                "n_outputs": self.n_outputs, "classes": self.classes}

    @classmethod
    def from_dict(cls, d):
        return cls(d["kind"], get_loss(d["loss"]), d["output"], int(d["n_outputs"]), d["classes"])


def infer_task(y, loss="auto", output="auto", l2=0.0, label_smoothing=0.0) -> Task:
    """Choose loss and output activation: integer labels -> classification (2 classes: sigmoid + bce,
    more: softmax + cross_entropy); other numbers -> regression (identity + l2)."""
    y = np.asarray(y)
    integral = y.dtype.kind in "iu"
    name = _loss_name(loss, integral)
    if name == "l2":
        kind, classes, opts = "regression", None, {"l2": l2}
    else:
        if not integral:
            raise InputError(f"--loss {loss} needs class labels (whole numbers) as targets; the target holds "
                             "other numbers (use --loss l2 for regression)")
        classes = [int(c) for c in np.unique(y)]
        kind, name, opts = _classification(classes, name, l2, label_smoothing)
    if label_smoothing and name != "cross_entropy":
        raise UsageError(f"--label-smoothing applies to --loss cross_entropy only; the loss here is {name}")
    n_out = len(classes) if kind == "multiclass" else 1
    defaults = {"regression": "identity", "binary": "sigmoid", "multiclass": "softmax"}
    output = defaults[kind] if output == "auto" else output
    if n_out == 1 and str(output).lower() == "softmax":
        raise UsageError(_SOFTMAX_OVER_ONE.format(what="2 classes" if kind == "binary" else "regression"))
    return Task(kind, get_loss(name, **opts), output, n_out, classes)


def _loss_name(loss, integral):
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


def _classification(classes, name, l2, label_smoothing):
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


def check_activation_names(args):
    """--activation and --output name activations of the library (custom ones need the Python API)."""
    for flag, name in (("--activation", args.activation), ("--output", args.output)):
        if name is not None and name != "auto" and ALIASES.get(name, name) not in ACTIVATIONS:
            raise UsageError(f"{flag} {name}: unknown activation; expected one of {', '.join(ACTIVATIONS)}")


def describe_loss(loss):
    """``bce``, or ``cross_entropy (l2 0.1, label_smoothing 0.1)``: the loss and its non-zero options."""
    extra = [f"{k} {number(v)}" for k, v in loss.config().items() if k != "name" and v]
    return loss.name + (f" ({', '.join(extra)})" if extra else "")
