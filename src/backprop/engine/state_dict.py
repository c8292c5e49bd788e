"""A network's parameters by name, under the keys of the equivalent PyTorch ``nn.Sequential``.

Op j of a chain is module j of the ``nn.Sequential`` that computes the same function, so a dense
layer's arrays are ``"{j}.weight"`` (out, in) and ``"{j}.bias"`` (out,), and ops without parameters
(activations) keep their index without keys: ``[Dense, tanh, Dense, softmax]`` gives
``0.weight, 0.bias, 2.weight, 2.bias``. Other ops name their arrays by their own ``param_names``
(a compiled neuron graph's masked dense level: ``"{j}.w"``, ``"{j}.b"``). The keys follow the order
of ``net.params``, so concatenating the raveled values in key order gives ``net.params``.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..ops.dense import Dense

#: PyTorch's names of a dense layer's two arrays (W then b)
DENSE_KEYS = ("weight", "bias")


def param_keys(net) -> list:
    """[(key, op index, array index, shape)] for every parameter array, in the order of ``net.params``."""
    out = []
    for j, op in enumerate(net.ops):
        names = DENSE_KEYS if isinstance(op, Dense) else getattr(op, "param_names", None)
        shapes = tuple(op.param_shapes)
        if names is None or len(names) != len(shapes):
            names = tuple(f"param{k}" for k in range(len(shapes)))
        for k, (name, shape) in enumerate(zip(names, shapes)):
            out.append((f"{j}.{name}", j, k, tuple(int(s) for s in shape)))
    return out


def state_dict(net) -> dict:
    """``{key: array}``: a copy of every parameter array, keys in parameter order."""
    return {key: net.views(j)[k].copy() for key, j, k, _ in param_keys(net)}


def _as_array(value, key):
    if hasattr(value, "detach") and hasattr(value, "cpu"):     # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ConfigError(f"state_dict entry {key!r} must hold real numbers; got dtype {a.dtype}")
    return a


def flat_from_state_dict(net, sd) -> np.ndarray:
    """The parameter vector that ``sd`` describes for ``net``'s architecture; every key and shape checked."""
    if not hasattr(sd, "keys") or not hasattr(sd, "__getitem__"):
        raise ConfigError(f"a state_dict is a mapping {{key: array}}; got {type(sd).__name__}")
    layout = param_keys(net)
    want = [key for key, _, _, _ in layout]
    have = [str(k) for k in sd.keys()]
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in have if k not in set(want)]
    if missing or unexpected:
        parts = ([f"missing keys {missing}"] if missing else []) + ([f"unexpected keys {unexpected}"] if unexpected else [])
        raise ConfigError(f"state_dict does not fit this network: {'; '.join(parts)}; expected exactly {want}")
    flat = np.empty(net.n_params, dtype=net.dtype)
    pos = 0
    for key, _, _, shape in layout:
        a = _as_array(sd[key], key)
        if a.shape != shape:
            raise ConfigError(f"state_dict entry {key!r} has shape {a.shape}; this network needs {shape}")
        n = a.size
        flat[pos:pos + n] = a.ravel()
        pos += n
    if not np.all(np.isfinite(flat)):
        bad = [key for key, _, _, _ in layout if not np.all(np.isfinite(_as_array(sd[key], key)))]
        raise ConfigError(f"state_dict entries {bad} contain NaN or inf")
    return flat


def load_state_dict(net, sd) -> None:
    """Copy the arrays of ``sd`` into ``net.params`` (all or nothing)."""
    net.params = flat_from_state_dict(net, sd)
