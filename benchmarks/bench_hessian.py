"""Exact Hessian, Hessian-vector product and gradient: backprop vs PyTorch (torch.func), side by side.

MLPs with tanh hidden layers, softmax + cross-entropy, batch 64, float64, the same weights and the
same parameter layout in both (so the Hessians are compared entry by entry), the same number of
threads for numpy's BLAS and for torch.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hessian.py [--threads N] [--repeat R]

(on a machine shared with other jobs, one thread each gives the steadiest numbers; multi-threaded
BLAS calls wait for each other's threads when the cores are busy)

Columns: median time of each (ms) and the ratio torch / backprop (> 1: backprop is faster), for
  hessian   bp.hessian                      vs torch.func.hessian (forward-over-reverse, vmapped)
  hvp       bp.hvp, one vector              vs the faster of torch.func.jvp(torch.func.grad) and double backward
  gradient  bp.loss_and_grad                vs the faster of eager backward and torch.func.grad
and the peak memory traced while bp.hessian runs (tracemalloc), as a multiple of the W x W result.
"""
from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import backprop as bp

SIZES = [[10, 20, 3], [20, 40, 40, 5], [30, 60, 60, 10]]
BATCH = 64


def median_time(fn, repeat, warmup=2):
    # let the other library's idle worker threads stop spinning (OpenMP keeps them busy for a while
    # after a parallel region) before timing: otherwise they compete for the cores
    time.sleep(0.5)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def torch_loss(sizes):
    """E(theta) for a flat parameter vector in backprop's layout (per layer: W row-major, then b)."""
    import torch

    def E(theta, X, y):
        h, off = X, 0
        for k in range(len(sizes) - 1):
            n_in, n_out = sizes[k], sizes[k + 1]
            W = theta[off:off + n_out * n_in].view(n_out, n_in)
            off += n_out * n_in
            b = theta[off:off + n_out]
            off += n_out
            h = h @ W.T + b
            if k < len(sizes) - 2:
                h = torch.tanh(h)
        return torch.nn.functional.cross_entropy(h, y)
    return E


def peak_memory(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def blas_threads():
    """Threads numpy's BLAS uses (OPENBLAS_NUM_THREADS and the like are respected)."""
    counts = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return max(counts) if counts else (os.cpu_count() or 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=blas_threads(),
                    help="threads for numpy's BLAS and for torch (default: what numpy's BLAS uses)")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per entry (default: by size)")
    args = ap.parse_args(argv)
    import torch
    from torch.func import grad, hessian, jvp
    torch.set_num_threads(args.threads)
    print(f"batch {BATCH}, float64, tanh hidden, softmax + cross_entropy; {args.threads} threads for numpy's BLAS "
          f"and for torch; numpy {np.__version__}, torch {torch.__version__}")
    head = (f"{'sizes':<16}{'W':>6} {'what':<9}{'backprop ms':>12}{'torch ms':>11}{'torch/bp':>10}"
            f"{'max |diff|':>12}")
    print(head)
    print("-" * len(head))
    rng = np.random.default_rng(0)
    memory = []
    with threadpool_limits(limits=args.threads):
        for sizes in SIZES:
            net = bp.MLP(sizes, hidden="tanh", output="softmax", seed=0)
            W = net.n_params
            X = rng.normal(size=(BATCH, sizes[0]))
            y = rng.integers(0, sizes[-1], size=BATCH)
            v = rng.normal(size=W)
            E = torch_loss(sizes)
            theta = torch.from_numpy(net.params.copy())
            Xt, yt, vt = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(v)
            repeat = args.repeat or (30 if W < 1000 else 5)
            fast = args.repeat or 200

            def torch_hvp_fwd_rev():
                return jvp(lambda t: grad(E)(t, Xt, yt), (theta,), (vt,))[1]

            def torch_hvp_double_backward():
                t = theta.detach().requires_grad_(True)
                g, = torch.autograd.grad(E(t, Xt, yt), t, create_graph=True)
                return torch.autograd.grad(g @ vt, t)[0]

            def torch_grad_eager():
                t = theta.detach().requires_grad_(True)
                E(t, Xt, yt).backward()
                return t.grad

            rows = [
                ("hessian", lambda: bp.hessian(net, "cross_entropy", X, y),
                 [lambda: hessian(E)(theta, Xt, yt)], repeat),
                ("hvp", lambda: bp.hvp(net, "cross_entropy", X, y, v),
                 [torch_hvp_fwd_rev, torch_hvp_double_backward], fast),
                ("gradient", lambda: bp.loss_and_grad(net, "cross_entropy", X, y)[1],
                 [torch_grad_eager, lambda: grad(E)(theta, Xt, yt)], fast),
            ]
            for what, ours, theirs, r in rows:
                t_ours = median_time(ours, r)
                t_theirs = min(median_time(f, r) for f in theirs)
                diff = max(np.abs(ours() - f().numpy()).max() for f in theirs)
                print(f"{'-'.join(map(str, sizes)):<16}{W:>6} {what:<9}{t_ours * 1e3:>12.3f}{t_theirs * 1e3:>11.3f}"
                      f"{t_theirs / t_ours:>10.2f}{diff:>12.1e}")
            peak = peak_memory(lambda: bp.hessian(net, "cross_entropy", X, y))
            memory.append((sizes, W, peak, W * W * 8))
    print()
    print(f"{'sizes':<16}{'W':>6}{'W x W MB':>10}{'peak MB':>10}{'peak / (W x W)':>16}")
    for sizes, W, peak, result in memory:
        print(f"{'-'.join(map(str, sizes)):<16}{W:>6}{result / 2**20:>10.2f}{peak / 2**20:>10.2f}"
              f"{peak / result:>16.2f}")


if __name__ == "__main__":
    bp.tune_allocator()  # the benchmark owns its process: keep temporaries in the heap
    main()
