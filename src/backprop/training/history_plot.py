"""The figure of a training history (``History.plot``, ``backprop plot``), drawn with matplotlib's Agg
canvas and written in the format that the file's extension names (PNG, SVG, PDF, ... whatever
matplotlib writes); the canvas and file helpers that every figure of the library uses.

No pyplot and no global backend switch: importing this module changes nothing in a user's
matplotlib set-up, and it works on machines without a display; matplotlib is imported only when a
figure is drawn (the ``plots`` extra).
"""
from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._optional import require
from ..engine.serialize import atomic_write
from ..errors import ConfigError, InputError

if TYPE_CHECKING:
    from .history import History


def new_figure(width: float, height: float) -> Any:
    """An empty matplotlib Figure of ``width`` x ``height`` inches on its own Agg canvas.

    Parameters
    ----------
    width, height : float
        The size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> type(new_figure(3, 2)).__name__
    'Figure'
    """
    FigureCanvasAgg = require("matplotlib.backends.backend_agg", extra="plots", feature="plots").FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_formats() -> dict[str, str]:
    """The file formats matplotlib can write here: extension (without dot) -> description.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> "png" in figure_formats()
    True
    """
    agg = require("matplotlib.backends.backend_agg", extra="plots", feature="plots")
    return dict(agg.FigureCanvasAgg.get_supported_filetypes())


def figure_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format to write ``path`` in: ``format`` if given, else the file's extension.

    Raises
    ------
    ConfigError
        If the format is not one matplotlib writes, or ``path`` has no extension and no format is given.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    format : str, optional
        The format, when the suffix of ``path`` does not say it.

    Returns
    -------
    str

    Examples
    --------
    >>> figure_format("run.svg", None)
    'svg'
    """
    formats = figure_formats()
    known = ", ".join(f".{k}" for k in formats)
    if format is None:
        ext = os.path.splitext(os.fspath(path))[1]
        if not ext:
            raise ConfigError(f"{os.fspath(path)} has no file extension to choose the figure format from; "
                              f"expected one of {known}")
        format = ext[1:]
    if not isinstance(format, str) or format.lower() not in formats:
        raise ConfigError(f"cannot write a figure as {format!r}; expected one of {known}")
    return format.lower()


def write_figure(fig: Any, path: str | os.PathLike[str], dpi: int, format: str | None = None) -> None:
    """Write ``fig`` to ``path`` atomically, in the format of :func:`figure_format`."""
    fmt = figure_format(path, format)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def _positive(a: NDArray[Any]) -> bool:
    a = np.asarray(a, dtype=float)
    return np.isfinite(a).any() and np.nanmin(a) > 0


def plot_history(history: History, path: str | os.PathLike[str] | None = None, title: str | None = None, dpi: int = 110,
                 format: str | None = None) -> Any:
    """The curves of a training run: training and validation loss, the metric, the learning rate and
    the per-layer gradient norms, one panel each (the metric's panel only with a metric).

    Parameters
    ----------
    history : History
        As returned by ``train`` (or ``History.load``).
    path : str or path, optional
        Write the figure to this file (atomically), in the format its extension names
        (``.png``, ``.svg``, ``.pdf``, ... see :func:`figure_formats`).
    title : str, optional
    dpi : int
    format : str, optional
        The file format, if not the one of the extension.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ConfigError
        If the format is unknown (before anything is drawn or written).
    InputError
        If the history has no epochs.

    Examples
    --------
    >>> import backprop as bp
    >>> X, y = bp.datasets.xor()
    >>> h = bp.train(bp.MLP([2, 3, 1], output="sigmoid", seed=0), "bce", X, y, epochs=3, batch_size=4, verbose=False)
    >>> type(plot_history(h)).__name__
    'Figure'
    """
    if path is not None:
        figure_format(path, format)          # an unknown format fails before drawing
    if not len(history):
        raise InputError("the training history has no epochs; nothing to plot")
    epochs = history["epoch"]
    loss, val_loss = history["loss"], history["val_loss"]
    tm, vm = history["train_metric"], history["val_metric"]
    has_metric = bool(history.metric) and (np.isfinite(tm).any() or np.isfinite(vm).any())
    n = 4 if has_metric else 3
    fig = new_figure(4.0 * n, 3.6)
    axes = list(fig.subplots(1, n))

    ax = axes.pop(0)
    ax.plot(epochs, loss, label="training", color="C0")
    if np.isfinite(val_loss).any():
        ax.plot(epochs, val_loss, label="validation", color="C1")
    if history.best_epoch is not None:
        ax.axvline(history.best_epoch, color="0.6", linestyle=":", label=f"best (epoch {history.best_epoch})")
    if _positive(np.concatenate([loss, val_loss])):
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="loss", title="loss")
    ax.legend(frameon=False)

    if has_metric:
        ax = axes.pop(0)
        if np.isfinite(tm).any():
            ax.plot(epochs, tm, label="training (running)", color="C0")
        if np.isfinite(vm).any():
            ax.plot(epochs, vm, label="validation", color="C1")
        ax.set(xlabel="epoch", ylabel=history.metric, title=history.metric)
        ax.legend(frameon=False)

    ax = axes.pop(0)
    lr = history["lr"]
    ax.plot(epochs, lr, color="C2")
    if _positive(lr) and np.nanmax(lr) > 10 * np.nanmin(lr):
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="learning rate", title="learning rate")

    ax = axes.pop(0)
    norms = history["grad_norms"]
    for k, name in enumerate(history.layers):
        ax.plot(epochs, norms[:, k], label=name, color=f"C{k % 10}")
    if norms.size and _positive(norms):
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="mean ||dL/dp|| per batch", title="gradient norm per layer")
    if history.layers:
        ax.legend(frameon=False, fontsize="small")
    if title:
        fig.suptitle(title)
    if path is not None:
        write_figure(fig, path, dpi, format)
    return fig
