"""A network's arrays by name, under the keys of the equivalent PyTorch ``nn.Sequential``.

Op j of a chain is module j of the ``nn.Sequential`` that computes the same function, so a dense
layer's arrays are ``"{j}.weight"`` (out, in) and ``"{j}.bias"`` (out,), and ops without parameters
(activations) keep their index without keys: ``[Dense, tanh, Dense, softmax]`` gives
``0.weight, 0.bias, 2.weight, 2.bias``. Other ops name their arrays by their own ``param_names``
(a compiled neuron graph's masked dense level: ``"{j}.w"``, ``"{j}.b"``). An op's buffers
(``state_specs``: BatchNorm's running mean, ...) follow its parameters under ``"{j}.{name}"``, as in
torch (weight, bias, running_mean, running_var, num_batches_tracked). The parameter keys follow the
order of ``net.params``, so concatenating their raveled values in key order gives ``net.params``.
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


def state_keys(net) -> list:
    """[(key, op index, State)] for every buffer of every op, in op order."""
    return [(f"{j}.{s.name}", j, s) for j, op in enumerate(net.ops) for s in op.state_specs]


def keys(net) -> list:
    """Every key of ``state_dict()``: op by op, its parameters then its buffers (torch's order)."""
    params, states = param_keys(net), state_keys(net)
    order = {}
    for key, j, _, _ in params:
        order.setdefault(j, []).append(key)
    for key, j, _ in states:
        order.setdefault(j, []).append(key)
    return [key for j in sorted(order) for key in order[j]]


def state_dict(net) -> dict:
    """``{key: array}``: a copy of every parameter array and buffer, in ``keys(net)`` order."""
    arrays = {key: net.views(j)[k] for key, j, k, _ in param_keys(net)}
    arrays.update({key: net.ops[j].state[s.name] for key, j, s in state_keys(net)})
    return {key: arrays[key].copy() for key in keys(net)}


def _as_array(value, key):
    if hasattr(value, "detach") and hasattr(value, "cpu"):     # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ConfigError(f"state_dict entry {key!r} must hold real numbers; got dtype {a.dtype}")
    return a


def check_state(net, key, spec, a, error=ConfigError) -> np.ndarray:
    """Buffer ``key`` (declared by ``spec``) as a checked array of its dtype, or ``error`` naming the defect.

    Shape exactly the declared one; "int" buffers whole numbers >= 0 (counters), "float" buffers finite
    and at least ``spec.minimum`` when one is declared.
    """
    shape = tuple(int(s) for s in spec.shape)
    if a.shape != shape:
        raise error(f"buffer {key!r} has shape {a.shape}; this network needs {shape}")
    if spec.kind == "int":
        if a.dtype.kind not in "biu":
            raise error(f"buffer {key!r} is a counter: it must hold integers; got dtype {a.dtype}")
        if a.size and (a.min() < 0 or (a.dtype.kind == "u" and a.max() > np.iinfo(np.int64).max)):
            raise error(f"buffer {key!r} is a counter: it must be >= 0 (and fit int64)")
        return a.astype(np.int64)
    if a.dtype.kind not in "biuf":
        raise error(f"buffer {key!r} must hold real numbers; got dtype {a.dtype}")
    out = a.astype(net.dtype)
    if not np.all(np.isfinite(out)):
        raise error(f"buffer {key!r} contains NaN or inf (or values beyond {net.dtype.name})")
    if spec.minimum is not None and out.size and out.min() < spec.minimum:
        raise error(f"buffer {key!r} must be >= {spec.minimum:g}; its smallest entry is {out.min():g}")
    return out


def set_states(net, states) -> None:
    """Install checked buffers ``{(op index, name): array}`` (see ``check_state``) into the ops."""
    for (j, name), a in states.items():
        net.ops[j].state[name] = a.copy()


def read_state_dict(net, sd):
    """(parameter vector, {(op index, name): buffer}) that ``sd`` describes for ``net``; every key,
    shape and value checked, nothing changed."""
    if not hasattr(sd, "keys") or not hasattr(sd, "__getitem__"):
        raise ConfigError(f"a state_dict is a mapping {{key: array}}; got {type(sd).__name__}")
    layout = param_keys(net)
    want = keys(net)
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
    states = {(j, s.name): check_state(net, key, s, _as_array(sd[key], key)) for key, j, s in state_keys(net)}
    return flat, states


def flat_from_state_dict(net, sd) -> np.ndarray:
    """The parameter vector that ``sd`` describes for ``net``'s architecture; every key and shape checked."""
    return read_state_dict(net, sd)[0]


def load_state_dict(net, sd) -> None:
    """Copy the arrays of ``sd`` into ``net.params`` and the ops' buffers (all or nothing)."""
    flat, states = read_state_dict(net, sd)
    net.params = flat
    set_states(net, states)
