"""Sums over a Dask data set: full-batch gradients from an on-disk array, the cluster's overhead, trust-ncg.

    .venv/bin/python benchmarks/bench_cluster.py [--rows 2000000] [--chunk-rows 50000] [--workers 2]

1. Full-batch gradient of an MLP 784-256-128-10 (softmax, cross-entropy) on ``--rows`` x 784 float32
   (2 million rows: about 6 GB), stored as one .npy file per block of ``--chunk-rows`` rows, read with
   memory maps. Local: the whole array loaded into this process, ``bp.loss_and_grad`` in memory.
   Cluster: a LocalCluster of ``--workers`` single-threaded worker processes, each block loaded by a
   worker from its file (no block passes through this process), the gradient summed over blocks.
   Reported: seconds per gradient and peak resident memory of each process.
2. The cluster's per-evaluation overhead: one round trip on a tiny data set (2 blocks of 500 rows).
3. Data-parallel steps: the time of one step on a batch spread over the blocks, by batch size,
   against the same step in memory.
4. trust-ncg to convergence on the cluster (softmax regression on 8x8 digits, 8 blocks) against in memory.

Every worker runs one BLAS thread (OPENBLAS_NUM_THREADS=1 is set for the workers), as does the local run.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import backprop as bp  # noqa: E402

SIZES = [784, 256, 128, 10]


def peak_mb():
    """Peak resident memory of this process (Linux VmHWM) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak():
    """Start measuring the peak resident memory afresh (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def write_blocks(folder, rows, chunk_rows, seed=0):
    """One .npy file of float32 inputs and one of int labels per block; returns the list of (files, rows)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(784, 10)).astype(np.float32)
    blocks = []
    for b, start in enumerate(range(0, rows, chunk_rows)):
        n = min(chunk_rows, rows - start)
        X = rng.random((n, 784), dtype=np.float32)
        y = np.argmax(X @ W + rng.normal(size=(n, 10)).astype(np.float32), axis=1)
        fx, fy = os.path.join(folder, f"X{b:05d}.npy"), os.path.join(folder, f"y{b:05d}.npy")
        np.save(fx, X)
        np.save(fy, y)
        blocks.append((fx, fy, n))
    return blocks


def load(path):
    return np.load(path, mmap_mode="r")[...]      # read the whole block (a copy in the reading process)


def dask_arrays(blocks):
    import dask
    import dask.array as da
    Xs = [da.from_delayed(dask.delayed(load)(fx), shape=(n, 784), dtype=np.float32) for fx, _, n in blocks]
    ys = [da.from_delayed(dask.delayed(load)(fy), shape=(n,), dtype=np.int64) for _, fy, n in blocks]
    return da.concatenate(Xs), da.concatenate(ys)


def timed(f, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", help="folder for the block files (default: a temporary one, removed at the end)")
    ap.add_argument("--skip-local", action="store_true", help="do not load the whole array into this process")
    args = ap.parse_args()

    import distributed
    from backprop.cluster.sums import Sums

    folder = args.dir or tempfile.mkdtemp(prefix="bp-bench-")
    try:
        t = time.perf_counter()
        blocks = write_blocks(folder, args.rows, args.chunk_rows)
        gb = args.rows * 784 * 4 / 1e9
        print(f"data      {args.rows} x 784 float32 = {gb:.2f} GB in {len(blocks)} .npy blocks of "
              f"{args.chunk_rows} rows ({time.perf_counter() - t:.1f} s to write)")
        net = bp.MLP(SIZES, hidden="relu", output="softmax", seed=0, dtype=np.float32)
        loss = bp.CrossEntropy(l2=1e-4)
        print(f"network   MLP {'-'.join(map(str, SIZES))}, {net.n_params} parameters, float32")

        # ---- 1. full-batch gradient: local vs cluster -------------------------------------------
        # the workers start first, so that none of them inherits the local run's memory
        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None,
                                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                      env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}) as lc, \
                distributed.Client(lc) as client:
            if not args.skip_local:
                reset_peak()
                X = np.concatenate([load(fx) for fx, _, _ in blocks])
                y = np.concatenate([load(fy) for _, fy, _ in blocks])
                t_local = timed(lambda: bp.loss_and_grad(net, loss, X, y), args.repeat)
                g_local = bp.loss_and_grad(net, loss, X, y)[1]
                del X, y
                print(f"local     {t_local:.2f} s per gradient, peak memory of this process {peak_mb():.0f} MB")
            reset_peak()
            base = peak_mb()
            Xd, yd = dask_arrays(blocks)
            t = time.perf_counter()
            sums = Sums(net, loss, Xd, yd)              # each worker reads its blocks from disk, once
            distributed.wait(distributed.futures_of(sums.shards.X))
            t_persist = time.perf_counter() - t
            t_cluster = timed(sums.value_grad, args.repeat)
            g = sums.value_grad()[1]
            peaks = client.run(peak_mb)
            print(f"cluster   {t_cluster:.2f} s per gradient on {args.workers} workers ({t_persist:.1f} s to read "
                  f"the blocks once); peak memory per worker "
                  + ", ".join(f"{v:.0f} MB" for v in peaks.values())
                  + f"; this process {peak_mb():.0f} MB (peak during the cluster run; {base:.0f} MB at its start)")
            if not args.skip_local:
                err = np.max(np.abs(g - g_local)) / np.max(np.abs(g_local))
                print(f"          max relative difference to the local gradient {err:.1e} (float32)")
            per_block = t_cluster / len(blocks) * args.workers
            del sums

            # ---- 2. overhead of one round trip ----------------------------------------------------
            import dask.array as da
            rng = np.random.default_rng(0)
            Xs, ys = rng.normal(size=(1000, 10)), rng.integers(0, 3, 1000)
            small = bp.MLP([10, 16, 3], seed=0)
            s_small = Sums(small, "cross_entropy", da.from_array(Xs, chunks=500), ys)
            t_rt = timed(s_small.value_grad, 20)
            t_mem = timed(lambda: bp.loss_and_grad(small, "cross_entropy", Xs, ys), 20)
            print(f"overhead  {1e3 * t_rt:.1f} ms per evaluation on the cluster (2 blocks of 500 rows) vs "
                  f"{1e3 * t_mem:.2f} ms in memory")
            print(f"scaling   per block of {args.chunk_rows} rows: {per_block:.2f} s of compute per worker; "
                  f"on N machines a gradient takes about max(blocks/N, 1) x {per_block:.2f} s + "
                  f"{1e3 * t_rt:.0f} ms")

            # ---- 3. data-parallel steps by batch size ---------------------------------------------
            n_dp = min(args.rows, 8 * 16384)
            gen = da.random.default_rng(1)                 # generated on the workers, not sent from here
            Xdp_d = gen.random((n_dp, 784), chunks=(n_dp // (2 * args.workers), 784)).astype(np.float32)
            ydp_d = gen.integers(0, 10, n_dp, chunks=n_dp // (2 * args.workers))
            s_dp = Sums(net, loss, Xdp_d, ydp_d)
            Xdp, ydp = Xdp_d[:65536].compute(), ydp_d[:65536].compute()
            for bs in (256, 2048, 16384, 65536):
                if bs > n_dp:
                    break
                sizes = s_dp.shards.sizes
                rows = [np.arange(int(round(bs * n / n_dp))) for n in sizes]
                t_dp = timed(lambda: s_dp.batch_value_grad(rows=rows), 3)
                t_one = timed(lambda: bp.loss_and_grad(net, loss, Xdp[:bs], ydp[:bs]), 3)
                print(f"step      batch {bs:>6}: data-parallel {1e3 * t_dp:8.1f} ms, one process {1e3 * t_one:8.1f} ms"
                      f"  ({t_one / t_dp:.2f}x)")
            del s_dp

            # ---- 4. trust-ncg to convergence ------------------------------------------------------
            Xg, yg = bp.datasets.digits()
            Xg = (Xg - Xg.mean(0)) / (Xg.std(0) + 1e-9)
            reg = bp.MLP([64, 10], output="softmax", seed=0)
            ce = bp.CrossEntropy(l2=1e-3)
            mem_net, far_net = reg.copy(), reg.copy()
            t = time.perf_counter()
            r_mem = bp.minimize(mem_net, ce, Xg, yg, method="trust-ncg", maxiter=100)
            t_m = time.perf_counter() - t
            t = time.perf_counter()
            r = bp.minimize(far_net, ce, da.from_array(Xg, chunks=-(-len(Xg) // 8)), yg, method="trust-ncg",
                            maxiter=100)
            t_c = time.perf_counter() - t
            print(f"trust-ncg digits softmax regression: cluster {t_c:.1f} s ({r.nit} iterations, {r.nfev_cluster} "
                  f"gradients + {r.nhvp} H v = {(r.nfev_cluster + r.nhvp)} round trips, loss {r.fun:.6f}); "
                  f"in memory {t_m:.2f} s ({r_mem.nit} iterations, loss {r_mem.fun:.6f})")
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    bp.tune_allocator()  # the benchmark owns its process: keep temporaries in the heap
    main()
