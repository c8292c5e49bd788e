"""``backprop export MODEL --to onnx|safetensors|torch OUT``: a saved model in another library's format."""
from __future__ import annotations

import argparse

from ..exports.model_file import FORMATS, export_model


HELP = "a saved model as ONNX, safetensors or a torch.export program"
EXAMPLES = """examples:
  backprop export model.npz --to onnx model.onnx
  backprop export model.npz --to safetensors model.safetensors --network-only
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``backprop export``: the model, the format and the file to write."""
    p.add_argument("model", help="a model file (.npz from 'backprop train' or net.save, or .safetensors)")
    p.add_argument("--to", required=True, choices=FORMATS, dest="format",
                   help="onnx (an ONNX graph, input standardisation included), safetensors (the parameters "
                        "under PyTorch's nn.Sequential keys, architecture in the header) or torch (a "
                        "torch.export program, .pt2: torch.export.load(OUT).module())")
    p.add_argument("out", help="the file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 13")
    p.add_argument("--network-only", action="store_true",
                   help="for safetensors and torch: export the network alone although the model standardises "
                        "its inputs (then standardise them yourself)")


def run(args: argparse.Namespace) -> int:
    """``backprop export``: write the model as ONNX, safetensors or a torch.export program."""
    net = export_model(args.model, args.format, args.out, opset=args.opset, network_only=args.network_only)
    print(f"wrote {args.out} ({args.format}, {net!r})")
    return 0
