"""ONNX export against onnx's checker and onnxruntime: outputs equal net.predict (float32 1e-5, float64 1e-12)."""
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

import backprop as bp
from backprop.faces.exports.onnx_io import ONNX_ACTIVATIONS, MIN_OPSET
from backprop.sklearn import MLPClassifier, MLPRegressor
from interop_nets import all_networks, inputs_for, op_kinds

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TOL = {np.float64: 1e-12, np.float32: 1e-5}
EXPRESSIBLE = [(n, net, dt) for dt in TOL for n, net in all_networks(dt) if "vector_activation" not in op_kinds(net)]


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_every_activation_is_exported_and_tested():
    from backprop.ops.activations import SCALAR_NAMES
    assert set(ONNX_ACTIVATIONS) == set(SCALAR_NAMES) | {"softmax"}
    tested = set()
    for _, net, _ in EXPRESSIBLE:
        tested |= {op.act.name for op in net.ops if hasattr(op, "act")}
        tested |= {"softmax" for op in net.ops if op.op_name == "softmax"}
    assert tested == set(ONNX_ACTIVATIONS)


@pytest.mark.parametrize("name,net,dtype", EXPRESSIBLE, ids=[f"{n}-{dt.__name__}" for n, _, dt in EXPRESSIBLE])
def test_onnxruntime_equals_predict(name, net, dtype):
    model = bp.to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    X = inputs_for(net, n=11)
    if dtype == np.float64 and any(getattr(getattr(op, "act", None), "name", None) == "gelu" for op in net.ops):
        assert "Erf" in {n.op_type for n in model.graph.node}      # valid ONNX (Erf takes double) ...
        pytest.skip("onnxruntime 1.31 has no float64 Erf kernel")    # ... that onnxruntime cannot run
    out = session(model).run(["Y"], {"X": X})[0]
    assert out.dtype == dtype
    np.testing.assert_allclose(out, net.predict(X), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("opset", [MIN_OPSET, 17, 18, 21])
def test_opsets_from_13(tmp_path, opset):
    net = dict(all_networks())["special"]
    path = tmp_path / "m.onnx"
    bp.to_onnx(net, path, opset=opset)
    model = onnx.load(str(path))
    assert model.opset_import[0].version == opset
    X = inputs_for(net)
    np.testing.assert_allclose(session(model).run(None, {"X": X})[0], net.predict(X), rtol=1e-12, atol=1e-12)


def test_dense_layers_are_gemm_with_transposed_weights():
    model = bp.to_onnx(bp.MLP([3, 4, 2], hidden="tanh"))
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    assert len(gemms) == 2 and all(a.name == "transB" and a.i == 1 for n in gemms for a in n.attribute)
    assert [n.op_type for n in model.graph.node if n.op_type in ("Tanh", "Softmax")] == ["Tanh", "Softmax"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softplus_and_exp_far_out(dtype):
    net = bp.Sequential(1, [1, "softplus"], dtype=dtype)
    net.params[:] = [1.0, 0.0]
    X = np.array([[-800.0], [-50], [-1e-3], [0], [30], [50], [80]], dtype=dtype)
    out = session(bp.to_onnx(net)).run(None, {"X": X})[0]
    np.testing.assert_allclose(out, net.predict(X), rtol=TOL[dtype], atol=TOL[dtype])


def iris(kind):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if kind == "binary":
        y = (y == 2).astype(int)
    elif kind == "strings":
        y = np.array(["setosa", "versicolor", "virginica"])[y]
    elif kind == "multilabel":
        y = np.column_stack([y == 1, y == 2, X[:, 0] > 0]).astype(int)
    return X, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "strings", "multilabel"])
def test_classifier_outputs_label_and_probabilities(kind, dtype):
    X, y = iris(kind)
    clf = MLPClassifier((6,), activation="tanh", max_iter=40, random_state=0, dtype=dtype).fit(X, y)
    model = bp.to_onnx(clf)
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    assert not any(n.op_type == "ZipMap" for n in model.graph.node)
    if kind != "multilabel":
        classes = [i for i in model.graph.initializer if i.name == "classes"][0]
        assert list(onnx.numpy_helper.to_array(classes).astype(clf.classes_.dtype)) == list(clf.classes_)
    Xd = X.astype(dtype)
    label, proba = session(model).run(None, {"X": Xd})
    np.testing.assert_array_equal(label, clf.predict(Xd))
    tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(proba, clf.predict_proba(Xd), rtol=tol, atol=tol)


def test_regressor_outputs_variable():
    X, _ = iris("multiclass")
    y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2]])
    reg = MLPRegressor(hidden_layer_sizes=(5,), activation="relu", max_iter=30, random_state=0).fit(X, y)
    out = session(bp.to_onnx(reg)).run(["variable"], {"X": X})[0]
    np.testing.assert_allclose(out, reg.predict(X), rtol=1e-12, atol=1e-12)


def test_what_onnx_cannot_express_is_named():
    with pytest.raises(bp.ConfigError, match="node 2 .*user vector activation is Python code"):
        bp.to_onnx(dict(all_networks())["vector"])
    act = bp.activation("interop_onnx_cube", lambda z: z ** 3, lambda z: 3 * z ** 2)
    with pytest.raises(bp.ConfigError, match="user-defined activation 'interop_onnx_cube'"):
        bp.to_onnx(bp.MLP([2, 2, 1], hidden=act, output="identity"))
    with pytest.raises(bp.ConfigError, match="opset must be an integer in \\[13, "):
        bp.to_onnx(bp.MLP([2, 1], output="sigmoid"), opset=12)
    with pytest.raises(bp.ConfigError, match="not fitted"):
        bp.to_onnx(MLPClassifier())


@pytest.mark.parametrize("seed", range(12))
def test_random_neuron_graphs_with_special_units(seed):
    from test_neurons import random_graph
    rng = np.random.default_rng(seed)
    head = ("l2", "bce", "cross_entropy")[seed % 3]
    net = random_graph(rng, 3, 6, 2, 0.5, head, True)[0].compile(seed=seed)
    X = np.abs(rng.normal(size=(9, 3))) + 0.3          # fractional powers need positive factors
    out = session(bp.to_onnx(net, opset=(13, 17, 18)[seed % 3])).run(None, {"X": X})[0]
    np.testing.assert_allclose(out, net.predict(X), rtol=1e-12, atol=1e-12)


def test_products_of_negative_factors_with_integer_exponents():
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    p = g.product([x1, x2], name="p", exponents=[-1, 3])
    o = g.neuron("o", output=True)
    g.connect(p, o)
    net = g.compile(seed=0)
    X = np.array([[-2.0, -0.5], [3, -1.5], [-0.7, 2]])
    np.testing.assert_allclose(session(bp.to_onnx(net)).run(None, {"X": X})[0], net.predict(X), rtol=1e-12)
