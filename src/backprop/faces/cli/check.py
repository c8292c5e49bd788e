"""``backprop check``: backpropagated gradients against finite differences."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...derivatives.checks import check_gradient
from . import usage
from .data import add_data_options, check_target_option, load_data, model_data, table_options, target_for
from .model import (NETWORK_DEFAULTS, add_network_options, build_network, check_activation_option, hidden_sizes,
                    load_model, prepared_inputs)
from .task import check_activation_names, describe_loss, infer_task
from .usage import given, option, refuse, with_defaults

if TYPE_CHECKING:
    from ...engine.network import Network
    from .data import Data
    from .task import Task


HELP = "compare backpropagated gradients with finite differences"
EXAMPLES = """examples:
  backprop check --data xor --hidden 4 --activation sigmoid
  backprop check --data digits --model model.npz --params 200
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``backprop check``: the data, a saved model or a new network, the sample and the order."""
    add_data_options(p)
    p.add_argument("--model", help="check this saved model (default: a new network from the options below)")
    add_network_options(p, seed_default=None)
    p.add_argument("--samples", type=usage.positive_int, default=100, help="samples in the batch checked")
    p.add_argument("--params", type=usage.positive_int, help="check a random subset of this many parameters")
    p.add_argument("--order", type=int, choices=(2, 4), default=2, help="central difference order")


def _saved(args: argparse.Namespace) -> tuple[Network, Task, Data, NDArray[Any]]:
    """The saved model of ``--model``, its task, the data and the inputs as the model takes them."""
    for k in NETWORK_DEFAULTS:
        if given(args, k):
            refuse(option(k), f"with --model {args.model}: the saved model fixes the network and its loss")
    net, meta, task, scaler = load_model(args.model)
    data = model_data(args.data, meta, net.n_inputs, target_for(args, meta), table=table_options(args))
    return net, task, data, prepared_inputs(data, scaler)


def _new(args: argparse.Namespace) -> tuple[Network, Task, Data, NDArray[Any]]:
    """A new network from the options, its task (from the data's target), the data and its inputs."""
    hidden = hidden_sizes(args.hidden)
    check_activation_option(args, hidden)
    check_activation_names(args)
    with_defaults(args, NETWORK_DEFAULTS)
    data = load_data(args.data, args.target, table=table_options(args))
    task = infer_task(data.y, args.loss, args.output, args.l2)
    net = build_network([data.X.shape[1], *hidden, task.n_outputs], args, task)
    return net, task, data, data.X


def run(args: argparse.Namespace) -> int:
    """``backprop check``: finite differences against backprop's gradient on a sample; 0 if it passes."""
    check_target_option(args)
    seed_given = args.seed is not None
    args.seed = args.seed if seed_given else 0
    net, task, data, X = _saved(args) if args.model else _new(args)
    n = min(args.samples, len(X))
    if seed_given and args.model and n == len(X) and args.params is None:
        refuse("--seed", f"with --model and every sample and parameter checked: it only picks the "
               f"--samples (here all {n}) and the --params subset")
    pick = np.random.default_rng(args.seed).choice(len(X), size=n, replace=False) if n < len(X) else np.arange(n)
    report = check_gradient(net, task.loss, X[pick], task.targets(data.y[pick]), n=args.params, seed=args.seed,
                            order=args.order)
    print(f"{net!r} on {n} samples of {data.name}, loss {describe_loss(task.loss)}")
    print(report)
    ops: list[Any] = net.ops
    kinked = sorted({op.act.name for op in ops if getattr(getattr(op, "act", None), "piecewise_linear", False)
                     and op.act.name != "identity"})
    if not report.passed and kinked:
        print(f"note: {', '.join(kinked)} units have a kink at z = 0 where the derivative jumps; a finite difference "
              "that straddles it disagrees with the backpropagated (sub)gradient, so check smooth activations "
              "(tanh, sigmoid, softplus) to test the code")
    return 0 if report.passed else 1
