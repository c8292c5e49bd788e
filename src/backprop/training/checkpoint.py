"""Checkpoints of a training run: everything needed to continue it bitwise as if never stopped.

A checkpoint is a model file (see ``engine/serialize.py``) whose metadata and extra arrays also
hold the optimiser state, the state of the shuffling generator, the loop's counters, the best
parameters so far and the history. It is written atomically, like every model file.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.serialize import describe, load_bundle, save
from ..errors import ConfigError, FileFormatError
from .history import History

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


def exists(path) -> bool:
    return Path(os.fspath(path)).is_file()


def write(path, net, optimizer, rng, state: TrainState, history: History, best, n_samples: int) -> None:
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
                      "wait": state.wait, "calm": state.calm},
            "history": history.to_dict()}
    save(net, path, metadata=meta, arrays=arrays)


@dataclass
class Loaded:
    state: TrainState
    history: History
    params: np.ndarray
    opt_state: dict
    rng_state: dict

    def apply(self, net, optimizer, rng) -> None:
        """Put the loaded state into the network, the optimiser and the generator."""
        mask = optimizer.decay_mask
        optimizer.load_state_dict(self.opt_state)
        optimizer.decay_mask = mask
        rng.bit_generator.state = self.rng_state
        net.params = self.params


def read(path, net, optimizer, n_samples: int) -> Loaded:
    """Read and check a checkpoint against the run it should continue; change nothing yet."""
    saved, meta, arrays = load_bundle(path)
    if meta.get("kind") != _KIND:
        raise FileFormatError(f"{path} is a model file but not a training checkpoint")
    if describe(saved)["network"] != describe(net)["network"]:
        raise ConfigError(f"checkpoint {path} was written for another network architecture; "
                          "resume with the network it was made for (or delete the checkpoint)")
    if meta.get("n_samples") != n_samples:
        raise ConfigError(f"checkpoint {path} was written for {meta.get('n_samples')} training samples; "
                          f"this run has {n_samples} (resume on the same data)")
    try:
        st = meta["state"]
        opt_state = dict(meta["optimizer"])
        for k, v in arrays.items():
            if k.startswith("optimizer."):
                opt_state[k[len("optimizer."):]] = v
        state = TrainState(epoch=int(st["epoch"]), step=int(st["step"]),
                           best_val=float(arrays["best_val"]),
                           best_epoch=None if st["best_epoch"] is None else int(st["best_epoch"]),
                           wait=int(st["wait"]), calm=int(st["calm"]),
                           prev_loss=float(arrays["prev_loss"]) if "prev_loss" in arrays else None,
                           best_params=arrays.get("best_params"))
        rng_state = meta["rng"]
        history = History.from_dict(meta["history"], source=str(path))
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, FileFormatError):
            raise
        raise FileFormatError(f"checkpoint {path} is incomplete or malformed ({e})") from None
    if state.best_params is not None and state.best_params.shape != net.params.shape:
        raise FileFormatError(f"checkpoint {path}: best parameters have the wrong shape")
    if state.best_params is not None:
        state.best_params = state.best_params.astype(net.dtype).copy()
    # check the optimiser state and the generator state on throwaway copies first
    probe = type(optimizer).__new__(type(optimizer))
    probe.__dict__.update(optimizer.__dict__)
    probe.load_state_dict(opt_state)
    try:
        np.random.default_rng().bit_generator.state = rng_state
    except (TypeError, ValueError, KeyError) as e:
        raise FileFormatError(f"checkpoint {path}: bad random generator state ({e})") from None
    return Loaded(state, history, saved.params.astype(net.dtype), opt_state, rng_state)
