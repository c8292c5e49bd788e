"""skl2onnx converters for backprop's estimators, so that a scikit-learn Pipeline holding them converts whole.

``register_skl2onnx()`` registers MLPClassifier (outputs label and probabilities, like scikit-learn's
classifiers; pass ``options={MLPClassifier: {"zipmap": False}}`` to skl2onnx for a plain probability
tensor) and MLPRegressor (output variable). The graph is the one ``to_onnx`` builds, written into
skl2onnx's container; the estimator computes in its network's dtype, with a Cast where the pipeline's
tensors have the other float type.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..._optional import require
from ...errors import ConfigError
from .onnx_io import GraphWriter, check_expressible, estimator_outputs

_REGISTERED: list[bool] = []


def _writer(scope: Any, container: Any, dtype: np.dtype[Any]) -> GraphWriter:
    onnx = require("onnx", extra="onnx", feature="the skl2onnx converters")
    TensorProto = onnx.TensorProto
    numpy_helper = require("onnx.numpy_helper", extra="onnx", feature="the skl2onnx converters")

    def add_node(op_type: str, inputs: list[str], outputs: list[str], attrs: dict[str, Any]) -> None:
        container.add_node(op_type, inputs, outputs, name=scope.get_unique_operator_name(op_type), **attrs)

    def add_init(name: str, array: np.ndarray[Any, Any]) -> None:
        if array.dtype.kind in "UO":
            container.add_initializer(name, TensorProto.STRING, list(array.shape), [str(s) for s in array.ravel()])
        else:
            container.add_initializer(name, None, list(array.shape), numpy_helper.from_array(array, name))

    return GraphWriter(dtype, container.target_opset, scope.get_unique_variable_name, add_node, add_init)


def _elem_type(variable: Any) -> int:
    return variable.type.to_onnx_type().tensor_type.elem_type


def _convert(scope: Any, operator: Any, container: Any) -> None:
    helper = require("onnx.helper", extra="onnx", feature="the skl2onnx converters")
    est = operator.raw_operator
    net = est.network_
    check_expressible(net)
    if getattr(est, "_label_binarizer", None) is not None and est._label_binarizer.y_type_.startswith("multilabel"):
        raise ConfigError("the skl2onnx converter takes single-label classifiers; export a multi-label "
                          "MLPClassifier with bp.to_onnx")
    writer = _writer(scope, container, net.dtype)
    want = helper.np_dtype_to_tensor_dtype(net.dtype)
    x = operator.inputs[0].full_name
    if _elem_type(operator.inputs[0]) != want:
        x = writer.op("Cast", [x], to=want)
    values = writer.network(net, x)
    for (name, _), out in zip(estimator_outputs(writer, est, values), operator.outputs):
        elem = _elem_type(out)
        if elem in (helper.np_dtype_to_tensor_dtype(np.dtype(np.float32)),
                    helper.np_dtype_to_tensor_dtype(np.dtype(np.float64))) and elem != want:
            container.add_node("Cast", [name], [out.full_name], name=scope.get_unique_operator_name("Cast"), to=elem)
        else:
            container.add_node("Identity", [name], [out.full_name], name=scope.get_unique_operator_name("Identity"))


def _regressor_shape(operator: Any) -> None:
    """The prediction has the input's float type (as for scikit-learn's regressors) and n_outputs columns."""
    types = require("skl2onnx.common.data_types", extra="onnx", feature="the skl2onnx converters")
    DoubleTensorType, FloatTensorType = types.DoubleTensorType, types.FloatTensorType
    net = operator.raw_operator.network_
    n = operator.inputs[0].get_first_dimension()
    cls = DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) else FloatTensorType
    operator.outputs[0].type = cls([n, net.n_outputs])


def register_skl2onnx() -> None:
    """Register converters for backprop's MLPClassifier and MLPRegressor with skl2onnx (idempotent).

    Examples
    --------
    >>> import backprop as bp
    >>> import backprop.sklearn
    >>> from skl2onnx import to_onnx
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = bp.datasets.xor()
    >>> pipeline = make_pipeline(StandardScaler(), bp.sklearn.MLPClassifier((4,), solver="lbfgs")).fit(X, y)
    >>> bp.register_skl2onnx()
    >>> onx = to_onnx(pipeline, X[:1], options={bp.sklearn.MLPClassifier: {"zipmap": False}})
    >>> [o.name for o in onx.graph.output]
    ['label', 'probabilities']
    """
    if _REGISTERED:
        return
    update_registered_converter = require("skl2onnx", extra="onnx",
                                          feature="register_skl2onnx").update_registered_converter
    calculate_linear_classifier_output_shapes = require(
        "skl2onnx.common.shape_calculator", extra="onnx",
        feature="register_skl2onnx").calculate_linear_classifier_output_shapes
    from ..estimators import MLPClassifier, MLPRegressor
    update_registered_converter(MLPClassifier, "BackpropMLPClassifier", calculate_linear_classifier_output_shapes,
                                _convert, options={"zipmap": [True, False, "columns"], "nocl": [True, False]})
    update_registered_converter(MLPRegressor, "BackpropMLPRegressor", _regressor_shape, _convert)
    _REGISTERED.append(True)
