"""``backprop trace``: the forward and backward pass of one instance, node by node (the pictures and
tables are drawn by ``backprop.faces.trace_render``)."""
from __future__ import annotations

import sys
import argparse

from ...derivatives.notation import NOTATIONS
from .. import trace_render


HELP = "the forward and backward pass of one instance, node by node (table, SVG or PNG)"
EXAMPLES = """examples:
  backprop trace --model xor.npz --input 1 0 --target 1
  backprop trace --model xor.npz --input 1,0 --target 1 --out trace.svg --notation cmu
  backprop trace --model moons.npz --input 0.5 0.2 --target 1 --out trace.html --training-view moons
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``backprop trace`` to an argparse (sub)parser."""
    parser.add_argument("--model", required=True, help="saved model (from net.save / backprop train)")
    parser.add_argument("--input", required=True, nargs="+", metavar="X",
                        help="the instance: one number per input feature, as in the data (space or comma "
                             "separated); a model from 'backprop train' standardises it as predict does")
    parser.add_argument("--target", required=True, nargs="+", metavar="T",
                        help="target: a class label of the model (as in the training data), or one number "
                             "per output")
    parser.add_argument("--loss", default=None,
                        help="l2, bce, cross_entropy, ... (default: from the output activation)")
    parser.add_argument("--out", default=None,
                        help="also write the trace: .svg or .png picture, .txt table, .json numbers, "
                             ".html page to step through")
    parser.add_argument("--digits", type=int, default=6, help="significant digits in the table")
    parser.add_argument("--notation", default="004", choices=NOTATIONS,
                        help="whose symbols label the quantities: a note (000-004) or cmu")
    parser.add_argument("--training-view", default=None, metavar="DATA",
                        help="with --out PAGE.html: add the training view, computed here by training a copy of "
                             "the model full-batch on DATA (a built-in data set, or a CSV file for a model from "
                             "'backprop train'): the loss curve, the weights over the epochs and, for 2 inputs, "
                             "the output over the input plane per epoch; the model file is not changed")
    parser.add_argument("--training-epochs", type=int, default=30, metavar="N",
                        help="epochs of gradient descent in the training view (1 to 500; default 30)")
    parser.add_argument("--training-lr", type=float, default=0.5, metavar="LR",
                        help="learning rate of the training view's gradient descent (default 0.5)")


def run(args: argparse.Namespace) -> int:
    """Run ``backprop trace`` from parsed arguments; errors propagate to the command line's report."""
    trace_render._trace_and_save(args.model, args.input, args.target, args.out, args.loss, args.digits,
                                 sys.stdout, notation=getattr(args, "notation", "004"),
                                 training_view=getattr(args, "training_view", None),
                                 training_epochs=getattr(args, "training_epochs", 30),
                                 training_lr=getattr(args, "training_lr", 0.5))
    return 0
