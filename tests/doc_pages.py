"""The code blocks of the README and the documentation pages, read as a reader pastes them.

Rules of the pages (checked by tests/test_docs.py):

- a ```python block runs, in order, in one namespace per page, in a fresh directory per page (blocks
  that need a file create it first);
- a ```bash block is command lines of the ``backprop`` program (``backprop ARGS``, one a line, ``#``
  starts a comment); each runs in the page's directory and must exit with 0;
- a ```text block right after a ```python or ```bash block is what that block prints: the printed text
  must equal it word for word, except that numbers are compared as numbers (see ``numbers_agree``) and
  ``...`` stands for any text;
- a ```shell block is a set-up or benchmark command that is not run (installing, ``make``, the
  benchmark scripts); it may hold only such commands (``SHELL_COMMANDS``);
- MyST directives (```{toctree}, ```{eval-rst}) are Sphinx's.
"""
import contextlib
import io
import math
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: what a ```shell block may hold: commands that set up or benchmark, never something a page relies on
SHELL_COMMANDS = ("pip install", "python -m pip install", ".venv/bin/python -m pip install", "make ",
                  ".venv/bin/python benchmarks/", "OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/",
                  "backprop predict --help", "backprop train ... --dask")

#: a printed number agrees with the one the page shows within this relative difference (BLAS-thread
#: rounding), or within one unit of the last digit the page shows (the page shows rounded numbers)
REL_TOL = 1e-6

_FENCE = re.compile(r"^```(\S*)\s*$")
_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"


class Block:
    """One fenced block of a page: its language, its text and the line it starts on."""

    def __init__(self, lang, text, line):
        self.lang, self.text, self.line = lang, text, line
        self.output = None          # the ```text block that follows, if any

    def __repr__(self):
        return f"<{self.lang} block at line {self.line}>"


def pages():
    """The README and every Markdown page of the documentation."""
    return [ROOT / "README.md"] + sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def blocks(path):
    """The fenced blocks of ``path`` in order, each ```text block attached to the block before it."""
    found, lang, start, lines = [], None, 0, []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        m = _FENCE.match(line)
        if lang is None:
            if m:
                lang, start, lines = m.group(1), n, []
            elif line.startswith("```"):
                raise ValueError(f"{path}:{n}: a fence that opens with text after the language: {line!r}")
        elif line.rstrip() == "```":
            found.append(Block(lang, "\n".join(lines) + "\n", start))
            lang = None
        else:
            lines.append(line)
    if lang is not None:
        raise ValueError(f"{path}:{start}: a block that is never closed")
    out = []
    for b in found:
        if b.lang == "text" and out and out[-1].lang in ("python", "bash") and out[-1].output is None:
            out[-1].output = b
        else:
            out.append(b)
    return out


def _expected_pattern(expected):
    """A regex for the printed text: each number a group, ``...`` any text, whitespace runs any whitespace."""
    parts, numbers = [], []
    for token in re.findall(rf"\.\.\.|{_NUMBER}|\s+|[^\s\d.+-]+|.", expected.strip()):
        if token == "...":                   # any text, including none and the whitespace around it
            if parts and parts[-1] == r"\s+":
                parts[-1] = r"\s*"
            parts.append(r".*?")
        elif token.isspace():
            parts.append(r"\s*" if parts and parts[-1] == r".*?" else r"\s+")
        elif re.fullmatch(_NUMBER, token) and not (parts and parts[-1] == re.escape(".")):
            parts.append(f"({_NUMBER})")
            numbers.append(token)
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts), re.S), numbers


def numbers_agree(shown, printed):
    """True when the printed number is the one shown: equal within REL_TOL relative, or within one unit
    of the last digit the page shows (a page that shows 0.0024 agrees with a printed 0.0025 or 0.0023)."""
    a, b = float(shown), float(printed)
    if a == b:
        return True
    mantissa = shown.lower().split("e")[0]
    exponent = int(shown.lower().split("e")[1]) if "e" in shown.lower() else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    unit = 10.0 ** (exponent - decimals)
    return abs(a - b) <= max(REL_TOL * abs(a), unit) and math.isfinite(b)


def compare_output(expected, printed):
    """None when ``printed`` shows ``expected``; else a message naming the first difference."""
    pattern, shown = _expected_pattern(expected)
    m = pattern.fullmatch(printed.strip())
    if m is None:
        return f"the printed text does not have the shown form.\n--- shown:\n{expected}\n--- printed:\n{printed}"
    for k, (s, p) in enumerate(zip(shown, m.groups())):
        if not numbers_agree(s, p):
            return f"number {k + 1} of the shown output: shown {s}, printed {p}.\n--- printed:\n{printed}"
    return None


def run_bash(block):
    """Run the ``backprop`` command lines of a ```bash block in this process; return what they print."""
    from backprop.faces.cli.main import main

    out = io.StringIO()
    for line in block.text.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] != "backprop":
            raise AssertionError(f"a ```bash block holds backprop commands only; got {line!r}")
        with contextlib.redirect_stdout(out):
            code = main(words[1:])
        if code != 0:
            raise AssertionError(f"{line!r} exited with {code}; it printed:\n{out.getvalue()}")
    return out.getvalue()


def run_python(block, namespace, where):
    """Run a ```python block in ``namespace``; return what it prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.text, where, "exec"), namespace)
    return out.getvalue()
