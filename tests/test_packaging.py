"""The distribution: its metadata, the core without any extra, and the sdist and wheel as a user gets them."""
import ast
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

import backprop
from backprop import _optional

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "backprop"

#: every optional dependency the library may import (top-level module names)
OPTIONAL = ("matplotlib", "sklearn", "pandas", "pyarrow", "tqdm", "networkx", "torch", "onnx", "onnxruntime",
            "safetensors", "skl2onnx", "dask", "distributed", "numba")


def _pyproject():
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _env_without_sources():
    """The environment for another interpreter: no PYTHONPATH pointing into the source tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


# ---- metadata ------------------------------------------------------------------------------------------

def test_metadata_names_the_distribution_the_messages_install():
    project = _pyproject()["project"]
    assert project["name"] == _optional.DISTRIBUTION != "backprop"
    assert project["dynamic"] == ["version"] and "version" not in project
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "backprop.__version__"}
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "Copyright (c) 2026 the backprop authors" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert (SRC / "py.typed").is_file()
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{backprop.__version__}]" in changelog


def test_core_needs_numpy_and_scipy_only_and_all_covers_every_extra():
    project = _pyproject()["project"]
    core = sorted(d.split(">")[0].split("<")[0].split("=")[0].strip() for d in project["dependencies"])
    assert core == ["numpy", "scipy"]
    extras = project["optional-dependencies"]
    assert extras["plots"][0].startswith("matplotlib") and extras["sklearn"][0].startswith("scikit-learn")
    assert extras["progress"][0].startswith("tqdm")
    assert [d.split(">")[0] for d in extras["tables"]] == ["pandas", "pyarrow"]
    # `all` installs every extra that users ask for (not the test tools)
    (everything,) = extras["all"]
    name, _, listed = everything.partition("[")
    assert name == _optional.DISTRIBUTION
    assert sorted(listed.rstrip("]").split(",")) == sorted(set(extras) - {"all", "test", "docs"})


def test_no_private_scikit_learn_imports():
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sklearn":
                private = [p for p in node.module.split(".") if p.startswith("_")]
                private += [a.name for a in node.names if a.name.startswith("_")]
                if private:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {', '.join(private)}")
            elif isinstance(node, ast.Import):
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {a.name}" for a in node.names
                              if a.name.split(".")[0] == "sklearn" and "._" in a.name]
    assert offenders == []


def _imported_tops(node):
    if isinstance(node, ast.Import):
        return {a.name.split(".")[0] for a in node.names}
    if isinstance(node, ast.ImportFrom) and node.level == 0:
        return {node.module.split(".")[0]}
    return set()


def _required_tops(tree):
    return {c.args[0].value.split(".")[0] for c in ast.walk(tree) if isinstance(c, ast.Call)
            and getattr(c.func, "id", None) == "require" and c.args and isinstance(c.args[0], ast.Constant)}


#: modules that still import an optional dependency directly (none left)
NOT_YET_THROUGH_REQUIRE: set[str] = set()
#: modules that subclass an optional library's classes, imported only by functions that ``require`` it first
IMPORTED_AFTER_REQUIRE = {"faces/exports/_torch_modules.py": "faces/exports/torch_io.py"}


def test_every_optional_import_is_lazy_and_goes_through_require():
    """An optional module is imported inside a function that asks ``require`` for it first (the estimators:
    at module level, behind the ``require`` of their package's ``__init__``)."""
    estimators = SRC / "faces" / "estimators"
    assert "sklearn" in _required_tops(ast.parse((estimators / "__init__.py").read_text(encoding="utf-8")))
    unguarded = set()
    for path in SRC.rglob("*.py"):
        name = path.relative_to(SRC).as_posix()
        if name == "_optional.py" or name in NOT_YET_THROUGH_REQUIRE or name in IMPORTED_AFTER_REQUIRE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:                          # module level: only the guarded estimators
            if _imported_tops(node) & set(OPTIONAL) and estimators not in path.parents:
                unguarded.add(f"{name}:{node.lineno}")
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                needed = set().union(*(_imported_tops(n) for n in ast.walk(fn))) & set(OPTIONAL)
                unguarded |= {f"{name}:{fn.name}: {top}" for top in needed - _required_tops(fn)}
    assert unguarded == set()
    for module, importer in IMPORTED_AFTER_REQUIRE.items():        # ... and that importer does require it
        tree = ast.parse((SRC / importer).read_text(encoding="utf-8"))
        body = ast.parse((SRC / module).read_text(encoding="utf-8")).body
        assert set().union(*map(_imported_tops, body)) & set(OPTIONAL) <= _required_tops(tree)


def test_backprop_datasets_is_a_module_with_the_data_functions():
    import backprop.data
    import backprop.datasets
    from backprop.datasets import digits, train_test_split

    assert backprop.datasets is backprop.__dict__["datasets"]
    assert digits is backprop.data.digits and train_test_split is backprop.data.train_test_split
    assert backprop.datasets.__all__ == backprop.data.__all__
    assert all(getattr(backprop.datasets, name) is getattr(backprop.data, name) for name in backprop.data.__all__)


# ---- optional dependencies -------------------------------------------------------------------------------

def test_require_names_the_extra_and_keeps_other_import_errors(monkeypatch):
    for name in ("matplotlib", "matplotlib.figure"):             # as if it were not installed
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(_optional.MissingDependencyError) as info:
        _optional.require("matplotlib.figure", extra="plots", feature="plots")
    assert str(info.value) == ("matplotlib is needed for plots but is not installed: "
                               f"pip install '{_optional.DISTRIBUTION}[plots]'")
    assert isinstance(info.value, ImportError) and info.value.name == "matplotlib"
    assert isinstance(info.value, ValueError)           # reported in one line by the command line
    with pytest.raises(_optional.MissingDependencyError, match=r"^no_such_package_x is needed for y but is not "
                                                              r"installed: pip install '.*\[x\]'$"):
        _optional.require("no_such_package_x.sub", extra="x", feature="y")
    # an installed package whose submodule does not exist is not "missing": the original error stays
    with pytest.raises(ModuleNotFoundError) as info:
        _optional.require("numpy.no_such_module", extra="core", feature="this")
    assert not isinstance(info.value, _optional.MissingDependencyError)
    assert _optional.require("numpy.linalg", extra="core", feature="this").__name__ == "numpy.linalg"


def test_plain_progress_counter_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    X, y = backprop.datasets.xor()
    net = backprop.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    backprop.train(net, "bce", X, y, epochs=3, verbose=True)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("training: 3/3 epoch loss=")
    bar = _optional.progress_bar(total=2, desc="d", unit="u", file=sys.stderr)
    assert isinstance(bar, _optional._PlainBar)


BLOCKER = """
import importlib.abc, sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""

CORE_SCRIPT = """
import sys
import numpy as np
import backprop as bp
from backprop._optional import MissingDependencyError

loaded = sorted(m for m in {optional!r} if m in sys.modules)
assert not loaded, f"import backprop imported {{loaded}}"
from backprop.datasets import digits, moons, train_test_split
X, y = bp.datasets.spirals(n_samples=40)
net = bp.MLP([2, 4, 2], hidden="tanh", output="softmax", seed=0)
value, grad = bp.loss_and_grad(net, "cross_entropy", X, y)
assert grad.shape == net.params.shape and np.isfinite(value)
bp.train(net, "cross_entropy", X, y, epochs=2, verbose=False)

def plots():
    from backprop.faces.plots import plot_confusion
    plot_confusion(np.eye(2))

def estimators():
    import backprop.sklearn

for call in (digits, moons, lambda: train_test_split(X, y), plots, estimators):
    try:
        call()
    except MissingDependencyError as e:
        print(e)
    else:
        print("no error")
"""


def _expected_messages():
    hint = _optional.install_hint
    return [f"scikit-learn is needed for datasets.digits() but is not installed: {hint('sklearn')}",
            f"scikit-learn is needed for datasets.moons() but is not installed: {hint('sklearn')}",
            f"scikit-learn is needed for datasets.train_test_split() but is not installed: {hint('sklearn')}",
            f"matplotlib is needed for plots but is not installed: {hint('plots')}",
            "scikit-learn is needed for the scikit-learn estimators (backprop.sklearn) but is not installed: "
            + hint("sklearn")]


def test_core_works_without_any_extra_and_each_missing_one_names_its_pip_install(tmp_path):
    script = BLOCKER.format(blocked=set(OPTIONAL)) + CORE_SCRIPT.format(optional=OPTIONAL)
    env = _env_without_sources()
    env["PYTHONPATH"] = str(ROOT / "src")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == _expected_messages()


# ---- the sdist and the wheel, built and installed --------------------------------------------------------

def _copy_sources(dest):
    """The project's files, without what builds, runs and version control leave behind."""
    skip = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                  ".hypothesis", ".pytest_cache", "*.pyc", "out")
    shutil.copytree(ROOT, dest, ignore=skip)


def _run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.mark.slow
def test_sdist_and_wheel_build_install_and_run_with_the_core_only(tmp_path):
    pytest.importorskip("build")
    env = _env_without_sources()
    project = tmp_path / "project"
    _copy_sources(project)
    # an isolated build, as pip and packagers run it: it checks that build-system.requires is complete
    _run([sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(project)], env=env)
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    version = backprop.__version__
    stem = f"{_optional.DISTRIBUTION.replace('-', '_')}-{version}"
    assert sdist.name == f"{stem}.tar.gz" and wheel.name == f"{stem}-py3-none-any.whl"

    with tarfile.open(sdist) as tar:
        members = {m.name.partition("/")[2] for m in tar.getmembers()}
        tar.extractall(tmp_path / "unpacked", filter="data")
    tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("*.py")}
    assert {"LICENSE", "README.md", "pyproject.toml", "CHANGELOG.md", "src/backprop/py.typed"} <= members
    assert {"tests/helpers.py", "tests/conftest.py"} <= tests <= members
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        metadata = whl.read(f"{stem}.dist-info/METADATA").decode()
    assert {"backprop/py.typed", f"{stem}.dist-info/licenses/LICENSE", "backprop/_optional.py"} <= names
    assert not any(n.startswith("tests/") for n in names)
    requires = sorted(line.split()[1].split("<")[0].split(">")[0] for line in metadata.splitlines()
                      if line.startswith("Requires-Dist:") and "extra ==" not in line)
    assert requires == ["numpy", "scipy"]

    # a fresh virtualenv with the wheel and its core dependencies only (pip fetches numpy and scipy)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env)
    python, console = venv / "bin" / "python", venv / "bin" / "backprop"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile", str(wheel)],
         env=env)
    check = subprocess.run([str(python), "-c", textwrap.dedent(f"""
        import importlib.util, backprop as bp
        print(bp.__file__)
        print(bp.__version__)
        print(sorted(m for m in {OPTIONAL!r} if importlib.util.find_spec(m) is not None))
        bp.datasets.digits()
        """)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    where, installed_version, extras_found = check.stdout.splitlines()
    assert where.startswith(str(venv)) and installed_version == version and extras_found == "[]"
    assert check.returncode == 1 and check.stderr.strip().splitlines()[-1] == (
        f"backprop._optional.MissingDependencyError: {_expected_messages()[0]}")
    assert "train" in _run([str(python), "-m", "backprop", "--help"], env=env, cwd=tmp_path).stdout
    assert _run([str(console), "--version"], env=env, cwd=tmp_path).stdout.strip() == f"backprop {version}"
    trained = _run([str(console), "train", "--data", "xor", "--epochs", "3", "--out", str(tmp_path / "m.npz")],
                   env=env, cwd=tmp_path)
    # no progress bar when stderr is not a terminal (the plain counter without tqdm: test above)
    assert "trained  3 epochs" in trained.stdout and "\r" not in trained.stderr
    spirals = subprocess.run([str(console), "train", "--data", "spirals", "--epochs", "1", "--quiet"],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert spirals.returncode == 1                  # its test split needs scikit-learn
    assert spirals.stderr == f"backprop: error: {_expected_messages()[2]}\n"

    # every test file of the sdist is there with its helpers and conftest (asserted above); a part that uses
    # the helpers passes from the unpacked sdist
    unpacked = tmp_path / "unpacked" / stem
    env_sdist = dict(env, PYTHONPATH=str(unpacked / "src"))
    where = _run([sys.executable, "-c", "import backprop; print(backprop.__file__)"], env=env_sdist, cwd=unpacked)
    assert where.stdout.strip() == str(unpacked / "src" / "backprop" / "__init__.py")
    ran = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_jacobian.py"],
               env=env_sdist, cwd=unpacked)
    assert " passed" in ran.stdout and "failed" not in ran.stdout


@pytest.mark.slow
@pytest.mark.xdist_group("extras")
@pytest.mark.skipif(not os.environ.get("BACKPROP_TEST_EXTRAS"),
                    reason="runs the whole suite again from the sdist (minutes): `make test` runs it, or set "
                           "BACKPROP_TEST_EXTRAS=1")
def test_the_whole_test_suite_passes_from_the_unpacked_sdist(tmp_path):
    """What a packager does: unpack the sdist and run its tests against its own sources (this file aside:
    it builds and installs the package itself)."""
    pytest.importorskip("build")
    env = _env_without_sources()
    project = tmp_path / "project"
    _copy_sources(project)
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path / "dist"), str(project)], env=env)
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    env = dict(env, PYTHONPATH=str(unpacked / "src"))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist",
                          "loadgroup", "--ignore=tests/test_packaging.py"],
                         capture_output=True, text=True, env=env, cwd=unpacked, timeout=1200)
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert out.returncode == 0 and " passed" in summary and "failed" not in summary and "error" not in summary, \
        f"the sdist's suite: {summary}\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}"


# ---- each extra's features work after installing it ------------------------------------------------------

#: a smoke call of each extra's features, run in a fresh virtualenv holding the wheel and that extra only
EXTRA_SMOKE = {
    "plots": """
        X, y = bp.datasets.xor()
        net = bp.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
        bp.train(net, "bce", X, y, epochs=3, verbose=False).plot("run.png")
        bp.draw_trace(bp.trace(net, [1.0, 0.0], 1.0), "trace.svg")
        assert os.path.getsize("run.png") > 0 and os.path.getsize("trace.svg") > 0
        """,
    "sklearn": """
        from backprop.sklearn import MLPClassifier
        X, y = bp.datasets.digits()
        X_train, X_test, y_train, y_test = bp.datasets.train_test_split(X, y)
        clf = MLPClassifier((16,), solver="lbfgs", max_iter=300, random_state=0).fit(X_train, y_train)
        assert clf.score(X_test, y_test) > 0.8 and bp.datasets.moons(50)[0].shape == (50, 2)
        """,
    "tables": """
        import pandas as pd
        pd.DataFrame({"a": [0.5, 1.5, 2.5], "label": ["x", "y", "x"]}).to_parquet("t.parquet")
        X, y, names, fill = bp.datasets.load_table("t.parquet", target="label")
        assert X.shape == (3, 1) and list(y) == ["x", "y", "x"] and names == ["a"]
        """,
    "progress": """
        import tqdm
        X, y = bp.datasets.xor()
        bp.train(bp.MLP([2, 3, 1], output="sigmoid"), "bce", X, y, epochs=2, verbose=True)
        """,
    "torch": """
        net = bp.MLP([4, 8, 3], hidden="relu", output="softmax", seed=0)
        assert np.array_equal(bp.from_torch(bp.to_torch(net)).params, net.params)
        """,
    "safetensors": """
        net = bp.MLP([4, 8, 3], hidden="relu", output="softmax", seed=0)
        net.save("m.safetensors")
        assert np.array_equal(bp.load("m.safetensors").params, net.params)
        """,
    "onnx": """
        import onnx
        bp.to_onnx(bp.MLP([4, 8, 3], hidden="relu", output="softmax", seed=0), "m.onnx")
        onnx.checker.check_model(onnx.load("m.onnx"))
        bp.register_skl2onnx()
        """,
    "dask": """
        import dask.array as da
        X = np.random.default_rng(0).normal(size=(40, 4))
        T = np.random.default_rng(1).normal(size=(40, 1))
        net = bp.MLP([4, 5, 1], output="identity", seed=0)
        grad = bp.loss_and_grad(net, "l2", da.from_array(X, chunks=(10, 4)), da.from_array(T, chunks=(10, 1)))[1]
        assert np.allclose(grad, bp.loss_and_grad(net, "l2", X, T)[1])
        """,
    "fast": """
        from backprop.training import fused
        X = np.random.default_rng(0).random((64, 300))
        y = np.random.default_rng(1).integers(0, 10, 64)
        runs = []
        for flag in ("0", "1"):
            os.environ["BACKPROP_FUSED"] = flag
            net = bp.MLP([300, 256, 10], hidden="relu", output="softmax", seed=0)
            bp.train(net, "cross_entropy", X, y, bp.SGD(lr=0.05, momentum=0.9), epochs=1, verbose=False)
            runs.append(net.params)
        assert fused.available() and fused._KERNELS is not None and np.array_equal(*runs)
        """,
}

#: the torch extra would let pip take the newest torch for the platform (on Linux the large CUDA build):
#: the test installs the CPU build the project pins instead
EXTRA_PINS = {"torch": ["torch==2.13.0"]}


def test_every_extra_has_a_smoke_call():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert set(EXTRA_SMOKE) == set(extras) - {"all", "test", "docs"}


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory):
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("wheel")
    project = out / "project"
    _copy_sources(project)
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out / "dist"), str(project)],
         env=_env_without_sources())
    (wheel,) = (out / "dist").glob("*.whl")
    return wheel


@pytest.mark.slow
@pytest.mark.xdist_group("extras")
@pytest.mark.skipif(not os.environ.get("BACKPROP_TEST_EXTRAS"),
                    reason="installs every extra into its own virtualenv (the package index): `make test` "
                           "runs it, or set BACKPROP_TEST_EXTRAS=1")
@pytest.mark.parametrize("extra", sorted(EXTRA_SMOKE))
def test_each_extra_works_in_a_fresh_virtualenv_with_the_wheel(extra, built_wheel, tmp_path):
    env = _env_without_sources()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile",
          f"{built_wheel}[{extra}]", *EXTRA_PINS.get(extra, [])], env=env)
    script = "import os\nimport numpy as np\nimport backprop as bp\n" + textwrap.dedent(EXTRA_SMOKE[extra])
    _run([str(python), "-W", "error::DeprecationWarning", "-c", script], env=env, cwd=tmp_path)
    # the venv holds this extra only: scikit-learn, say, comes with the sklearn extra (and with onnx, whose
    # skl2onnx depends on it), not with the others
    listed = _run([str(python), "-c", "import importlib.util as u; print(sorted(m for m in "
                   f"{OPTIONAL!r} if u.find_spec(m)))"], env=env, cwd=tmp_path)
    found = set(ast.literal_eval(listed.stdout.strip()))
    if extra not in ("sklearn", "onnx"):
        assert "sklearn" not in found, found
