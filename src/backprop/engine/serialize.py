"""Saving and loading networks: the arrays in a .npz archive, the architecture as JSON inside it.

A model file is a plain numpy .npz (a zip of .npy arrays) holding

* ``params``        the flat parameter vector, bitwise as it was;
* ``model.json``    UTF-8 JSON bytes: format name and version, network class, ``net.config()``,
                    and optional user metadata;
* ``state/KEY``     the ops' buffers (``net.state_dict()`` keys such as ``3.running_mean``), if any;
* ``extra/NAME``    optional further arrays (optimiser state in a checkpoint, a scaler's mean, ...).

Reading treats every file as untrusted: nothing is unpickled (object arrays are refused from
their header), and no size the file declares is allocated or inflated before it has been checked
against what the model's architecture needs and what the file holds (see ``backprop.untrusted``
and ``model_schema``). Any defect is a ``FileFormatError`` naming it.

Writing goes to a temporary file in the same directory, flushed to disk, then renamed over the
target (see ``atomic_write`` for permissions, symbolic links and interrupted saves).
"""
from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError, FileFormatError
from ..ops.registry import op_from_config
from ..ops.user_functions import function_table, resolve, used_by
from ..untrusted import (MAX_JSON_BYTES, check_backed, check_budget, nbytes_of, parse_json, read_array,
                         read_npy_header)
from ..validation import all_finite
from .model_formats import load, load_bundle, register_format, save
from .model_schema import MIN_LIMIT, check_description
from .state_dict import check_state, set_states, state_keys
from .network import MLP, NETWORK_CLASSES, Network, mlp_layout

if TYPE_CHECKING:
    from ..ops.base import Op
    from ..ops.user_functions import Functions

#: a path a file is read from or written to
PathLike = str | os.PathLike[str]

__all__ = ["FORMAT", "VERSION", "atomic_write", "build_network", "describe", "load", "load_bundle", "model_json",
           "save", "save_npz", "load_npz_bundle", "user_functions"]

FORMAT = "backprop-model"
VERSION = 1
_JSON_KEY = "model.json"
_PARAMS_KEY = "params"
_EXTRA = "extra/"
_STATE = "state/"


# ---- atomic writing ----------------------------------------------------------------------------

#: temporary files are named ``.{target name}.{pid}.{random}.bptmp`` in the target's directory
_TMP_SUFFIX = ".bptmp"


def _umask() -> int:
    """The process umask, read without changing it where the system says it (Linux), else by setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True          # someone else's process, or not a pid we can judge: leave its file alone
    return True


def remove_stale_temporaries(target: PathLike) -> list[str]:
    """Delete temporary files that an interrupted save of ``target`` left behind; return their paths.

    Only files named like this module's temporaries for ``target`` (``.{name}.{pid}.{random}.bptmp``)
    whose writing process no longer exists are removed, so a save running at the same time in
    another process is never disturbed.

    Parameters
    ----------
    target : str or os.PathLike
        The file whose temporaries are looked for (in its directory).

    Returns
    -------
    list of str
        The paths removed.

    Examples
    --------
    >>> import tempfile, os
    >>> remove_stale_temporaries(os.path.join(tempfile.mkdtemp(), "m.npz"))
    []
    """
    target = Path(os.fspath(target))
    directory = target.parent if str(target.parent) else Path(".")
    ours = re.compile(re.escape(f".{target.name}.") + r"(\d+)\.[A-Za-z0-9_]{8}" + re.escape(_TMP_SUFFIX))
    removed: list[str] = []
    try:
        candidates = [(e, ours.fullmatch(e.name)) for e in os.scandir(directory)]
    except OSError:
        return removed
    for entry, match in candidates:
        if match and not _pid_alive(int(match.group(1))) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    return removed


def atomic_write(path: PathLike, write: Callable[[IO[Any]], object], binary: bool = True) -> None:
    """Write a file atomically: ``write(f)`` fills a temporary file next to the target, which then replaces it.

    * A crash or kill at any moment leaves the old file (or none) intact, never a half-written one.
      A failed or interrupted write deletes its temporary file; one left by a killed process
      (``.{name}.{pid}.{random}.bptmp``) is deleted by the next save to the same path.
    * Permissions are never widened: an existing file keeps its mode; a new file gets the
      default mode for the umask (0o666 & ~umask), as ``open`` would give it.
    * A symbolic link is written through: the file it points to is replaced (keeping its mode)
      and the link stays as it was, still pointing there.

    Parameters
    ----------
    path : str or os.PathLike
        The target file. Its directory must exist.
    write : callable
        ``write(f)`` writes the content to the open file object ``f``.
    binary : bool
        Open the temporary file in binary (default) or text mode (UTF-8).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> atomic_write(path, lambda f: f.write("hello"), binary=False)
    >>> Path(path).read_text()
    'hello'
    """
    path = Path(os.fspath(path))
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileFormatError(f"cannot write {path}: the directory {directory} does not exist")
    if path.is_dir():
        raise FileFormatError(f"cannot write {path}: it is a directory")
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=directory)
    try:
        f: IO[Any]
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
            os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.filename in (tmp, os.fspath(tmp)):
            # name the file being written, never the temporary beside it
            raise OSError(e.errno, f"cannot write {path}: {e.strerror}") from None
        raise
    try:                       # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ---- network <-> description ----------------------------------------------------------------

def _network_classes() -> dict[str, type[Network]]:
    """Network subclasses that a file may name and that carry no state beyond the graph and parameters
    (each registers itself in ``NETWORK_CLASSES`` where it is defined)."""
    return dict(NETWORK_CLASSES.items())


def _network_class_name(net: Network) -> str:
    name = type(net).__name__
    return name if _network_classes().get(name) is type(net) else "Network"


def describe(net: Network) -> dict[str, Any]:
    """The JSON-able description of ``net`` stored in a model file.

    Parameters
    ----------
    net : Network

    Returns
    -------
    dict
        ``{"format", "version", "class", "network": net.config()}``.

    Examples
    --------
    >>> import backprop as bp
    >>> d = describe(bp.MLP([2, 2]))
    >>> d["format"], d["version"], d["class"]
    ('backprop-model', 1, 'MLP')
    """
    return {"format": FORMAT, "version": VERSION, "class": _network_class_name(net), "network": net.config()}


def _rebuild_ops(op_cfgs: Sequence[Any], activations: Mapping[str, Any], path: PathLike) -> list[Op]:
    ops: list[Op] = []
    for k, cfg in enumerate(op_cfgs):
        cfg = resolve(cfg, activations, path)
        try:
            ops.append(op_from_config(cfg))
        except FileFormatError as e:
            raise FileFormatError(f"{path}: operation {k + 1}: {e}") from None
        except (ConfigError, TypeError, KeyError, ValueError, IndexError) as e:
            raise FileFormatError(f"{path}: operation {k + 1} ({cfg.get('op')!r}) cannot be rebuilt: {e}") from None
    return ops


def _check_desc(desc: Any, path: PathLike, limit: int) -> dict[str, Any]:
    return check_description(desc, str(path), limit, _network_classes(), FORMAT, VERSION)


def _architecture(desc: dict[str, Any], activations: Mapping[str, Any], path: PathLike) -> tuple[list[Op], int]:
    """The ops of a checked description and the number of parameters they need (nothing allocated yet)."""
    ops = _rebuild_ops(desc["network"]["ops"], activations, path)
    return ops, sum(op.n_params for op in ops)


def _assemble(desc: dict[str, Any], ops: list[Op], params: NDArray[Any], path: PathLike) -> Network:
    """The network from checked ops and a parameter vector of the right length and dtype."""
    cfg = desc["network"]
    n_inputs, inputs, dtype = cfg["n_inputs"], cfg["inputs"], np.dtype(cfg["dtype"])
    if params.ndim != 1 or params.dtype != dtype:
        raise FileFormatError(f"{path}: the parameter array has shape {params.shape} and dtype {params.dtype}; "
                              f"expected a 1-D {dtype} array")
    n_params = sum(op.n_params for op in ops)
    if params.shape[0] != n_params:
        raise FileFormatError(f"{path}: the file holds {params.shape[0]} parameters; its architecture needs "
                              f"{n_params} (the file is damaged)")
    if not all_finite(params):
        raise FileFormatError(f"{path}: the parameter array contains NaN or inf")
    cls = _network_classes()[desc["class"]]
    layout = mlp_layout(n_inputs, ops, inputs) if cls is MLP else None
    if layout is None and cls is MLP:
        cls = Network
    net = cls.__new__(cls)
    if cls is MLP:
        assert layout is not None and isinstance(net, MLP)
        net.sizes, net.normalization, net.dropout = layout
    try:
        Network.__init__(net, n_inputs, ops, inputs=inputs, dtype=dtype, params=params)
    except (ConfigError, TypeError, ValueError, IndexError) as e:
        raise FileFormatError(f"{path}: the network description is inconsistent: {e}") from None
    cls.check_loaded(net, str(path))
    return net


def build_network(desc: dict[str, Any], params: ArrayLike | None, activations: Functions = None,
                  path: PathLike = "<model>", limit: int | None = None) -> Network:
    """Rebuild a network from ``describe(net)`` and a parameter vector.

    The description is checked as untrusted (see ``model_schema``); sizes are bounded by the
    parameter vector given. ``params=None`` builds the network with zero parameters, its sizes bounded
    by ``limit`` (the number of values the file holds).

    Parameters
    ----------
    desc : dict
        A description as :func:`describe` writes it.
    params : array_like or None
        The flat parameter vector.
    activations : dict or list, optional
        The user-defined functions the model uses (see ``load``).
    path : str or os.PathLike, optional
        Names the source in messages.
    limit : int, optional
        With ``params=None``: the bound on sizes (required then).

    Returns
    -------
    Network

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 2])
    >>> build_network(describe(net), net.params).params.tobytes() == net.params.tobytes()
    True
    """
    table = function_table(activations)
    if params is not None:
        params = np.asarray(params)
        limit = params.size
    if limit is None:
        raise ConfigError("build_network needs params or limit (the bound on sizes); got neither")
    desc = _check_desc(desc, path, max(int(limit), MIN_LIMIT))
    ops, n_params = _architecture(desc, table, path)
    if params is None:
        if n_params > max(int(limit), MIN_LIMIT):
            raise FileFormatError(f"{path}: the architecture needs {n_params} parameters; the file holds "
                                  f"{limit} values")
        params = np.zeros(n_params, dtype=np.dtype(desc["network"]["dtype"]))
    return _assemble(desc, ops, params, path)


def user_functions(net: Network) -> dict[str, Any]:
    """The user-defined functions (code, not stored in a file) that ``net`` uses, by name: what
    ``load(path, activations=...)`` needs to rebuild it.

    Parameters
    ----------
    net : Network

    Returns
    -------
    dict of str -> function

    Examples
    --------
    >>> import backprop as bp
    >>> user_functions(bp.MLP([2, 3, 2]))
    {}
    """
    return used_by(net.ops)


# ---- save / load ------------------------------------------------------------------------------

def model_json(net: Network, metadata: dict[str, Any] | None = None) -> bytes:
    """The JSON description of ``net`` (with ``metadata``) as stored in every model file, UTF-8.

    Refuses (ConfigError) what is not a Network, non-finite parameters, metadata that is not
    JSON-serialisable, and anything loading would refuse, rather than write a file that cannot be read.

    Parameters
    ----------
    net : Network
    metadata : dict, optional
        JSON-serialisable information stored with it.

    Returns
    -------
    bytes
        UTF-8 JSON.

    Examples
    --------
    >>> import backprop as bp
    >>> model_json(bp.MLP([2, 2]))[:34]
    b'{"format": "backprop-model", "vers'
    """
    if not isinstance(net, Network):
        raise ConfigError(f"only a backprop Network can be saved; got {type(net).__name__}")
    if not all_finite(net.params):
        raise ConfigError("the network's parameters contain NaN or inf; refusing to save a broken model")
    for key, j, spec in state_keys(net):
        check_state(net, key, spec, np.asarray(net.ops[j].state[spec.name]))      # ConfigError: not saved
    desc = describe(net)
    if metadata is not None:
        desc["metadata"] = metadata
    try:
        blob = json.dumps(desc, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model metadata must be JSON-serialisable (no NaN): {e}") from None
    try:
        parse_json(blob, "the model description with its metadata")
    except FileFormatError as e:
        raise ConfigError(f"{e}; store large data as arrays instead") from None
    return blob


def save_npz(net: Network, path: PathLike, *, metadata: dict[str, Any] | None = None,
             arrays: Mapping[str, ArrayLike] | None = None) -> None:
    """Save a network to ``path`` as an .npz model file (the architecture as JSON inside), atomically.

    The writer of ``model_formats.save`` for every path that does not name another format; see it for
    the parameters and errors.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
    metadata : dict, optional
    arrays : dict of str -> array_like, optional

    Examples
    --------
    >>> import backprop as bp, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> save_npz(bp.MLP([2, 2]), path, arrays={"mean": [0.5, 1.5]})
    >>> load_npz_bundle(path)[2]["mean"]
    array([0.5, 1.5])
    """
    blob = model_json(net, metadata)
    extras = arrays or {}
    if len(extras) > MAX_MEMBERS - 2:
        raise ConfigError(f"at most {MAX_MEMBERS - 2} extra arrays can be stored; got {len(extras)}")
    members: dict[str, NDArray[Any]] = {_PARAMS_KEY: net.params, _JSON_KEY: np.frombuffer(blob, dtype=np.uint8)}
    for key, j, spec in state_keys(net):
        members[_STATE + key] = net.ops[j].state[spec.name]
    for name, value in extras.items():
        a = np.asarray(value)
        if not isinstance(name, str) or not name or a.dtype.kind not in "biuf":
            raise ConfigError(f"extra array {name!r} must have a non-empty string name and numeric content")
        members[_EXTRA + name] = a
    atomic_write(path, lambda f: np.savez(f, **members))  # type: ignore[arg-type]  # (the stubs type **kwds badly)


# ---- reading a model file as untrusted input ----------------------------------------------------

#: most members (arrays) a model file may hold
MAX_MEMBERS = 1024
#: compressed extra arrays may inflate to this many bytes in total (our writer never compresses;
#: stored members need no such budget: their bytes are in the file)
MAX_COMPRESSED_EXTRAS = 32 << 20
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_NPY = ".npy"
# errors the zip and npy layers raise on damaged input; each becomes a FileFormatError
_DAMAGED = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, RuntimeError,
            NotImplementedError, struct.error, OverflowError)


def _damaged(path: PathLike, why: object) -> FileFormatError:
    return FileFormatError(f"{path} is not a readable backprop model file (malformed or truncated .npz: {why})")


def _zip_entry_count(f: BinaryIO, size: int, path: PathLike) -> int:
    """Entries the archive's central directory declares, read from its end record before zipfile
    builds an object per entry (a forged count would cost memory)."""
    tail_len = min(size, 22 + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise _damaged(path, "its zip end record is missing")
    entries, cd_size = struct.unpack("<HI", tail[at + 10:at + 16])
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:            # zip64: the count is in the zip64 end record
        loc = tail.rfind(_EOCD64_LOCATOR, 0, at)
        if loc < 0 or at - loc != 20:
            raise _damaged(path, "damaged zip64 end record")
        (offset,) = struct.unpack("<Q", tail[loc + 8:loc + 16])
        if offset + 56 > size:
            raise _damaged(path, "zip64 end record outside the file")
        f.seek(offset)
        rec = f.read(56)
        if rec[:4] != b"PK\x06\x06":
            raise _damaged(path, "damaged zip64 end record")
        (entries,) = struct.unpack("<Q", rec[32:40])
    return entries


class _Archive:
    """The members of a model file, each a .npy array read only after its declared size is checked."""

    def __init__(self, f: BinaryIO, path: PathLike):
        self.path = path
        size = os.fstat(f.fileno()).st_size
        entries = _zip_entry_count(f, size, path)
        if entries > MAX_MEMBERS:
            raise FileFormatError(f"{path} declares {entries} arrays; a model file holds at most {MAX_MEMBERS}")
        f.seek(0)
        self.zip = zipfile.ZipFile(f)
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in self.zip.infolist():
            name = info.filename
            if not name.endswith(_NPY):
                raise FileFormatError(f"{path}: member {name!r:.80} is not a .npy array; a model file holds "
                                      f"only {_PARAMS_KEY}{_NPY}, {_JSON_KEY}{_NPY} and {_EXTRA}NAME{_NPY}")
            key = name[:-len(_NPY)]
            if key in self.members:
                raise FileFormatError(f"{path}: member {name!r:.80} appears twice")
            if key not in (_PARAMS_KEY, _JSON_KEY) and not any(
                    key.startswith(prefix) and len(key) > len(prefix) for prefix in (_EXTRA, _STATE)):
                raise FileFormatError(f"{path}: unexpected member {name!r:.80}; a model file holds only "
                                      f"{_PARAMS_KEY}{_NPY}, {_JSON_KEY}{_NPY}, {_STATE}KEY{_NPY} and "
                                      f"{_EXTRA}NAME{_NPY}")
            if info.flag_bits & 0x1:
                raise FileFormatError(f"{path}: member {name!r:.80} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise FileFormatError(f"{path}: member {name!r:.80} uses compression method "
                                      f"{info.compress_type}; expected stored (0) or deflated (8)")
            if info.compress_size > size:
                raise FileFormatError(f"{path}: member {name!r:.80} claims {info.compress_size} bytes, more "
                                      f"than the whole file ({size}); the file is truncated")
            check_backed(info.file_size, info.compress_size, info.compress_type == zipfile.ZIP_DEFLATED,
                         f"{path}: member {name!r:.80}")
            self.members[key] = info
        # members may not share bytes: entries pointing at one stored region would multiply it
        stored = sum(i.compress_size for i in self.members.values())
        if stored > size:
            raise FileFormatError(f"{path}: its members claim {stored} bytes in all, more than the file's {size}; "
                                  "expected members that do not overlap")

    def compressed(self, key: str) -> bool:
        return self.members[key].compress_type != zipfile.ZIP_STORED

    def open(self, key: str) -> tuple[IO[bytes], tuple[int, ...], bool, np.dtype[Any], int]:
        """(stream, shape, fortran_order, dtype, data bytes) of a member, its header read and checked."""
        info = self.members[key]
        what = f"{self.path}: array {key!r:.80}"
        stream = self.zip.open(info)
        try:
            shape, fortran, dtype, header = read_npy_header(stream, what)
        except BaseException:
            stream.close()
            raise
        nbytes = nbytes_of(shape, dtype, what)
        if header + nbytes != info.file_size:
            stream.close()
            raise FileFormatError(f"{what} declares shape {shape} of {dtype.name} ({nbytes} bytes) but the "
                                  f"member holds {info.file_size - header} data bytes; expected them to agree")
        return stream, shape, fortran, dtype, nbytes

    def read(self, key: str, budget: int | None = None, why: str = "") -> NDArray[Any]:
        """The array of member ``key``; its declared size checked against ``budget`` before reading."""
        stream, shape, fortran, dtype, nbytes = self.open(key)
        with stream:
            what = f"{self.path}: array {key!r:.80}"
            if budget is not None:
                check_budget(shape, dtype, budget, what, why)
            return read_array(stream, shape, dtype, what, fortran)


def _read_states(archive: _Archive, net: Network, path: PathLike) -> dict[tuple[int, str], NDArray[Any]]:
    """The buffers of ``net``'s ops from the archive: exactly the declared ones, each header (shape, dtype)
    checked before its bytes are read, then its values (finite, counters >= 0)."""
    want = {_STATE + key: (key, j, spec) for key, j, spec in state_keys(net)}
    have = [k for k in archive.members if k.startswith(_STATE)]
    missing = [k[len(_STATE):] for k in want if k not in archive.members]
    unexpected = [k[len(_STATE):] for k in have if k not in want]
    if missing or unexpected:
        raise FileFormatError(f"{path}: the buffers stored do not fit the architecture: "
                              + "; ".join(([f"missing {missing}"] if missing else [])
                                          + ([f"unexpected {unexpected[:5]}"] if unexpected else []))
                              + f"; expected exactly {[v[0] for v in want.values()]}")
    states: dict[tuple[int, str], NDArray[Any]] = {}
    for member, (key, j, spec) in want.items():
        shape = tuple(int(s) for s in spec.shape)
        dtype = np.dtype(np.int64) if spec.kind == "int" else net.dtype
        stream, s_shape, _, s_dtype, _ = archive.open(member)
        stream.close()
        if s_shape != shape or s_dtype.newbyteorder("=") != dtype:
            raise FileFormatError(f"{path}: buffer {key!r} has shape {s_shape} and dtype {s_dtype.name}; "
                                  f"expected {shape} of {dtype.name}")
        a = archive.read(member)
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        states[(j, spec.name)] = check_state(net, key, spec, a, FileFormatError)
    return states


def _read_model(f: BinaryIO, path: PathLike, activations: Mapping[str, Any]
                ) -> tuple[Network, dict[str, Any], dict[str, NDArray[Any]]]:
    """(net, desc, arrays) from an open model file; every size is checked before it is allocated."""
    archive = _Archive(f, path)
    missing = [k for k in (_JSON_KEY, _PARAMS_KEY) if k not in archive.members]
    if missing:
        raise FileFormatError(f"{path} is an .npz file but not a backprop model (it lacks "
                              f"{' and '.join(map(repr, missing))}; expected arrays {_JSON_KEY!r} and {_PARAMS_KEY!r})")
    # the parameters' header first: how many the file really stores bounds every size in the description
    stream, p_shape, _, p_dtype, _ = archive.open(_PARAMS_KEY)
    stream.close()
    n_stored = p_shape[0] if len(p_shape) == 1 else 0
    raw = archive.read(_JSON_KEY, MAX_JSON_BYTES, "a model description is far smaller")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise FileFormatError(f"{path}: the model description is a {raw.dtype.name} array of shape {raw.shape}; "
                              "expected 1-D uint8 (UTF-8 JSON bytes)")
    n_json = raw.size
    desc = parse_json(raw.data, f"{path}: the model description")
    del raw
    desc = _check_desc(desc, path, max(n_stored, n_json, MIN_LIMIT))
    ops, n_params = _architecture(desc, activations, path)
    dtype = np.dtype(desc["network"]["dtype"])
    if len(p_shape) != 1 or p_dtype != dtype:
        raise FileFormatError(f"{path}: the parameter array has shape {p_shape} and dtype {p_dtype.name}; "
                              f"expected a 1-D {dtype.name} array")
    if p_shape[0] != n_params:
        raise FileFormatError(f"{path}: the file holds {p_shape[0]} parameters; its architecture needs "
                              f"{n_params} (the file is damaged)")
    params = archive.read(_PARAMS_KEY)
    net = _assemble(desc, ops, params, path)
    set_states(net, _read_states(archive, net, path))
    arrays: dict[str, NDArray[Any]] = {}
    left = MAX_COMPRESSED_EXTRAS
    for key in archive.members:
        if key.startswith(_EXTRA):
            compressed = archive.compressed(key)
            a = archive.read(key, left if compressed else None,
                             f"compressed extra arrays may inflate to {MAX_COMPRESSED_EXTRAS} bytes in all")
            if compressed:
                left -= a.nbytes
            if not a.dtype.isnative:
                a = a.astype(a.dtype.newbyteorder("="))
            arrays[key[len(_EXTRA):]] = a
    return net, desc, arrays


def load_npz_bundle(path: PathLike, activations: Functions = None
                    ) -> tuple[Network, dict[str, Any], dict[str, NDArray[Any]]]:
    """Load an .npz model file with everything stored beside the network: (net, metadata, arrays).

    The reader of ``model_formats.load_bundle`` for every path that does not name another format; see
    it for the parameters, what is returned and the errors. Every size the file declares is checked
    against what its architecture needs and what the file holds before memory is spent.

    Parameters
    ----------
    path : str or os.PathLike
    activations : dict or list, optional
        The user-defined functions the model uses (see ``load``).

    Returns
    -------
    net : Network
    metadata : dict
    arrays : dict of str -> ndarray

    Examples
    --------
    >>> import backprop as bp, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> save_npz(bp.MLP([2, 2]), path, metadata={"run": 1})
    >>> load_npz_bundle(path)[1]
    {'run': 1}
    """
    table = function_table(activations)
    path = Path(os.fspath(path))
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FileFormatError(f"cannot load model {path}: it {what}")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
            if magic != b"PK\x03\x04":
                what = "is empty" if not magic else "is not an .npz archive"
                raise FileFormatError(f"{path} is not a backprop model file: it {what}")
            net, desc, arrays = _read_model(f, path, table)
    except (FileFormatError, ConfigError):
        raise
    except MemoryError:
        raise FileFormatError(f"{path}: not enough memory for the model it describes") from None
    except _DAMAGED as e:
        raise _damaged(path, e) from None
    return net, desc.get("metadata") or {}, arrays


register_format(".npz", save_npz, load_npz_bundle)
