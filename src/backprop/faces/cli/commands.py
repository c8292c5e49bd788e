"""The subcommands of ``backprop``, one module each, in one registry.

A subcommand module defines ``HELP`` (one line), ``EXAMPLES`` (shown at the end of its ``--help``),
``add_arguments(parser)`` and ``run(args) -> exit code``. To add one, write the module and add it to
``MODULES`` below (or, from outside the package, call :func:`register`).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable
from typing import Callable

from ...registry import Registry
from . import check, evaluate, export, plot, predict, trace, train


@dataclass
class Subcommand:
    """One command of the CLI: its help line, its options, what runs it and its usage examples."""
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    examples: str = ""


SUBCOMMANDS = Registry("command")


def register(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None],
             run: Callable[[argparse.Namespace], int], examples: str = "") -> Subcommand:
    """Add a subcommand ``backprop NAME``: ``add_arguments(parser)`` declares its options and
    ``run(args)`` does the work and returns the exit code."""
    return SUBCOMMANDS.register(name, Subcommand(help, add_arguments, run, examples))


#: backprop NAME -> the module that implements it
MODULES = {"train": train, "evaluate": evaluate, "predict": predict, "check": check, "plot": plot,
           "trace": trace, "export": export}

for _name, _module in MODULES.items():
    register(_name, _module.HELP, _module.add_arguments, _module.run, _module.EXAMPLES)
