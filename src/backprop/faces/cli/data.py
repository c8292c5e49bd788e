"""The data a subcommand reads: built-in sets by name, ``mnist:DIR``, CSV files; columns by name.

A saved model knows its feature columns by name: ``predict``, ``evaluate`` and ``check --model`` take
them by name from a CSV file's header (in any order, other columns ignored), and by position only
from a file without header row or from built-in data, whose column count must then be exact.
"""
from __future__ import annotations

import argparse
import csv
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ... import datasets
from ...data.files import _looks_numeric
from ...data.toy import DATASETS
from ...data.tables import MISSING, load_table, sniff_delimiter
from ...errors import ConfigError, FileFormatError, InputError
from .numbers import number, shown
from .usage import names as usage_names, refuse

if TYPE_CHECKING:
    from .model import Scaler


#: built-in data: the library's registry of data sets (name -> description, load(), standardize)
BUILTIN_DATA = DATASETS


def standardized_by_default(spec: str) -> bool:
    """Whether ``backprop train`` standardises the inputs of ``spec`` without ``--standardize``: yes for
    tables (CSV files) and spirals, no for pixels (digits, MNIST), XOR and moons."""
    if spec in BUILTIN_DATA:
        return BUILTIN_DATA.get(spec).standardize
    return not spec.startswith("mnist:")


#: data sets of fewer samples are not split into a training and a test part
MIN_SPLIT = 20


@dataclass
class Data:
    """A data set as the CLI reads it: inputs X, target y, column names and where they came from."""
    name: str
    X: np.ndarray
    y: Any                     # the target column (an ndarray), None for data without one
    feature_names: list[str]
    target: str | None
    test: tuple[np.ndarray, np.ndarray] | None = None      # a predefined test part (X, y), e.g. MNIST's t10k files
    named: bool = False            # the columns carry names from a CSV header (else: by position)
    columns: list[str] | None = None    # a CSV file's header row, in file order
    fill: np.ndarray | None = None  # the values missing cells were filled with (--missing mean|median)


def add_data_options(p: argparse.ArgumentParser, target_help: str = "target column of a CSV file",
                     columns: bool | str = False) -> None:
    """The options that choose the data: ``--data``, ``--target`` and the table options."""
    p.add_argument("--data", required=True,
                   help=f"{', '.join(BUILTIN_DATA)}, mnist:DIR (IDX files), PATH.csv or PATH.parquet")
    p.add_argument("--target", help=target_help)
    add_table_options(p, columns)


def add_table_options(p: argparse.ArgumentParser, columns: bool | str = False) -> None:
    """The options of reading a table: its delimiter; with ``columns``, the columns to use and what to do
    with missing cells. With ``columns="model"`` (``evaluate``, ``predict``: a saved model knows its
    columns and how it fills missing cells) ``--missing`` says whether to use the model's fill values,
    and ``--features``/``--drop`` are refused with the reason (:func:`check_model_table_options`)."""
    p.add_argument("--delimiter", help="the character between the cells of a CSV file (default: detected from "
                   "its first lines among , ; tab |)")
    if columns == "model":
        p.add_argument("--features", type=usage_names, help=argparse.SUPPRESS)
        p.add_argument("--drop", type=usage_names, help=argparse.SUPPRESS)
        p.add_argument("--missing", choices=MISSING[:-1], help="empty or NA cells in the model's feature columns: "
                       "by default filled with the training part's means or medians stored in the model (trained "
                       "with --missing mean|median), else refused with their count and positions; error: refuse "
                       "them even so; drop: leave their rows out (evaluate only); mean and median are the "
                       "training part's and are refused here")
    elif columns:
        p.add_argument("--features", type=usage_names, help="the feature columns, e.g. a,b,c (default: every "
                       "column but the target and --drop)")
        p.add_argument("--drop", type=usage_names, help="columns to leave out, e.g. id,name")
        p.add_argument("--missing", choices=MISSING[:-1], help="empty or NA cells in the features: refuse them "
                       "with their count and positions (error), drop their rows, or fill them with the column's "
                       "mean or median over the training part, stored in the model (default error)")


def table_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of :func:`load_table` given on the command line."""
    return {"delimiter": getattr(args, "delimiter", None), "features": getattr(args, "features", None),
            "drop": getattr(args, "drop", None), "missing": getattr(args, "missing", None) or "error"}


def is_builtin(spec: str) -> bool:
    """Whether ``spec`` names a built-in data set (or ``mnist:DIR``) rather than a file."""
    return spec in BUILTIN_DATA or spec.startswith("mnist:")


def check_target_option(args: argparse.Namespace) -> None:
    """Refuse ``--target`` with a built-in data set, and check the table options."""
    if args.target is not None and is_builtin(args.data):
        refuse("--target", f"with --data {args.data}: built-in data sets bring their own labels (--target "
               "names a column of a CSV file)")
    check_table_options(args)


def check_table_options(args: argparse.Namespace) -> None:
    """Refuse the options of reading a table with built-in data."""
    for name in ("delimiter", "features", "drop", "missing"):
        if getattr(args, name, None) is not None and is_builtin(args.data):
            refuse(f"--{name}", f"with --data {args.data}: it applies to a table (a CSV or parquet file)")


def check_model_table_options(args: argparse.Namespace, meta: dict[str, Any], scaler: Scaler, command: str) -> None:
    """Refuse the table options that make no sense with a saved model: ``--features`` and ``--drop``
    (the model reads its own feature columns by name), ``--missing mean|median`` (the fill values are
    the training part's, stored in the model) and, for ``predict``, ``--missing drop`` (one output row
    per input row)."""
    names = shown(meta.get("feature_names") or [])
    for name in ("features", "drop"):
        if getattr(args, name, None) is not None:
            refuse(f"--{name}", f"with {command}: the model reads its own feature columns ({names}) by name "
                   "from the header row and ignores every other column")
    how = getattr(args, "missing", None)
    if how in ("mean", "median"):
        stored = ("the model fills missing cells with the training part's values stored in it, without an option"
                  if scaler.fill is not None else "this model stores no fill values (it was trained without "
                  "--missing mean|median), so missing cells are refused")
        refuse(f"--missing {how}", f"with {command}: fill values come from the training data, not from the data "
               f"given here; {stored}")
    if how == "drop" and command == "predict":
        refuse("--missing drop", "with predict: it writes one prediction per row of the file given; leave the "
               "rows with missing cells out of the file, or use the model's fill values (the default)")


def target_for(args: argparse.Namespace, meta: dict[str, Any]) -> str | None:
    """--target, or for a CSV file the target column the model was trained on."""
    if args.target is None and not is_builtin(args.data):
        return meta.get("target")
    return args.target


def load_data(spec: str, target: str | None = None, need_target: bool = True,
              table: dict[str, Any] | None = None) -> Data:
    """Built-in data set by name, ``mnist:DIR`` (IDX files), or a CSV or parquet file (with ``target``),
    read with the ``table`` options of :func:`table_options`."""
    if spec in BUILTIN_DATA:
        X, y = BUILTIN_DATA.get(spec).load()
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
        if not spec.lower().endswith((".csv", ".parquet", ".pq")):
            raise ConfigError(f"unknown data {spec!r}; expected one of {', '.join(BUILTIN_DATA)}, mnist:DIR "
                              "or the path of a CSV file")
        raise FileFormatError(f"cannot read CSV file {spec}: it does not exist")
    if target is None and need_target:
        raise ConfigError(f"--target is required with a CSV file: name the column of {spec} to predict")
    table = dict(table or {})
    parquet = spec.lower().endswith((".parquet", ".pq"))
    header = None if parquet else csv_header(spec, table.get("delimiter"))
    X, y, names, fill = load_table(spec, target, **table)
    columns = header if header is not None else list(names) + ([str(target)] if target is not None else [])
    return Data(spec, X, y, names, None if target is None else str(target), named=True, columns=columns,
                fill=fill)


def csv_header(path: str, delimiter: str | None = None) -> list[str] | None:
    """The first row of a CSV file, or None if it holds only numbers (a file without header row)."""
    try:
        delimiter = delimiter or sniff_delimiter(path)
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next(csv.reader(f, delimiter=delimiter), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return []             # unreadable: load_csv reports why
    if first and all(_looks_numeric(cell.strip()) for cell in first):
        return None
    return [cell.strip() for cell in first or []]


def model_data(spec: str, meta: dict[str, Any], n_inputs: int, target: str | None = None, need_target: bool = True,
               table: dict[str, Any] | None = None) -> Data:
    """Data for a saved model, its columns as the model's inputs.

    With a header row the model's features are taken by name (other columns are ignored); a CSV
    file without header row, and built-in data, must have exactly the model's columns in order.
    """
    names = meta["feature_names"]
    if not is_builtin(spec) and os.path.isfile(spec) and csv_header(spec) is None:
        return _headerless_model_data(spec, meta, names, target, need_target)
    # kept: filled with the training data's values, or refused (prepared_inputs); or their rows dropped
    table = dict(table or {}, missing="drop" if (table or {}).get("missing") == "drop" else "keep")
    header = None if spec.lower().endswith((".parquet", ".pq")) or is_builtin(spec) else csv_header(
        spec, table.get("delimiter"))
    present = [n for n in names if header and n in header and n != target]
    table["features"] = present or None             # other columns (an id, text) are not read
    table.pop("drop", None)
    data = load_data(spec, target, need_target, table)
    data.X = select_features(data, meta, n_inputs)
    return data


def missing_cells(data: Data) -> str | None:
    """A message on the missing cells of ``data.X`` (count and first positions), or None without any."""
    rows, cols = np.nonzero(np.isnan(data.X))
    if not rows.size:
        return None
    line = 2 if data.named and not data.name.lower().endswith((".parquet", ".pq")) else 1
    first = "; ".join(f"line {int(r) + line}, column {data.feature_names[c]!r}" for r, c in zip(rows[:3], cols[:3]))
    return f"{rows.size} missing value(s) in {data.name}, the first at {first}"


def _headerless_model_data(spec: str, meta: dict[str, Any], names: list[str], target: str | None,
                           need_target: bool) -> Data:
    """A CSV file without a header row read as the columns the model was trained on, in that order."""
    columns = meta.get("columns") or []
    if need_target and target is None:
        target = meta.get("target")
    if need_target and columns and target not in columns:
        raise InputError(f"{spec} has no header row, so its columns are those the model was trained on, "
                         f"{shown(columns)}; the target {target} is not one of them")
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
                         f"{shown(columns)}, and {target} is one of the model's features; "
                         f"the model was trained to predict {meta.get('target')}")
    return Data(spec, values[:, keep], values[:, t], list(names), target)


def _read_headerless(path: str, names: list[str]) -> NDArray[Any]:
    """The numbers of a CSV file without header row whose columns must be exactly ``names``, in order."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if row and len(row) != len(names):
                raise FileFormatError(
                    f"{path} has no header row, so its columns are taken by position and must be exactly the "
                    f"model's {len(names)} ({shown(names)}); line {line} has {len(row)} values. Add a header "
                    "row to select columns by name")
    return datasets.load_csv(path, names=names)[0]


def select_features(data: Data, meta: dict[str, Any], n_inputs: int) -> NDArray[Any]:
    """The model's input columns of ``data``: by name when the file names its columns, else all of them
    (then the count must be exact)."""
    names = meta.get("feature_names") or []
    if data.named and names:
        missing = [n for n in names if n not in data.feature_names]
        if missing:
            hint = ("" if meta.get("named_features", True) else
                    f"; the model was trained on {meta.get('data')}, whose columns have no names: name them "
                    f"{shown(names)} in the header, or drop the header row to take the columns by position")
            if data.target in missing:
                hint += (f"; --target {data.target} names a column that the model takes as a feature "
                         f"(it was trained to predict {meta.get('target')})")
            columns = data.columns or data.feature_names + ([data.target] if data.target else [])
            raise InputError(f"{data.name}: missing feature column{'s' if len(missing) > 1 else ''} "
                             f"{shown(missing)} (the model's features are {shown(names)}; the file has "
                             f"{shown(columns)}){hint}")
        return data.X[:, [data.feature_names.index(n) for n in names]]
    if data.X.shape[1] != n_inputs:
        raise InputError(f"{data.name} has {data.X.shape[1]} feature columns; the model expects {n_inputs}"
                         + (f" ({shown(names)})" if names else ""))
    return data.X


def split(data: Data, test_size: float, seed: int | None,
          stratify: bool) -> tuple[NDArray[Any], NDArray[Any] | None, NDArray[Any], NDArray[Any] | None]:
    """(X_train, X_test, y_train, y_test); the test part None without a split."""
    if data.test is not None:
        return data.X, data.test[0], data.y, data.test[1]
    if not test_size or len(data.X) < MIN_SPLIT:
        return data.X, None, data.y, None
    try:
        return datasets.train_test_split(data.X, data.y, test_size=test_size, seed=seed, stratify=stratify)
    except InputError:
        n_classes = len(np.unique(data.y)) if stratify else 0
        both = f", with each of the {n_classes} classes in both" if stratify else ""
        raise InputError(f"--test-size {number(test_size)} cannot split the {len(data.X)} samples of {data.name} "
                         f"into a training and a test part{both}; choose another fraction") from None
