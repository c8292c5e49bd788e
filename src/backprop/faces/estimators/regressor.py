"""MLPRegressor: scikit-learn's multilayer-perceptron regressor on backprop's engine."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, TypeVar

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils.validation import check_is_fitted, validate_data

from ...losses import Loss, get_loss, loss_names
from ._params import StrOptions
from ._common import _FLOAT_DTYPES, _activation, available_if, chain_forward
from ._base import ActivationSpec, _BaseMLP
from ._common import Activation, Matrix

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from ...engine.network import Network

#: the kinds of loss a regressor fits: real values, counts, and values in [0, 1] (bce)
REGRESSOR_TASKS = ("regression", "counts", "binary")

R = TypeVar("R", bound="MLPRegressor")


class MLPRegressor(RegressorMixin, _BaseMLP):  # type: ignore[misc]  # (RegressorMixin is Any: scikit-learn is untyped)
    """Multi-layer perceptron regressor trained by backpropagation: scikit-learn's MLPRegressor on backprop.

    Parameters are those of ``sklearn.neural_network.MLPRegressor`` with its defaults (see
    :class:`MLPClassifier` for their meaning), plus ``output_activation`` and ``dtype``.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, backprop loss name or Loss, default='squared_error'
        'squared_error' is half the squared error summed over the outputs (identity output); 'poisson' is
        half the Poisson deviance with an exp output (targets >= 0).
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init, power_t, \
max_iter, shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping, \
validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        As in scikit-learn; see :class:`MLPClassifier`.
    output_activation : str, ScalarActivation or None, default=None
        None: identity ('exp' for the Poisson loss).
    dtype : {None, 'float32', 'float64'}, default=None
    dropout : float in [0, 1), default=0.0
        With p > 0, inverted dropout of probability p after each hidden activation while training (a
        stochastic solver, sgd or adam, is needed); prediction runs in evaluation mode, without it.
    normalization : {None, 'batch', 'layer'}, default=None
        A normalisation layer after each hidden layer's weights, before its activation: 'batch' (batch
        statistics while training, running ones at prediction; needs a stochastic solver) or 'layer'.

    Attributes
    ----------
    loss_, best_loss_, loss_curve_, validation_scores_ (R^2), validation_loss_curve_, best_validation_score_,
    t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_, n_outputs_,
    out_activation_, network_
        As for :class:`MLPClassifier`. For several outputs, ``loss_`` sums the squared errors over the outputs
        (the objective whose gradient is followed); scikit-learn reports the mean over the outputs instead.

    Examples
    --------
    >>> from backprop.sklearn import MLPRegressor
    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(20,), activation="tanh", solver="lbfgs", random_state=0)
    >>> reg = reg.fit(X, X.ravel() ** 2)
    >>> reg.score(X, X.ravel() ** 2) > 0.95
    True
    """

    _parameter_constraints: dict[str, list[object]] = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions(set(loss_names(REGRESSOR_TASKS))), Loss],
    }

    def __init__(self, loss: str | Loss = "squared_error", hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: ActivationSpec | Sequence[ActivationSpec] = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: int | np.random.RandomState | None = None, tol: float = 1e-4,
                 verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: float = 10,
                 max_fun: int = 15000, output_activation: ActivationSpec | None = None,
                 dtype: str | type | np.dtype[Any] | None = None, dropout: float = 0.0,
                 normalization: str | None = None) -> None:
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.output_activation = output_activation
        self.dtype = dtype
        self.dropout = dropout
        self.normalization = normalization

    def _is_classifier(self) -> bool:
        return False

    def _validate_input(self, X: Matrix, y: ArrayLike, incremental: bool, reset: bool) -> tuple[Matrix, NDArray[Any]]:
        X, targets = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                                   dtype=_FLOAT_DTYPES, reset=reset)
        if targets.ndim == 2 and targets.shape[1] == 1:
            targets = column_or_1d(targets, warn=True)
        Y = targets.reshape(-1, 1) if targets.ndim == 1 else targets
        return X, Y

    def _output_and_loss(self, n_outputs: int) -> tuple[Activation, Loss]:
        if isinstance(self.loss, Loss):
            if self.loss.l2:
                raise ValueError("give the L2 strength as alpha, not as the loss's l2")
            loss = self.loss
        else:
            loss = get_loss(self.loss)            # a name: the constraints allow a str or a Loss
        if self.output_activation is not None:
            output = _activation(self.output_activation, "output_activation")
        else:                                    # the output the loss declares: identity, exp for poisson, ...
            output = _activation(loss.output, "output")
        return output, loss

    def _targets(self, Y: NDArray[Any], loss: Loss, output: Activation, dtype: type) -> NDArray[Any]:
        return loss.prepare(Y, Y.shape[0], Y.shape[1], dtype)

    def _labels_from_targets(self, Y: NDArray[Any]) -> NDArray[Any]:
        return Y

    def _validation_score(self, net: Network, X: Matrix, y: NDArray[Any], sw: NDArray[Any] | None) -> float:
        y_pred = chain_forward(net, X)
        if not np.all(np.isfinite(y_pred)):
            return np.nan
        return r2_score(y, y_pred, sample_weight=sw)

    def fit(self: R, X: Matrix, y: ArrayLike, sample_weight: ArrayLike | None = None) -> R:
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of k counts like k copies of the sample in the objective.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPRegressor
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> y = X[:, 0] - X[:, 1]
        >>> reg = MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", solver="lbfgs", random_state=0).fit(X, y)
        >>> bool(np.abs(reg.predict(X) - y).max() < 0.1), reg.n_iter_ < 200
        (True, True)
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self: R, X: Matrix, y: ArrayLike, sample_weight: ArrayLike | None = None) -> R:
        """One epoch of sgd or adam over (X, y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MLPRegressor
            The estimator, one epoch further.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPRegressor
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> y = X[:, 0] - X[:, 1]
        >>> reg = MLPRegressor(hidden_layer_sizes=(3,), random_state=0).partial_fit(X, y).partial_fit(X, y)
        >>> reg.n_iter_, reg.t_, len(reg.loss_curve_)
        (1, 8, 2)
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X: Matrix) -> NDArray[Any]:
        """Predict targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One column per output; a vector for one output.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPRegressor
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> y = X[:, 0] - X[:, 1]
        >>> reg = MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", solver="lbfgs", random_state=0).fit(X, y)
        >>> reg.predict(X).shape, reg.predict(X[:1]).shape
        ((4,), (1,))
        """
        check_is_fitted(self)
        y = self._forward(self._validate_X_predict(X))
        return y.ravel() if y.shape[1] == 1 else y
