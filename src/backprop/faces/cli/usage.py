"""Mistakes in the command line itself: the parser that reports them, option value types, refusals.

A :class:`UsageError` exits with code 2; an option that would do nothing with the others given is
refused the same way (``--target does nothing with --data xor: ...``).
"""
from __future__ import annotations

import argparse
import math
import os
from typing import Any, NoReturn

import signal

from ...errors import ConfigError
from .numbers import number


PROG = "backprop"
EXIT_ERROR = 1                                   # an error in the data or files
EXIT_USAGE = 2                                   # a mistake in the command line
EXIT_INTERRUPTED = 128 + signal.SIGINT           # the shell's code for a process ended by Ctrl-C
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1


class UsageError(Exception):
    """A mistake in the command line itself (unknown option, missing argument, bad value)."""


class Parser(argparse.ArgumentParser):
    """Raises UsageError instead of exiting; no abbreviated options (``check --out`` must not mean
    ``--output``); every option's default shown in ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Raise UsageError with argparse's message instead of exiting."""
        raise UsageError(message)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in the help of each option; the description (with its usage examples) kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        """An option's help, with its default unless it is unset (None or False)."""
        # an unset option is None on the parsed arguments (so that "given" can be told from "default");
        # its help states the default in words instead
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


# ---- option value types -----------------------------------------------------------------------------

def _whole_number(text: str, lo: int) -> int:
    """``text`` as a whole number >= lo; argparse.ArgumentTypeError otherwise."""
    try:
        v = int(text)
    except ValueError:
        v = lo - 1
    if v < lo:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {lo}, got {text!r}")
    return v


def seed(text: str) -> int:
    """A seed: a whole number >= 0."""
    return _whole_number(text, 0)


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    return _whole_number(text, 1)


def batch_size(text: str) -> int | None:
    """A batch size: a whole number >= 1, or full/all/none for the whole training set (None)."""
    if text.lower() in ("full", "all", "none"):
        return None
    return positive_int(text)


def finite(text: str) -> float:
    """A finite number."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def non_negative(text: str) -> float:
    """A finite number >= 0."""
    v = finite(text)
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def fraction(text: str) -> float:
    """A fraction in [0, 1)."""
    v = finite(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return v


def names(text: str) -> list[str]:
    """``a,b,c`` -> ["a", "b", "c"] (column names)."""
    out = [s.strip() for s in text.split(",") if s.strip()]
    if not out:
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got {text!r}")
    return out


# ---- options given, defaults, refusals ----------------------------------------------------------------

def given(args: argparse.Namespace, name: str) -> bool:
    """Whether the user gave the option ``name`` (an unset option is None or False)."""
    value = getattr(args, name, None)
    return value is not None and value is not False


def option(name: str) -> str:
    """The command-line flag of a parameter: ``test_size`` -> ``--test-size``."""
    return "--" + name.replace("_", "-")


def option_error(name: str, value: object, error: Exception | str, flag: str | None = None) -> UsageError:
    """A library error about the parameter ``name`` as an error about the option that set it."""
    msg, flag = str(error), flag or option(name)
    if msg.startswith(name + "="):
        return UsageError(f"{flag} {msg[len(name) + 1:]}")
    if msg.startswith(name + " "):
        return UsageError(flag + msg[len(name):])
    return UsageError(f"{flag} {number(value)}: {msg}")


def with_defaults(args: argparse.Namespace, defaults: dict[str, Any]) -> None:
    """Set every option of ``defaults`` that was not given to its default value."""
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)


def refuse(flag: str, reason: str) -> NoReturn:
    """Raise UsageError: ``flag`` does nothing in this situation, for ``reason``."""
    raise UsageError(f"{flag} does nothing {reason}")


def check_output_path(flag: str, path: str | None) -> None:
    """Refuse an output file that cannot be written, before any work."""
    if not path:
        return
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ConfigError(f"{flag} {path}: the directory {folder} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"{flag} {path}: it is a directory; expected a file name")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"{flag} {path}: the directory {folder} is not writable")
