"""The ``backprop`` command line: train, evaluate, predict, check, plot, trace and export.

One module per subcommand (``train.py``, ``evaluate.py``, ...), listed in ``commands.py``; the parser,
dispatch and exit codes in ``main.py``; what several subcommands share in ``data.py`` (reading data,
columns by name), ``task.py`` (loss and labels), ``model.py`` (network options, the model file),
``usage.py`` (option types and refusals) and ``numbers.py`` (numbers as printed).
"""
import argparse
from typing import TYPE_CHECKING

from .commands import SUBCOMMANDS, Subcommand, register
from .main import build_parser, main, run
from .model import load_model as _load_model
from .numbers import number as _number
from .task import Task, infer_task
from .usage import UsageError

if TYPE_CHECKING:
    from .commands import Subcommand
    from .task import Task


__all__ = ["main", "run", "build_parser", "register", "SUBCOMMANDS", "Subcommand", "UsageError", "Task", "infer_task"]
