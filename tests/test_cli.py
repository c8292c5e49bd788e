"""The command line: train, evaluate, predict, check, plot; one-line errors without tracebacks."""
import csv
import subprocess
import sys

import numpy as np
import pytest

import backprop as bp
from backprop.engine import serialize
from backprop.faces import cli


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    model = d / "model.npz"
    code = cli.main(["train", "--data", "digits", "--hidden", "32", "--activation", "tanh", "--loss",
                     "cross_entropy", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9", "--batch-size",
                     "32", "--epochs", "30", "--seed", "0", "--out", str(model), "--history", str(d / "h.json"),
                     "--quiet"])
    assert code == 0
    return model, d


def test_train_digits_reports_metrics_and_saves(digits_model, capsys):
    model, d = digits_model
    net = bp.load(model)
    assert type(net) is bp.MLP and net.sizes == [64, 32, 10]
    X, y = bp.datasets.digits()
    _, X_test, _, y_test = bp.datasets.train_test_split(X, y, test_size=0.25, seed=0, stratify=True)
    assert np.mean(net.predict(X_test).argmax(axis=1) == y_test) >= 0.96
    assert (d / "h.json").exists()
    code, out, err = run(capsys, "evaluate", model, "--data", "digits", "--split", "test")
    assert code == 0 and err == ""
    acc = float(out.split("accuracy ")[1].split()[0])
    assert acc == pytest.approx(np.mean(net.predict(X_test).argmax(axis=1) == y_test), abs=1e-4)
    assert "true \\ predicted" in out and out.count("\n") >= 12


def test_train_prints_progress_and_final_metrics(tmp_path, capsys):
    code, out, err = run(capsys, "train", "--data", "xor", "--hidden", "4", "--activation", "relu", "--optimizer", "sgd", "--lr", "0.5",
                         "--batch-size", "4", "--epochs", "1500", "--tol", "0", "--out", tmp_path / "xor.npz")
    assert code == 0
    assert "\r" not in err and "1500/1500" not in err            # no progress bar: stderr is not a terminal
    assert "train    loss" in out and "accuracy 1.0000" in out and "saved" in out
    net = bp.load(tmp_path / "xor.npz")
    assert net.sizes == [2, 4, 1] and net.output_activation == "sigmoid"   # 2 classes: sigmoid + bce


def test_csv_train_predict_round_trip(tmp_path, capsys):
    X, y = bp.datasets.moons(n_samples=200, noise=0.1, seed=0)
    path = tmp_path / "moons.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "cls"])
        for row, lab in zip(X, y):
            w.writerow([*row, lab + 5])                     # labels 5 and 6: predictions come back as 5/6
    model = tmp_path / "m.npz"
    code, out, _ = run(capsys, "train", "--data", path, "--target", "cls", "--hidden", "8", "--optimizer", "adam",
                       "--lr", "0.05", "--epochs", "60", "--out", model, "--quiet")
    assert code == 0 and "2 classes" in out
    code, out, err = run(capsys, "predict", model, "--data", path, "--proba")
    assert code == 0
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["prediction", "p_5", "p_6"] and len(rows) == 201
    pred = np.array([int(r[0]) for r in rows[1:]])
    assert set(pred) <= {5, 6} and np.mean(pred == y + 5) > 0.9
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    code, _, err = run(capsys, "predict", model, "--data", path, "--proba", "--out", tmp_path / "p.csv")
    assert code == 0 and (tmp_path / "p.csv").read_text() == out
    code, out, _ = run(capsys, "evaluate", model, "--data", path)
    assert code == 0 and "accuracy" in out


def test_regression_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    t = X[:, 0] - 2 * X[:, 1] + 0.25
    path = tmp_path / "r.csv"
    np.savetxt(path, np.column_stack([X, t]), delimiter=",", header="u,v,t", comments="")
    code, out, _ = run(capsys, "train", "--data", path, "--target", "t", "--hidden", "none", "--optimizer", "gd",
                       "--lr", "0.5", "--epochs", "300", "--out", tmp_path / "r.npz", "--quiet")
    assert code == 0 and "regression" in out and "r2 1.0000" in out


def test_plot_from_model_and_history(digits_model, capsys):
    model, d = digits_model
    code, out, _ = run(capsys, "plot", model, "--out", d / "a.png")
    assert code == 0 and (d / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run(capsys, "plot", d / "h.json")
    assert code == 0 and (d / "h-history.png").exists()


def test_check_reports_pass_and_fail(capsys):
    code, out, _ = run(capsys, "check", "--data", "digits", "--hidden", "8", "--samples", "50", "--params", "40")
    assert code == 0 and "gradient check: PASS" in out
    # relu at its kink: finite differences across z = 0 disagree; the report says FAIL and explains
    code, out, _ = run(capsys, "check", "--data", "xor", "--hidden", "4", "--activation", "relu")
    assert code == 1 and "FAIL" in out and "kink" in out


def test_checkpoint_options(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    args = ["train", "--data", "xor", "--hidden", "3", "--checkpoint", ck, "--checkpoint-every", "3", "--quiet",
            "--tol", "0"]
    assert run(capsys, *args, "--epochs", "6", "--out", tmp_path / "m.npz")[0] == 0 and ck.exists()
    code, out, _ = run(capsys, *args, "--epochs", "9", "--resume", "--out", tmp_path / "m2.npz")
    assert code == 0 and "trained  9 epochs" in out
    h6 = serialize.load_bundle(tmp_path / "m.npz")[1]["history"]["records"]
    h9 = serialize.load_bundle(tmp_path / "m2.npz")[1]["history"]["records"]
    assert [r["loss"] for r in h9[:6]] == [r["loss"] for r in h6]


@pytest.mark.parametrize("argv, match", [
    ([], "choose a command"),
    (["frobnicate"], "invalid choice"),
    (["train"], "required: --data"),
    (["train", "--data", "nope"], "unknown data 'nope'"),
    (["train", "--data", "missing.csv", "--target", "y"], "missing.csv"),
    (["train", "--data", "digits", "--lr", "-1"], "learning rate"),
    (["train", "--data", "digits", "--lr", "fast"], "--lr: expected a number, got 'fast'"),
    (["train", "--data", "digits", "--hidden", "a,b"], "--hidden"),
    (["train", "--data", "digits", "--epochs", "0"], "whole number >= 1"),
    (["train", "--data", "digits", "--optimizer", "lbfgs"], "unknown optimiser"),
    (["train", "--data", "digits", "--activation", "swish"], "unknown activation"),
    (["train", "--data", "digits", "--loss", "bce"], "2 classes"),
    (["train", "--data", "digits", "--schedule", "warm"], "schedule"),
    (["train", "--data", "digits", "--test-size", "1.5"], "test-size"),
    (["train", "--data", "xor", "--out", "no/such/dir/m.npz"], "directory no/such/dir does not exist"),
    (["evaluate", "nothing.npz", "--data", "digits"], "does not exist"),
    (["plot", "nothing.json"], "does not exist"),
])
def test_user_mistakes_print_one_line_and_exit_non_zero(capsys, tmp_path, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backprop: error: ") and match in lines[0]
    assert "Traceback" not in err and not (tmp_path / "model.npz").exists()


def test_shape_mismatch_and_wrong_files(digits_model, capsys, tmp_path):
    model, d = digits_model
    for argv, match in [(["evaluate", model, "--data", "xor"], "2 feature columns; the model expects 64"),
                        (["evaluate", d / "h.json", "--data", "digits"], "not an .npz archive"),
                        (["predict", model, "--data", "moons"], "expects 64"),
                        (["plot", model, "--out", tmp_path / "no" / "x.png"], "does not exist")]:
        code, _, err = run(capsys, *argv)
        assert code == 1 and err.startswith("backprop: error: ") and match in err and err.count("\n") == 1


def test_python_dash_m_backprop(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "backprop", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "train" in ok.stdout and "evaluate" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "backprop", "evaluate", str(tmp_path / "x.npz"), "--data", "xor"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("backprop: error:") and "Traceback" not in bad.stderr


def test_subcommands_are_pluggable(capsys):
    from backprop.registry import Registry

    seen = []
    commands = Registry("command")
    for name, cmd in cli.SUBCOMMANDS.items():
        commands.register(name, cmd)
    commands.register("hello", cli.Subcommand("say hello", lambda p: p.add_argument("--name", default="x"),
                                              lambda args: seen.append(args.name) or 0))
    assert cli.main(["hello", "--name", "bp"], commands=commands) == 0 and seen == ["bp"]
    assert cli.main(["hello"]) == 2 and "hello" not in cli.SUBCOMMANDS


def test_each_subcommand_is_one_module_with_examples_in_its_help(capsys):
    from backprop.faces.cli import commands

    assert list(cli.SUBCOMMANDS) == list(commands.MODULES)
    for name, module in commands.MODULES.items():
        assert cli.SUBCOMMANDS.get(name).run is module.run
        with pytest.raises(SystemExit):
            cli.main([name, "--help"])
        out = capsys.readouterr().out
        assert "examples:" in out and f"backprop {name}" in out.split("examples:")[1]


def test_train_on_mnist_format_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for kind, n in (("train", 60), ("t10k", 20)):
        labels = rng.integers(0, 3, size=n).astype(np.uint8)
        images = np.zeros((n, 4, 4), dtype=np.uint8)
        images[np.arange(n), labels, :] = 255                       # class k lights up row k
        bp.datasets.save_idx(tmp_path / f"{kind}-images-idx3-ubyte", images)
        bp.datasets.save_idx(tmp_path / f"{kind}-labels-idx1-ubyte", labels)
    code, out, _ = run(capsys, "train", "--data", f"mnist:{tmp_path}", "--hidden", "8", "--optimizer", "adam",
                       "--lr", "0.05", "--epochs", "40", "--out", tmp_path / "m.npz", "--quiet")
    assert code == 0 and "60 training / 20 test samples, 16 features, 3 classes" in out
    assert "accuracy 1.0000" in out.split("test     loss")[1]
