"""The Laplace approximation from a Dask data set: the curvature summed over blocks, predictions by blocks."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..engine.objective import Objective
from ..engine.serialize import build_network
from ..second_order.laplace import Laplace
from ..losses import get_loss
from .blocks import _rows
from .shards import _dask
from .sums import Sums, travelling

if TYPE_CHECKING:
    from ..engine.network import Network


def laplace_curvature(net: Network, loss: Any, X: Any, T: Any, hessian: str, structure: str) -> tuple[Any, int, int]:
    """(d2E/dw2 of the data, N, the loss's node) for ``Laplace``: one W x W matrix (or diagonal) per block."""
    dask, _ = _dask()
    sums = Sums(net, loss, X, T)
    what = ("hessian" if hessian == "exact" else "gauss_newton") + ("" if structure == "full" else "_diag")
    curv = sums.matrix(what) if structure == "full" else sums.diagonal(what)
    x0, t0, _ = sums.shards.fetch(0)                      # one row fixes where the loss is evaluated
    node = Objective(net, sums.loss, x0[:1], t0[:1]).seed_node
    return curv, sums.n, node


def _block_predict(desc: dict[str, Any], params: NDArray[Any], loss_cfg: dict[str, Any], state: Any, X: Any) -> Any:
    la = Laplace.__new__(Laplace)
    la.__dict__.update(state)
    la.net = build_network(desc, params)
    la.loss = get_loss(loss_cfg)
    mean, var = la.predict(X, return_var=True)
    return np.concatenate([mean, var], axis=1)


def laplace_predict(la: Any, X: Any, return_var: bool = False) -> Any:
    """``Laplace.predict`` over a Dask array: Dask arrays (N, c) with the row blocks of X.

    The posterior travels once: the network as its description plus the mode, the covariance as one array.
    """
    _, da = _dask()
    net = la.net
    X = _rows(X, net)
    c = net.n_outputs
    state = {k: v for k, v in vars(la).items() if k not in ("net", "loss")}
    out = da.map_blocks(_block_predict, travelling(net), net.params.copy(), la.loss.config(), state, X,
                        chunks=(X.chunks[0], (2 * c,)), dtype=np.float64, meta=np.empty((0, 0)))
    mean, var = out[:, :c], out[:, c:]
    return (mean, var) if return_var else mean
