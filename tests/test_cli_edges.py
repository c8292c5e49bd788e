"""The command line at its edges: columns taken by name, figure formats, softmax over one output,
library wording that must not reach users."""
import csv
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import backprop as bp
from backprop.errors import ConfigError
from backprop.engine.serialize import load_bundle
from backprop.faces import cli, plots
from backprop.training.history import History


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _write_csv(path, columns, table, header=True):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(columns)
        w.writerows(table.tolist())


@pytest.fixture(scope="module")
def abc(tmp_path_factory):
    """A model trained on the columns a, b, c, label; the table; and its predictions for it."""
    d = tmp_path_factory.mktemp("columns")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]     # distinct scales: a swap shows
    y = (X[:, 0] + 0.1 * X[:, 1] - 3 * X[:, 2] > 3.5).astype(int)
    table = np.column_stack([X, y])
    _write_csv(d / "train.csv", ["a", "b", "c", "label"], table)
    model = d / "m.npz"
    assert cli.main(["train", "--data", str(d / "train.csv"), "--target", "label", "--hidden", "4",
                     "--epochs", "5", "--quiet", "--out", str(model)]) == 0
    net = bp.load(model)
    _, meta, arrays = load_bundle(model)
    reference = net.predict((X - arrays["input_mean"]) / arrays["input_scale"])[:, 0]
    return {"dir": d, "model": model, "table": table, "reference": reference}


def _predicted(out):
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["prediction", "p_0", "p_1"]
    return np.array([float(r[2]) for r in rows[1:]])


# ---- item 6: columns by name ----------------------------------------------------------------------

def test_predict_refuses_a_file_missing_a_feature_column(capsys, tmp_path):
    """The reported case: trained on a,b,label, given a,label: 'label' must not stand in for 'b'."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    _write_csv(tmp_path / "abl.csv", ["a", "b", "label"], np.column_stack([X, X[:, 0] > X[:, 1]]).astype(float))
    _write_csv(tmp_path / "al.csv", ["a", "label"], np.column_stack([X[:, 0], X[:, 0] > X[:, 1]]).astype(float))
    assert cli.main(["train", "--data", str(tmp_path / "abl.csv"), "--target", "label", "--epochs", "2",
                     "--quiet", "--out", str(tmp_path / "m.npz")]) == 0
    capsys.readouterr()
    for command in ("predict", "evaluate"):
        code, out, err = run(capsys, command, tmp_path / "m.npz", "--data", tmp_path / "al.csv")
        assert code == 1 and out == "" and "missing feature column b" in err and err.count("\n") == 1


def test_columns_are_taken_by_name_in_any_order(abc, capsys, tmp_path):
    table = abc["table"]
    _write_csv(tmp_path / "shuffled.csv", ["label", "c", "id", "a", "b"],
               np.column_stack([table[:, 3], table[:, 2], np.arange(len(table)), table[:, 0], table[:, 1]]))
    code, out, _ = run(capsys, "predict", abc["model"], "--data", tmp_path / "shuffled.csv", "--proba")
    assert code == 0
    np.testing.assert_allclose(_predicted(out), abc["reference"], rtol=1e-5, atol=1e-6)
    code, shuffled, _ = run(capsys, "evaluate", abc["model"], "--data", tmp_path / "shuffled.csv", "--split", "all")
    code0, original, _ = run(capsys, "evaluate", abc["model"], "--data", abc["dir"] / "train.csv", "--split", "all")
    assert code == code0 == 0 and shuffled.split(":", 1)[1] == original.split(":", 1)[1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(["a", "b", "c", "label", "noise"]), keep=st.lists(st.booleans(), min_size=5,
                                                                             max_size=5))
def test_any_header_gives_the_models_predictions_or_names_what_is_missing(abc, tmp_path_factory, capsys,
                                                                          order, keep):
    """Whatever columns a file has, in whatever order: the predictions are those for the model's own
    columns, or the command fails naming exactly the missing features. Never a column standing in for
    another."""
    columns = [c for c, k in zip(order, keep) if k] or ["noise"]
    table = abc["table"]
    source = {"a": table[:, 0], "b": table[:, 1], "c": table[:, 2], "label": table[:, 3],
              "noise": np.linspace(-3, 3, len(table))}
    path = tmp_path_factory.mktemp("h") / "x.csv"
    _write_csv(path, columns, np.column_stack([source[c] for c in columns]))
    code, out, err = run(capsys, "predict", abc["model"], "--data", path, "--proba")
    missing = [f for f in ("a", "b", "c") if f not in columns]
    if missing:
        assert code == 1 and out == ""
        plural = "s" if len(missing) > 1 else ""
        assert f"missing feature column{plural} {', '.join(missing)} " in err
    else:
        assert code == 0
        np.testing.assert_allclose(_predicted(out), abc["reference"], rtol=1e-5, atol=1e-6)


def test_without_header_the_column_count_must_be_exact(abc, capsys, tmp_path):
    table = abc["table"]
    _write_csv(tmp_path / "features.csv", None, table[:, :3], header=False)
    code, out, _ = run(capsys, "predict", abc["model"], "--data", tmp_path / "features.csv", "--proba")
    assert code == 0
    np.testing.assert_allclose(_predicted(out), abc["reference"], rtol=1e-5, atol=1e-6)
    # evaluate: the columns of training, target included, in the order of training
    _write_csv(tmp_path / "all.csv", None, table, header=False)
    code, by_position, _ = run(capsys, "evaluate", abc["model"], "--data", tmp_path / "all.csv", "--split", "all")
    _, by_name, _ = run(capsys, "evaluate", abc["model"], "--data", abc["dir"] / "train.csv", "--split", "all")
    assert code == 0 and by_position.split(":", 1)[1] == by_name.split(":", 1)[1]
    code, out, err = run(capsys, "evaluate", abc["model"], "--data", tmp_path / "all.csv", "--target", "c")
    assert code == 1 and "c is one of the model's features" in err
    for command, path, cols in (("predict", "all.csv", table), ("predict", "two.csv", table[:, :2]),
                                ("evaluate", "features.csv", table[:, :3]), ("evaluate", "five.csv", None)):
        if cols is not None:
            _write_csv(tmp_path / path, None, cols, header=False)
        else:
            _write_csv(tmp_path / path, None, np.column_stack([table, table[:, :1]]), header=False)
        code, out, err = run(capsys, command, abc["model"], "--data", tmp_path / path)
        assert code == 1 and out == "" and "has no header row" in err and "exactly the model's" in err


def test_a_model_of_built_in_data_asks_for_its_column_names(capsys, tmp_path):
    assert cli.main(["train", "--data", "xor", "--epochs", "2", "--quiet", "--out", str(tmp_path / "x.npz")]) == 0
    _write_csv(tmp_path / "p.csv", ["u", "v"], np.array([[0.0, 1.0]]))
    capsys.readouterr()
    code, _, err = run(capsys, "predict", tmp_path / "x.npz", "--data", tmp_path / "p.csv")
    assert code == 1 and "missing feature columns x0, x1" in err and "drop the header row" in err
    _write_csv(tmp_path / "p.csv", ["x1", "x0"], np.array([[1.0, 0.0]]))
    code, out, _ = run(capsys, "predict", tmp_path / "x.npz", "--data", tmp_path / "p.csv", "--proba")
    net = bp.load(tmp_path / "x.npz")
    assert code == 0 and float(out.splitlines()[1].split(",")[2]) == pytest.approx(
        net.predict(np.array([[0.0, 1.0]]))[0, 0], rel=1e-5)


def test_evaluate_with_a_target_that_is_a_feature_says_so(abc, capsys):
    code, _, err = run(capsys, "evaluate", abc["model"], "--data", abc["dir"] / "train.csv", "--target", "b")
    assert code == 1 and "missing feature column b" in err and "--target b names a column that the model takes" in err


# ---- item 8: figure formats -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def history_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("plot")
    assert cli.main(["train", "--data", "xor", "--epochs", "3", "--quiet", "--out", str(d / "m.npz"),
                     "--history", str(d / "h.json")]) == 0
    return d / "h.json"


@pytest.mark.parametrize("name, magic", [("run.svg", b"<?xml"), ("run.pdf", b"%PDF"),
                                         ("run.png", b"\x89PNG\r\n\x1a\n"), ("RUN.SVG", b"<?xml")])
def test_plot_writes_the_format_of_the_extension(history_file, capsys, tmp_path, name, magic):
    code, out, _ = run(capsys, "plot", history_file, "--out", tmp_path / name)
    assert code == 0 and (tmp_path / name).read_bytes().startswith(magic)


@pytest.mark.parametrize("name, match", [("run.bmp", "cannot write a figure as 'bmp'; expected one of"),
                                         ("run", "has no file extension")])
def test_plot_refuses_unknown_formats_before_any_work(history_file, capsys, tmp_path, name, match):
    code, out, err = run(capsys, "plot", history_file, "--out", tmp_path / name)
    assert code == 2 and match in err and ".svg" in err and os.listdir(tmp_path) == []


@given(ext=st.text(alphabet="abcdefgijklmnoprstvwxyzAP", min_size=1, max_size=5))
def test_figure_format_accepts_exactly_what_matplotlib_writes(ext):
    formats = plots.figure_formats()
    if ext.lower() in formats:
        assert plots.figure_format(f"f.{ext}") == ext.lower()
    else:
        with pytest.raises(ConfigError, match="expected one of .eps"):
            plots.figure_format(f"f.{ext}")


def test_plot_functions_write_svg_and_refuse_unknown_formats(tmp_path):
    history = History.load(_history(tmp_path))
    plots.plot_history(history, tmp_path / "h.svg")
    plots.plot_confusion([[3, 1], [0, 4]], path=tmp_path / "c.pdf")
    assert (tmp_path / "h.svg").read_bytes().startswith(b"<?xml")
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    plots.plot_history(history, tmp_path / "h.out", format="png")
    assert (tmp_path / "h.out").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ConfigError, match="'bmp'"):
        plots.plot_history(history, tmp_path / "h.bmp")
    assert not (tmp_path / "h.bmp").exists()


def _history(tmp_path):
    assert cli.main(["train", "--data", "xor", "--epochs", "2", "--quiet", "--out", str(tmp_path / "m.npz"),
                     "--history", str(tmp_path / "h.json")]) == 0
    return tmp_path / "h.json"


# ---- softmax over one output ----------------------------------------------------------------------

def test_binary_target_gets_sigmoid_and_bce(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--data", "xor", "--epochs", "2", "--quiet", "--out", tmp_path / "m.npz")
    net = bp.load(tmp_path / "m.npz")
    assert code == 0 and net.n_outputs == 1 and net.output_activation == "sigmoid" and "loss bce" in out


@pytest.mark.parametrize("y", [np.array([0, 1, 1, 0]), np.array([5, 7, 7, 5]), np.array([0.5, 1.5, -2.0, 3.0])])
@pytest.mark.parametrize("loss", ["auto", "bce", "l2", "cross_entropy"])
@pytest.mark.parametrize("output", ["auto", "softmax", "Softmax", "sigmoid", "identity", "tanh"])
def test_the_cli_never_builds_softmax_over_one_output(y, loss, output):
    """Every target kind x loss x output: a one-output task never gets a softmax output."""
    try:
        task = cli.infer_task(y, loss, output)
    except (cli.UsageError, ValueError) as e:
        if output.lower() == "softmax":
            assert "--output softmax over the single output" in str(e) or "cross_entropy" in str(e) \
                or "class labels" in str(e)
        return
    assert not (task.n_outputs == 1 and task.output.lower() == "softmax")
    if output == "auto" and task.n_outputs == 1 and task.kind == "binary":
        assert task.output == "sigmoid" and task.loss.name == "bce"


@pytest.mark.parametrize("argv", [["--data", "xor", "--output", "softmax"],
                                  ["--data", "xor", "--loss", "l2", "--output", "softmax"],
                                  ["--data", "digits-2", "--output", "softmax"]])
def test_softmax_over_one_output_is_refused_with_the_alternatives(capsys, tmp_path, argv):
    code, out, err = run(capsys, "train", *argv, "--out", tmp_path / "m.npz")
    assert code == 2 and "--output sigmoid with --loss bce" in err and "--loss cross_entropy" in err
    assert not (tmp_path / "m.npz").exists()


# ---- library wording must not reach users ---------------------------------------------------------

LEAKS = [r"__init__\(\)", r"\bnp\.\w+\(", r"\bbp\.\w+\(", r"\.tmp\b", r"\b[a-z_]+=(PATH|None|True|False|[-\d])",
         r"unexpected keyword", "Traceback", r"\bpass \w+="]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("leak")
    X = np.random.default_rng(0).normal(size=(30, 2))
    _write_csv(d / "d.csv", ["a", "b", "label"], np.column_stack([X, X[:, 0] > 0]).astype(float))
    _write_csv(d / "half.csv", ["a", "b", "label"], np.array([[0.1, 0.2, 0.5], [0.3, 0.1, 1.0]]))
    assert cli.main(["train", "--data", str(d / "d.csv"), "--target", "label", "--epochs", "2", "--quiet",
                     "--out", str(d / "m.npz")]) == 0
    return d


@pytest.mark.parametrize("argv, match", [
    (["train", "--data", "xor", "--optimizer", "adam", "--momentum", "0.9"], "--momentum does nothing"),
    (["train", "--data", "xor", "--checkpoint-every", "2"], "--checkpoint-every does nothing without"),
    (["train", "--data", "xor", "--resume"], "--resume does nothing without --checkpoint"),
    (["train", "--data", "xor", "--optimizer", "sgd", "--momentum", "1.5"], "--momentum must lie in [0, 1)"),
    (["train", "--data", "xor", "--weight-decay", "2"], "--weight-decay must lie in [0, 1)"),
    (["train", "--data", "xor", "--optimizer", "nesterov", "--momentum", "0"], "needs a --momentum > 0"),
    (["train", "--data", "xor", "--lr", "-1"], "--lr -1"),
    (["train", "--data", "xor", "--lr", "nan"], "expected a finite number"),
    (["train", "--data", "xor", "--tol", "-1"], "--tol"),
    (["train", "--data", "xor", "--validation-fraction", "1.5"], "--validation-fraction"),
    (["train", "--data", "digits", "--label-smoothing", "0.5"], "--label-smoothing 0.5 is too large"),
    (["train", "--data", "{d}/d.csv", "--target", "label", "--test-size", "0.99"], "--test-size 0.99 cannot split"),
    (["evaluate", "{d}/m.npz", "--data", "{d}/half.csv"], "label 0.5 is not one of the classes 0, 1, those the model was trained on"),
    (["check", "--data", "xor", "--out", "x"], "unrecognized arguments: --out"),   # no abbreviation of --output
    (["train", "--data", "xor", "--activation", "swish"], "--activation swish: unknown activation"),
    (["check", "--data", "xor", "--output", "swish"], "--output swish: unknown activation"),
    (["train", "--data", "xor", "--loss", "poisson"], "--loss poisson: expected one of cross_entropy, bce, l2"),
    (["train", "--data", "xor", "--validation-fraction", "0.9"], "--validation-fraction 0.9 of 4 samples"),
    (["train", "--data", "xor", "--seed", "-1"], "--seed: expected a whole number >= 0"),
    (["train", "--data", "xor", "--out", "{d}"], "is a directory"),
    (["plot", "{d}/m.npz", "--out", "{d}/p.bmp"], "cannot write a figure as 'bmp'"),
])
def test_error_messages_speak_the_command_line(small_model, capsys, argv, match):
    code, _, err = run(capsys, *[a.format(d=small_model) for a in argv])
    assert code in (1, 2) and match in err and err.count("\n") == 1
    for leak in LEAKS:
        assert not re.search(leak, err), (leak, err)


def test_a_failed_write_names_the_file_not_its_temporary(small_model, capsys, tmp_path, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", src)

    monkeypatch.setattr(os, "replace", refuse)
    code, _, err = run(capsys, "predict", small_model / "m.npz", "--data", small_model / "d.csv",
                       "--out", tmp_path / "p.csv")
    assert code == 1 and f"cannot write {tmp_path / 'p.csv'}: Permission denied" in err
    assert ".tmp" not in err and os.listdir(tmp_path) == []


def test_number_formatting():
    assert cli._number(np.float64(-0.1321)) == "-0.1321" and cli._number(np.int64(7)) == "7"
    assert cli._number(1e-6) == "1e-06" and cli._number(np.bool_(True)) == "True"


def test_resume_that_would_train_nothing_is_refused(capsys, tmp_path):
    args = ["train", "--data", "xor", "--checkpoint", tmp_path / "ck.npz", "--quiet", "--out", tmp_path / "m.npz"]
    assert run(capsys, *args, "--epochs", "4")[0] == 0
    before = (tmp_path / "m.npz").read_bytes()
    code, _, err = run(capsys, *args, "--epochs", "4", "--resume")
    assert code == 2 and "--epochs 4 with --resume trains nothing" in err and "at epoch 4 already" in err
    assert (tmp_path / "m.npz").read_bytes() == before
    code, out, _ = run(capsys, *args, "--epochs", "6", "--resume")
    assert code == 0 and "trained  6 epochs" in out


def test_training_that_ends_far_worse_than_it_started_exits_non_zero(capsys, tmp_path):
    """The loss explodes without reaching NaN (lr 100): the model is saved, but the run says it diverged."""
    out = tmp_path / "m.npz"
    code = cli.main(["train", "--data", "xor", "--optimizer", "sgd", "--lr", "100", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and out.exists()
    assert re.search(r"training diverged: the training loss ended at [\d.e+]+, more than 2 times the [\d.]+ it "
                     r"started from; try a smaller --lr \(e\.g\. 10\)", err)
    assert "history.diverged" not in err            # command-line wording, not the library's
    assert cli.main(["train", "--data", "xor", "--optimizer", "sgd", "--lr", "0.5", "--quiet",
                     "--out", str(out)]) == 0
