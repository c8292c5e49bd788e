"""Reading data from disk: CSV tables, IDX arrays and the MNIST files."""

import csv
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FileFormatError, InputError
from .preprocessing import _float_dtype, _is_count

__all__ = ["load_csv", "load_idx", "save_idx", "load_mnist"]


# ---------------------------------------------------------------- CSV


def _read_rows(path, delimiter):
    """Return ``(rows, line_numbers)`` of a CSV file, dropping blank lines at the end."""
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ConfigError(f"delimiter must be a single character such as ',' or ';', got {delimiter!r}")
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FileFormatError(f"cannot read CSV file {path}: it {what}; expected a CSV file with a header row")
    rows, lines = [], []
    try:
        # utf-8-sig drops the byte-order mark that some spreadsheet programs write.
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            for row in reader:
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path} is not a UTF-8 text file ({exc}); expected a CSV file") from exc
    except csv.Error as exc:
        raise FileFormatError(f"{path} is not valid CSV: {exc}") from exc
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
        lines.pop()
    return rows, lines


def _looks_numeric(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_header(path, header):
    names = [name.strip() for name in header]
    if all(_looks_numeric(name) for name in names):
        raise FileFormatError(
            f"the first row of {path} holds numbers ({', '.join(names[:5])}); "
            "expected a header row with column names"
        )
    for index, name in enumerate(names):
        if not name:
            raise FileFormatError(f"column {index} of the header in {path} has no name; every column needs a name")
    seen = set()
    for name in names:
        if name in seen:
            raise FileFormatError(f"column name {name!r} appears twice in the header of {path}; names must be unique")
        seen.add(name)
    return names


def _parse_cells(path, names, rows, lines):
    """Convert the data rows to a float64 matrix, reporting the first bad cell precisely."""
    for row, line in zip(rows, lines):
        if len(row) != len(names):
            if not any(cell.strip() for cell in row):
                raise FileFormatError(f"line {line} of {path} is blank; expected {len(names)} values")
            raise FileFormatError(
                f"line {line} of {path} has {len(row)} values but the header has {len(names)} columns"
            )
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        values = None  # find the offending cell below
    if values is None or not np.all(np.isfinite(values)):
        for number, (row, line) in enumerate(zip(rows, lines), start=1):
            for name, cell in zip(names, row):
                _parse_cell(path, f"line {line} (data row {number})", name, cell)
        values = np.array([[float(cell) for cell in row] for row in rows], dtype=np.float64)
    return values


def _parse_cell(path, position, name, cell):
    text = cell.strip()
    where = f"{position}, column {name!r} of {path}"
    if not text:
        raise FileFormatError(f"empty cell at {where}; every cell must hold a number")
    try:
        value = float(text)
    except ValueError:
        raise FileFormatError(f"non-numeric value {text!r} at {where}; expected a number") from None
    if not math.isfinite(value):
        raise FileFormatError(f"value {text!r} at {where} is not a finite number; missing values are not supported")
    return value


def _target_index(path, names, target):
    if isinstance(target, str):
        if target not in names:
            raise InputError(f"target column {target!r} not found in {path}; columns are: {', '.join(names)}")
        return names.index(target)
    if _is_count(target):
        if not -len(names) <= target < len(names):
            raise InputError(
                f"target index {target} is out of range for {path}, which has {len(names)} columns "
                f"({', '.join(names)}); expected -{len(names)}..{len(names) - 1}"
            )
        return int(target) % len(names)
    raise ConfigError(f"target must be a column name, an integer index or None, got {target!r}")


def load_csv(path, target=None, delimiter=",", dtype=np.float64):
    """Read a numeric table from a CSV file with a header row.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file. Its first row must hold the column names; every other row one
        sample, with a finite number in every cell.
    target : str or int, optional
        The column to return as ``y``, by name or position (negative counts from the
        end). None means all columns are inputs and ``y`` is None.
    delimiter : str, default ","
        The character between cells.
    dtype : dtype, default np.float64
        Float type of ``X`` (and of ``y`` when ``y`` holds non-integers).

    Returns
    -------
    X : ndarray, shape (n_rows, n_features)
        The input columns.
    y : ndarray, shape (n_rows,), or None
        The target column: int64 if every value is a whole number, else float.
    feature_names : list of str
        The names of the columns of ``X``, in order.
    """
    path = Path(os.fspath(path))
    dtype = _float_dtype(dtype)
    rows, lines = _read_rows(path, delimiter)
    if not rows:
        raise FileFormatError(f"{path} is empty; expected a header row with column names, then data rows")
    names = _parse_header(path, rows[0])
    if len(rows) == 1:
        raise FileFormatError(f"{path} has a header row but no data rows; expected at least one row of numbers")
    target_col = None if target is None else _target_index(path, names, target)
    values = _parse_cells(path, names, rows[1:], lines[1:])

    if target_col is None:
        return values.astype(dtype), None, names
    if len(names) == 1:
        raise InputError(
            f"{path} has only the column {names[0]!r}; with it as the target no feature columns are left"
        )
    feature_cols = [i for i in range(len(names)) if i != target_col]
    X = values[:, feature_cols].astype(dtype)
    column = values[:, target_col]
    integral = np.all(column == np.round(column)) and np.all(np.abs(column) < 2.0**63)
    y = column.astype(np.int64) if integral else column.astype(dtype)
    return X, y, [names[i] for i in feature_cols]


# ---------------------------------------------------------------- IDX

# IDX type byte -> big-endian element type, as in the MNIST file format.
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FileFormatError(f"cannot read IDX file {path}: it {what}")
    raw = path.read_bytes()
    if path.name.endswith(".gz") or raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileFormatError(
                f"{path} is not a valid gzip file ({exc}); expected a gzip-compressed IDX file"
            ) from exc
    return raw


def load_idx(path):
    """Read an array from an IDX file (the format of the MNIST files).

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file; gzip-compressed files (``.gz``) are decompressed on the fly.

    Returns
    -------
    ndarray
        The stored array in native byte order, with its stored shape and element type
        (uint8, int8, int16, int32, float32 or float64).
    """
    path = Path(os.fspath(path))
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise FileFormatError(f"IDX file {path} is truncated: the header needs 4 bytes, found {len(raw)}")
    if raw[0] != 0 or raw[1] != 0:
        raise FileFormatError(
            f"{path} is not an IDX file: its first two bytes are 0x{raw[0]:02x} 0x{raw[1]:02x}, expected 0x00 0x00"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        known = ", ".join(f"0x{code:02x} ({dt.name})" for code, dt in _IDX_TYPES.items())
        raise FileFormatError(f"IDX file {path} has unknown type code 0x{type_code:02x}; expected one of {known}")
    element = _IDX_TYPES[type_code]

    data_start = 4 + 4 * ndim
    if len(raw) < data_start:
        raise FileFormatError(
            f"IDX file {path} is truncated: the header for {ndim} dimensions needs {data_start} bytes, "
            f"found {len(raw)}"
        )
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * element.itemsize
    found = len(raw) - data_start
    if found != expected:
        problem = "is truncated" if found < expected else "has extra bytes at the end"
        raise FileFormatError(
            f"IDX file {path} {problem}: shape {shape} of {element.name} needs {expected} data bytes, found {found}"
        )
    array = np.frombuffer(raw, dtype=element, offset=data_start).reshape(shape)
    return array.astype(element.newbyteorder("="))


def save_idx(path, array):
    """Write an array to an IDX file, gzip-compressed if the name ends in ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create (or overwrite).
    array : array_like
        Array of uint8, int8, int16, int32, float32 or float64 with at most 255
        dimensions; convert other types first, e.g. ``labels.astype(np.uint8)``.

    Returns
    -------
    None
    """
    path = Path(os.fspath(path))
    data = np.asarray(array)
    native = data.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        names = ", ".join(dt.name for dt in _IDX_CODES)
        raise InputError(f"IDX files cannot store {data.dtype.name} arrays; expected one of {names} (use astype)")
    if data.ndim > 255:
        raise InputError(f"IDX files store at most 255 dimensions, got an array with {data.ndim}")
    if any(n >= 2**32 for n in data.shape):
        raise InputError(f"IDX dimension sizes must be below 2**32, got shape {data.shape}")
    header = bytes([0, 0, _IDX_CODES[native], data.ndim])
    dims = np.array(data.shape, dtype=">u4").tobytes()
    body = np.ascontiguousarray(data, dtype=native.newbyteorder(">")).tobytes()
    content = header + dims + body
    if path.name.endswith(".gz"):
        content = gzip.compress(content)
    path.write_bytes(content)


# ---------------------------------------------------------------- MNIST


def _find_mnist_file(directory, name):
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise FileFormatError(f"MNIST file {name!r} (or {name + '.gz'!r}) not found in {directory}")


def load_mnist(directory, kind="train", dtype=np.float64):
    """Load MNIST (or a data set in the same format, such as Fashion-MNIST) from IDX files.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding ``{kind}-images-idx3-ubyte`` and ``{kind}-labels-idx1-ubyte``,
        each possibly gzip-compressed with a ``.gz`` suffix.
    kind : {"train", "t10k"}, default "train"
        Which part to load: the 60000 training or the 10000 test images.
    dtype : dtype, default np.float64
        Float type of ``X``.

    Returns
    -------
    X : ndarray, shape (n, rows * cols)
        One flattened image per row (rows * cols = 784 for MNIST), pixel values
        scaled from 0..255 to [0, 1].
    y : ndarray of int64, shape (n,)
        The digit shown in each image.
    """
    if kind not in ("train", "t10k"):
        raise ConfigError(f"kind must be 'train' or 't10k', got {kind!r}")
    dtype = _float_dtype(dtype)
    directory = Path(os.fspath(directory))
    if not directory.is_dir():
        raise FileFormatError(f"MNIST directory {directory} does not exist or is not a directory")
    images_path = _find_mnist_file(directory, f"{kind}-images-idx3-ubyte")
    labels_path = _find_mnist_file(directory, f"{kind}-labels-idx1-ubyte")
    images = load_idx(images_path)
    labels = load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise FileFormatError(
            f"{images_path} holds a {images.dtype.name} array of shape {images.shape}; "
            "expected uint8 images of shape (n, rows, cols)"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise FileFormatError(
            f"{labels_path} holds a {labels.dtype.name} array of shape {labels.shape}; "
            "expected uint8 labels of shape (n,)"
        )
    if images.shape[0] != labels.shape[0]:
        raise FileFormatError(
            f"{images_path.name} has {images.shape[0]} images but {labels_path.name} has {labels.shape[0]} labels; "
            "expected one label per image"
        )
    X = images.reshape(images.shape[0], -1).astype(dtype) / dtype.type(255)
    return X, labels.astype(np.int64)
