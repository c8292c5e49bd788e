"""backprop export MODEL --to onnx|safetensors|torch OUT, and the optional libraries stay unimported."""
import subprocess
import sys

import numpy as np
import pytest

import backprop as bp
from backprop.engine.serialize import load_bundle
from backprop.faces import cli

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    for name, std in (("plain", "--no-standardize"), ("std", "--standardize")):
        assert cli.main(["train", "--data", "moons", "--hidden", "5", "--activation", "tanh", "--epochs", "3",
                         std, "--out", str(d / f"{name}.npz"), "--quiet"]) == 0
    return d


def _inputs():
    return bp.datasets.moons(n_samples=20, noise=0.1, seed=1)[0]


def test_export_onnx_includes_the_standardisation(models, capsys):
    code, out, err = run(capsys, "export", models / "std.npz", "--to", "onnx", models / "std.onnx", "--opset", "13")
    assert code == 0 and "wrote" in out
    net, _, arrays = load_bundle(models / "std.npz")
    X = _inputs()
    sess = ort.InferenceSession(str(models / "std.onnx"), providers=["CPUExecutionProvider"])
    expected = net.predict((X - arrays["input_mean"]) / arrays["input_scale"])
    np.testing.assert_allclose(sess.run(None, {"X": X})[0], expected, rtol=1e-12, atol=1e-12)


def test_export_safetensors_keeps_the_task_or_refuses_to_drop_the_standardisation(models, capsys):
    code, out, err = run(capsys, "export", models / "plain.npz", "--to", "safetensors", models / "p.safetensors")
    assert code == 0
    assert bp.load(models / "p.safetensors").params.tobytes() == bp.load(models / "plain.npz").params.tobytes()
    code, out, _ = run(capsys, "evaluate", models / "p.safetensors", "--data", "moons")
    assert code == 0 and "accuracy" in out
    code, out, err = run(capsys, "export", models / "std.npz", "--to", "safetensors", models / "s.safetensors")
    assert code == 1 and "standardises its inputs" in err and "--to onnx" in err
    assert not (models / "s.safetensors").exists()
    code, _, _ = run(capsys, "export", models / "std.npz", "--to", "safetensors", models / "s.safetensors",
                     "--network-only")
    assert code == 0 and load_bundle(models / "s.safetensors")[1] == {}


def test_export_torch_writes_a_torch_export_program(models, capsys):
    out_path = models / "p.pt2"
    code, out, err = run(capsys, "export", models / "plain.npz", "--to", "torch", out_path)
    assert code == 0
    module = torch.export.load(str(out_path)).module()
    net = bp.load(models / "plain.npz")
    for X in (_inputs(), _inputs()[:1]):
        with torch.no_grad():
            np.testing.assert_allclose(module(torch.from_numpy(X)).numpy(), net.predict(X), rtol=1e-12, atol=1e-12)


def test_export_errors_are_one_line(models, capsys):
    code, _, err = run(capsys, "export", models / "missing.npz", "--to", "onnx", models / "x.onnx")
    assert code == 1 and err.startswith("backprop: error:") and err.count("\n") == 1
    code, _, err = run(capsys, "export", models / "plain.npz", "--to", "keras", models / "x")
    assert code == 2 and "invalid choice" in err


def test_importing_backprop_imports_none_of_the_optional_libraries():
    code = ("import sys, backprop, backprop.faces.cli; "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'safetensors', 'skl2onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
