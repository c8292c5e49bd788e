"""The loss and its gradient by backpropagation."""
from __future__ import annotations

from .. import dispatch
from ..engine.objective import Objective


def loss_and_grad(net, loss, X, T):
    """Loss value and its gradient with respect to every parameter, by backpropagation.

    The forward pass computes z_k = y_{k-1} W_k^T + b_k, y_k = f_k(z_k); the backward pass starts
    from delta at the output and applies, layer by layer, dW_k = delta_k^T y_{k-1},
    db_k = sum_n delta_k, dy_{k-1} = delta_k W_k, delta_{k-1} = dy_{k-1} * f'(z_{k-1}).
    The whole gradient is computed before anything is updated.

    Parameters
    ----------
    net : Network
    loss : str or Loss
        ``"l2"``, ``"bce"``, ``"cross_entropy"``, ... or a Loss (which carries the ``l2`` strength).
    X : array-like of shape (B, d)
    T : array-like
        Targets: (B, c), or (B,) integer labels for cross_entropy, or (B,) when c == 1.

    Returns
    -------
    value : float
        Mean divergence over the batch plus lambda/2 ||W||^2.
    grad : ndarray of shape (n_params,)
        dE/dw in the order of ``net.params``.
    """
    if (on_dask := dispatch.on_dask("loss_and_grad", X, T)) is not None:
        return on_dask(net, loss, X, T)
    obj = Objective(net, loss, X, T)
    grad = obj.gradient()
    return obj.value(), grad


def backprop(net, loss, X, T):
    """Run the forward and backward pass and return the Objective, with every node's value
    (``obj.values``) and every node's adjoint dE/d(node) (``obj.adjoints``), for inspection."""
    obj = Objective(net, loss, X, T)
    obj.grad = obj.gradient(need_input=True)
    return obj
