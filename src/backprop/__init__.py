"""backprop: backpropagation for feed-forward networks, exactly as the derivation states it.

>>> import numpy as np, backprop as bp
>>> net = bp.MLP([4, 8, 3], hidden="tanh", output="softmax", seed=0)
>>> X, y = np.random.default_rng(0).normal(size=(5, 4)), np.array([0, 1, 2, 1, 0])
>>> value, grad = bp.loss_and_grad(net, "cross_entropy", X, y)
>>> grad.shape == net.params.shape
True
"""
from . import data as datasets
from .derivatives.checks import CheckReport, check_gradient
from .derivatives.gradient import backprop, loss_and_grad
from .engine.network import MLP, Network, Sequential
from .errors import ConfigError, DivergenceError, FileFormatError, InputError
from .losses import BinaryCrossEntropy, CrossEntropy, L2, Loss, get_loss
from .ops.activations import ScalarActivation, get_activation, leaky_relu, user_activation as activation
from .ops.dense import Dense
from .ops.elementwise import Elementwise
from .ops.softmax import Softmax

# --- training, data, save/load, command line -----------------------------------------------------

# --- Jacobian, Hessian, Hessian-vector products, second-order uses -------------------------------

# --- neuron graphs, special units, trace ----------------------------------------------------------

__version__ = "0.1.0"

__all__ = [
    "MLP", "Network", "Sequential", "Dense", "Elementwise", "Softmax",
    "loss_and_grad", "backprop", "check_gradient", "CheckReport",
    "Loss", "L2", "BinaryCrossEntropy", "CrossEntropy", "get_loss",
    "ScalarActivation", "activation", "get_activation", "leaky_relu",
    "InputError", "ConfigError", "FileFormatError", "DivergenceError",
    "datasets",
]
