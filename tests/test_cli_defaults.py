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
