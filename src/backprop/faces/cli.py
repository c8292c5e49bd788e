"""The ``backprop`` command line: train, evaluate, predict, check and plot.

Every subcommand is a pair of functions, ``add_arguments(parser)`` and ``run(args) -> exit code``,
listed in ``SUBCOMMANDS``; to add one, write the pair and call ``register(name, help, add, run)``.
A user mistake (a missing file, a bad option value, data of the wrong shape) prints one line
``backprop: error: ...`` on stderr and exits with a non-zero code, without a traceback: 2 for the
command line itself (including an option that would do nothing with the others given), 1 for data
and files. Ctrl-C exits with 130 (after training: with the model saved as far as it got), a reader
that stops early (``| head``) ends the command quietly with 141.

A saved model knows its feature columns by name: ``predict``, ``evaluate`` and ``check --model`` take
them by name from a CSV file's header (in any order, other columns ignored), and by position only
from a file without header row or from built-in data, whose column count must then be exact.
"""
from __future__ import annotations

import argparse
import csv
import inspect
import io
import math
import os
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DivergenceWarning
from ..training.loop import DIVERGED_FACTOR
from .exports.cli_export import add_export_arguments, export_command
from .cli_dask import add_dask_option, dask_session, on_cluster
from .trace_render import add_trace_arguments, trace_command

PROG = "backprop"


class UsageError(Exception):
    """A mistake in the command line itself (unknown option, missing argument, bad value)."""


class _Parser(argparse.ArgumentParser):
    """Raises UsageError instead of exiting; no abbreviated options (``check --out`` must not mean
    ``--output``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(message)


def _number(x) -> str:
    """A number as a user reads it: ``0.1321``, ``7``, ``1e-06``, never ``np.float64(...)``."""
    x = x.item() if isinstance(x, np.generic) else x
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


@dataclass
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}


def register(name, help, add_arguments, run) -> None:
    """Add a subcommand ``backprop NAME``: ``add_arguments(parser)`` declares its options and
    ``run(args)`` does the work and returns the exit code."""
    SUBCOMMANDS[name] = Subcommand(help, add_arguments, run)


# ---- data ---------------------------------------------------------------------------------------

BUILTIN_DATA = {
    "xor": "the 4 points of XOR",
    "digits": "8x8 digits, 10 classes (scikit-learn's copy)",
    "digits-2": "8x8 digits, the binary task '2 or not 2'",
    "moons": "two interleaving half circles, 2 classes",
    "spirals": "two interleaved spirals, 2 classes",
}


@dataclass
class Data:
    name: str
    X: np.ndarray
    y: np.ndarray | None
    feature_names: list
    target: str | None
    test: tuple | None = None      # a predefined test part (X, y), e.g. MNIST's t10k files
    named: bool = False            # the columns carry names from a CSV header (else: by position)
    columns: list | None = None    # a CSV file's header row, in file order


def _is_builtin(spec) -> bool:
    return spec in BUILTIN_DATA or spec.startswith("mnist:")


def load_data(spec, target=None, need_target=True) -> Data:
    """Built-in data set by name, ``mnist:DIR`` (IDX files), or a CSV file (with ``target``)."""
    from .. import datasets
    from ..errors import ConfigError, FileFormatError

    if spec in BUILTIN_DATA:
        if spec == "xor":
            X, y = datasets.xor()
        elif spec in ("digits", "digits-2"):
            X, y = datasets.digits(binary=spec == "digits-2")
        elif spec == "moons":
            X, y = datasets.moons(n_samples=400, noise=0.2, seed=0)
        else:
            X, y = datasets.spirals(n_samples=400, seed=0)
        return Data(spec, X, y, [f"x{i}" for i in range(X.shape[1])], "label")
    if spec.startswith("mnist:"):
        directory = spec[len("mnist:"):]
        X, y = datasets.load_mnist(directory, "train")
        try:
            test = datasets.load_mnist(directory, "t10k")
        except ValueError:
            test = None
        return Data(spec, X, y, [f"pixel{i}" for i in range(X.shape[1])], "label", test)
    if not os.path.exists(spec):
        if not spec.lower().endswith(".csv"):
            raise ConfigError(f"unknown data {spec!r}; expected one of {', '.join(BUILTIN_DATA)}, mnist:DIR "
                              "or the path of a CSV file")
        raise FileFormatError(f"cannot read CSV file {spec}: it does not exist")
    header = _csv_header(spec)
    if target is None:
        if need_target:
            raise ConfigError(f"--target is required with a CSV file: name the column of {spec} to predict")
        X, _, names = datasets.load_csv(spec)
        return Data(spec, X, None, names, None, named=True, columns=header)
    X, y, names = datasets.load_csv(spec, target=target)
    return Data(spec, X, y, names, str(target), named=True, columns=header)


def _csv_header(path):
    """The first row of a CSV file, or None if it holds only numbers (a file without header row)."""
    from ..data.files import _looks_numeric

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return []             # unreadable: load_csv reports why
    if first and all(_looks_numeric(cell.strip()) for cell in first):
        return None
    return [cell.strip() for cell in first or []]


def _model_data(spec, meta, n_inputs, target=None, need_target=True) -> Data:
    """Data for a saved model, its columns as the model's inputs.

    With a header row the model's features are taken by name (other columns are ignored); a CSV
    file without header row, and built-in data, must have exactly the model's columns in order.
    """
    from ..errors import InputError

    names = meta["feature_names"]
    if not _is_builtin(spec) and os.path.isfile(spec) and _csv_header(spec) is None:
        columns = meta.get("columns") or []
        if need_target and target is None:
            target = meta.get("target")
        if need_target and columns and target not in columns:
            raise InputError(f"{spec} has no header row, so its columns are those the model was trained on, "
                             f"{_shown(columns)}; the target {target} is not one of them")
        if need_target and not columns:
            raise InputError(f"{spec} has no header row; the model does not record the position of its target "
                             f"column, so add a header row ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}"
                             f" and {target or 'the target'})")
        expected = columns if need_target else names
        values = _read_headerless(spec, expected)
        if not need_target:
            return Data(spec, values, None, list(names), None)
        t = columns.index(target)
        keep = [i for i in range(len(columns)) if i != t]
        if [columns[i] for i in keep] != list(names):
            raise InputError(f"--target {target}: by position, the columns of {spec} (no header row) are "
                             f"{_shown(columns)}, and {target} is one of the model's features; "
                             f"the model was trained to predict {meta.get('target')}")
        return Data(spec, values[:, keep], values[:, t], list(names), target)
    data = load_data(spec, target, need_target)
    data.X = _select_features(data, meta, n_inputs)
    return data


def _read_headerless(path, names):
    """The numbers of a CSV file without header row whose columns must be exactly ``names``, in order."""
    from ..data.files import load_csv
    from ..errors import FileFormatError

    with open(path, newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if row and len(row) != len(names):
                raise FileFormatError(
                    f"{path} has no header row, so its columns are taken by position and must be exactly the "
                    f"model's {len(names)} ({_shown(names)}); line {line} has {len(row)} values. Add a header "
                    "row to select columns by name")
    return load_csv(path, names=names)[0]


def _shown(names, k=6):
    return ", ".join(map(str, names[:k])) + (", ..." if len(names) > k else "")


def _split(data: Data, test_size, seed, stratify):
    from .. import datasets
    from ..errors import InputError

    if data.test is not None:
        return data.X, data.test[0], data.y, data.test[1]
    if not test_size or len(data.X) < _MIN_SPLIT:
        return data.X, None, data.y, None
    try:
        return datasets.train_test_split(data.X, data.y, test_size=test_size, seed=seed, stratify=stratify)
    except InputError:
        n_classes = len(np.unique(data.y)) if stratify else 0
        both = f", with each of the {n_classes} classes in both" if stratify else ""
        raise InputError(f"--test-size {_number(test_size)} cannot split the {len(data.X)} samples of {data.name} "
                         f"into a training and a test part{both}; choose another fraction") from None


# ---- the task: loss, output activation and targets from the labels ------------------------------

@dataclass
class Task:
    kind: str                  # "multiclass", "binary" or "regression"
    loss: object
    output: str
    n_outputs: int
    classes: list | None

    def targets(self, y):
        """Labels as the network's targets: class indices for classification, floats for regression."""
        from ..errors import InputError

        if self.kind == "regression":
            return np.asarray(y, dtype=np.float64)
        y = np.asarray(y)
        idx = np.searchsorted(self.classes, y)
        idx = np.clip(idx, 0, len(self.classes) - 1)
        bad = np.asarray(self.classes)[idx] != y
        if bad.any():
            raise InputError(f"label {_number(y[bad][0])} did not occur in training; the model knows the classes "
                             f"{', '.join(map(str, self.classes))}")
        return idx

    def labels(self, Y):
        """Network outputs -> predicted labels."""
        if self.kind == "regression":
            return Y[:, 0] if Y.shape[1] == 1 else Y
        idx = Y.argmax(axis=1) if self.kind == "multiclass" else (Y[:, 0] > 0.5).astype(int)
        return np.asarray(self.classes)[idx]

    def to_dict(self):
        return {"kind": self.kind, "loss": self.loss.config(), "output": self.output,
                "n_outputs": self.n_outputs, "classes": self.classes}

    @classmethod
    def from_dict(cls, d):
        from ..losses import get_loss
        return cls(d["kind"], get_loss(d["loss"]), d["output"], int(d["n_outputs"]), d["classes"])


def infer_task(y, loss="auto", output="auto", l2=0.0, label_smoothing=0.0) -> Task:
    """Choose loss and output activation: integer labels -> classification (2 classes: sigmoid + bce,
    more: softmax + cross_entropy); other numbers -> regression (identity + l2)."""
    from ..errors import ConfigError, InputError
    from ..losses import LOSS_ALIASES, get_loss

    y = np.asarray(y)
    integral = y.dtype.kind in "iu"
    name = LOSS_ALIASES.get(loss, loss)
    if name == "auto":
        name = "l2" if not integral else None
    if name in ("kl", "binary_kl"):
        raise UsageError(f"--loss {loss}: use cross_entropy or bce (the KL forms have the same gradients)")
    if name not in _CLI_LOSSES and name is not None:
        raise UsageError(f"--loss {loss}: expected one of {', '.join(_CLI_LOSSES)} (or an alias such as "
                         f"{', '.join(a for a, n in LOSS_ALIASES.items() if n in _CLI_LOSSES)})")
    if name == "l2":
        opts = {"l2": l2}
        kind, n_out, out_default, classes = "regression", 1, "identity", None
    else:
        if not integral:
            raise InputError(f"--loss {loss} needs class labels (whole numbers) as targets; the target holds "
                             "other numbers (use --loss l2 for regression)")
        classes = [int(c) for c in np.unique(y)]
        if len(classes) < 2:
            raise InputError(f"the target has a single class ({classes[0]}); classification needs at least 2")
        if name is None:
            name = "bce" if len(classes) == 2 else "cross_entropy"
        if name == "bce":
            if len(classes) != 2:
                raise ConfigError(f"--loss bce is for 2 classes; the target has {len(classes)} "
                                  "(use --loss cross_entropy)")
            kind, n_out, out_default, opts = "binary", 1, "sigmoid", {"l2": l2}
        else:
            kind, n_out, out_default = "multiclass", len(classes), "softmax"
            opts = {"l2": l2, "label_smoothing": label_smoothing}
    if label_smoothing and name != "cross_entropy":
        raise UsageError(f"--label-smoothing applies to --loss cross_entropy only; the loss here is {name}")
    output = out_default if output == "auto" else output
    if n_out == 1 and str(output).lower() == "softmax":
        raise UsageError(_SOFTMAX_OVER_ONE.format(what="2 classes" if kind == "binary" else "regression"))
    return Task(kind, get_loss(name, **opts), output, n_out, classes)


_SOFTMAX_OVER_ONE = ("--output softmax over the single output of {what} is the constant 1 (zero loss, zero "
                     "gradient); use --output sigmoid with --loss bce for 2 classes, --loss cross_entropy for 2 "
                     "softmax outputs, or --output identity with --loss l2 for regression")


# the losses the command line chooses between (their output activation and targets follow from the data)
_CLI_LOSSES = ("cross_entropy", "bce", "l2")


def _check_activation_names(args):
    """--activation and --output name activations of the library (custom ones need the Python API)."""
    from ..ops.activations import ALIASES, SCALAR_NAMES

    names = SCALAR_NAMES + ("softmax",)
    for option, name in (("--activation", args.activation), ("--output", args.output)):
        if name is not None and name != "auto" and ALIASES.get(name, name) not in names:
            raise UsageError(f"{option} {name}: unknown activation; expected one of {', '.join(names)}")


def _seed(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return v


def _hidden_sizes(text):
    if text.strip().lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise UsageError(f"--hidden must list hidden layer widths such as 64,32; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise UsageError(f"--hidden layer widths must be >= 1; got {text!r}")
    return sizes


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return v


def _batch_size(text):
    if text.lower() in ("full", "all", "none"):
        return None
    return _positive_int(text)


def _metric_line(task, net, X, T):
    """(loss, metric name, metric value) of ``net`` on (X, T)."""
    from ..engine.objective import Objective
    from ..training.metrics import get_metric

    obj = Objective(net, task.loss, X, T)
    m = get_metric("auto", task.loss, net.n_outputs)
    return obj.value(), m.name, m(obj.output, obj.D)


class _Scaler:
    """Standardisation stored in the model file (mean and scale as extra arrays)."""

    def __init__(self, mean=None, scale=None):
        self.mean, self.scale = mean, scale

    @classmethod
    def fit(cls, X):
        from ..data import Standardizer
        s = Standardizer().fit(X)
        return cls(s.mean_, s.scale_)

    def __call__(self, X):
        return X if self.mean is None else (X - self.mean) / self.scale

    def arrays(self):
        return {} if self.mean is None else {"input_mean": self.mean, "input_scale": self.scale}


def _load_model(path):
    from ..engine.serialize import load_bundle
    from ..errors import FileFormatError

    net, meta, arrays = load_bundle(path)
    try:
        task = Task.from_dict(meta["task"])
    except (KeyError, TypeError, ValueError) as e:
        raise FileFormatError(f"{path} holds a network but no task description (was it saved by "
                              f"'backprop train'?): {e}") from None
    names = meta.get("feature_names")
    if not (isinstance(names, list) and len(names) == net.n_inputs and all(isinstance(n, str) for n in names)):
        raise FileFormatError(f"{path}: the stored feature names do not list the network's {net.n_inputs} "
                              "inputs as strings")
    if task.n_outputs != net.n_outputs or (net.n_outputs == 1 and net.output_activation == "softmax"):
        raise FileFormatError(f"{path}: the stored task ({task.kind}, {task.n_outputs} outputs, "
                              f"{net.output_activation} output) does not fit the network")
    scaler = _Scaler(arrays.get("input_mean"), arrays.get("input_scale"))
    for a in (scaler.mean, scaler.scale):
        if a is not None and np.shape(a) != (net.n_inputs,):
            raise FileFormatError(f"{path}: the stored standardisation has shape {np.shape(a)}; "
                                  f"expected ({net.n_inputs},)")
    return net, meta, task, scaler


def _select_features(data: Data, meta, n_inputs):
    """The model's input columns of ``data``: by name when the file names its columns, else all of them
    (then the count must be exact)."""
    from ..errors import InputError

    names = meta.get("feature_names") or []
    if data.named and names:
        missing = [n for n in names if n not in data.feature_names]
        if missing:
            hint = ("" if meta.get("named_features", True) else
                    f"; the model was trained on {meta.get('data')}, whose columns have no names: name them "
                    f"{_shown(names)} in the header, or drop the header row to take the columns by position")
            if data.target in missing:
                hint += (f"; --target {data.target} names a column that the model takes as a feature "
                         f"(it was trained to predict {meta.get('target')})")
            columns = data.columns or data.feature_names + ([data.target] if data.target else [])
            raise InputError(f"{data.name}: missing feature column{'s' if len(missing) > 1 else ''} "
                             f"{_shown(missing)} (the model's features are {_shown(names)}; the file has "
                             f"{_shown(columns)}){hint}")
        return data.X[:, [data.feature_names.index(n) for n in names]]
    if data.X.shape[1] != n_inputs:
        raise InputError(f"{data.name} has {data.X.shape[1]} feature columns; the model expects {n_inputs}"
                         + (f" ({_shown(names)})" if names else ""))
    return data.X


# ---- train --------------------------------------------------------------------------------------

def _add_network_options(p, seed_default=0):
    p.add_argument("--hidden", help="hidden layer widths, e.g. 64,32 (default 32; 'none' for none)")
    p.add_argument("--activation", help="hidden activation: tanh, sigmoid, relu, leaky_relu, "
                   "softplus, identity (default tanh)")
    p.add_argument("--output", help="output activation (default: softmax for several classes, "
                   "sigmoid for two, identity for regression)")
    p.add_argument("--loss", help="cross_entropy, bce or l2 (default: from the target)")
    p.add_argument("--l2", type=_non_negative, help="L2 regularisation strength lambda (default 0)")
    p.add_argument("--seed", type=_seed, default=seed_default,
                   help="seed of initialisation, split and shuffling (default 0)")


# options left unset are None on the parsed arguments, so that an option given in a mode where it does
# nothing can be told from its default; these are the defaults then
_NETWORK_DEFAULTS = {"hidden": "32", "activation": "tanh", "output": "auto", "loss": "auto", "l2": 0.0}
_TRAIN_DEFAULTS = {"label_smoothing": 0.0, "batch_size": 32, "tol": 1e-6, "patience": 10, "test_size": 0.25,
                   "optimizer": "sgd"}


def _given(args, name) -> bool:
    """Whether the user gave the option ``name`` (an unset option is None or False)."""
    value = getattr(args, name, None)
    return value is not None and value is not False


def _option_error(name, value, error, option=None) -> UsageError:
    """A library error about the parameter ``name`` as an error about the option that set it."""
    msg, option = str(error), option or _option(name)
    if msg.startswith(name + "="):
        return UsageError(f"{option} {msg[len(name) + 1:]}")
    if msg.startswith(name + " "):
        return UsageError(option + msg[len(name):])
    return UsageError(f"{option} {_number(value)}: {msg}")


def _option(name) -> str:
    return "--" + name.replace("_", "-")


def _with_defaults(args, defaults):
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)


def _refuse(option, reason):
    raise UsageError(f"{option} does nothing {reason}")


def _check_target_option(args):
    if args.target is not None and _is_builtin(args.data):
        _refuse("--target", f"with --data {args.data}: built-in data sets bring their own labels (--target "
                "names a column of a CSV file)")


def _check_activation_option(args, hidden):
    if not hidden and args.activation is not None:
        _refuse("--activation", f"with --hidden {args.hidden}: a network without hidden layers has no hidden "
                "activation (the output activation is --output)")


def _non_negative(text):
    v = _float(text)
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def _fraction(text):
    v = _float(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return v


def _open_fraction(text):
    v = _float(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction strictly between 0 and 1, got {text!r}")
    return v


def _float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def _add_data_options(p, target_help="target column of a CSV file"):
    p.add_argument("--data", required=True,
                   help=f"{', '.join(BUILTIN_DATA)}, mnist:DIR (IDX files) or PATH.csv")
    p.add_argument("--target", help=target_help)


# command-line options passed to the optimiser's constructor, by the constructor's parameter name
_OPTIMIZER_OPTIONS = ("lr", "momentum", "nesterov", "weight_decay")


def _add_train_arguments(p):
    _add_data_options(p)
    _add_network_options(p)
    p.add_argument("--label-smoothing", type=_fraction, help="label smoothing for cross_entropy (default 0)")
    p.add_argument("--optimizer", help="gd, sgd, momentum, nesterov or adam (default sgd)")
    p.add_argument("--lr", type=_float, help="learning rate (default 0.01 for SGD, 0.001 for Adam)")
    p.add_argument("--momentum", type=_float, help="momentum mu (makes sgd classical-momentum SGD)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (mu = 0.9 unless --momentum)")
    p.add_argument("--weight-decay", type=_float, help="weight decay lambda: W <- W - eta Delta - lambda W")
    p.add_argument("--schedule", default="constant", help="learning-rate schedule: constant, step, invscaling, "
                   "cosine (default constant)")
    p.add_argument("--batch-size", type=_batch_size, help="samples per update, or 'full' (default 32; "
                   "not with gd, which always uses every sample)")
    p.add_argument("--epochs", type=_positive_int, default=30, help="maximum number of epochs (default 30)")
    p.add_argument("--tol", type=_non_negative, help="stop when the epoch loss changes by less than this "
                   "for --patience epochs (default 1e-6; 0: never)")
    p.add_argument("--patience", type=_positive_int, help="epochs for --tol and early stopping (default 10)")
    p.add_argument("--test-size", type=_fraction, help="held-out test fraction (default 0.25; 0: none)")
    p.add_argument("--validation-fraction", type=_open_fraction, help="hold out this fraction of the training "
                   "part for validation and early stopping")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                   help="standardise the inputs (default: yes for CSV files, no for built-in data)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--out", default="model.npz", help="where to save the model (default model.npz)")
    p.add_argument("--history", help="also write the training history as JSON to this file")
    p.add_argument("--checkpoint", help="write a checkpoint to this file every --checkpoint-every epochs")
    p.add_argument("--checkpoint-every", type=_positive_int, help="epochs between checkpoints (default 1)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dask_option(p)


def _build_network(sizes, args, task, dtype="float64"):
    from ..engine.network import MLP

    return MLP(sizes, hidden=args.activation, output=task.output, seed=args.seed, dtype=np.dtype(dtype))


def _optimizer(args):
    """The optimiser named by --optimizer with the options given, each checked against the parameters
    of that optimiser's constructor."""
    from ..errors import ConfigError
    from ..training.optimizers import get_optimizer

    name = args.optimizer
    cls = type(get_optimizer(name))                      # an unknown name fails here
    accepted = [k for k in inspect.signature(cls).parameters if k in _OPTIMIZER_OPTIONS]
    given = {k: getattr(args, k) for k in _OPTIMIZER_OPTIONS if _given(args, k)}
    for k in given:
        if k not in accepted:
            takes = ", ".join(_option(a) for a in accepted)
            _refuse(_option(k), f"with --optimizer {name}: {cls.__name__} takes no {k} (it takes {takes})")
    if given.get("nesterov") or name == "nesterov":
        if given.get("momentum", 0.9) == 0:
            which = "--nesterov" if given.get("nesterov") else f"--optimizer {name}"
            raise UsageError(f"{which} needs a --momentum > 0 (default 0.9)")
        given.setdefault("momentum", 0.9)
        given["nesterov"] = True
    for k, v in given.items():
        # each value alone, so the message names the option that is wrong
        alone = {k: v, "momentum": given["momentum"]} if k == "nesterov" else {k: v}
        try:
            get_optimizer(name, **alone)
        except ConfigError as e:
            raise _option_error(k, v, e) from None
    return get_optimizer(name, **given)


def _check_train_options(args, hidden, opt):
    """Refuse options that would do nothing with the others given (before any data is read)."""
    _check_target_option(args)
    _check_activation_option(args, hidden)
    if args.batch_size is not None and opt.full_batch:
        _refuse("--batch-size", f"with --optimizer {args.optimizer}: full-batch gradient descent steps on all "
                "training samples at once (use --optimizer sgd for mini-batches)")
    if args.checkpoint is None:
        for k in ("checkpoint_every", "resume"):
            if _given(args, k):
                _refuse(_option(k), "without --checkpoint FILE")
    if args.patience is not None and args.tol == 0 and args.validation_fraction is None:
        _refuse("--patience", "with --tol 0 and no --validation-fraction: it counts epochs for the convergence "
                "test and for early stopping, and both are off")


def _check_split_options(args, data):
    if args.test_size is None:
        return
    if data.test is not None:
        _refuse("--test-size", f"with --data {data.name}: it has its own test files (t10k)")
    if args.test_size and len(data.X) < _MIN_SPLIT:
        _refuse("--test-size", f"with {len(data.X)} samples of {data.name}: data sets of fewer than {_MIN_SPLIT} "
                "samples are not split (all are used for training)")


_MIN_SPLIT = 20


def _check_output_path(option, path):
    """Refuse an output file that cannot be written, before any work."""
    from ..errors import ConfigError

    if not path:
        return
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ConfigError(f"{option} {path}: the directory {folder} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"{option} {path}: it is a directory; expected a file name")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"{option} {path}: the directory {folder} is not writable")


def _run_train(args) -> int:
    from ..errors import ConfigError
    from ..training import checkpoint as ckpt
    from ..training.loop import train

    hidden = _hidden_sizes(args.hidden if args.hidden is not None else _NETWORK_DEFAULTS["hidden"])
    if args.optimizer is None:
        args.optimizer = _TRAIN_DEFAULTS["optimizer"]
    _check_activation_names(args)
    opt = _optimizer(args)
    _check_train_options(args, hidden, opt)
    for option, path in (("--out", args.out), ("--history", args.history), ("--checkpoint", args.checkpoint)):
        _check_output_path(option, path)
    data = load_data(args.data, args.target)
    _check_split_options(args, data)
    _with_defaults(args, _NETWORK_DEFAULTS)
    _with_defaults(args, _TRAIN_DEFAULTS)
    task = infer_task(data.y, args.loss, args.output, args.l2, args.label_smoothing)
    X_train, X_test, y_train, y_test = _split(data, args.test_size, args.seed, task.kind != "regression")
    standardize = args.standardize if args.standardize is not None else args.data.lower().endswith(".csv")
    scaler = _Scaler.fit(X_train) if standardize else _Scaler()
    X_train = scaler(X_train)
    net = _build_network([X_train.shape[1], *hidden, task.n_outputs], args, task, args.dtype)
    T_train = task.targets(y_train)
    if args.label_smoothing:
        try:
            task.loss.prepare(T_train[:1], 1, task.n_outputs, net.dtype)
        except ConfigError as e:
            raise _option_error("label_smoothing", args.label_smoothing, e) from None
    if args.resume and not ckpt.exists(args.checkpoint):
        print(f"{PROG}: note: --resume: {args.checkpoint} does not exist yet; training starts from scratch",
              file=sys.stderr)
    elif args.resume:
        done = _checkpoint_epoch(args.checkpoint)
        if done is not None and done >= args.epochs:
            raise UsageError(f"--epochs {args.epochs} with --resume trains nothing: {args.checkpoint} is at epoch "
                             f"{done} already, and --epochs counts the epochs before the resume too; ask for more")
    log = sys.stdout        # the progress bar goes to stderr
    n_test = "no" if X_test is None else len(X_test)
    what = (f"{len(task.classes)} classes" if task.classes else "regression")
    print(f"data     {data.name}: {len(X_train)} training / {n_test} test samples, {X_train.shape[1]} features, "
          f"{what}", file=log)
    arch = "-".join(map(str, net.sizes))
    print(f"network  MLP {arch}, {args.activation if hidden else 'no'} hidden, {task.output} output, "
          f"{net.n_params} parameters; loss {task.loss.name}", file=log)
    checkpoint_before = _mtime(args.checkpoint)
    t0 = time.perf_counter()
    options = dict(batch_size=args.batch_size, epochs=args.epochs, schedule=args.schedule,
                   validation_fraction=args.validation_fraction, tol=args.tol, n_iter_no_change=args.patience,
                   checkpoint_every=args.checkpoint_every)
    try:
        with warnings.catch_warnings(), dask_session(args.dask) as client:
            warnings.simplefilter("ignore", DivergenceWarning)         # said below in the command line's words
            X_fit, T_fit = on_cluster(client, X_train, T_train)
            history = train(net, task.loss, X_fit, T_fit, optimizer=opt, seed=args.seed,
                            verbose=not args.quiet, checkpoint=args.checkpoint, resume=args.resume, **options)
    except ValueError as e:
        # train checks everything before the first update; name the option, not the parameter
        for k, v in options.items():
            if str(e).startswith((k + "=", k + " ")):
                raise _option_error(k, v, e, "--patience" if k == "n_iter_no_change" else None) from None
        raise
    elapsed = time.perf_counter() - t0
    interrupted = history.stop_reason == "interrupted"
    print(f"trained  {len(history)} epochs in {elapsed:.2f} s (stopped: {history.stop_reason})", file=log)
    loss, mname, mval = _metric_line(task, net, X_train, T_train)
    print(f"train    loss {loss:.4f}  {mname} {mval:.4f}", file=log)
    if X_test is not None:
        loss, mname, mval = _metric_line(task, net, scaler(X_test), task.targets(y_test))
        print(f"test     loss {loss:.4f}  {mname} {mval:.4f}", file=log)
    meta = {"task": task.to_dict(), "feature_names": data.feature_names, "target": data.target,
            "named_features": data.named, "columns": data.columns,
            "data": data.name, "seed": args.seed, "test_size": args.test_size, "history": history.to_dict()}
    _save(net, args.out, meta, scaler)
    if interrupted:
        kept = ("the parameters of the best epoch on the validation part" if args.validation_fraction
                else "the parameters at the moment of the interruption")
        print(f"saved    {args.out}: training interrupted after {len(history)} of {args.epochs} epochs; "
              f"the model holds {kept}", file=log)
        if args.checkpoint is not None:
            print(_checkpoint_note(args.checkpoint, checkpoint_before, args.checkpoint_every or 1), file=log)
    else:
        print(f"saved    {args.out}", file=log)
    if args.history:
        history.save(args.history)
        print(f"saved    {args.history}", file=log)
    if history.diverged:
        print(f"backprop: error: training diverged: the training loss ended at {history.end_loss:.4g}, more than "
              f"{DIVERGED_FACTOR:g} times the {history.start_loss:.4g} it started from; try a smaller --lr "
              f"(e.g. {opt.lr / 10:g})", file=sys.stderr)
        return 1
    return _INTERRUPTED if interrupted else 0


_INTERRUPTED = 128 + signal.SIGINT         # the shell's code for a process ended by Ctrl-C
_BROKEN_PIPE = 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns if path is not None else None
    except OSError:
        return None


def _checkpoint_epoch(path):
    """The number of epochs a checkpoint file has done, or None if it cannot tell (training's own
    checks then say why)."""
    from ..engine.serialize import load_bundle

    try:
        epoch = load_bundle(path)[1]["state"]["epoch"]
        return int(epoch) if isinstance(epoch, int) else None
    except (ValueError, KeyError, TypeError):
        return None


def _checkpoint_note(path, mtime_before, every):
    """What the checkpoint file holds after an interrupted run."""
    epoch = _checkpoint_epoch(path)
    if epoch is not None and _mtime(path) != mtime_before:
        return f"saved    {path}: the checkpoint of epoch {epoch}; continue with --resume"
    held = f"; it still holds epoch {epoch} of the run before" if epoch is not None else ""
    return (f"note     {path} was not written in this run (a checkpoint is written every {every} epochs){held}")


def _save(net, path, meta, scaler):
    from ..engine.serialize import save

    save(net, path, metadata=meta, arrays=scaler.arrays())


# ---- evaluate / predict ---------------------------------------------------------------------------

def _add_evaluate_arguments(p):
    p.add_argument("model", help="a model file written by 'backprop train'")
    _add_data_options(p, "target column of a CSV file (default: the one the model was trained on)")
    p.add_argument("--split", choices=("all", "train", "test"), default="all",
                   help="evaluate on all samples, or on the training/test part of the split made by "
                        "'backprop train' (same --test-size and --seed)")


def _target_for(args, meta):
    """--target, or for a CSV file the target column the model was trained on."""
    if args.target is None and not _is_builtin(args.data):
        return meta.get("target")
    return args.target


def _run_evaluate(args) -> int:
    from ..errors import ConfigError
    from ..training.metrics import confusion_matrix, format_confusion

    _check_target_option(args)
    net, meta, task, scaler = _load_model(args.model)
    data = _model_data(args.data, meta, net.n_inputs, _target_for(args, meta))
    if args.split != "all":
        test_size = meta.get("test_size") or 0
        parts = _split(data, test_size, meta.get("seed", 0), task.kind != "regression")
        if parts[1] is None:
            raise ConfigError(f"the model was trained without a test split of {data.name}; use --split all")
        data.X, data.y = (parts[0], parts[2]) if args.split == "train" else (parts[1], parts[3])
    X = scaler(data.X)
    T = task.targets(data.y)
    loss, mname, mval = _metric_line(task, net, X, T)
    print(f"{data.name} ({args.split}, {len(X)} samples): loss {loss:.4f}  {mname} {mval:.4f}")
    if task.kind != "regression":
        Y = net.predict(X)
        pred = Y.argmax(axis=1) if task.kind == "multiclass" else (Y[:, 0] > 0.5).astype(int)
        cm = confusion_matrix(T, pred, len(task.classes))
        print(format_confusion(cm, task.classes))
    return 0


def _add_predict_arguments(p):
    p.add_argument("model", help="a model file written by 'backprop train'")
    p.add_argument("--data", required=True, help="PATH.csv holding the model's feature columns, taken by name "
                   "from the header row (other columns are ignored) or, without header row, exactly the "
                   "model's columns in order; or a built-in data set")
    p.add_argument("--out", help="write the CSV here instead of to standard output")


def _run_predict(args) -> int:
    from ..engine.serialize import atomic_write

    _check_output_path("--out", args.out)
    net, meta, task, scaler = _load_model(args.model)
    data = _model_data(args.data, meta, net.n_inputs, need_target=False)
    X = scaler(data.X)
    Y = net.predict(X)
    labels = task.labels(Y)

    def write(f):
        # row by row: a reader that stops early (``| head``) is noticed at once, not after the last row
        w = csv.writer(f, lineterminator="\n")
        if task.kind == "regression":
            w.writerow(["prediction"] if Y.shape[1] == 1 else [f"y{i}" for i in range(Y.shape[1])])
            w.writerows([[repr(float(v))] for v in labels] if Y.shape[1] == 1 else Y.tolist())
        else:
            probs = Y if task.kind == "multiclass" else np.column_stack([1 - Y[:, 0], Y[:, 0]])
            w.writerow(["prediction"] + [f"p_{c}" for c in task.classes])
            for lab, row in zip(labels, probs):
                w.writerow([lab] + [f"{p:.6g}" for p in row])

    if args.out:
        atomic_write(args.out, write, binary=False)
        print(f"wrote {len(labels)} predictions to {args.out}", file=sys.stderr)
    else:
        write(sys.stdout)
    return 0


# ---- check ----------------------------------------------------------------------------------------

def _describe_loss(loss):
    """``bce``, or ``cross_entropy (l2 0.1, label_smoothing 0.1)``: the loss and its non-zero options."""
    extra = [f"{k} {_number(v)}" for k, v in loss.config().items() if k != "name" and v]
    return loss.name + (f" ({', '.join(extra)})" if extra else "")


def _add_check_arguments(p):
    _add_data_options(p)
    p.add_argument("--model", help="check this saved model (default: a new network from the options below)")
    _add_network_options(p, seed_default=None)
    p.add_argument("--samples", type=_positive_int, default=100, help="samples in the batch checked (default 100)")
    p.add_argument("--params", type=_positive_int, help="check a random subset of this many parameters")
    p.add_argument("--order", type=int, choices=(2, 4), default=2, help="central difference order (default 2)")


def _run_check(args) -> int:
    from ..derivatives.checks import check_gradient

    _check_target_option(args)
    seed_given = args.seed is not None
    args.seed = args.seed if seed_given else 0
    if args.model:
        for k in _NETWORK_DEFAULTS:
            if _given(args, k):
                _refuse(_option(k), f"with --model {args.model}: the saved model fixes the network and its loss")
        net, meta, task, scaler = _load_model(args.model)
        data = _model_data(args.data, meta, net.n_inputs, _target_for(args, meta))
        X = scaler(data.X)
    else:
        hidden = _hidden_sizes(args.hidden if args.hidden is not None else _NETWORK_DEFAULTS["hidden"])
        _check_activation_option(args, hidden)
        _check_activation_names(args)
        _with_defaults(args, _NETWORK_DEFAULTS)
        data = load_data(args.data, args.target)
        task = infer_task(data.y, args.loss, args.output, args.l2)
        X = data.X
        net = _build_network([X.shape[1], *hidden, task.n_outputs], args, task)
    n = min(args.samples, len(X))
    if seed_given and args.model and n == len(X) and args.params is None:
        _refuse("--seed", f"with --model and every sample and parameter checked: it only picks the "
                f"--samples (here all {n}) and the --params subset")
    pick = np.random.default_rng(args.seed).choice(len(X), size=n, replace=False) if n < len(X) else np.arange(n)
    report = check_gradient(net, task.loss, X[pick], task.targets(data.y[pick]), n=args.params, seed=args.seed,
                            order=args.order)
    print(f"{net!r} on {n} samples of {data.name}, loss {_describe_loss(task.loss)}")
    print(report)
    kinked = sorted({op.act.name for op in net.ops if getattr(getattr(op, "act", None), "piecewise_linear", False)
                     and op.act.name != "identity"})
    if not report.passed and kinked:
        print(f"note: {', '.join(kinked)} units have a kink at z = 0 where the derivative jumps; a finite difference "
              "that straddles it disagrees with the backpropagated (sub)gradient, so check smooth activations "
              "(tanh, sigmoid, softplus) to test the code")
    return 0 if report.passed else 1


# ---- plot -----------------------------------------------------------------------------------------

def _add_plot_arguments(p):
    p.add_argument("source", help="a history JSON file (train --history) or a model file from 'backprop train'")
    p.add_argument("--out", help="the figure file; its extension chooses the format: .png, .svg, .pdf or "
                   "another that matplotlib writes (default: SOURCE with the suffix -history.png)")
    p.add_argument("--title", help="figure title")


def _run_plot(args) -> int:
    from ..engine.serialize import load_bundle
    from ..errors import FileFormatError
    from ..training.history import History
    from .plots import figure_format, plot_history

    src = Path(args.source)
    out = args.out or str(src.with_name(src.stem + "-history.png"))
    try:
        figure_format(out)                      # an unknown extension fails before any work
    except ValueError as e:
        raise UsageError(f"--out {out}: {e}") from None
    _check_output_path("--out", out)
    if src.suffix.lower() == ".json":
        history = History.load(src)
    else:
        _, meta, _ = load_bundle(src)
        if "history" not in meta:
            raise FileFormatError(f"{src} holds no training history (it was not saved by 'backprop train')")
        history = History.from_dict(meta["history"], source=str(src))
    if not len(history):
        raise FileFormatError(f"{src}: the training history is empty; nothing to plot")
    plot_history(history, out, title=args.title or src.name)
    print(f"wrote {out}")
    return 0


register("train", "train a network on a data set and save it", _add_train_arguments, _run_train)
register("evaluate", "loss, accuracy and confusion matrix of a saved model on data", _add_evaluate_arguments,
         _run_evaluate)
register("predict", "predictions of a saved model for a CSV file, as CSV", _add_predict_arguments, _run_predict)
register("check", "compare backpropagated gradients with finite differences", _add_check_arguments, _run_check)
register("plot", "loss curves and per-layer gradient norms of a training run (PNG, SVG, PDF)", _add_plot_arguments,
         _run_plot)
register("trace", "the forward and backward pass of one instance, node by node (table, SVG or PNG)",
         add_trace_arguments, trace_command)
register("export", "a saved model as ONNX, safetensors or a torch.export program", add_export_arguments,
         export_command)


# ---- entry point ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog=PROG, description="Backpropagation for feed-forward networks: train, evaluate, "
                     "predict, check gradients, plot training runs, trace one instance.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, cmd in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def _one_line(message) -> str:
    return " ".join(str(message).split())


def _os_message(e: OSError) -> str:
    """An OSError in one line, naming its file (``atomic_write`` names the target, not its temporary)."""
    if not e.strerror:
        return str(e)
    name = e.filename
    return e.strerror + (f": {name}" if name is not None else "")


def _report(message, kind="error: ") -> None:
    try:
        print(f"{PROG}: {kind}{_one_line(message)}", file=sys.stderr)
    except (BrokenPipeError, OSError, ValueError):
        pass            # stderr itself is gone: the exit code is all that is left


def _silence_stdout() -> None:
    """After a broken pipe: point standard output at /dev/null, so that Python's final flush of the
    unwritten rest does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Exit codes: 0 success, 1 an error in the data or files, 2 a mistake in the command line,
    130 interrupted by Ctrl-C, 141 standard output closed early (e.g. ``| head``), quietly.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "_run", None) is None:
            raise UsageError(f"choose a command: {', '.join(SUBCOMMANDS)} (see '{PROG} --help')")
        code = int(args._run(args) or 0)
        sys.stdout.flush()          # a closed pipe shows here, not at interpreter exit
        return code
    except UsageError as e:
        _report(e)
        return 2
    except BrokenPipeError:
        _silence_stdout()
        return _BROKEN_PIPE
    except (ValueError, OSError) as e:
        # every library error a user can act on is a ValueError subclass; OSError: files
        _report(_os_message(e) if isinstance(e, OSError) else e)
        return 1
    except KeyboardInterrupt:
        _report("interrupted", kind="")
        return _INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
