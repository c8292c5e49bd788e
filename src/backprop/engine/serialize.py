"""Saving and loading networks: the arrays in a .npz archive, the architecture as JSON inside it.

A model file is a plain numpy .npz (a zip of .npy arrays) holding

* ``params``        the flat parameter vector, bitwise as it was;
* ``model.json``    UTF-8 JSON bytes: format name and version, network class, ``net.config()``,
                    and optional user metadata;
* ``extra/NAME``    optional further arrays (optimiser state in a checkpoint, a scaler's mean, ...).

Nothing is pickled, and files are read with ``np.load(..., allow_pickle=False)``: loading an
untrusted file cannot run code. Files are written to a temporary file in the same directory,
flushed to disk, then renamed over the target, so a crash in the middle leaves any existing
file intact.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FileFormatError
from ..ops.activations import ScalarActivation, get_activation
from ..ops.registry import op_from_config
from ..validation import all_finite
from .network import MLP, Network

FORMAT = "backprop-model"
VERSION = 1
_JSON_KEY = "model.json"
_PARAMS_KEY = "params"
_EXTRA = "extra/"


# ---- atomic writing ----------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write, binary=True) -> None:
    """Write a file atomically: ``write(f)`` fills a temporary file next to ``path``, which then replaces it.

    Parameters
    ----------
    path : str or os.PathLike
        The target file. Its directory must exist.
    write : callable
        ``write(f)`` writes the content to the open file object ``f``.
    binary : bool
        Open the temporary file in binary (default) or text mode (UTF-8).
    """
    path = Path(os.fspath(path))
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileFormatError(f"cannot write {path}: the directory {directory} does not exist")
    if path.is_dir():
        raise FileFormatError(f"cannot write {path}: it is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---- network <-> description ----------------------------------------------------------------

def _network_classes() -> dict:
    """Network subclasses that a file may name and that carry no state beyond the graph and parameters."""
    from .neurons import NeuronNetwork
    return {"Network": Network, "MLP": MLP, "NeuronNetwork": NeuronNetwork}


def _network_class_name(net) -> str:
    name = type(net).__name__
    return name if _network_classes().get(name) is type(net) else "Network"


def describe(net) -> dict:
    """The JSON-able description of ``net`` stored in a model file."""
    return {"format": FORMAT, "version": VERSION, "class": _network_class_name(net), "network": net.config()}


def _resolve_activation(spec, activations, path):
    """An activation description from a file -> ScalarActivation (user-defined ones from ``activations``)."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise FileFormatError(f"{path}: malformed activation description {spec!r}")
    name = spec["name"]
    if name in activations:
        return activations[name]
    try:
        return get_activation(spec)
    except ConfigError:
        pass
    except TypeError as e:
        raise FileFormatError(f"{path}: bad options for activation {name!r}: {e}") from None
    raise ConfigError(f"the model in {path} uses the user-defined activation {name!r}, which a file cannot store "
                      f"(it is code); pass it when loading: load({str(path)!r}, activations={{{name!r}: "
                      f"bp.activation({name!r}, f, df, d2f)}})")


def _with_activations(cfg, activations, path):
    """A copy of an op description with every ``"activation"`` entry, at any depth, turned into a
    ScalarActivation: built-in ones by name, user-defined ones from ``activations``."""
    if isinstance(cfg, list):
        return [_with_activations(v, activations, path) for v in cfg]
    if not isinstance(cfg, dict):
        return cfg
    return {k: (_resolve_activation(v, activations, path) if k == "activation"
                else _with_activations(v, activations, path)) for k, v in cfg.items()}


def _rebuild_ops(op_cfgs, activations, path):
    ops = []
    for k, cfg in enumerate(op_cfgs):
        if not isinstance(cfg, dict):
            raise FileFormatError(f"{path}: operation {k + 1} is not described by a JSON object")
        cfg = _with_activations(cfg, activations, path)
        try:
            ops.append(op_from_config(cfg))
        except FileFormatError as e:
            raise FileFormatError(f"{path}: operation {k + 1}: {e}") from None
        except (ConfigError, TypeError, KeyError, ValueError) as e:
            raise FileFormatError(f"{path}: operation {k + 1} ({cfg.get('op')!r}) cannot be rebuilt: {e}") from None
    return ops


def build_network(desc: dict, params, activations=None, path="<model>"):
    """Rebuild a network from ``describe(net)`` and a parameter vector."""
    activations = _check_activations(activations)
    if not isinstance(desc, dict) or desc.get("format") != FORMAT:
        raise FileFormatError(f"{path} is not a backprop model file (no {FORMAT!r} description)")
    version = desc.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise FileFormatError(f"{path} has model format version {version!r}; this backprop reads versions "
                              f"up to {VERSION} (upgrade backprop to read it)")
    cfg = desc.get("network")
    try:
        n_inputs, op_cfgs, inputs, dtype = cfg["n_inputs"], cfg["ops"], cfg["inputs"], cfg["dtype"]
    except (TypeError, KeyError) as e:
        raise FileFormatError(f"{path}: the network description lacks {e}") from None
    if not isinstance(op_cfgs, list) or not isinstance(inputs, list):
        raise FileFormatError(f"{path}: the network description has malformed 'ops' or 'inputs'")
    if dtype not in ("float32", "float64"):
        raise FileFormatError(f"{path}: unsupported dtype {dtype!r}; expected float32 or float64")
    ops = _rebuild_ops(op_cfgs, activations, path)
    params = np.asarray(params)
    if params.ndim != 1 or params.dtype != np.dtype(dtype):
        raise FileFormatError(f"{path}: the parameter array has shape {params.shape} and dtype {params.dtype}; "
                              f"expected a 1-D {dtype} array")
    n_params = sum(op.n_params for op in ops)
    if params.shape[0] != n_params:
        raise FileFormatError(f"{path}: the file holds {params.shape[0]} parameters; its architecture needs "
                              f"{n_params} (the file is damaged)")
    if not all_finite(params):
        raise FileFormatError(f"{path}: the parameter array contains NaN or inf")
    cls = _network_classes().get(desc.get("class"), Network)
    if cls is MLP and not _is_mlp(ops, inputs):
        cls = Network
    net = cls.__new__(cls)
    if cls is MLP:
        net.sizes = [int(n_inputs)] + [op.size for op in ops[::2]]
    try:
        Network.__init__(net, n_inputs, ops, inputs=inputs, dtype=np.dtype(dtype), params=params)
    except (ConfigError, TypeError, ValueError) as e:
        raise FileFormatError(f"{path}: the network description is inconsistent: {e}") from None
    return net


def _is_mlp(ops, inputs):
    from ..ops.dense import Dense
    chain = all(list(ix) == [i] for i, ix in enumerate(inputs))
    return (chain and len(ops) % 2 == 0 and all(isinstance(op, Dense) for op in ops[::2])
            and not any(isinstance(op, Dense) for op in ops[1::2]))


def _check_activations(activations):
    if activations is None:
        return {}
    if not isinstance(activations, dict) or not all(
            isinstance(k, str) and isinstance(v, ScalarActivation) for k, v in activations.items()):
        raise ConfigError("activations must be a dict {name: bp.activation(name, f, df, d2f)}")
    return activations


# ---- save / load ------------------------------------------------------------------------------

def save(net, path, *, metadata=None, arrays=None) -> None:
    """Save a network to ``path`` (.npz with the architecture as JSON inside), atomically.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
        Target file; written exactly under this name (no suffix is added).
    metadata : dict, optional
        JSON-serialisable information to store alongside (read back by ``load_bundle``).
    arrays : dict of str -> ndarray, optional
        Further numeric arrays to store (read back by ``load_bundle``).

    Raises
    ------
    ConfigError
        If the parameters are not finite, the metadata is not JSON-serialisable or an array is not numeric.
    FileFormatError
        If the directory of ``path`` does not exist.
    """
    if str(os.fspath(path)).lower().endswith(".safetensors"):   # the second pickle-free format
        from .safetensors_file import save_safetensors
        return save_safetensors(net, path, metadata=metadata, arrays=arrays)
    if not isinstance(net, Network):
        raise ConfigError(f"only a backprop Network can be saved; got {type(net).__name__}")
    if not all_finite(net.params):
        raise ConfigError("the network's parameters contain NaN or inf; refusing to save a broken model")
    desc = describe(net)
    if metadata is not None:
        desc["metadata"] = metadata
    try:
        blob = json.dumps(desc, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model metadata must be JSON-serialisable (no NaN): {e}") from None
    members = {_PARAMS_KEY: net.params, _JSON_KEY: np.frombuffer(blob, dtype=np.uint8)}
    for name, a in (arrays or {}).items():
        a = np.asarray(a)
        if not isinstance(name, str) or not name or a.dtype.kind not in "biuf":
            raise ConfigError(f"extra array {name!r} must have a non-empty string name and numeric content")
        members[_EXTRA + name] = a
    atomic_write(path, lambda f: np.savez(f, **members))


def _read_members(path):
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
            f.seek(0)
            # the file object stays ours: closed by the with block whatever np.load does
            with np.load(f, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except FileFormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError, RuntimeError) as e:
        raise FileFormatError(f"{path} is not a readable backprop model file (malformed or truncated .npz: "
                              f"{e})") from None


def load_bundle(path, activations=None):
    """Load a model file with everything stored beside the network.

    Returns
    -------
    net : Network (an MLP if it was saved as one)
    metadata : dict
        The ``metadata`` given to ``save`` (empty if none).
    arrays : dict of str -> ndarray
        The ``arrays`` given to ``save``.
    """
    if str(os.fspath(path)).lower().endswith(".safetensors"):   # the second pickle-free format
        from .safetensors_file import load_safetensors
        return load_safetensors(path, activations)
    members = _read_members(path)
    if _JSON_KEY not in members or _PARAMS_KEY not in members:
        raise FileFormatError(f"{path} is an .npz file but not a backprop model (it lacks "
                              f"{_JSON_KEY!r} or {_PARAMS_KEY!r})")
    raw = members[_JSON_KEY]
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError("not a byte array")
        desc = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise FileFormatError(f"{path}: the model description is not valid JSON ({e})") from None
    net = build_network(desc, members[_PARAMS_KEY], activations, path)
    metadata = desc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise FileFormatError(f"{path}: the stored metadata is not a JSON object")
    arrays = {k[len(_EXTRA):]: v for k, v in members.items() if k.startswith(_EXTRA)}
    return net, metadata, arrays


def load(path, activations=None):
    """Load a network saved with ``net.save(path)``.

    Parameters
    ----------
    path : str or os.PathLike
    activations : dict, optional
        ``{name: bp.activation(name, f, df, d2f)}`` for user-defined activations, which a file
        cannot store because they are code.

    Returns
    -------
    Network
        An MLP if an MLP was saved; parameters bitwise equal to the saved ones.

    Raises
    ------
    FileFormatError
        If the file is missing, not a model file, malformed or truncated.
    ConfigError
        If the model uses a user-defined activation that ``activations`` does not supply.
    """
    return load_bundle(path, activations)[0]

