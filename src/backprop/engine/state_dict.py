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

from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from ..ops.base import State
from ..ops.dense import Dense

if TYPE_CHECKING:
    from .network import Network

#: a parameter array's key, op index, array index and shape
ParamKey = tuple[str, int, int, tuple[int, ...]]
#: a buffer's key, op index and declaration
StateKey = tuple[str, int, State]
#: checked buffers by (op index, name)
States = dict[tuple[int, str], NDArray[Any]]

#: PyTorch's names of a dense layer's two arrays (W then b)
DENSE_KEYS = ("weight", "bias")


def param_keys(net: Network) -> list[ParamKey]:
    """[(key, op index, array index, shape)] for every parameter array, in the order of ``net.params``.

    Parameters
    ----------
    net : Network

    Returns
    -------
    list of (str, int, int, tuple)

    Examples
    --------
    >>> import backprop as bp
    >>> [k for k, *_ in param_keys(bp.MLP([2, 3, 2]))]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """
    out: list[ParamKey] = []
    for j, op in enumerate(net.ops):
        names = DENSE_KEYS if isinstance(op, Dense) else getattr(op, "param_names", None)
        shapes = tuple(op.param_shapes)
        if names is None or len(names) != len(shapes):
            names = tuple(f"param{k}" for k in range(len(shapes)))
        for k, (name, shape) in enumerate(zip(names, shapes)):
            out.append((f"{j}.{name}", j, k, tuple(int(s) for s in shape)))
    return out


def state_keys(net: Network) -> list[StateKey]:
    """[(key, op index, State)] for every buffer of every op, in op order.

    Parameters
    ----------
    net : Network

    Returns
    -------
    list of (str, int, State)

    Examples
    --------
    >>> import backprop as bp
    >>> [k for k, *_ in state_keys(bp.MLP([2, 3, 2], normalization="batch"))]
    ['1.running_mean', '1.running_var', '1.num_batches_tracked']
    """
    return [(f"{j}.{s.name}", j, s) for j, op in enumerate(net.ops) for s in op.state_specs]


def keys(net: Network) -> list[str]:
    """Every key of ``state_dict()``: op by op, its parameters then its buffers (torch's order).

    Parameters
    ----------
    net : Network

    Returns
    -------
    list of str

    Examples
    --------
    >>> import backprop as bp
    >>> keys(bp.MLP([2, 2]))
    ['0.weight', '0.bias']
    """
    params, states = param_keys(net), state_keys(net)
    order: dict[int, list[str]] = {}
    for key, j, _, _ in params:
        order.setdefault(j, []).append(key)
    for key, j, _ in states:
        order.setdefault(j, []).append(key)
    return [key for j in sorted(order) for key in order[j]]


def state_dict(net: Network) -> dict[str, NDArray[Any]]:
    """``{key: array}``: a copy of every parameter array and buffer, in ``keys(net)`` order.

    Parameters
    ----------
    net : Network

    Returns
    -------
    dict of str -> ndarray

    Examples
    --------
    >>> import backprop as bp
    >>> state_dict(bp.MLP([2, 3]))["0.weight"].shape
    (3, 2)
    """
    arrays = {key: net.views(j)[k] for key, j, k, _ in param_keys(net)}
    arrays.update({key: net.ops[j].state[s.name] for key, j, s in state_keys(net)})
    return {key: arrays[key].copy() for key in keys(net)}


def _as_array(value: Any, key: str) -> NDArray[Any]:
    if hasattr(value, "detach") and hasattr(value, "cpu"):     # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ConfigError(f"state_dict entry {key!r} must hold real numbers; got dtype {a.dtype}")
    return a


def check_state(net: Network, key: str, spec: State, a: NDArray[Any],
                error: Callable[[str], Exception] = ConfigError) -> NDArray[Any]:
    """Buffer ``key`` (declared by ``spec``) as a checked array of its dtype, or ``error`` naming the defect.

    Shape exactly the declared one; "int" buffers whole numbers >= 0 (counters), "float" buffers finite
    and at least ``spec.minimum`` when one is declared.

    Parameters
    ----------
    net : Network
    key : str
        The buffer's key, for messages.
    spec : State
        Its declaration.
    a : ndarray
        The values given.
    error : callable, default ConfigError
        The exception raised for a defect.

    Returns
    -------
    ndarray
        ``a`` as int64 (counters) or the network's dtype.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 2], normalization="batch")
    >>> key, j, spec = state_keys(net)[2]
    >>> check_state(net, key, spec, np.array(4)).dtype
    dtype('int64')
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


def set_states(net: Network, states: States) -> None:
    """Install checked buffers ``{(op index, name): array}`` (see ``check_state``) into the ops.

    Parameters
    ----------
    net : Network
    states : dict of (int, str) -> ndarray
        Checked buffers; each is copied in.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 2], normalization="batch")
    >>> set_states(net, {(1, "num_batches_tracked"): np.array(5)})
    >>> int(net.ops[1].state["num_batches_tracked"])
    5
    """
    for (j, name), a in states.items():
        net.ops[j].state[name] = a.copy()


def read_state_dict(net: Network, sd: Mapping[str, Any]) -> tuple[NDArray[Any], States]:
    """(parameter vector, {(op index, name): buffer}) that ``sd`` describes for ``net``; every key,
    shape and value checked, nothing changed.

    Parameters
    ----------
    net : Network
    sd : mapping of str -> array
        Arrays (numpy or torch) under the keys of ``keys(net)``.

    Returns
    -------
    flat : ndarray
        The parameter vector.
    states : dict of (int, str) -> ndarray
        The checked buffers.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3])
    >>> bool((read_state_dict(net, state_dict(net))[0] == net.params).all())
    True
    """
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


def flat_from_state_dict(net: Network, sd: Mapping[str, Any]) -> NDArray[Any]:
    """The parameter vector that ``sd`` describes for ``net``'s architecture; every key and shape checked.

    Parameters
    ----------
    net : Network
    sd : mapping of str -> array

    Returns
    -------
    ndarray
        The flat parameter vector (``net`` is not changed).

    Examples
    --------
    >>> import backprop as bp
    >>> flat_from_state_dict(bp.MLP([2, 3]), {"0.weight": np.ones((3, 2)), "0.bias": np.zeros(3)})[:3]
    array([1., 1., 1.])
    """
    return read_state_dict(net, sd)[0]


def load_state_dict(net: Network, sd: Mapping[str, Any]) -> None:
    """Copy the arrays of ``sd`` into ``net.params`` and the ops' buffers (all or nothing).

    Parameters
    ----------
    net : Network
    sd : mapping of str -> array

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3])
    >>> load_state_dict(net, {"0.weight": np.ones((3, 2)), "0.bias": np.zeros(3)})
    >>> float(net.params.sum())
    6.0
    """
    flat, states = read_state_dict(net, sd)
    net.params = flat
    set_states(net, states)
