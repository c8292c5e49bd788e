"""The elementwise kernels of a training step: NumPy as backprop runs them, against numexpr and numba.

Would a fused-kernel library pay for itself as a dependency? This script times the elementwise work
of one training step of the networks in ``bench_hotpath.py`` three ways, each checked to give NumPy's
numbers (bitwise for the update and the ReLU rule, 1 ulp-scale for tanh and exp):

* ``momentum``  the optimiser's update of the flat parameter vector, Delta <- mu Delta + g,
                W <- W - eta Delta (four in-place NumPy passes; one fused loop in numba; two numexpr
                evaluations), for W = 235,146 (784-256-128-10) and W = 11,110 (100-100-10), first with
                the vectors in cache, then "cold": after the matrix products of one batch of the 784-256
                layer have pushed them out, as they are in a real step;
* ``relu_vjp``  delta = dy * [z >= 0] on a (B, 256) batch;
* ``tanh``      y = tanh(z) on a (B, 256) batch, float64 (slow in NumPy on some CPUs);
* ``softmax_ce`` the fused head's dE/dz = (softmax(z) - onehot) / B on (B, 10).

    .venv/bin/python benchmarks/bench_kernels.py [--threads 2]

numexpr and numba are not dependencies of backprop: install them into a scratch environment to get
their columns (``pip install numexpr numba``). Medians of repeated calls, alternating kernels.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

MU, LR = 0.9, 0.01


def median_us(fn, repeat=300, before=None):
    """Median wall time of ``fn()`` in microseconds; ``before()`` runs untimed before each call."""
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def numba_kernels(numba):
    """The fused loops, compiled once (no fastmath: the same roundings as NumPy's passes)."""
    @numba.njit(cache=False)
    def momentum(p, v, g, mu, lr):
        for i in range(p.shape[0]):
            v[i] = mu * v[i] + g[i]
            p[i] -= lr * v[i]

    @numba.njit(cache=False)
    def relu_vjp(dy, z, out):
        for i in range(dy.shape[0]):
            for j in range(dy.shape[1]):
                out[i, j] = dy[i, j] if z[i, j] >= 0 else 0.0 * dy[i, j]

    @numba.njit(cache=False)
    def tanh(z, out):
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                out[i, j] = np.tanh(z[i, j])
    return momentum, relu_vjp, tanh


def run(threads):
    ne, nb = optional("numexpr"), optional("numba")
    if ne is not None:
        ne.set_num_threads(threads)
    kernels = numba_kernels(nb) if nb is not None else None
    print(f"numpy {np.__version__}, numexpr {ne.__version__ if ne else '-'}, numba {nb.__version__ if nb else '-'}; "
          f"{threads} threads; median microseconds")
    rows = []
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for n in (235146, 11110):
            p0, v0, g = (rng.normal(size=n).astype(dtype) for _ in range(3))
            p, v, buf = p0.copy(), v0.copy(), np.empty_like(p0)
            mu, lr = dtype(MU), dtype(LR)

            def np_momentum():
                v.__imul__(mu)
                v.__iadd__(g)
                np.multiply(v, lr, out=buf)
                p.__isub__(buf)

            fns = {"numpy": np_momentum}
            if ne is not None:
                def ne_momentum():
                    ne.evaluate("mu * v + g", local_dict={"mu": mu, "v": v, "g": g}, out=v, casting="same_kind")
                    ne.evaluate("p - lr * v", local_dict={"p": p, "lr": lr, "v": v}, out=p, casting="same_kind")
                fns["numexpr"] = ne_momentum
            if kernels is not None:
                fns["numba"] = lambda: kernels[0](p, v, g, mu, lr)
            _check_momentum(fns, p, v, p0, v0)
            # cold: the matrix products of one batch of the 784-256 layer first (evicting the vectors)
            A = rng.random((128, 784)).astype(dtype)
            W = rng.random((256, 784)).astype(dtype)
            Z = np.empty((128, 256), dtype)
            gW = np.empty_like(W)

            def evict():
                np.matmul(A, W.T, out=Z)
                np.matmul(Z.T, A, out=gW)
            for state, before in (("warm", None), ("cold", evict)):
                rows.append((f"momentum W={n} {state}", np.dtype(dtype).name,
                             {k: median_us(f, before=before) for k, f in fns.items()}))
        for B in (32, 512):
            z = rng.normal(size=(B, 256)).astype(dtype)
            dy = rng.normal(size=(B, 256)).astype(dtype)
            out, fp = np.empty_like(z), np.empty_like(z)

            def np_relu():
                np.greater_equal(z, 0, out=fp)
                np.multiply(dy, fp, out=out)
            fns = {"numpy": np_relu}
            if ne is not None:
                fns["numexpr"] = lambda: ne.evaluate("where(z >= 0, dy, 0 * dy)", local_dict={"z": z, "dy": dy}, out=out,
                                                             casting="same_kind")
            if kernels is not None:
                fns["numba"] = lambda: kernels[1](dy, z, out)
            _check_same(fns, out, lambda: dy * (z >= 0), exact=True)
            rows.append((f"relu_vjp B={B}", np.dtype(dtype).name, {k: median_us(f) for k, f in fns.items()}))
            if dtype == np.float64:
                fns = {"numpy": lambda: np.tanh(z, out=out)}
                if ne is not None:
                    fns["numexpr"] = lambda: ne.evaluate("tanh(z)", local_dict={"z": z}, out=out)
                if kernels is not None:
                    fns["numba"] = lambda: kernels[2](z, out)
                _check_same(fns, out, lambda: np.tanh(z), exact=False)
                rows.append((f"tanh B={B}", "float64", {k: median_us(f) for k, f in fns.items()}))
            zs = rng.normal(size=(B, 10)).astype(dtype)
            onehot = np.eye(10, dtype=dtype)[rng.integers(0, 10, B)]
            col, e = np.empty((B, 1), dtype), np.empty_like(zs)
            inv = dtype(1.0 / B)

            def np_softmax():
                np.max(zs, axis=1, keepdims=True, out=col)
                np.subtract(zs, col, out=e)
                np.exp(e, out=e)
                np.sum(e, axis=1, keepdims=True, out=col)
                np.divide(e, col, out=e)
                e.__isub__(onehot)
                e.__imul__(inv)
            fns = {"numpy": np_softmax}
            if ne is not None:
                def ne_softmax():
                    np.max(zs, axis=1, keepdims=True, out=col)
                    ne.evaluate("exp(zs - col)", local_dict={"zs": zs, "col": col}, out=e, casting="same_kind")
                    np.sum(e, axis=1, keepdims=True, out=col)
                    ne.evaluate("(e / col - onehot) * inv", local_dict={"e": e, "col": col, "onehot": onehot, "inv": inv},
                                out=e, casting="same_kind")
                fns["numexpr"] = ne_softmax
            _check_same(fns, e, lambda: (np.exp(zs - zs.max(1, keepdims=True))
                                         / np.exp(zs - zs.max(1, keepdims=True)).sum(1, keepdims=True) - onehot) * inv,
                        exact=False)
            rows.append((f"softmax_ce B={B}", np.dtype(dtype).name, {k: median_us(f) for k, f in fns.items()}))
    libs = ["numpy", "numexpr", "numba"]
    print(f"{'kernel':<28}{'dtype':<9}" + "".join(f"{k:>10}" for k in libs) + "   best/numpy")
    for name, dt, t in rows:
        best = min(t.values())
        print(f"{name:<28}{dt:<9}" + "".join(f"{t[k]:>10.1f}" if k in t else f"{'-':>10}" for k in libs)
              + f"   {best / t['numpy']:.2f}")


def _check_momentum(fns, p, v, p0, v0):
    """Every momentum kernel gives NumPy's parameters and velocity bitwise after three updates."""
    results = {}
    for k, f in fns.items():
        np.copyto(p, p0)
        np.copyto(v, v0)
        for _ in range(3):
            f()
        results[k] = (p.copy(), v.copy())
    for k, (pk, vk) in results.items():
        if not (np.array_equal(pk, results["numpy"][0]) and np.array_equal(vk, results["numpy"][1])):
            sys.exit(f"{k}'s momentum update differs from NumPy's")


def _check_same(fns, out, reference, exact):
    ref = reference()
    for k, f in fns.items():
        f()
        same = np.array_equal(out, ref) if exact else np.allclose(out, ref, rtol=4 * np.finfo(out.dtype).eps, atol=0)
        if not same:
            sys.exit(f"{k}'s kernel differs from NumPy's")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="BLAS and numexpr threads (default 2)")
    args = ap.parse_args(argv)
    with threadpool_limits(limits=args.threads):
        run(args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
