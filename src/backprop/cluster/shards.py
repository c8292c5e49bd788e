"""A data set as row blocks of Dask arrays, persisted once, and one map-reduce round trip over them.

The inputs X (N, d), the targets T and the optional sample weights s are aligned on the same row
chunks, persisted on the active scheduler (the workers of a ``distributed.Client`` if one exists, else
Dask's default scheduler) and kept as one Dask key per block. ``Shards.map`` runs a kernel on every
block where it lives (on a distributed cluster, one task per group of blocks held by one worker), with
the small arguments (the network description, the parameter vector, directions) as single keys that
every task shares, and waits for all of them: either every block answers or the call fails.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._optional import require
from ..errors import InputError


class ClusterError(RuntimeError):
    """The cluster did not deliver every block's result (a worker was lost, a task failed for a reason
    that is not the data's); nothing partial is returned.

    A ``RuntimeError``, not a ``ValueError``: the call was right and may succeed when run again.

    Examples
    --------
    >>> raise ClusterError("hvp on the cluster failed and returned nothing: a worker was lost")
    Traceback (most recent call last):
    ...
    backprop.cluster.shards.ClusterError: hvp on the cluster failed and returned nothing: a worker was lost
    """


def _dask() -> Any:
    return (require("dask", extra="dask", feature="Dask arrays"),
            require("dask.array", extra="dask", feature="Dask arrays"))


def _as_array(a: Any, name: str) -> Any:
    """A Dask array from a Dask array, DataFrame or Series (row lengths computed if unknown)."""
    _, da = _dask()
    if hasattr(a, "to_dask_array") and not isinstance(a, da.Array):
        a = a.to_dask_array(lengths=True)
    if not isinstance(a, da.Array):
        raise InputError(f"{name} must be a Dask array or DataFrame; got {type(a).__name__}")
    if any(math.isnan(c) for c in a.chunks[0]):
        a = a.compute_chunk_sizes()
    return a


def _rows_only(a: Any, name: str) -> Any:
    """One chunk along every axis but the first: re-chunk when needed (a cheap, block-local concatenation)."""
    if a.ndim == 0 or a.ndim > 2:
        raise InputError(f"{name} must be 1-D or 2-D with one row per sample; got {a.ndim}-D shape {a.shape}")
    if a.ndim == 2 and len(a.chunks[1]) > 1:
        a = a.rechunk({1: -1})
    return a


def _aligned(a: Any, rows: Any, name: str, n: int | None) -> Any:
    """``a`` (NumPy or Dask) as a Dask array with the row chunks ``rows``."""
    _, da = _dask()
    if a is None:
        return None
    if hasattr(a, "to_dask_array") or isinstance(a, da.Array):
        a = _rows_only(_as_array(a, name), name)
    else:
        a = np.asarray(a)
        if a.ndim == 0:
            a = np.full(n, a)
        if a.shape[0] != n:
            raise InputError(f"{name} has {a.shape[0]} rows; X has {n} (one row per sample)")
        a = da.from_array(a, chunks=(rows,) + a.shape[1:])
    if a.shape[0] != n:
        raise InputError(f"{name} has {a.shape[0]} rows; X has {n} (one row per sample)")
    if a.chunks[0] != rows:
        a = a.rechunk({0: rows})
    return a


def _each_block(kernel: Any, shared: Any, blocks: Any) -> Any:
    """The kernel on each of a group of blocks, in one task: [kernel(*shared, *block) for block in blocks]."""
    return [kernel(*shared, *args) for args in blocks]


def _groups_by_worker(X: Any, keep: Any) -> Any:
    """The blocks grouped by the worker that holds them (one task per group per round trip), in groups of at
    most ceil(blocks / workers) so that the load stays balanced; one group per block without a cluster."""
    try:
        distributed = require("distributed", extra="dask", feature="Dask clusters")
        default_client, futures_of, wait = distributed.default_client, distributed.futures_of, distributed.wait
        client = default_client()
    except (ImportError, ValueError):
        return [[b] for b in range(len(keep))]
    futures = {f.key: f for f in futures_of(X)}
    block_keys = [row[0] for row in X.__dask_keys__()]      # X is 2-D with one column chunk
    wait(list(futures.values()))                              # persisted: the blocks are where they will stay
    where = client.who_has([futures[block_keys[i]] for i in keep if block_keys[i] in futures])
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = max(1, -(-len(keep) // n_workers))
    by_worker: dict[Any, list[Any]] = {}
    for b, i in enumerate(keep):
        holders = where.get(block_keys[i]) or ("?",)
        by_worker.setdefault(sorted(holders)[0], []).append(b)
    return [g[s:s + size] for g in by_worker.values() for s in range(0, len(g), size)]


class Shards:
    """(X, T[, sample_weight]) split in row blocks and persisted once.

    Parameters
    ----------
    X : Dask array or DataFrame of shape (N, d)
        Chunked along the samples; column chunks are merged.
    T : Dask array, DataFrame or NumPy array, or None
        Targets, one row per sample; re-chunked to X's row blocks.
    sample_weight : Dask or NumPy array (N,), optional
        Weights of the samples; re-chunked to X's row blocks.
    n_features : int, optional
        The number of columns X must have (the network's inputs).

    Attributes
    ----------
    n : int
        Number of samples N.
    sizes : tuple of int
        Rows per block (empty blocks dropped).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> shards = Shards(da.ones((10, 2), chunks=4), np.zeros(10))
    >>> shards.n, shards.sizes, len(shards)
    (10, (4, 4, 2), 3)
    """

    def __init__(self, X: Any, T: Any = None, sample_weight: Any = None, n_features: int | None = None) -> None:
        dask, da = _dask()
        X = _rows_only(_as_array(X, "X"), "X")
        if X.ndim != 2:
            raise InputError(f"X must be 2-D of shape (n_samples, {n_features}); got shape {X.shape}")
        if n_features is not None and X.shape[1] != n_features:
            raise InputError(f"X has {X.shape[1]} columns; the network expects {n_features} input features")
        if X.shape[0] == 0:
            raise InputError("X is an empty batch; expected at least one row")
        rows = X.chunks[0]
        n = int(X.shape[0])
        T = _aligned(T, rows, "T", n)
        sw = _aligned(sample_weight, rows, "sample_weight", n)
        if sw is not None and sw.ndim != 1:
            raise InputError(f"sample_weight must have shape ({n},); got {sw.shape}")
        X, T, sw = dask.persist(X, T, sw)
        self.X, self.T, self.sw = X, T, sw
        keep = [i for i, r in enumerate(rows) if r > 0]
        xb = X.to_delayed().ravel()
        tb = T.to_delayed().ravel() if T is not None else [None] * len(xb)
        wb = sw.to_delayed().ravel() if sw is not None else [None] * len(xb)
        self.blocks = [(xb[i], tb[i], wb[i]) for i in keep]
        self.sizes = tuple(int(rows[i]) for i in keep)
        self.n = n
        self.groups = _groups_by_worker(X, keep)

    def __len__(self) -> int:
        return len(self.blocks)

    def map(self, kernel: Any, *shared: Any, per_block: list[Any] | None = None, what: str = "the computation") -> Any:
        """``kernel(*shared, X_b, T_b, s_b[, extra_b])`` for every block b, in one round trip.

        Parameters
        ----------
        kernel : callable
            Run on each block where it lives: ``kernel(*shared, X_b, T_b, s_b)``, and ``per_block[b]`` last
            when given.
        *shared
            Arguments every block gets, sent once (one key each).
        per_block : list, optional
            One small argument per block.
        what : str, default "the computation"
            Names the computation in a ClusterError's message.

        Returns
        -------
        list
            The kernel's results in block order, all of them or none (ClusterError).

        Examples
        --------
        >>> import numpy as np, dask.array as da
        >>> shards = Shards(da.ones((10, 2), chunks=4), np.zeros(10))
        >>> shards.map(lambda scale, X, T, s: scale * float(X.sum()), 0.5)
        [4.0, 4.0, 2.0]
        """
        dask, _ = _dask()
        delayed = dask.delayed
        # keys unique to this call: a repeated call at the same point must not meet the previous one's keys
        # while the scheduler forgets them
        keys = [delayed(a, pure=False, traverse=False) if isinstance(a, np.ndarray) else a for a in shared]
        task = delayed(_each_block, pure=False)
        tasks = []
        for group in self.groups:                               # one task per group of blocks on one worker
            args = [self.blocks[b] + (() if per_block is None else (per_block[b],)) for b in group]
            tasks.append(task(kernel, keys, args))
        try:
            parts = dask.compute(*tasks)
            results = [None] * len(self.blocks)
            for group, part in zip(self.groups, parts):
                for b, r in zip(group, part):
                    results[b] = r
        except ValueError:                                      # the data's own errors (InputError, ...) as they are
            raise
        except Exception as e:
            raise ClusterError(f"{what} on the cluster failed and returned nothing: {type(e).__name__}: {e}. "
                               "If a worker was lost, run the call again (the data are re-read from their "
                               "source)") from e
        if any(r is None for r in results):                     # pragma: no cover - dask returns all or raises
            raise ClusterError(f"{what}: not every block answered; nothing is returned")
        return results

    def fetch(self, b: int) -> Any:
        """Block b as NumPy arrays (X_b, T_b, s_b) on the driver.

        Parameters
        ----------
        b : int
            The block's index, 0 <= b < ``len(self)``.

        Returns
        -------
        tuple
            X_b, T_b and s_b as NumPy arrays (None for T or sample_weight when there is none).

        Examples
        --------
        >>> import numpy as np, dask.array as da
        >>> X_b, T_b, s_b = Shards(da.ones((10, 2), chunks=4), np.arange(10.0)).fetch(2)
        >>> X_b.shape, T_b.tolist(), s_b
        ((2, 2), [8.0, 9.0], None)
        """
        dask, _ = _dask()
        return dask.compute(*self.blocks[b])
