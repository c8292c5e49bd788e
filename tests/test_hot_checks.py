"""The cheap paths of the hot entry points give what the full paths give: the same arrays, the same errors,
the same numbers bitwise."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.engine.objective import Objective
from backprop.ops.elementwise import Elementwise
from backprop.ops.softmax import Softmax
from backprop.validation import check_X


def _outcome(f):
    try:
        return "ok", f()
    except ValueError as e:
        return type(e).__name__, str(e)


@settings(max_examples=60, deadline=None)
@given(B=st.integers(0, 4), cols=st.integers(1, 4), n=st.integers(2, 3),
       dtype=st.sampled_from([np.float64, np.float32, np.int64]),
       want=st.sampled_from([np.float64, np.float32]), order=st.sampled_from(["C", "F"]),
       bad=st.sampled_from([None, np.nan, np.inf, -np.inf, 1e300]), seed=st.integers(0, 5))
def test_check_X_of_an_array_is_check_X_of_the_same_numbers_given_as_a_list(B, cols, n, dtype, want, order,
                                                                             bad, seed):
    # an ndarray may take the cheap path; a list of the same numbers always takes the full one
    rng = np.random.default_rng(seed)
    X = np.asarray(rng.normal(size=(B, cols)) * 3, dtype=dtype, order=order)
    if bad is not None and B and np.dtype(dtype).kind == "f":
        with np.errstate(over="ignore"):                     # 1e300 is inf in float32
            X[rng.integers(B), rng.integers(cols)] = bad
    kind, got = _outcome(lambda: check_X(X, n, want))
    kind0, ref = _outcome(lambda: check_X(X.tolist() if B else np.empty((0, cols)).tolist(), n, want))
    if not B:                      # an empty list has no columns: only the kind of error is compared
        assert kind == kind0 == "InputError"
        return
    assert kind == kind0
    if kind == "ok":
        assert got.dtype == want and got.flags.c_contiguous and np.array_equal(got, ref)
        assert (got is X) == (X.dtype == want and X.flags.c_contiguous)   # never a needless copy
    else:
        assert got == ref


@settings(max_examples=20, deadline=None)
@given(hidden=st.sampled_from(["tanh", "sigmoid", "relu"]), loss=st.sampled_from(["cross_entropy", "l2", "bce"]),
       B=st.integers(1, 7), dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 3))
def test_one_direction_hvps_on_the_plan_are_bitwise_those_without_and_the_callers_own(hidden, loss, B, dtype,
                                                                                      seed):
    out = {"cross_entropy": "softmax", "l2": "identity", "bce": "sigmoid"}[loss]
    net = bp.MLP([3, 5, 2], hidden=hidden, output=out, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    X, T = rng.normal(size=(B, 3)), bp.get_loss(loss).make_targets(rng, B, 2)
    vs = rng.normal(size=(2, net.n_params))
    results = []
    for v in vs:
        for _ in range(2):                                   # the second call runs on the cached plan
            Hv = bp.hvp(net, loss, X, T, v)
            ref = Objective(net, loss, X, T).hvp(v.astype(dtype)[None, :])[0]
            assert Hv.shape == (net.n_params,) and np.array_equal(Hv, ref)
            results.append((Hv, Hv.copy()))
    for Hv, kept in results:                                 # no result is overwritten by a later call
        assert np.array_equal(Hv, kept)
    g_name = bp.loss_and_grad(net, loss, X, T)
    g_loss = bp.loss_and_grad(net, bp.get_loss(loss), X, T)
    assert g_name[0] == g_loss[0] and np.array_equal(g_name[1], g_loss[1])


def test_a_loss_by_name_follows_a_change_of_the_output_op():
    # the head of "cross_entropy" is the fused one on a softmax output, the plain one on another output
    net = bp.MLP([3, 4, 3], hidden="tanh", output="softmax", seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)
    fused = bp.loss_and_grad(net, "cross_entropy", X, y)
    net.ops[-1] = Elementwise(3, "sigmoid")
    plain = bp.loss_and_grad(net, "cross_entropy", X, y)
    obj = Objective(net, "cross_entropy", X, y)
    assert plain[0] == obj.value() and np.array_equal(plain[1], obj.gradient())
    assert plain[0] != fused[0]
    net.ops[-1] = Softmax(3)
    again = bp.loss_and_grad(net, "cross_entropy", X, y)
    assert again[0] == fused[0] and np.array_equal(again[1], fused[1])


@pytest.mark.parametrize("labels, message", [(np.array([0, 1, 3, 0, 1]), "class labels must lie in [0, 2]"),
                                             (np.array([0, -1, 2, 0, 1]), "class labels must lie in [0, 2]")])
def test_labels_out_of_range_are_refused_on_the_cheap_path(labels, message):
    net = bp.MLP([3, 4, 3], output="softmax", seed=0)
    X = np.random.default_rng(0).normal(size=(5, 3))
    before = net.params.copy()
    with pytest.raises(bp.errors.InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        bp.loss_and_grad(net, "cross_entropy", X, labels)
    assert np.array_equal(net.params, before)
