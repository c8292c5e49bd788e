"""Mini-batch training over a Dask data set larger than the driver's memory.

Streaming (the default): every epoch visits the row blocks in a seeded random order; each block is
brought to the driver (the next one is fetched while the current one trains), its rows are shuffled
and it is cut into mini-batches, one optimiser step each, exactly as ``backprop.train`` does with
the whole array. At most two blocks are in the driver's memory at any time; batches do not straddle
blocks. With a single block the run is ``backprop.train``'s, update for update. Full-batch training
(``batch_size=None`` or ``optimizer="gd"``) takes one exact gradient over all blocks per step.

Data-parallel (``data_parallel=True``): every step's batch is spread over all blocks (a seeded
slice of each block's shuffled rows, in proportion to its size), each block's gradient over its
slice is computed where it lives, and the driver sums them into one update: one round trip per
step. It pays only when a step's compute (batch size x the network's multiply-adds) outweighs a
round trip of the scheduler (tens of ms); see the benchmarks.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._optional import require
from ..engine.network import Network
from ..errors import ConfigError
from ..losses import get_loss
from ..training import checkpoint as ckpt
from ..training.history import History
from ..training.loop import _check_count, _divergence, _layer_names, _update_stopping, run_epoch
from ..training.metrics import get_metric
from ..training.optimizers import get_optimizer
from ..training.schedules import get_schedule
from ..validation import all_finite, check_X
from .shards import _dask
from .sums import Sums


_UNSUPPORTED = ("validation_data", "validation_fraction", "early_stopping", "checkpoint", "checkpoint_every",
                "resume")


class _Prefetch:
    """Block b on its way to the driver: futures on a distributed cluster, else computed when asked for."""

    def __init__(self, shards: Any, b: int) -> None:
        self.shards, self.b, self.futures = shards, b, None
        try:
            client = require("distributed", extra="dask", feature="Dask clusters").default_client()
        except (ImportError, ValueError):
            client = None
        if client is not None:
            self.client = client
            self.futures = client.compute([p for p in shards.blocks[b] if p is not None])

    def get(self) -> Any:
        if self.futures is None:
            return self.shards.fetch(self.b)
        parts = iter(self.client.gather(self.futures))
        return tuple(next(parts) if p is not None else None for p in self.shards.blocks[self.b])


def _stream_epoch(net: Network, loss: Any, shards: Any, opt: Any, bs: int | None, block_rng: Any, row_rng: Any,
                  on_batch: Any) -> Any:
    """One epoch: the blocks in a random order, each shuffled and cut into batches; the mean batch loss."""
    order = block_rng.permutation(len(shards)) if block_rng is not None else np.arange(len(shards))
    total, seen = 0.0, 0
    pending = _Prefetch(shards, order[0])
    for k, b in enumerate(order):
        Xb, Tb, _ = pending.get()
        if k + 1 < len(order):
            pending = _Prefetch(shards, order[k + 1])
        Xb = check_X(Xb, net.n_inputs, net.dtype)
        Db = loss.prepare(Tb, Xb.shape[0], net.n_outputs, net.dtype)
        value = run_epoch(net, loss, Xb, Db, opt, None if bs is None else min(bs, Xb.shape[0]), row_rng, on_batch)
        if not math.isfinite(value):
            return value
        total += value * Xb.shape[0]
        seen += Xb.shape[0]
    return total / seen


def _parallel_epoch(sums: Any, opt: Any, bs: int | None, row_rng: Any, on_step: Any) -> Any:
    """One epoch of data-parallel steps: every step's batch drawn from all blocks, one round trip each."""
    sizes = sums.shards.sizes
    steps = max(1, math.ceil(sums.n / (sums.n if bs is None else bs)))
    perms = [row_rng.permutation(n) if row_rng is not None else np.arange(n) for n in sizes]
    params = sums.net.params
    total, seen = 0.0, 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for s in range(steps):
            rows = [p[s * n // steps:(s + 1) * n // steps] for p, n in zip(perms, sizes)]
            value, grad, count = sums.batch_value_grad(rows=rows)
            if not math.isfinite(value) or not all_finite(grad):
                return math.nan
            opt.step(params, grad)
            total += value * count
            seen += count
            if on_step(grad):
                break
    return total / seen


def train(net: Network, loss: Any, X: Any, T: Any, optimizer: Any = "sgd", lr: float | None = None,
          batch_size: int | None = 32, epochs: int = 100, *, momentum: float | None = None,
          weight_decay: float | None = None, schedule: Any = None, shuffle: bool = True, seed: int | None = 0,
          tol: float | None = 1e-6, n_iter_no_change: int = 10, metric: Any = "auto", verbose: bool = False,
          on_epoch_end: Any = None, data_parallel: bool = False, **unsupported: Any) -> History:
    """``backprop.train`` over a Dask data set, streaming its blocks (or data-parallel steps).

    Parameters
    ----------
    net, loss, optimizer, lr, batch_size, epochs, momentum, weight_decay, schedule, shuffle, seed, tol,
    n_iter_no_change, on_epoch_end
        As for ``backprop.train``. ``seed`` fixes the block order, the rows' order within each block
        (and, data-parallel, each step's rows): the same seed gives the same parameters on every run.
    X : Dask array (N, d) or Dask DataFrame, chunked along the samples
    T : Dask or NumPy array of targets
    metric : "auto", str, callable or None
        Reported per epoch over the training batches, as in ``backprop.train``.
    verbose : bool
        Print one line per epoch.
    data_parallel : bool, default False
        Spread every step's batch over all blocks (one cluster round trip per step) instead of streaming.
    **unsupported
        The options of ``backprop.train`` that need the data in memory (``validation_data``,
        ``validation_fraction``, ``early_stopping``, ``checkpoint``, ``checkpoint_every``, ``resume``):
        accepted only when None or False, so that a script written for ``backprop.train`` says what it
        cannot do here.

    Returns
    -------
    History
        One row per epoch, as ``backprop.train`` returns it.

    Raises
    ------
    ConfigError
        For the options of ``backprop.train`` that need the data in memory (validation split, checkpoints).
    DivergenceError
        As for ``backprop.train``: the parameters of the last finite epoch are kept.

    Examples
    --------
    >>> import numpy as np, dask.array as da, backprop as bp
    >>> X, y = bp.datasets.xor()
    >>> net = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
    >>> h = bp.train(net, "bce", da.from_array(np.tile(X, (2, 1)), chunks=4), np.tile(y, 2), epochs=2,
    ...              batch_size=4, verbose=False)
    >>> len(h), h["epoch"].tolist()
    (2, [1, 2])
    """
    given = [k for k in _UNSUPPORTED if unsupported.get(k) not in (None, False)]
    extra = [k for k in unsupported if k not in _UNSUPPORTED and k != "restore_best"]
    if extra:
        raise TypeError(f"train() got unexpected keyword argument(s) {', '.join(extra)}")
    if given:
        raise ConfigError(f"{', '.join(given)} cannot be used when training on a Dask array; train on the "
                          "blocks without them, then evaluate with backprop.loss_and_grad on held-out data")
    if not isinstance(net, Network):
        raise ConfigError(f"train needs a backprop Network; got {type(net).__name__}")
    _dask()
    loss = get_loss(loss)
    epochs = _check_count("epochs", epochs)
    batch_size = _check_count("batch_size", batch_size, allow_none=True)
    n_iter_no_change = _check_count("n_iter_no_change", n_iter_no_change)
    opt = get_optimizer(optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = get_schedule(schedule, opt.lr, epochs)
    if tol is not None and not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ConfigError(f"tol must be a finite number >= 0 or None; got {tol!r}")
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise ConfigError(f"on_epoch_end must be callable as f(epoch, record); got {on_epoch_end!r}")
    metric_fn = get_metric(metric, loss, net.n_outputs)
    sums = Sums(net, loss, X, T)                           # persisted once, for the whole run
    bs = None if (opt.full_batch or batch_size is None) else batch_size
    # the same streams as backprop.train: rows by its shuffle stream, the block order by a third one
    _, row_seq, block_seq = np.random.SeedSequence(seed).spawn(3)
    row_rng = np.random.default_rng(row_seq) if shuffle else None
    block_rng = np.random.default_rng(block_seq) if shuffle else None
    if opt.weight_decay and opt.decay_mask is None:
        opt.decay_mask = net.reg_mask

    params = net.params
    starts = [int(net.offsets[j]) for j, _, _ in net.param_layers()]
    last_good = params.copy()
    state = ckpt.TrainState()
    history = History(metric_fn.name if metric_fn else None, _layer_names(net))
    acc: dict[str, Any] = {}

    def on_grad(grad: NDArray[Any]) -> bool:
        acc["norms"] += np.sqrt(np.add.reduceat(grad * grad, starts)) if starts else 0.0
        acc["batches"] += 1
        state.step += 1
        if sched.per_step:
            opt.lr = sched(state.epoch, state.step)
        return False

    def on_batch(i: int, value: float, obj: Any, grad: NDArray[Any]) -> Any:
        if metric_fn is not None and metric_fn.per_sample:
            acc["metric"] += metric_fn(obj.output, obj.D) * obj.B
            acc["seen"] += obj.B
        return on_grad(grad)

    stop_reason = "max_epochs"
    while state.epoch < epochs:
        t0 = time.perf_counter()
        np.copyto(last_good, params)
        snapshot = opt.state_dict()
        acc.update(norms=np.zeros(len(starts)), batches=0, metric=0.0, seen=0)
        lr0 = opt.lr = sched(state.epoch, state.step)
        if data_parallel or bs is None:          # full batch: one exact gradient over every block per step
            value = _parallel_epoch(sums, opt, bs, row_rng, on_grad)
        else:
            value = _stream_epoch(net, loss, sums.shards, opt, bs, block_rng, row_rng, on_batch)
        if not math.isfinite(value) or not all_finite(params):
            np.copyto(params, last_good)
            opt.load_state_dict(snapshot)
            history.stop_reason = "diverged"
            raise _divergence(state.epoch, value, lr0, history)
        record = {"epoch": state.epoch + 1, "loss": value, "val_loss": math.nan,
                  "train_metric": (acc["metric"] / acc["seen"]) if acc["seen"] else math.nan,
                  "val_metric": math.nan, "lr": lr0,
                  "grad_norms": (acc["norms"] / max(acc["batches"], 1)).tolist(), "time": 0.0}
        state.epoch += 1
        stop = _update_stopping(state, record, False, False, tol, n_iter_no_change, params, None)
        record["time"] = time.perf_counter() - t0
        history.append(record)
        if verbose:
            print(f"epoch {record['epoch']}: loss={value:.6g} ({record['time']:.2f} s)")
        if on_epoch_end is not None and on_epoch_end(state.epoch, history.records[-1]) is True:
            stop = stop or "callback"
        if stop:
            stop_reason = stop
            break
    history.stop_reason = stop_reason
    history.best_epoch = None
    return history
