"""``backprop trace`` on a model from ``backprop train``: the stored standardisation is applied as predict applies
it, and the target is one of the model's labels."""
import csv
import json

import numpy as np
import pytest

from backprop.engine import serialize
from backprop.faces import cli


def _csv(path, X, y, names=("a", "b", "label")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row, lab in zip(X, y):
            w.writerow([*map(repr, map(float, row)), lab])


def _predict(capsys, model, row, tmp_path, names, proba=()):
    one = tmp_path / "one.csv"
    with open(one, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerow([repr(float(v)) for v in row])
    assert cli.main(["predict", str(model), "--data", str(one), *proba]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    return rows[0], rows[1]


def _trace(capsys, model, row, target, tmp_path):
    out = tmp_path / "t.json"
    code = cli.main(["trace", "--model", str(model), "--input", *[repr(float(v)) for v in row], "--target",
                     str(target), "--digits", "17", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    return json.loads(out.read_text()), text


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(loc=[50.0, -3.0], scale=[10.0, 0.2], size=(80, 2))    # far from standardised
    return X, rng


def test_trace_output_equals_predict_for_a_regression_model(tmp_path, capsys, data):
    X, rng = data
    t = 0.1 * X[:, 0] + 5 * X[:, 1]
    path = tmp_path / "r.csv"
    _csv(path, X, t, names=("a", "b", "y"))
    model = tmp_path / "r.npz"
    assert cli.main(["train", "--data", str(path), "--target", "y", "--hidden", "3", "--epochs", "5",
                     "--standardize", "--out", str(model), "--quiet"]) == 0
    capsys.readouterr()
    for n in (0, 7, 41):
        head, pred = _predict(capsys, model, X[n], tmp_path, ["a", "b"])
        tr, text = _trace(capsys, model, X[n], t[n], tmp_path)
        # the network learns the standardised target; predict restores its units
        task = cli.Task.from_dict(serialize.load_bundle(model)[1]["task"])
        assert tr["nodes"]["o1"]["y"] * task.y_scale + task.y_mean == float(pred[0])
        assert "target standardised with the model's stored mean and scale" in text
        assert "standardised with the model's stored mean and scale" in text


def test_trace_takes_the_models_labels_for_a_classifier(tmp_path, capsys, data):
    X, rng = data
    y = np.where(X[:, 0] + 40 * (X[:, 1] + 3) > 50, 6, 5)           # labels 5 and 6, not 0 and 1
    path = tmp_path / "c.csv"
    _csv(path, X, y)
    model = tmp_path / "c.npz"
    assert cli.main(["train", "--data", str(path), "--target", "label", "--hidden", "3", "--epochs", "5",
                     "--standardize", "--out", str(model), "--quiet"]) == 0
    capsys.readouterr()
    row = X[11]
    head, pred = _predict(capsys, model, row, tmp_path, ["a", "b"], ["--proba"])
    assert head == ["prediction", "p_5", "p_6"]
    tr, text = _trace(capsys, model, row, 6, tmp_path)
    assert tr["nodes"]["o1"]["y"] == pytest.approx(float(pred[2]), rel=1e-5)     # p_6, printed to 6 digits
    assert "target label 6 is class index 1" in text
    target = [s for s in tr["steps"] if s["quantity"] == "dE/dx(o1)"][0]
    assert target["value"] == pytest.approx(tr["nodes"]["o1"]["y"] - 1.0, rel=1e-12)   # t = 1 for label 6
    tr5, _ = _trace(capsys, model, row, 5, tmp_path)
    assert [s for s in tr5["steps"] if s["quantity"] == "dE/dx(o1)"][0]["value"] == \
        pytest.approx(tr5["nodes"]["o1"]["y"], rel=1e-12)                           # t = 0 for label 5
    # a class index that is not a label of the model is refused, naming the labels
    code = cli.main(["trace", "--model", str(model), "--input", "1", "2", "--target", "1"])
    err = capsys.readouterr().err
    assert code != 0 and "--target 1 is not a class label of this model; its labels are 5, 6" in err


def _page_data(path):
    import re

    m = re.search(r'<script id="trace-data" type="application/json">(.*?)</script>', path.read_text(), re.S)
    return json.loads(m.group(1))


def test_trace_page_with_the_training_view_from_the_command_line(tmp_path, capsys):
    import backprop as bp
    from backprop.faces.teaching.training_view import training_view

    net = bp.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    model = tmp_path / "xor.npz"
    net.save(model)
    before = model.read_bytes()
    page = tmp_path / "t.html"
    code = cli.main(["trace", "--model", str(model), "--input", "1", "0", "--target", "1", "--out", str(page),
                     "--training-view", "xor", "--training-epochs", "7", "--training-lr", "0.8"])
    assert code == 0, capsys.readouterr()
    assert model.read_bytes() == before                             # the model file is not changed
    data = _page_data(page)
    from backprop.faces.cli.data import load_data

    d = load_data("xor")
    want = training_view(net, d.X, d.y, loss="bce", optimizer="gd", epochs=7, lr=0.8)
    T = data["training"]
    assert T["loss"] == pytest.approx(want["loss"], rel=1e-12) and len(T["loss"]) == 8
    assert T["params"][0] == net.params.tolist() and T["params"] == want["params"]      # weights over epochs
    assert T["surface"]["values"] == want["surface"]["values"] and len(T["surface"]["values"]) == 8
    assert T["loss"][-1] < T["loss"][0]
    # without the option the page has no training view; the option needs an .html page
    cli.main(["trace", "--model", str(model), "--input", "1", "0", "--target", "1", "--out", str(page)])
    assert "training" not in _page_data(page)
    capsys.readouterr()
    for bad in (["--out", str(tmp_path / "t.svg"), "--training-view", "xor"], ["--training-view", "xor"],
                ["--out", str(tmp_path / "u.html"), "--training-view", "digits"],
                ["--out", str(tmp_path / "u.html"), "--training-view", "xor", "--training-epochs", "0"]):
        code = cli.main(["trace", "--model", str(model), "--input", "1", "0", "--target", "1", *bad])
        err = capsys.readouterr().err
        assert code != 0 and err, bad
        assert not (tmp_path / "u.html").exists() and not (tmp_path / "t.svg").exists()


def test_training_view_of_a_model_from_backprop_train_uses_its_standardised_data(tmp_path, capsys, data):
    X, rng = data
    y = (X[:, 0] > 50).astype(int)
    train = tmp_path / "train.csv"
    _csv(train, X, y)
    model = tmp_path / "m.npz"
    assert cli.main(["train", "--data", str(train), "--target", "label", "--hidden", "3", "--epochs", "3",
                     "--out", str(model)]) == 0
    capsys.readouterr()
    page = tmp_path / "t.html"
    assert cli.main(["trace", "--model", str(model), "--input", "50", "-3", "--target", "1", "--out", str(page),
                     "--training-view", str(train), "--training-epochs", "4"]) == 0, capsys.readouterr()
    T = _page_data(page)["training"]
    assert len(T["loss"]) == 5 and all(np.isfinite(T["loss"]))
    pts = np.array(T["surface"]["X"])
    assert np.all(np.abs(pts.mean(axis=0)) < 0.1)           # the inputs as the network saw them: standardised
