"""net.layers[k].W and .b: views of net.params by the names each op declares; writes go both ways."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.ops.masked_dense import MaskedDense


def test_layers_are_views_of_params_both_ways():
    net = bp.MLP([3, 4, 2], seed=0)
    L = net.layers
    assert len(L) == 2 and L[0].W.shape == (4, 3) and L[1].b.shape == (2,)
    assert np.shares_memory(L[0].W, net.params)
    L[0].W[1, 2] = 7.5                                       # write through the view
    assert net.params[1 * 3 + 2] == 7.5
    net.params[-1] = -3.0                                    # and back
    assert L[1].b[-1] == -3.0
    L[1].W = np.arange(8.0).reshape(2, 4)                   # assignment copies into the view
    np.testing.assert_array_equal(net.params[16:24], np.arange(8.0))
    assert net.locate(16 + 5) == "layer 2 (dense 4->2) W[1, 1]"


def test_a_failed_write_changes_nothing_and_names_the_problem():
    net = bp.MLP([3, 4, 2], seed=0)
    before = net.params.copy()
    with pytest.raises(bp.ConfigError, match=r"W of dense 3->4 must have shape \(4, 3\)"):
        net.layers[0].W = np.zeros((3, 4))
    with pytest.raises(bp.ConfigError, match="finite"):
        net.layers[0].b = [0.0, np.nan, 0.0, 0.0]
    with pytest.raises(AttributeError, match="has no parameter 'weight'"):
        net.layers[0].weight
    np.testing.assert_array_equal(net.params, before)


def test_layer_names_come_from_the_op_declaration():
    op = MaskedDense([2], 2, src=[0, 0, 0], row=[0, 1, 1], col=[0, 0, 1], bias_rows=[1])
    net = bp.Network(2, [op])
    assert op.param_names == ("w", "b") and op.regularized == (True, False)
    assert net.layers[0].w.shape == (3,) and net.layers[0].b.shape == (1,)
    assert net.locate(2) == "layer 1 (masked dense 2->2 (3 edges)) w[2]"
    np.testing.assert_array_equal(net.reg_mask, [True, True, True, False])


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4), seed=st.integers(0, 100))
def test_the_layers_tile_params_in_order(sizes, seed):
    net = bp.MLP(sizes, hidden="tanh", output="identity", seed=seed)
    flat = np.concatenate([a.ravel() for L in net.layers for a in (L.W, L.b)])
    np.testing.assert_array_equal(flat, net.params)
    assert [L.index for L in net.layers] == [j for j, _, _ in net.param_layers()]
