"""The forward and backward pass read unit by unit: ``neuron_pass(net, loss, X, T)`` runs them on a batch and
returns, per unit, x, y, dE/dy and dE/dx, and per edge dE/dw_ij = y_i dE/dx_j, for every instance.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ..objective import Objective
from .layout import NeuronLayout, neuron_layout

if TYPE_CHECKING:
    from ...losses import Loss
    from ..network import Network

Array = NDArray[Any]


class NeuronPass:
    """Values and derivatives of every scalar node and edge, for every instance of a batch.

    Attributes
    ----------
    layout : NeuronLayout
    names : list of str
        Unit names, in the order they are computed.
    x, y : ndarray of shape (B, n_units)
        Column j is unit ``names[j]``.
    dEn_dy, dEn_dx : ndarray of shape (B, n_units)
        The per-instance deltas of the notes: row n holds dE_n/dy_j and dE_n/dx_j for instance n alone,
        E_n = Div(y_n, t_n) (no 1/B, whichever the loss's reduction).
    dEn_dw : ndarray of shape (B, n_edges)
        dE_n/dw_ij = y_i dE_n/dx_j per instance, edges in ``layout.edges`` order.
    dEn_db : ndarray of shape (B, n_biases)
        dE_n/db_j = dE_n/dx_j for the units ``layout.bias_units``.
    dE_dy, dE_dx : ndarray of shape (B, n_units)
        The adjoints of the batch objective E: row n is dE/d(unit) through instance n, that is the
        loss's per-instance factor times the delta (dE_n/d(unit) / B for the default mean loss, the delta
        itself for ``reduction="sum"``).
    dE_dw : ndarray of shape (B, n_edges)
        y_i dE/dx_j per instance: instance n's contribution to dE/dw_ij; summed over the batch it is the
        gradient (without the L2 term).
    dE_db : ndarray of shape (B, n_biases)
        dE/dx_j for the units ``layout.bias_units`` (summed over the batch: dE/db_j).
    value : float
        E, the loss of the batch.
    grad : ndarray
        dE/dw for all of ``net.params`` (including the L2 term if the loss has one).

    Parameters
    ----------
    layout : NeuronLayout
        The scalar-node view of the network.
    x, y : ndarray of shape (B, n_units)
        Every unit's input and output.
    dE_dy, dE_dx : ndarray of shape (B, n_units)
        The adjoints of the batch objective E.
    value : float
        E, the loss of the batch.
    grad : ndarray
        dE/dw for all of the network's parameters.
    loss : Loss
        The loss.
    D : ndarray
        The targets as the loss took them.
    dEn_dy, dEn_dx : ndarray of shape (B, n_units), optional
        The per-instance deltas (without them ``node_deltas`` is not available).

    Examples
    --------
    >>> import backprop as bp
    >>> p = neuron_pass(bp.MLP([2, 2, 2]), "ce", np.array([[1.0, 2.0]]), np.array([1]))
    >>> p.names, p.dE_dw.shape
    (['x1', 'x2', 'h1_1', 'h1_2', 'o1', 'o2'], (1, 8))
    """

    def __init__(self, layout: NeuronLayout, x: Array, y: Array, dE_dy: Array, dE_dx: Array, value: float,
                 grad: Array, loss: Loss, D: Any, dEn_dy: Array | None = None, dEn_dx: Array | None = None):
        self.layout, self.names = layout, layout.names
        self.x, self.y, self.dE_dy, self.dE_dx = x, y, dE_dy, dE_dx
        self.dE_dw = y[:, layout.src] * dE_dx[:, layout.dst]
        self.dE_db = dE_dx[:, layout.bias_units]
        self.dEn_dy, self.dEn_dx = dEn_dy, dEn_dx
        if dEn_dx is not None:
            self.dEn_dw = y[:, layout.src] * dEn_dx[:, layout.dst]
            self.dEn_db = dEn_dx[:, layout.bias_units]
        self.value, self.grad, self.loss, self.D = value, grad, loss, D

    def node_values(self) -> dict[str, tuple[Array, Array]]:
        """Every unit's input x_j and output y_j.

        Returns
        -------
        dict
            ``{name: (x_j, y_j)}``, arrays of shape (B,).

        Examples
        --------
        >>> import backprop as bp
        >>> p = neuron_pass(bp.MLP([1, 1, 1], seed=0, output="identity"), "l2", [[1.0]], [[0.5]])
        >>> p.node_values()["x1"]
        (array([1.]), array([1.]))
        """
        return {n: (self.x[:, j], self.y[:, j]) for j, n in enumerate(self.names)}

    def node_grads(self) -> dict[str, tuple[Array, Array]]:
        """Every unit's adjoints dE/dy_j and dE/dx_j of the batch objective E.

        Returns
        -------
        dict
            ``{name: (dE/dy_j, dE/dx_j)}``, arrays of shape (B,).

        Examples
        --------
        >>> import backprop as bp
        >>> p = neuron_pass(bp.MLP([1, 1, 1], seed=0, output="identity"), "l2", [[1.0]], [[0.5]])
        >>> dy, dx = p.node_grads()["o1"]
        >>> bool(dy[0] == p.y[0, -1] - 0.5)
        True
        """
        return {n: (self.dE_dy[:, j], self.dE_dx[:, j]) for j, n in enumerate(self.names)}

    def node_deltas(self) -> dict[str, tuple[Array, Array]]:
        """The per-instance deltas dE_n/dy_j and dE_n/dx_j (no 1/B, whichever the loss's reduction).

        Returns
        -------
        dict
            ``{name: (dE_n/dy_j, dE_n/dx_j)}``, arrays of shape (B,).

        Examples
        --------
        >>> import backprop as bp
        >>> p = neuron_pass(bp.MLP([1, 1, 1], seed=0, output="identity"), "l2", [[1.0], [1.0]], [[0.5], [0.5]])
        >>> bool(np.allclose(p.node_deltas()["o1"][1], 2 * p.node_grads()["o1"][1]))     # E = mean of 2 E_n
        True
        """
        assert self.dEn_dy is not None and self.dEn_dx is not None, "the pass was made without per-instance deltas"
        return {n: (self.dEn_dy[:, j], self.dEn_dx[:, j]) for j, n in enumerate(self.names)}

    def edge_grads(self) -> dict[tuple[str, str], Array]:
        """Every edge's dE/dw_ij = y_i dE/dx_j, per instance.

        Returns
        -------
        dict
            ``{(src, dst): dE/dw_ij}``, arrays of shape (B,).

        Examples
        --------
        >>> import backprop as bp
        >>> p = neuron_pass(bp.MLP([1, 1, 1], seed=0, output="identity"), "l2", [[1.0]], [[0.5]])
        >>> list(p.edge_grads())
        [('x1', 'h1_1'), ('h1_1', 'o1')]
        """
        nm = self.names
        return {(nm[e.src], nm[e.dst]): self.dE_dw[:, k] for k, e in enumerate(self.layout.edges)}

    def node(self, name: str) -> dict[str, Array]:
        """x, y, dE/dy, dE/dx of one unit.

        Parameters
        ----------
        name : str
            The unit's name.

        Returns
        -------
        dict
            ``{"x": ..., "y": ..., "dE/dy": ..., "dE/dx": ...}``, arrays of shape (B,).

        Examples
        --------
        >>> import backprop as bp
        >>> p = neuron_pass(bp.MLP([1, 1, 1], seed=0, output="identity"), "l2", [[1.0]], [[0.5]])
        >>> sorted(p.node("h1_1"))
        ['dE/dx', 'dE/dy', 'x', 'y']
        """
        j = self.layout.find(name)
        return {"x": self.x[:, j], "y": self.y[:, j], "dE/dy": self.dE_dy[:, j], "dE/dx": self.dE_dx[:, j]}

    def edge(self, src: str, dst: str) -> Array:
        """dE/dw of the edge src -> dst, per instance.

        Parameters
        ----------
        src, dst : str
            The names of the edge's two nodes.

        Returns
        -------
        ndarray of shape (B,)
            y_src dE/dx_dst for each instance.

        Examples
        --------
        >>> import backprop as bp
        >>> p = neuron_pass(bp.MLP([1, 1, 1], seed=0, output="identity"), "l2", [[1.0]], [[0.5]])
        >>> bool(p.edge("x1", "h1_1")[0] == p.node("h1_1")["dE/dx"][0])      # y(x1) = 1
        True
        """
        return self.dE_dw[:, self.layout.find_edge(src, dst)]


def _collect(arrays: Sequence[Array | None], where: dict[int, tuple[Any, Any]], B: int, n: int,
             dtype: DTypeLike) -> Array:
    """out[:, j] = arrays[node][:, col] for every unit j at (node, col); zero where the array is None."""
    out = np.zeros((B, n), dtype=dtype)
    for node, (us, cs) in where.items():
        a = arrays[node]
        if a is not None:
            out[:, us] = a[:, cs]
    return out


def neuron_pass(net: Network, loss: str | Loss, X: ArrayLike, T: ArrayLike) -> NeuronPass:
    """Forward and backward pass with every scalar node's x, y, dE/dy, dE/dx and every edge's dE/dw.

    Parameters
    ----------
    net : Network
        Any network that ``neuron_layout`` can read (MLPs, compiled neuron graphs).
    loss : str or Loss
    X : array-like of shape (B, d)
    T : array-like
        Targets, as for ``loss_and_grad``.

    Returns
    -------
    NeuronPass

    Examples
    --------
    >>> import backprop as bp
    >>> p = neuron_pass(bp.MLP([2, 2, 2]), "ce", np.array([[1.0, 2.0]]), np.array([1]))
    >>> bool(np.allclose(p.dE_dw.sum(axis=0), p.grad[[0, 1, 2, 3, 6, 7, 8, 9]]))
    True
    """
    layout = neuron_layout(net)
    obj = Objective(net, loss, X, T)
    grad = obj.gradient(need_input=True)
    deltas = obj.instance_deltas()
    values, adj = obj.values, list(obj.adjoints)
    last = len(net.ops)
    if obj.seed_node != last:
        # the loss was fused with the output activation: dE/dy of the outputs, for the record
        adj[last] = deltas[last] * obj.scale
    B, n, dt = obj.B, len(layout.units), net.dtype
    x = _collect(values, layout.x_cols, B, n, dt)
    y = _collect(values, layout.y_cols, B, n, dt)
    dy = _collect(adj, layout.y_cols, B, n, dt)
    dx = _collect(adj, layout.x_cols, B, n, dt)
    ddy = _collect(deltas, layout.y_cols, B, n, dt)
    ddx = _collect(deltas, layout.x_cols, B, n, dt)
    return NeuronPass(layout, x, y, dy, dx, obj.value(), grad, obj.loss, obj.D, dEn_dy=ddy, dEn_dx=ddx)
