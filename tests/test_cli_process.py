"""``python -m backprop`` as a process: exit codes, a reader that stops early, Ctrl-C."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import backprop as bp
from backprop.faces import cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes")

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(bp.__file__)),
                                                   os.environ.get("PYTHONPATH", "")]),
       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _backprop(*argv):
    return [sys.executable, "-m", "backprop", *map(str, argv)]


def _default_sigint():
    # a child started from a shell's background job inherits SIGINT ignored; Ctrl-C must reach it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("proc")
    X = np.random.default_rng(0).normal(size=(5000, 2))
    np.savetxt(d / "big.csv", np.column_stack([X, X[:, 0] > 0]), delimiter=",", header="a,b,label",
               comments="", fmt="%.5f")
    assert cli.main(["train", "--data", str(d / "big.csv"), "--target", "label", "--epochs", "1", "--quiet",
                     "--out", str(d / "m.npz")]) == 0
    return d


def test_exit_codes(tmp_path, model):
    usage = subprocess.run(_backprop("train", "--data", "xor", "--optimizer", "gd", "--batch-size", "2"),
                           capture_output=True, text=True, env=ENV, cwd=tmp_path)
    data = subprocess.run(_backprop("evaluate", model / "m.npz", "--data", model / "none.csv"),
                          capture_output=True, text=True, env=ENV)
    assert usage.returncode == 2 and usage.stderr.startswith("backprop: error: --batch-size does nothing")
    assert data.returncode == 1 and "none.csv: it does not exist" in data.stderr
    for r in (usage, data):
        assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1 and r.stdout == ""
    assert os.listdir(tmp_path) == []


def test_a_closed_pipe_ends_quietly(model):
    """``backprop predict ... | head -1``: no 'Broken pipe', no traceback; exit 141 as if by SIGPIPE."""
    child = subprocess.Popen(_backprop("predict", model / "m.npz", "--data", model / "big.csv"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    head = subprocess.run(["head", "-1"], stdin=child.stdout, capture_output=True)
    child.stdout.close()
    err = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=60) == 141 and err == b""
    assert head.stdout == b"prediction\n"


@pytest.mark.parametrize("argv", [["predict", "{d}/m.npz", "--data", "{d}/big.csv"],
                                  ["train", "--data", "xor", "--epochs", "2", "--out", "{d}/x.npz"],
                                  ["--help"]])
def test_output_to_a_reader_that_is_gone(model, argv):
    child = subprocess.Popen(_backprop(*[a.format(d=model) for a in argv]), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=ENV)
    child.stdout.close()                          # the reader has gone before the first line
    err = child.stderr.read().decode()
    child.stderr.close()
    code = child.wait(timeout=60)
    assert code in (0, 141) and "Broken pipe" not in err and "Traceback" not in err and "Exception" not in err
    assert code == 141 or argv == ["--help"]


def _interrupt(argv, cwd, file=None):
    """Start ``backprop argv``, press Ctrl-C once training runs (once ``file`` exists, if given)."""
    child = subprocess.Popen(_backprop(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=ENV, cwd=cwd, preexec_fn=_default_sigint)
    seen = ""
    while "network" not in seen:                  # printed just before training starts
        line = child.stdout.readline()
        assert line, child.communicate()
        seen += line
    deadline = time.monotonic() + 60
    while file is not None and not (cwd / file).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    return child.returncode, seen + out, err


def test_ctrl_c_during_training_exits_130_and_says_what_was_saved(tmp_path):
    code, out, err = _interrupt(["train", "--data", "moons", "--epochs", "100000", "--tol", "0", "--quiet",
                                 "--validation-fraction", "0",
                                 "--out", "m.npz", "--checkpoint", "ck.npz", "--checkpoint-every", "1"], tmp_path,
                                file="ck.npz")
    assert code == 130 and "Traceback" not in err
    assert "stopped: interrupted" in out
    assert "saved    m.npz: training interrupted after" in out and "of 100000 epochs" in out
    assert "saved    ck.npz: the checkpoint of epoch" in out and "continue with --resume" in out
    net = bp.load(tmp_path / "m.npz")
    assert net.sizes == [2, 32, 1]


def test_ctrl_c_before_a_checkpoint_says_none_was_written(tmp_path):
    code, out, err = _interrupt(["train", "--data", "moons", "--epochs", "100000", "--tol", "0", "--quiet",
                                 "--validation-fraction", "0",
                                 "--out", "m.npz", "--checkpoint", "ck.npz", "--checkpoint-every", "100000"],
                                tmp_path)
    assert code == 130 and "ck.npz was not written in this run" in out and not (tmp_path / "ck.npz").exists()


def test_ctrl_c_outside_training_exits_130(monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    from backprop.faces.cli import train

    monkeypatch.setattr(train, "load_data", interrupted)
    assert cli.main(["train", "--data", "xor"]) == 130
    assert capsys.readouterr().err == "backprop: interrupted\n"


def test_broken_pipe_in_process(monkeypatch, capsys, model):
    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Gone())
    assert cli.main(["predict", str(model / "m.npz"), "--data", str(model / "big.csv")]) == 141
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("quiet", [False, True])
def test_the_progress_bar_shows_on_a_terminal_unless_quiet(tmp_path, quiet):
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))     # a terminal 120 wide
    try:
        proc = subprocess.run(_backprop("train", "--data", "xor", "--epochs", "5", "--out", tmp_path / "m.npz",
                                        *(["--quiet"] if quiet else [])),
                              env=ENV, cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave, timeout=120)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:                 # the terminal closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0 and b"saved" in proc.stdout
    assert ("5/5" in err) != quiet, err
