"""Callbacks: per-batch and per-epoch hooks and the stock ones."""
import csv
import logging

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
from backprop.errors import ConfigError


def _data():
    return bp.datasets.moons(n_samples=80, noise=0.2, seed=0)


def _net():
    return bp.MLP([2, 6, 1], output="sigmoid", seed=0)


def test_hooks_are_called_in_order_with_batches_and_epochs():
    calls = []

    class Spy(bp.Callback):
        def on_train_begin(self, history):
            calls.append(("begin", self.net is not None and self.optimizer is not None))

        def on_epoch_begin(self, epoch):
            calls.append(("epoch", epoch))

        def on_batch_end(self, batch, loss):
            calls.append(("batch", batch))

        def on_epoch_end(self, epoch, record):
            calls.append(("end", epoch, record["epoch"]))

        def on_train_end(self, history):
            calls.append(("done", len(history)))

    X, y = _data()
    bp.train(_net(), "bce", X, y, epochs=2, batch_size=40, verbose=False, callbacks=[Spy()])
    assert calls == [("begin", True), ("epoch", 1), ("batch", 0), ("batch", 1), ("end", 1, 1),
                     ("epoch", 2), ("batch", 0), ("batch", 1), ("end", 2, 2), ("done", 2)]


def test_callbacks_do_not_change_the_run_unless_they_steer_it():
    X, y = _data()
    a, b = _net(), _net()
    bp.train(a, "bce", X, y, epochs=5, verbose=False)
    bp.train(b, "bce", X, y, epochs=5, verbose=False, callbacks=[bp.Callback(), bp.LoggingCallback()])
    assert a.params.tobytes() == b.params.tobytes()


def test_early_stopping_stops_and_restores_the_best():
    X, y = _data()
    stop = bp.EarlyStopping(monitor="loss", patience=1, min_delta=10.0, restore_best=True)
    h = bp.train(_net(), "bce", X, y, epochs=50, verbose=False, callbacks=[stop])
    assert len(h) == 2 and h.stop_reason == "callback" and stop.best_epoch == 1


def test_model_checkpoint_best_and_last(tmp_path):
    X, y = _data()
    best = bp.ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss")
    last = bp.ModelCheckpoint(tmp_path / "e{epoch}.npz", save="last")
    net = _net()
    h = bp.train(net, "bce", X, y, epochs=4, validation_fraction=0.25, restore_best=False, verbose=False,
                 callbacks=[best, last])
    assert last.saved == [str(tmp_path / f"e{k}.npz") for k in range(1, 5)]
    np.testing.assert_array_equal(bp.load(tmp_path / "e4.npz").params, net.params)
    assert best.best == min(h["val_loss"])


def test_reduce_lr_on_plateau_lowers_the_learning_rate():
    X, y = _data()
    reduce = bp.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    h = bp.train(_net(), "bce", X, y, optimizer="sgd", lr=0.1, epochs=4, tol=None, verbose=False, callbacks=[reduce])
    # no improvement after epoch 2, 3, 4: the rate is halved from the next epoch on
    assert h["lr"].tolist() == pytest.approx([0.1, 0.1, 0.05, 0.025]) and reduce.reductions == [2, 3, 4]


def test_csv_logger_and_logging(tmp_path, caplog):
    X, y = _data()
    with caplog.at_level(logging.INFO, logger="backprop.training"):
        h = bp.train(_net(), "bce", X, y, epochs=3, verbose=False,
                     callbacks=[bp.CSVLogger(tmp_path / "log.csv"), bp.LoggingCallback()])
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["epoch", "loss"] and len(rows) == 4
    assert [float(r[1]) for r in rows[1:]] == h["loss"].tolist()
    assert sum(r.message.startswith("epoch") for r in caplog.records) == 3 and "training ended" in caplog.records[-1].message


def test_bad_callbacks_are_refused_before_anything_changes():
    X, y = _data()
    net = _net()
    before = net.params.copy()
    with pytest.raises(ConfigError, match="a callback has at least one of the methods"):
        bp.train(net, "bce", X, y, epochs=2, verbose=False, callbacks=[object()])
    assert np.array_equal(net.params, before)
    with pytest.raises(ConfigError, match="monitor 'nope'"):
        bp.EarlyStopping(monitor="nope")


def test_logging_callback_refuses_a_logger_that_is_none_before_training():
    # regression: LoggingCallback(logger=None) was accepted and raised AttributeError at the end of the first
    # epoch, after the parameters had changed
    X, y = _data()
    net = _net()
    before = net.params.copy()
    with pytest.raises(ConfigError, match="logger must be a logging.Logger"):
        bp.train(net, "bce", X, y, epochs=2, verbose=False, callbacks=[bp.LoggingCallback(logger=None)])
    assert np.array_equal(net.params, before)
    adapter = logging.LoggerAdapter(logging.getLogger("backprop.training"), {})
    assert bp.LoggingCallback(logger=adapter).logger is adapter


_NOT_A_LOGGER = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.binary(),
                          st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                max_size=2))
_NOT_A_LEVEL = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=5),
                         st.lists(st.integers(), max_size=2))


@settings(max_examples=40, deadline=None)
@given(logger=_NOT_A_LOGGER, level=_NOT_A_LEVEL, name=st.text(max_size=12), good_level=st.integers(0, 60))
def test_logging_callback_options_are_checked_when_it_is_made(logger, level, name, good_level):
    """Every option of the wrong type is a ConfigError at construction, never an error in the middle of training;
    every logger name and integer level is accepted."""
    with pytest.raises(ConfigError, match="logger must be"):
        bp.LoggingCallback(logger=logger)
    with pytest.raises(ConfigError, match="level must be"):
        bp.LoggingCallback(level=level)
    cb = bp.LoggingCallback(logger=name, level=good_level)
    assert cb.logger is logging.getLogger(name) and cb.level == good_level
