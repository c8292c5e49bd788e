"""``backprop evaluate``: loss, metric and confusion matrix of a saved model on data."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..._optional import MissingDependencyError, require
from ...errors import ConfigError
from ...training.metrics import confusion_matrix, format_confusion
from .data import (MIN_SPLIT, add_data_options, check_model_table_options, check_target_option, model_data, split,
                   table_options, target_for)
from .model import load_model, metric_line, prepared_inputs

if TYPE_CHECKING:
    from .data import Data
    from .task import Task


HELP = "loss, accuracy and confusion matrix of a saved model on data"
EXAMPLES = """examples:
  backprop evaluate model.npz --data digits --split test
  backprop evaluate iris.npz --data iris.csv
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``backprop evaluate``: the model, the data and the split to evaluate on."""
    p.add_argument("model", help="a model file written by 'backprop train'")
    add_data_options(p, "target column of a CSV file (default: the one the model was trained on)", columns="model")
    p.add_argument("--split", choices=("all", "train", "test"),
                   help="evaluate on all samples, or on the training/test part of the split made by "
                        "'backprop train' (same --test-size and --seed); default: the test part when the data "
                        "are those the model was trained on with a test part, else all")


def _default_split(args: argparse.Namespace, meta: dict[str, Any], data: Data) -> str:
    """The held-out part when the model was trained on these data with a test part, else all."""
    if args.split is not None:
        return args.split
    same = meta.get("data") == data.name and meta.get("test_size") != 0
    return "test" if same and (data.test is not None or len(data.X) >= MIN_SPLIT) else "all"


def run(args: argparse.Namespace) -> int:
    """``backprop evaluate``: the model's loss and metric on the data (or on one part of its split)."""
    check_target_option(args)
    net, meta, task, scaler = load_model(args.model)
    check_model_table_options(args, meta, scaler, "evaluate")
    data = model_data(args.data, meta, net.n_inputs, target_for(args, meta), table=table_options(args))
    args.split = _default_split(args, meta, data)
    if args.split != "all":
        test_size = meta.get("test_size")
        test_size = 0.25 if test_size is None else test_size      # the default of 'backprop train'
        parts = split(data, test_size, meta.get("seed", 0), task.kind != "regression")
        if parts[1] is None:
            raise ConfigError(f"the model was trained without a test split of {data.name}; use --split all")
        data.X, data.y = (parts[0], parts[2]) if args.split == "train" else (parts[1], parts[3])
    X = prepared_inputs(data, scaler, fill=args.missing != "error")
    T = task.targets(data.y)
    loss, mname, mval = metric_line(task, net, X, T)
    print(f"{data.name} ({args.split}, {len(X)} samples): loss {loss:.4f}  {mname} {mval:.4f}")
    Y = net.predict(X)
    if task.kind == "regression":
        print(regression_report(task.labels(Y), data.y))
        return 0
    cm = confusion_matrix(T, task.indices(Y), len(task.classes))
    print(format_confusion(cm, task.classes))
    print(classification_report(task, T, task.indices(Y)))
    return 0


def regression_report(Y: NDArray[Any], y: NDArray[Any]) -> str:
    """R^2, RMSE and MAE of the predictions ``Y`` for the targets ``y``."""
    Y = np.asarray(Y, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    err = Y - y
    ss_tot = np.sum((y - y.mean(axis=0)) ** 2)
    r2 = 1.0 - np.sum(err ** 2) / ss_tot if ss_tot > 0 else float("nan")
    return (f"R^2 {r2:.4f}  RMSE {np.sqrt(np.mean(err ** 2)):.6g}  MAE {np.mean(np.abs(err)):.6g}  "
            f"(over {len(y)} samples)")


def classification_report(task: Task, T: NDArray[Any], predicted: NDArray[Any]) -> str:
    """scikit-learn's per-class precision, recall and F1 of the class indices ``predicted`` for ``T``,
    named by the model's labels (a note without scikit-learn)."""
    try:
        metrics = require("sklearn.metrics", extra="sklearn", feature="the classification report")
    except MissingDependencyError as e:
        return f"note: {e}"
    return metrics.classification_report(T, predicted, labels=list(range(len(task.classes))),
                                         target_names=[str(c) for c in task.classes], digits=4, zero_division=0)
