"""skl2onnx converts a scikit-learn Pipeline holding backprop's estimators; onnxruntime equals the Python pipeline."""
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import backprop as bp
from backprop.sklearn import MLPClassifier, MLPRegressor

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def run(onx, X):
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X})


@pytest.mark.parametrize("kind", ["multiclass", "binary", "strings"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pipeline_with_the_classifier_converts_whole(kind, dtype):
    bp.register_skl2onnx()
    X, y = load_iris(return_X_y=True)
    X = X * 3 + 1
    if kind == "binary":
        y = (y == 1).astype(int)
    elif kind == "strings":
        y = np.array(["a", "b", "c"])[y]
    pipe = make_pipeline(StandardScaler(), MLPClassifier((5,), activation="relu", max_iter=50, random_state=0,
                                                          dtype=dtype)).fit(X, y)
    onx = skl2onnx.to_onnx(pipe, initial_types=[("X", DoubleTensorType([None, 4]))],
                           options={MLPClassifier: {"zipmap": False}}, target_opset=17)
    assert not any(n.op_type == "ZipMap" for n in onx.graph.node)
    label, proba = run(onx, X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=tol, atol=tol)


def test_float_pipeline_and_regressor():
    bp.register_skl2onnx()
    X, _ = load_iris(return_X_y=True)
    y = X[:, 0] * 2 - X[:, 3]
    pipe = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(6,), activation="tanh", max_iter=50,
                                                        random_state=0)).fit(X, y)
    onx = skl2onnx.to_onnx(pipe, initial_types=[("X", DoubleTensorType([None, 4]))], target_opset=17)
    out = run(onx, X)[0]
    np.testing.assert_allclose(out.ravel(), pipe.predict(X), rtol=1e-12, atol=1e-12)
    onx32 = skl2onnx.to_onnx(pipe, initial_types=[("X", FloatTensorType([None, 4]))], target_opset=17)
    out32 = run(onx32, X.astype(np.float32))[0]
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.ravel(), pipe.predict(X), rtol=1e-4, atol=1e-4)
