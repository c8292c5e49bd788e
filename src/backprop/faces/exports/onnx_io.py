"""ONNX export: a network (or a fitted estimator) as an ONNX graph of standard operators.

Every node of the network becomes a few ONNX nodes, node by node in graph order:

* dense ``z = x W^T + b``            Gemm(x, W, b, transB=1)
* activations                        Identity, Sigmoid, Tanh, Relu, Exp, Softmax(axis=-1); leaky relu
                                     as Where(z >= 0, z, slope z) (LeakyRelu's alpha is a 32-bit
                                     attribute), softplus as Relu(z) + Log(1 + Exp(-|z|)) (stable)
* masked dense level of a graph      Concat of its inputs, Gemm with the dense W that has zeros
                                     where no edge exists
* select                             Concat, Gather(axis=1)
* product / max units                Concat, Gather of the factors, Pow (products), Gather into a
                                     (units, K) table, Where (padding 1 / -inf), ReduceProd / ReduceMax
* segmented activations              Slice per run, the run's activation, Concat
* dropout, rrelu                     as at inference (the graph is the inference graph, whatever the
                                     network's mode): dropout the identity (Identity), rrelu the leaky
                                     ReLU of slope (lower + upper) / 2 (written as Where, like leaky relu)
* layer_norm                         LayerNormalization(axis=-1) (opset >= 17)
* batch_norm                         BatchNormalization with the running statistics: the graph computes
                                     ``net.predict``, which evaluates in evaluation mode

User-defined activations (scalar or vector) are Python code and cannot be expressed: ConfigError.
The graph runs in the network's dtype (float32 or float64). ``onnx`` is imported only when used.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ...engine.network import Network
from ..._optional import require
from ...errors import ConfigError
from ...ops.base import Op
from ...ops.dense import Dense
from ...ops.dropout import Dropout
from ...ops.gather import ColumnGather
from ...ops.elementwise import Elementwise
from ...ops.masked_dense import MaskedDense
from ...ops.maxunit import MaxUnit
from ...ops.product import Product
from ...ops.rrelu import RReLU
from ...ops.segments import Segmented
from ...ops.select import Select
from ...ops.softmax import Softmax

#: backprop activation -> ONNX operator (softplus is written out, see the module docstring)
ONNX_ACTIVATIONS = {"identity": "Identity", "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu",
                    "leaky_relu": "Where(z >= 0, z, slope * z)", "softplus": "Relu + Log(1 + Exp(-Abs))", "exp": "Exp",
                    "softmax": "Softmax", "gelu": "z/2 (1 + Erf(z / sqrt 2))",
                    "elu": "Where(z > 0, z, alpha * (Exp(min(z, 0)) - 1))", "silu": "z * Sigmoid(z)"}
#: the op kinds a graph may hold, besides dense layers and activations
ONNX_OPS = ("dense", "activation", "softmax", "masked_dense", "select", "product", "max", "segments", "dropout",
            "rrelu", "layer_norm", "batch_norm")
MIN_OPSET = 13
DEFAULT_OPSET = 17


def _onnx() -> Any:
    return require("onnx", extra="onnx", feature="to_onnx")


class GraphWriter:
    """Collects ONNX nodes and initializers; ``emit`` and ``constant`` are given by the target (a model or
    skl2onnx's container), so the same code serves ``to_onnx`` and the skl2onnx converter.

    Parameters
    ----------
    dtype : float32 or float64
        The graph's float type.
    opset : int
    unique : callable
        ``unique(hint) -> name``, a fresh value name.
    add_node : callable
        ``add_node(op_type, inputs, outputs, attrs)``.
    add_init : callable
        ``add_init(name, array)``, an initializer.

    Examples
    --------
    >>> nodes = []
    >>> w = GraphWriter(np.float64, 17, lambda hint: hint, lambda *a: nodes.append(a[:3]), lambda *a: None)
    >>> w.op("Relu", ["X"])
    'relu'
    >>> nodes
    [('Relu', ['X'], ['relu'])]
    """

    def __init__(self, dtype: DTypeLike, opset: int, unique: Callable[[str], str],
                 add_node: Callable[[str, list[str], list[str], dict[str, Any]], object],
                 add_init: Callable[[str, np.ndarray[Any, Any]], object]):
        self.dtype, self.opset = np.dtype(dtype), opset
        self._unique, self._add_node, self._add_init = unique, add_node, add_init

    def const(self, hint: str, array: ArrayLike) -> str:
        """Add an initializer holding ``array``; returns its name."""
        name = self._unique(hint)
        self._add_init(name, np.asarray(array))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, **attrs: Any) -> str:
        """Add one node ``op_type(inputs; attrs)``; returns the name of its output."""
        out = self._unique(hint or op_type.lower())
        self._add_node(op_type, list(inputs), [out], attrs)
        return out

    def reduce(self, op_type: str, x: str, axis: int) -> str:
        """A Reduce* node over ``axis`` (the axes an attribute before opset 18, an input from it)."""
        if self.opset >= 18:           # axes became an input in opset 18
            return self.op(op_type, [x, self.const("axes", np.array([axis], dtype=np.int64))], keepdims=0)
        return self.op(op_type, [x], axes=[axis], keepdims=0)

    def concat(self, xs: Sequence[str]) -> str:
        """The inputs side by side (Concat over axis 1), or the one input."""
        return xs[0] if len(xs) == 1 else self.op("Concat", xs, axis=1)

    # ---- one network node ----------------------------------------------------------------------
    def activation(self, op: Op, x: str, where: str) -> str:
        """The nodes of an activation op on ``x``; ConfigError for user-defined (Python) activations."""
        if isinstance(op, Softmax):
            return self.op("Softmax", [x], axis=-1)
        if not isinstance(op, Elementwise):
            raise ConfigError(f"ONNX cannot express {where} ({op.describe()}): a user vector activation is Python code")
        act = op.act
        if getattr(act, "user_defined", False) or act.name not in ONNX_ACTIVATIONS:
            raise ConfigError(f"ONNX cannot express {where}: the user-defined activation {act.name!r} is Python code")
        if act.name == "leaky_relu":   # written out: LeakyRelu's alpha attribute is a 32-bit float
            return self.leaky(x, act.params["slope"])
        if act.name == "softplus":     # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|)
            tail = self.op("Exp", [self.op("Neg", [self.op("Abs", [x])])])
            one = self.const("one", np.ones((), dtype=self.dtype))
            return self.op("Add", [self.op("Relu", [x]), self.op("Log", [self.op("Add", [tail, one])])])
        if act.name == "gelu":         # z/2 (1 + erf(z / sqrt 2)), written out (Gelu is opset 20)
            half = self.const("half", np.array(0.5, dtype=self.dtype))
            root = self.const("sqrt_half", np.array(np.sqrt(0.5), dtype=self.dtype))
            one = self.const("one", np.ones((), dtype=self.dtype))
            erf = self.op("Erf", [self.op("Mul", [x, root])])
            return self.op("Mul", [self.op("Mul", [x, half]), self.op("Add", [erf, one])])
        if act.name == "elu":          # written out: Elu's alpha attribute is a 32-bit float
            alpha = self.const("alpha", np.array(act.params["alpha"], dtype=self.dtype))
            zero = self.const("zero", np.zeros((), dtype=self.dtype))
            one = self.const("one", np.ones((), dtype=self.dtype))
            below = self.op("Mul", [alpha, self.op("Sub", [self.op("Exp", [self.op("Min", [x, zero])]), one])])
            return self.op("Where", [self.op("Greater", [x, zero]), x, below])
        if act.name == "silu":
            return self.op("Mul", [x, self.op("Sigmoid", [x])])
        return self.op(ONNX_ACTIVATIONS[act.name], [x])

    def leaky(self, x: str, slope: float) -> str:
        """Where(x >= 0, x, slope x): LeakyRelu with the slope in the graph's dtype (its attribute is 32-bit)."""
        a = self.const("slope", np.array(slope, dtype=self.dtype))
        zero = self.const("zero", np.zeros((), dtype=self.dtype))
        return self.op("Where", [self.op("GreaterOrEqual", [x, zero]), x, self.op("Mul", [x, a])])

    def _offsets(self, widths: Sequence[int]) -> np.ndarray[Any, np.dtype[np.int64]]:
        return np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)

    def _gathered(self, gather: ColumnGather, xs: Sequence[str]) -> str:
        """The columns a ColumnGather picks, (B, F), from the concatenated inputs."""
        flat = self._offsets(gather.in_widths)[gather.src] + gather.col
        return self.op("Gather", [self.concat(xs), self.const("cols", flat.astype(np.int64))], axis=1)

    def _padded(self, op: Product | MaxUnit, V: str, fill: float) -> str:
        """(B, F) factor values -> (B, units, K) table, padding slots (op.table < 0) set to ``fill``."""
        table = np.where(op.mask, op.table, 0).astype(np.int64)
        G = self.op("Gather", [V, self.const("table", table)], axis=1)
        if op.mask.all():
            return G
        return self.op("Where", [self.const("mask", op.mask), G, self.const("fill", np.array(fill, dtype=self.dtype))])

    def node(self, j: int, op: Op, xs: Sequence[str], views: Any) -> str:
        """The nodes of network node j + 1 (op ``op`` on inputs ``xs``, parameter views ``views``)."""
        where = f"node {j + 1}"
        if isinstance(op, Dense):
            W, b = views
            return self.op("Gemm", [xs[0], self.const("W", W), self.const("b", b)], transB=1)
        if isinstance(op, (Elementwise, Softmax)):
            return self.activation(op, xs[0], where)
        if isinstance(op, MaskedDense):
            w, b = views
            offsets = self._offsets(op.in_widths)
            W = np.zeros((op.size, int(offsets[-1])), dtype=self.dtype)
            W[op.row, offsets[op.src] + op.col] = w
            bias = np.zeros(op.size, dtype=self.dtype)
            bias[op.bias_rows] = b
            return self.op("Gemm", [self.concat(xs), self.const("W", W), self.const("b", bias)], transB=1)
        if isinstance(op, Select):
            return self._gathered(op.gather, xs)
        if isinstance(op, Dropout):    # inference: the identity
            return self.op("Identity", [xs[0]])
        if isinstance(op, RReLU):      # inference: the mean slope
            return self.leaky(xs[0], (op.lower + op.upper) / 2)
        if isinstance(op, Product):
            V = self.op("Pow", [self._gathered(op.gather, xs), self.const("alpha", op.alpha.astype(self.dtype))])
            return self.reduce("ReduceProd", self._padded(op, V, 1.0), 2)
        if isinstance(op, MaxUnit):
            return self.reduce("ReduceMax", self._padded(op, self._gathered(op.gather, xs), -np.inf), 2)
        norm: Any = op          # layer_norm and batch_norm, told apart by their registered names
        if op.op_name == "layer_norm":
            if self.opset < 17:
                raise ConfigError(f"ONNX expresses {where} ({op.describe()}) as LayerNormalization, which needs "
                                  f"opset >= 17; got opset {self.opset}")
            weight, bias = views if views else (np.ones(norm.size, self.dtype), np.zeros(norm.size, self.dtype))
            return self.op("LayerNormalization", [xs[0], self.const("weight", weight), self.const("bias", bias)],
                           axis=-1, epsilon=norm.eps)
        if op.op_name == "batch_norm":       # inference: the running statistics (as net.predict)
            weight, bias = views
            stats = [self.const(name, norm.state[name].astype(self.dtype)) for name in ("running_mean", "running_var")]
            return self.op("BatchNormalization", [xs[0], self.const("weight", weight), self.const("bias", bias),
                                                  *stats], epsilon=norm.eps)
        if op.op_name == "vector_activation":
            raise ConfigError(f"ONNX cannot express {where} ({op.describe()}): a user vector activation is Python code")
        if isinstance(op, Segmented):
            parts: list[str] = []
            for start, stop, inner in op.segments:
                part = self.op("Slice", [xs[0], self.const("start", np.array([start], np.int64)),
                                         self.const("stop", np.array([stop], np.int64)),
                                         self.const("axis", np.array([1], np.int64))])
                parts.append(self.activation(inner, part, f"{where}, columns {start}..{stop - 1}"))
            return self.concat(parts)
        raise ConfigError(f"ONNX cannot express {where} ({op.describe()}); it takes {', '.join(ONNX_OPS)}")

    def network(self, net: Network, x: str) -> list[str]:
        """Emit the whole network on input ``x``; returns the names of all node values (node 0 = x)."""
        values = [x]
        for j, (op, ix) in enumerate(zip(net.ops, net.inputs)):
            values.append(self.node(j, op, [values[i] for i in ix], net.views(j)))
        return values


def check_expressible(net: Network) -> None:
    """Raise ConfigError naming the first node of ``net`` that ONNX cannot express (nothing is built).

    Parameters
    ----------
    net : Network

    Examples
    --------
    >>> import backprop as bp
    >>> check_expressible(bp.MLP([2, 3, 2]))
    >>> cube = bp.activation("cube", lambda z: z**3, lambda z: 3 * z**2, lambda z: 6 * z)
    >>> check_expressible(bp.MLP([2, 3, 2], hidden=cube))
    Traceback (most recent call last):
    ...
    backprop.errors.ConfigError: ONNX cannot express node 2: the user-defined activation 'cube' is Python code
    """
    writer = GraphWriter(net.dtype, DEFAULT_OPSET, lambda hint: hint, lambda *a: None, lambda *a: None)
    writer.network(net, "X")


def estimator_outputs(writer: GraphWriter, est: Any, values: list[str], probabilities_dtype: Any = None
                      ) -> list[tuple[str, str]]:
    """Emit the outputs of a fitted backprop estimator from the network's node values.

    Returns ``[(name, kind)]``: for a classifier ``label`` (int64 or string) and ``probabilities``;
    for a regressor ``variable``.

    Parameters
    ----------
    writer : GraphWriter
    est : fitted backprop MLPClassifier or MLPRegressor
    values : list of str
        The names of the network's node values (``GraphWriter.network``).
    probabilities_dtype : optional
        Unused.

    Returns
    -------
    list of (str, str)

    Examples
    --------
    >>> import backprop as bp
    >>> import backprop.sklearn
    >>> X, y = bp.datasets.xor()
    >>> est = bp.sklearn.MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs").fit(X, y)
    >>> estimator_outputs(GraphWriter(np.float64, 17, str, print, print), est, ["X", "Y"])
    [('Y', 'variable')]
    """
    from ..estimators import MLPClassifier
    net = est.network_
    y = values[-1]
    if not isinstance(est, MLPClassifier):
        return [(y, "variable")]
    classes = np.asarray(est.classes_)
    multilabel = est._label_binarizer.y_type_.startswith("multilabel")
    if multilabel:
        label = writer.op("Cast", [writer.op("Greater", [y, writer.const("half", np.array(0.5, writer.dtype))])],
                          to=7)      # int64
        return [(label, "label"), (y, "probabilities")]
    if classes.dtype.kind in "iu":
        cls_init = classes.astype(np.int64)
    elif classes.dtype.kind in "UO":
        cls_init = classes.astype(object)
    else:
        raise ConfigError(f"ONNX export takes integer or string class labels; classes_ has dtype {classes.dtype}")
    if est.n_outputs_ == 1:
        half = writer.const("half", np.array(0.5, writer.dtype))
        if net.output_activation == "sigmoid":       # 1 - sigmoid(z) = sigmoid(-z), as predict_proba computes it
            z = values[-2]
            p0, p1 = writer.op("Sigmoid", [writer.op("Neg", [z])]), y
        else:
            p0, p1 = writer.op("Sub", [writer.const("one", np.array(1, writer.dtype)), y]), y
        proba = writer.op("Concat", [p0, p1], axis=1)
        index = writer.op("Cast", [writer.op("Greater", [writer.op("Flatten", [p1], axis=0), half])], to=7)
        index = writer.op("Reshape", [index, writer.const("flat", np.array([-1], np.int64))])
    else:
        proba = y
        index = writer.op("ArgMax", [y], axis=1, keepdims=0)
    label = writer.op("Gather", [writer.const("classes", cls_init), index], axis=0)
    return [(label, "label"), (proba, "probabilities")]


def _tensor_type(dtype: DTypeLike) -> int:
    TensorProto = _onnx().TensorProto
    return TensorProto.FLOAT if np.dtype(dtype) == np.float32 else TensorProto.DOUBLE


def to_onnx(net_or_estimator: Any, path: str | os.PathLike[str] | None = None, opset: int = DEFAULT_OPSET, *,
            standardize: tuple[Any, Any] | None = None) -> Any:
    """Export a network or a fitted backprop estimator as an ONNX model.

    Parameters
    ----------
    net_or_estimator : Network or fitted backprop MLPClassifier / MLPRegressor
    path : str or os.PathLike, optional
        Where to write the model (atomically); None only returns it.
    opset : int
        ONNX opset, at least 13 (default 17).
    standardize : (mean, scale), optional
        Standardise the inputs first, ``(X - mean) / scale`` (arrays of n_inputs), as a model file
        written by ``backprop train`` does.

    Returns
    -------
    onnx.ModelProto
        Input ``X`` (batch, n_inputs) in the network's dtype. A network has the output ``Y``; a
        classifier ``label`` (batch,) and ``probabilities`` (batch, n_classes), classes stored as an
        initializer (no ZipMap); a regressor ``variable`` (batch, n_outputs).

    Raises
    ------
    ConfigError
        Naming the first node ONNX cannot express (user-defined activations), or for a bad opset.

    Examples
    --------
    >>> import backprop as bp
    >>> model = bp.to_onnx(bp.MLP([4, 8, 3]), "mlp.onnx")
    >>> [o.name for o in model.graph.output]
    ['Y']
    """
    from ..estimators import MLPClassifier, MLPRegressor
    onnx = _onnx()
    onnx = _onnx()
    helper, numpy_helper = onnx.helper, require("onnx.numpy_helper", extra="onnx", feature="to_onnx")
    highest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, (int, np.integer)) or isinstance(opset, bool) or not MIN_OPSET <= opset <= highest:
        raise ConfigError(f"opset must be an integer in [{MIN_OPSET}, {highest}]; got {opset!r}")
    est: Any = None
    net: Network
    if isinstance(net_or_estimator, (MLPClassifier, MLPRegressor)):
        est = net_or_estimator
        if "network_" not in est.__dict__:
            raise ConfigError(f"the {type(est).__name__} is not fitted; call fit first")
        net = est.network_
    elif isinstance(net_or_estimator, Network):
        net = net_or_estimator
    else:
        raise ConfigError(f"to_onnx takes a backprop Network or estimator; got {type(net_or_estimator).__name__}")
    check_expressible(net)
    nodes: list[Any] = []
    inits: list[Any] = []
    used: set[str] = set()

    def unique(hint: str) -> str:
        k, name = 0, hint
        while name in used:
            k += 1
            name = f"{hint}_{k}"
        used.add(name)
        return name

    def add_node(op_type: str, inputs: list[str], outputs: list[str], attrs: dict[str, Any]) -> None:
        nodes.append(helper.make_node(op_type, inputs, outputs, name=unique("n_" + outputs[0]), **attrs))

    def add_init(name: str, array: np.ndarray[Any, Any]) -> None:
        inits.append(numpy_helper.from_array(array, name))

    used.add("X")
    writer = GraphWriter(net.dtype, int(opset), unique, add_node, add_init)
    x = "X"
    if standardize is not None:
        mean, scale = (np.asarray(a, dtype=net.dtype).reshape(-1) for a in standardize)
        if mean.shape != (net.n_inputs,) or scale.shape != (net.n_inputs,) or not (
                np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale != 0)):
            raise ConfigError(f"standardize must be (mean, scale), finite arrays of {net.n_inputs} entries, "
                              "scale non-zero")
        x = writer.op("Div", [writer.op("Sub", [x, writer.const("mean", mean)]), writer.const("scale", scale)])
    values = writer.network(net, x)
    t = _tensor_type(net.dtype)
    outputs: list[Any] = []
    if est is None:
        nodes.append(helper.make_node("Identity", [values[-1]], ["Y"], name="output"))
        outputs = [helper.make_tensor_value_info("Y", t, [None, net.n_outputs])]
    else:
        for name, kind in estimator_outputs(writer, est, values):
            nodes.append(helper.make_node("Identity", [name], [kind], name=f"output_{kind}"))
            if kind == "label":
                classes = np.asarray(est.classes_)
                lt = onnx.TensorProto.STRING if classes.dtype.kind in "UO" else onnx.TensorProto.INT64
                multilabel = est._label_binarizer.y_type_.startswith("multilabel")
                outputs.append(helper.make_tensor_value_info(kind, lt, [None, net.n_outputs] if multilabel else [None]))
            elif kind == "probabilities":
                outputs.append(helper.make_tensor_value_info(kind, t, [None, max(net.n_outputs, 2)]))
            else:
                outputs.append(helper.make_tensor_value_info(kind, t, [None, net.n_outputs]))
    graph = helper.make_graph(nodes, "backprop", [helper.make_tensor_value_info("X", t, [None, net.n_inputs])],
                              outputs, initializer=inits)
    opsets = [helper.make_opsetid("", int(opset))]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="backprop",
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        from ...engine.serialize import atomic_write
        blob = model.SerializeToString()
        atomic_write(path, lambda f: f.write(blob))
    return model
