"""One gradient step (forward, loss, backward) of an MLP 784-256-128-10, relu hidden, softmax +
cross-entropy: backprop vs PyTorch's CPU eager mode, same thread count, same dtype, same weights.

    make bench            # or: .venv/bin/python benchmarks/bench_gradient.py [--threads N] [--repeat R]

Prints the median time per step of each (timed in alternating blocks) and the ratio
torch / backprop (> 1: backprop is faster).
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from threadpoolctl import threadpool_limits

import backprop as bp
from _timing import paired_median_times

SIZES = [784, 256, 128, 10]


def torch_model(net, dtype):
    import torch
    layers = []
    for k in range(len(SIZES) - 1):
        lin = torch.nn.Linear(SIZES[k], SIZES[k + 1], dtype=dtype)
        W, b = net.views(2 * k)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--batches", default="32,128,512")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    print(f"gradient step, MLP {'-'.join(map(str, SIZES))} relu/softmax + cross_entropy; "
          f"{args.threads} threads; numpy {np.__version__}, torch {torch.__version__}")
    print(f"{'dtype':<8}{'batch':>6}{'backprop ms':>14}{'torch ms':>12}{'torch/backprop':>16}{'max |dgrad|':>14}")
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=args.threads):
        for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
            net = bp.MLP(SIZES, hidden="relu", output="softmax", seed=0, dtype=dtype)
            model = torch_model(net, tdtype)
            ce = torch.nn.CrossEntropyLoss()
            for B in map(int, args.batches.split(",")):
                X = rng.normal(size=(B, SIZES[0])).astype(dtype)
                y = rng.integers(0, SIZES[-1], size=B)
                Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

                def ours():
                    return bp.loss_and_grad(net, "cross_entropy", X, y)

                def theirs():
                    for p in model.parameters():
                        p.grad = None
                    loss = ce(model(Xt), yt)
                    loss.backward()
                    return loss

                t_ours, t_torch = paired_median_times([ours, theirs], args.repeat)
                _, g = ours()
                theirs()
                gt = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
                print(f"{np.dtype(dtype).name:<8}{B:>6}{t_ours * 1e3:>14.3f}{t_torch * 1e3:>12.3f}"
                      f"{t_torch / t_ours:>16.2f}{np.abs(g - gt).max():>14.1e}")


if __name__ == "__main__":
    bp.tune_allocator()  # the benchmark owns its process: keep temporaries in the heap
    main()
