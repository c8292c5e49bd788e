"""Model files in the safetensors format: the parameters under their state_dict keys, the architecture as JSON.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then the raw tensor
bytes. Each tensor entry of the header names its dtype, shape and [begin, end) byte range in the data;
the ``__metadata__`` entry maps strings to strings. backprop stores

* one tensor per parameter array and buffer, under ``net.state_dict()``'s keys (``"0.weight"``,
  ``"0.bias"``, ..., ``"1.running_mean"``; counters such as ``num_batches_tracked`` are I64),
  so ``torch.nn.Sequential(...).load_state_dict(safetensors.torch.load_file(path))`` works unchanged;
* ``__metadata__["format"] = "backprop-model"`` and ``__metadata__["model"]``, the same JSON
  description (and user metadata) as in an ``.npz`` model file.

Reading treats the file as untrusted: the header length, every declared dtype, shape and byte range
are checked against the file's size before any tensor is allocated; nothing is executed. The
``safetensors`` package (an optional dependency) writes and decodes the tensors.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

import numpy as np
from numpy.typing import NDArray

from .._optional import require
from ..untrusted import parse_json
from ..errors import ConfigError, FileFormatError
from .model_formats import register_format
from .network import Network
from .serialize import FORMAT, PathLike, atomic_write, build_network, model_json
from .state_dict import state_keys

if TYPE_CHECKING:
    from ..ops.user_functions import Functions

SUFFIX = ".safetensors"
#: safetensors dtype names of the two float dtypes a network may have, and of its counters (int64 buffers)
_DTYPES: dict[str, np.dtype[Any]] = {"F32": np.dtype(np.float32), "F64": np.dtype(np.float64), "I64": np.dtype(np.int64)}
#: the largest header read (the safetensors library's own limit)
MAX_HEADER = 100_000_000
_MAX_NDIM = 8


def is_safetensors_path(path: PathLike) -> bool:
    """Whether ``path`` names a safetensors file (its suffix, in any case).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bool

    Examples
    --------
    >>> is_safetensors_path("model.SafeTensors"), is_safetensors_path("model.npz")
    (True, False)
    """
    return str(os.fspath(path)).lower().endswith(SUFFIX)


def _safetensors_numpy() -> Any:
    return require("safetensors.numpy", extra="safetensors", feature=".safetensors files")


def save_safetensors(net: Network, path: PathLike, *, metadata: dict[str, Any] | None = None,
                     arrays: dict[str, Any] | None = None) -> None:
    """Write ``net`` to ``path`` as safetensors, atomically (see the module docstring for the layout).

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
    metadata : dict, optional
        JSON-serialisable information stored in the architecture's description.
    arrays : dict, optional
        Refused when not empty (ConfigError): extra arrays belong in an ``.npz`` model file.

    Examples
    --------
    >>> import backprop as bp, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> save_safetensors(bp.MLP([2, 2]), path)
    >>> load_safetensors(path)[0].n_params
    6
    """
    if not isinstance(net, Network):
        raise ConfigError(f"only a backprop Network can be saved; got {type(net).__name__}")
    if arrays:
        raise ConfigError("a .safetensors model file holds the network's parameters only; save extra arrays "
                          "(optimiser state, ...) to an .npz model file")
    model = model_json(net, metadata).decode("utf-8")
    st = _safetensors_numpy()
    blob = st.save({k: np.array(v, order="C") for k, v in net.state_dict().items()},     # keeps 0-d shapes
                   metadata={"format": FORMAT, "model": model})
    atomic_write(path, lambda f: f.write(blob))


def _fail(path: PathLike, why: str) -> NoReturn:
    raise FileFormatError(f"{path} is not a readable backprop .safetensors model: {why}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a key appears twice: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
    return dict(pairs)


def _read_header(f: BinaryIO, path: PathLike, size: int) -> dict[str, Any]:
    """The parsed header and the length of the data section, every entry checked against ``size``."""
    if size < 8:
        _fail(path, f"it has {size} bytes, fewer than the 8 of the header length")
    n = int.from_bytes(f.read(8), "little")
    if n > min(size - 8, MAX_HEADER):
        _fail(path, f"the header declares {n} bytes; the file has {size - 8} after the length field")
    try:
        header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        _fail(path, f"the header is not JSON ({e})")
    except RecursionError:
        _fail(path, "the header's JSON is nested too deeply")
    if not isinstance(header, dict):
        _fail(path, "the header is not a JSON object")
    data_len = size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            _fail(path, f"tensor {key!r} is not described by dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPES:
            _fail(path, f"tensor {key!r} has dtype {dtype!r}; a network's parameters are F32 or F64 (counters I64)")
        if not (isinstance(shape, list) and len(shape) <= _MAX_NDIM and all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
            _fail(path, f"tensor {key!r} has a malformed shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            _fail(path, f"tensor {key!r} has malformed data_offsets {offsets!r}")
        nbytes = int(np.prod(shape, dtype=object)) * _DTYPES[dtype].itemsize
        begin, end = offsets
        if not 0 <= begin <= end <= data_len or end - begin != nbytes:
            _fail(path, f"tensor {key!r} ({dtype} {shape}) declares bytes [{begin}, {end}) of a data section of "
                        f"{data_len} bytes; it needs {nbytes}")
        spans.append((begin, end, key))
    pos = 0
    for begin, end, key in sorted(spans):
        if begin != pos:
            _fail(path, f"tensor {key!r} starts at byte {begin} of the data; expected {pos} (gap or overlap)")
        pos = end
    if pos != data_len:
        _fail(path, f"the tensors cover {pos} bytes; the data section has {data_len} (truncated or padded)")
    return header


def load_safetensors(path: PathLike, activations: Functions = None
                     ) -> tuple[Network, dict[str, Any], dict[str, NDArray[Any]]]:
    """Read a model written by ``save_safetensors``: (network, metadata, {}).

    Parameters
    ----------
    path : str or os.PathLike
    activations : dict or list, optional
        The user-defined functions the model uses (see ``load``).

    Returns
    -------
    net : Network
    metadata : dict
    arrays : dict
        Always empty (the format stores parameters and buffers only).

    Examples
    --------
    >>> import backprop as bp, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> save_safetensors(bp.MLP([2, 2]), path, metadata={"run": 2})
    >>> load_safetensors(path)[1:]
    ({'run': 2}, {})
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FileFormatError(f"cannot load model {path}: it {what}")
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            header = _read_header(f, path, size)
            f.seek(0)
            blob = f.read(size)
    except OSError as e:
        raise FileFormatError(f"cannot read {path}: {e}") from None
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model"), str):
        _fail(path, "its __metadata__ has no backprop architecture (a plain state_dict file: build the network "
                    "and call net.load_state_dict(safetensors.numpy.load_file(path)), or use bp.from_torch)")
    desc = parse_json(meta["model"], f"{path}: the architecture in __metadata__")
    try:
        tensors = _safetensors_numpy().load(blob)
    except Exception as e:  # the decoder's own errors (SafetensorError and others) for a damaged file
        _fail(path, f"{type(e).__name__}: {e}")
    dtype = desc.get("network", {}).get("dtype") if isinstance(desc, dict) and isinstance(desc.get("network"), dict) \
        else None
    if dtype not in ("float32", "float64"):
        _fail(path, f"the architecture names dtype {dtype!r}; expected float32 or float64")
    n = sum(int(v.size) for v in tensors.values())
    net = build_network(desc, None, activations, path, limit=n)
    counters = {key for key, _, spec in state_keys(net) if spec.kind == "int"}
    wrong = [k for k, v in tensors.items() if v.dtype.name != ("int64" if k in counters else dtype)]
    if wrong:
        _fail(path, f"tensors {wrong} are not of the network's dtype {dtype!r} (counters: int64)")
    try:
        net.load_state_dict(tensors)
    except ConfigError as e:
        _fail(path, str(e))
    metadata = desc.get("metadata") or {}
    if not isinstance(metadata, dict):
        _fail(path, "the stored metadata is not a JSON object")
    return net, metadata, {}


register_format(SUFFIX, save_safetensors, load_safetensors)
