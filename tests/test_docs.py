"""Documentation that cannot drift: the site builds without a warning, every code block of the README and
of the pages runs as a reader pastes it and prints what the page shows, and the docstrings' examples run.

Printed numbers are compared to a relative 1e-6 or one unit of the last digit shown (``doc_pages.REL_TOL``,
``doc_pages.numbers_agree``), so BLAS-thread rounding cannot fail a page while a changed result does.
"""
import doctest
import importlib
import os
import subprocess
import sys
import warnings

import pytest

import backprop
from doc_pages import DOCS, ROOT, SHELL_COMMANDS, blocks, compare_output, pages, run_bash, run_python

PAGES = pages()
#: the Dask page starts a cluster: it runs beside tests/test_cluster.py's, not at the same time
PAGE_PARAMS = [pytest.param(p, marks=pytest.mark.xdist_group("cluster")) if p.name == "dask.md" else p
               for p in PAGES]


def _id(path):
    return str(path.relative_to(ROOT))


# ---- the pages' code blocks -----------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGE_PARAMS, ids=_id)
def test_page_code_blocks_run_in_order_and_print_what_the_page_shows(page, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    ran = 0
    for block in blocks(page):
        where = f"{_id(page)}:{block.line}"
        if block.lang == "python":
            printed = run_python(block, namespace, where)
        elif block.lang == "bash":
            printed = run_bash(block)
        elif block.lang == "shell":
            for line in block.text.splitlines():
                assert not line.strip() or line.startswith(SHELL_COMMANDS), \
                    f"{where}: a ```shell block is not run, so it may hold only set-up commands; got {line!r}"
            continue
        elif block.lang.startswith("{") or block.lang == "text":
            continue
        else:
            pytest.fail(f"{where}: a block of language {block.lang!r}: use python, bash, text or shell")
        ran += 1
        if block.output is not None:
            problem = compare_output(block.output.text, printed)
            assert problem is None, f"{where}: {problem}"
    if page.name == "README.md" or page.parent.name in ("tutorials", "howto"):
        assert ran > 0, f"{_id(page)} has no code block that runs"


def test_shown_output_is_compared_number_by_number():
    assert compare_output("loss 0.002386, accuracy 98.51%", "loss 0.002386, accuracy 98.51%") is None
    # rounding of the last digit shown, and BLAS-thread rounding of a long number, pass
    assert compare_output("loss 0.002386", "loss 0.002387") is None
    assert compare_output("H = -3.015905850602e-05", "H = -3.015905850619e-05") is None
    # a changed result, a changed word, a missing line fail
    assert "shown 0.002386, printed 0.002396" in compare_output("loss 0.002386", "loss 0.002396")
    assert compare_output("stopped: max_epochs", "stopped: converged") is not None
    assert compare_output("a\nb", "a") is not None
    # ... stands for any text, also several lines or none
    assert compare_output("trained in ... s\n...\ntest 97.56%", "trained in 0.14 s\nx\ny\ntest 97.56%") is None
    assert compare_output("a ...\nb", "a\nb") is None
    assert compare_output("a ...", "b c") is not None


def test_every_page_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        if page.parent == ROOT or page.name == "index.md":
            continue
        name = page.relative_to(DOCS).with_suffix("").as_posix()
        assert name in index, f"docs/index.md does not list {name}"


def test_the_code_the_derivations_name_exists():
    import glob
    import re

    text = (DOCS / "derivations.md").read_text(encoding="utf-8")
    named = re.findall(r"`([\w/.*-]+\.py|[\w]+/(?:[\w]+/)*)`", text)
    assert len(named) > 15
    missing = [n for n in named if not glob.glob(str(ROOT / "src" / "backprop" / n)) and not glob.glob(str(ROOT / n))]
    assert missing == []


def test_the_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.index("## Install") < text.index("## Quick start")
    assert "make demo" in text and "make test" in text
    assert len(text.splitlines()) < 120, "the README points to the documentation instead of holding it"
    quick = [b for b in blocks(ROOT / "README.md") if b.lang == "python"]
    assert quick and len(quick[0].text.splitlines()) <= 10


# ---- the docstrings' examples ----------------------------------------------------------------------------

def _modules_with_examples():
    """The modules whose source has a docstring example, found without importing anything."""
    src = ROOT / "src"
    names = []
    for path in sorted((src / "backprop").rglob("*.py")):
        if ">>> " in path.read_text(encoding="utf-8"):
            parts = path.relative_to(src).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules_with_examples()
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _doctests(name):
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    # only the examples written in this module (not those of names it imports)
    return [t for t in tests if t.examples and t.filename == module.__file__]


def test_docstring_examples_are_collected():
    assert len(MODULES) >= 30


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)            # examples that write a file write it here
    tests = _doctests(name)
    assert tests, f"{name} has '>>> ' in its source but no docstring example was found"
    reports, skipped = [], []
    for test in tests:
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = runner.run(test, out=out.append, clear_globs=True)
        report = "".join(out)
        if result.failed and ("MissingDependencyError" in report or "ModuleNotFoundError" in report):
            skipped.append(test.name)       # needs an extra that is not installed here
        elif result.failed:
            reports.append(report)
    assert reports == [], "\n".join(reports)
    if skipped:
        pytest.skip(f"examples that need an extra that is not installed: {skipped}")


# ---- the site ---------------------------------------------------------------------------------------------

@pytest.mark.xdist_group("sphinx")
def test_the_site_builds_without_a_warning(tmp_path):
    """``make docs`` in a temporary directory: -W (warnings are errors), -n (every reference resolves)."""
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("myst_parser")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-b", "html", "-W", "--keep-going", "-n", "-q",
                           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    api = (tmp_path / "html" / "api" / "backprop.html").read_text(encoding="utf-8")
    missing = [n for n in backprop.__all__ if f'id="backprop.{n}"' not in api
               and not isinstance(getattr(backprop, n), type(backprop))]
    assert missing == [], f"names of backprop.__all__ without an entry in the API reference: {missing}"
    for page in PAGES[1:]:
        html = tmp_path / "html" / page.relative_to(DOCS).with_suffix(".html")
        assert html.is_file(), f"{_id(page)} was not built"
    for figure in (DOCS / "figures").glob("*.png"):
        if figure.name in "".join(p.read_text(encoding="utf-8") for p in PAGES[1:]):
            assert list((tmp_path / "html").rglob(figure.name)), f"{figure.name} is not in the built site"
