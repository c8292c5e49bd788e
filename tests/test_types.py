"""The package type-checks: mypy with the configuration of pyproject.toml, strict on the public modules."""
import fnmatch
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "backprop"

# one worker runs mypy while the other goes on with the rest of the suite
pytestmark = [
    pytest.mark.xdist_group("types"),
    pytest.mark.skipif(not SRC.is_dir(), reason="needs the source tree (src/backprop)"),
]


def _overrides():
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["mypy"]["overrides"]


def _modules():
    """Every module of the package by its dotted name (``backprop``, ``backprop.losses``, ...)."""
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _matches(module, patterns):
    return any(fnmatch.fnmatchcase(module, p) or (p.endswith(".*") and module == p[:-2]) for p in patterns)


def test_mypy_passes_on_the_package():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-color-output", "--no-error-summary"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    assert out.returncode == 0, f"mypy failed after {seconds:.1f} s:\n{out.stdout}{out.stderr}"
    assert out.stdout.strip() == "", out.stdout


def test_every_module_is_strict():
    """The strict flags cover every module of the package, and no override switches a module's errors off."""
    strict = [o for o in _overrides() if o.get("disallow_untyped_defs")]
    assert len(strict) == 1, "one override holds the strict flags"
    flags = {"disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_calls", "disallow_untyped_defs",
             "disallow_incomplete_defs", "check_untyped_defs", "disallow_untyped_decorators",
             "warn_unused_ignores", "strict_equality", "extra_checks"}
    assert all(strict[0].get(f) is True for f in flags), "the strict override sets every flag of mypy --strict"
    assert strict[0].get("implicit_reexport") is False
    unlisted = [m for m in _modules() if not _matches(m, strict[0]["module"])]
    assert unlisted == [], f"modules outside the strict override of pyproject.toml [tool.mypy]: {unlisted}"
    relaxed = [p for o in _overrides() if o is not strict[0] and (o.get("ignore_errors") or any(
               o.get(f) is False for f in flags)) for p in o["module"] if p.startswith("backprop")]
    assert relaxed == [], f"overrides that relax the checks of backprop modules: {relaxed}"
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as f:
        assert "untyped_calls_exclude" not in tomllib.load(f)["tool"]["mypy"]
