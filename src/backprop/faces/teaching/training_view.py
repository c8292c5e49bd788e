"""The numbers of a short training run for the trace page: the loss per epoch, every weight per epoch and, for
two inputs, the network's output over the input plane per epoch, all computed here (the page only draws them).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ...derivatives.gradient import loss_and_grad
from ...derivatives.trace import default_loss
from ...errors import ConfigError
from ...training.optimizers import get_optimizer
from ...validation import check_X

if TYPE_CHECKING:
    from ...engine.network import Network


MAX_EPOCHS, MAX_GRID, MAX_PARAMS_SHOWN = 500, 60, 200


def training_view(net: Network, X: ArrayLike, T: ArrayLike, loss: Any = None, optimizer: str = "gd", epochs: int = 30,
                  grid: int = 25, **options: Any) -> dict[str, Any]:
    """Train a copy of ``net`` full-batch for ``epochs`` steps and record what the page shows.

    Parameters
    ----------
    net : Network
        Not changed (a copy is trained).
    X, T : arrays
        The training data (all of it is one batch).
    loss : str or Loss, optional
        Default: from the output activation, as for ``bp.trace``.
    optimizer : str or Optimizer
        As for ``get_optimizer`` (options such as ``lr`` as keyword arguments).
    epochs : int
        At most 500.
    grid : int
        Points per axis of the decision surface (two inputs only), at most 60.

    Returns
    -------
    dict
        "loss" (epochs + 1 values, before the first step and after each), "params" (per epoch, when the
        network has at most 200 parameters), "param_labels", and for two inputs "surface": the grid
        coordinates, the output over the grid per epoch and the data points.
    """
    epochs, grid = int(epochs), int(grid)
    if not 1 <= epochs <= MAX_EPOCHS:
        raise ConfigError(f"epochs must be between 1 and {MAX_EPOCHS} for the page; got {epochs}")
    if not 5 <= grid <= MAX_GRID:
        raise ConfigError(f"grid must be between 5 and {MAX_GRID} points per axis; got {grid}")
    loss = default_loss(net) if loss is None else loss
    X = check_X(X, net.n_inputs, net.dtype)
    opt = get_optimizer(optimizer, **options)
    opt.reset()
    net = net.copy()
    if getattr(opt, "decay_mask", None) is None:
        opt.decay_mask = net.reg_mask
    from ...engine.neurons.layout import neuron_layout
    try:
        lay = neuron_layout(net)
        labels = [lay.param_label(k) or f"p[{k}]" for k in range(net.n_params)]
    except ConfigError:
        labels = [f"p[{k}]" for k in range(net.n_params)]
    two_d = net.n_inputs == 2
    if two_d:
        pad = 0.1 * (X.max(axis=0) - X.min(axis=0) + 1e-12)
        lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
        g0, g1 = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
        G = np.column_stack([np.repeat(g0, grid), np.tile(g1, grid)])      # row i*grid + j: (g0[i], g1[j])
    losses, params, surfaces = [], [], []

    def record() -> None:
        params.append(net.params.tolist())
        if two_d:
            Y = net.predict(G)
            v = Y[:, 0] if Y.shape[1] == 1 else Y.argmax(axis=1) / (Y.shape[1] - 1)
            surfaces.append(np.round(v, 5).tolist())

    value, g = loss_and_grad(net, loss, X, T)
    losses.append(float(value))
    record()
    for _ in range(epochs):
        opt.step(net.params, g)
        value, g = loss_and_grad(net, loss, X, T)
        losses.append(float(value))
        record()
    out = {"loss": losses, "param_labels": labels, "optimizer": repr(opt)}
    if net.n_params <= MAX_PARAMS_SHOWN:
        out["params"] = params
    if two_d:
        T_arr = np.asarray(T, dtype=float)
        t = T_arr if T_arr.ndim == 1 else (T_arr[:, 0] if T_arr.shape[1] == 1 else T_arr.argmax(axis=1))
        out["surface"] = {"g0": g0.tolist(), "g1": g1.tolist(), "values": surfaces, "X": X.tolist(),
                          "t": t.tolist(), "what": "y(o1)" if net.n_outputs == 1 else "class (argmax)"}
    return out
