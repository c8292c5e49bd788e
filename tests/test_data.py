"""Tests for backprop.data: toy data sets, file readers and preprocessing."""

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from backprop import data
from backprop.errors import ConfigError, FileFormatError, InputError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- toy data sets


def test_xor_values():
    X, y = data.xor()
    assert X.shape == (4, 2) and X.dtype == np.float64
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(int))
    assert data.xor(dtype=np.float32)[0].dtype == np.float32


def test_digits_shapes_and_range():
    X, y = data.digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_digits_binary_means_two_or_not_two():
    X_all, digit = data.digits()
    X, y = data.digits(binary=True, dtype=np.float32)
    assert X.dtype == np.float32
    np.testing.assert_allclose(X, X_all, rtol=1e-6)
    assert set(np.unique(y)) == {0, 1}
    np.testing.assert_array_equal(y == 1, digit == 2)
    assert 150 < y.sum() < 200  # about a tenth of the images are 2s


def test_moons_shape_and_seed():
    X, y = data.moons(n_samples=50, noise=0.05, seed=3)
    assert X.shape == (50, 2) and y.shape == (50,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [25, 25]
    X2, y2 = data.moons(n_samples=50, noise=0.05, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, data.moons(n_samples=50, noise=0.05, seed=4)[0])


@pytest.mark.parametrize("n_samples, n_classes", [(200, 2), (31, 3), (5, 5)])
def test_spirals_shape_and_class_sizes(n_samples, n_classes):
    X, y = data.spirals(n_samples=n_samples, n_classes=n_classes)
    assert X.shape == (n_samples, 2) and X.dtype == np.float64
    assert y.dtype == np.int64
    counts = np.bincount(y, minlength=n_classes)
    assert len(counts) == n_classes and counts.max() - counts.min() <= 1


def test_spirals_reproducible_and_seed_dependent():
    X1, y1 = data.spirals(seed=7)
    X2, y2 = data.spirals(seed=7)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, data.spirals(seed=8)[0])


def test_spirals_without_noise_lie_on_their_arm():
    turns = 1.5
    X, y = data.spirals(n_samples=300, n_classes=3, noise=0.0, turns=turns, seed=1, dtype=np.float32)
    assert X.dtype == np.float32
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.min() >= 0.05 - 1e-6 and radius.max() <= 1.0 + 1e-6
    # Invert radius = 0.05 + 0.95 t and angle = 2 pi (turns t + k / K) for each point.
    t = (radius - 0.05) / 0.95
    expected = 2 * np.pi * (turns * t + y / 3)
    angle = np.arctan2(X[:, 1], X[:, 0])
    gap = np.angle(np.exp(1j * (angle - expected)))
    assert np.abs(gap).max() < 1e-3


def test_spirals_classes_are_interleaved_not_sorted():
    _, y = data.spirals(n_samples=100)
    assert not np.array_equal(y, np.sort(y))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n_classes": 0}, "n_classes"),
        ({"n_samples": 1, "n_classes": 2}, "n_samples"),
        ({"noise": -1.0}, "noise"),
        ({"turns": 0}, "turns"),
        ({"dtype": np.int32}, "dtype"),
    ],
)
def test_spirals_bad_options(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        data.spirals(**kwargs)


def test_moons_bad_options():
    with pytest.raises(ConfigError, match="n_samples"):
        data.moons(n_samples=1)
    with pytest.raises(ConfigError, match="noise"):
        data.moons(noise=float("nan"))


# ---------------------------------------------------------------- load_csv


def test_load_csv_with_named_integer_target(tmp_path):
    path = write(tmp_path / "d.csv", "a,b,label\n1,2.5,0\n3,4,1\n-5,6e1,2\n")
    X, y, names = data.load_csv(path, target="label")
    assert names == ["a", "b"]
    np.testing.assert_array_equal(X, [[1, 2.5], [3, 4], [-5, 60]])
    assert X.dtype == np.float64
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [0, 1, 2])


def test_load_csv_float_target_by_negative_index(tmp_path):
    path = write(tmp_path / "d.csv", "price,x\n1.5,1\n2,2\n")
    X, y, names = data.load_csv(str(path), target=0, dtype=np.float32)
    assert names == ["x"] and X.dtype == np.float32 and X.shape == (2, 1)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [1.5, 2.0])
    _, y2, names2 = data.load_csv(path, target=-1)
    assert names2 == ["price"] and y2.dtype == np.int64


def test_load_csv_without_target_other_delimiter_and_whitespace(tmp_path):
    path = write(tmp_path / "d.csv", "\ufeff a ; b \n 1 ; 2\n3;4\n\n\n")
    X, y, names = data.load_csv(path, delimiter=";")
    assert y is None
    assert names == ["a", "b"]
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])


def test_load_csv_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        data.load_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "text, words",
    [
        ("", ["empty", "header"]),
        ("\n\n", ["empty", "header"]),
        ("a,b\n", ["header", "no data rows"]),
        ("1,2\n3,4\n", ["header", "numbers"]),
        ("a,a\n1,2\n", ["'a'", "twice"]),
        ("a,b,c\n1,2,3\n4,5\n", ["line 3", "2 values", "3 columns"]),
        ("a,b\n1,2\n\n3,4\n", ["line 3", "blank"]),
        ("a,b,c\n1,2,3\n4,abc,6\n", ["line 3 (data row 2)", "'b'", "'abc'", "non-numeric"]),
        ("a,b\n1,\n", ["empty cell", "line 2", "'b'"]),
        ("a,b\n1,2\nNaN,3\n", ["'NaN'", "line 3", "'a'", "finite"]),
    ],
)
def test_load_csv_format_errors(tmp_path, text, words):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(FileFormatError) as info:
        data.load_csv(path)
    message = str(info.value)
    for word in words:
        assert word in message
    assert "bad.csv" in message


def test_load_csv_missing_target_lists_columns(tmp_path):
    path = write(tmp_path / "data.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(InputError) as info:
        data.load_csv(path, target="price")
    assert "target column 'price' not found in" in str(info.value)
    assert "data.csv" in str(info.value)
    assert "columns are: a, b, c" in str(info.value)


def test_load_csv_bad_target_index_and_type(tmp_path):
    path = write(tmp_path / "data.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="target index 3 is out of range"):
        data.load_csv(path, target=3)
    with pytest.raises(InputError, match="target index -4"):
        data.load_csv(path, target=-4)
    with pytest.raises(ConfigError, match="target must be"):
        data.load_csv(path, target=1.0)
    with pytest.raises(ConfigError, match="delimiter"):
        data.load_csv(path, delimiter=", ")


def test_load_csv_single_column_as_target(tmp_path):
    path = write(tmp_path / "one.csv", "y\n1\n2\n")
    with pytest.raises(InputError, match="no feature columns"):
        data.load_csv(path, target="y")


# ---------------------------------------------------------------- IDX

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=40, deadline=None)
@given(
    array=st.sampled_from(IDX_DTYPES).flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    ),
    compressed=st.booleans(),
)
def test_idx_round_trip(tmp_path_factory, array, compressed):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compressed else "a.idx")
    data.save_idx(path, array)
    loaded = data.load_idx(path)
    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)  # treats NaN == NaN
    assert loaded.flags.writeable


def test_idx_layout_is_big_endian(tmp_path):
    path = tmp_path / "a.idx"
    data.save_idx(path, np.array([[1, 2, 3]], dtype=np.int16))
    assert path.read_bytes() == bytes(
        [0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 1, 0, 2, 0, 3]
    )


def test_idx_gzip_is_detected_by_content(tmp_path):
    path = tmp_path / "plain-name.idx"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])))
    np.testing.assert_array_equal(data.load_idx(path), [7, 9])


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"\x00\x00", ["truncated", "4 bytes", "found 2"]),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", ["not an IDX file", "0x01 0x00"]),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", ["unknown type code 0x0a", "0x08"]),
        (b"\x00\x00\x08\x02\x00\x00\x00\x01", ["truncated", "12 bytes", "found 8"]),
        (b"\x00\x00\x0c\x01\x00\x00\x00\x03" + b"\x00" * 10, ["truncated", "needs 12 data bytes", "found 10"]),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", ["extra bytes", "needs 1 data bytes", "found 2"]),
    ],
)
def test_load_idx_format_errors(tmp_path, raw, words):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(FileFormatError) as info:
        data.load_idx(path)
    for word in words:
        assert word in str(info.value)


def test_load_idx_missing_and_bad_gzip(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        data.load_idx(tmp_path / "missing.idx")
    path = tmp_path / "fake.idx.gz"
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    with pytest.raises(FileFormatError, match="not a valid gzip file"):
        data.load_idx(path)


def test_save_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(InputError, match="cannot store int64"):
        data.save_idx(tmp_path / "a.idx", np.arange(3, dtype=np.int64))


# ---------------------------------------------------------------- MNIST


def make_mnist(directory, kind, n, gz=False, n_labels=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n if n_labels is None else n_labels, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    data.save_idx(directory / f"{kind}-images-idx3-ubyte{suffix}", images)
    data.save_idx(directory / f"{kind}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


@pytest.mark.parametrize("kind, gz", [("train", False), ("t10k", True)])
def test_load_mnist(tmp_path, kind, gz):
    images, labels = make_mnist(tmp_path, kind, 5, gz=gz)
    X, y = data.load_mnist(tmp_path, kind=kind)
    assert X.shape == (5, 784) and X.dtype == np.float64
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_allclose(X[2].reshape(28, 28) * 255, images[2])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_errors(tmp_path):
    with pytest.raises(ConfigError, match="'train' or 't10k'"):
        data.load_mnist(tmp_path, kind="test")
    with pytest.raises(FileFormatError, match="does not exist"):
        data.load_mnist(tmp_path / "absent")
    with pytest.raises(FileFormatError, match="'train-images-idx3-ubyte'.*not found"):
        data.load_mnist(tmp_path)
    make_mnist(tmp_path, "train", 4, n_labels=3)
    with pytest.raises(FileFormatError, match="4 images but .* 3 labels"):
        data.load_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileFormatError, match="'train-labels-idx1-ubyte'.*not found"):
        data.load_mnist(tmp_path)


# ---------------------------------------------------------------- one_hot


def test_one_hot_values():
    Y = data.one_hot([2, 0, 1, 2])
    assert Y.shape == (4, 3) and Y.dtype == np.float64
    np.testing.assert_array_equal(Y.argmax(axis=1), [2, 0, 1, 2])
    np.testing.assert_array_equal(Y.sum(axis=1), 1)
    Y5 = data.one_hot(np.array([1.0, 0.0]), n_classes=5, dtype=np.float32)
    assert Y5.shape == (2, 5) and Y5.dtype == np.float32
    np.testing.assert_array_equal(Y5, [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0]])


@pytest.mark.parametrize(
    "y, kwargs, error, word",
    [
        ([0, -1], {}, InputError, "negative"),
        ([0, 1.5], {}, InputError, "1.5"),
        ([0, 3], {"n_classes": 3}, InputError, "out of range for n_classes=3"),
        ([[0, 1]], {}, InputError, "1-D"),
        (["a"], {}, InputError, "integer class labels"),
        ([], {}, InputError, "empty"),
        ([0], {"n_classes": 0}, ConfigError, "n_classes"),
    ],
)
def test_one_hot_errors(y, kwargs, error, word):
    with pytest.raises(error, match=word):
        data.one_hot(y, **kwargs)


# ---------------------------------------------------------------- Standardizer


def test_standardizer_statistics_and_inverse():
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, size=(100, 3))
    X[:, 2] = 0.1  # constant column
    scaler = data.Standardizer()
    Z = scaler.fit_transform(X)
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1)
    np.testing.assert_array_equal(Z[:, 2], 0)
    assert scaler.scale_[2] == 1.0
    np.testing.assert_allclose(scaler.mean_, X.mean(axis=0))
    np.testing.assert_allclose(scaler.inverse_transform(Z), X)


def test_standardizer_keeps_float32_and_converts_ints():
    scaler = data.Standardizer().fit(np.array([[1, 2], [3, 2]]))
    assert scaler.transform(np.array([[1.0, 2.0]], dtype=np.float32)).dtype == np.float32
    np.testing.assert_array_equal(scaler.transform(np.array([[3, 2]])), [[1.0, 0.0]])


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 4)), elements=st.floats(-1e6, 1e6)))
def test_standardizer_never_divides_by_zero(X):
    Z = data.Standardizer().fit_transform(X)
    assert np.all(np.isfinite(Z))


def test_standardizer_errors():
    scaler = data.Standardizer()
    with pytest.raises(ConfigError, match="not fitted"):
        scaler.transform(np.zeros((2, 2)))
    with pytest.raises(InputError, match="2-D"):
        scaler.fit(np.zeros(3))
    with pytest.raises(InputError, match="0 rows"):
        scaler.fit(np.zeros((0, 3)))
    with pytest.raises(InputError, match="finite"):
        scaler.fit(np.array([[1.0, np.nan]]))
    scaler.fit(np.zeros((4, 3)))
    with pytest.raises(InputError, match="2 columns but the Standardizer was fitted on 3"):
        scaler.transform(np.zeros((4, 2)))
    with pytest.raises(InputError, match="5 columns"):
        scaler.inverse_transform(np.zeros((1, 5)))


# ---------------------------------------------------------------- train_test_split


def test_train_test_split_sizes_and_seed():
    X = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.25, seed=1)
    assert X_tr.shape == (15, 2) and X_te.shape == (5, 2)
    np.testing.assert_array_equal(X_tr[:, 0] // 2, y_tr)  # rows stay paired
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_te])), y)
    again = data.train_test_split(X, y, test_size=0.25, seed=1)
    np.testing.assert_array_equal(again[3], y_te)
    other = data.train_test_split(X, y, test_size=0.25, seed=2)
    assert not np.array_equal(other[3], y_te)
    assert len(data.train_test_split(X, y, test_size=3)[1]) == 3


def test_train_test_split_stratify_keeps_proportions():
    y = np.array([0] * 80 + [1] * 20)
    X = np.arange(100).reshape(100, 1)
    _, _, y_tr, y_te = data.train_test_split(X, y, test_size=0.2, seed=0, stratify=True)
    assert np.bincount(y_te).tolist() == [16, 4]
    assert np.bincount(y_tr).tolist() == [64, 16]


def test_train_test_split_errors():
    X = np.zeros((10, 2))
    with pytest.raises(InputError, match="X has 10 rows but y has 9"):
        data.train_test_split(X, np.zeros(9))
    with pytest.raises(ConfigError, match="test_size"):
        data.train_test_split(X, np.zeros(10), test_size=1.5)
    with pytest.raises(ConfigError, match="test_size"):
        data.train_test_split(X, np.zeros(10), test_size=10)
    with pytest.raises(InputError, match="stratify"):
        data.train_test_split(X, np.array([0] * 9 + [1]), stratify=True)


# ---------------------------------------------------------------- untrusted files: bounded memory


def _peak(fn, *args, **kwargs):
    """(result or exception, peak bytes traced by tracemalloc) of ``fn(*args)``: tracemalloc sees every
    NumPy array and Python object, so this is the memory the reader itself allocated."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - returned for the caller to check
            out = exc
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _gzip_of(head, n_zeros, with_crc=True):
    """A gzip file of ``head`` then ``n_zeros`` zero bytes, built without inflating it."""
    import struct

    from model_files import deflate_stream

    body, crc, size = deflate_stream(head, n_zeros, with_crc=with_crc)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + struct.pack("<II", crc, size & 0xFFFFFFFF)


def _idx_header(type_code, shape):
    return bytes([0, 0, type_code, len(shape)]) + np.array(shape, dtype=">u4").tobytes()


def test_idx_gzip_bomb_declaring_4_gb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_gzip_of(_idx_header(0x08, (4096, 1024, 1024)), 1 << 32, with_crc=False))
    assert path.stat().st_size < 10 << 20
    err, peak = _peak(data.load_idx, path)
    assert isinstance(err, FileFormatError)
    assert "declares shape (4096, 1024, 1024) of uint8, 4294967296 bytes; at most 1073741824" in str(err)
    assert "max_bytes" in str(err)
    assert peak < 2 << 20


def test_idx_gzip_claiming_more_than_deflate_can_produce_is_refused(tmp_path):
    path = tmp_path / "a.idx.gz"
    path.write_bytes(gzip.compress(_idx_header(0x0D, (1000, 1000, 100)) + bytes(100)))
    err, peak = _peak(data.load_idx, path)
    assert isinstance(err, FileFormatError) and "more than compression can produce" in str(err)
    assert peak < 2 << 20


def test_idx_plain_header_declaring_a_trillion_elements_is_refused_unread(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(_idx_header(0x0E, (1000000, 1000000)) + bytes(16))
    err, peak = _peak(data.load_idx, path)
    assert isinstance(err, FileFormatError) and "is truncated" in str(err) and "found 16" in str(err)
    assert peak < 1 << 20


def test_idx_gzip_inflates_as_a_stream_into_the_array(tmp_path):
    """A legitimate 32 MB array from a small gzip file costs the array and one chunk, not a copy."""
    path = tmp_path / "zeros.idx.gz"
    n = 32 << 20
    path.write_bytes(_gzip_of(_idx_header(0x08, (n,)), n))
    out, peak = _peak(data.load_idx, path)
    assert isinstance(out, np.ndarray) and out.shape == (n,) and not out.any()
    assert peak < n + (8 << 20)
    with pytest.raises(FileFormatError, match=r"at most 1000 bytes are expected \(pass max_bytes"):
        data.load_idx(path, max_bytes=1000)
    with pytest.raises(ConfigError, match="max_bytes"):
        data.load_idx(path, max_bytes=-1)


def test_idx_gzip_with_extra_or_missing_data_is_refused(tmp_path):
    path = tmp_path / "a.idx.gz"
    path.write_bytes(gzip.compress(_idx_header(0x08, (3,)) + b"\x01\x02\x03\x04"))
    with pytest.raises(FileFormatError, match="extra bytes at the end: shape \\(3,\\) of uint8 needs 3"):
        data.load_idx(path)
    path.write_bytes(gzip.compress(_idx_header(0x08, (5,)) + b"\x01\x02"))
    with pytest.raises(FileFormatError, match="truncated"):
        data.load_idx(path)
    path.write_bytes(gzip.compress(_idx_header(0x08, (3,)) + b"\x01\x02\x03")[:-6])
    with pytest.raises(FileFormatError, match="not a valid gzip file"):
        data.load_idx(path)


def test_mnist_headers_are_compared_before_any_image_is_read(tmp_path):
    n = 1 << 20        # 822 MB of images declared, consistent with its gzip size; 3 labels
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(
        _gzip_of(_idx_header(0x08, (n, 28, 28)), n * 784, with_crc=False))
    data.save_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    err, peak = _peak(data.load_mnist, tmp_path)
    assert isinstance(err, FileFormatError) and f"has {n} images but" in str(err) and "3 labels" in str(err)
    assert peak < 2 << 20


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=3), gz=st.booleans(), data_=st.data())
def test_damaged_idx_files_give_the_array_or_a_file_format_error(tmp_path_factory, shape, gz, data_):
    """The class: any byte damage (flips, truncation, appended bytes) to an IDX file, plain or gzip."""
    array = np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape)
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    data.save_idx(path, array)
    raw = bytearray(path.read_bytes())
    how = data_.draw(st.sampled_from(["flip", "cut", "append"]))
    if how == "flip":
        for at in data_.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=4)):
            raw[at] ^= data_.draw(st.integers(1, 255))
    elif how == "cut":
        raw = raw[:data_.draw(st.integers(0, len(raw) - 1))]
    else:
        raw += bytes(data_.draw(st.binary(min_size=1, max_size=20)))
    path.write_bytes(bytes(raw))
    out, peak = _peak(data.load_idx, path)
    assert peak < 2 << 20
    if isinstance(out, Exception):
        assert isinstance(out, FileFormatError), repr(out)
    else:
        assert isinstance(out, np.ndarray) and out.dtype.kind in "iuf"


def test_csv_memory_stays_close_to_the_table(tmp_path):
    """Rows are parsed straight into one buffer of doubles: no Python object per cell survives."""
    rows = 20_000
    path = tmp_path / "big.csv"
    values = np.random.default_rng(0).integers(100, 1000, size=(rows, 3))
    path.write_text("a,b,c\n" + "\n".join(f"{a},{b}.5,{c}" for a, b, c in values) + "\n")
    (X, y, names), peak = _peak(data.load_csv, path, target="c")
    np.testing.assert_array_equal(y, values[:, 2])
    np.testing.assert_array_equal(X[:, 1], values[:, 1] + 0.5)
    table = rows * 3 * 8          # 480 kB; a Python list per row and a str per cell would be ~4 MB
    assert peak < 2.5 * table + (512 << 10), peak


def test_csv_with_too_many_columns_is_refused(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(data.files.MAX_CSV_COLUMNS + 1)) + "\n")
    with pytest.raises(FileFormatError, match=f"has {data.files.MAX_CSV_COLUMNS + 1} columns; at most"):
        data.load_csv(path)


@settings(max_examples=40, deadline=None)
@given(cells=st.lists(st.lists(st.sampled_from(["1", "2.5", "-3e2", "", "x", "nan", " 4 ", "inf", "1_0"]),
                               min_size=2, max_size=2), min_size=1, max_size=5),
       trailing=st.sampled_from(["", "\n", "\n\n", "\n,\n"]))
def test_csv_cells_give_the_numbers_or_name_the_first_bad_cell(tmp_path_factory, cells, trailing):
    """The class: every table of cells loads as its numbers, or fails on its first bad cell in file order."""
    import math

    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_text("a,b\n" + "\n".join(",".join(r) for r in cells) + trailing)

    def good(cell):
        try:
            return math.isfinite(float(cell))
        except ValueError:
            return False

    while cells and not any(c.strip() for c in cells[-1]):
        cells = cells[:-1]      # blank rows at the end (",," too) are ignored
    bad = [(i, j) for i, r in enumerate(cells) for j, c in enumerate(r) if not good(c)]
    try:
        X, _, _ = data.load_csv(path)
    except FileFormatError as exc:
        if not cells:
            assert "no data rows" in str(exc)
            return
        assert bad, str(exc)
        i, j = bad[0]
        assert f"line {i + 2} (data row {i + 1}), column {'ab'[j]!r}" in str(exc)
    else:
        assert not bad
        np.testing.assert_array_equal(X, [[float(c) for c in r] for r in cells])


def test_idx_bombs_stay_under_50_mb_of_resident_memory(tmp_path):
    """The issue's 9 MB gzip IDX file that inflates to 4 GB, and an MNIST pair whose counts disagree,
    measured as the growth of peak RSS (getrusage maxrss) in a fresh process."""
    from model_files import peak_rss_delta_mb

    bomb = tmp_path / "bomb.idx.gz"
    bomb.write_bytes(_gzip_of(_idx_header(0x08, (4096, 1024, 1024)), 1 << 32, with_crc=False))
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    n = 1 << 20
    (mnist / "train-images-idx3-ubyte.gz").write_bytes(
        _gzip_of(_idx_header(0x08, (n, 28, 28)), n * 784, with_crc=False))
    data.save_idx(mnist / "train-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    grew = peak_rss_delta_mb("""
        for call in (lambda: data.load_idx(FILES[0]), lambda: data.load_mnist(FILES[1])):
            try:
                call()
            except bp.FileFormatError:
                pass
            else:
                raise SystemExit("loaded")
    """, bomb, mnist)
    assert grew < 50


def test_load_csv_takes_a_data_frame_like_a_file(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [0.5, 1.5, 2.5], "b": [1.0, 2.0, 3.0], "label": [0, 1, 0]})
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    X, y, names = data.load_csv(df, target="label")
    Xf, yf, namesf = data.load_csv(path, target="label")
    np.testing.assert_array_equal(X, Xf)
    assert names == namesf == ["a", "b"] and list(y) == list(yf)


@pytest.mark.parametrize("shape", [(0, 2**32 - 1, 2**32 - 1), (2**32 - 1, 0, 2**32 - 1, 2), (0, 2**31, 2**31, 2)])
def test_an_idx_header_whose_extents_overflow_is_refused_even_with_a_zero_extent(tmp_path, shape):
    # numpy cannot make such an array even when it holds no element; the header check says so
    path = tmp_path / "a.idx"
    path.write_bytes(bytes([0, 0, 0x08, len(shape)]) + np.array(shape, dtype=">u4").tobytes())
    with pytest.raises(FileFormatError, match="no array can have"):
        data.load_idx(path)


@settings(max_examples=60, deadline=None)
@given(extents=st.lists(st.integers(1, 2**40), min_size=1, max_size=4), at=st.integers(0, 4),
       dtype=st.sampled_from(["uint8", "int32", "float64"]))
def test_an_untrusted_shape_with_a_zero_extent_is_allocatable_or_a_file_format_error(extents, at, dtype):
    # the class of the IDX bug: every reader asks nbytes_of first; what it accepts numpy can make
    from backprop.untrusted import nbytes_of
    shape = tuple(extents[:at] + [0] + extents[at:])
    try:
        n = nbytes_of(shape, np.dtype(dtype), "a test array")
    except FileFormatError as e:
        assert "no array can have" in str(e)
        with pytest.raises(ValueError):
            np.empty(shape, dtype=dtype)
    else:
        assert n == 0 and np.empty(shape, dtype=dtype).size == 0
