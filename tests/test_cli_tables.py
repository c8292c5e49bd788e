"""Real-looking tables through the command line and the API: text labels, ';' files, id columns,
missing cells, whole-number prices, DataFrames with categorical columns, parquet files."""
import csv
import io
import re

import numpy as np
import pandas as pd
import pytest

from backprop.data.tables import load_table, sniff_delimiter
from backprop.engine import serialize
from backprop.errors import FileFormatError, InputError
from backprop.faces import cli

SPECIES = np.array(["setosa", "versicolor", "virginica"])


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _iris_like(n=150, seed=0):
    rng = np.random.default_rng(seed)
    k = np.arange(n) % 3
    centres = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    X = centres[k] + rng.normal(scale=0.25, size=(n, 4))
    return X, SPECIES[k]


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """A ';'-separated file with an id column, text labels and two empty cells."""
    d = tmp_path_factory.mktemp("iris")
    X, y = _iris_like()
    path = d / "iris.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["id", "sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        for i, (row, label) in enumerate(zip(X, y)):
            cells = [f"{v:.2f}" for v in row]
            if i in (7, 40):
                cells[1] = ""
            w.writerow([1000 + i, *cells, label])
    return path, X, y


def test_iris_like_file_train_save_load_predict_returns_labels(iris, tmp_path, capsys):
    path, X, y = iris
    model = tmp_path / "iris.npz"
    code, out, err = run(capsys, "train", "--data", path, "--target", "species", "--drop", "id", "--missing",
                         "median", "--quiet", "--out", model)
    assert code == 0, err
    assert "3 classes (setosa, versicolor, virginica)" in out and "task     multiclass: the target holds labels" in out
    assert float(re.search(r"^test +loss \S+  accuracy (\S+)", out, re.M).group(1)) >= 0.9
    _, meta, arrays = serialize.load_bundle(model)
    assert meta["task"]["classes"] == list(SPECIES) and meta["feature_names"][0] == "sepal_length"
    assert arrays["input_fill"].shape == (4,) and arrays["input_mean"].shape == (4,)
    # predict: the labels come back, the missing cells are filled with the stored medians
    code, out, err = run(capsys, "predict", model, "--data", path, "--proba")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["prediction", "p_setosa", "p_versicolor", "p_virginica"] and len(rows) == 151
    predicted = np.array([r[0] for r in rows[1:]])
    assert set(predicted) <= set(SPECIES) and np.mean(predicted == y) >= 0.9
    # evaluate on all rows agrees with predict
    code, out, err = run(capsys, "evaluate", model, "--data", path, "--split", "all")
    assert code == 0, err
    accuracy = float(re.search(r"accuracy (\S+)", out).group(1))
    assert accuracy == pytest.approx(np.mean(predicted == y), abs=1e-4)
    assert "setosa" in out and "precision" in out


def test_missing_cells_are_refused_by_default_with_count_and_positions(iris, tmp_path, capsys):
    path, _, _ = iris
    code, _, err = run(capsys, "train", "--data", path, "--target", "species", "--drop", "id", "--quiet",
                       "--out", tmp_path / "m.npz")
    assert code == 1 and "2 missing value(s)" in err and "line 9 (data row 8), column 'sepal_width'" in err
    assert "--missing drop|mean|median" in err and not (tmp_path / "m.npz").exists()
    code, out, err = run(capsys, "train", "--data", path, "--target", "species", "--drop", "id", "--missing",
                         "drop", "--quiet", "--out", tmp_path / "m.npz", "--test-size", "0")
    assert code == 0 and "148 training" in out


def test_a_model_trained_without_missing_values_refuses_them_in_predict(iris, tmp_path, capsys):
    path, _, _ = iris
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "--data", path, "--target", "species", "--features",
               "petal_length,petal_width", "--quiet", "--out", model)[0] == 0
    full = tmp_path / "full.csv"
    full.write_text("petal_length,petal_width\n1.4,0.2\n,1.3\n")
    code, _, err = run(capsys, "predict", model, "--data", full)
    assert code == 1 and "1 missing value(s)" in err and "line 3, column 'petal_length'" in err


def test_an_id_column_is_a_feature_unless_dropped(iris, tmp_path, capsys):
    path, _, _ = iris
    for extra, n in (([], 5), (["--drop", "id"], 4), (["--features", "petal_length,petal_width"], 2)):
        code, out, err = run(capsys, "train", "--data", path, "--target", "species", "--missing", "mean",
                             "--epochs", "2", "--quiet", "--out", tmp_path / "m.npz", *extra)
        assert code == 0 and f"{n} features" in out, err


def test_the_delimiter_is_detected_or_given(iris, tmp_path):
    path, _, _ = iris
    assert sniff_delimiter(path) == ";"
    X, y, names, fill = load_table(path, "species", delimiter=";", drop=["id"], missing="drop")
    assert names == ["sepal_length", "sepal_width", "petal_length", "petal_width"] and X.shape == (148, 4)
    with pytest.raises(InputError, match="target column 'species' not found .* id;sepal_length"):
        load_table(path, "species", delimiter=",")             # the wrong delimiter: one column
    text = tmp_path / "t.csv"
    text.write_text("x,y\n1,a\n2,b\nq,c\n")
    with pytest.raises(FileFormatError, match=r"non-numeric value 'q' at line 4 \(data row 3\), column 'x'"):
        load_table(text, "y")


def test_whole_number_prices_are_a_regression_and_come_back_in_dollars(tmp_path, capsys):
    rng = np.random.default_rng(1)
    sqft = rng.uniform(500, 3500, size=200)
    rooms = rng.integers(1, 6, size=200)
    price = np.round(50_000 + 150 * sqft + 10_000 * rooms + rng.normal(scale=5000, size=200)).astype(int)
    path = tmp_path / "houses.csv"
    pd.DataFrame({"sqft": np.round(sqft), "rooms": rooms, "price": price}).to_csv(path, index=False)
    model = tmp_path / "h.npz"
    code, out, err = run(capsys, "train", "--data", path, "--target", "price", "--quiet", "--out", model)
    assert code == 0, err
    assert "task     regression: the target holds 200 distinct whole numbers, more than 20" in out
    r2 = float(re.search(r"^test +loss \S+  r2 (\S+)", out, re.M).group(1))
    assert r2 > 0.9
    code, out, _ = run(capsys, "predict", model, "--data", path)
    predicted = np.array([float(r[0]) for r in list(csv.reader(io.StringIO(out)))[1:]])
    assert np.median(np.abs(predicted - price)) < 20_000                  # dollars, not standard units
    task = serialize.load_bundle(model)[1]["task"]
    assert task["y_mean"] == pytest.approx(price.mean(), rel=0.05) and task["y_scale"] > 1000
    code, out, _ = run(capsys, "evaluate", model, "--data", path)
    assert code == 0 and "R^2" in out and "RMSE" in out
    code, out, _ = run(capsys, "train", "--data", path, "--target", "rooms", "--epochs", "2", "--quiet",
                       "--out", tmp_path / "r.npz")
    assert "5 distinct whole numbers (--task regression" in out
    code, out, _ = run(capsys, "train", "--data", path, "--target", "rooms", "--task", "regression", "--epochs",
                       "2", "--quiet", "--out", tmp_path / "r.npz")
    assert code == 0 and "task     regression: --task regression" in out


def test_a_dataframe_with_a_categorical_target_and_a_parquet_file(tmp_path, capsys):
    X, y = _iris_like(90, seed=2)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["kind"] = pd.Categorical(y)
    df["flag"] = X[:, 0] > 5.5
    Xt, yt, names, _ = load_table(df, "kind", drop=["flag"])
    assert names == ["a", "b", "c", "d"] and list(yt[:3]) == list(y[:3]) and Xt.dtype == np.float64
    _, yb, _, _ = load_table(df, "flag", drop=["kind"])
    assert yb.dtype == bool
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    code, out, err = run(capsys, "train", "--data", path, "--target", "kind", "--drop", "flag", "--epochs", "50",
                         "--quiet", "--out", tmp_path / "p.npz")
    assert code == 0 and "3 classes (setosa, versicolor, virginica)" in out, err
    code, out, err = run(capsys, "train", "--data", path, "--target", "flag", "--drop", "kind", "--epochs", "2",
                         "--quiet", "--out", tmp_path / "b.npz")
    assert code == 0 and "2 classes (False, True)" in out, err


def test_table_options_with_built_in_data_are_refused(capsys):
    for option in (["--delimiter", ";"], ["--drop", "x0"], ["--missing", "mean"], ["--features", "x0"]):
        code, _, err = run(capsys, "train", "--data", "xor", *option)
        assert code == 2 and f"{option[0]} does nothing with --data xor" in err


def test_unknown_columns_are_named():
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [0, 1]})
    with pytest.raises(InputError, match=r"drop: no column 'zz'.*its columns are a, b"):
        load_table(df, "b", drop=["zz"])
    with pytest.raises(InputError, match="target column 'q' not found"):
        load_table(df, "q")


def test_predict_prints_labels_and_with_proba_one_probability_column_per_class(iris, tmp_path, capsys):
    """``predict`` prints the original labels only; ``--proba`` adds p_<label> per class, each row
    summing to 1 and its largest column the predicted label. A regression model refuses ``--proba``."""
    path, X, y = iris
    model = tmp_path / "iris.npz"
    code, _, err = run(capsys, "train", "--data", path, "--target", "species", "--drop", "id", "--missing",
                       "median", "--quiet", "--epochs", "20", "--out", model)
    assert code == 0, err
    code, out, err = run(capsys, "predict", model, "--data", path)
    assert code == 0, err
    plain = list(csv.reader(io.StringIO(out)))
    assert plain[0] == ["prediction"] and all(len(r) == 1 for r in plain) and len(plain) == 151
    assert {r[0] for r in plain[1:]} <= set(SPECIES)
    code, out, err = run(capsys, "predict", model, "--data", path, "--proba")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["prediction", "p_setosa", "p_versicolor", "p_virginica"]
    P = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(P.sum(axis=1), 1, atol=1e-5)
    assert [r[0] for r in rows[1:]] == [r[0] for r in plain[1:]]
    assert [SPECIES[k] for k in P.argmax(axis=1)] == [r[0] for r in plain[1:]]
    reg = tmp_path / "r.csv"
    with open(reg, "w") as f:
        f.write("a,y\n" + "".join(f"{v},{2.5 * v + 0.1}\n" for v in np.linspace(0, 1, 30)))
    code, _, err = run(capsys, "train", "--data", reg, "--target", "y", "--epochs", "2", "--quiet",
                       "--out", tmp_path / "r.npz")
    assert code == 0, err
    code, out, err = run(capsys, "predict", tmp_path / "r.npz", "--data", reg, "--proba")
    assert code == 2 and out == "" and "--proba does nothing with the regression model" in err


@pytest.fixture(scope="module")
def iris_model(iris, tmp_path_factory):
    """A model trained on the iris-like file with --missing median (its fill values stored)."""
    path, X, y = iris
    model = tmp_path_factory.mktemp("iris_model") / "iris.npz"
    assert cli.main(["train", "--data", str(path), "--target", "species", "--drop", "id", "--missing", "median",
                     "--quiet", "--epochs", "20", "--out", str(model)]) == 0
    return model


def test_evaluate_and_predict_missing_cells_default_to_the_models_fill_values(iris, iris_model, capsys):
    """Without --missing the two empty cells are filled with the stored medians; --missing error refuses
    them naming count and position; evaluate --missing drop leaves their rows out."""
    path, X, y = iris
    code, out, err = run(capsys, "evaluate", iris_model, "--data", path, "--split", "all")
    assert code == 0 and "(all, 150 samples)" in out, err
    code, out, err = run(capsys, "evaluate", iris_model, "--data", path, "--split", "all", "--missing", "drop")
    assert code == 0 and "(all, 148 samples)" in out, err
    for command in (["evaluate", iris_model, "--data", path, "--split", "all"], ["predict", iris_model, "--data", path]):
        code, out, err = run(capsys, *command, "--missing", "error")
        assert code == 1 and out == ""
        assert "2 missing value(s)" in err and "line 9, column 'sepal_width'" in err
        assert "--missing error refuses them" in err
    code, out, err = run(capsys, "predict", iris_model, "--data", path, "--delimiter", ";")
    assert code == 0 and len(out.splitlines()) == 151, err


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("option, reason", [
    (["--features", "sepal_length"], "the model reads its own feature columns (sepal_length, "),
    (["--drop", "id"], "ignores every other column"),
    (["--missing", "mean"], "fill values come from the training data"),
    (["--missing", "median"], "stored in it, without an option"),
])
def test_table_options_a_saved_model_makes_pointless_are_refused_with_the_reason(iris, iris_model, capsys,
                                                                                command, option, reason):
    path, _, _ = iris
    code, out, err = run(capsys, command, iris_model, "--data", path, *option)
    assert code == 2 and out == "" and f"{option[0]} " in err and "does nothing" in err and reason in err


def test_predict_refuses_missing_drop_and_builtin_data_refuses_table_options(iris, iris_model, capsys, tmp_path):
    path, _, _ = iris
    code, out, err = run(capsys, "predict", iris_model, "--data", path, "--missing", "drop")
    assert code == 2 and "one prediction per row" in err
    assert cli.main(["train", "--data", "xor", "--epochs", "2", "--quiet", "--out", str(tmp_path / "x.npz")]) == 0
    for command in ("predict", "evaluate"):
        code, out, err = run(capsys, command, tmp_path / "x.npz", "--data", "xor", "--missing", "error")
        assert code == 2 and "it applies to a table" in err
