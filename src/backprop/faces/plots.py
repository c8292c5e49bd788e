"""Figures of a training run, drawn with matplotlib's Agg canvas and written in the format that the
file's extension names (PNG, SVG, PDF, ... whatever matplotlib writes).

The history's figure and the canvas and file helpers live with the history
(:mod:`backprop.training.history_plot`, also ``History.plot``); this module adds the confusion matrix.
No pyplot and no global backend switch: importing this module changes nothing in a user's
matplotlib set-up, and it works on machines without a display.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..training.history_plot import (figure_format, figure_formats, new_figure, plot_history,
                                     write_figure)


__all__ = ["figure_format", "figure_formats", "plot_confusion", "plot_history"]


def plot_confusion(cm: ArrayLike, labels: Sequence[Any] | None = None, path: str | os.PathLike[str] | None = None,
                   title: str | None = "confusion matrix", dpi: int = 110, format: str | None = None) -> Any:
    """A confusion matrix (rows: true class, columns: predicted class) as a heat map with counts.

    ``path`` and ``format`` as for :func:`plot_history`.

    Parameters
    ----------
    cm : array_like of shape (n_classes, n_classes)
        Counts: ``cm[i, j]`` samples of class i predicted as class j.
    labels : sequence, optional
        The class names (default 0, 1, ...).
    path : str or path-like, optional
        Where to save the figure (its suffix names the format).
    title : str, default "confusion matrix"
        The title of the plot.
    dpi : int, default 110
        Resolution of a saved raster image.
    format : str, optional
        The file format, when the suffix of ``path`` does not say it.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_confusion([[3, 1], [0, 4]], labels=["no", "yes"])
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['no', 'yes']
    """
    if path is not None:
        figure_format(path, format)
    cm = np.asarray(cm)
    labels = [str(c) for c in (labels if labels is not None else range(cm.shape[0]))]
    fig = new_figure(4.8, 4.4)
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    top = cm.max() if cm.size else 0
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(int(v)), ha="center", va="center", fontsize="small",
                    color="white" if v > 0.6 * top else "black")
    if path is not None:
        write_figure(fig, path, dpi, format)
    return fig
