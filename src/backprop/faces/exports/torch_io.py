"""PyTorch both ways: a chain network <-> ``torch.nn.Sequential`` with the same weights.

Op j of the network is module j of the Sequential, so ``net.state_dict()`` and the module's
``state_dict()`` have the same keys, buffers included (BatchNorm's running statistics travel with the
weights, both ways). Ops beyond dense layers and activations are declared once in ``TORCH_OPS``.
torch is imported only inside these functions.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from ...engine.network import MLP, Network, mlp_layout
from ..._optional import require
from ...errors import ConfigError
from ...ops.activations import ScalarActivation, get_activation
from ...ops.base import Op
from ...ops.dense import Dense
from ...ops.dropout import Dropout
from ...ops.elementwise import Elementwise
from ...ops.normalization import BatchNorm, LayerNorm
from ...ops.rrelu import RReLU
from ...ops.softmax import Softmax
from .chain import chain_ops, op_name

#: backprop activation -> the torch.nn module class that computes it
TORCH_MODULES = {"identity": "Identity", "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU",
                 "leaky_relu": "LeakyReLU", "softplus": "Softplus", "exp": "Exp", "softmax": "Softmax",
                 "gelu": "GELU", "elu": "ELU", "silu": "SiLU"}


class TorchOp(NamedTuple):
    """How an op travels to and from torch: the ``torch.nn`` class, op -> module, module -> op.

    ``to_module(op, nn, dtype)`` builds the module (its parameters and buffers are then copied by
    ``load_state_dict``); ``from_module(m, width, j)`` the op for module m at index j reading ``width`` units.
    """

    module: str
    to_module: Callable[[Any, Any, Any], Any]
    from_module: Callable[[Any, int, int], Op]


#: registered op name -> its torch module (one entry per op; parameters and buffers follow by state_dict)
TORCH_OPS = {
    "dropout": TorchOp("Dropout", lambda op, nn, dtype: nn.Dropout(op.p),
                       lambda m, width, j: Dropout(width, p=m.p, seed=j)),
    "rrelu": TorchOp("RReLU", lambda op, nn, dtype: nn.RReLU(op.lower, op.upper),
                     lambda m, width, j: RReLU(width, lower=m.lower, upper=m.upper, seed=j)),
    "layer_norm": TorchOp("LayerNorm", lambda op, nn, dtype: nn.LayerNorm(op.size, eps=op.eps, dtype=dtype,
                                                                          elementwise_affine=op.elementwise_affine),
                          lambda m, width, j: _layer_norm_op(m, width, j)),
    "batch_norm": TorchOp("BatchNorm1d", lambda op, nn, dtype: nn.BatchNorm1d(op.size, eps=op.eps, momentum=op.momentum,
                                                                              dtype=dtype),
                          lambda m, width, j: _batch_norm_op(m, width, j)),
}
#: nn.Softplus switches to y = z above ``threshold``; from this threshold on that is softplus to rounding
#: (log(1 + e^z) - z < e^-z is below half an ulp of z), per dtype
_SOFTPLUS_EXACT = {"float32": 17.0, "float64": 37.0}


def _torch() -> Any:
    return require("torch", extra="torch", feature="to_torch/from_torch")


def _module_for(op: Any, torch: Any) -> Any:
    nn = torch.nn
    name = op_name(op)
    if name == "softmax":
        return nn.Softmax(dim=-1)
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope=op.act.params["slope"])
    if name == "softplus":
        return nn.Softplus(beta=1.0, threshold=_SOFTPLUS_EXACT["float64"])
    if name == "exp":
        from ._torch_modules import Exp
        return Exp()
    if name == "elu":
        return nn.ELU(alpha=op.act.params["alpha"])
    if name == "gelu":
        return nn.GELU(approximate="none")         # the exact erf form
    return getattr(nn, TORCH_MODULES[name])()


def _layer_norm_op(m: Any, width: int, j: int) -> LayerNorm:
    """The layer_norm op of an nn.LayerNorm module m (index j, after a layer of ``width``), or a ConfigError."""
    if tuple(m.normalized_shape) != (width,):
        raise ConfigError(f"module {j} is LayerNorm({tuple(m.normalized_shape)}) after a layer of width {width}; "
                          f"backprop's layer_norm normalises the last axis, LayerNorm({width})")
    if m.elementwise_affine and m.bias is None:
        raise ConfigError(f"module {j} is LayerNorm(bias=False); backprop's layer_norm has a bias when it has a "
                          "weight (elementwise_affine)")
    return LayerNorm(width, eps=float(m.eps), elementwise_affine=bool(m.elementwise_affine))


def _batch_norm_op(m: Any, width: int, j: int) -> BatchNorm:
    """The batch_norm op of an nn.BatchNorm1d module m (index j, after a layer of ``width``), or a ConfigError."""
    if m.num_features != width:
        raise ConfigError(f"module {j} is BatchNorm1d({m.num_features}) after a layer of width {width}")
    if not m.affine or m.bias is None or not m.track_running_stats:
        raise ConfigError(f"module {j} is BatchNorm1d(affine={m.affine}, bias={m.bias is not None}, "
                          f"track_running_stats={m.track_running_stats}); backprop's batch_norm has a weight and a "
                          "bias and keeps running statistics (affine=True, bias=True, track_running_stats=True)")
    return BatchNorm(width, eps=float(m.eps), momentum=None if m.momentum is None else float(m.momentum))


def to_torch(net: Network) -> Any:
    """The ``torch.nn.Sequential`` that computes ``net``, with the same weights (copied) and dtype.

    Parameters
    ----------
    net : Network
        A chain of dense layers and built-in activations (an MLP, a ``bp.Sequential``).

    Returns
    -------
    torch.nn.Sequential
        Module j is op j: ``nn.Linear`` for a dense op, ``nn.Tanh``, ``nn.Softmax(dim=-1)``, ... for the
        activations (backprop's "exp" is ``backprop.faces.exports._torch_modules.Exp``), ``nn.Dropout``,
        ``nn.RReLU``, ``nn.LayerNorm``, ``nn.BatchNorm1d`` (the modules of ``TORCH_OPS``), with the buffers
        (running statistics) copied; in the network's mode (``module.training == net.training``).

    Raises
    ------
    ConfigError
        For a network that is not such a chain (compiled neuron graphs, user-defined activations).

    Examples
    --------
    >>> import backprop as bp
    >>> module = bp.to_torch(bp.MLP([4, 8, 3], hidden="relu"))
    >>> [type(m).__name__ for m in module]
    ['Linear', 'ReLU', 'Linear', 'Softmax']
    """
    if not isinstance(net, Network):
        raise ConfigError(f"to_torch takes a backprop Network; got {type(net).__name__}")
    ops = chain_ops(net, "torch.nn.Sequential", TORCH_MODULES, tuple(TORCH_OPS))
    torch = _torch()
    dtype = getattr(torch, net.dtype.name)
    modules: list[Any] = []
    for op in ops:
        if isinstance(op, Dense):
            modules.append(torch.nn.Linear(op.n_in, op.size, bias=True, dtype=dtype))
        elif op.op_name in TORCH_OPS:
            modules.append(TORCH_OPS[op.op_name].to_module(op, torch.nn, dtype))
        else:
            modules.append(_module_for(op, torch))
    module = torch.nn.Sequential(*modules)
    with torch.no_grad():
        module.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()})
    return module.train(net.training)


def _activation_of(m: Any, j: int, dtype: str, torch: Any) -> str | dict[str, Any]:
    """The backprop activation spec of torch module m (index j), or a ConfigError naming it."""
    nn = torch.nn
    from ._torch_modules import Exp
    if isinstance(m, nn.Softmax):
        if m.dim not in (-1, 1):
            raise ConfigError(f"module {j} is Softmax(dim={m.dim}); backprop's softmax runs over the last axis "
                              "(dim=-1 or 1)")
        return "softmax"
    if isinstance(m, nn.LeakyReLU):
        return {"name": "leaky_relu", "slope": float(m.negative_slope)}
    if isinstance(m, nn.Softplus):
        low = _SOFTPLUS_EXACT[dtype]
        if m.beta != 1 or m.threshold < low:
            raise ConfigError(f"module {j} is Softplus(beta={m.beta}, threshold={m.threshold}); backprop's softplus "
                              f"is log(1 + e^z), which nn.Softplus computes for beta=1 and (in {dtype}) "
                              f"threshold >= {low:g}: below that its linear branch differs from softplus")
        return "softplus"
    if isinstance(m, Exp):
        return "exp"
    if isinstance(m, nn.ELU):
        return {"name": "elu", "alpha": float(m.alpha)}
    if isinstance(m, nn.GELU):
        if m.approximate != "none":
            raise ConfigError(f"module {j} is GELU(approximate={m.approximate!r}); backprop's gelu is the exact "
                              "erf form, GELU(approximate='none')")
        return "gelu"
    for name, cls in TORCH_MODULES.items():
        if name not in ("softmax", "leaky_relu", "softplus", "exp", "elu", "gelu") and type(m) is getattr(nn, cls):
            return name
    supported = ", ".join(["Linear"] + [c for c in TORCH_MODULES.values()] + [t.module for t in TORCH_OPS.values()])
    raise ConfigError(f"module {j} ({type(m).__name__}) has no backprop equivalent; supported modules: {supported}")


def from_torch(module: Any) -> Network:
    """The backprop network that computes a ``torch.nn.Sequential`` of Linear layers and activations.

    Parameters
    ----------
    module : torch.nn.Sequential (or a single torch.nn.Linear)
        Linear layers with bias, the activations of ``to_torch``, nn.LayerNorm over the last axis and
        nn.BatchNorm1d (affine, tracking running statistics); all parameters float32 or all float64.

    Returns
    -------
    Network
        An MLP when the modules are the layers of one (Linear, [norm,] activation, [dropout,] ..., activation);
        otherwise a chain Network. Its ``state_dict()`` has the module's keys; weights and buffers are copied
        bitwise. It is in the module's mode (``net.training == module.training``).

    Raises
    ------
    ConfigError
        Naming the first module without a backprop equivalent.

    Examples
    --------
    >>> import torch, backprop as bp
    >>> nn = torch.nn
    >>> net = bp.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2), nn.Softmax(dim=-1)))
    >>> type(net).__name__, net.sizes
    ('MLP', [2, 3, 2])
    """
    torch = _torch()
    nn = torch.nn
    if isinstance(module, nn.Linear):
        module = nn.Sequential(module)
    if not isinstance(module, nn.Sequential):
        raise ConfigError(f"from_torch takes a torch.nn.Sequential; got {type(module).__name__}")
    children = list(module)
    linears = [m for m in children if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError("from_torch needs at least one nn.Linear layer (it fixes the widths)")
    dtypes = {p.dtype for p in module.parameters()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (torch.float32, torch.float64):
        raise ConfigError(f"the module's parameters must all be float32 or all float64; got {sorted(map(str, dtypes))}")
    dtype = str(next(iter(dtypes))).replace("torch.", "")
    ops: list[Op] = []
    width: int = linears[0].in_features
    acts: list[str | dict[str, Any]] = []
    for j, m in enumerate(children):
        if isinstance(m, nn.Linear):
            if m.bias is None:
                raise ConfigError(f"module {j} is Linear(bias=False); backprop's dense layers have a bias")
            if m.in_features != width:
                raise ConfigError(f"module {j} is Linear({m.in_features}, {m.out_features}) after a layer of width "
                                  f"{width}")
            ops.append(Dense(m.in_features, m.out_features))
            width = m.out_features
        elif (special := _torch_op(m, nn)) is not None:
            ops.append(special.from_module(m, width, j))
        else:
            spec = _activation_of(m, j, dtype, torch)
            acts.append(spec)
            ops.append(Softmax(width) if spec == "softmax" else Elementwise(width, get_activation(spec)))
    sd = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    net: Network | None = None
    layout = mlp_layout(linears[0].in_features, ops, [(i,) for i in range(len(ops))])
    if layout is not None and len(acts) == len(layout[0]) - 1:     # every activation a scalar one or softmax
        sizes, normalization, dropout = layout
        net = MLP(sizes, hidden=[_spec(a) for a in acts[:-1]], output=_spec(acts[-1]), dtype=np.dtype(dtype),
                  normalization=normalization, dropout=dropout)
        if [op.config() for op in net.ops if not isinstance(op, Dense)] != \
                [op.config() for op in ops if not isinstance(op, Dense)]:
            net = None          # layers with other options (or dropout seeds) than bp.MLP's
    if net is None:
        net = Network(linears[0].in_features, ops, dtype=np.dtype(dtype))
    net.load_state_dict(sd)
    return net.train(bool(module.training))


def _torch_op(m: Any, nn: Any) -> TorchOp | None:
    """The TORCH_OPS entry whose module class m is exactly, or None."""
    for entry in TORCH_OPS.values():
        if type(m) is getattr(nn, entry.module, None):
            return entry
    return None


def _spec(a: str | dict[str, Any]) -> str | ScalarActivation:
    return a if a == "softmax" else get_activation(a)
