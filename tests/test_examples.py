"""Every script in examples/ runs and asserts the notes' numbers (each script checks itself; here we run them)."""
import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def test_there_is_a_script_per_worked_example():
    names = {p.stem for p in EXAMPLES}
    assert {"note000_xor_relu", "note001_vector_form", "note002_two_layer_tanh", "note002_hessian",
            "note003_softmax_label_smoothing", "note004_graph"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_prints(path, capsys):
    runpy.run_path(str(path), run_name="__main__")          # the scripts assert the notes' numbers themselves
    out = capsys.readouterr().out
    assert len(out.splitlines()) > 10


def test_example_numbers():
    ns = runpy.run_path(str(EXAMPLES[0].parent / "note004_graph.py"))
    assert ns["main"](verbose=False)["trace"].E == 3.125
    ns = runpy.run_path(str(EXAMPLES[0].parent / "note002_hessian.py"))
    r = ns["main"](verbose=False)
    assert r["err4"] < 1e-6 and r["err_mixed"] < 1e-7
    ns = runpy.run_path(str(EXAMPLES[0].parent / "note001_vector_form.py"))
    norms = ns["main"](verbose=False)["delta_norms"]
    assert all(a < b for a, b in zip(norms, norms[1:]))       # shrinking towards the input, layer by layer
