"""The hot path side by side: epochs, gradient steps, gradients, HVPs, Hessians and estimator fits of
backprop against a plain NumPy loop, PyTorch eager, JAX jit and scikit-learn, in one process, with the
targets of issue 12 and their PASS/MISS.

    make bench                                        # installs torch, then runs this script
    .venv/bin/python benchmarks/bench_hotpath.py [--quick] [--rows train,step,...] [--threads 2]

JAX is optional and used by the benchmarks only (never by the library); to include it:

    .venv/bin/python -m pip install jax==0.10.2 jaxlib==0.10.2

Rows (``--rows``, comma-separated; default all):

* ``train``    ``bp.train`` epochs of a 784-256-128-10 relu MLP, softmax + cross-entropy, SGD with
               classical momentum (lr 0.01, mu 0.9), shuffled, f32 and f64, batch 32 / 128 / 512, on
               60,000 samples of synthetic data of MNIST's shape (pixels uniform in [0, 1), random
               labels 0-9: the time does not depend on the values), vs the NumPy loop and torch eager:
               samples/s per epoch of a 3-epoch run (the epoch times the run records), and apart
               from it the fixed cost of a call (its data checks and the two whole-set forward
               passes of the start and end losses).
* ``step``     one gradient step (forward, loss, backward) of the same network, same batches and dtypes.
* ``grad``     ``loss_and_grad``, tanh hidden, f64: 10-20-3 (W = 283) at batch 64, [32,512,512,10] and
               [32,1024,1024,10] at batch 128.
* ``hvp``      ``hvp`` (one vector) vs ``loss_and_grad`` of the same network, tanh, batch 64, f64, at
               W = 283 / 2,685 / 6,130 ([10,20,3], [20,40,40,5], [30,60,60,10]).
* ``hessian``  ``hessian`` at the same three networks vs ``torch.func.hessian`` and ``jax.hessian``.
* ``fit``      ``backprop.sklearn.MLPClassifier.fit`` vs scikit-learn's ``MLPClassifier.fit``, the same
               parameters (hidden (100,), relu, solver 'sgd' with Nesterov momentum 0.9, batch 200,
               the same epochs: tol=0, no early stop), synthetic 20,000 x 100, 10 classes, f64 and f32,
               and the GEMM floor: the 5 matrix products per batch that such a fit needs, alone, in NumPy.
               (solver 'sgd' because both estimators then compute the same numbers, which is checked.)

The peers:

* ``numpy``    the arithmetic alone, written here: one flat parameter vector with per-layer views,
               every buffer preallocated, in-place ufuncs with ``out=`` everywhere.
* ``torch``    PyTorch eager: ``nn.Sequential`` + ``optim.SGD`` for epochs and steps, autograd on the
               flat parameter vector for the rest (``torch.func`` for the Hessian).
* ``jax``      ``jax.jit`` of ``value_and_grad`` / ``jvp`` of ``grad`` / ``hessian``, when installed;
               its compile time (the first call) is printed separately.

Before any timing, every peer is checked to compute what backprop computes: the loss and the gradient
(HVP, Hessian, parameters and mean loss after an epoch, coefficients after a fit) to 1e-10 in float64
and 1e-4 in float32, relative to the size of the result; a peer that disagrees stops the run. (The
one exception: scikit-learn's float32 ``loss_`` is not compared, because its log-loss clips
probabilities below float32's eps; its coefficients are.)

All libraries get the same BLAS thread count (threadpoolctl for NumPy, ``torch.set_num_threads``;
XLA is limited to one thread only for ``--threads 1``). The script first waits for the 1-minute load
average to drop below ``--max-load`` (up to ``--idle-timeout`` seconds, with a warning if it never
does). Times are medians of repeated calls, the libraries alternating in blocks (``_timing.py``).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import backprop as bp
from _timing import paired_median_times, wait_for_idle

ROWS = ("train", "step", "grad", "hvp", "hessian", "fit")
MNIST = [784, 256, 128, 10]
LR, MU = 0.01, 0.9
TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
HVP_SIZES = [[10, 20, 3], [20, 40, 40, 5], [30, 60, 60, 10]]


# ---------------------------------------------------------------------------------------------------
# the reference: the arithmetic alone, in NumPy
# ---------------------------------------------------------------------------------------------------

class NumpyMLP:
    """A chain of dense layers (hidden ``relu`` or ``tanh``, softmax + mean cross-entropy at the top)
    computed with nothing but the arithmetic: one flat parameter vector in backprop's layout (per
    layer W (out, in) row-major, then b), views into it, and every buffer allocated once for batches
    of up to ``batch`` samples.

    Parameters
    ----------
    sizes : list of int
    hidden : {"relu", "tanh"}
    params : ndarray
        Initial parameters (copied), e.g. ``net.params`` of the backprop network.
    batch : int
        Largest batch; smaller batches use the leading rows of every buffer.
    """

    def __init__(self, sizes, hidden, params, batch):
        if hidden not in ("relu", "tanh"):
            raise ValueError(f"hidden must be 'relu' or 'tanh'; got {hidden!r}")
        self.sizes, self.hidden, self.batch = list(sizes), hidden, int(batch)
        dtype = np.asarray(params).dtype
        self.dtype = dtype
        self.params = np.array(params, dtype=dtype)            # own copy, contiguous
        self.grad = np.empty_like(self.params)
        self.velocity = np.zeros_like(self.params)
        self.scratch = np.empty_like(self.params)
        self.W, self.b, self.gW, self.gb = [], [], [], []
        off = 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            for flat, Ws, bs in ((self.params, self.W, self.b), (self.grad, self.gW, self.gb)):
                Ws.append(flat[off:off + n_out * n_in].reshape(n_out, n_in))
                bs.append(flat[off + n_out * n_in:off + n_out * n_in + n_out])
            off += n_out * n_in + n_out
        B = self.batch
        # a[k]: output of layer k (k = 1..L), logits for the last one; dy[k]: dLoss/da[k] for hidden k
        self.a = [None] + [np.empty((B, n), dtype) for n in sizes[1:]]
        self.dy = [None] + [np.empty((B, n), dtype) for n in sizes[1:-1]]
        self.fprime = [None] + [np.empty((B, n), dtype if hidden == "tanh" else bool) for n in sizes[1:-1]]
        self.e = np.empty((B, sizes[-1]), dtype)               # softmax, then dLoss/dlogits
        self.col = np.empty((B, 1), dtype)                     # row max, then row sums
        self.logsum = np.empty((B, 1), dtype)
        self.rows = np.arange(B)
        self.Xp = self.yp = None

    def loss_and_grad(self, X, y):
        """Mean cross-entropy of the batch (X, integer labels y) and its gradient (``self.grad``)."""
        n = X.shape[0]
        L = len(self.sizes) - 1
        a = [X] + [buf[:n] for buf in self.a[1:]]
        relu = self.hidden == "relu"
        # forward: a_k = f(a_{k-1} W_k^T + b_k), in place
        for k in range(1, L + 1):
            np.matmul(a[k - 1], self.W[k - 1].T, out=a[k])
            a[k] += self.b[k - 1]
            if k < L:
                if relu:
                    np.maximum(a[k], 0, out=a[k])
                else:
                    np.tanh(a[k], out=a[k])
        # softmax + cross-entropy on the logits z = a_L: Loss = mean(log sum e^(z - m) - (z - m)_y)
        z, e, col, logsum, rows = a[L], self.e[:n], self.col[:n], self.logsum[:n], self.rows[:n]
        np.max(z, axis=1, keepdims=True, out=col)
        np.subtract(z, col, out=z)
        np.exp(z, out=e)
        np.sum(e, axis=1, keepdims=True, out=col)
        np.log(col, out=logsum)
        value = (float(logsum.sum()) - float(z[rows, y].sum())) / n
        # delta_L = (softmax - onehot) / n
        np.divide(e, col, out=e)
        e[rows, y] -= 1
        e *= 1.0 / n
        delta = e
        # backward: dW_k = delta_k^T a_{k-1}, db_k = sum delta_k, delta_{k-1} = (delta_k W_k) * f'(z_{k-1})
        for k in range(L, 0, -1):
            np.matmul(delta.T, a[k - 1], out=self.gW[k - 1])
            np.sum(delta, axis=0, out=self.gb[k - 1])
            if k > 1:
                dy, fp = self.dy[k - 1][:n], self.fprime[k - 1][:n]
                np.matmul(delta, self.W[k - 1], out=dy)
                if relu:
                    np.greater(a[k - 1], 0, out=fp)
                else:
                    np.multiply(a[k - 1], a[k - 1], out=fp)
                    np.subtract(1, fp, out=fp)
                np.multiply(dy, fp, out=dy)
                delta = dy
        return value, self.grad

    def reserve(self, X, y):
        """Allocate (and touch) the buffer of the shuffled training set once, for data like (X, y)."""
        if self.Xp is None or self.Xp.shape != X.shape or self.Xp.dtype != X.dtype:
            self.Xp, self.yp = np.zeros_like(X), np.zeros_like(y)
            self.Xp.fill(0)

    def epoch(self, X, y, perm, lr=LR, mu=MU):
        """One epoch of SGD with classical momentum over the samples in the order ``perm``: Delta <- mu
        Delta + g, W <- W - lr Delta (backprop's and torch's rule). Returns the mean loss of the batches,
        each taken before its update."""
        n = X.shape[0]
        self.reserve(X, y)
        np.take(X, perm, axis=0, out=self.Xp)
        np.take(y, perm, out=self.yp)
        total = 0.0
        for s in range(0, n, self.batch):
            xb, yb = self.Xp[s:s + self.batch], self.yp[s:s + self.batch]
            value, g = self.loss_and_grad(xb, yb)
            total += value * xb.shape[0]
            self.velocity *= mu
            self.velocity += g
            np.multiply(self.velocity, lr, out=self.scratch)
            self.params -= self.scratch
        return total / n


def gemm_floor_fn(n, sizes, batch, epochs, dtype):
    """The matrix products alone of ``epochs`` epochs of mini-batch training of a ``sizes`` network:
    per batch one product forward per layer, and dW_k, delta_k W_k (not for the first layer) backward."""
    rng = np.random.default_rng(0)
    X = rng.random((batch, sizes[0])).astype(dtype)
    Ws = [rng.random((o, i)).astype(dtype) for i, o in zip(sizes[:-1], sizes[1:])]
    gWs = [np.empty_like(W) for W in Ws]
    a = [X] + [np.empty((batch, o), dtype) for o in sizes[1:]]
    d = [None] + [np.empty((batch, o), dtype) for o in sizes[1:]]
    cuts = [(s, min(s + batch, n) - s) for s in range(0, n, batch)]
    L = len(Ws)

    def run():
        for _ in range(epochs):
            for _, m in cuts:
                for k in range(L):
                    np.matmul(a[k][:m], Ws[k].T, out=a[k + 1][:m])
                for k in range(L, 0, -1):
                    delta = a[L][:m] if k == L else d[k][:m]
                    np.matmul(delta.T, a[k - 1][:m], out=gWs[k - 1])
                    if k > 1:
                        np.matmul(delta, Ws[k - 1], out=d[k - 1][:m])
    return run


# ---------------------------------------------------------------------------------------------------
# the peers: torch and jax, on backprop's parameters
# ---------------------------------------------------------------------------------------------------

def flat_layers(sizes):
    """(W slice, W shape, b slice) per layer of the flat parameter layout."""
    out, off = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        w_end = off + n_out * n_in
        out.append((slice(off, w_end), (n_out, n_in), slice(w_end, w_end + n_out)))
        off += n_out * n_in + n_out
    return out


def torch_flat_loss(sizes, hidden):
    """E(theta, X, y): mean cross-entropy of the MLP with flat parameters theta (backprop's layout)."""
    import torch
    act = torch.relu if hidden == "relu" else torch.tanh
    layers = flat_layers(sizes)

    def E(theta, X, y):
        h = X
        for k, (ws, shape, bs) in enumerate(layers):
            h = torch.addmm(theta[bs], h, theta[ws].view(shape).T)
            if k < len(layers) - 1:
                h = act(h)
        return torch.nn.functional.cross_entropy(h, y)
    return E


def torch_sequential(sizes, hidden, params):
    """nn.Sequential of Linear layers holding ``params`` (backprop's layout)."""
    import torch
    tdtype = torch.float32 if params.dtype == np.float32 else torch.float64
    mods = []
    for k, (ws, shape, bs) in enumerate(flat_layers(sizes)):
        lin = torch.nn.Linear(shape[1], shape[0], dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[ws].reshape(shape).copy()))
            lin.bias.copy_(torch.from_numpy(params[bs].copy()))
        mods.append(lin)
        if k < len(sizes) - 2:
            mods.append(torch.nn.ReLU() if hidden == "relu" else torch.nn.Tanh())
    return torch.nn.Sequential(*mods)


def torch_flat_params(model):
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


def torch_flat_grad(model):
    return np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])


def torch_step_fn(model, X, y):
    import torch
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    ce = torch.nn.CrossEntropyLoss()

    def step():
        for p in model.parameters():
            p.grad = None
        loss = ce(model(Xt), yt)
        loss.backward()
        return loss
    return step


def torch_epoch_fn(model, X, y, batch, lr=LR, mu=MU):
    """Returns epoch(perm): one epoch of torch's SGD with momentum (buf <- mu buf + g, w <- w - lr buf)."""
    import torch
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mu)
    ce = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch(perm):
        p = torch.from_numpy(perm)
        Xp, yp = Xt[p], yt[p]
        total = 0.0
        for s in range(0, len(Xp), batch):
            opt.zero_grad()
            xb, yb = Xp[s:s + batch], yp[s:s + batch]
            loss = ce(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        return total / len(Xp)
    return epoch


_JAX = None


def jax_module(threads):
    """jax with float64 enabled, or None when it is not installed."""
    global _JAX
    if _JAX is None:
        if threads == 1:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                       + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
        try:
            import jax
        except ImportError:
            _JAX = False
        else:
            jax.config.update("jax_enable_x64", True)
            jax.config.update("jax_platforms", "cpu")
            _JAX = jax
    return _JAX or None


def jax_flat_loss(jax, sizes, hidden):
    jnp = jax.numpy
    act = jax.nn.relu if hidden == "relu" else jnp.tanh
    layers = flat_layers(sizes)

    def E(theta, X, y):
        h = X
        for k, (ws, shape, bs) in enumerate(layers):
            h = h @ theta[ws].reshape(shape).T + theta[bs]
            if k < len(layers) - 1:
                h = act(h)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
    return E


def compiled(fn, *args):
    """(fn, seconds of its first call: compile + one run)."""
    t0 = time.perf_counter()
    _block(fn(*args))
    return fn, time.perf_counter() - t0


def _block(out):
    for leaf in (out if isinstance(out, tuple) else (out,)):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    return out


# ---------------------------------------------------------------------------------------------------
# checks: every peer computes what backprop computes
# ---------------------------------------------------------------------------------------------------

def assert_close(what, ours, theirs, dtype):
    """Raise AssertionError unless max |ours - theirs| <= tol(dtype) * max(1, max |ours|)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        raise AssertionError(f"{what}: shapes differ, {ours.shape} vs {theirs.shape}")
    tol = TOL[np.dtype(dtype)]
    scale = max(1.0, float(np.abs(ours).max(initial=0.0)))
    diff = float(np.abs(ours - theirs).max(initial=0.0))
    if not diff <= tol * scale:
        raise AssertionError(f"{what}: max |difference| {diff:.3e} > {tol:g} x {scale:.3g} ({np.dtype(dtype).name})")
    return diff


def bp_shuffle_orders(n, epochs, seed=0):
    """The permutations ``bp.train(..., seed=seed)`` draws, one per epoch (so every peer sees the same batches)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    return [rng.permutation(n) for _ in range(epochs)]


def bp_train(net, X, y, batch, epochs, seed=0):
    return bp.train(net, "cross_entropy", X, y, optimizer="momentum", lr=LR, momentum=MU, batch_size=batch,
                    epochs=epochs, seed=seed, tol=None, verbose=False)


def check_gradient(sizes, hidden, dtype, batch, seed=0, torch=False, jax=None):
    """loss and gradient of backprop, the NumPy loop (and torch, jax) at one batch; returns max diffs."""
    rng = np.random.default_rng(seed)
    net = bp.MLP(sizes, hidden=hidden, output="softmax", seed=seed, dtype=dtype)
    X = rng.normal(size=(batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch)
    value, g = bp.loss_and_grad(net, "cross_entropy", X, y)
    diffs = {}
    ref = NumpyMLP(sizes, hidden, net.params, batch)
    v_np, g_np = ref.loss_and_grad(X, y)
    diffs["numpy"] = max(assert_close("numpy loss", value, v_np, dtype), assert_close("numpy gradient", g, g_np, dtype))
    if torch:
        model = torch_sequential(sizes, hidden, net.params)
        loss = torch_step_fn(model, X, y)()
        diffs["torch"] = max(assert_close("torch loss", value, loss.item(), dtype),
                             assert_close("torch gradient", g, torch_flat_grad(model), dtype))
    if jax is not None:
        f = jax.jit(jax.value_and_grad(jax_flat_loss(jax, sizes, hidden)))
        vj, gj = f(jax.numpy.asarray(net.params), jax.numpy.asarray(X), jax.numpy.asarray(y))
        diffs["jax"] = max(assert_close("jax loss", value, float(vj), dtype),
                           assert_close("jax gradient", g, np.asarray(gj), dtype))
    return diffs


def check_epoch(sizes, hidden, dtype, n, batch, epochs=1, seed=0, torch=False):
    """Parameters and mean loss after ``epochs`` of ``bp.train`` vs the NumPy loop (and torch), same batches."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=n)
    net = bp.MLP(sizes, hidden=hidden, output="softmax", seed=seed, dtype=dtype)
    start = net.params.copy()
    hist = bp_train(net, X, y, batch, epochs, seed=seed)
    orders = bp_shuffle_orders(n, epochs, seed)
    diffs = {}
    ref = NumpyMLP(sizes, hidden, start, batch)
    losses = [ref.epoch(X, y, perm) for perm in orders]
    diffs["numpy"] = max(assert_close("numpy parameters after training", net.params, ref.params, dtype),
                         assert_close("numpy epoch loss", hist.records[-1]["loss"], losses[-1], dtype))
    if torch:
        model = torch_sequential(sizes, hidden, start)
        epoch = torch_epoch_fn(model, X, y, batch)
        losses = [epoch(perm) for perm in orders]
        diffs["torch"] = max(assert_close("torch parameters after training", net.params, torch_flat_params(model),
                                          dtype),
                             assert_close("torch epoch loss", hist.records[-1]["loss"], losses[-1], dtype))
    return diffs


# ---------------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.targets = []      # (row, text, value, op, bound, unit)
        self.compile = []      # (what, seconds)

    def target(self, row, text, value, op, bound, unit="x"):
        self.targets.append((row, text, value, op, bound, unit))

    def print_targets(self):
        print("\n== targets (issue 12), measured in this run ==")
        if not self.targets:
            print("(none measured)")
            return 0
        width = max(len(t[1]) for t in self.targets)
        n_pass = 0
        for row, text, value, op, bound, unit in self.targets:
            if value is None or not math.isfinite(value):
                verdict, shown = "n/a ", "-"
            else:
                ok = value <= bound if op == "<=" else value >= bound
                n_pass += ok
                verdict = "PASS" if ok else "MISS"
                shown = f"{value * 1e6:.0f} us" if unit == "us" else f"{value:.2f}x"
            goal = f"{bound * 1e6:.0f} us" if unit == "us" else f"{bound:g}x"
            print(f"  {verdict}  {text:<{width}}  {shown:>10}  (target {op} {goal})")
        print(f"{n_pass} of {len(self.targets)} targets met")
        return n_pass


def fmt_time(t):
    if t >= 1:
        return f"{t:.3f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3f} ms"
    return f"{t * 1e6:.1f} us"


def ratio(t, a, b):
    """t[a] / t[b], or None when either is missing (a peer not installed)."""
    return t[a] / t[b] if a in t and b in t else None


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}"


def print_table(title, header, rows):
    print(f"\n== {title} ==")
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(f"{h:>{w}}" if i else f"{h:<{w}}" for i, (h, w) in enumerate(zip(header, widths))))
    for r in rows:
        print("  ".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(zip(r, widths))), flush=True)


# ---------------------------------------------------------------------------------------------------
# the rows
# ---------------------------------------------------------------------------------------------------

def row_train(cfg, rep, torch, jax):
    """Epoch throughput of ``bp.train`` in a run of several epochs, and the fixed cost of one call.

    One ``bp.train`` call of ``epochs`` epochs alternates with the peers' ``epochs`` epochs. Its epoch
    time is the median of the epoch times the run records itself (``history.records[k]["time"]``: the
    updates, the per-epoch snapshot and record); what the call pays once on top (checking the data, the
    whole-set start and end losses that decide whether the run diverged: two forward passes over the
    training set) is the call's time minus its epochs', printed in its own column, and the call's
    throughput with it is printed beside."""
    n, epochs, repeat = cfg.train_samples, cfg.train_epochs, cfg.train_repeat
    batches = (32, 128, 512)
    rows = []
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(0)
        X = rng.random((n, MNIST[0])).astype(dtype)
        y = rng.integers(0, MNIST[-1], size=n)
        for B in batches:
            check_epoch(MNIST, "relu", dtype, n=min(n, 8 * B), batch=B, torch=torch is not None)
            net = bp.MLP(MNIST, hidden="relu", output="softmax", seed=0, dtype=dtype)
            p0 = net.params.copy()
            orders = bp_shuffle_orders(n, epochs)
            ref = NumpyMLP(MNIST, "relu", p0, B)
            ref.reserve(X, y)
            fns, runs = {}, []

            def ours():
                np.copyto(net.params, p0)
                t0 = time.perf_counter()
                hist = bp_train(net, X, y, B, epochs)
                runs.append((time.perf_counter() - t0, [r["time"] for r in hist.records]))
            fns["backprop"] = ours

            def numpy_loop():
                np.copyto(ref.params, p0)
                ref.velocity[:] = 0
                for perm in orders:
                    ref.epoch(X, y, perm)
            fns["numpy"] = numpy_loop
            if torch is not None:
                model = torch_sequential(MNIST, "relu", p0)
                start = [p.detach().clone() for p in model.parameters()]

                def torch_loop():
                    with torch.no_grad():
                        for p, s in zip(model.parameters(), start):
                            p.copy_(s)
                    # a fresh optimiser (zero momentum buffers) each run, as bp.train starts one
                    epoch = torch_epoch_fn(model, X, y, B)
                    for perm in orders:
                        epoch(perm)
                fns["torch"] = torch_loop
            times = dict(zip(fns, paired_median_times(list(fns.values()), repeat, block=1, warm=0, pause=0.2)))
            per_epoch = {k: times[k] / epochs for k in ("numpy", "torch") if k in times}
            per_epoch["backprop"] = float(np.median([t for _, ts in runs for t in ts]))
            fixed = float(np.median([call - sum(ts) for call, ts in runs]))
            tput = {k: n / t for k, t in per_epoch.items()}
            call = n * epochs / times["backprop"]
            name = np.dtype(dtype).name
            rows.append([name, B] + [f"{tput[k] / 1e3:.1f}k" if k in tput else "-"
                                     for k in ("backprop", "numpy", "torch")]
                        + [fmt_ratio(ratio(tput, "backprop", k)) for k in ("numpy", "torch")]
                        + [f"{fixed * 1e3:.0f} ms", f"{call / 1e3:.1f}k", fmt_ratio(call / tput["numpy"])])
            what = f"train {name} batch {B}: backprop / "
            rep.target("train", what + "numpy samples/s", ratio(tput, "backprop", "numpy"), ">=", 1.0)
            if B == 32:
                rep.target("train", what + "torch samples/s", ratio(tput, "backprop", "torch"), ">=", 1.5)
    print_table(f"bp.train epochs: {'-'.join(map(str, MNIST))} relu, SGD momentum, {n} synthetic samples of MNIST's "
                f"shape, samples/s per epoch of a {epochs}-epoch run (median of {repeat} runs); 'fixed': what one "
                f"call adds (data checks, the whole-set start and end losses); 'call': the whole {epochs}-epoch "
                "call's samples/s",
                ["dtype", "batch", "backprop", "numpy", "torch", "bp/numpy", "bp/torch", "fixed", "call",
                 "call/numpy"], rows)


def _timed_row(fns, repeat, block):
    return dict(zip(fns, paired_median_times(list(fns.values()), repeat, block=block)))


def row_step(cfg, rep, torch, jax):
    rows = []
    for dtype in (np.float32, np.float64):
        for B in (32, 128, 512):
            check_gradient(MNIST, "relu", dtype, B, torch=torch is not None)
            rng = np.random.default_rng(1)
            net = bp.MLP(MNIST, hidden="relu", output="softmax", seed=0, dtype=dtype)
            X = rng.random((B, MNIST[0])).astype(dtype)
            y = rng.integers(0, MNIST[-1], size=B)
            value, g = bp.loss_and_grad(net, "cross_entropy", X, y)
            ref = NumpyMLP(MNIST, "relu", net.params, B)
            fns = {"backprop": lambda: bp.loss_and_grad(net, "cross_entropy", X, y),
                   "numpy": lambda: ref.loss_and_grad(X, y)}
            if torch is not None:
                fns["torch"] = torch_step_fn(torch_sequential(MNIST, "relu", net.params), X, y)
            comp = None
            if jax is not None:
                f = jax.jit(jax.value_and_grad(jax_flat_loss(jax, MNIST, "relu")))
                args = [jax.numpy.asarray(a) for a in (net.params, X, y)]
                f, comp = compiled(f, *args)
                rep.compile.append((f"step {np.dtype(dtype).name} batch {B}", comp))
                vj, gj = f(*args)
                assert_close("jax loss", value, float(vj), dtype)
                assert_close("jax gradient", g, np.asarray(gj), dtype)
                fns["jax"] = lambda f=f, args=args: _block(f(*args))
            t = _timed_row(fns, cfg.fast_repeat, cfg.block)
            name = np.dtype(dtype).name
            rows.append([name, B] + [fmt_time(t[k]) if k in t else "-" for k in ("backprop", "numpy", "torch", "jax")]
                        + [fmt_ratio(ratio(t, "backprop", "torch")), fmt_ratio(ratio(t, "numpy", "torch")),
                           fmt_ratio(ratio(t, "backprop", "numpy"))])
            bound = {32: 0.55, 128: 0.75, 512: 0.85}[B]
            rep.target("step", f"step {name} batch {B}: backprop / torch time",
                       ratio(t, "backprop", "torch"), "<=", bound)
    print_table(f"gradient step (forward, loss, backward): {'-'.join(map(str, MNIST))} relu, median time",
                ["dtype", "batch", "backprop", "numpy", "torch", "jax", "bp/torch", "numpy/torch", "bp/numpy"], rows)


def flat_peers(sizes, hidden, net, X, y, torch, jax, rep, what, label):
    """Timed callables of the peers for ``what`` in ("grad", "hvp", "hessian") on the flat parameters,
    and the direction v of the HVPs."""
    fns, v = {}, np.random.default_rng(2).normal(size=net.n_params)
    if torch is not None:
        fns["torch"] = _torch_flat(torch, sizes, hidden, net.params, X, y, v, what)
    if jax is not None:
        fns["jax"], comp = _jax_flat(jax, sizes, hidden, net.params, X, y, v, what)
        rep.compile.append((f"{what} {label}", comp))
    return fns, v


def _torch_flat(torch, sizes, hidden, params, X, y, v, what):
    E = torch_flat_loss(sizes, hidden)
    theta, Xt, yt, vt = (torch.from_numpy(a) for a in (params.copy(), X, y, v))
    if what == "grad":
        def grad():
            t = theta.detach().requires_grad_(True)
            E(t, Xt, yt).backward()
            return t.grad
        return grad
    if what == "hvp":
        def hvp():                      # double backward: eager torch's fastest HVP here
            t = theta.detach().requires_grad_(True)
            g, = torch.autograd.grad(E(t, Xt, yt), t, create_graph=True)
            return torch.autograd.grad(g @ vt, t)[0]
        return hvp
    return lambda: torch.func.hessian(E)(theta, Xt, yt)


def _jax_flat(jax, sizes, hidden, params, X, y, v, what):
    E = jax_flat_loss(jax, sizes, hidden)
    theta, Xj, yj, vj = (jax.numpy.asarray(a) for a in (params, X, y, v))
    if what == "grad":
        f, args = jax.jit(jax.value_and_grad(E)), (theta, Xj, yj)
    elif what == "hvp":
        f = jax.jit(lambda t, X, y, v: jax.jvp(lambda s: jax.grad(E)(s, X, y), (t,), (v,))[1])
        args = (theta, Xj, yj, vj)
    else:
        f, args = jax.jit(jax.hessian(E)), (theta, Xj, yj)
    f, comp = compiled(f, *args)
    return (lambda: _block(f(*args))), comp


def _as_np(out):
    if isinstance(out, tuple):
        out = out[1]
    return out.detach().numpy() if hasattr(out, "detach") else np.asarray(out)


def _data(sizes, batch, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, sizes[0])), rng.integers(0, sizes[-1], size=batch)


def row_grad(cfg, rep, torch, jax):
    rows = []
    for sizes, B in (([10, 20, 3], 64), ([32, 512, 512, 10], 128), ([32, 1024, 1024, 10], 128)):
        net = bp.MLP(sizes, hidden="tanh", output="softmax", seed=0)
        X, y = _data(sizes, B)
        label = f"{'-'.join(map(str, sizes))} (W={net.n_params})"
        ref = NumpyMLP(sizes, "tanh", net.params, B)
        fns = {"backprop": lambda: bp.loss_and_grad(net, "cross_entropy", X, y),
               "numpy": lambda: ref.loss_and_grad(X, y)}
        peers, _ = flat_peers(sizes, "tanh", net, X, y, torch, jax, rep, "grad", label)
        fns.update(peers)
        g = bp.loss_and_grad(net, "cross_entropy", X, y)[1]
        for k, fn in fns.items():
            assert_close(f"{k} gradient at {label}", g, _as_np(fn()), np.float64)
        small = net.n_params < 1000
        if small:
            t = _timed_row(fns, cfg.fast_repeat, cfg.block)
        else:
            t = _timed_row(fns, cfg.slow_repeat, max(1, cfg.block // 5))
        rows.append([label, B] + [fmt_time(t[k]) if k in t else "-" for k in ("backprop", "numpy", "torch", "jax")]
                    + [fmt_ratio(ratio(t, "backprop", k)) for k in ("numpy", "torch", "jax")])
        if small:
            what = f"loss_and_grad W={net.n_params} batch {B}: "
            rep.target("grad", what + "time", t["backprop"], "<=", 100e-6, "us")
            rep.target("grad", what + "backprop / jax time", ratio(t, "backprop", "jax"), "<=", 3.0)
        else:
            rep.target("grad", f"loss_and_grad {'-'.join(map(str, sizes))} batch {B}: backprop / torch time",
                       ratio(t, "backprop", "torch"), "<=", 1.0)
    print_table("loss_and_grad, tanh hidden, softmax + cross-entropy, float64, median time",
                ["network", "batch", "backprop", "numpy", "torch", "jax", "bp/numpy", "bp/torch", "bp/jax"], rows)


def row_hvp(cfg, rep, torch, jax):
    rows = []
    B = 64
    for sizes in HVP_SIZES:
        net = bp.MLP(sizes, hidden="tanh", output="softmax", seed=0)
        X, y = _data(sizes, B)
        label = f"{'-'.join(map(str, sizes))} (W={net.n_params})"
        peers, v = flat_peers(sizes, "tanh", net, X, y, torch, jax, rep, "hvp", label)
        Hv = bp.hvp(net, "cross_entropy", X, y, v)
        for k, fn in peers.items():
            assert_close(f"{k} hvp at {label}", Hv, _as_np(fn()), np.float64)
        fns = {"backprop": lambda: bp.hvp(net, "cross_entropy", X, y, v),
               "bp grad": lambda: bp.loss_and_grad(net, "cross_entropy", X, y)}
        fns.update(peers)
        t = _timed_row(fns, cfg.fast_repeat, cfg.block)
        rows.append([label] + [fmt_time(t[k]) if k in t else "-" for k in ("backprop", "bp grad", "torch", "jax")]
                    + [fmt_ratio(ratio(t, "backprop", k)) for k in ("bp grad", "torch", "jax")])
        rep.target("hvp", f"hvp W={net.n_params}: hvp / loss_and_grad time", ratio(t, "backprop", "bp grad"),
                   "<=", 2.0)
        if net.n_params < 1000:
            rep.target("hvp", f"hvp W={net.n_params}: time", t["backprop"], "<=", 150e-6, "us")
    print_table(f"hvp (one vector) vs loss_and_grad, tanh, batch {B}, float64, median time",
                ["network", "hvp", "bp grad", "torch hvp", "jax hvp", "hvp/grad", "bp/torch", "bp/jax"], rows)


def row_hessian(cfg, rep, torch, jax):
    rows = []
    B = 64
    for sizes in HVP_SIZES[:cfg.hessian_cases]:
        net = bp.MLP(sizes, hidden="tanh", output="softmax", seed=0)
        X, y = _data(sizes, B)
        W = net.n_params
        label = f"{'-'.join(map(str, sizes))} (W={W})"
        peers, _ = flat_peers(sizes, "tanh", net, X, y, torch, jax, rep, "hessian", label)
        H = bp.hessian(net, "cross_entropy", X, y)
        for k, fn in peers.items():
            assert_close(f"{k} hessian at {label}", H, _as_np(fn()), np.float64)
        fns = {"backprop": lambda: bp.hessian(net, "cross_entropy", X, y)}
        fns.update(peers)
        small = W < 1000
        t = _timed_row(fns, cfg.slow_repeat if small else cfg.hessian_repeat, max(1, cfg.block // 5) if small else 1)
        rows.append([label] + [fmt_time(t[k]) if k in t else "-" for k in ("backprop", "torch", "jax")]
                    + [fmt_ratio(ratio(t, k, "backprop")) for k in ("torch", "jax")])
        if small:
            rep.target("hessian", f"hessian W={W}: backprop / jax time", ratio(t, "backprop", "jax"), "<=", 1.0)
        else:
            rep.target("hessian", f"hessian W={W}: torch.func / backprop time", ratio(t, "torch", "backprop"),
                       ">=", 10.0)
    skipped = [str(bp.MLP(sizes, seed=0).n_params) for sizes in HVP_SIZES[cfg.hessian_cases:]]
    print_table(f"hessian, tanh, batch {B}, float64, median time"
                + (f" (--quick: W = {', '.join(skipped)} left out)" if skipped else ""),
                ["network", "backprop", "torch.func", "jax", "torch/bp", "jax/bp"], rows)


def check_fit(X, y, dtype, epochs=1):
    """Coefficients after ``epochs`` of both estimators (same settings) must agree, and in float64 the
    reported ``loss_`` too. (In float32 scikit-learn's log-loss clips probabilities to [eps, 1 - eps],
    eps = 1.2e-7, so its ``loss_`` differs wherever a probability is smaller; its gradient does not clip.)"""
    from sklearn.neural_network import MLPClassifier as SkMLP
    from backprop.sklearn import MLPClassifier
    kw = fit_settings(epochs)
    ours = MLPClassifier(**kw).fit(X, y)
    theirs = SkMLP(**kw).fit(X, y)
    diff = max(assert_close("scikit-learn coefficients after fit", a, b, dtype)
               for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_))
    if np.dtype(dtype) == np.float64:
        diff = max(diff, assert_close("scikit-learn loss_", ours.loss_, theirs.loss_, dtype))
    return diff


def fit_settings(epochs):
    return dict(hidden_layer_sizes=(100,), activation="relu", solver="sgd", batch_size=200, max_iter=epochs,
                tol=0.0, n_iter_no_change=np.inf, random_state=0)


def row_fit(cfg, rep, torch, jax):
    from sklearn.datasets import make_classification
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP
    from backprop.sklearn import MLPClassifier
    warnings.simplefilter("ignore", ConvergenceWarning)
    n, epochs = cfg.fit_samples, cfg.fit_epochs
    X, y = make_classification(n_samples=n, n_features=100, n_informative=30, n_classes=10, random_state=0)
    rows = []
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        check_fit(Xd[:2000], y[:2000], dtype)
        kw = fit_settings(epochs)
        floor = gemm_floor_fn(n, [100, 100, 10], 200, epochs, dtype)
        fns = {"backprop": lambda: MLPClassifier(**kw).fit(Xd, y), "scikit-learn": lambda: SkMLP(**kw).fit(Xd, y),
               "GEMM floor": floor}
        t = dict(zip(fns, paired_median_times(list(fns.values()), cfg.fit_repeat, block=1, warm=0, pause=0.2)))
        name = np.dtype(dtype).name
        rows.append([name, epochs] + [fmt_time(t[k]) for k in fns]
                    + [fmt_ratio(ratio(t, a, b)) for a, b in (("scikit-learn", "backprop"), ("backprop", "GEMM floor"),
                                                              ("scikit-learn", "GEMM floor"))])
        rep.target("fit", f"fit {name}: backprop / GEMM floor time", ratio(t, "backprop", "GEMM floor"), "<=", 1.5)
        rep.target("fit", f"fit {name}: scikit-learn / backprop time", ratio(t, "scikit-learn", "backprop"), ">=",
                   2.0 if dtype == np.float64 else 3.0)
    print_table(f"MLPClassifier.fit: synthetic {n} x 100, 10 classes, hidden (100,) relu, sgd (Nesterov 0.9), "
                f"batch 200, median time", ["dtype", "epochs", "backprop", "scikit-learn", "GEMM floor", "sk/bp",
                                            "bp/floor", "sk/floor"], rows)


ROW_FUNCS = {"train": row_train, "step": row_step, "grad": row_grad, "hvp": row_hvp, "hessian": row_hessian,
             "fit": row_fit}


class Config:
    def __init__(self, quick):
        self.quick = quick
        self.train_samples = 3072 if quick else 60000
        self.train_epochs = 3
        self.train_repeat = 3 if quick else 5
        self.fast_repeat = 20 if quick else 200       # timed calls of the fast functions
        self.block = 10 if quick else 25
        self.slow_repeat = 4 if quick else 30
        self.hessian_repeat = 1 if quick else 3
        self.hessian_cases = 2 if quick else 3
        self.fit_samples = 10000 if quick else 20000
        self.fit_epochs = 3 if quick else 10
        self.fit_repeat = 3


def load_average():
    """The 1-minute load average (this run's own work included), NaN where the platform has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def cpu_name():
    """The processor's model name (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_rows(text):
    rows = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROWS]
    if bad or not rows:
        raise argparse.ArgumentTypeError(f"rows must be a comma-separated subset of {','.join(ROWS)}; got {text!r}")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repeats, small epochs (about 2 minutes)")
    ap.add_argument("--rows", type=parse_rows, default=list(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads of every library (default 2)")
    ap.add_argument("--max-load", type=float, default=0.5, help="1-minute load average counted as idle")
    ap.add_argument("--idle-timeout", type=float, default=None,
                    help="seconds to wait for an idle machine (default 300, 20 with --quick)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    cfg = Config(args.quick)
    t_start = time.perf_counter()
    timeout = args.idle_timeout if args.idle_timeout is not None else (20 if args.quick else 300)
    idle = wait_for_idle(args.max_load, timeout)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("torch not installed: no torch column (pip install torch==2.13.0)")
    jax = jax_module(args.threads)
    if jax is None:
        print("jax not installed: no jax column (pip install jax==0.10.2 jaxlib==0.10.2)")
    import sklearn
    print(f"{cpu_name()}, {os.cpu_count()} cpus; {args.threads} threads per library; "
          f"python {platform.python_version()}, numpy {np.__version__}, backprop {bp.__version__}, "
          f"torch {torch.__version__ if torch else '-'}, jax {jax.__version__ if jax else '-'}, "
          f"scikit-learn {sklearn.__version__}{'; --quick' if args.quick else ''}")
    rep = Report()
    with threadpool_limits(limits=args.threads):
        for row in args.rows:
            t0 = time.perf_counter()
            ROW_FUNCS[row](cfg, rep, torch, jax)
            print(f"({row}: {time.perf_counter() - t0:.1f} s; 1-minute load average {load_average():.2f})",
                  flush=True)
    if rep.compile:
        print("\n== jax compile time (first call: trace, compile, one run) ==")
        for what, s in rep.compile:
            print(f"  {what:<40} {fmt_time(s)}")
    rep.print_targets()
    print(f"total {time.perf_counter() - t_start:.0f} s; 1-minute load average now {load_average():.2f}"
          + ("" if idle else "; the machine was busy at the start: figures are not reliable"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
