"""Reading files that may be hostile: every size is checked before memory is spent on it.

A file declares sizes (an array header's shape and dtype, a zip entry's uncompressed size, a JSON
text's length). Nothing is allocated or inflated until the declared size has been checked twice:
against a byte budget (what the caller can justify, e.g. what the model's architecture needs) and
against the file itself (stored bytes must be present; compressed bytes can expand at most
``DEFLATE_MAX_RATIO`` times). Decompression always streams into a buffer of the checked size, so a
deflate bomb costs at most that size. Only plain numeric dtypes are accepted: an object array
(pickle) is refused from its header, before a byte of its data is read.

The helpers are format-neutral (used by the .npz model files, the IDX reader, and usable by any
further format with a JSON header and raw arrays).
"""
from __future__ import annotations

import json
import math
from typing import Any, NoReturn, Protocol, Sequence

import numpy as np
from numpy.typing import DTypeLike

from .errors import FileFormatError


#: deflate's largest possible expansion: 258 output bytes per 2 bits of input, rounded up
DEFLATE_MAX_RATIO = 1032
#: bytes read per step when streaming data into an array (the only temporary a read costs)
CHUNK = 1 << 20
#: numeric kinds a file may store: bool, signed and unsigned integers, floats
NUMERIC_KINDS = "biuf"


class Readable(Protocol):
    """A binary stream: a file opened with ``"rb"``, a ``gzip.GzipFile``, a zip member, ``io.BytesIO``.

    Examples
    --------
    >>> import io
    >>> read_exact(io.BytesIO(b"xy"), 2, "two bytes")
    b'xy'
    """

    def read(self, n: int, /) -> bytes: ...


def nbytes_of(shape: Sequence[int], dtype: DTypeLike, what: str) -> int:
    """Bytes that an array of ``shape`` and ``dtype`` needs, checked to be a plain numeric array.

    Parameters
    ----------
    shape : tuple of int
        Declared shape (every entry an int >= 0).
    dtype : numpy dtype
        Declared element type; must be a non-structured bool, int, uint or float type.
    what : str
        Names the array in messages (e.g. ``"model.npz: member 'params'"``).

    Returns
    -------
    int
        ``prod(shape) * itemsize``, computed without overflow.

    Raises
    ------
    FileFormatError
        If the dtype is not plain numeric, the shape is not a tuple of non-negative ints, or its non-zero
        extents overflow numpy's index type (such a shape cannot be allocated even with a zero extent).

    Examples
    --------
    >>> nbytes_of((3, 4), np.dtype("float64"), "w")
    96
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise FileFormatError(f"{what} has element type {dtype.str!r}; expected a plain numeric type "
                              "(bool, int, uint or float; object arrays are never loaded)")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                               for n in shape):
        raise FileFormatError(f"{what} declares the shape {shape!r}; expected a tuple of integers >= 0")
    # numpy refuses a shape whose non-zero extents overflow its index type, even when another extent is 0
    if math.prod(n for n in shape if n) * dtype.itemsize > np.iinfo(np.intp).max:
        raise FileFormatError(f"{what} declares the shape {shape!r}, which no array can have: its non-zero "
                              f"extents times {dtype.itemsize} bytes exceed {np.iinfo(np.intp).max}")
    return math.prod(shape) * dtype.itemsize


def check_budget(shape: Sequence[int], dtype: DTypeLike, max_bytes: int, what: str, why: str = "") -> int:
    """Check a declared shape and dtype against a byte budget before anything is allocated.

    Parameters
    ----------
    shape, dtype
        As declared by the file.
    max_bytes : int
        The most the caller accepts for this array.
    what : str
        Names the array in messages.
    why : str, optional
        Where the budget comes from, for the message (e.g. "the architecture needs 120 parameters").

    Returns
    -------
    int
        The array's size in bytes.

    Raises
    ------
    FileFormatError
        If the array is not plain numeric or would need more than ``max_bytes``.

    Examples
    --------
    >>> check_budget((10,), np.dtype("float32"), 40, "b")
    40
    """
    n = nbytes_of(shape, dtype, what)
    if n > max_bytes:
        because = f" ({why})" if why else ""
        raise FileFormatError(f"{what} declares shape {shape} of {np.dtype(dtype).name}, {n} bytes; at most "
                              f"{max_bytes} bytes are expected{because}")
    return n


def check_backed(declared: int, stored: int, compressed: bool, what: str) -> None:
    """Check that ``stored`` bytes in the file can hold ``declared`` bytes of content.

    Uncompressed content must be exactly there; compressed content cannot expand by more than
    ``DEFLATE_MAX_RATIO`` (a larger claim is a lie, refused before inflating anything).

    Parameters
    ----------
    declared : int
        Bytes the header says the content has.
    stored : int
        Bytes the file holds for it.
    compressed : bool
        Whether the content is compressed.
    what : str
        What is read, for the message.

    Raises
    ------
    FileFormatError
        When the file cannot hold the declared content.

    Examples
    --------
    >>> check_backed(100, 100, False, "an array")
    """
    if compressed:
        if declared > DEFLATE_MAX_RATIO * stored + 64:
            raise FileFormatError(f"{what} claims {declared} bytes from {stored} compressed bytes, more than "
                                  f"compression can produce (at most {DEFLATE_MAX_RATIO} times); the file is "
                                  "damaged or forged")
    elif declared != stored:
        raise FileFormatError(f"{what} declares {declared} bytes but the file stores {stored}; expected them "
                              "to agree (the file is truncated or damaged)")


def read_exact(stream: Readable, n: int, what: str) -> bytes:
    """Read exactly ``n`` (small) bytes from ``stream``, FileFormatError if it ends first.

    Parameters
    ----------
    stream : binary stream
        Where to read.
    n : int
        How many bytes.
    what : str
        What is read, for the message.

    Returns
    -------
    bytes

    Examples
    --------
    >>> import io
    >>> read_exact(io.BytesIO(b"abcdef"), 3, "a header")
    b'abc'
    """
    data = stream.read(n)
    if len(data) != n:
        raise FileFormatError(f"{what} is truncated: expected {n} more bytes, found {len(data)}")
    return data


def read_array(stream: Readable, shape: Sequence[int], dtype: DTypeLike, what: str,
               fortran_order: bool = False) -> np.ndarray:
    """Stream ``prod(shape)`` elements of ``dtype`` from ``stream`` into a new array, chunk by chunk.

    The caller has checked the size (``check_budget``, ``check_backed``). Memory: the array plus
    one chunk. The stream must then be exhausted: trailing bytes are an error.

    Parameters
    ----------
    stream : binary stream
        Where to read.
    shape : sequence of int
        The shape of the array.
    dtype : dtype
        Its element type.
    what : str
        What is read, for the message.
    fortran_order : bool, default False
        Whether the elements are stored column-major.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import io
    >>> read_array(io.BytesIO(np.arange(3.0).tobytes()), (3,), "<f8", "an array")
    array([0., 1., 2.])
    """
    count = math.prod(shape)
    flat = np.empty(count, dtype=dtype)
    view = flat.view(np.uint8)
    pos, total = 0, view.size
    while pos < total:
        chunk = stream.read(min(CHUNK, total - pos))
        if not chunk:
            raise FileFormatError(f"{what} is truncated: {total} data bytes declared, {pos} found")
        view[pos:pos + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        pos += len(chunk)
    if stream.read(1):
        raise FileFormatError(f"{what} has data beyond the {total} bytes its header declares")
    return flat.reshape(shape, order="F" if fortran_order else "C")


# ---- .npy headers ---------------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"
#: longest .npy header accepted (numpy's own reader has the same default)
MAX_NPY_HEADER = 10_000


def read_npy_header(stream: Readable, what: str) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """Read and check the header of a .npy array from ``stream``; return (shape, fortran_order, dtype, length).

    The header is a Python dict literal (format versions 1.0 and 2.0); it is parsed with
    ``ast.literal_eval`` (no code runs) after its length is bounded, and must hold exactly the
    keys ``descr`` (a plain numeric type string), ``fortran_order`` (bool) and ``shape`` (tuple of
    ints >= 0). ``length`` is the number of bytes the header took.

    Raises
    ------
    FileFormatError
        Naming what is wrong with the header.

    Parameters
    ----------
    stream : binary stream
        Positioned at the start of a .npy array.
    what : str
        What is read, for the message.

    Returns
    -------
    shape : tuple of int
    fortran_order : bool
    dtype : numpy.dtype
    length : int

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((2, 3)))
    >>> _ = buf.seek(0)
    >>> read_npy_header(buf, "an array")
    ((2, 3), False, dtype('float64'), 128)
    """
    import ast
    magic = read_exact(stream, 8, what)
    if magic[:6] != _NPY_MAGIC:
        raise FileFormatError(f"{what} is not a .npy array (it does not start with the .npy magic bytes)")
    version = (magic[6], magic[7])
    if version not in ((1, 0), (2, 0)):
        raise FileFormatError(f"{what} has .npy format version {version[0]}.{version[1]}; expected 1.0 or 2.0")
    size_bytes = 2 if version == (1, 0) else 4
    n = int.from_bytes(read_exact(stream, size_bytes, what), "little")
    if n > MAX_NPY_HEADER:
        raise FileFormatError(f"{what} has a {n}-byte .npy header; at most {MAX_NPY_HEADER} bytes are accepted")
    text = read_exact(stream, n, what).decode("latin1")
    try:
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        header = None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise FileFormatError(f"{what} has a malformed .npy header {text.strip()[:80]!r}; expected a dict with "
                              "the keys 'descr', 'fortran_order' and 'shape'")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str) or not isinstance(fortran, bool):
        raise FileFormatError(f"{what} declares descr {descr!r:.60} and fortran_order {fortran!r:.20}; expected a "
                              "type string such as '<f8' and True or False")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError):
        raise FileFormatError(f"{what} declares the unknown element type {descr!r:.60}") from None
    nbytes_of(shape, dtype, what)
    return shape, fortran, dtype, 8 + size_bytes + n


# ---- JSON ---------------------------------------------------------------------------------------

#: JSON texts longer than this are refused unread
MAX_JSON_BYTES = 8 << 20
#: JSON tokens (counted as commas, colons, brackets and braces) accepted in one text. Each value or
#: key costs at most ~80 bytes of Python objects once parsed, so with the text and its decoded copy
#: a JSON text never costs more than ~40 MB (a checkpoint's history takes ~19 tokens per epoch)
MAX_JSON_TOKENS = 1 << 19
#: deepest nesting of arrays/objects accepted
MAX_JSON_DEPTH = 64


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes | bytearray | memoryview | str, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse UTF-8 JSON from an untrusted file with bounded memory and recursion.

    Refuses texts over ``max_bytes``, more than ``MAX_JSON_TOKENS`` tokens, nesting deeper than
    ``MAX_JSON_DEPTH``, and the non-standard constants NaN and Infinity; numbers that overflow to
    infinity (``1e999``) are refused too.

    Parameters
    ----------
    raw : bytes-like (bytes, a uint8 array's buffer) or str
    what : str
        Names the text in messages.
    max_bytes : int

    Returns
    -------
    The parsed value (dict, list, str, int, float, bool or None).

    Raises
    ------
    FileFormatError
        Naming the problem.

    Examples
    --------
    >>> parse_json(b'{"a": [1, 2.5]}', "x")
    {'a': [1, 2.5]}
    """
    n = len(raw) if isinstance(raw, str) else memoryview(raw).nbytes
    if n > max_bytes:
        raise FileFormatError(f"{what} is {n} bytes of JSON; at most {max_bytes} bytes are accepted")
    try:
        text = raw if isinstance(raw, str) else str(raw, "utf-8")
    except UnicodeDecodeError as e:
        raise FileFormatError(f"{what} is not valid JSON (not UTF-8: {e})") from None
    # separators inside strings count too: the bound errs on the safe side
    tokens = text.count(",") + text.count(":") + text.count("[") + text.count("{")
    if tokens > MAX_JSON_TOKENS:
        raise FileFormatError(f"{what} has about {tokens} JSON values and keys; at most {MAX_JSON_TOKENS} are "
                              "accepted")
    try:
        value = json.loads(text, parse_constant=_no_constants, parse_float=_finite_float)
    except RecursionError:
        raise FileFormatError(f"{what}: JSON nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError as e:
        raise FileFormatError(f"{what} is not valid JSON ({e})") from None
    depth = json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise FileFormatError(f"{what}: JSON nested {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted")
    return value


def _finite_float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"the number {text[:40]} overflows to infinity")
    return x


def json_depth(value: object) -> int:
    """Nesting depth of a parsed JSON value (0 for a scalar), computed without recursion.

    Parameters
    ----------
    value : object
        A value as ``json.loads`` returns it.

    Returns
    -------
    int

    Examples
    --------
    >>> json_depth({"a": [1, {"b": 2}]})
    3
    """
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            deepest = max(deepest, d)
            continue
        deepest = max(deepest, d + 1)
        if d + 1 > MAX_JSON_DEPTH:
            return d + 1
        stack.extend((x, d + 1) for x in v)
    return deepest
