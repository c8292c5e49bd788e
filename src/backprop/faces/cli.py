"""The ``backprop`` command line: train, evaluate, predict, check and plot.

Every subcommand is a pair of functions, ``add_arguments(parser)`` and ``run(args) -> exit code``,
listed in ``SUBCOMMANDS``; to add one, write the pair and call ``register(name, help, add, run)``.
A user mistake (a missing file, a bad option value, data of the wrong shape) prints one line
``backprop: error: ...`` on stderr and exits with a non-zero code, without a traceback.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .cli_dask import add_dask_option, dask_session, on_cluster
from .trace_render import add_trace_arguments, trace_command

PROG = "backprop"


class UsageError(Exception):
    """A mistake in the command line itself (unknown option, missing argument, bad value)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


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
    if target is None:
        if need_target:
            raise ConfigError(f"--target is required with a CSV file: name the column of {spec} to predict")
        X, _, names = datasets.load_csv(spec)
        return Data(spec, X, None, names, None)
    X, y, names = datasets.load_csv(spec, target=target)
    return Data(spec, X, y, names, str(target))


def _split(data: Data, test_size, seed, stratify):
    from .. import datasets

    if data.test is not None:
        return data.X, data.test[0], data.y, data.test[1]
    if not test_size or len(data.X) < 20:
        return data.X, None, data.y, None
    return datasets.train_test_split(data.X, data.y, test_size=test_size, seed=seed, stratify=stratify)


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
            raise InputError(f"label {y[bad][0]!r} did not occur in training; the model knows the classes "
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
        raise ConfigError(f"--loss {loss}: use cross_entropy or bce (the KL forms have the same gradients)")
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
        elif name == "cross_entropy":
            kind, n_out, out_default = "multiclass", len(classes), "softmax"
            opts = {"l2": l2, "label_smoothing": label_smoothing}
        else:
            get_loss(name)             # raises the library's "unknown loss" error
            raise ConfigError(f"unknown loss {loss!r}")
    return Task(kind, get_loss(name, **opts), out_default if output == "auto" else output, n_out, classes)


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
    scaler = _Scaler(arrays.get("input_mean"), arrays.get("input_scale"))
    return net, meta, task, scaler


def _select_features(data: Data, meta, n_inputs):
    """The model's input columns from ``data``: by name when the file has them, else all columns."""
    from ..errors import InputError

    names = meta.get("feature_names") or []
    X = data.X
    if names and data.feature_names != names and all(n in data.feature_names for n in names):
        X = X[:, [data.feature_names.index(n) for n in names]]
    elif X.shape[1] != n_inputs and data.y is None and meta.get("target") in data.feature_names:
        keep = [i for i, n in enumerate(data.feature_names) if n != meta["target"]]
        X = X[:, keep]
    if X.shape[1] != n_inputs:
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise InputError(f"{data.name} has {X.shape[1]} feature columns; the model expects {n_inputs}"
                         + (f" ({shown})" if names else ""))
    return X


# ---- train --------------------------------------------------------------------------------------

def _add_network_options(p):
    p.add_argument("--hidden", default="32", help="hidden layer widths, e.g. 64,32 (default 32; 'none' for none)")
    p.add_argument("--activation", default="tanh", help="hidden activation: tanh, sigmoid, relu, leaky_relu, "
                   "softplus, identity (default tanh)")
    p.add_argument("--output", default="auto", help="output activation (default: softmax for several classes, "
                   "sigmoid for two, identity for regression)")
    p.add_argument("--loss", default="auto", help="cross_entropy, bce or l2 (default: from the target)")
    p.add_argument("--l2", type=float, default=0.0, help="L2 regularisation strength lambda (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, split and shuffling (default 0)")


def _add_data_options(p, target_help="target column of a CSV file"):
    p.add_argument("--data", required=True,
                   help=f"{', '.join(BUILTIN_DATA)}, mnist:DIR (IDX files) or PATH.csv")
    p.add_argument("--target", help=target_help)


def _add_train_arguments(p):
    _add_data_options(p)
    _add_network_options(p)
    p.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing for cross_entropy")
    p.add_argument("--optimizer", default="sgd", help="gd, sgd, momentum, nesterov or adam (default sgd)")
    p.add_argument("--lr", type=float, help="learning rate (default 0.01 for SGD, 0.001 for Adam)")
    p.add_argument("--momentum", type=float, help="momentum mu (makes sgd classical-momentum SGD)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    p.add_argument("--weight-decay", type=float, help="weight decay lambda: W <- W - eta Delta - lambda W")
    p.add_argument("--schedule", default="constant", help="learning-rate schedule: constant, step, invscaling, "
                   "cosine (default constant)")
    p.add_argument("--batch-size", type=_batch_size, default=32, help="samples per update, or 'full' (default 32)")
    p.add_argument("--epochs", type=_positive_int, default=30, help="maximum number of epochs (default 30)")
    p.add_argument("--tol", type=float, default=1e-6, help="stop when the epoch loss changes by less than this "
                   "for --patience epochs (default 1e-6)")
    p.add_argument("--patience", type=_positive_int, default=10, help="epochs for --tol and early stopping")
    p.add_argument("--test-size", type=float, default=0.25, help="held-out test fraction (default 0.25; 0: none)")
    p.add_argument("--validation-fraction", type=float, help="hold out this fraction of the training part "
                   "for validation and early stopping")
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


def _run_train(args) -> int:
    from ..errors import ConfigError
    from ..training.loop import train

    hidden = _hidden_sizes(args.hidden)
    for option, path in (("--out", args.out), ("--history", args.history), ("--checkpoint", args.checkpoint)):
        folder = os.path.dirname(path) if path else ""
        if folder and not os.path.isdir(folder):
            raise ConfigError(f"{option} {path}: the directory {folder} does not exist")
    if not 0 <= args.test_size < 1:
        raise ConfigError(f"--test-size must be a fraction in [0, 1); got {args.test_size}")
    data = load_data(args.data, args.target)
    task = infer_task(data.y, args.loss, args.output, args.l2, args.label_smoothing)
    X_train, X_test, y_train, y_test = _split(data, args.test_size, args.seed, task.kind != "regression")
    standardize = args.standardize if args.standardize is not None else args.data.lower().endswith(".csv")
    scaler = _Scaler.fit(X_train) if standardize else _Scaler()
    X_train = scaler(X_train)
    net = _build_network([X_train.shape[1], *hidden, task.n_outputs], args, task, args.dtype)
    T_train = task.targets(y_train)
    log = sys.stdout        # the progress bar goes to stderr
    n_test = "no" if X_test is None else len(X_test)
    what = (f"{len(task.classes)} classes" if task.classes else "regression")
    print(f"data     {data.name}: {len(X_train)} training / {n_test} test samples, {X_train.shape[1]} features, "
          f"{what}", file=log)
    arch = "-".join(map(str, net.sizes))
    print(f"network  MLP {arch}, {args.activation} hidden, {task.output} output, {net.n_params} parameters; "
          f"loss {task.loss.name}", file=log)
    optimizer, options = args.optimizer, dict(lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if args.nesterov:
        optimizer, options = _nesterov(args), {}
    t0 = time.perf_counter()
    with dask_session(args.dask) as client:
        X_fit, T_fit = on_cluster(client, X_train, T_train)
        history = train(net, task.loss, X_fit, T_fit, optimizer=optimizer, batch_size=args.batch_size,
                        epochs=args.epochs, schedule=args.schedule, seed=args.seed,
                        validation_fraction=args.validation_fraction, tol=args.tol, n_iter_no_change=args.patience,
                        verbose=not args.quiet, checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
                        resume=args.resume, **options)
    elapsed = time.perf_counter() - t0
    print(f"trained  {len(history)} epochs in {elapsed:.2f} s (stopped: {history.stop_reason})", file=log)
    loss, mname, mval = _metric_line(task, net, X_train, T_train)
    print(f"train    loss {loss:.4f}  {mname} {mval:.4f}", file=log)
    if X_test is not None:
        loss, mname, mval = _metric_line(task, net, scaler(X_test), task.targets(y_test))
        print(f"test     loss {loss:.4f}  {mname} {mval:.4f}", file=log)
    meta = {"task": task.to_dict(), "feature_names": data.feature_names, "target": data.target,
            "data": data.name, "seed": args.seed, "test_size": args.test_size, "history": history.to_dict()}
    _save(net, args.out, meta, scaler)
    print(f"saved    {args.out}", file=log)
    if args.history:
        history.save(args.history)
        print(f"saved    {args.history}", file=log)
    return 0


def _nesterov(args):
    from ..training.optimizers import get_optimizer

    if args.optimizer not in ("sgd", "momentum", "nesterov"):
        raise UsageError(f"--nesterov applies to SGD with momentum, not to --optimizer {args.optimizer}")
    return get_optimizer("nesterov", lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)


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
    if args.target is None and args.data.lower().endswith(".csv"):
        return meta.get("target")
    return args.target


def _run_evaluate(args) -> int:
    from ..errors import ConfigError
    from ..training.metrics import confusion_matrix, format_confusion

    net, meta, task, scaler = _load_model(args.model)
    data = load_data(args.data, _target_for(args, meta))
    data.X = _select_features(data, meta, net.n_inputs)
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
    p.add_argument("--data", required=True, help="PATH.csv with the model's feature columns (a target "
                   "column is ignored), or a built-in data set")
    p.add_argument("--out", help="write the CSV here instead of to standard output")


def _run_predict(args) -> int:
    from ..engine.serialize import atomic_write

    net, meta, task, scaler = _load_model(args.model)
    data = load_data(args.data, need_target=False)
    X = scaler(_select_features(data, meta, net.n_inputs))
    Y = net.predict(X)
    labels = task.labels(Y)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if task.kind == "regression":
        w.writerow(["prediction"] if Y.shape[1] == 1 else [f"y{i}" for i in range(Y.shape[1])])
        w.writerows([[repr(float(v))] for v in labels] if Y.shape[1] == 1 else Y.tolist())
    else:
        probs = Y if task.kind == "multiclass" else np.column_stack([1 - Y[:, 0], Y[:, 0]])
        w.writerow(["prediction"] + [f"p_{c}" for c in task.classes])
        for lab, row in zip(labels, probs):
            w.writerow([lab] + [f"{p:.6g}" for p in row])
    if args.out:
        atomic_write(args.out, lambda f: f.write(buf.getvalue()), binary=False)
        print(f"wrote {len(labels)} predictions to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(buf.getvalue())
    return 0


# ---- check ----------------------------------------------------------------------------------------

def _add_check_arguments(p):
    _add_data_options(p)
    p.add_argument("--model", help="check this saved model (default: a new network from the options below)")
    _add_network_options(p)
    p.add_argument("--samples", type=_positive_int, default=100, help="samples in the batch checked (default 100)")
    p.add_argument("--params", type=_positive_int, help="check a random subset of this many parameters")
    p.add_argument("--order", type=int, choices=(2, 4), default=2, help="central difference order (default 2)")


def _run_check(args) -> int:
    from ..derivatives.checks import check_gradient

    if args.model:
        net, meta, task, scaler = _load_model(args.model)
        data = load_data(args.data, _target_for(args, meta))
        X = scaler(_select_features(data, meta, net.n_inputs))
    else:
        data = load_data(args.data, args.target)
        task = infer_task(data.y, args.loss, args.output, args.l2)
        X = data.X
        net = _build_network([X.shape[1], *_hidden_sizes(args.hidden), task.n_outputs], args, task)
    n = min(args.samples, len(X))
    pick = np.random.default_rng(args.seed).choice(len(X), size=n, replace=False) if n < len(X) else np.arange(n)
    report = check_gradient(net, task.loss, X[pick], task.targets(data.y[pick]), n=args.params, seed=args.seed,
                            order=args.order)
    print(f"{net!r} on {n} samples of {data.name}, loss {task.loss.name}")
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
    p.add_argument("--out", help="PNG file to write (default: SOURCE with the suffix -history.png)")
    p.add_argument("--title", help="figure title")


def _run_plot(args) -> int:
    from ..engine.serialize import load_bundle
    from ..errors import FileFormatError
    from ..training.history import History
    from .plots import plot_history

    src = Path(args.source)
    if src.suffix.lower() == ".json":
        history = History.load(src)
    else:
        _, meta, _ = load_bundle(src)
        if "history" not in meta:
            raise FileFormatError(f"{src} holds no training history (it was not saved by 'backprop train')")
        history = History.from_dict(meta["history"], source=str(src))
    if not len(history):
        raise FileFormatError(f"{src}: the training history is empty; nothing to plot")
    out = args.out or str(src.with_name(src.stem + "-history.png"))
    plot_history(history, out, title=args.title or src.name)
    print(f"wrote {out}")
    return 0


register("train", "train a network on a data set and save it", _add_train_arguments, _run_train)
register("evaluate", "loss, accuracy and confusion matrix of a saved model on data", _add_evaluate_arguments,
         _run_evaluate)
register("predict", "predictions of a saved model for a CSV file, as CSV", _add_predict_arguments, _run_predict)
register("check", "compare backpropagated gradients with finite differences", _add_check_arguments, _run_check)
register("plot", "loss curves and per-layer gradient norms of a training run as PNG", _add_plot_arguments,
         _run_plot)
register("trace", "the forward and backward pass of one instance, node by node (table, SVG or PNG)",
         add_trace_arguments, trace_command)


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


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "_run", None) is None:
            raise UsageError(f"choose a command: {', '.join(SUBCOMMANDS)} (see '{PROG} --help')")
        return int(args._run(args) or 0)
    except UsageError as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as e:
        # every library error a user can act on is a ValueError subclass; OSError: files
        msg = e.strerror + (f": {e.filename}" if e.filename else "") if isinstance(e, OSError) and e.strerror \
            else str(e)
        print(f"{PROG}: error: {_one_line(msg)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
