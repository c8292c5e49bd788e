"""No option is ignored silently: for every subcommand, every option, in every mode, giving the option
either changes what the user gets (output, exit code, files written, checkpoints taken) or the command
refuses it with a usage error (exit 2) that names it."""
import contextlib
import io
import json
import os
import re
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import backprop as bp
from backprop.engine import serialize
from backprop.faces import cli
from backprop.training import checkpoint as ckpt


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A binary CSV file with a header, an MNIST-format directory (3 classes, own test files), and a
    model trained on each data set."""
    d = tmp_path_factory.mktemp("inert")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    with open(d / "two.csv", "w") as f:
        f.write("a,b,label\n")
        for (a, b), t in zip(X, (X[:, 0] > X[:, 1]).astype(int)):
            f.write(f"{a},{b},{t}\n")
    mnist = d / "mnist"
    mnist.mkdir()
    for kind, n in (("train", 30), ("t10k", 9)):
        labels = np.arange(n, dtype=np.uint8) % 3
        images = rng.integers(0, 40, size=(n, 4, 4)).astype(np.uint8)
        images[np.arange(n), labels, :] = 255
        bp.datasets.save_idx(mnist / f"{kind}-images-idx3-ubyte", images)
        bp.datasets.save_idx(mnist / f"{kind}-labels-idx1-ubyte", labels)
    data = {"xor": "xor", "csv": str(d / "two.csv"), "mnist": f"mnist:{mnist}"}
    models = {}
    for name, spec in data.items():
        models[name] = str(d / f"{name}.npz")
        target = ["--target", "label"] if name == "csv" else []
        with _quiet():
            assert cli.main(["train", "--data", spec, *target, "--hidden", "3", "--epochs", "3", "--quiet",
                             "--out", models[name]]) == 0
    return {"dir": d, "data": data, "models": models}


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _digest(path):
    """What a user gets from a file: a model's parameters and stored information, a JSON history
    (timings dropped), or the bytes."""
    if path.endswith(".npz"):
        net, meta, arrays = serialize.load_bundle(path)
        for r in meta.get("history", {}).get("records", []):
            r.pop("time", None)
        return (net.params.dtype.str, net.params.tobytes(), json.dumps(meta, sort_keys=True),
                tuple((k, v.tobytes()) for k, v in sorted(arrays.items())))
    if path.endswith(".json"):
        with open(path) as f:
            h = json.load(f)
        for r in h.get("records", []):
            r.pop("time", None)
        return json.dumps(h, sort_keys=True)
    with open(path, "rb") as f:
        return f.read()


def _observe(argv):
    """Run ``backprop argv`` in a fresh directory: exit code, standard output and error (timings
    masked), the checkpoints written (file, epoch), and the files created."""
    writes = []
    original = ckpt.write

    def spy(path, net, optimizer, rng, state, *rest, **kw):
        writes.append((os.path.basename(str(path)), state.epoch))
        return original(path, net, optimizer, rng, state, *rest, **kw)

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        ckpt.write = spy
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main([str(a) for a in argv])
            made = {f: _digest(os.path.join(d, f)) for f in sorted(os.listdir(d))}
        finally:
            ckpt.write = original
            os.chdir(cwd)
    stdout = re.sub(r"in \d+\.\d+ s", "in T s", out.getvalue())
    stderr = re.sub(r"\[[^\]]*\]", "[]", err.getvalue())           # progress bar timings and rates
    return code, stdout, stderr, tuple(writes), made


_BASELINES = {}


def _assert_not_ignored(base_argv, option_argv, option):
    key = tuple(map(str, base_argv))
    if key not in _BASELINES:
        _BASELINES[key] = _observe(base_argv)          # the runs are deterministic
    base = _BASELINES[key]
    assert base[0] == 0, base
    varied = _observe(base_argv + option_argv)
    if varied[0] == 2:
        assert varied[2].startswith(f"backprop: error: {option}") or option in varied[2], varied[2]
        assert varied[4] == {}, "a refused command writes nothing"
    else:
        assert varied != base, f"{option_argv} changed nothing and was not refused, in: {' '.join(base_argv)}"


# ---- train: modes x options ---------------------------------------------------------------------

DATA = ("xor", "csv", "mnist")
OPTIMIZERS = ("gd", "sgd", "adam", "nesterov")
HIDDEN = ("3", "none")
EXTRAS = ("", "checkpoint", "tol0", "validation")
# training holds out a validation part by default (of 20 samples or more): "validation" sets its size,
# the other modes turn it off
_EXTRA_ARGS = {"": ["--validation-fraction", "0"], "checkpoint": ["--checkpoint", "ck.npz", "--validation-fraction", "0"],
               "tol0": ["--tol", "0", "--validation-fraction", "0"], "validation": ["--validation-fraction", "0.3"]}


def _train_base(files, mode):
    data, optimizer, hidden, extra = mode
    target = ["--target", "label"] if data == "csv" else []
    return (["train", "--data", files["data"][data], *target, "--optimizer", optimizer, "--hidden", hidden,
             "--epochs", "60", "--lr", "0.05"] + _EXTRA_ARGS[extra])   # more epochs than --patience (50)


def _binary(mode):
    return mode[0] != "mnist"


# each option: mode -> (arguments added to the command, context added to both runs), or None where the
# option's only values restate what the mode does already
TRAIN_OPTIONS = {
    "--target": lambda m: None if m[0] == "csv" else (["--target", "label"], []),
    "--hidden": lambda m: (["--hidden", "5"], []),
    "--activation": lambda m: (["--activation", "sigmoid"], []),
    "--loss": lambda m: (["--loss", "cross_entropy" if _binary(m) else "l2"], []),
    "--l2": lambda m: (["--l2", "0.1"], []),
    "--seed": lambda m: (["--seed", "3"], []),
    "--label-smoothing": lambda m: (["--label-smoothing", "0.1"], []),
    "--lr": lambda m: (["--lr", "0.3"], []),
    "--momentum": lambda m: (["--momentum", "0.5"], []),
    "--nesterov": lambda m: None if m[1] == "nesterov" else (["--nesterov"], []),
    "--weight-decay": lambda m: (["--weight-decay", "0.1"], []),
    "--schedule": lambda m: (["--schedule", "cosine"], []),
    "--batch-size": lambda m: (["--batch-size", "2"], []),
    "--epochs": lambda m: (["--epochs", "5"], []),
    # with early stopping on a validation part of one or two samples both runs can stop at the same epoch
    # for the same reason (no validation improvement), --tol's convergence test included
    "--tol": lambda m: None if m[3] == "validation" else (["--tol", "10"], []),
    # --patience counts epochs for the convergence test: it needs a --tol that is met
    "--patience": lambda m: (["--patience", "2"], [] if m[3] == "tol0" else ["--tol", "10"]),
    "--test-size": lambda m: (["--test-size", "0.5"], []),
    "--validation-fraction": lambda m: (["--validation-fraction", "0.5"], []),
    "--standardize": lambda m: (["--no-standardize" if m[0] == "csv" else "--standardize"], []),
    "--dtype": lambda m: (["--dtype", "float32"], []),
    "--out": lambda m: (["--out", "other.npz"], []),
    "--history": lambda m: (["--history", "h.json"], []),
    "--checkpoint": lambda m: (["--checkpoint", "other-ck.npz"], []),
    "--checkpoint-every": lambda m: (["--checkpoint-every", "5"], []),
    "--resume": lambda m: (["--resume"], []),
    # the progress bar shows only on a terminal, and stderr is none here: test_cli_process.py runs one
    "--quiet": lambda m: None,
    "--log-file": lambda m: (["--log-file", "run.log"], []),
}


def test_every_train_option_is_listed():
    """The table above covers every option of ``train`` (so a new option must be added to it)."""
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    options = {a.option_strings[0] for a in train._actions if a.option_strings and a.dest != "help"}
    # --data is the mode; --optimizer is the mode; --output: which output activation suits which loss is
    # diagnosed by the library, not a question of options doing nothing; --dask: where the same sums run
    # (equal results by design, tested with a real scheduler in test_cluster.py)
    # --delimiter, --features, --drop, --missing and --task: how a table is read, tested in test_cli_tables.py
    assert options - set(TRAIN_OPTIONS) == {"--data", "--optimizer", "--output", "--dask", "--delimiter",
                                            "--features", "--drop", "--missing", "--task"}


# a few modes per option in the suite (the same ones on every run); BACKPROP_INERT_EXAMPLES=50 explores more
_EXAMPLES = int(os.environ.get("BACKPROP_INERT_EXAMPLES", "4"))


@pytest.mark.parametrize("option", sorted(TRAIN_OPTIONS))
@settings(max_examples=_EXAMPLES, deadline=None, derandomize=_EXAMPLES <= 4, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.tuples(st.sampled_from(DATA), st.sampled_from(OPTIMIZERS), st.sampled_from(HIDDEN),
                      st.sampled_from(EXTRAS)))
def test_train_option_changes_something_or_is_refused(files, option, mode):
    case = TRAIN_OPTIONS[option](mode)
    if case is None:
        return
    args, context = case
    _assert_not_ignored(_train_base(files, mode) + context, args, option)


@pytest.mark.parametrize("mode, option, match", [
    (("xor", "sgd", "3", ""), "--target", "--target does nothing with --data xor"),
    (("mnist", "sgd", "3", ""), "--test-size", "has its own test files"),
    (("xor", "sgd", "3", ""), "--test-size", "fewer than 20 samples"),
    (("csv", "gd", "3", ""), "--batch-size", "--batch-size does nothing with --optimizer gd"),
    (("csv", "adam", "3", ""), "--momentum", "--momentum does nothing with --optimizer adam"),
    (("csv", "adam", "3", ""), "--nesterov", "--nesterov does nothing with --optimizer adam"),
    (("csv", "sgd", "none", ""), "--activation", "--activation does nothing with --hidden none"),
    (("csv", "sgd", "3", ""), "--label-smoothing", "--label-smoothing applies to --loss cross_entropy"),
    (("csv", "sgd", "3", ""), "--checkpoint-every", "--checkpoint-every does nothing without --checkpoint"),
    (("csv", "sgd", "3", ""), "--resume", "--resume does nothing without --checkpoint"),
    (("csv", "sgd", "3", "tol0"), "--patience", "--patience does nothing with --tol 0"),
])
def test_known_inert_pairs_are_refused_with_exit_2(files, capsys, mode, option, match):
    args, context = TRAIN_OPTIONS[option](mode)
    code = cli.main(_train_base(files, mode) + context + args)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("backprop: error: ") and match in err and err.count("\n") == 1


def test_resume_without_a_checkpoint_file_says_so(files, capsys, tmp_path):
    code = cli.main(_train_base(files, ("xor", "sgd", "3", "")) + ["--checkpoint", str(tmp_path / "c.npz"),
                                                                  "--resume", "--quiet",
                                                                  "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert code == 0 and "--resume" in err and "does not exist yet; training starts from scratch" in err


# ---- evaluate, predict, check, plot ---------------------------------------------------------------

def _evaluate_base(files, data):
    return ["evaluate", files["models"][data], "--data", files["data"][data]]


EVALUATE_OPTIONS = {
    "--target": lambda data: ["--target", "b" if data == "csv" else "label"],
    "--split": lambda data: ["--split", "test" if data == "xor" else "all"],     # default: test where there is one
}

CHECK_NETWORK_OPTIONS = {
    "--hidden": ["--hidden", "5"], "--activation": ["--activation", "sigmoid"],
    "--output": ["--output", "tanh"], "--loss": ["--loss", "cross_entropy"],
    "--l2": ["--l2", "0.1"],
}
CHECK_OPTIONS = {"--seed": ["--seed", "3"], "--samples": ["--samples", "3"], "--params": ["--params", "5"],
                 "--order": ["--order", "4"], "--target": ["--target", "label"], **CHECK_NETWORK_OPTIONS}


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("option", sorted(EVALUATE_OPTIONS))
def test_evaluate_option_changes_something_or_is_refused(files, data, option):
    _assert_not_ignored(_evaluate_base(files, data), EVALUATE_OPTIONS[option](data), option)


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("option, args", [("--out", ["--out", "p.csv"]), ("--proba", ["--proba"])])
def test_predict_option_changes_something_or_is_refused(files, data, option, args):
    _assert_not_ignored(["predict", files["models"][data], "--data", files["data"][data]], args, option)


@pytest.mark.parametrize("data", ("xor", "csv"))
@pytest.mark.parametrize("with_model", (False, True))
@pytest.mark.parametrize("option", sorted(CHECK_OPTIONS))
def test_check_option_changes_something_or_is_refused(files, data, with_model, option):
    if option == "--target" and data == "csv":
        return                                              # required there
    base = ["check", "--data", files["data"][data], "--samples", "4", "--hidden", "2"]
    if data == "csv":
        base += ["--target", "label"]
    if with_model:
        base = [a for a in base if a not in ("--hidden", "2")] + ["--model", files["models"][data]]
    elif option == "--output":
        base += ["--loss", "l2"]          # a loss for which a tanh output is as valid as the default identity
    _assert_not_ignored(base, CHECK_OPTIONS[option], option)


@pytest.mark.parametrize("option, args", [("--title", ["--title", "run 1"]), ("--out", ["--out", "a.svg"])])
def test_plot_option_changes_something_or_is_refused(files, option, args):
    _assert_not_ignored(["plot", files["models"]["csv"], "--out", "p.png"], args, option)
