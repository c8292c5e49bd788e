"""``backprop export MODEL --to onnx|safetensors|torch OUT``: a saved model in another library's format."""
from __future__ import annotations

from ..._optional import require

FORMATS = ("onnx", "safetensors", "torch")


def add_export_arguments(p) -> None:
    p.add_argument("model", help="a model file (.npz from 'backprop train' or net.save, or .safetensors)")
    p.add_argument("--to", required=True, choices=FORMATS, dest="format",
                   help="onnx (an ONNX graph, input standardisation included), safetensors (the parameters "
                        "under PyTorch's nn.Sequential keys, architecture in the header) or torch (a "
                        "torch.export program, .pt2: torch.export.load(OUT).module())")
    p.add_argument("out", help="the file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 13 (default 17)")
    p.add_argument("--network-only", action="store_true",
                   help="for safetensors and torch: export the network alone although the model standardises "
                        "its inputs (then standardise them yourself)")


def _torch_export(net, out) -> None:
    torch = require("torch", extra="torch", feature="backprop export --to torch")

    from ...engine.serialize import atomic_write
    from .torch_io import to_torch

    module = to_torch(net)
    example = torch.zeros(2, net.n_inputs, dtype=getattr(torch, net.dtype.name))
    program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    atomic_write(out, lambda f: torch.export.save(program, f))


def export_command(args) -> int:
    from ...engine.serialize import load_bundle, save
    from ...errors import ConfigError
    from .onnx_io import to_onnx

    net, meta, arrays = load_bundle(args.model)
    mean, scale = arrays.get("input_mean"), arrays.get("input_scale")
    if (mean is None) != (scale is None):
        raise ConfigError(f"{args.model} holds only one of input_mean and input_scale")
    if args.format == "onnx":
        to_onnx(net, args.out, opset=args.opset, standardize=None if mean is None else (mean, scale))
    else:
        if mean is not None and not args.network_only:
            raise ConfigError(f"{args.model} standardises its inputs, (x - mean) / scale, which a {args.format} "
                              "file does not hold; export --to onnx (which includes it), or pass --network-only "
                              "and standardise the inputs yourself")
        if args.format == "safetensors":
            if not str(args.out).lower().endswith(".safetensors"):
                raise ConfigError(f"a safetensors file name ends in .safetensors; got {args.out}")
            # the task and feature names travel unless the standardisation is left out
            save(net, args.out, metadata=None if mean is not None else meta)
        else:
            _torch_export(net, args.out)
    print(f"wrote {args.out} ({args.format}, {net!r})")
    return 0
