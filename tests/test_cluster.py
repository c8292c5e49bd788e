"""backprop on Dask arrays: every sum over the samples equals the in-memory one, on a real 2-worker cluster."""
import functools
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.engine.objective import Objective
from helpers import targets

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from backprop import cluster  # noqa: E402

# one worker process runs every test of this module, so that one LocalCluster serves them all
pytestmark = pytest.mark.xdist_group("cluster")


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes on 127.0.0.1, no dashboard, for this module only."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, worker_dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as lc, \
            distributed.Client(lc) as c:
        c.cluster_ = lc
        yield c


def close(a, b, rtol):
    """max |a - b| <= rtol max |b|: relative to the result's scale (entries can be near 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    scale = max(np.max(np.abs(b)), 1e-300)
    err = np.max(np.abs(a - b)) / scale
    assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"


CASES = {  # loss, network sizes, hidden, output
    "cross_entropy": (bp.CrossEntropy(l2=0.01), [4, 6, 3], "tanh", "softmax"),
    "l2": (bp.L2(l2=0.003), [4, 5, 2], "sigmoid", "identity"),
    "bce": (bp.BinaryCrossEntropy(), [4, 5, 2], "tanh", "sigmoid"),
}


def problem(name, n=103, dtype=np.float64, seed=0):
    loss, sizes, hidden, output = CASES[name]
    rng = np.random.default_rng(seed)
    net = bp.MLP(sizes, hidden=hidden, output=output, seed=seed, dtype=dtype)
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    T = targets(name, n, sizes[-1], rng)
    return net, loss, X, T


def dask_pair(X, T, chunks=(30, 25, 30, 18)):
    return da.from_array(X, chunks=(chunks, X.shape[1])), da.from_array(T, chunks=(chunks,) + T.shape[1:])


def all_functions(net, loss, X, T, v):
    return {
        "loss_and_grad": bp.loss_and_grad(net, loss, X, T),
        "hvp": bp.hvp(net, loss, X, T, v),
        "gnvp": bp.gnvp(net, loss, X, T, v),
        "gauss_newton": bp.gauss_newton(net, loss, X, T),
        "gauss_newton_diag": bp.gauss_newton_diag(net, loss, X, T),
        "hessian": bp.hessian(net, loss, X, T),
        "hessian_diag": bp.hessian_diag(net, loss, X, T),
    }


# ---- every sum equals the in-memory one ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
def test_every_sum_over_a_chunked_dask_array_equals_the_in_memory_one(client, name):
    net, loss, X, T = problem(name)
    v = np.random.default_rng(1).normal(size=(net.n_params, 2))
    mem = all_functions(net, loss, X, T, v)
    on_cluster = all_functions(net, loss, *dask_pair(X, T), v)
    for key, ref in mem.items():
        if key == "loss_and_grad":
            assert on_cluster[key][0] == pytest.approx(ref[0], rel=1e-12)
            close(on_cluster[key][1], ref[1], 1e-12)
        else:
            close(on_cluster[key], ref, 1e-12)
    # the L2 term is added once: without it the sums differ by exactly lambda W
    if loss.l2:
        g0 = bp.loss_and_grad(net, type(loss)(), *dask_pair(X, T))[1]
        close(on_cluster["loss_and_grad"][1] - g0, loss.l2 * np.where(net.reg_mask, net.params, 0), 1e-10)


def test_float32_sums_equal_the_in_memory_ones_to_float32_precision(client):
    net, loss, X, T = problem("cross_entropy", dtype=np.float32)
    v = np.random.default_rng(1).normal(size=net.n_params).astype(np.float32)
    mem = all_functions(net, loss, X, T, v)
    on_cluster = all_functions(net, loss, *dask_pair(X, T), v)
    for key, ref in mem.items():
        got = on_cluster[key][1] if key == "loss_and_grad" else on_cluster[key]
        ref = ref[1] if key == "loss_and_grad" else ref
        assert got.dtype == np.float32
        close(got, ref, 1e-5)


def test_sample_weights_weigh_the_mean_over_all_blocks(client):
    net, loss, X, T = problem("cross_entropy")
    sw = np.random.default_rng(2).uniform(0, 3, size=X.shape[0])
    sw[30:55] = 0                       # the whole second block weighs nothing
    obj = Objective(net, loss, X, T, sample_weight=sw)
    g_ref = obj.gradient()
    Xd, Td = dask_pair(X, T)
    value, g = cluster.loss_and_grad(net, loss, Xd, Td, sample_weight=da.from_array(sw, chunks=20))
    assert value == pytest.approx(obj.value(), rel=1e-12)
    close(g, g_ref, 1e-12)
    V = np.random.default_rng(3).normal(size=(2, net.n_params))
    close(cluster.hvp(net, loss, Xd, Td, V.T, sample_weight=sw), obj.hvp(V).T, 1e-12)
    with pytest.raises(bp.InputError, match="not all zero"):
        cluster.loss_and_grad(net, loss, Xd, Td, sample_weight=np.zeros(X.shape[0]))
    with pytest.raises(bp.InputError, match=">= 0"):
        cluster.loss_and_grad(net, loss, Xd, Td, sample_weight=-sw)


def test_any_chunking_of_x_and_t_gives_the_same_sums(client):
    """Column chunks are merged, T is re-chunked to X's row blocks (or given in memory), DataFrames work."""
    net, loss, X, T = problem("l2")
    ref = bp.loss_and_grad(net, loss, X, T)
    Xc = da.from_array(X, chunks=(17, 2))                   # chunks along the features too
    for Tc in (T, da.from_array(T, chunks=(50, 1)), da.from_array(T, chunks=7)):
        v, g = bp.loss_and_grad(net, loss, Xc, Tc)
        assert v == pytest.approx(ref[0], rel=1e-12)
        close(g, ref[1], 1e-12)
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    Xf = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    close(bp.loss_and_grad(net, loss, Xf, T)[1], ref[1], 1e-12)


def test_bad_dask_inputs_are_refused_with_what_was_expected(client):
    net, loss, X, T = problem("l2")
    with pytest.raises(bp.InputError, match="3-D"):
        bp.loss_and_grad(net, loss, da.ones((4, 4, 2), chunks=2), T[:4])
    with pytest.raises(bp.InputError, match="columns"):
        bp.loss_and_grad(net, loss, da.ones((10, 3), chunks=5), T[:10])
    with pytest.raises(bp.InputError, match="rows"):
        bp.loss_and_grad(net, loss, da.from_array(X, chunks=20), T[:50])
    bad = X.copy()
    bad[77, 1] = np.nan
    with pytest.raises(bp.InputError, match="NaN"):      # found in its block, raised as in memory
        bp.loss_and_grad(net, loss, da.from_array(bad, chunks=20), T)
    with pytest.raises(bp.ConfigError, match="user-defined"):
        act = bp.activation("cube", lambda z: z ** 3, lambda z: 3 * z ** 2, lambda z: 6 * z)
        custom = bp.MLP([4, 3, 2], hidden=act, output="identity")
        bp.loss_and_grad(custom, "l2", da.from_array(X, chunks=20), T)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.sampled_from(sorted(CASES)), st.booleans())
def test_property_the_block_sum_is_the_in_memory_gradient_for_any_row_chunks(chunks, name, weighted):
    """Any split of the samples (uneven blocks, a single row per block), with or without sample weights,
    gives the in-memory value, gradient and H v."""
    n = sum(chunks)
    net, loss, X, T = problem(name, n=n)
    rng = np.random.default_rng(n)
    v = rng.normal(size=net.n_params)
    sw = rng.uniform(0.1, 2.0, size=n) if weighted else None
    with dask.config.set(scheduler="sync"):
        Xd, Td = dask_pair(X, T, tuple(chunks))
        value, g = cluster.loss_and_grad(net, loss, Xd, Td, sample_weight=sw)
        Hv = cluster.hvp(net, loss, Xd, Td, v, sample_weight=sw)
    obj = Objective(net, loss, X, T, sample_weight=sw)
    ref_g = obj.gradient()
    assert value == pytest.approx(obj.value(), rel=1e-12)
    close(g, ref_g, 1e-12)
    close(Hv, obj.hvp(v[None, :])[0], 1e-12)


# ---- per-sample results by blocks -----------------------------------------------------------------

def test_predict_and_jacobians_by_blocks_equal_the_in_memory_ones(client):
    net, loss, X, T = problem("cross_entropy")
    Xd = da.from_array(X, chunks=(40, 2))
    Y = net.predict(Xd)
    assert isinstance(Y, da.Array) and Y.chunks[0] == (40, 40, 23)
    close(Y.compute(), net.predict(X), 1e-12)
    close(bp.jacobian(net, Xd).compute(), bp.jacobian(net, X), 1e-12)
    close(bp.jacobian(net, Xd, wrt="params").compute(), bp.jacobian(net, X, wrt="params"), 1e-12)
    with pytest.raises(bp.ConfigError, match="wrt"):
        bp.jacobian(net, Xd, wrt="weights")


def test_gradient_check_runs_on_a_seeded_sample(client):
    net, loss, X, T = problem("cross_entropy")
    Xd, Td = dask_pair(X, T)
    report = bp.check_gradient(net, loss, Xd, Td)
    assert report.passed
    rows = cluster.blocks.sample_rows(X.shape[0], 40, seed=3)
    small = cluster.check_gradient(net, loss, Xd, Td, n_samples=40, seed=3)
    same = bp.check_gradient(net, loss, X[rows], T[rows], seed=3)
    np.testing.assert_array_equal(small.errors, same.errors)
    assert small.passed


# ---- full-batch training on the cluster ---------------------------------------------------------

def softmax_regression(n=120, seed=1):
    """A convex problem (softmax regression, L2): one optimum, reached in a few Newton steps."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X @ rng.normal(size=(3, 3))).argmax(1)
    flip = rng.random(n) < 0.2
    y[flip] = rng.integers(0, 3, flip.sum())
    return bp.MLP([3, 3], output="softmax", seed=seed), bp.CrossEntropy(l2=1e-2), X, y


def test_trust_ncg_on_the_cluster_reaches_the_in_memory_optimum(client):
    net, loss, X, y = softmax_regression()
    mem, far = net.copy(), net.copy()
    opts = {"gtol": 1e-9}
    res_mem = bp.minimize(mem, loss, X, y, method="trust-ncg", maxiter=50, options=opts)
    res = bp.minimize(far, loss, *dask_pair(X, y, (40, 40, 40)), method="trust-ncg", maxiter=50, options=opts)
    assert res.success and res_mem.success
    assert res.fun == pytest.approx(res_mem.fun, rel=1e-12)
    close(far.params, mem.params, 1e-8)
    assert np.linalg.norm(bp.loss_and_grad(far, loss, X, y)[1]) < 1e-8
    assert res.nfev_cluster <= res.nfev + res.njev                  # one round trip per evaluation


@pytest.mark.parametrize("method, maxiter", [("L-BFGS-B", 8), ("newton-cg", 3)])
def test_other_solvers_on_the_cluster_follow_the_in_memory_iterates(client, method, maxiter):
    net, loss, X, y = softmax_regression()
    mem, far = net.copy(), net.copy()
    res_mem = bp.minimize(mem, loss, X, y, method=method, maxiter=maxiter)
    res = bp.minimize(far, loss, *dask_pair(X, y, (40, 40, 40)), method=method, maxiter=maxiter)
    assert res.fun == pytest.approx(res_mem.fun, rel=1e-10)
    assert res.nit == res_mem.nit
    close(far.params, mem.params, 1e-8)


# ---- Laplace ------------------------------------------------------------------------------------

@pytest.mark.parametrize("hessian, structure", [("exact", "full"), ("gauss_newton", "diag")])
def test_laplace_from_a_dask_data_set_equals_the_in_memory_one(client, hessian, structure):
    net, loss, X, y = softmax_regression()
    bp.minimize(net, loss, X, y, maxiter=20)
    mem = bp.Laplace(net, loss, X, y, prior_precision=0.5, hessian=hessian, structure=structure)
    Xd, yd = dask_pair(X, y, (50, 50, 20))
    far = bp.Laplace(net, loss, Xd, yd, prior_precision=0.5, hessian=hessian, structure=structure)
    assert far.n_train == mem.n_train == X.shape[0]
    close(far.precision_, mem.precision_, 1e-12)
    close(far.covariance_, mem.covariance_, 1e-10)
    mean, var = far.predict(Xd, return_var=True)
    assert isinstance(mean, da.Array)
    ref_mean, ref_var = mem.predict(X, return_var=True)
    close(mean.compute(), ref_mean, 1e-10)
    close(var.compute(), ref_var, 1e-10)


# ---- mini-batch training over the blocks --------------------------------------------------------

def test_streaming_one_block_is_backprop_train_update_for_update(client):
    net, loss, X, y = softmax_regression()
    mem, far = net.copy(), net.copy()
    h_mem = bp.train(mem, loss, X, y, optimizer="adam", lr=0.05, batch_size=16, epochs=3, seed=4, verbose=False)
    h = bp.train(far, loss, da.from_array(X, chunks=-1), y, optimizer="adam", lr=0.05, batch_size=16, epochs=3,
                 seed=4, verbose=False)
    np.testing.assert_array_equal(far.params, mem.params)
    np.testing.assert_allclose(h["loss"], h_mem["loss"], rtol=1e-14)
    np.testing.assert_allclose(h["train_metric"], h_mem["train_metric"], rtol=1e-14)


@pytest.mark.parametrize("data_parallel", [False, True])
def test_seeded_training_over_many_blocks_gives_the_same_parameters_every_run(client, data_parallel):
    net, loss, X, y = softmax_regression()
    Xd, yd = dask_pair(X, y, (40, 40, 40))
    runs = []
    for seed in (7, 7, 8):
        n = net.copy()
        fit = functools.partial(cluster.train, data_parallel=True) if data_parallel else bp.train
        h = fit(n, loss, Xd, yd, optimizer="sgd", lr=0.5, batch_size=30, epochs=3, seed=seed, verbose=False)
        runs.append(n.params.copy())
        assert len(h) == 3 and h["loss"][-1] < h["loss"][0]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_data_parallel_full_batch_step_is_gradient_descent_on_the_whole_set(client):
    """batch_size=None: each data-parallel step is one step on the exact full-batch gradient."""
    net, loss, X, y = softmax_regression()
    mem, far = net.copy(), net.copy()
    for _ in range(2):
        mem.params -= 0.5 * bp.loss_and_grad(mem, loss, X, y)[1]
    cluster.train(far, loss, *dask_pair(X, y, (40, 40, 40)), optimizer="sgd", lr=0.5, batch_size=None,
                  epochs=2, data_parallel=True, tol=None)
    close(far.params, mem.params, 1e-12)


def test_training_options_that_need_memory_are_refused_before_anything_changes(client):
    net, loss, X, y = softmax_regression()
    before = net.params.copy()
    with pytest.raises(bp.ConfigError, match="validation_fraction"):
        bp.train(net, loss, da.from_array(X, chunks=40), y, validation_fraction=0.2, verbose=False)
    np.testing.assert_array_equal(net.params, before)


# ---- failures ---------------------------------------------------------------------------------------

def test_a_failing_task_is_a_clear_error_and_no_partial_sum():
    def kernel(X, T, sw):
        if X[0, 0] > 0:
            raise RuntimeError("disk gone")
        return 1
    X = np.vstack([-np.ones((3, 2)), np.ones((3, 2))])
    with dask.config.set(scheduler="sync"):
        shards = cluster.Shards(da.from_array(X, chunks=3))
        with pytest.raises(cluster.ClusterError, match="returned nothing.*disk gone"):
            shards.map(kernel, what="the test sum")


def test_a_worker_killed_mid_computation_is_retried_or_fails_never_a_partial_sum(client):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(1200, 20)), rng.integers(0, 10, 1200)
    net = bp.MLP([20, 30, 10], seed=0)
    ref = bp.hessian(net, "cross_entropy", X, y)
    out = {}

    def run():
        try:
            out["H"] = bp.hessian(net, "cross_entropy", da.from_array(X, chunks=100), y)
        except cluster.ClusterError as e:
            out["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.4)
    running = worker.is_alive()
    lc = client.cluster_
    lc.sync(lc.workers[next(iter(lc.workers))].kill)          # the process dies; its blocks are lost
    worker.join(timeout=60)
    assert not worker.is_alive()
    if "H" in out:
        close(out["H"], ref, 1e-12)                           # Dask recomputed the lost blocks
    else:
        assert "returned nothing" in str(out["error"])
    assert running, "the computation ended before the worker was killed"
    client.wait_for_workers(2, timeout=30)                    # the nanny restarts the worker


# ---- hyper-parameter search through joblib's Dask backend ------------------------------------------

def test_grid_and_randomized_search_on_the_cluster_pick_the_in_memory_best(client):
    joblib = pytest.importorskip("joblib")
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from backprop.sklearn import MLPClassifier
    net, loss, X, y = softmax_regression(n=90)
    est = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=30, random_state=0)
    grid = {"alpha": [1e-4, 3.0], "hidden_layer_sizes": [(2,), (5,)]}
    searches = [lambda: GridSearchCV(est, grid, cv=2, n_jobs=-1),
                lambda: RandomizedSearchCV(est, {"alpha": [1e-4, 1e-2, 1.0, 10.0], "activation": ["tanh", "relu"]},
                                           n_iter=3, cv=2, random_state=0, n_jobs=-1)]
    import warnings
    for make in searches:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                   # lbfgs may stop at max_iter on some folds
            mem = make().set_params(n_jobs=1).fit(X, y)
            with joblib.parallel_backend("dask"):
                far = make().fit(X, y)
        assert far.best_params_ == mem.best_params_
        assert far.best_score_ == pytest.approx(mem.best_score_, rel=1e-12)
        np.testing.assert_allclose(far.cv_results_["mean_test_score"], mem.cv_results_["mean_test_score"],
                                   rtol=1e-12)


# ---- the command line ----------------------------------------------------------------------------

def test_cli_trains_on_a_running_scheduler_and_refuses_a_bad_address(client, tmp_path, capsys):
    from backprop.faces.cli import main
    out = tmp_path / "m.npz"
    common = ["train", "--data", "moons", "--epochs", "2", "--quiet", "--seed", "3"]
    assert main(common + ["--out", str(out), "--dask", client.scheduler.address]) == 0
    assert main(common + ["--out", str(tmp_path / "ref.npz")]) == 0
    assert bp.load(out).n_params == bp.load(tmp_path / "ref.npz").n_params
    assert main(common + ["--out", str(out), "--dask", "local:x"]) == 1
    assert "local:N needs a number of workers" in capsys.readouterr().err
    assert distributed.default_client() is client               # the test's client is still the default


# ---- scikit-learn estimators on Dask data ----------------------------------------------------------

def test_estimators_full_batch_solvers_on_dask_arrays_and_dataframes_equal_the_in_memory_fit(client):
    import warnings
    from backprop.sklearn import MLPClassifier, MLPRegressor
    from sklearn.exceptions import ConvergenceWarning
    net, loss, X, y = softmax_regression()
    Xd, yd = dask_pair(X, y, (40, 40, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mem = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=6, random_state=0).fit(X, y)
        far = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=6, random_state=0).fit(Xd, yd)
    assert far.n_iter_ == mem.n_iter_
    assert far.loss_ == pytest.approx(mem.loss_, rel=1e-10)
    close(far.network_.params, mem.network_.params, 1e-8)
    np.testing.assert_array_equal(far.classes_, mem.classes_)
    t = np.sin(X[:, 0]) + X[:, 1] ** 2
    sw = np.random.default_rng(5).uniform(0.5, 2, size=len(t))
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    Xf = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        make = lambda: MLPRegressor(hidden_layer_sizes=(3,), solver="trust-ncg", max_iter=2, alpha=1e-2,  # noqa: E731
                                    random_state=0)
        mem = make().fit(X, t, sample_weight=sw)
        far = make().fit(Xf, da.from_array(t, chunks=50), sample_weight=sw)
    assert far.loss_ == pytest.approx(mem.loss_, rel=1e-10)
    close(far.predict(X), mem.predict(X), 1e-8)


def test_estimators_stream_dask_blocks_with_sgd_and_adam_reproducibly(client):
    import warnings
    from backprop.sklearn import MLPClassifier
    from sklearn.exceptions import ConvergenceWarning
    net, loss, X, y = softmax_regression()
    make = lambda: MLPClassifier(hidden_layer_sizes=(4,), solver="adam", max_iter=4, random_state=0)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one_mem = make().fit(X[:40], y[:40])                    # a single block: the in-memory fit exactly
        one = make().fit(da.from_array(X[:40], chunks=-1), y[:40])
        runs = [make().fit(*dask_pair(X, y, (40, 40, 40))) for _ in range(2)]
    np.testing.assert_array_equal(one.network_.params, one_mem.network_.params)
    np.testing.assert_allclose(one.loss_curve_, one_mem.loss_curve_, rtol=1e-14)
    np.testing.assert_array_equal(runs[0].network_.params, runs[1].network_.params)
    assert runs[0].n_iter_ == 4 and len(runs[0].loss_curve_) == 4
    pf = MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", random_state=0)
    pf.partial_fit(*dask_pair(X, y, (40, 40, 40)), classes=np.arange(3))
    before = pf.network_.params.copy()
    pf.partial_fit(*dask_pair(X, y, (40, 40, 40)))
    assert not np.array_equal(before, pf.network_.params) and np.isfinite(pf.loss_)
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier(solver="sgd").partial_fit(*dask_pair(X, y, (40, 40, 40)))
    refused = MLPClassifier(solver="adam", early_stopping=True)
    with pytest.raises(ValueError, match="early_stopping"):
        refused.fit(*dask_pair(X, y, (40, 40, 40)))
    assert "network_" not in refused.__dict__


def test_in_memory_calls_never_import_dask():
    import subprocess
    import sys
    code = ("import sys, numpy as np, backprop as bp\n"
            "net = bp.MLP([2, 3, 1], output='identity')\n"
            "bp.loss_and_grad(net, 'l2', np.ones((4, 2)), np.ones((4, 1)))\n"
            "bp.train(net, 'l2', np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=False)\n"
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules, 'dask was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
