"""backprop: backpropagation for feed-forward networks, exactly as the derivation states it.

>>> import numpy as np, backprop as bp
>>> net = bp.MLP([4, 8, 3], hidden="tanh", output="softmax", seed=0)
>>> X, y = np.random.default_rng(0).normal(size=(5, 4)), np.array([0, 1, 2, 1, 0])
>>> value, grad = bp.loss_and_grad(net, "cross_entropy", X, y)
>>> grad.shape == net.params.shape
True
"""
from __future__ import annotations

from ._allocator import tune as tune_allocator   # an explicit call: importing backprop changes nothing in the process
from . import datasets
from .derivatives.checks import CheckReport, check_gradient
from .derivatives.gradient import backprop, loss_and_grad
from .engine.network import MLP, Network, Sequential
from .errors import ConfigError, DivergenceError, DivergenceWarning, FileFormatError, InputError, MemoryLimitError
from .losses import BinaryCrossEntropy, CrossEntropy, Huber, L2, Loss, get_loss
from .ops.activations import ScalarActivation, get_activation, leaky_relu, user_activation as activation
from .ops.dense import Dense
from .ops.dropout import Dropout
from .ops.elementwise import Elementwise
from .ops.normalization import BatchNorm, LayerNorm
from .ops.rrelu import RReLU
from .ops.softmax import Softmax

# training, save/load
from .engine import safetensors_file as _safetensors_file   # registers the .safetensors format  # noqa: F401
from .engine.serialize import load
from .training import schedules
from .training import callbacks
from .training.callbacks import Callback, CSVLogger, EarlyStopping, LoggingCallback, ModelCheckpoint, ReduceLROnPlateau
from .training.history import History
from .training.loop import TrainOptions
from .training.loop import run_epoch, train
from .training.optimizers import GD, SGD, Adam, AdamW, Optimizer, RMSprop, get_optimizer
from .training.schedules import get_schedule

# Jacobian, Hessian, Hessian-vector products, second-order uses
from .derivatives.gauss_newton import gauss_newton, gauss_newton_diag, gnvp
from .derivatives.hessian import hessian, hessian_diag
from .derivatives.hvp import hvp
from .derivatives.jacobian import jacobian
from .derivatives.second_checks import check_hessian, check_jacobian
from .second_order.laplace import Laplace
from .second_order.minimize import minimize

# neuron graphs, special units, trace
from .derivatives.trace import Trace, neuron_backprop, trace
from .derivatives.trace_batch import BatchTrace, trace_batch
from .derivatives.trace_hessian import HessianTrace, hessian_trace
from .engine.neurons import NeuronPass, neuron_layout
from .engine.neurons import NeuronGraph, NeuronNetwork
from .faces.trace_render import draw_trace, save_trace
from .ops.vector import vector_activation
from types import ModuleType

__version__ = "0.2.0.dev0"   # the one place of the version (pyproject.toml reads it)

__all__ = [
    # networks, losses, the gradient
    "MLP", "Network", "Sequential", "Dense", "Elementwise", "Softmax", "Dropout", "RReLU", "LayerNorm", "BatchNorm",
    "loss_and_grad", "backprop", "check_gradient", "CheckReport",
    "Loss", "L2", "BinaryCrossEntropy", "CrossEntropy", "Huber", "get_loss",
    "ScalarActivation", "activation", "get_activation", "leaky_relu",
    "InputError", "ConfigError", "FileFormatError", "DivergenceError", "DivergenceWarning", "MemoryLimitError",
    "datasets", "tune_allocator",
    # training, save/load
    "train", "run_epoch", "History", "load", "Optimizer", "GD", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer",
    "TrainOptions", "callbacks", "Callback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "CSVLogger",
    "LoggingCallback",
    "get_schedule", "schedules",
    # second order
    "jacobian", "hessian", "hessian_diag", "hvp", "gauss_newton", "gauss_newton_diag", "gnvp",
    "check_jacobian", "check_hessian", "minimize", "Laplace",
    # neuron graphs
    "NeuronGraph", "NeuronNetwork", "NeuronPass", "neuron_backprop", "neuron_layout", "trace", "Trace",
    "trace_batch", "BatchTrace", "hessian_trace", "HessianTrace",
    "draw_trace", "save_trace", "vector_activation",
]

# models that travel: PyTorch, safetensors, scikit-learn, ONNX (each library imported only when used)
from .faces.exports.onnx_io import to_onnx
from .faces.exports.skl2onnx_io import register_skl2onnx
from .faces.exports.sklearn_io import from_sklearn, to_sklearn
from .faces.exports.torch_io import from_torch, to_torch

__all__ += ["to_torch", "from_torch", "to_sklearn", "from_sklearn", "to_onnx", "register_skl2onnx"]

def __getattr__(name: str) -> ModuleType:
    """``backprop.cluster`` (sums over Dask blocks) loads on first use; it needs the ``dask`` extra only when called."""
    if name == "cluster":
        import importlib
        return importlib.import_module(".cluster", __name__)
    raise AttributeError(f"module 'backprop' has no attribute {name!r}")
