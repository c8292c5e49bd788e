"""backprop.sklearn against scikit-learn's MLP: time to fit, side by side in one run.

Both estimators get the same parameters and random_state, and run exactly the same number of epochs
(tol=0 and n_iter_no_change=inf: no early stop; lbfgs runs its max_iter iterations). Each fit is timed
``--repeat`` times, alternating the two, and the best time is kept. The "GEMM floor" column is the time
that the matrix products of the same training alone take in numpy (5 per batch for one hidden layer):
no numpy implementation of mini-batch backpropagation can go below it.

    .venv/bin/python benchmarks/bench_sklearn.py                      # full table, 1 BLAS thread, wall clock
    .venv/bin/python benchmarks/bench_sklearn.py --clock cpu          # process CPU time: for a busy machine
    .venv/bin/python benchmarks/bench_sklearn.py --quick --threads 0  # smaller, the BLAS library's threads
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from threadpoolctl import threadpool_limits

from backprop import tune_allocator
from backprop.sklearn import MLPClassifier, MLPRegressor


def datasets(quick):
    X, y = load_digits(return_X_y=True)
    yield "digits 1797x64, 10 classes", X / 16.0, y, "clf", 20 if quick else 100
    n = 5000 if quick else 20000
    X, y = make_classification(n_samples=n, n_features=100, n_informative=30, n_classes=10, random_state=0)
    yield f"synthetic {n}x100, 10 classes", X, y, "clf", 5 if quick else 20
    X, y = make_regression(n_samples=n, n_features=100, n_informative=30, noise=1.0, random_state=0)
    yield f"synthetic {n}x100, regression", X, (y - y.mean()) / y.std(), "reg", 5 if quick else 20


CLOCK = time.perf_counter


def best_of(fit, repeat):
    times, est = [], None
    for _ in range(repeat):
        t = CLOCK()
        est = fit()
        times.append(CLOCK() - t)
    return min(times), est


def gemm_floor(n, d, h, c, batch, epochs, dtype, repeat):
    """Time of the 5 matrix products per mini-batch of a d-h-c network, over ``epochs`` epochs."""
    rng = np.random.default_rng(0)
    X = rng.random((batch, d)).astype(dtype)
    W1, W2 = rng.random((h, d)).astype(dtype), rng.random((c, h)).astype(dtype)
    z1, z2 = np.empty((batch, h), dtype), np.empty((batch, c), dtype)
    g1, g2, dy = np.empty((h, d), dtype), np.empty((c, h), dtype), np.empty((batch, h), dtype)
    steps = epochs * -(-n // batch)

    def run():
        for _ in range(steps):
            np.matmul(X, W1.T, out=z1)
            np.matmul(z1, W2.T, out=z2)
            np.matmul(z2.T, z1, out=g2)
            np.matmul(z2, W2, out=dy)
            np.matmul(dy.T, X, out=g1)

    return best_of(run, repeat)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller problems and fewer epochs")
    ap.add_argument("--repeat", type=int, default=3, help="timings per fit (the best is kept)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (0: the library's default)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or this process's CPU time (steadier on a shared machine; 1 thread only)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    warnings.simplefilter("ignore", ConvergenceWarning)
    limit = threadpool_limits(args.threads) if args.threads else None

    rows = []
    print(f"BLAS threads: {args.threads or 'default'}; {args.clock} clock, best of {args.repeat}; times in seconds\n")
    header = (f"| {'problem':<32} | {'solver':<6} | {'dtype':<7} | {'epochs':>6} | {'scikit-learn':>12} | "
              f"{'backprop':>9} | {'speed-up':>8} | {'GEMM floor':>10} | {'max speed-up':>12} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, X, y, kind, epochs in datasets(args.quick):
        for solver in ("adam", "sgd", "lbfgs"):
            if solver == "lbfgs" and not name.startswith("digits"):
                continue
            for dtype in (np.float64, np.float32):
                Xd = X.astype(dtype)
                kw = dict(solver=solver, max_iter=epochs, random_state=0, tol=0.0, n_iter_no_change=np.inf,
                          max_fun=10**9)
                ours, theirs = (MLPClassifier, SkClassifier) if kind == "clf" else (MLPRegressor, SkRegressor)
                t_sk = t_bp = np.inf
                for _ in range(args.repeat):    # alternate, so that both see the same machine
                    t, sk = best_of(lambda: theirs(**kw).fit(Xd, y), 1)
                    t_sk = min(t_sk, t)
                    t, bp = best_of(lambda: ours(**kw).fit(Xd, y), 1)
                    t_bp = min(t_bp, t)
                assert sk.n_iter_ == bp.n_iter_ == epochs or solver == "lbfgs", (sk.n_iter_, bp.n_iter_)
                if solver != "lbfgs":
                    c = len(np.unique(y)) if kind == "clf" else 1
                    floor = gemm_floor(X.shape[0], X.shape[1], 100, c, 200, epochs, dtype, args.repeat)
                    fl, mx = f"{floor:10.3f}", f"{t_sk / floor:11.1f}x"
                else:
                    fl, mx = f"{'-':>10}", f"{'-':>12}"
                ep = epochs if solver != "lbfgs" else f"{sk.n_iter_}/{bp.n_iter_}"
                row = (f"| {name:<32} | {solver:<6} | {np.dtype(dtype).name:<7} | {ep:>6} | {t_sk:12.3f} | "
                       f"{t_bp:9.3f} | {t_sk / t_bp:7.2f}x | {fl} | {mx} |")
                rows.append(row)
                print(row, flush=True)
                if abs(sk.loss_ - bp.loss_) > 0.05 * abs(sk.loss_) + 1e-3:
                    print(f"    note: final losses differ: scikit-learn {sk.loss_:.5f}, backprop {bp.loss_:.5f}")
    if limit is not None:
        limit.restore_original_limits()


if __name__ == "__main__":
    tune_allocator()  # the benchmark owns its process: keep temporaries in the heap
    main()
