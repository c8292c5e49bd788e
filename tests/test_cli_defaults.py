"""``backprop train --data NAME`` with no other flag reaches a good score on every built-in data set."""
import re

import pytest

from backprop.faces import cli


def _score(out, part):
    return float(re.search(rf"^{part} +loss \S+  accuracy (\S+)", out, re.M).group(1))


@pytest.mark.parametrize("data, part, least", [
    ("xor", "train", 1.0),            # 4 samples: no test part, no validation part
    ("moons", "test", 0.95),
    ("spirals", "test", 0.95),
    ("digits", "test", 0.97),
    ("digits-2", "test", 0.97),
])
def test_train_with_default_flags_reaches_its_score(data, part, least, tmp_path, capsys):
    assert cli.main(["train", "--data", data, "--quiet", "--out", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert _score(out, part) >= least, out
    if data != "xor":
        assert re.search(r"^valid +loss \S+  accuracy \S+  \(best epoch \d+ of \d+", out, re.M), out


def test_help_states_the_defaults_and_examples(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "adam" in out and "(default: 1000)" in out and "examples:" in out
    from backprop.losses import LOSS_NAMES
    from backprop.ops.activations import SCALAR_NAMES
    from backprop.training.optimizers import OPTIMIZER_NAMES

    flat = " ".join(out.split())
    assert all(name in flat for name in SCALAR_NAMES + OPTIMIZER_NAMES)
    assert all(name in flat for name in cli.task.CLI_LOSSES) and set(cli.task.CLI_LOSSES) <= set(LOSS_NAMES)


def test_evaluate_uses_the_held_out_part_by_default_and_prints_the_report(tmp_path, capsys):
    model = str(tmp_path / "m.npz")
    assert cli.main(["train", "--data", "moons", "--quiet", "--out", model]) == 0
    test_line = re.search(r"^test +loss (\S+)  accuracy (\S+)", capsys.readouterr().out, re.M).groups()
    assert cli.main(["evaluate", model, "--data", "moons"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("moons (test, 100 samples)") and f"loss {test_line[0]}  accuracy {test_line[1]}" in out
    assert "precision" in out and "recall" in out and "macro avg" in out
    assert cli.main(["evaluate", model, "--data", "moons", "--split", "all"]) == 0
    assert capsys.readouterr().out.startswith("moons (all, 400 samples)")


def test_log_file_gets_the_report_and_one_line_per_epoch_and_no_progress_frames(tmp_path, capsys):
    log = tmp_path / "run.log"
    assert cli.main(["train", "--data", "moons", "--epochs", "7", "--out", str(tmp_path / "m.npz"),
                     "--log-file", str(log)]) == 0
    out, err = capsys.readouterr()
    text = log.read_text()
    assert "\r" not in text and "\r" not in err
    epochs = [line for line in text.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 7 and "val_loss" in epochs[0] and "val_accuracy" in epochs[0]
    assert [line for line in text.splitlines() if not line.startswith("epoch ")] == out.splitlines()
