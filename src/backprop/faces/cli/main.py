"""``backprop``'s parser, dispatch and its one error path.

A user mistake (a missing file, a bad option value, data of the wrong shape) prints one line
``backprop: error: ...`` on stderr and exits with a non-zero code, without a traceback: 2 for the
command line itself (including an option that would do nothing with the others given), 1 for data
and files. Ctrl-C exits with 130 (after training: with the model saved as far as it got), a reader
that stops early (``| head``) ends the command quietly with 141.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from typing import TYPE_CHECKING, Sequence

from ... import __version__
from .commands import SUBCOMMANDS
from .numbers import one_line
from .usage import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, PROG, Parser, UsageError

if TYPE_CHECKING:
    from ...registry import Registry


def build_parser(commands: Registry | None = None) -> argparse.ArgumentParser:
    """The parser of ``backprop`` with a subparser per registered subcommand."""
    commands = SUBCOMMANDS if commands is None else commands
    parser = Parser(prog=PROG, description="Backpropagation for feed-forward networks: train, evaluate, "
                    "predict, check gradients, plot training runs, trace one instance.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, cmd in commands.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help, epilog=cmd.examples or None,
                           formatter_class=parser.formatter_class)
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def _os_message(e: OSError) -> str:
    """An OSError in one line, naming its file (``atomic_write`` names the target, not its temporary)."""
    if not e.strerror:
        return str(e)
    name = e.filename
    return e.strerror + (f": {name}" if name is not None else "")


def _report(message: object, kind: str = "error: ") -> None:
    """Print one line ``backprop: error: ...`` to standard error (nothing if standard error is gone)."""
    try:
        print(f"{PROG}: {kind}{one_line(message)}", file=sys.stderr)
    except (BrokenPipeError, OSError, ValueError):
        pass            # stderr itself is gone: the exit code is all that is left


def _silence_stdout() -> None:
    """After a broken pipe: point standard output at /dev/null, so that Python's final flush of the
    unwritten rest does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def main(argv: Sequence[str] | None = None, commands: Registry | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Exit codes: 0 success, 1 an error in the data or files, 2 a mistake in the command line,
    130 interrupted by Ctrl-C, 141 standard output closed early (e.g. ``| head``), quietly.
    ``commands`` (default: every subcommand) is a registry of subcommands.
    """
    commands = SUBCOMMANDS if commands is None else commands
    parser = build_parser(commands)
    try:
        args = parser.parse_args(argv)
        if getattr(args, "_run", None) is None:
            raise UsageError(f"choose a command: {', '.join(commands)} (see '{PROG} --help')")
        code = int(args._run(args) or 0)
        sys.stdout.flush()          # a closed pipe shows here, not at interpreter exit
        return code
    except UsageError as e:
        _report(e)
        return EXIT_USAGE
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (ValueError, OSError) as e:
        # every library error a user can act on is a ValueError subclass; OSError: files
        _report(_os_message(e) if isinstance(e, OSError) else e)
        return EXIT_ERROR
    except KeyboardInterrupt:
        _report("interrupted", kind="")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())


def run() -> None:
    """The ``backprop`` console script and ``python -m backprop``: the command owns its process, so it
    keeps large temporaries in the heap (``backprop.tune_allocator``), then exits with ``main``'s code."""
    from ..._allocator import tune
    tune()
    raise SystemExit(main())
