"""Tables as practitioners bring them: CSV files (any delimiter), parquet files and pandas DataFrames,
with labels of any type, missing cells and columns to leave out.

pandas parses the files (an optional dependency: ``pip install 'backprop-exact[tables]'``); errors
name the file, the line and the column, as :func:`backprop.data.load_csv` does.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .._optional import require
from ..errors import ConfigError, FileFormatError, InputError
from .preprocessing import _float_dtype


#: what to do with empty cells in the feature columns ("keep": leave them NaN, for a caller that fills them)
MISSING = ("error", "drop", "mean", "median", "keep")

#: the delimiters that auto-detection chooses between
DELIMITERS = ",;\t|"

#: cells read as missing, besides the empty cell
_NA_TEXT = {"", "na", "nan", "n/a", "null", "none", "?"}


def sniff_delimiter(path: str | os.PathLike[str], sample_bytes: int = 64 * 1024) -> str:
    """The delimiter of a CSV file, from its first ``sample_bytes``: one of ``DELIMITERS`` (default ',').

    Parameters
    ----------
    path : str or path-like
        A text file.
    sample_bytes : int, default 65536
        How much of the file's start is read to decide.

    Returns
    -------
    str
        One of ``DELIMITERS`` ("," when nothing else fits).

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "t.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("a;b;y\\n1;2;0\\n3;4;1\\n")
    ...     sniff_delimiter(path)
    ';'
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        sample = f.read(sample_bytes)
    lines = [line for line in sample.splitlines() if line.strip()][:20]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _frame(source: Any, delimiter: str | None) -> tuple[Any, str, int | None]:
    """(DataFrame, where, line offset): the table with its cells as read, and how to name a position."""
    pd = require("pandas", extra="tables", feature="reading tables")
    if isinstance(source, pd.DataFrame):
        return source, "the DataFrame", None
    path = Path(os.fspath(source))
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FileFormatError(f"cannot read {path}: it {what}")
    if path.suffix.lower() in (".parquet", ".pq"):
        require("pyarrow", extra="tables", feature="parquet files")
        try:
            return pd.read_parquet(path), str(path), None
        except (OSError, ValueError) as e:
            raise FileFormatError(f"{path} is not a readable parquet file: {e}") from None
    if delimiter is None:
        delimiter = sniff_delimiter(path)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ConfigError(f"delimiter must be a single character such as ',' or ';', got {delimiter!r}")
    try:
        frame = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=True, encoding="utf-8-sig", skipinitialspace=True)
    except UnicodeDecodeError as e:
        raise FileFormatError(f"{path} is not a UTF-8 text file ({e}); expected a CSV file") from None
    except (ValueError, pd.errors.ParserError) as e:
        raise FileFormatError(f"{path} is not valid CSV: {' '.join(str(e).split())}") from None
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise FileFormatError(f"{path} has no data rows; expected a header row, then rows of values")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, str(path), 2                 # data row i is on line i + 2 (after the header)


def _position(where: str, offset: int | None, row: int, column: object) -> str:
    at = f"line {row + offset} (data row {row + 1})" if offset is not None else f"row {row}"
    return f"{at}, column {column!r} of {where}"


def _numbers(frame: Any, column: str, where: str, offset: int | None) -> NDArray[Any]:
    """A feature column as floats, NaN where a cell is missing; a text cell is an error that names it."""
    pd = require("pandas", extra="tables", feature="reading tables")
    col = frame[column]
    if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
        text = col.astype(str).str.strip()
        missing = text.str.lower().isin(_NA_TEXT) | col.isna()
        values = pd.to_numeric(text.where(~missing, "nan"), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(np.isnan(values) & ~missing.to_numpy())
        if bad.size:
            i = int(bad[0])
            raise FileFormatError(f"non-numeric value {text.iloc[i]!r} at {_position(where, offset, i, column)}; "
                                  f"expected a number (leave the column out with --drop {column}, or "
                                  "choose the feature columns with --features)")
        return values
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=np.float64)
    try:
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise FileFormatError(f"column {column!r} of {where} has type {col.dtype}; expected numbers") from None


def _labels(frame: Any, column: str, where: str, offset: int | None) -> tuple[NDArray[Any], NDArray[Any]]:
    """The target column as numbers where every cell is one (int64 if all whole), else as its labels."""
    pd = require("pandas", extra="tables", feature="reading tables")
    col = frame[column]
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    missing = col.isna().to_numpy().copy()
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        text = col.astype(str).str.strip()
        missing = missing | text.str.lower().isin(_NA_TEXT).to_numpy()
        numbers = pd.to_numeric(text.where(~missing, "nan"), errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(numbers[~missing]).any():
            bools = text[~missing].str.lower()
            if bools.isin(("true", "false")).all():
                return np.where(text.str.lower() == "true", True, False), missing
            return text.to_numpy(dtype=str), missing
        values = numbers
    elif pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=bool), missing
    else:
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[~missing]
    if finite.size and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2.0 ** 63):
        return np.where(missing, 0, values).astype(np.int64), missing
    return values, missing


def load_table(source: Any, target: str | int | None = None, *, features: Sequence[str] | None = None,
               drop: Sequence[str] | None = None, delimiter: str | None = None, missing: str = "error",
               dtype: DTypeLike = np.float64
               ) -> tuple[NDArray[Any], NDArray[Any] | None, list[str], NDArray[Any] | None]:
    """Read a table: a CSV file, a parquet file (with pyarrow) or a pandas DataFrame.

    Parameters
    ----------
    source : str, path or pandas.DataFrame
    target : str, optional
        The column to return as ``y``: numbers (int64 when all are whole numbers), or the labels as
        they are (text, booleans). None: every column is a feature.
    features : list of str, optional
        The feature columns, in this order (default: every column but ``target`` and ``drop``).
    drop : list of str, optional
        Columns left out (an id column, say).
    delimiter : str, optional
        Of a CSV file; detected from its first lines by default (``,``, ``;``, tab or ``|``).
    missing : {"error", "drop", "mean", "median", "keep"}, default "error"
        Empty (or NA) feature cells: refused with their count and first positions; their rows dropped;
        filled with the column's mean or median (returned as ``fill``, to fill new data alike); or kept
        as NaN.
        Rows whose target is missing are refused, or dropped with ``"drop"``.
    dtype : float dtype, default float64

    Returns
    -------
    X : ndarray (n, d)
    y : ndarray (n,) or None
    feature_names : list of str
    fill : ndarray (d,) or None
        The values the missing cells were filled with (``"mean"``/``"median"``), per feature.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 2, 3], "x": [0.5, None, 1.5], "kind": ["a", "b", "a"]})
    >>> X, y, names, fill = load_table(df, "kind", drop=["id"], missing="mean")
    >>> X[:, 0].tolist(), y.tolist(), names, fill.tolist()
    ([0.5, 1.0, 1.5], ['a', 'b', 'a'], ['x'], [1.0])
    """
    if missing not in MISSING:
        raise ConfigError(f"missing must be one of {', '.join(MISSING)}; got {missing!r}")
    dtype = _float_dtype(dtype)
    frame, where, offset = _frame(source, delimiter)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    for option, names in (("features", features), ("drop", drop)):
        unknown = [n for n in names or () if n not in columns]
        if unknown:
            raise InputError(f"{option}: no column {', '.join(map(repr, unknown))} in {where}; its columns are "
                             f"{', '.join(columns)}")
    if target is not None and target not in columns:
        raise InputError(f"target column {target!r} not found in {where}; columns are: {', '.join(columns)}")
    names = list(features) if features is not None else [c for c in columns if c != target
                                                           and c not in (drop or ())]
    if target in names:
        raise InputError(f"the target column {target!r} cannot also be a feature")
    if not names:
        raise InputError(f"{where}: no feature columns are left")
    X = np.column_stack([_numbers(frame, c, where, offset) for c in names])
    y, y_missing = _labels(frame, target, where, offset) if target is not None else (None, None)
    holes = np.isnan(X)
    if y_missing is not None:
        holes = holes | y_missing[:, None] if missing != "drop" else holes
    if missing == "drop":
        keep = ~holes.any(axis=1) & (~y_missing if y_missing is not None else True)
        X, y = X[keep], (y[keep] if y is not None else None)
        if not len(X):
            raise InputError(f"every row of {where} has a missing cell; nothing is left after dropping them")
        return X.astype(dtype, copy=False), y, names, None
    if y_missing is not None and y_missing.any():
        i = int(np.flatnonzero(y_missing)[0])
        raise InputError(f"{int(y_missing.sum())} missing target value(s) in {where}, the first at "
                         f"{_position(where, offset, i, target)}; drop those rows (--missing drop) or fill them in")
    fill = None
    if np.isnan(X).any() and missing != "keep":
        if missing == "error":
            rows, cols = np.nonzero(np.isnan(X))
            first = "; ".join(_position(where, offset, int(r), names[c]) for r, c in zip(rows[:3], cols[:3]))
            raise InputError(f"{rows.size} missing value(s) in {where}, the first at {first}; choose what to do "
                             "with them: --missing drop|mean|median (missing= in the API)")
        with np.errstate(all="ignore"):
            fill = np.nanmean(X, axis=0) if missing == "mean" else np.nanmedian(X, axis=0)
        empty = np.isnan(fill)
        if empty.any():
            raise InputError(f"column {names[int(np.flatnonzero(empty)[0])]!r} of {where} holds no value at all")
        X = np.where(np.isnan(X), fill, X)
    return X.astype(dtype, copy=False), y, names, fill


def encode_labels(y: ArrayLike, classes: ArrayLike | None = None) -> tuple[NDArray[Any], NDArray[Any]]:
    """Class labels of any type (text, booleans, arbitrary whole numbers) as class indices 0..K-1.

    The classes are the distinct labels in sorted order, as ``np.unique`` (and scikit-learn's
    ``classes_``) orders them; ``classes[indices]`` gives the labels back. ``bp.train`` with
    ``cross_entropy`` or ``bce`` takes the indices (``bce``: two classes, index 1 the positive one),
    and ``backprop train`` stores the classes in the model file.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The labels.
    classes : array-like, optional
        The known classes (e.g. those of the training data): every label must be one of them.

    Returns
    -------
    indices : ndarray of int64, shape (n_samples,)
    classes : ndarray
        The classes, sorted.

    Raises
    ------
    InputError
        If ``y`` is not one-dimensional or empty, holds a missing label (None, NaN), or, with
        ``classes``, a label that is not one of them.

    Examples
    --------
    >>> idx, classes = encode_labels(["b", "a", "b"])
    >>> idx.tolist(), classes.tolist()
    ([1, 0, 1], ['a', 'b'])
    >>> classes[idx].tolist()
    ['b', 'a', 'b']
    """
    given: Any = y
    y = np.asarray(y)
    if y.dtype.kind in "US" and not isinstance(given, np.ndarray):
        # numpy's fixed-width strings drop trailing NUL characters ('\x00' would read back as ''):
        # keep the labels as the Python strings they are
        y = np.array(list(given), dtype=object)
    if y.ndim != 1 or not y.size:
        raise InputError(f"class labels must be a non-empty 1-D array; got shape {y.shape}")
    if y.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and v != v) for v in y.tolist()):
            raise InputError("class labels hold a missing value (None or NaN); drop or fill those samples")
        kinds = {type(v) for v in y.tolist()}
        if len(kinds) > 1:
            raise InputError(f"class labels mix types ({', '.join(sorted(k.__name__ for k in kinds))}); give "
                             "labels of one type")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise InputError("class labels hold a missing value (NaN); drop or fill those samples")
    known = np.unique(y) if classes is None else np.asarray(classes)
    if classes is not None and (known.ndim != 1 or not known.size or len(np.unique(known)) != len(known)):
        raise InputError(f"classes must list distinct labels; got {known.tolist()!r}")
    order = np.argsort(known, kind="stable")
    known = known[order]
    try:
        pos = np.clip(np.searchsorted(known, y), 0, len(known) - 1)
        unknown = np.asarray(known[pos] != y, dtype=bool).reshape(y.shape)
    except TypeError:                  # e.g. numbers against text classes
        raise InputError(f"labels of dtype {y.dtype} cannot be the classes {', '.join(map(str, known.tolist()))} "
                         f"(dtype {known.dtype})") from None
    if unknown.any():
        first = y[unknown][0]
        first = first.item() if isinstance(first, np.generic) else first
        raise InputError(f"label {first!r} is not one of the classes {', '.join(map(str, known.tolist()))}")
    return pos.astype(np.int64), known
