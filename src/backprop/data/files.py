"""Reading data from disk: CSV tables, IDX arrays and the MNIST files."""
from __future__ import annotations

import csv
import gzip
from array import array
import math
import os
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ..errors import ConfigError, FileFormatError, InputError
from ..untrusted import check_backed, check_budget, nbytes_of, read_array
from .preprocessing import _float_dtype, _is_count


__all__ = ["load_csv", "load_idx", "save_idx", "load_mnist"]


# ---------------------------------------------------------------- CSV


#: most columns a CSV file may have (MNIST as CSV has 785)
MAX_CSV_COLUMNS = 100_000


def _read_table(path: Path, delimiter: str, target: str | int | None = None,
                names: list[str] | None = None) -> tuple[list[str], int | None, NDArray[Any]]:
    """Return ``(names, target column, values)`` of a CSV file: the header, the index of ``target``
    (checked as soon as the header is read) and a float64 (rows, columns) matrix.

    The file is read as a stream, one row at a time, straight into a growing buffer of doubles:
    memory stays close to the size of the matrix itself, never a Python object per cell or row.
    The first bad cell, in file order, is reported precisely; blank lines at the end are ignored.
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ConfigError(f"delimiter must be a single character such as ',' or ';', got {delimiter!r}")
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FileFormatError(f"cannot read CSV file {path}: it {what}; expected a CSV file with a header row")
    try:
        # utf-8-sig drops the byte-order mark that some spreadsheet programs write.
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            return _parse_rows(path, reader, target, names)
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path} is not a UTF-8 text file ({exc}); expected a CSV file") from None
    except csv.Error as exc:
        raise FileFormatError(f"{path} is not valid CSV: {exc}") from None


def _is_blank(row: Sequence[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _parse_rows(path: Path, reader: Any, target: str | int | None,
                names: list[str] | None = None) -> tuple[list[str], int | None, NDArray[Any]]:
    if names is None:                      # the first row names the columns
        header = None
        for row in reader:
            header = row
            break
        if header is None or (_is_blank(header) and all(_is_blank(row) for row in reader)):
            raise FileFormatError(f"{path} is empty; expected a header row with column names, then data rows")
        if len(header) > MAX_CSV_COLUMNS:
            raise FileFormatError(f"{path} has {len(header)} columns; at most {MAX_CSV_COLUMNS} are supported")
        names = _parse_header(path, header)
    width = len(names)
    target_col = None if target is None else _target_index(path, names, target)
    values = array("d")
    n_rows, blank = 0, None                # blank: (line, row) of a blank line not yet known to be trailing
    for row in reader:
        line = reader.line_num
        if _is_blank(row):
            blank = blank or (line, row)
            continue
        if blank is not None:              # a blank line inside the data
            _row_values(path, names, blank[1], blank[0], n_rows + 1)
        n_rows += 1
        values.extend(_row_values(path, names, row, line, n_rows))
    if n_rows == 0:
        raise FileFormatError(f"{path} has a header row but no data rows; expected at least one row of numbers")
    return names, target_col, np.frombuffer(values, dtype=np.float64).reshape(n_rows, width)


def _row_values(path: Path, names: list[str], row: list[str], line: int, number: int) -> list[float]:
    """The floats of one data row, or FileFormatError for the row's first bad cell."""
    if len(row) != len(names):
        if _is_blank(row):
            raise FileFormatError(f"line {line} of {path} is blank; expected {len(names)} values")
        raise FileFormatError(f"line {line} of {path} has {len(row)} values but the header has {len(names)} columns")
    try:
        floats = [float(cell) for cell in row]
        if all(map(math.isfinite, floats)):
            return floats
    except ValueError:
        pass
    for name, cell in zip(names, row):
        _parse_cell(path, f"line {line} (data row {number})", name, cell)
    raise AssertionError("unreachable: _parse_cell rejects the bad cell")  # pragma: no cover


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_header(path: Path, header: list[str]) -> list[str]:
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


def _parse_cell(path: Path, position: str, name: str, cell: str) -> float:
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


def _target_index(path: Path, names: list[str], target: str | int | None) -> int | None:
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


def load_csv(path: str | os.PathLike[str] | Any, target: str | int | None = None, delimiter: str = ",",
             dtype: DTypeLike = np.float64,
             names: Sequence[str] | None = None) -> tuple[NDArray[Any], NDArray[Any] | None, list[str]]:
    """Read a numeric table from a CSV file with a header row.

    Parameters
    ----------
    path : str, os.PathLike or pandas.DataFrame
        The CSV file. Its first row must hold the column names; every other row one
        sample, with a finite number in every cell. A DataFrame is read by ``load_table``
        (its columns are the names; ``y`` keeps the target column's values as they are).
    target : str or int, optional
        The column to return as ``y``, by name or position (negative counts from the
        end). None means all columns are inputs and ``y`` is None.
    delimiter : str, default ","
        The character between cells.
    dtype : dtype, default np.float64
        Float type of ``X`` (and of ``y`` when ``y`` holds non-integers).
    names : list of str, optional
        The column names of a file without header row: its first row is data, and every row must
        have exactly ``len(names)`` values.

    Returns
    -------
    X : ndarray, shape (n_rows, n_features)
        The input columns.
    y : ndarray, shape (n_rows,), or None
        The target column: int64 if every value is a whole number, else float.
    feature_names : list of str
        The names of the columns of ``X``, in order.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "table.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("a,b,y\\n1,2,0\\n3,4,1\\n")
    ...     X, y, names = load_csv(path, target="y")
    >>> X.tolist(), y.tolist(), names
    ([[1.0, 2.0], [3.0, 4.0]], [0, 1], ['a', 'b'])
    """
    if type(path).__name__ == "DataFrame" and hasattr(path, "columns"):
        from .tables import load_table
        X, y, feature_names, _ = load_table(path, target, dtype=dtype)
        return X, y, feature_names
    path = Path(os.fspath(path))
    dtype = _float_dtype(dtype)
    if target is not None and not isinstance(target, str) and not _is_count(target):
        raise ConfigError(f"target must be a column name, an integer index or None, got {target!r}")
    if names is not None:
        names = [str(name) for name in names]
    names, target_col, values = _read_table(path, delimiter, target, names)

    if target_col is None:
        return np.array(values, dtype=dtype), None, names
    if len(names) == 1:
        raise InputError(
            f"{path} has only the column {names[0]!r}; with it as the target no feature columns are left"
        )
    feature_cols = [i for i in range(len(names)) if i != target_col]
    X = values[:, feature_cols].astype(dtype, copy=False)
    column = values[:, target_col]
    integral = np.all(column == np.round(column)) and np.all(np.abs(column) < 2.0**63)
    y = column.astype(np.int64) if integral else column.astype(dtype)
    return X, y, [names[i] for i in feature_cols]


# ---------------------------------------------------------------- IDX

# IDX type byte -> big-endian element type, as in the MNIST file format.
_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


#: default largest IDX array that ``load_idx`` and ``load_mnist`` accept (full MNIST images: 47 MB)
MAX_IDX_BYTES = 1 << 30
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


class _Idx:
    """An open IDX file whose header has been read and checked; ``read()`` then reads the data.

    A gzip file is inflated as a stream into an array of the size the header declares, after that
    size has been checked against ``max_bytes`` and against the compressed size of the file.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise FileFormatError(f"cannot read IDX file {path}: it {what}")
        if not _is_count(max_bytes) or max_bytes < 0:
            raise ConfigError(f"max_bytes must be an integer >= 0; got {max_bytes!r}")
        self.path, self.file = path, open(path, "rb")
        try:
            self._header(max_bytes)
        except BaseException:
            self.close()
            raise

    def _header(self, max_bytes: int) -> None:
        path, size = self.path, os.fstat(self.file.fileno()).st_size
        self.gz = path.name.endswith(".gz") or self.file.read(2) == _GZIP_MAGIC
        self.file.seek(0)
        self.stream = gzip.GzipFile(fileobj=self.file, mode="rb") if self.gz else self.file
        head = self._bytes(4)
        if len(head) < 4:
            raise FileFormatError(f"IDX file {path} is truncated: the header needs 4 bytes, found {len(head)}")
        if head[0] != 0 or head[1] != 0:
            raise FileFormatError(
                f"{path} is not an IDX file: its first two bytes are 0x{head[0]:02x} 0x{head[1]:02x}, "
                "expected 0x00 0x00"
            )
        type_code, ndim = head[2], head[3]
        if type_code not in _IDX_TYPES:
            known = ", ".join(f"0x{code:02x} ({dt.name})" for code, dt in _IDX_TYPES.items())
            raise FileFormatError(f"IDX file {path} has unknown type code 0x{type_code:02x}; expected one of {known}")
        self.element = _IDX_TYPES[type_code]
        data_start = 4 + 4 * ndim
        dims = self._bytes(4 * ndim)
        if len(dims) < 4 * ndim:
            raise FileFormatError(
                f"IDX file {path} is truncated: the header for {ndim} dimensions needs {data_start} bytes, "
                f"found {4 + len(dims)}"
            )
        self.shape = tuple(int(n) for n in np.frombuffer(dims, dtype=">u4"))
        expected = nbytes_of(self.shape, self.element, f"IDX file {path}")
        if self.gz:
            check_backed(data_start + expected, size, True, f"IDX file {path}")
        else:
            found = size - data_start
            if found != expected:
                problem = "is truncated" if found < expected else "has extra bytes at the end"
                raise FileFormatError(
                    f"IDX file {path} {problem}: shape {self.shape} of {self.element.name} needs {expected} "
                    f"data bytes, found {found}"
                )
        check_budget(self.shape, self.element, max_bytes, f"IDX file {path}",
                     "pass max_bytes=... to accept larger arrays")
        self.nbytes = expected

    def _bytes(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except _GZIP_ERRORS as exc:
            raise FileFormatError(
                f"{self.path} is not a valid gzip file ({exc}); expected a gzip-compressed IDX file"
            ) from None

    def read(self) -> NDArray[Any]:
        """The array, in native byte order."""
        path = self.path
        try:
            array = read_array(self.stream, self.shape, self.element, f"IDX file {path}")
        except _GZIP_ERRORS as exc:
            raise FileFormatError(
                f"{path} is not a valid gzip file ({exc}); expected a gzip-compressed IDX file"
            ) from None
        except FileFormatError as exc:
            if "beyond" in str(exc):
                raise FileFormatError(
                    f"IDX file {path} has extra bytes at the end: shape {self.shape} of {self.element.name} "
                    f"needs {self.nbytes} data bytes"
                ) from None
            raise
        return array.astype(self.element.newbyteorder("="), copy=False)

    def close(self) -> None:
        if self.gz and hasattr(self, "stream"):
            self.stream.close()
        self.file.close()

    def __enter__(self) -> _Idx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_idx(path: str | os.PathLike[str], max_bytes: int = MAX_IDX_BYTES) -> NDArray[Any]:
    """Read an array from an IDX file (the format of the MNIST files).

    The file is untrusted: the header's declared size is checked against the file and against
    ``max_bytes`` before anything is allocated, and gzip data is inflated as a stream into an array
    of exactly that size, so a small file can never make the reader use much more memory than the
    array it really holds.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file; gzip-compressed files (``.gz``) are decompressed on the fly.
    max_bytes : int, default MAX_IDX_BYTES (1 GiB)
        The largest array accepted; raise it to read larger files.

    Returns
    -------
    ndarray
        The stored array in native byte order, with its stored shape and element type
        (uint8, int8, int16, int32, float32 or float64).

    Raises
    ------
    FileFormatError
        If the file is missing, not IDX, truncated, has extra bytes, or declares more than ``max_bytes``.

    Examples
    --------
    >>> import tempfile, os, numpy as np, backprop as bp
    >>> path = os.path.join(tempfile.mkdtemp(), "a.idx.gz")
    >>> bp.datasets.save_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> bp.datasets.load_idx(path).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    with _Idx(Path(os.fspath(path)), max_bytes) as idx:
        return idx.read()


def save_idx(path: str | os.PathLike[str], array: ArrayLike) -> None:
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

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "a.idx")
    ...     save_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    ...     load_idx(path).tolist()
    [[0, 1, 2], [3, 4, 5]]
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


def _find_mnist_file(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise FileFormatError(f"MNIST file {name!r} (or {name + '.gz'!r}) not found in {directory}")


def load_mnist(directory: str | os.PathLike[str], kind: str = "train", dtype: DTypeLike = np.float64,
               max_bytes: int = MAX_IDX_BYTES) -> tuple[NDArray[Any], NDArray[Any]]:
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
    max_bytes : int, default MAX_IDX_BYTES (1 GiB)
        The largest IDX array accepted (as for ``load_idx``); both files' headers are checked
        against each other and against it before any data is read.

    Returns
    -------
    X : ndarray, shape (n, rows * cols)
        One flattened image per row (rows * cols = 784 for MNIST), pixel values
        scaled from 0..255 to [0, 1].
    y : ndarray of int64, shape (n,)
        The digit shown in each image.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_idx(os.path.join(d, "train-images-idx3-ubyte"), np.zeros((2, 28, 28), dtype=np.uint8))
    ...     save_idx(os.path.join(d, "train-labels-idx1-ubyte"), np.array([3, 7], dtype=np.uint8))
    ...     X, y = load_mnist(d)
    >>> X.shape, y.tolist()
    ((2, 784), [3, 7])
    """
    if kind not in ("train", "t10k"):
        raise ConfigError(f"kind must be 'train' or 't10k', got {kind!r}")
    dtype = _float_dtype(dtype)
    directory = Path(os.fspath(directory))
    if not directory.is_dir():
        raise FileFormatError(f"MNIST directory {directory} does not exist or is not a directory")
    images_path = _find_mnist_file(directory, f"{kind}-images-idx3-ubyte")
    labels_path = _find_mnist_file(directory, f"{kind}-labels-idx1-ubyte")
    # both headers are checked against each other before any data is read
    with _Idx(images_path, max_bytes) as images, _Idx(labels_path, max_bytes) as labels:
        if len(images.shape) != 3 or images.element.itemsize != 1 or images.element.kind != "u":
            raise FileFormatError(
                f"{images_path} holds a {images.element.name} array of shape {images.shape}; "
                "expected uint8 images of shape (n, rows, cols)"
            )
        if len(labels.shape) != 1 or labels.element.itemsize != 1 or labels.element.kind != "u":
            raise FileFormatError(
                f"{labels_path} holds a {labels.element.name} array of shape {labels.shape}; "
                "expected uint8 labels of shape (n,)"
            )
        if images.shape[0] != labels.shape[0]:
            raise FileFormatError(
                f"{images_path.name} has {images.shape[0]} images but {labels_path.name} has {labels.shape[0]} "
                "labels; expected one label per image"
            )
        y = labels.read().astype(np.int64)
        pixels = images.read()
    X = pixels.reshape(pixels.shape[0], -1).astype(dtype)
    X /= dtype.type(255)
    return X, y
