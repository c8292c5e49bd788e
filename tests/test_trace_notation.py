"""Notation profiles: the same numbers under each note's symbols; CMU-style per-layer names and ``compare``."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.derivatives.notation import NOTATIONS

from test_trace import tiny_graph


def two_layer_tanh(seed=0):
    return bp.MLP([2, 3, 2], hidden="tanh", output="identity", seed=seed)


@settings(max_examples=25, deadline=None)
@given(notation=st.sampled_from(NOTATIONS), hidden=st.lists(st.integers(1, 3), min_size=0, max_size=2),
       out=st.sampled_from([("identity", 1), ("sigmoid", 2), ("softmax", 3)]), seed=st.integers(0, 999))
def test_every_notation_labels_the_same_numbers_uniquely(notation, hidden, out, seed):
    head, c = out
    net = bp.MLP([2, *hidden, c], hidden="tanh", output=head, seed=seed)
    t = 1 if head == "softmax" else np.full(c, 0.3)
    base = bp.trace(net, [0.4, -0.9], t)
    tr = bp.trace(net, [0.4, -0.9], t, notation=notation)
    assert [s.key for s in tr.steps] == [s.key for s in base.steps] == [s.quantity for s in base.steps]
    assert [s.value for s in tr.steps] == [s.value for s in base.steps]
    assert [s.numeric for s in tr.steps] == [s.numeric for s in base.steps]
    labels = [s.quantity for s in tr.steps]
    assert len(set(labels)) == len(labels), "two different quantities share a symbol"


def test_note_002_symbols_of_the_two_layer_tanh_example():
    tr = bp.trace(two_layer_tanh(), [0.5, -1.0], [0.2, 0.4], notation="002")
    q = {s.key: s for s in tr.steps}
    assert q["x(h1_1)"].quantity == "a_1^(1)" and q["y(h1_1)"].quantity == "z_1^(1)"
    assert q["x(h1_1)"].symbolic == "w_{1,1}^(1)*x_1 + w_{1,2}^(1)*x_2 + w_{1,0}^(1)"   # bias as w_j0
    assert q["y(o2)"].quantity == "y_2" and q["E"].quantity == "E_n"
    assert q["E"].symbolic == "1/2 * ((y_1 - t_1)^2 + (y_2 - t_2)^2)"
    assert q["dE/dx(h1_3)"].quantity == "delta_3^(1)"
    assert q["dE/dx(h1_3)"].symbolic == "tanh'(a_3^(1))*dE_n/dz_3^(1)"
    assert q["dE/dw(h1_2,o1)"].quantity == "dE_n/dw_{1,2}^(2)"
    assert q["dE/dw(h1_2,o1)"].symbolic == "z_2^(1)*delta_1^(2)"
    assert q["dE/db(o2)"].quantity == "dE_n/dw_{2,0}^(2)"
    assert "symbols of note 002" in str(tr)


def test_notes_000_001_003_and_cmu_symbols():
    net = two_layer_tanh()
    lab = {n: {s.key: s.quantity for s in bp.trace(net, [0.5, -1.0], [0.2, 0.4], notation=n).steps}
           for n in NOTATIONS}
    edge = "dE/dw(x2,h1_1)"            # from input 2 to hidden unit 1
    assert lab["000"][edge] == "dL/dw_{1,2}^(1)"         # w_ji: to j from i
    assert lab["001"][edge] == "dL/dW^(1)_{1,2}"
    assert lab["003"][edge] == "dDiv/dw_{2,1}^(1)"       # w_ij: from i to j
    assert lab["cmu"][edge] == "dLdW0[0,1]"              # row = unit, column = input, 0-based
    assert lab["004"][edge] == edge
    assert (lab["000"]["y(o1)"], lab["001"]["y(o1)"], lab["003"]["y(o1)"], lab["cmu"]["y(o1)"]) == \
        ("yhat_1", "h_1^(3)", "y_1^(2)", "A2[0]")
    assert (lab["000"]["dE/dx(h1_1)"], lab["001"]["dE/dx(h1_1)"], lab["cmu"]["dE/dx(h1_1)"]) == \
        ("delta_1^(1)", "delta_1^(2)", "dLdZ0[0]")
    assert (lab["000"]["E"], lab["001"]["E"], lab["003"]["E"], lab["cmu"]["E"]) == ("L", "L", "Div", "L")
    assert lab["cmu"]["dE/dy(x1)"] == "dLdA0[0]"


def test_layered_notations_refuse_a_graph_with_skips_and_unknown_names():
    g = bp.NeuronGraph()
    x1, = g.inputs("x1")
    h = g.neuron("h", "tanh")
    o = g.neuron("o", output=True)
    g.connect(x1, h, 0.5)
    g.connect(h, o, 1.0)
    g.connect(x1, o, -0.3)                          # skips a layer
    assert bp.trace(g, [1.0], 0.0).E > 0             # "004" names any graph
    with pytest.raises(bp.ConfigError, match="x1 -> o skips from layer 0 to layer 2; use notation '004'"):
        bp.trace(g, [1.0], 0.0, notation="000")
    with pytest.raises(bp.ConfigError, match="unknown notation 'cmu11'"):
        bp.trace(tiny_graph(), [1.0, 2.0], 1.0, notation="cmu11")


def student_mlp(W, b, x, t):
    """An independent implementation, as a student writes it: tanh hidden layers, identity output, l2."""
    A, Z = [np.asarray(x, float)], []
    for l in range(len(W)):
        Z.append(W[l] @ A[l] + b[l])
        A.append(np.tanh(Z[l]) if l < len(W) - 1 else Z[l])
    out = {"A0": A[0], "L": 0.5 * np.sum((A[-1] - t) ** 2)}
    for l in range(len(W)):
        out[f"Z{l}"], out[f"A{l + 1}"] = Z[l], A[l + 1]
    dA = A[-1] - t
    out[f"dLdA{len(W)}"] = dA
    for l in range(len(W) - 1, -1, -1):
        dZ = dA * (1 - A[l + 1] ** 2) if l < len(W) - 1 else dA
        out[f"dLdZ{l}"], out[f"dLdW{l}"], out[f"dLdb{l}"] = dZ, np.outer(dZ, A[l]), dZ
        dA = W[l].T @ dZ
        out[f"dLdA{l}"] = dA
    return out


def test_compare_agrees_with_an_independent_implementation_and_finds_the_first_mistake():
    net = bp.MLP([3, 4, 2, 2], hidden="tanh", output="identity", seed=3)
    x, t = np.array([0.3, -0.5, 0.8]), np.array([0.1, -0.2])
    tr = bp.trace(net, x, t, loss="l2", notation="cmu")
    W = [tr.layers()[f"W{l}"] for l in range(3)]
    b = [tr.layers()[f"b{l}"] for l in range(3)]
    np.testing.assert_array_equal(W[0], net.params[:12].reshape(4, 3))        # W (out, in) as in net.params
    theirs = student_mlp(W, b, x, t)
    result = tr.compare(theirs)
    assert result.ok and bool(result) and result.checked == [k for k in tr.layers() if k in theirs]
    # a classic mistake: forgetting f' in one layer's delta; the first quantity that differs is dLdZ0
    wrong = dict(theirs)
    wrong["dLdZ0"] = W[1].T @ theirs["dLdZ1"]
    wrong["dLdW0"] = np.outer(wrong["dLdZ0"], x)
    result = tr.compare(wrong)
    assert not result and result.first["name"] == "dLdZ0"
    assert "first difference: dLdZ0[" in str(result) and "agree: A0, Z0, A1" in str(result)
    # an earlier mistake is reported first, whatever the dictionary order
    wrong2 = {"dLdW0": wrong["dLdW0"], "Z1": theirs["Z1"] + 1e-3}
    assert tr.compare(wrong2).first["name"] == "Z1"
    # a batch axis of one is accepted; a wrong shape and an unknown name are reported
    assert tr.compare({"Z0": theirs["Z0"][None, :]}).ok
    assert "Z0 has shape (3,); expected (4,)" in str(tr.compare({"Z0": np.zeros(3)}))
    with pytest.raises(bp.ConfigError, match="no quantity named 'dLdZ7'"):
        tr.compare({"dLdZ7": 0})
    assert tr.compare({"dLdW2": theirs["dLdW2"] * (1 + 1e-9)}).ok                 # within rtol


def test_compare_accepts_attributes_like_a_student_model():
    tr = bp.trace(two_layer_tanh(), [0.5, -1.0], [0.2, 0.4])

    class Model:
        pass

    m = Model()
    m.A1 = tr.layers()["A1"]
    m.dLdA1 = tr.layers()["dLdA1"] + 1.0
    assert tr.compare(m).first["name"] == "dLdA1"


@pytest.mark.parametrize("head,c,loss", [("softmax", 3, "cross_entropy"), ("sigmoid", 2, "bce")])
def test_fused_header_note_is_written_in_each_profiles_own_symbols(head, c, loss):
    net = bp.MLP([2, 3, c], hidden="tanh", output=head, seed=1)
    t = 1 if head == "softmax" else np.full(c, 0.3)
    notes = {}
    for notation in NOTATIONS:
        text = str(bp.trace(net, [0.4, -0.9], t, loss=loss, notation=notation))
        line = next(r for r in text.splitlines() if "taken on the logit" in r)
        notes[notation] = line
        S = bp.trace(net, [0.4, -0.9], t, loss=loss, notation=notation).sym.generic_output()
        for key in ("x", "y", "t", "E", "dx"):
            assert S[key] in line, (notation, S[key], line)
        if notation != "004":
            assert "x(k)" not in line and "dE/dx" not in line, (notation, line)
    assert "dE/dx(k) = y(k) - t(k)" in notes["004"]
    assert "delta_k^(2) = yhat_k - y_k" in notes["000"]
    assert "dLdZ1[k] = A2[k] - Y[k]" in notes["cmu"]
    assert "dDiv/dz_k^(2) = y_k^(2) - d_k" in notes["003"]
