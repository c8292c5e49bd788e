"""Training on a Dask cluster (``backprop train --dask``): the client for the run and the data as blocks.

``--dask ADDRESS`` connects to a running scheduler (``tcp://host:8786``); ``--dask local:N`` starts a
``LocalCluster`` of N single-threaded worker processes for the run. The data are read on this machine,
sent to the workers once as row blocks, and training streams them (or, full-batch, sums their gradients).
"""
from __future__ import annotations

import re
import argparse
from typing import Any, Iterator

from contextlib import contextmanager
from numpy.typing import NDArray

from ..._optional import require
from ...errors import ConfigError


#: the scheduler's HTTP endpoints on a free local port and no dashboard (port 8787 may be taken)
NO_DASHBOARD = {"dashboard_address": "127.0.0.1:0"}

#: row blocks per worker: enough to balance the load, few enough that each task has work to do
BLOCKS_PER_WORKER = 2


@contextmanager
def dask_session(spec: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` while the block runs (nothing without ``--dask``)."""
    if spec is None:
        yield None
        return
    distributed = require("distributed", extra="dask", feature="--dask")
    local = re.fullmatch(r"local:(\d+)", spec)
    if local:
        n = int(local.group(1))
        if n < 1:
            raise ConfigError(f"--dask local:N needs N >= 1 workers; got {spec!r}")
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None,
                                           scheduler_kwargs=NO_DASHBOARD)
        with cluster, distributed.Client(cluster) as client:
            yield client
        return
    if spec.startswith("local"):
        raise ConfigError(f"--dask local:N needs a number of workers, e.g. local:2; got {spec!r}")
    try:
        client = distributed.Client(spec, timeout="10s")
    except (OSError, TimeoutError, ValueError) as e:
        raise ConfigError(f"--dask {spec}: cannot reach a Dask scheduler there ({e}); expected an address "
                          "like tcp://host:8786, or local:N") from None
    with client:
        yield client


def on_cluster(client: Any, X: NDArray[Any], T: NDArray[Any]) -> tuple[Any, Any]:
    """(X, T) as Dask arrays in row blocks spread over the client's workers (unchanged without a client)."""
    if client is None:
        return X, T
    da = require("dask.array", extra="dask", feature="--dask")

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    rows = max(1, -(-X.shape[0] // (BLOCKS_PER_WORKER * n_workers)))
    return (da.from_array(X, chunks=(rows, X.shape[1])),
            da.from_array(T, chunks=(rows,) + tuple(T.shape[1:])))
