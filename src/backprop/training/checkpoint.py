"""Checkpoints of a training run: everything needed to continue it bitwise as if never stopped.

A checkpoint is a model file (see ``engine/serialize.py``) whose metadata and extra arrays also
hold the optimiser state, the state of the shuffling generator, the loop's counters, the best
parameters so far and the history. It is written atomically, like every model file.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence, overload

import numpy as np
from numpy.typing import NDArray

from ..engine.serialize import describe, load_bundle, save, user_functions
from ..errors import ConfigError, FileFormatError
from .history import History

if TYPE_CHECKING:
    from ..engine.network import Network
    from .history import History
    from .optimizers import Optimizer


_KIND = "backprop-checkpoint"


@dataclass
class TrainState:
    """The loop's counters: completed epochs, updates, early-stopping and convergence bookkeeping."""

    epoch: int = 0
    step: int = 0
    best_val: float = math.inf
    best_epoch: int | None = None
    wait: int = 0
    calm: int = 0
    prev_loss: float | None = None
    best_params: np.ndarray | None = None


def exists(path: str | os.PathLike[str]) -> bool:
    """Whether a checkpoint file exists at ``path``."""
    return Path(os.fspath(path)).is_file()


def check_target(path: str | os.PathLike[str]) -> None:
    """Check, before training starts, that a checkpoint can be written to ``path``.

    Raises
    ------
    ConfigError
        If ``path`` is not a path, is a directory, or its directory does not exist or is not writable.
    """
    try:
        target = Path(os.fspath(path))
    except TypeError:
        raise ConfigError(f"checkpoint must be a file path; got {path!r}") from None
    if target.is_dir():
        raise ConfigError(f"checkpoint {target} is a directory; give a file name inside it, e.g. {target / 'run.npz'}")
    parent = target.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ConfigError(f"cannot write checkpoint {target}: the directory {parent} {what}; create it or "
                          "choose another checkpoint path")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        raise ConfigError(f"cannot write checkpoint {target}: the directory {parent} is not writable "
                          f"({e.strerror or e})") from None


def write(path: str | os.PathLike[str], net: Network, optimizer: Optimizer, rng: np.random.Generator, state: TrainState,
          history: History, best: Any, n_samples: int) -> None:
    """Save the run's state to ``path`` (atomically)."""
    opt_state = optimizer.state_dict()
    arrays = {f"optimizer.{k}": v for k, v in opt_state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in opt_state.items() if not isinstance(v, np.ndarray)}
    arrays["best_val"] = np.float64(state.best_val)
    if state.prev_loss is not None:
        arrays["prev_loss"] = np.float64(state.prev_loss)
    if best is not None:
        arrays["best_params"] = best
    meta = {"kind": _KIND, "n_samples": int(n_samples), "optimizer": scalars,
            "rng": rng.bit_generator.state,
            "state": {"epoch": state.epoch, "step": state.step, "best_epoch": state.best_epoch,
                      "wait": state.wait, "calm": state.calm, "net_step": net.step},
            "history": history.to_dict()}
    save(net, path, metadata=meta, arrays=arrays)


@dataclass
class Loaded:
    """A checkpoint read and checked: the run's state, history, parameters, optimiser and RNG state."""
    state: TrainState
    history: History
    params: np.ndarray
    opt_state: dict[str, Any]
    rng_state: dict[str, Any]
    buffers: list[Any] | None = None      # the ops' buffers (checked when the model was read), None for ops without
    net_step: int = 0

    def apply(self, net: Network, optimizer: Optimizer, rng: np.random.Generator) -> None:
        """Put the loaded state into the network, the optimiser and the generator.

        Everything was checked by ``read``, so none of these steps can fail half-way."""
        optimizer.load_state_dict(self.opt_state)
        rng.bit_generator.state = self.rng_state
        net.params = self.params
        net.set_buffers(self.buffers or ())
        net.step = self.net_step


class _Bad(Exception):
    """A checkpoint field with a bad value: (field, what it must be, what it is)."""


class _Desc(str):
    """A description of a bad value (shown as it is), rather than the value itself (shown with repr)."""


_MAX_COUNT = 2 ** 63 - 1


def _int(field: str, value: Any, low: int = 0, high: int = _MAX_COUNT) -> int:
    """A stored count checked to be an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        top = "2**63 - 1" if high == _MAX_COUNT else ("2**128 - 1" if high == 2 ** 128 - 1 else str(high))
        raise _Bad(field, f"an integer in [{low}, {top}]", value)
    return value


@overload
def _scalar(field: str, arrays: Mapping[str, Any], required: Literal[True] = ...) -> float: ...
@overload
def _scalar(field: str, arrays: Mapping[str, Any], required: bool) -> float | None: ...
def _scalar(field: str, arrays: Mapping[str, Any], required: bool = True) -> float | None:
    """A stored float64 scalar (None when absent and not required)."""
    if field not in arrays:
        if required:
            raise _Bad(field, "present (a float64 scalar)", _Desc("nothing"))
        return None
    a = arrays[field]
    if a.shape != () or a.dtype != np.float64:
        raise _Bad(field, "a float64 scalar", _Desc(f"a {a.dtype} array of shape {a.shape}"))
    return float(a)


def _vector(field: str, a: Any, net: Network) -> NDArray[Any]:
    """A stored parameter-shaped float vector, checked finite in the network's dtype."""
    if a.ndim != 1 or a.shape != net.params.shape or a.dtype.kind != "f":
        raise _Bad(field, f"a float vector of {net.n_params} entries", _Desc(f"a {a.dtype} array of shape {a.shape}"))
    v = a.astype(net.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        finite = bool(np.isfinite(v).all())
    if not finite:
        raise _Bad(field, f"finite in {net.dtype}", _Desc("NaN or inf entries"))
    return v


def _check_rng(field: str, st: Any, template: Mapping[str, Any]) -> None:
    """The state of numpy's PCG64 generator: 128-bit state, odd 128-bit increment, one buffered 32-bit word."""
    if not isinstance(st, dict) or set(st) != set(template):
        raise _Bad(field, f"an object with the keys {', '.join(sorted(template))}", st)
    if st["bit_generator"] != template["bit_generator"]:
        raise _Bad(f"{field}.bit_generator", repr(template["bit_generator"]), st["bit_generator"])
    inner = st["state"]
    if not isinstance(inner, dict) or set(inner) != set(template["state"]):
        raise _Bad(f"{field}.state", f"an object with the keys {', '.join(sorted(template['state']))}", inner)
    _int(f"{field}.state.state", inner["state"], 0, 2 ** 128 - 1)
    if _int(f"{field}.state.inc", inner["inc"], 0, 2 ** 128 - 1) % 2 != 1:
        raise _Bad(f"{field}.state.inc", "an odd integer (a PCG64 increment)", inner["inc"])
    _int(f"{field}.has_uint32", st["has_uint32"], 0, 1)
    _int(f"{field}.uinteger", st["uinteger"], 0, 2 ** 32 - 1)
    try:
        np.random.Generator(np.random.PCG64()).bit_generator.state = st
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise _Bad(field, "a state numpy's generator accepts", _Desc(str(e))) from None


_ARRAYS = ("best_val", "prev_loss", "best_params")


def _check_momentum(delta: Any, history: History, net: Network, step: int, epoch: int) -> None:
    """Delta_t = sum_j mu^j g_(t-j) with mu < 1, so per layer ||Delta|| <= sum over all batches of ||g||,
    which the history records (mean per-layer gradient norm per epoch, step / epoch batches an epoch).
    Checked when every step of the optimiser belongs to this run (its t equals the run's step count)."""
    if epoch == 0:
        return
    norms = history["grad_norms"]
    if not np.isfinite(norms).all():
        return
    bound = norms.sum(axis=0) * (step / epoch)
    for k, (j, _, _) in enumerate(net.param_layers()):
        part = delta[int(net.offsets[j]):int(net.offsets[j + 1])].astype(np.float64)
        with np.errstate(over="ignore"):
            size = float(np.sqrt(np.dot(part, part)))
        if not size <= bound[k] * (1 + 1e-3) + 1e-300:       # slack for float32 rounding
            raise _Bad("optimizer.delta", f"a momentum no run of this history can build: ||Delta|| of "
                       f"{history.layers[k]} at most {bound[k]:.4g} (the sum of its gradient norms)",
                       _Desc(f"||Delta|| = {size:.4g}"))


def read(path: str | os.PathLike[str], net: Network, optimizer: Optimizer, n_samples: int,
         layers: Sequence[str] | None = None, metric: str | None = None) -> Loaded:
    """Read and check a whole checkpoint against the run it should continue; change nothing.

    Every field is checked before anything is applied: a value no run can have written raises
    FileFormatError naming the field and what it must be; a checkpoint of another run (other
    architecture, data size, optimiser or metric) raises ConfigError.
    """
    saved, meta, arrays = load_bundle(path, user_functions(net))
    if meta.get("kind") != _KIND:
        raise FileFormatError(f"{path} is a model file but not a training checkpoint")
    try:
        return _read(path, saved, meta, arrays, net, optimizer, n_samples, layers, metric)
    except _Bad as e:
        field, expected, value = e.args
        if isinstance(value, _Desc):
            shown = str(value)
        elif isinstance(value, (dict, list)):
            shown = f"a JSON {'object' if isinstance(value, dict) else 'list'}"
        else:
            shown = repr(value)
        raise FileFormatError(f"checkpoint {path}: {field} must be {expected}; got {shown[:120]}") from None


def _read(path: str | os.PathLike[str], saved: Any, meta: dict[str, Any], arrays: Mapping[str, Any], net: Network,
          optimizer: Optimizer, n_samples: int, layers: Sequence[str] | None, metric: str | None) -> Loaded:
    """Check every part of a checkpoint against this run (network, optimiser, data) and read it."""
    if set(meta) != {"kind", "n_samples", "optimizer", "rng", "state", "history"}:
        raise _Bad("metadata", "an object with the keys kind, n_samples, optimizer, rng, state, history",
                   _Desc("the keys " + ", ".join(sorted(map(str, meta)))))
    _int("n_samples", meta["n_samples"], 1)
    if describe(saved)["network"] != describe(net)["network"]:
        raise ConfigError(f"checkpoint {path} was written for another network architecture; "
                          "resume with the network it was made for (or delete the checkpoint)")
    if meta["n_samples"] != n_samples:
        raise ConfigError(f"checkpoint {path} was written for {meta['n_samples']} training samples; "
                          f"this run has {n_samples} (resume on the same data)")
    params = _vector("params", saved.params, net)

    # the optimiser: its kind must be this run's; then every value is checked on a fresh copy
    opt_meta = meta["optimizer"]
    if not isinstance(opt_meta, dict):
        raise _Bad("optimizer", "an object (the optimiser's hyper-parameters)", opt_meta)
    if opt_meta.get("name") != optimizer.name:
        raise ConfigError(f"checkpoint {path} holds the state of optimiser {opt_meta.get('name')!r}; this run "
                          f"uses {optimizer.name!r} (resume with the same optimiser)")
    opt_state = dict(opt_meta)
    for k, v in arrays.items():
        if k.startswith("optimizer."):
            name = k[len("optimizer."):]
            if opt_meta.get(name) is not None or name not in optimizer._buffers:
                raise _Bad(f"array optimizer.{name}", "one of the state arrays "
                           f"{', '.join(optimizer._buffers)} (once)", _Desc("an array of that name"))
            if v.shape != net.params.shape or v.dtype != net.dtype:
                raise _Bad(f"optimizer.{name}", f"a {net.dtype} vector of {net.n_params} entries",
                           _Desc(f"a {v.dtype} array of shape {v.shape}"))
            opt_state[name] = v
        elif k not in _ARRAYS:
            raise _Bad(f"array {k}", f"absent (a checkpoint holds the arrays {', '.join(_ARRAYS)} and optimizer.*)",
                       _Desc("an array of that name"))
    for name in optimizer._buffers:
        if opt_meta.get(name) is not None:
            raise _Bad(f"optimizer.{name}", "null in the metadata (state arrays are stored as arrays)", opt_meta[name])
    try:
        optimizer.validated_state(opt_state)
    except ConfigError as e:
        raise FileFormatError(f"checkpoint {path}: field optimizer: {e}") from None

    # the loop's counters
    st = meta["state"]
    keys = ("epoch", "step", "best_epoch", "wait", "calm")
    if not isinstance(st, dict) or not set(keys) <= set(st) <= set(keys) | {"net_step"}:
        raise _Bad("state", f"an object with the keys {', '.join(keys)} (and net_step)", st)
    net_step = _int("state.net_step", st.get("net_step", 0))
    epoch = _int("state.epoch", st["epoch"])
    step = _int("state.step", st["step"], epoch)
    best_epoch = None if st["best_epoch"] is None else _int("state.best_epoch", st["best_epoch"], 1, epoch)
    wait = _int("state.wait", st["wait"], 0, epoch)
    calm = _int("state.calm", st["calm"], 0, epoch)

    # the history: one record per completed epoch, for this network's layers and this run's metric
    history = History.from_dict(meta["history"], source=f"checkpoint {path}: history")
    if len(history) != epoch:
        raise _Bad("history.records", f"{epoch} records (one per completed epoch, state.epoch)",
                   _Desc(f"{len(history)}"))
    if layers is not None and history.layers != list(layers):
        raise _Bad("history.layers", f"the layers of this network ({', '.join(layers)})", history.layers)
    if history.best_epoch is not None and history.best_epoch != best_epoch:
        raise _Bad("history.best_epoch", f"state.best_epoch ({best_epoch})", history.best_epoch)
    if metric is not None or history.metric is not None:
        if history.metric != metric:
            raise ConfigError(f"checkpoint {path} was written by a run reporting metric {history.metric!r}; "
                              f"this run reports {metric!r} (resume with the same metric)")

    # the arrays beside the counters
    best_val = _scalar("best_val", arrays)
    if best_epoch is None:
        if best_val != math.inf:
            raise _Bad("best_val", "inf while there is no best epoch (state.best_epoch null)", best_val)
    else:
        recorded = history.records[best_epoch - 1]["val_loss"]
        ok = best_val == recorded if math.isfinite(recorded) else (math.isnan(best_val) or best_val == math.inf)
        if not ok:
            raise _Bad("best_val", f"the validation loss of epoch {best_epoch} in the history ({recorded!r})", best_val)
    prev_loss = _scalar("prev_loss", arrays, required=epoch > 0)
    if epoch == 0 and prev_loss is not None:
        raise _Bad("prev_loss", "absent before the first epoch", prev_loss)
    if prev_loss is not None and not math.isfinite(prev_loss):
        raise _Bad("prev_loss", "a finite number (the last epoch's training loss)", prev_loss)
    best_params = None
    if "best_params" in arrays:
        best_params = _vector("best_params", arrays["best_params"], net)
    elif best_epoch is not None:
        raise _Bad("best_params", "present when there is a best epoch", _Desc("nothing"))

    if opt_state.get("delta") is not None and opt_state["t"] == step:
        _check_momentum(opt_state["delta"], history, net, step, epoch)
    _check_rng("rng", meta["rng"], np.random.default_rng().bit_generator.state)

    state = TrainState(epoch=epoch, step=step, best_val=best_val, best_epoch=best_epoch, wait=wait, calm=calm,
                       prev_loss=prev_loss, best_params=best_params)
    buffers = [dict(op.state) if op.state_specs else None for op in saved.ops]
    return Loaded(state, history, params, opt_state, meta["rng"], buffers, net_step)
