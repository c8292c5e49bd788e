"""The network of a run and the model file ``backprop train`` writes: network options, the input
standardisation, the task and feature names stored beside the parameters."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...data import Standardizer
from ...engine.network import MLP
from ...engine.objective import Objective
from ...engine.serialize import load_bundle, save
from ...errors import FileFormatError, InputError
from ...training.metrics import get_metric
from . import usage
from .data import missing_cells
from .task import ACTIVATIONS, CLI_LOSSES, Task
from .usage import UsageError, refuse

if TYPE_CHECKING:
    from ...engine.network import Network
    from .data import Data
    from .task import Task


# options left unset are None on the parsed arguments, so that an option given in a mode where it does
# nothing can be told from its default; these are the defaults then
NETWORK_DEFAULTS = {"hidden": "32", "activation": "tanh", "output": "auto", "loss": "auto", "l2": 0.0}


def add_network_options(p: argparse.ArgumentParser, seed_default: int | None = 0) -> None:
    """The options that build a network: hidden widths, activations, loss, L2 and seed."""
    p.add_argument("--hidden", help=f"hidden layer widths, e.g. 64,32 (default {NETWORK_DEFAULTS['hidden']}; "
                   "'none' for none)")
    p.add_argument("--activation", help=f"hidden activation: {', '.join(ACTIVATIONS[:-1])} "
                   f"(default {NETWORK_DEFAULTS['activation']})")
    p.add_argument("--output", help=f"output activation: {', '.join(ACTIVATIONS)} (default: softmax for several "
                   "classes, sigmoid for two, identity for regression)")
    p.add_argument("--loss", help=f"{', '.join(CLI_LOSSES)} (default: from the target)")
    p.add_argument("--l2", type=usage.non_negative, help="L2 regularisation strength lambda (default 0)")
    p.add_argument("--seed", type=usage.seed, default=seed_default,
                   help="seed of initialisation, split and shuffling")


def hidden_sizes(text: str) -> list[int]:
    """The hidden layer widths of ``--hidden`` ("64,32"; "none" for none); UsageError if malformed."""
    text = NETWORK_DEFAULTS["hidden"] if text is None else text
    if text.strip().lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise UsageError(f"--hidden must list hidden layer widths such as 64,32; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise UsageError(f"--hidden layer widths must be >= 1; got {text!r}")
    return sizes


def check_activation_option(args: argparse.Namespace, hidden: list[int]) -> None:
    """Refuse ``--activation`` for a network without hidden layers."""
    if not hidden and args.activation is not None:
        refuse("--activation", f"with --hidden {args.hidden}: a network without hidden layers has no hidden "
               "activation (the output activation is --output)")


def build_network(sizes: list[int], args: argparse.Namespace, task: Task, dtype: str = "float64") -> MLP:
    """The MLP of these layer sizes with the options' activations, the task's output and the seed."""
    return MLP(sizes, hidden=args.activation, output=task.output, seed=args.seed, dtype=np.dtype(dtype))


def metric_line(task: Task, net: Network, X: NDArray[Any], T: NDArray[Any]) -> tuple[float, str, float]:
    """(loss, metric name, metric value) of ``net`` on (X, T)."""
    obj = Objective(net, task.loss, X, T)
    m = get_metric("auto", task.loss, net.n_outputs)
    return obj.value(), m.name, m(obj.output, obj.D)


class Scaler:
    """The inputs' preparation stored in the model file (extra arrays): missing cells filled with the
    training data's column means or medians (``--missing mean|median``), then standardisation."""

    def __init__(self, mean: NDArray[Any] | None = None, scale: NDArray[Any] | None = None,
                 fill: NDArray[Any] | None = None) -> None:
        self.mean, self.scale, self.fill = mean, scale, fill

    @classmethod
    def fit(cls, X: NDArray[Any], fill: NDArray[Any] | None = None) -> Scaler:
        """The scaler that standardises the columns of X (and fills missing cells with ``fill``)."""
        s = Standardizer().fit(X)
        return cls(s.mean_, s.scale_, fill)

    def __call__(self, X: NDArray[Any]) -> NDArray[Any]:
        if self.fill is not None:
            X = np.where(np.isnan(X), self.fill, X)
        return X if self.mean is None else (X - self.mean) / self.scale

    def arrays(self) -> dict[str, Any]:
        """The arrays saved with the model: input_mean, input_scale and input_fill where present."""
        out = {} if self.mean is None else {"input_mean": self.mean, "input_scale": self.scale}
        return out if self.fill is None else {**out, "input_fill": self.fill}


def prepared_inputs(data: Data, scaler: Scaler, fill: bool = True) -> NDArray[Any]:
    """``data.X`` as the model's inputs; missing cells refused unless the model fills them (and ``fill``:
    ``--missing error`` refuses them even then)."""
    fills = fill and scaler.fill is not None
    problem = None if fills else missing_cells(data)
    if problem and scaler.fill is None:
        raise InputError(f"{problem}; the model was trained without missing values (train with --missing "
                         "mean|median to fill them, or drop those rows)")
    if problem:
        raise InputError(f"{problem}; --missing error refuses them (without it they are filled with the "
                         "training part's values stored in the model)")
    return scaler(data.X)


def save_model(net: Network, path: str, meta: dict[str, Any], scaler: Scaler) -> None:
    """Write the network with its metadata and the scaler's arrays."""
    save(net, path, metadata=meta, arrays=scaler.arrays())


def load_model(path: str) -> tuple[Network, dict[str, Any], Task, Scaler]:
    """(network, metadata, task, scaler) of a file written by ``backprop train``, each part checked."""
    net, meta, arrays = load_bundle(path)
    try:
        task = Task.from_dict(meta["task"])
    except (KeyError, TypeError, ValueError) as e:
        raise FileFormatError(f"{path} holds a network but no task description (was it saved by "
                              f"'backprop train'?): {e}") from None
    names = meta.get("feature_names")
    if not (isinstance(names, list) and len(names) == net.n_inputs and all(isinstance(n, str) for n in names)):
        raise FileFormatError(f"{path}: the stored feature names do not list the network's {net.n_inputs} "
                              "inputs as strings")
    if task.n_outputs != net.n_outputs or (net.n_outputs == 1 and net.output_activation == "softmax"):
        raise FileFormatError(f"{path}: the stored task ({task.kind}, {task.n_outputs} outputs, "
                              f"{net.output_activation} output) does not fit the network")
    scaler = Scaler(arrays.get("input_mean"), arrays.get("input_scale"), arrays.get("input_fill"))
    for a in (scaler.mean, scaler.scale, scaler.fill):
        if a is not None and np.shape(a) != (net.n_inputs,):
            raise FileFormatError(f"{path}: the stored standardisation has shape {np.shape(a)}; "
                                  f"expected ({net.n_inputs},)")
    return net, meta, task, scaler
