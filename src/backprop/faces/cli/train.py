"""``backprop train``: train a network on a data set and save it with its task and standardisation."""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any

import inspect
import numpy as np
from numpy.typing import NDArray

from ...engine.serialize import load_bundle
from ...errors import ConfigError, DivergenceWarning, InputError
from ...training import checkpoint as ckpt
from ...training.loop import DIVERGED_FACTOR, train
from ...training.metrics import get_metric
from ...training.optimizers import OPTIMIZER_NAMES, get_optimizer
from ...training.schedules import SCHEDULE_NAMES
from . import usage
from .dask import dask_session, on_cluster
from .data import (MIN_SPLIT, add_data_options, check_target_option, load_data, split, standardized_by_default,
                   table_options)
from .model import (NETWORK_DEFAULTS, Scaler, add_network_options, build_network, check_activation_option,
                    hidden_sizes, metric_line, save_model)
from .task import MAX_AUTO_CLASSES, TASKS, check_activation_names, infer_task
from .usage import (EXIT_ERROR, EXIT_INTERRUPTED, PROG, UsageError, check_output_path, given, option, option_error,
                    refuse, with_defaults)

if TYPE_CHECKING:
    from ...engine.network import MLP, Network
    from ...training.history import History
    from ...training.optimizers import Optimizer
    from .data import Data
    from .model import Scaler
    from .task import Task


HELP = "train a network on a data set and save it"
EXAMPLES = """examples:
  backprop train --data digits
  backprop train --data iris.csv --target species --out iris.npz
  backprop train --data moons --hidden 16,16 --activation relu --optimizer adam --history run.json
"""

TRAIN_DEFAULTS = {"label_smoothing": 0.0, "batch_size": 32, "tol": 1e-6, "patience": 50, "test_size": 0.25,
                  "optimizer": "adam"}
EPOCHS = 1000                 # at most; early stopping on the validation part usually ends training sooner
LR = 0.01                     # the learning rate of every optimiser unless --lr
VALIDATION_FRACTION = 0.1     # of the training part, when it has MIN_SPLIT samples or more

# command-line options passed to the optimiser's constructor, by the constructor's parameter name
OPTIMIZER_OPTIONS = ("lr", "momentum", "nesterov", "weight_decay")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``backprop train``: data, task, network, optimiser, schedule, split and files."""
    add_data_options(p, columns=True)
    p.add_argument("--task", choices=TASKS, default="auto", help="classification or regression; auto: labels "
                   f"(text, booleans, or at most {MAX_AUTO_CLASSES} distinct whole numbers) are classes, other "
                   "numbers a regression target (standardised for training, restored in the outputs)")
    add_network_options(p)
    p.add_argument("--label-smoothing", type=usage.fraction, help="label smoothing for cross_entropy (default 0)")
    p.add_argument("--optimizer", help=f"{', '.join(OPTIMIZER_NAMES)} (default {TRAIN_DEFAULTS['optimizer']})")
    p.add_argument("--lr", type=usage.finite, help=f"learning rate (default {LR})")
    p.add_argument("--momentum", type=usage.finite, help="momentum mu (makes sgd classical-momentum SGD)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (mu = 0.9 unless --momentum)")
    p.add_argument("--weight-decay", type=usage.finite, help="weight decay lambda: W <- W - eta Delta - lambda W")
    p.add_argument("--schedule", default="constant", help=f"learning-rate schedule: {', '.join(SCHEDULE_NAMES)}")
    p.add_argument("--batch-size", type=usage.batch_size, help="samples per update, or 'full' (default 32; "
                   "not with gd, which always uses every sample)")
    p.add_argument("--epochs", type=usage.positive_int, default=EPOCHS,
                   help="maximum number of epochs")
    p.add_argument("--tol", type=usage.non_negative, help="stop when the epoch loss changes by less than this "
                   "for --patience epochs (default 1e-6; 0: never)")
    p.add_argument("--patience", type=usage.positive_int, help="epochs for --tol and early stopping "
                   f"(default {TRAIN_DEFAULTS['patience']})")
    p.add_argument("--test-size", type=usage.fraction, help="held-out test fraction (default 0.25; 0: none)")
    p.add_argument("--validation-fraction", type=usage.fraction, help="hold out this fraction of the "
                   "training part for validation, early stopping and the best epoch's parameters (default "
                   f"{VALIDATION_FRACTION} when the training part has {MIN_SPLIT} samples or "
                   "more, without --dask; 0: none)")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                   help="standardise the inputs (default: yes for CSV files and spirals; no for the "
                   "pixels of digits and MNIST, xor and moons)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="floating-point type of the parameters and data")
    p.add_argument("--out", default="model.npz", help="where to save the model")
    p.add_argument("--history", help="also write the training history as JSON to this file")
    p.add_argument("--checkpoint", help="write a checkpoint to this file every --checkpoint-every epochs")
    p.add_argument("--checkpoint-every", type=usage.positive_int, help="epochs between checkpoints (default 1)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar (there is none when standard error is "
                   "not a terminal either)")
    p.add_argument("--log-file", help="also write the report and one line per epoch to this file (flushed every "
                   "epoch: follow it with tail -f)")
    p.add_argument("--dask", metavar="ADDRESS|local:N",
                   help="train on a Dask cluster: a scheduler address, or local:N for N local worker processes "
                        "(needs the dask extra)")


def optimizer(args: argparse.Namespace) -> Optimizer:
    """The optimiser named by --optimizer with the options given, each checked against the parameters
    of that optimiser's constructor."""
    name = args.optimizer
    cls = type(get_optimizer(name))                      # an unknown name fails here
    accepted = [k for k in inspect.signature(cls).parameters if k in OPTIMIZER_OPTIONS]
    chosen = {k: getattr(args, k) for k in OPTIMIZER_OPTIONS if given(args, k)}
    for k in chosen:
        if k not in accepted:
            takes = ", ".join(option(a) for a in accepted)
            refuse(option(k), f"with --optimizer {name}: {cls.__name__} takes no {k} (it takes {takes})")
    if chosen.get("nesterov") or name == "nesterov":
        if chosen.get("momentum", 0.9) == 0:
            which = "--nesterov" if chosen.get("nesterov") else f"--optimizer {name}"
            raise UsageError(f"{which} needs a --momentum > 0 (default 0.9)")
        chosen.setdefault("momentum", 0.9)
        chosen["nesterov"] = True
    if "lr" in accepted:
        chosen.setdefault("lr", LR)
    for k, v in chosen.items():
        # each value alone, so the message names the option that is wrong
        alone = {k: v, "momentum": chosen["momentum"]} if k == "nesterov" else {k: v}
        try:
            get_optimizer(name, **alone)
        except ConfigError as e:
            raise option_error(k, v, e) from None
    return get_optimizer(name, **chosen)


def _check_options(args: argparse.Namespace, hidden: list[int], opt: Optimizer) -> None:
    """Refuse options that would do nothing with the others given (before any data is read)."""
    check_target_option(args)
    check_activation_option(args, hidden)
    if args.batch_size is not None and opt.full_batch:
        refuse("--batch-size", f"with --optimizer {args.optimizer}: full-batch gradient descent steps on all "
               "training samples at once (use --optimizer sgd for mini-batches)")
    if args.checkpoint is None:
        for k in ("checkpoint_every", "resume"):
            if given(args, k):
                refuse(option(k), "without --checkpoint FILE")
    for flag, path in (("--out", args.out), ("--history", args.history), ("--checkpoint", args.checkpoint),
                       ("--log-file", args.log_file)):
        check_output_path(flag, path)


def _check_split_options(args: argparse.Namespace, data: Data) -> None:
    """Refuse ``--test-size`` for data with their own test part or too few samples to split."""
    if args.test_size is None:
        return
    if data.test is not None:
        refuse("--test-size", f"with --data {data.name}: it has its own test files (t10k)")
    if args.test_size and len(data.X) < MIN_SPLIT:
        refuse("--test-size", f"with {len(data.X)} samples of {data.name}: data sets of fewer than {MIN_SPLIT} "
               "samples are not split (all are used for training)")


def _validation_fraction(args: argparse.Namespace, n_train: int, patience_given: bool) -> float | None:
    """--validation-fraction, its default where the training part is large enough, or None."""
    fraction = args.validation_fraction
    if fraction is None:
        # training on a Dask cluster streams the blocks and holds out no validation part
        fraction = VALIDATION_FRACTION if n_train >= MIN_SPLIT and args.dask is None else 0.0
    if patience_given and args.tol == 0 and not fraction:
        refuse("--patience", "with --tol 0 and no validation part: it counts epochs for the convergence "
               "test and for early stopping, and both are off")
    return fraction or None


def _fill_values(X: NDArray[Any], how: str, name: str) -> NDArray[Any]:
    """The column means or medians of the training part, for its missing cells and those of new data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)            # an all-missing column: refused below
        values = np.nanmean(X, axis=0) if how == "mean" else np.nanmedian(X, axis=0)
    if np.isnan(values).any():
        raise InputError(f"--missing {how}: a feature column of {name} has no value in the training part")
    return values


def _filled(X: NDArray[Any], values: NDArray[Any] | None) -> NDArray[Any]:
    """X with its missing cells (NaN) replaced by ``values`` (X itself when there are none)."""
    return X if values is None else np.where(np.isnan(X), values, X)


def _check_resume(args: argparse.Namespace) -> None:
    """Note a ``--resume`` whose checkpoint does not exist yet; refuse one that would train nothing."""
    if args.resume and not ckpt.exists(args.checkpoint):
        print(f"{PROG}: note: --resume: {args.checkpoint} does not exist yet; training starts from scratch",
              file=sys.stderr)
    elif args.resume:
        done = checkpoint_epoch(args.checkpoint)
        if done is not None and done >= args.epochs:
            raise UsageError(f"--epochs {args.epochs} with --resume trains nothing: {args.checkpoint} is at epoch "
                             f"{done} already, and --epochs counts the epochs before the resume too; ask for more")


def _check_label_smoothing(args: argparse.Namespace, task: Task, T_train: NDArray[Any], net: Network) -> None:
    """Refuse ``--label-smoothing`` when the task's loss cannot take it."""
    if args.label_smoothing:
        try:
            task.loss.prepare(T_train[:1], 1, task.n_outputs, net.dtype)
        except ConfigError as e:
            raise option_error("label_smoothing", args.label_smoothing, e) from None


class _Log:
    """The report on standard output, and in the --log-file too."""

    def __init__(self, path: str | None) -> None:
        self.file = None if path is None else open(path, "w", encoding="utf-8")

    def write(self, text: str) -> None:
        """Write ``text`` to standard output and to the log file."""
        sys.stdout.write(text)
        if self.file is not None:
            self.file.write(text)

    def flush(self) -> None:
        """Flush standard output and the log file."""
        sys.stdout.flush()
        if self.file is not None:
            self.file.flush()

    def epoch(self, epoch: int, record: dict[str, Any], metric: str | None) -> None:
        """One line per epoch, in the file only."""
        if self.file is None:
            return None
        parts = [f"epoch {epoch:5d}", f"loss {record['loss']:.6g}"]
        if np.isfinite(record["val_loss"]):
            parts.append(f"val_loss {record['val_loss']:.6g}")
        for key, prefix in (("train_metric", ""), ("val_metric", "val_")):
            if metric and np.isfinite(record[key]):
                parts.append(f"{prefix}{metric} {record[key]:.6g}")
        parts += [f"lr {record['lr']:.6g}", f"{record['time']:.3f} s"]
        self.file.write("  ".join(parts) + "\n")
        self.file.flush()
        return None

    def close(self) -> None:
        """Close the log file."""
        if self.file is not None:
            self.file.close()


def _fit(args: argparse.Namespace, net: Network, task: Task, opt: Optimizer, X_train: NDArray[Any],
         T_train: NDArray[Any], log: _Log) -> History:
    """Run the training loop; a library error about a parameter is reported as one about its option."""
    options = dict(batch_size=args.batch_size, epochs=args.epochs, schedule=args.schedule,
                   validation_fraction=args.validation_fraction or None, tol=args.tol, n_iter_no_change=args.patience,
                   checkpoint_every=args.checkpoint_every)
    try:
        with warnings.catch_warnings(), dask_session(args.dask) as client:
            warnings.simplefilter("ignore", DivergenceWarning)         # said below in the command line's words
            X_fit, T_fit = on_cluster(client, X_train, T_train)
            metric = get_metric("auto", task.loss, net.n_outputs)
            on_epoch_end = None if log.file is None else (lambda e, r: log.epoch(e, r, metric.name))
            # a progress bar only on a terminal: a log file gets no carriage-return frames
            bar = not args.quiet and getattr(sys.stderr, "isatty", lambda: False)()
            return train(net, task.loss, X_fit, T_fit, optimizer=opt, seed=args.seed, verbose=bar,
                         checkpoint=args.checkpoint, resume=args.resume, on_epoch_end=on_epoch_end, **options)
    except ValueError as e:
        # train checks everything before the first update; name the option, not the parameter
        for k, v in options.items():
            if str(e).startswith((k + "=", k + " ")):
                raise option_error(k, v, e, "--patience" if k == "n_iter_no_change" else None) from None
        raise


def run(args: argparse.Namespace) -> int:
    """``backprop train``: train a network on the data and save it with what predicting needs."""
    hidden = hidden_sizes(args.hidden)
    if args.optimizer is None:
        args.optimizer = TRAIN_DEFAULTS["optimizer"]
    check_activation_names(args)
    opt = optimizer(args)
    _check_options(args, hidden, opt)
    table = table_options(args)
    fill = table["missing"] if table["missing"] in ("mean", "median") else None
    if fill:
        table["missing"] = "keep"                  # filled below from the training part alone
    data = load_data(args.data, args.target, table=table)
    _check_split_options(args, data)
    patience_given = given(args, "patience")
    with_defaults(args, NETWORK_DEFAULTS)
    with_defaults(args, TRAIN_DEFAULTS)
    task = infer_task(data.y, args.loss, args.output, args.l2, args.label_smoothing, args.task)
    X_train, X_test, y_train, y_test = split(data, args.test_size, args.seed, task.kind != "regression")
    task.scale_targets(y_train)
    args.validation_fraction = _validation_fraction(args, len(X_train), patience_given)
    standardize = args.standardize if args.standardize is not None else standardized_by_default(args.data)
    fill_values = _fill_values(X_train, fill, data.name) if fill else None
    scaler = Scaler.fit(_filled(X_train, fill_values), fill_values) if standardize else Scaler(fill=fill_values)
    X_train = scaler(X_train)
    net = build_network([X_train.shape[1], *hidden, task.n_outputs], args, task, args.dtype)
    T_train = task.targets(y_train)
    _check_label_smoothing(args, task, T_train, net)
    _check_resume(args)
    log = _Log(args.log_file)        # the progress bar goes to stderr
    try:
        return _report(args, data, task, net, hidden, opt, scaler, X_train, T_train, X_test, y_test, log)
    finally:
        log.close()


def _report(args: argparse.Namespace, data: Data, task: Task, net: MLP, hidden: list[int], opt: Optimizer,
            scaler: Scaler, X_train: NDArray[Any], T_train: NDArray[Any], X_test: NDArray[Any] | None,
            y_test: NDArray[Any] | None, log: _Log) -> int:
    """Train, printing what is done; save the model."""
    n_test = "no" if X_test is None else len(X_test)
    what = (f"{len(task.classes)} classes" if task.classes else "regression")
    if task.classes and not all(isinstance(c, int) and not isinstance(c, bool) for c in task.classes):
        what += f" ({', '.join(map(str, task.classes[:6]))}{', ...' if len(task.classes) > 6 else ''})"
    print(f"data     {data.name}: {len(X_train)} training / {n_test} test samples, {X_train.shape[1]} features, "
          f"{what}", file=log)
    print(f"task     {task.kind}: {task.why}", file=log)
    print(f"network  MLP {'-'.join(map(str, net.sizes))}, {args.activation if hidden else 'no'} hidden, "
          f"{task.output} output, {net.n_params} parameters; loss {task.loss.name}", file=log)
    checkpoint_before = _mtime(args.checkpoint)
    t0 = time.perf_counter()
    history = _fit(args, net, task, opt, X_train, T_train, log)
    print(f"trained  {len(history)} epochs in {time.perf_counter() - t0:.2f} s (stopped: {history.stop_reason})",
          file=log)
    loss, mname, mval = metric_line(task, net, X_train, T_train)
    print(f"train    loss {loss:.4f}  {mname} {mval:.4f}", file=log)
    if history.best_epoch is not None:
        best = next(r for r in history.records if r["epoch"] == history.best_epoch)
        print(f"valid    loss {best['val_loss']:.4f}  {mname} {best['val_metric']:.4f}  (best epoch "
              f"{history.best_epoch} of {len(history)}: the model holds its parameters)", file=log)
    if X_test is not None:
        assert y_test is not None               # split gives the test targets with the test inputs
        loss, mname, mval = metric_line(task, net, scaler(X_test), task.targets(y_test))
        print(f"test     loss {loss:.4f}  {mname} {mval:.4f}", file=log)
    meta = {"task": task.to_dict(), "feature_names": data.feature_names, "target": data.target,
            "named_features": data.named, "columns": data.columns,
            "data": data.name, "seed": args.seed, "test_size": args.test_size, "history": history.to_dict()}
    save_model(net, args.out, meta, scaler)
    return _finish(args, history, opt, checkpoint_before, log)


def _finish(args: argparse.Namespace, history: History, opt: Optimizer, checkpoint_before: int | None,
            log: _Log) -> int:
    """Report the saved files; the exit code: 1 after divergence, 130 after Ctrl-C."""
    interrupted = history.stop_reason == "interrupted"
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
        return EXIT_ERROR
    return EXIT_INTERRUPTED if interrupted else 0


def _mtime(path: str | None) -> int | None:
    """The file's modification time in nanoseconds, None if it does not exist."""
    try:
        return os.stat(path).st_mtime_ns if path is not None else None
    except OSError:
        return None


def checkpoint_epoch(path: str) -> int | None:
    """The number of epochs a checkpoint file has done, or None if it cannot tell (training's own
    checks then say why)."""
    try:
        epoch = load_bundle(path)[1]["state"]["epoch"]
        return int(epoch) if isinstance(epoch, int) else None
    except (ValueError, KeyError, TypeError):
        return None


def _checkpoint_note(path: str, mtime_before: int | None, every: int | None) -> str:
    """What the checkpoint file holds after an interrupted run."""
    epoch = checkpoint_epoch(path)
    if epoch is not None and _mtime(path) != mtime_before:
        return f"saved    {path}: the checkpoint of epoch {epoch}; continue with --resume"
    held = f"; it still holds epoch {epoch} of the run before" if epoch is not None else ""
    return (f"note     {path} was not written in this run (a checkpoint is written every {every} epochs){held}")
