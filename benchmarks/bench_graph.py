"""One gradient step (forward, loss, backward) of a network built neuron by neuron vs the same layered
network as ``bp.MLP``: about 10,000 edges, batch 256, relu hidden units, softmax + cross-entropy.

    .venv/bin/python benchmarks/bench_graph.py [--threads N] [--repeat R] [--batch B]

Rows:
* ``graph, full layers``  the MLP built with NeuronGraph (every block complete: weights used in place)
* ``graph, 1% dropped``   the same with 1% of the edges removed (every block masked: scatter and gather)
* ``graph, skip DAG``     a random DAG with skip connections across levels and ~10,000 edges

Prints the median time per step and the ratio to the MLP's step (the target for the layered graph:
no more than 3x), and the largest gradient difference to the MLP where the networks are the same.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

import backprop as bp

SIZES = [100, 64, 48, 16]          # 6400 + 3072 + 768 = 10,240 edges


def interleaved_medians(fns, repeat, warmup=5):
    """Median time of each function, measured round-robin so that all of them see the same machine load."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def layered_graph(sizes, drop=0.0, seed=0):
    """The layered network node by node; ``drop`` removes that fraction of the edges at random."""
    rng = np.random.default_rng(seed)
    g = bp.NeuronGraph()
    prev = g.inputs(*[f"x{i + 1}" for i in range(sizes[0])])
    for k, n in enumerate(sizes[1:]):
        last = k == len(sizes) - 2
        layer = [g.neuron(f"{'o' if last else f'h{k + 1}_'}{i + 1}", "identity" if last else "relu", output=last)
                 for i in range(n)]
        for dst in layer:
            keep = rng.random(len(prev)) >= drop
            keep[rng.integers(len(prev))] = True             # every unit keeps at least one input
            for src, ok in zip(prev, keep):
                if ok:
                    g.connect(src, dst)
        if last:
            g.softmax_group(layer)
        prev = layer
    return g


def skip_dag(sizes, n_edges, seed=0):
    """Levels of the given widths; each unit reads a random subset of ALL earlier units (skips included)."""
    rng = np.random.default_rng(seed)
    g = bp.NeuronGraph()
    earlier = g.inputs(*[f"x{i + 1}" for i in range(sizes[0])])
    pairs = sum(n * (sum(sizes[:k + 1])) for k, n in enumerate(sizes[1:]))
    p = min(1.0, n_edges / pairs)
    for k, n in enumerate(sizes[1:]):
        last = k == len(sizes) - 2
        layer = [g.neuron(f"{'o' if last else f'h{k + 1}_'}{i + 1}", "identity" if last else "relu", output=last)
                 for i in range(n)]
        for dst in layer:
            keep = rng.random(len(earlier)) < p
            keep[len(earlier) - 1 - rng.integers(sizes[k])] = True    # one input from the level just below
            for src, ok in zip(earlier, keep):
                if ok:
                    g.connect(src, dst)
        if last:
            g.softmax_group(layer)
        earlier = earlier + layer
    # a unit of an earlier level that nobody reads would dangle: give it an edge to the first output
    fed = {s for s, _ in g.edges}
    for name in g.node_names:
        if name not in fed and not name.startswith("o"):
            g.connect(name, "o1")
    return g


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args(argv)
    B = args.batch
    rng = np.random.default_rng(0)
    print(f"gradient step, {'-'.join(map(str, SIZES))} relu/softmax + cross_entropy, batch {B}; "
          f"{args.threads} threads; numpy {np.__version__}")
    print(f"{'dtype':<8}{'network':<22}{'edges':>7}{'params':>8}{'ms/step':>10}{'/ MLP':>8}{'max |dgrad|':>14}")
    with threadpool_limits(limits=args.threads):
        for dtype in (np.float64, np.float32):
            X = rng.normal(size=(B, SIZES[0])).astype(dtype)
            y = rng.integers(0, SIZES[-1], size=B)
            mlp = bp.MLP(SIZES, hidden="relu", output="softmax", seed=0, dtype=dtype)
            n_mlp = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
            cases = [("graph, full layers", layered_graph(SIZES)),
                     ("graph, 1% dropped", layered_graph(SIZES, drop=0.01)),
                     ("graph, skip DAG", skip_dag(SIZES, n_mlp))]
            nets = [mlp] + [g.compile(seed=0, dtype=dtype) for _, g in cases]
            steps = [lambda net=net: bp.loss_and_grad(net, "cross_entropy", X, y) for net in nets]
            times = interleaved_medians(steps, args.repeat)
            _, g_mlp = steps[0]()
            _, g_full = steps[1]()
            for k, (name, net) in enumerate([("MLP", mlp)] + [(n, net) for (n, _), net in zip(cases, nets[1:])]):
                diff = f"{np.abs(g_full - g_mlp).max():.1e}" if k == 1 else ""
                edges = n_mlp if k == 0 else len(net.edges)
                label = np.dtype(dtype).name if k == 0 else ""
                print(f"{label:<8}{name:<22}{edges:>7}{net.n_params:>8}{times[k] * 1e3:>10.3f}"
                      f"{times[k] / times[0]:>8.2f}{diff:>14}")

if __name__ == "__main__":
    bp.tune_allocator()  # the benchmark owns its process: keep temporaries in the heap
    main()
