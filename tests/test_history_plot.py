"""``History.plot``: one figure of a run (loss, validation loss and metric, learning rate, per-layer
gradient norms), drawn by the training layer itself and shared with ``backprop plot``."""
import numpy as np
import pytest

import backprop as bp
from backprop.errors import ConfigError, InputError
from backprop.faces import plots
from backprop.training import history_plot
from backprop.training.history import History

pytest.importorskip("matplotlib")


def _run():
    X, y = bp.datasets.moons(n_samples=80, noise=0.2, seed=0)
    net = bp.MLP([2, 5, 1], output="sigmoid", seed=0)
    return bp.train(net, "bce", X, y, optimizer="adam", lr=0.05, epochs=6, batch_size=20, verbose=False,
                    validation_fraction=0.25, schedule="cosine")


def _lines(ax):
    return {line.get_label(): line.get_ydata() for line in ax.get_lines()}


def test_history_plot_draws_every_curve_of_the_run_and_returns_the_figure(tmp_path):
    history = _run()
    fig = history.plot()
    from matplotlib.figure import Figure
    assert isinstance(fig, Figure)
    loss_ax, metric_ax, lr_ax, norm_ax = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning rate", "gradient norm per layer"]
    np.testing.assert_array_equal(_lines(loss_ax)["training"], history["loss"])
    np.testing.assert_array_equal(_lines(loss_ax)["validation"], history["val_loss"])
    np.testing.assert_array_equal(_lines(metric_ax)["validation"], history["val_metric"])
    lr = history["lr"]
    assert lr[0] > lr[-1] > 0                                  # the cosine schedule, as drawn
    np.testing.assert_array_equal(lr_ax.get_lines()[0].get_ydata(), lr)
    norms = history["grad_norms"]
    assert list(_lines(norm_ax)) == history.layers and len(history.layers) == 2
    for k, layer in enumerate(history.layers):
        np.testing.assert_array_equal(_lines(norm_ax)[layer], norms[:, k])
    assert list(tmp_path.iterdir()) == []                      # no path: nothing written


def test_history_plot_saves_to_a_path_in_its_format_and_refuses_unknown_ones(tmp_path):
    history = _run()
    fig = history.plot(tmp_path / "run.svg", title="moons")
    assert (tmp_path / "run.svg").read_bytes().startswith(b"<?xml") and fig._suptitle.get_text() == "moons"
    history.plot(tmp_path / "run.out", format="png")
    assert (tmp_path / "run.out").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ConfigError, match="'bmp'"):
        history.plot(tmp_path / "run.bmp")
    assert not (tmp_path / "run.bmp").exists()
    with pytest.raises(InputError, match="no epochs"):
        History("accuracy", ["layer1"]).plot()


def test_one_function_draws_the_history_for_the_api_and_the_command_line():
    """``backprop plot`` (through faces.plots) and ``History.plot`` draw with the same function."""
    assert plots.plot_history is history_plot.plot_history
    assert plots.figure_format is history_plot.figure_format
