"""A saved model in another library's format: ONNX, safetensors or a torch.export program."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..._optional import require
from ...engine.serialize import atomic_write, load_bundle, save
from ...errors import ConfigError

if TYPE_CHECKING:
    from ...engine.network import Network

FORMATS = ("onnx", "safetensors", "torch")


def _torch_export(net: Network, out: str | os.PathLike[str]) -> None:
    torch = require("torch", extra="torch", feature="backprop export --to torch")

    from .torch_io import to_torch

    module = to_torch(net)
    example = torch.zeros(2, net.n_inputs, dtype=getattr(torch, net.dtype.name))
    program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    atomic_write(out, lambda f: torch.export.save(program, f))


def export_model(model: str | os.PathLike[str], fmt: str, out: str | os.PathLike[str], *, opset: int = 17,
                 network_only: bool = False) -> Network:
    """Write the model file ``model`` (.npz or .safetensors) to ``out`` in ``fmt``; return its network.

    Parameters
    ----------
    model : str or path
    fmt : {"onnx", "safetensors", "torch"}
    out : str or path
    opset : int, default 17
        The ONNX opset (>= 13).
    network_only : bool, default False
        For safetensors and torch: export the network alone although the model standardises its inputs.

    Returns
    -------
    Network
        The network exported.

    Examples
    --------
    >>> import backprop as bp, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> bp.MLP([2, 2]).save(os.path.join(d, "m.npz"))
    >>> export_model(os.path.join(d, "m.npz"), "safetensors", os.path.join(d, "m.safetensors")).n_params
    6
    """
    from .onnx_io import to_onnx

    net, meta, arrays = load_bundle(model)
    mean, scale = arrays.get("input_mean"), arrays.get("input_scale")
    if (mean is None) != (scale is None):
        raise ConfigError(f"{model} holds only one of input_mean and input_scale")
    if fmt == "onnx":
        to_onnx(net, out, opset=opset, standardize=None if mean is None else (mean, scale))
        return net
    if mean is not None and not network_only:
        raise ConfigError(f"{model} standardises its inputs, (x - mean) / scale, which a {fmt} "
                          "file does not hold; export --to onnx (which includes it), or pass --network-only "
                          "and standardise the inputs yourself")
    if fmt == "safetensors":
        if not str(out).lower().endswith(".safetensors"):
            raise ConfigError(f"a safetensors file name ends in .safetensors; got {out}")
        # the task and feature names travel unless the standardisation is left out
        save(net, out, metadata=None if mean is not None else meta)
    elif fmt == "torch":
        _torch_export(net, out)
    else:
        raise ConfigError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    return net
