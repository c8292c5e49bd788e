"""What MLPClassifier and MLPRegressor share: parameters, network, solvers, fitted attributes."""
from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Sequence, TypeVar, Union, overload

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from ... import dispatch
from ...engine.network import MLP, NORMALIZATIONS
from ...errors import ConfigError, DivergenceError
from ...ops.activations import ScalarActivation
from ...ops.softmax import Softmax
from ...second_order.minimize import AtPoint
from ...training.optimizers import SGD, Adam
from ...ops.dropout import Dropout
from ._common import refuse_non_real, refuse_summed_loss
from ._params import Interval, Options, StrOptions, check_sample_weight, validate_params
from ._common import _ACTIVATION_NAMES, _Epochs, _FLOAT_DTYPES, _STOCHASTIC_SOLVERS, _activation, _activation_spec, _glorot_init, _mean_divergence, _pickle_param, _sklearn_name, _unpickle_param, batch_objective, chain_forward, chain_layers, fit_plan
from ._common import Activation, Matrix

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from scipy.optimize import OptimizeResult

    from ...engine.network import Network
    from ...engine.objective import Objective
    from ...losses import Loss
    from ...training.optimizers import Optimizer

#: an activation as the estimators take it: a name, a ScalarActivation or its config dict
ActivationSpec = Union[str, ScalarActivation, dict[str, Any]]
#: a held-out validation set: inputs, targets in the loss's format, labels, sample weights
Validation = tuple[Matrix, "NDArray[Any]", "NDArray[Any]", "NDArray[Any] | None"]

M = TypeVar("M", bound="_BaseMLP")


class _BaseMLP(BaseEstimator):  # type: ignore[misc]  # (scikit-learn has no type information: BaseEstimator is Any)
    """Everything MLPClassifier and MLPRegressor share: parameters, network, solvers, fitted attributes."""

    # the constructor parameters (each estimator's __init__ stores them)
    hidden_layer_sizes: int | Sequence[int]
    activation: ActivationSpec | Sequence[ActivationSpec]
    solver: str
    alpha: float
    batch_size: int | str
    learning_rate: str
    learning_rate_init: float
    power_t: float
    max_iter: int
    shuffle: bool
    random_state: int | np.random.RandomState | None
    tol: float
    verbose: bool | int
    warm_start: bool
    momentum: float
    nesterovs_momentum: bool
    early_stopping: bool
    validation_fraction: float
    beta_1: float
    beta_2: float
    epsilon: float
    n_iter_no_change: float
    max_fun: int
    loss: str | Loss
    output_activation: ActivationSpec | None
    dtype: str | type | np.dtype[Any] | None
    dropout: float
    normalization: str | None

    # the fitted attributes (``coefs_`` and ``intercepts_`` are properties over ``network_``)
    network_: MLP
    n_iter_: int
    t_: int
    n_outputs_: int
    n_layers_: int
    out_activation_: str
    loss_: float
    loss_curve_: list[float]
    best_loss_: float | None
    validation_scores_: list[float] | None
    validation_loss_curve_: list[float] | None
    best_validation_score_: float | None
    _best_params: NDArray[Any]
    _best_buffers: list[dict[str, NDArray[Any]] | None]
    _no_improvement_count: int
    _optimizer: Optimizer | None

    if TYPE_CHECKING:     # what MLPClassifier and MLPRegressor each define
        def _is_classifier(self) -> bool: ...

        def _validate_input(self, X: Matrix, y: ArrayLike, incremental: bool,
                            reset: bool) -> tuple[Matrix, NDArray[Any]]: ...

        def _output_and_loss(self, n_outputs: int) -> tuple[Activation, Loss]: ...

        def _targets(self, Y: NDArray[Any], loss: Loss, output: Activation, dtype: type) -> NDArray[Any]: ...

        def _labels_from_targets(self, Y: NDArray[Any]) -> NDArray[Any]: ...

        def _validation_score(self, net: Network, X: Matrix, y: NDArray[Any], sw: NDArray[Any] | None) -> float: ...

    _parameter_constraints: dict[str, list[object]] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(_ACTIVATION_NAMES), ScalarActivation, dict, list, tuple],
        "solver": [StrOptions({"lbfgs", "sgd", "adam", "trust-ncg"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "output_activation": [None, StrOptions(_ACTIVATION_NAMES | {"softmax", "exp"}), ScalarActivation, dict],
        "dtype": [None, StrOptions({"float32", "float64"}), type, np.dtype],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "normalization": [None, StrOptions(set(NORMALIZATIONS))],
    }

    def _validate_params(self) -> None:
        validate_params(self._parameter_constraints, self.get_params(deep=False), type(self).__name__)

    # ---- parameters -----------------------------------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        given = self.hidden_layer_sizes
        sizes = list(given) if hasattr(given, "__iter__") else [given]
        for h in sizes:
            if not isinstance(h, (Integral, np.integer)) or isinstance(h, bool) or h <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(h) for h in sizes]

    def _hidden_activations(self, n_hidden: int) -> list[Activation]:
        spec = self.activation
        if isinstance(spec, (list, tuple)):
            if len(spec) != n_hidden:
                raise ValueError(f"activation lists {len(spec)} activations for {n_hidden} hidden layers; "
                                 "give one per hidden layer or a single one for all")
            return [_activation(a, "activation") for a in spec]
        act = _activation(spec, "activation")
        if act == "softmax":
            raise ValueError("softmax is an output activation; choose another hidden activation")
        return [act] * n_hidden

    def _dtype_for(self, X: Matrix) -> type[np.floating[Any]]:
        if self.dtype is None:
            return X.dtype.type if X.dtype.type in _FLOAT_DTYPES else np.float64
        dt = np.dtype(self.dtype)
        if dt.type not in _FLOAT_DTYPES:
            raise ValueError(f"dtype must be float32, float64 or None; got {self.dtype!r}")
        return dt.type

    def _is_logistic(self, act: Activation) -> bool:
        return not isinstance(act, str) and act.name == "sigmoid"

    # ---- network and fitted attributes ----------------------------------------------------------
    def _network(self) -> MLP:
        net = self.__dict__.get("network_")
        if net is None:
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet; call 'fit' first.")
        return net

    @property
    def coefs_(self) -> list[NDArray[Any]]:
        """Weight matrices, one per layer, of shape (fan_in, fan_out) as in scikit-learn.

        They are views (``W.T``) into ``network_.params``: writing into them changes the network, and
        they follow it. Assigning a list of arrays copies them into the network.

        Examples
        --------
        >>> from backprop.sklearn import MLPRegressor
        >>> reg = MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs", random_state=0).fit(np.eye(2), [0.0, 1.0])
        >>> [W.shape for W in reg.coefs_]
        [(2, 3), (3, 1)]
        >>> reg.coefs_[1][...] = 0.0                   # through the view: the network now outputs its last bias
        >>> bool(np.allclose(reg.predict(np.eye(2)), reg.intercepts_[1]))
        True
        """
        net = self._network()
        return [net.views(jd)[0].T for jd, _ in chain_layers(net)]

    @coefs_.setter
    def coefs_(self, value: Iterable[ArrayLike]) -> None:
        net = self._network()
        views = [net.views(jd)[0] for jd, _ in chain_layers(net)]
        value = list(value)
        shapes = [W.T.shape for W in views]
        if len(value) != len(views) or any(np.shape(c) != s for c, s in zip(value, shapes)):
            raise ValueError(f"coefs_ must be {len(views)} arrays of shapes {shapes}")
        for W, c in zip(views, value):
            W[...] = np.asarray(c).T

    @property
    def intercepts_(self) -> list[NDArray[Any]]:
        """Bias vectors, one per layer, of shape (fan_out,): views into ``network_.params``.

        Examples
        --------
        >>> from backprop.sklearn import MLPRegressor
        >>> reg = MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs", random_state=0).fit(np.eye(2), [0.0, 1.0])
        >>> [b.shape for b in reg.intercepts_]
        [(3,), (1,)]
        >>> reg.intercepts_ = [np.zeros(3), np.ones(1)]      # copied into the network
        >>> reg.network_.params[-1]
        np.float64(1.0)
        """
        net = self._network()
        return [net.views(jd)[1] for jd, _ in chain_layers(net)]

    @intercepts_.setter
    def intercepts_(self, value: Iterable[ArrayLike]) -> None:
        net = self._network()
        views = [net.views(jd)[1] for jd, _ in chain_layers(net)]
        value = list(value)
        shapes = [b.shape for b in views]
        if len(value) != len(views) or any(np.shape(c) != s for c, s in zip(value, shapes)):
            raise ValueError(f"intercepts_ must be {len(views)} arrays of shapes {shapes}")
        for b, c in zip(views, value):
            b[...] = c

    def __sklearn_is_fitted__(self) -> bool:
        return "network_" in self.__dict__

    def _new_network(self, sizes: list[int], hidden: list[Activation], output: Activation, dtype: type,
                     rs: np.random.RandomState) -> MLP:
        # scikit-learn's factor depends on the hidden activation; the output layer takes the last hidden one's
        logistic = [self._is_logistic(a) for a in hidden]
        if hidden:
            logistic.append(logistic[-1])
        else:
            spec = self.activation
            logistic.append(not isinstance(spec, (list, tuple)) and self._is_logistic(_activation(spec, "activation")))
        params = _glorot_init(sizes, logistic, rs, dtype)
        p = float(self.dropout)
        # the dropout masks draw from a seed of the random state (drawn only when there is dropout, so that
        # without it the random state gives the same initialisation and batches as scikit-learn's)
        seed = int(rs.randint(2 ** 31)) if p else 0
        plain = MLP(sizes, hidden=hidden, output=output, dtype=dtype, params=params, seed=seed, dropout=p)
        if self.normalization is None:
            return plain
        # the dense layers as scikit-learn initialises them; the norms' weights ones and biases zeros
        net = MLP(sizes, hidden=hidden, output=output, dtype=dtype, normalization=self.normalization, seed=seed,
                  dropout=p)
        for (j, _), (k, _) in zip(chain_layers(net), chain_layers(plain)):
            for mine, theirs in zip(net.views(j), plain.views(k)):
                mine[...] = theirs
        return net

    # ---- fit -------------------------------------------------------------------------------------
    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _fit(self: M, X: Matrix, y: ArrayLike, sample_weight: ArrayLike | None = None, incremental: bool = False) -> M:
        """Fit, or on failure leave the estimator exactly as it was (no partial state change)."""
        self._validate_params()
        saved = dict(self.__dict__)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                self._fit_unguarded(X, y, sample_weight, incremental)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        return self

    def _fit_unguarded(self, X: Matrix, y: ArrayLike, sample_weight: ArrayLike | None, incremental: bool) -> None:
        if float(self.dropout) and self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError(f"dropout={self.dropout} needs a stochastic solver ('sgd' or 'adam'), which draws a "
                             f"fresh mask per update; solver={self.solver!r} minimises one fixed function")
        if (on_dask := dispatch.on_dask("estimator_fit", X, y)) is not None:    # blocks of a Dask array
            on_dask(self, X, y, sample_weight, incremental)
            return
        hidden_sizes = self._hidden_sizes()
        hidden = self._hidden_activations(len(hidden_sizes))
        first_pass = "network_" not in self.__dict__ or (not self.warm_start and not incremental)
        refuse_non_real(X, "X")
        if not self._is_classifier():                   # class labels may be strings; regression targets not
            refuse_non_real(y, "y")
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = self._dtype_for(X) if first_pass else self.network_.dtype.type
        X = X.astype(dtype, copy=False)
        sw = None
        if sample_weight is not None:
            sw = check_sample_weight(sample_weight, X.shape[0])
        output, loss = self._output_and_loss(Y.shape[1])
        refuse_summed_loss(loss)
        if self.normalization == "batch" and self.solver not in _STOCHASTIC_SOLVERS:
            raise ConfigError(f"normalization='batch' needs a stochastic solver ('sgd' or 'adam'): its running "
                             f"statistics follow the mini-batches; solver={self.solver!r} takes the whole training "
                             "set at once (use normalization='layer' or None with it)")
        if output == "softmax" and Y.shape[1] < 2:
            raise ValueError("a softmax over a single output is the constant 1; choose another output_activation")
        D = self._targets(Y, loss, output, dtype)
        sizes = [X.shape[1]] + hidden_sizes + [Y.shape[1]]
        rs = check_random_state(self.random_state)

        if first_pass:
            net = self._new_network(sizes, hidden, output, dtype, rs)
            self._initialize(net, output)
        else:
            net = self.network_
            if sum(isinstance(op, Dropout) for op in net.ops) != (len(sizes) - 2 if float(self.dropout) else 0):
                raise ValueError("the fitted network was built with another dropout setting; refit with "
                                 "warm_start=False to change it")
            if net.sizes != sizes or net.normalization != self.normalization:
                raise ValueError(f"the fitted network has layer sizes {net.sizes} and normalization "
                                 f"{net.normalization!r} but this call needs {sizes} and {self.normalization!r}; "
                                 "refit with warm_start=False to change the architecture or the outputs")
            copied = net.copy()    # train a copy: a failed call leaves the fitted network untouched
            assert isinstance(copied, MLP)                 # (a copy has the type of the original)
            net = copied
        self.network_ = net

        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(net, loss, X, Y, D, sw, rs, incremental)
        else:
            if incremental:
                raise ValueError(f"partial_fit is not available with solver={self.solver!r}")
            self._fit_full_batch(net, loss, X, D, sw)
        if not np.all(np.isfinite(net.params)):
            raise DivergenceError("Solver produced non-finite parameter weights. The input data may contain "
                                  "large values and need to be preprocessed, or learning_rate_init is too large.")

    def _initialize(self, net: MLP, output: Activation) -> None:
        """Fitted attributes of a first fit (scikit-learn's ``_initialize``)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = net.n_outputs
        self.n_layers_ = len(net.sizes)
        self.out_activation_ = _sklearn_name(output)
        self._best_params = net.params.copy()
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.validation_loss_curve_ = None
        if self.early_stopping and self.solver in _STOCHASTIC_SOLVERS:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self._optimizer = None

    def _new_optimizer(self) -> SGD | Adam:
        if self.solver == "sgd":
            mu = float(self.momentum)
            return SGD(lr=self.learning_rate_init, momentum=mu, nesterov=bool(self.nesterovs_momentum and mu > 0))
        return Adam(lr=self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)

    def _batch_size(self, n: int) -> int:
        if isinstance(self.batch_size, str):           # "auto", the one string the constraints allow
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return int(np.clip(self.batch_size, 1, n))

    def _fit_stochastic(self, net: Network, loss: Loss, X: Matrix, Y: NDArray[Any], D: NDArray[Any],
                        sw: NDArray[Any] | None, rs: np.random.RandomState, incremental: bool) -> None:
        """sgd or adam: epochs of mini-batches with scikit-learn's schedules and stopping rules."""
        old = self.__dict__.get("_optimizer")
        if not incremental or old is None:
            opt: Optimizer = self._new_optimizer()
        else:
            opt = copy.deepcopy(old)               # the old one stays as it was if this call fails
        self._optimizer = opt
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        for name in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
            if isinstance(self.__dict__.get(name), list):
                setattr(self, name, list(getattr(self, name)))    # appended to: never the old list
        if self.__dict__.get("loss_curve_") is None:
            self.loss_curve_ = []
        val = None
        if self.early_stopping:
            X, D, sw, val = self._split_validation(X, Y, D, sw, rs)

        batch_size = self._batch_size(X.shape[0])
        if self.normalization == "batch" and X.shape[0] % batch_size == 1:
            raise ConfigError(f"normalization='batch' takes statistics over each mini-batch; {X.shape[0]} training "
                              f"samples in batches of {batch_size} leave a last batch of 1 sample: choose a "
                              "batch_size that leaves 0 or at least 2 samples for the last batch")
        epoch = _Epochs(net, loss, X, D, sw, batch_size, float(self.alpha), self.shuffle, rs)
        self.n_iter_ = 0
        try:
            for _ in range(self.max_iter):
                self.loss_ = epoch.run(opt)
                self.n_iter_ += 1
                if not math.isfinite(self.loss_):
                    raise DivergenceError(f"training diverged: the loss became {self.loss_} in epoch "
                                          f"{self.n_iter_}; lower learning_rate_init or scale the data")
                self.t_ += epoch.n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                if val is not None:
                    self._update_validation(net, loss, *val)
                else:
                    self._update_training_loss()
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    # eta = eta_0 / (t + 1)^power_t, t = samples seen
                    opt.lr = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
                if self._no_improvement_count > self.n_iter_no_change and self._stop_or_slow_down(opt, val):
                    break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                                  "optimization hasn't converged yet.", ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if val is not None:
            net.params[...] = self._best_params     # the parameters of the best validation score
            net.set_buffers(self.__dict__.get("_best_buffers") or ())    # and the running statistics they had

    def _split_validation(self, X: Matrix, Y: NDArray[Any], D: NDArray[Any], sw: NDArray[Any] | None,
                          rs: np.random.RandomState) -> tuple[Matrix, NDArray[Any], NDArray[Any] | None, Validation]:
        """Hold out validation_fraction of the samples as scikit-learn does (stratified unless multi-label)."""
        stratify = Y if self._is_classifier() and Y.shape[1] == 1 else None
        idx_train, idx_val = train_test_split(np.arange(X.shape[0]), random_state=rs,
                                              test_size=self.validation_fraction, stratify=stratify)
        if idx_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        if self.validation_scores_ is None:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        if self.validation_loss_curve_ is None:
            self.validation_loss_curve_ = []
        val = (X[idx_val], D[idx_val], self._labels_from_targets(Y[idx_val]), None if sw is None else sw[idx_val])
        return X[idx_train], D[idx_train], None if sw is None else sw[idx_train], val

    def _stop_or_slow_down(self, opt: Optimizer, val: Validation | None) -> bool:
        """n_iter_no_change epochs without progress: divide an adaptive sgd rate by 5, otherwise stop."""
        what = "Validation score" if val is not None else "Training loss"
        msg = f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
        adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
        if adaptive and opt.lr > 1e-6:
            opt.lr /= 5.0
            self._no_improvement_count = 0
            if self.verbose:
                print(msg + " Setting learning rate to %f" % opt.lr)
            return False
        if self.verbose:
            print(msg + (" Learning rate too small. Stopping." if adaptive else " Stopping."))
        return True

    def _update_training_loss(self) -> None:
        last = self.loss_curve_[-1]
        if self.best_loss_ is None:
            self.best_loss_ = np.inf
        self._no_improvement_count = self._no_improvement_count + 1 if last > self.best_loss_ - self.tol else 0
        if last < self.best_loss_:
            self.best_loss_ = last

    def _update_validation(self, net: Network, loss: Loss, X_val: Matrix, D_val: NDArray[Any], y_val: NDArray[Any],
                           sw_val: NDArray[Any] | None) -> None:
        score = self._validation_score(net, X_val, y_val, sw_val)
        scores, losses, best = self.validation_scores_, self.validation_loss_curve_, self.best_validation_score_
        assert scores is not None and losses is not None and best is not None     # set with the validation split
        scores.append(score)
        losses.append(_mean_divergence(net, loss, X_val, D_val, sw_val))
        if self.verbose:
            print("Validation score: %f" % score)
        self._no_improvement_count = (self._no_improvement_count + 1
                                      if score < best + self.tol else 0)
        if score > best:
            self.best_validation_score_ = score
            self._best_params = net.params.copy()
            self._best_buffers = net.buffers()

    def _fit_full_batch(self, net: Network, loss: Loss, X: Matrix, D: NDArray[Any], sw: NDArray[Any] | None) -> None:
        """L-BFGS-B (scikit-learn's lbfgs) or trust-ncg with exact Hessian-vector products, through scipy."""
        alpha = float(self.alpha)
        params = net.params
        curve: list[float] = []

        def record(intermediate_result: OptimizeResult) -> None:
            curve.append(float(intermediate_result.fun))
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (len(curve), curve[-1]))

        if self.solver == "lbfgs":
            with fit_plan(net, loss, X, X.shape[0]) as plan:
                def fun(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
                    params[...] = x
                    obj = batch_objective(net, loss, X, D, sw, alpha, plan=plan)
                    assert obj is not None         # the weights are not all zero (check_sample_weight)
                    grad = obj.gradient()
                    return obj.value(), grad.astype(np.float64)

                res = scipy.optimize.minimize(fun, params.astype(np.float64), method="L-BFGS-B", jac=True,
                                              callback=record, options={"maxfun": self.max_fun,
                                                                        "maxiter": self.max_iter, "gtol": self.tol})
        else:
            res = self._trust_ncg(net, loss, X, D, sw, alpha, record)
        params[...] = res.x
        self.n_iter_ = min(int(res.nit), self.max_iter)
        self.loss_ = float(res.fun)
        self.loss_curve_ = curve
        self.best_loss_ = min(curve) if curve else self.loss_
        if res.status != 0:
            warnings.warn(f"{self.solver} failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={res.status}): {res.message}. Increase max_iter"
                          + (" or max_fun" if self.solver == "lbfgs" else "")
                          + " to improve the convergence, or scale the data.", ConvergenceWarning)

    def _trust_ncg(self, net: Network, loss: Loss, X: Matrix, D: NDArray[Any], sw: NDArray[Any] | None, alpha: float,
                   record: Callable[[OptimizeResult], None]) -> OptimizeResult:
        for _, ja in chain_layers(net):
            act = getattr(net.ops[ja], "act", None)
            if act is not None and not act.has_d2f:
                raise ValueError(f"solver='trust-ncg' needs second derivatives; activation {act.name!r} has "
                                 "no d2f (pass d2f= to bp.activation, or use another solver)")
        if sp.issparse(X):
            X = X.toarray()
        X = X if dispatch.is_dask(X) else np.ascontiguousarray(X)
        params = net.params
        with fit_plan(net, loss, X, X.shape[0]) as plan:
            def evaluate(x: NDArray[np.float64]) -> tuple[Objective, NDArray[np.float64]]:
                # the point's values stay in the plan's buffers until the next point (hessp reads them)
                params[...] = x
                obj = batch_objective(net, loss, X, D, sw, alpha, plan=plan)
                assert obj is not None             # the weights are not all zero (check_sample_weight)
                return obj, obj.gradient().astype(np.float64)

            at = AtPoint(evaluate)

            def fun(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
                obj, grad = at(x)
                return obj.value(), grad

            def hessp(x: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
                obj, _ = at(x)
                return obj.hvp(p.astype(net.dtype)[None, :])[0].astype(np.float64)

            return scipy.optimize.minimize(fun, params.astype(np.float64), method="trust-ncg", jac=True,
                                           hessp=hessp, callback=record,
                                           options={"maxiter": self.max_iter, "gtol": self.tol})

    # ---- prediction -------------------------------------------------------------------------------
    def _validate_X_predict(self, X: Matrix) -> Matrix:
        refuse_non_real(X, "X")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=_FLOAT_DTYPES, reset=False)
        return X.astype(self.network_.dtype, copy=False)

    @overload
    def _forward(self, X: Matrix, logits: Literal[False] = ...) -> NDArray[Any]: ...

    @overload
    def _forward(self, X: Matrix, logits: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...

    def _forward(self, X: Matrix, logits: bool = False) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]:
        with np.errstate(over="ignore", under="ignore"):
            return chain_forward(self.network_, X, logits=logits)

    # ---- pickling: networks hold lambdas, so they travel as (sizes, activations, dtype, params, normalization,
    # buffers) -----------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        net = state.pop("network_", None)
        if net is not None:
            acts = [_activation_spec(net.ops[ja].act if not isinstance(net.ops[ja], Softmax) else "softmax")
                    for _, ja in chain_layers(net)]
            buffers = net.buffers()
            state["_network_state"] = (list(net.sizes), acts, net.dtype.name, net.params.copy(),
                                       [op.config() for op in net.ops if isinstance(op, Dropout)], net.step,
                                       net.normalization, buffers)
        for key in ("activation", "output_activation"):
            if key in state:
                state[key] = _pickle_param(state[key])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        saved = state.pop("_network_state", None)
        for key in ("activation", "output_activation"):
            if key in state:
                state[key] = _unpickle_param(state[key])
        super().__setstate__(state)
        if saved is not None:
            sizes, acts, dtype, params, dropouts, step, normalization, buffers = tuple(saved)
            acts = [_activation(a, "activation") if not isinstance(a, ScalarActivation) else a for a in acts]
            net = MLP(sizes, hidden=acts[:-1], output=acts[-1], dtype=np.dtype(dtype).type, params=params,
                      dropout=dropouts[0]["p"] if dropouts else 0.0, normalization=normalization)
            for drop, cfg in zip([op for op in net.ops if isinstance(op, Dropout)], dropouts):
                drop.seed = cfg["seed"]
            net.set_buffers(buffers)
            net.step = step
            self.network_ = net

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
