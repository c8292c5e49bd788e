"""The Laplace approximation: a Gaussian posterior over the weights around trained parameters.

The training loss is by default a batch MEAN, E(w) = 1/B sum_n Div_n + lambda/2 ||W||^2, but a
posterior needs the SUM over the data. (A loss with ``reduction="sum"`` is that sum already,
E = sum_n Div_n + lambda/2 ||W||^2: the factor B below becomes 1, and its L2 term a prior of
precision lambda / sigma^2.) Reading Div_n as -log p(t_n | x_n, w) (for the squared error: Gaussian
noise of variance sigma^2 = ``noise_variance``, whose negative log likelihood is Div_n / sigma^2),
the trained loss as the negative log posterior (its L2 term a Gaussian prior of precision
B lambda / sigma^2 on the weights), and adding a Gaussian prior of precision alpha =
``prior_precision`` on every weight and bias, the regularised total loss is

    L(w) = (B / sigma^2) E(w) + (alpha / 2) ||w||^2
         = (1 / sigma^2) [sum_n Div_n + (B lambda / 2) ||W||^2] + (alpha / 2) ||w||^2

and the posterior is approximated by N(w*, A^-1) with the precision

    A = d2L/dw2 = (B / sigma^2) d2E/dw2 + alpha I,

from the exact Hessian or the Gauss-Newton matrix (full, for small networks, or its diagonal).
Predictions linearise the network around w*: f(x, w) ~ f(x, w*) + J(x) (w - w*), so the output
(regression) or the logits (classification) are Gaussian with covariance J(x) A^-1 J(x)^T per sample.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import dispatch
from ..derivatives.gauss_newton import gauss_newton_diagonal, gauss_newton_matrix
from ..derivatives.hessian import hessian_diagonal, hessian_matrix
from ..derivatives.jacobian import batch_slices, param_jacobian
from ..engine.objective import Objective
from ..errors import ConfigError
from ..losses import get_loss, laplace_losses
from ..ops.activations import expit as sigmoid
from ..ops.softmax import softmax
from ..validation import MAX_MATRIX_BYTES, check_matrix_size, check_X

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..losses import Loss


def _positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number; got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be a positive finite number; got {value!r}")
    return v


def _curvature(net: Network, loss: str | Loss | dict[str, Any], X: ArrayLike, T: ArrayLike, hessian: str,
               structure: str) -> tuple[Any, int, int]:
    """d2E/dw2 of the data (exact or Gauss-Newton, full or its diagonal), the number of samples, the loss's node."""
    if (on_dask := dispatch.on_dask("laplace_curvature", X, T)) is not None:
        return on_dask(net, loss, X, T, hessian, structure)
    obj = Objective(net, loss, X, T)
    if structure == "full":
        curv = hessian_matrix(obj) if hessian == "exact" else gauss_newton_matrix(obj)
    else:
        curv = hessian_diagonal(obj) if hessian == "exact" else gauss_newton_diagonal(obj)
    return curv, obj.B, obj.seed_node


class Laplace:
    """Laplace approximation of the posterior over all weights and biases of a trained network.

    Parameters
    ----------
    net : Network
        Trained network (its current parameters are the mode w*); a copy is kept, so training it
        further does not change this approximation.
    loss : str or Loss
        ``"l2"`` (regression), ``"cross_entropy"`` with a softmax output or ``"bce"`` with a sigmoid
        output (classification). The loss's own ``l2`` strength lambda is part of E (a prior of
        precision B lambda / sigma^2 on the weights).
    X : array-like of shape (B, d)
        Training inputs.
    T : array-like
        Training targets.
    prior_precision : float
        alpha > 0, precision of the Gaussian prior on every weight and bias.
    hessian : {"exact", "gauss_newton"}
        Curvature of the data term: the exact Hessian (may be indefinite away from a minimum) or
        the Gauss-Newton matrix (positive semi-definite).
    structure : {"full", "diag"}
        Full W x W precision (small networks) or its diagonal only (large networks).
    noise_variance : float
        sigma^2 of the Gaussian noise of a regression target (the squared error is its negative log
        likelihood up to the factor 1/sigma^2); ignored for classification.
    max_bytes : int or None
        ``structure="full"`` refuses (MemoryLimitError, before any work) when its four W x W float64
        arrays would exceed this many bytes; default 2 GiB (``backprop.validation.MAX_MATRIX_BYTES``),
        None for no limit.

    Attributes
    ----------
    precision_ : ndarray (W, W) or (W,)
        A = (B / sigma^2) d2E/dw2 + alpha I, the Hessian of the summed, regularised loss (E is the
        batch-mean training loss with its L2 term; see the module notes on the mean-vs-sum scaling).
    covariance_ : ndarray (W, W) or (W,)
        A^-1 (the diagonal of A inverted, for ``structure="diag"``).
    mode_ : ndarray (W,)
        w*.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> X = np.linspace(-1, 1, 30)[:, None]
    >>> net = bp.MLP([1, 8, 1], hidden="tanh", output="identity", seed=0)
    >>> _ = bp.minimize(net, "l2", X, np.sin(3 * X), maxiter=50)
    >>> la = bp.Laplace(net, "l2", X, np.sin(3 * X), prior_precision=1.0, noise_variance=0.01)
    >>> mean, var = la.predict(np.array([[0.0], [3.0]]), return_var=True)
    >>> bool(var[1, 0] > var[0, 0])
    True
    """

    def __init__(self, net: Network, loss: str | Loss | dict[str, Any], X: ArrayLike, T: ArrayLike,
                 prior_precision: float = 1.0, hessian: str = "exact", structure: str = "full",
                 noise_variance: float | None = 1.0, max_bytes: int = MAX_MATRIX_BYTES) -> None:
        net.check_rows_independent("the Laplace approximation (per-sample Jacobians in its predictive)")
        if hessian not in ("exact", "gauss_newton"):
            raise ConfigError(f"hessian must be 'exact' or 'gauss_newton'; got {hessian!r}")
        if structure not in ("full", "diag"):
            raise ConfigError(f"structure must be 'full' or 'diag'; got {structure!r}")
        alpha = _positive("prior_precision", prior_precision)
        sigma2 = _positive("noise_variance", noise_variance)
        loss = get_loss(loss)
        if loss.laplace == "regression":
            self.task = "regression"
        elif loss.laplace == "classification" and loss.fuses_with == net.output_activation:
            self.task = "classification"
            sigma2 = 1.0
        else:
            raise ConfigError(f"Laplace supports {laplace_losses()}; got {loss.name!r} with output "
                              f"{net.output_activation!r}")
        if structure == "full":
            # A, its Cholesky factor, the covariance and one temporary: four W x W float64 arrays
            check_matrix_size(net.n_params, np.float64, max_bytes, "the full Laplace posterior",
                              "use structure='diag'", copies=4)
        curv, B, node = _curvature(net, loss, X, T, hessian, structure)
        # the data term of the summed loss: (B / sigma^2) E for a mean loss, (1 / sigma^2) E for a summed one
        factor = (B if loss.reduction == "mean" else 1.0) / sigma2
        if structure == "full":
            A = curv.astype(np.float64) * factor
            idx = np.arange(net.n_params)
            A[idx, idx] += alpha
            import scipy.linalg                    # loaded on first use: importing backprop does not load it
            try:
                factor = scipy.linalg.cho_factor(A, lower=True)
            except np.linalg.LinAlgError:
                raise ConfigError(self._indefinite(hessian)) from None
            cov = scipy.linalg.cho_solve(factor, np.eye(net.n_params))
            self.covariance_ = 0.5 * (cov + cov.T)
        else:
            A = curv.astype(np.float64) * factor + alpha
            if not np.all(A > 0):
                raise ConfigError(self._indefinite(hessian))
            self.covariance_ = 1.0 / A
        self.precision_ = A
        self.loss, self.structure, self.hessian = loss, structure, hessian
        self.prior_precision, self.noise_variance = alpha, sigma2
        self.net = net.copy()
        self.mode_ = self.net.params.copy()
        self.n_train = B
        self._node = node

    @staticmethod
    def _indefinite(hessian: str) -> str:
        hint = "use hessian='gauss_newton', " if hessian == "exact" else ""
        return ("the posterior precision is not positive definite (the Hessian has negative curvature at "
                f"these parameters); {hint}train closer to a minimum, or raise prior_precision")

    def function_covariance(self, X: ArrayLike) -> NDArray[Any]:
        """Covariance of the linearised output (regression) or logits (classification) per sample.

        Parameters
        ----------
        X : array-like of shape (B, d)
            The inputs.

        Returns
        -------
        ndarray of shape (B, c, c)
            J(x) A^-1 J(x)^T, with J the Jacobian with respect to the parameters.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> X = np.linspace(-1, 1, 6)[:, None]
        >>> net = bp.MLP([1, 2, 1], hidden="tanh", output="identity", seed=0)
        >>> la = bp.Laplace(net, "l2", X, X ** 2, hessian="gauss_newton", noise_variance=0.01)
        >>> C = la.function_covariance(np.array([[0.0], [2.0]]))
        >>> C.shape, bool(C[1, 0, 0] > C[0, 0, 0])        # less certain away from the data
        ((2, 1, 1), True)
        """
        net = self.net
        X = check_X(X, net.n_inputs, net.dtype)
        c, W = net.widths[self._node], net.n_params
        out = np.empty((X.shape[0], c, c))
        for sl in batch_slices(X.shape[0], 3 * c * W + 2 * c * sum(net.widths)):
            J = param_jacobian(net, X[sl], node=self._node).astype(np.float64)
            if self.structure == "full":
                JS = J @ self.covariance_                      # (n, c, W)
            else:
                JS = J * self.covariance_
            out[sl] = np.einsum("nkw,nlw->nkl", JS, J)
        return out

    def predict(self, X: ArrayLike, return_var: bool = False) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]:
        """Predictive mean (and variance) under the linearised Laplace posterior.

        Regression: the mean is the network output f(x, w*), the variance per output is
        diag(J A^-1 J^T) + sigma^2. Classification: the probit approximation of the predictive class
        probabilities, each logit z_k scaled by 1 / sqrt(1 + pi/8 var_k) before the sigmoid or
        softmax (MacKay 1992); the returned variance is that of the logits.

        Parameters
        ----------
        X : array-like of shape (B, d)
            The inputs.
        return_var : bool, default False
            Also return the variance.

        Returns
        -------
        mean : ndarray of shape (B, c)
            Outputs (regression) or class probabilities (classification).
        var : ndarray of shape (B, c)
            Only with ``return_var``.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> X = np.linspace(-1, 1, 6)[:, None]
        >>> net = bp.MLP([1, 2, 1], hidden="tanh", output="identity", seed=0)
        >>> la = bp.Laplace(net, "l2", X, X ** 2, hessian="gauss_newton", noise_variance=0.01)
        >>> x = np.array([[0.0]])
        >>> mean, var = la.predict(x, return_var=True)
        >>> bool(np.allclose(mean, net.predict(x))), bool(np.allclose(var, la.function_covariance(x)[:, 0] + 0.01))
        (True, True)
        """
        if (on_dask := dispatch.on_dask("laplace_predict", X)) is not None:
            return on_dask(self, X, return_var)
        net = self.net
        X = check_X(X, net.n_inputs, net.dtype)
        values, _ = net.forward_values(X)
        var = np.diagonal(self.function_covariance(X), axis1=1, axis2=2).copy()
        if self.task == "regression":
            mean = values[-1].astype(np.float64)
            var += self.noise_variance
        else:
            z = values[self._node].astype(np.float64)
            z = z / np.sqrt(1.0 + np.pi / 8.0 * var)
            mean = softmax(z) if net.output_activation == "softmax" else sigmoid(z)
        return (mean, var) if return_var else mean
