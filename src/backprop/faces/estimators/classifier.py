"""MLPClassifier: scikit-learn's multilayer-perceptron classifier on backprop's engine."""
from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any, Sequence, TypeVar

import numpy as np
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from ... import dispatch
from ...losses import BinaryCrossEntropy, CrossEntropy, Loss, get_loss, loss_names, softplus
from ...ops.softmax import log_softmax
from ._params import Interval, StrOptions
from ._common import _FLOAT_DTYPES, _activation, _sklearn_name, available_if, chain_forward
from ._base import ActivationSpec, _BaseMLP
from ._common import Activation, Matrix

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from ...engine.network import Network

#: the kinds of loss a classifier fits: classification losses, and regression ones on the indicator targets
CLASSIFIER_TASKS = ("binary", "multiclass", "regression")

C = TypeVar("C", bound="MLPClassifier")


class MLPClassifier(ClassifierMixin, _BaseMLP):  # type: ignore[misc]  # (ClassifierMixin is Any: scikit-learn is untyped)
    """Multi-layer perceptron classifier trained by backpropagation: scikit-learn's MLPClassifier on backprop.

    The parameters mean what they mean in ``sklearn.neural_network.MLPClassifier`` and have its defaults;
    the output is a softmax over the classes (multi-class) or one sigmoid per output (binary, multi-label),
    trained on the (binary) cross-entropy plus alpha / (2 S) ||W||^2.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Width of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, backprop name, ScalarActivation, dict or list, \
default='relu'
        Hidden activation; also any backprop activation ('sigmoid', 'softplus', 'leaky_relu',
        ``bp.activation(...)``), or a list with one per hidden layer.
    solver : {'lbfgs', 'sgd', 'adam', 'trust-ncg'}, default='adam'
        'trust-ncg' is scipy's Newton-CG trust-region method with exact Hessian-vector products.
    alpha : float, default=0.0001
        L2 strength; the penalty alpha / (2 S) sum ||W||^2 is divided by the batch's total sample weight S.
    batch_size : int or 'auto', default='auto'
        Mini-batch size of sgd and adam; 'auto' is min(200, n_samples).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of sgd: constant, eta = learning_rate_init / (t + 1)^power_t after each epoch (t samples
        seen), or divided by 5 whenever n_iter_no_change epochs bring no improvement larger than tol.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
    max_iter : int, default=200
        Epochs (sgd, adam) or iterations (lbfgs, trust-ncg).
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Initialisation, validation split and shuffling.
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float in [0, 1), default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    beta_1, beta_2 : float, default=0.9, 0.999
    epsilon : float, default=1e-8
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
        Maximum number of loss evaluations of lbfgs.
    loss : 'log_loss', backprop loss name or Loss, default='log_loss'
        'log_loss' is cross-entropy with a softmax output or binary cross-entropy with sigmoid outputs.
    output_activation : str, ScalarActivation or None, default=None
        None picks softmax (multi-class) or sigmoid (binary, multi-label).
    label_smoothing : float, default=0.0
        eps: targets become 1 - (K - 1) eps for the class and eps for the others (K = 2 per sigmoid output).
    dtype : {None, 'float32', 'float64'}, default=None
        Precision of the network; None follows X (float32 stays float32, anything else is float64).
    dropout : float in [0, 1), default=0.0
        With p > 0, inverted dropout of probability p after each hidden activation while training (a
        stochastic solver, sgd or adam, is needed); prediction runs in evaluation mode, without it.
    normalization : {None, 'batch', 'layer'}, default=None
        A normalisation layer after each hidden layer's weights, before its activation: 'batch' (batch
        statistics while training, running ones at prediction; needs a stochastic solver) or 'layer'.

    Attributes
    ----------
    classes_ : ndarray
    loss_ : float
        The objective E at the last epoch (mean over its batches, as scikit-learn reports it).
    best_loss_ : float or None
    loss_curve_ : list of float
    validation_scores_ : list of float or None
        Accuracy on the held-out set after each epoch (early_stopping only).
    validation_loss_curve_ : list of float or None
        Mean divergence on the held-out set after each epoch (early_stopping only; without the penalty).
    best_validation_score_ : float or None
    t_ : int
        Training samples seen.
    coefs_ : list of ndarray (fan_in, fan_out)
        Views of the weights in ``network_.params`` (transposes of backprop's (out, in) matrices).
    intercepts_ : list of ndarray (fan_out,)
        Views of the biases in ``network_.params``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    n_iter_ : int
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    network_ : backprop.MLP
        The trained network, for ``bp.jacobian``, Hessians and everything else backprop does.

    Examples
    --------
    >>> from backprop.sklearn import MLPClassifier
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    label_smoothing: float
    classes_: NDArray[Any]
    _label_binarizer: LabelBinarizer

    _parameter_constraints: dict[str, list[object]] = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"log_loss", *loss_names(CLASSIFIER_TASKS)}), Loss],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: ActivationSpec | Sequence[ActivationSpec] = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: int | np.random.RandomState | None = None, tol: float = 1e-4,
                 verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: float = 10,
                 max_fun: int = 15000, loss: str | Loss = "log_loss", output_activation: ActivationSpec | None = None,
                 label_smoothing: float = 0.0, dtype: str | type | np.dtype[Any] | None = None, dropout: float = 0.0,
                 normalization: str | None = None) -> None:
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
        self.loss = loss
        self.output_activation = output_activation
        self.label_smoothing = label_smoothing
        self.dtype = dtype
        self.dropout = dropout
        self.normalization = normalization

    def _is_classifier(self) -> bool:
        return True

    def _validate_input(self, X: Matrix, y: ArrayLike, incremental: bool, reset: bool) -> tuple[Matrix, NDArray[Any]]:
        X, labels = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                                  dtype=_FLOAT_DTYPES, reset=reset)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = column_or_1d(labels, warn=True)
        check_classification_targets(labels)
        if "classes_" not in self.__dict__ or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(labels)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(labels)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        Y = self._label_binarizer.transform(labels)
        return X, np.asarray(Y)

    def _output_and_loss(self, n_outputs: int) -> tuple[Activation, Loss]:
        multiclass = self._label_binarizer.y_type_ == "multiclass"
        if self.output_activation is not None:
            output = _activation(self.output_activation, "output_activation")
        else:
            output = "softmax" if multiclass else _activation("sigmoid", "output")
        if isinstance(self.loss, Loss):
            if self.loss.l2:
                raise ValueError("give the L2 strength as alpha, not as the loss's l2")
            loss = self.loss
        elif self.loss == "log_loss":
            loss = CrossEntropy() if multiclass and output == "softmax" else BinaryCrossEntropy()
        else:
            loss = get_loss(self.loss)
        if loss.task == "multiclass" and n_outputs == 1:
            raise ValueError(f"loss={self.loss!r} needs a softmax over 2 or more classes; a binary problem has one "
                             "sigmoid output: use loss='log_loss' or 'bce'")
        return output, loss

    def _targets(self, Y: NDArray[Any], loss: Loss, output: Activation, dtype: type) -> NDArray[Any]:
        D: NDArray[Any] = Y.astype(dtype)
        eps = float(self.label_smoothing)
        if eps:
            K = D.shape[1] if output == "softmax" else 2
            if eps * K >= 1:
                raise ValueError(f"label_smoothing={eps} is too large for {K} classes; it must be < 1/{K}")
            D = D * (1 - K * eps) + eps
        return loss.prepare(D, D.shape[0], D.shape[1], dtype)

    def _labels_from_targets(self, Y: NDArray[Any]) -> NDArray[Any]:
        return self._label_binarizer.inverse_transform(Y)

    def _validation_score(self, net: Network, X: Matrix, y: NDArray[Any], sw: NDArray[Any] | None) -> float:
        y_pred = self._predict_from_output(chain_forward(net, X))
        return accuracy_score(y, y_pred, sample_weight=sw)

    def _predict_from_output(self, y_out: NDArray[Any]) -> NDArray[Any]:
        if self.n_outputs_ == 1:
            y_out = y_out.ravel()
        return self._label_binarizer.inverse_transform(y_out)

    def fit(self: C, X: Matrix, y: ArrayLike, sample_weight: ArrayLike | None = None) -> C:
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (a 0/1 indicator matrix for multi-label classification).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of k counts like k copies of the sample in the objective.

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPClassifier
        >>> X, y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 0, 1, 1])
        >>> clf = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", alpha=0.01, random_state=0).fit(X, y)
        >>> clf.predict(X), clf.n_iter_ < 200
        (array([0, 0, 1, 1]), True)
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self: C, X: Matrix, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> C:
        """One epoch of sgd or adam over (X, y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            Every class of every call; required on the first call.

        Returns
        -------
        self : MLPClassifier
            The estimator, one epoch further.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPClassifier
        >>> X, y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 0, 1, 1])
        >>> clf = MLPClassifier(hidden_layer_sizes=(3,), random_state=0).partial_fit(X, y, classes=[0, 1])
        >>> clf = clf.partial_fit(X, y)
        >>> clf.n_iter_, clf.t_, clf.classes_
        (1, 8, array([0, 1]))
        """
        if (on_dask := dispatch.on_dask("estimator_partial_fit", X, y)) is not None:   # streams the blocks
            return on_dask(self, X, y, sample_weight, classes)
        fitted = "classes_" in self.__dict__
        if not fitted and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and fitted and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                             f"was: {self.classes_!r}")
        if classes is not None and not fitted:
            saved = dict(self.__dict__)
            lb = LabelBinarizer()
            lb.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self._label_binarizer, self.classes_ = lb, lb.classes_
            try:
                return self._fit(X, y, sample_weight=sample_weight, incremental=True)
            except BaseException:
                self.__dict__.clear()
                self.__dict__.update(saved)
                raise
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X: Matrix) -> NDArray[Any]:
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            The labels (for multi-label problems, a 0/1 indicator matrix).

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPClassifier
        >>> X, y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 0, 1, 1])
        >>> clf = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", alpha=0.01, random_state=0).fit(X, y)
        >>> clf.predict(X)
        array([0, 0, 1, 1])
        """
        check_is_fitted(self)
        return self._predict_from_output(self._forward(self._validate_X_predict(X)))

    def predict_proba(self, X: Matrix) -> NDArray[Any]:
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Each row sums to 1.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPClassifier
        >>> X, y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 0, 1, 1])
        >>> clf = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", alpha=0.01, random_state=0).fit(X, y)
        >>> P = clf.predict_proba(X)
        >>> P.shape, P.argmax(axis=1), bool(np.allclose(P.sum(axis=1), 1))
        ((4, 2), array([0, 0, 1, 1]), True)
        """
        check_is_fitted(self)
        y, z = self._forward(self._validate_X_predict(X), logits=True)
        if self.n_outputs_ == 1:
            if self.network_.output_activation == "sigmoid":
                z = z.ravel()             # 1 - sigmoid(z) = sigmoid(-z), without cancellation
                return np.column_stack([expit(-z), expit(z)])
            p = y.ravel()
            return np.column_stack([1 - p, p])
        return y

    def _has_logits(self) -> bool:
        out = self.output_activation
        if out is not None and _sklearn_name(_activation(out, "output_activation")) not in ("softmax", "logistic"):
            raise AttributeError("decision_function needs a softmax or sigmoid output: it returns their logits")
        return True

    @available_if(lambda est: est._has_logits())
    def decision_function(self, X: Matrix) -> NDArray[Any]:
        """Logits z_L of the output layer: softmax(z) or sigmoid(z) is ``predict_proba``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) for binary problems, else (n_samples, n_outputs)
            The logits.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPClassifier
        >>> X, y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 0, 1, 1])
        >>> clf = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", alpha=0.01, random_state=0).fit(X, y)
        >>> (clf.decision_function(X) > 0).astype(int)          # one sigmoid output: z > 0 is class 1
        array([0, 0, 1, 1])
        """
        check_is_fitted(self)
        z = self._forward(self._validate_X_predict(X), logits=True)[1]
        return z.ravel() if self.n_outputs_ == 1 else z

    def predict_log_proba(self, X: Matrix) -> NDArray[Any]:
        """Log of ``predict_proba``, computed from the logits (finite where the probability underflows).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            log P, finite where P underflows to 0.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.sklearn import MLPClassifier
        >>> X, y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 0, 1, 1])
        >>> clf = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", alpha=0.01, random_state=0).fit(X, y)
        >>> bool(np.allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X)))
        True
        """
        check_is_fitted(self)
        y, z = self._forward(self._validate_X_predict(X), logits=True)
        out = self.network_.output_activation
        if out == "softmax":
            return log_softmax(z)
        if out == "sigmoid":
            # log sigmoid(z) = -softplus(-z),  log(1 - sigmoid(z)) = -softplus(z)
            if self.n_outputs_ == 1:
                z = z.ravel()
                return np.column_stack([-softplus(z), -softplus(-z)])
            return -softplus(-z)
        p = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(p)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
