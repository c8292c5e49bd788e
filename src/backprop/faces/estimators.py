"""scikit-learn estimators on backprop networks: ``MLPClassifier`` and ``MLPRegressor``.

They take scikit-learn's constructor parameters with the same names, defaults and meaning, fit the same
objective with the same solvers, and expose the same fitted attributes, so that changing

    from sklearn.neural_network import MLPClassifier
to
    from backprop.sklearn import MLPClassifier

keeps a script working. The objective on a batch of B samples (weights s_n, S = sum_n s_n; s_n = 1 and
S = B without sample weights) is scikit-learn's:

    E = 1/S sum_n s_n Div(y_n, d_n) + alpha / (2 S) sum_k ||W_k||^2

with Div the cross-entropy (softmax output, multi-class), the binary cross-entropy summed over the
outputs (sigmoid output, binary and multi-label), half the squared error summed over the outputs
(identity output, regression) or the half Poisson deviance (exp output). The network is built with the
same initialisation as scikit-learn's (Glorot-uniform weights and biases, drawn in the same order from
the same ``random_state``) and trained in the same mini-batches, so the two follow each other closely.

Extras: ``dtype`` (float32 training), ``label_smoothing``, any backprop activation or loss
(``bp.activation(...)`` included; a list gives one activation per hidden layer), ``output_activation``,
``validation_loss_curve_`` next to ``validation_scores_``, ``solver="trust-ncg"`` with exact
Hessian-vector products, and ``network_``: the trained backprop network, for ``bp.jacobian``,
Hessians and the Laplace approximation.
"""
from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d, gen_batches
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ..engine.network import MLP
from ..engine.objective import Objective
from ..errors import ConfigError, DivergenceError
from ..losses import BinaryCrossEntropy, CrossEntropy, Loss, PoissonDeviance, get_loss
from ..ops.activations import ALIASES, SCALAR_NAMES, ScalarActivation, get_activation
from ..ops.softmax import Softmax, log_softmax
from ..training.optimizers import SGD, Adam

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")
_FLOAT_DTYPES = (np.float64, np.float32)
#: scikit-learn's names of the hidden activations -> backprop's
_SKLEARN_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_ACTIVATION_NAMES = set(_SKLEARN_ACTIVATIONS) | set(SCALAR_NAMES) | set(ALIASES)


# --- activations: names, instances, and a picklable description ---------------------------------------

def _activation(spec, what):
    """A ScalarActivation (or the string "softmax") from a scikit-learn or backprop name, a dict or an instance."""
    if isinstance(spec, str):
        if spec == "softmax":
            return "softmax"
        spec = _SKLEARN_ACTIVATIONS.get(spec, spec)
    try:
        return get_activation(spec)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None


def _activation_spec(act):
    """What rebuilds ``act``: "softmax", "exp", a config dict, or the instance itself (user-defined ones)."""
    if isinstance(act, str) or getattr(act, "user_defined", False):
        return act
    if act.name == "exp":
        return "exp"
    return act.config()


def _sklearn_name(act) -> str:
    """scikit-learn's name of an output activation ('logistic' for the sigmoid)."""
    name = act if isinstance(act, str) else act.name
    return {"sigmoid": "logistic"}.get(name, name)


class _PickledActivation(dict):
    """Stands for a built-in ScalarActivation parameter inside a pickle (its functions are lambdas)."""


def _pickle_param(value):
    if isinstance(value, ScalarActivation) and not getattr(value, "user_defined", False):
        return _PickledActivation(_activation_spec(value) if value.name != "exp" else {"name": "exp"})
    if isinstance(value, list):
        return [_pickle_param(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_pickle_param(v) for v in value)
    return value


def _unpickle_param(value):
    if isinstance(value, _PickledActivation):
        return _activation(value["name"] if value.get("name") == "exp" else dict(value), "activation")
    if isinstance(value, list):
        return [_unpickle_param(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_unpickle_param(v) for v in value)
    return value


def _glorot_init(sizes, logistic, rs, dtype):
    """scikit-learn's initialisation, draw for draw: per layer coef (fan_in, fan_out) then intercept (fan_out),
    both U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for logistic units).

    Returns the flat parameter vector of ``MLP(sizes)``: per layer W = coef^T (out, in) row-major, then b.
    """
    parts = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        r = math.sqrt((2.0 if logistic[k] else 6.0) / (fan_in + fan_out))
        coef = rs.uniform(-r, r, (fan_in, fan_out))
        intercept = rs.uniform(-r, r, fan_out)
        parts += [coef.T.ravel(), intercept]
    return np.concatenate(parts).astype(dtype)


def chain_layers(net):
    """[(dense op index, activation op index)] of the estimator's MLP, layer by layer."""
    return [(j, j + 1) for j, _, _ in net.layers]


def chain_forward(net, X, logits=False):
    """Network output for validated X (dense or scipy sparse); with ``logits=True`` also the last dense output z_L."""
    values, _ = net.forward_values(X)
    return (values[-1], values[-2]) if logits else values[-1]


def batch_objective(net, loss, X, D, sw, alpha):
    """scikit-learn's objective on one batch, from the engine: 1/S sum_n s_n Div_n + alpha/(2 S) ||W||^2,
    S = sum_n s_n (the batch size without sample weights). None when the batch's total weight is zero."""
    S = float(X.shape[0]) if sw is None else float(sw.sum(dtype=np.float64))
    if S <= 0:
        return None
    return Objective(net, loss, X, D, sample_weight=sw, l2=alpha / S, validate=False, full_forward=False)


def _mean_divergence(net, loss, X, D, w):
    """Weighted mean divergence of ``net`` on (X, D), without the penalty: the validation loss."""
    y, z = chain_forward(net, X, logits=True)
    if loss.fuses_with == net.output_activation:
        div = loss.fused().div(z, D)
    else:
        div = loss.div(y, D)
    div = div.astype(np.float64)
    return float(div.mean()) if w is None else float(np.dot(w, div) / w.sum())


class _Epochs:
    """One pass over the training set in scikit-learn's mini-batches, one optimiser step per batch.

    The shuffle draws from the same RandomState as scikit-learn's ``utils.shuffle``, so the batches are
    the same; each batch's loss is taken before its update, and the epoch's loss is their mean weighted by
    batch size (scikit-learn's ``loss_``). Each batch is gathered on its own, so that it stays in cache.
    """

    def __init__(self, net, loss, X, D, sw, batch_size, alpha, shuffle, rs):
        self.net, self.X, self.D, self.sw = net, X, D, sw
        self.n, self.batch_size, self.alpha, self.shuffle, self.rs = X.shape[0], batch_size, alpha, shuffle, rs
        self.loss = loss
        self.order = np.arange(self.n)
        self.dense = not sp.issparse(X)

    def run(self, opt):
        """One epoch; returns the mean batch loss."""
        if self.shuffle:
            perm = np.arange(self.n)
            self.rs.shuffle(perm)
            self.order = self.order[perm]
        X, D, sw, net, params = self.X, self.D, self.sw, self.net, self.net.params
        total = 0.0
        for sl in gen_batches(self.n, self.batch_size):
            rows = self.order[sl] if self.shuffle else sl
            Xb = X.take(rows, axis=0) if self.shuffle and self.dense else X[rows]
            obj = batch_objective(net, self.loss, Xb, D[rows], None if sw is None else sw[rows], self.alpha)
            if obj is None:            # every sample of this batch has weight zero: nothing to learn
                continue
            grad = obj.gradient()      # the whole gradient first, then the update
            total += obj.value() * (sl.stop - sl.start)
            opt.step(params, grad)
        return total / self.n


# --- the shared base ----------------------------------------------------------------------------------

class _BaseMLP(BaseEstimator):
    """Everything MLPClassifier and MLPRegressor share: parameters, network, solvers, fitted attributes."""

    _parameter_constraints: dict = {
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
    }

    # ---- parameters -----------------------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        for h in sizes:
            if not isinstance(h, (Integral, np.integer)) or isinstance(h, bool) or h <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(h) for h in sizes]

    def _hidden_activations(self, n_hidden):
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

    def _dtype_for(self, X):
        if self.dtype is None:
            return X.dtype.type if X.dtype.type in _FLOAT_DTYPES else np.float64
        dt = np.dtype(self.dtype)
        if dt.type not in _FLOAT_DTYPES:
            raise ValueError(f"dtype must be float32, float64 or None; got {self.dtype!r}")
        return dt.type

    def _is_logistic(self, act):
        return not isinstance(act, str) and act.name == "sigmoid"

    # ---- network and fitted attributes ----------------------------------------------------------
    def _network(self):
        net = self.__dict__.get("network_")
        if net is None:
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet; call 'fit' first.")
        return net

    @property
    def coefs_(self):
        """Weight matrices, one per layer, of shape (fan_in, fan_out) as in scikit-learn.

        They are views (``W.T``) into ``network_.params``: writing into them changes the network, and
        they follow it. Assigning a list of arrays copies them into the network.
        """
        net = self._network()
        return [net.views(jd)[0].T for jd, _ in chain_layers(net)]

    @coefs_.setter
    def coefs_(self, value):
        net = self._network()
        views = [net.views(jd)[0] for jd, _ in chain_layers(net)]
        value = list(value)
        shapes = [W.T.shape for W in views]
        if len(value) != len(views) or any(np.shape(c) != s for c, s in zip(value, shapes)):
            raise ValueError(f"coefs_ must be {len(views)} arrays of shapes {shapes}")
        for W, c in zip(views, value):
            W[...] = np.asarray(c).T

    @property
    def intercepts_(self):
        """Bias vectors, one per layer, of shape (fan_out,): views into ``network_.params``."""
        net = self._network()
        return [net.views(jd)[1] for jd, _ in chain_layers(net)]

    @intercepts_.setter
    def intercepts_(self, value):
        net = self._network()
        views = [net.views(jd)[1] for jd, _ in chain_layers(net)]
        value = list(value)
        shapes = [b.shape for b in views]
        if len(value) != len(views) or any(np.shape(c) != s for c, s in zip(value, shapes)):
            raise ValueError(f"intercepts_ must be {len(views)} arrays of shapes {shapes}")
        for b, c in zip(views, value):
            b[...] = c

    def __sklearn_is_fitted__(self):
        return "network_" in self.__dict__

    def _new_network(self, sizes, hidden, output, dtype, rs):
        # scikit-learn's factor depends on the hidden activation; the output layer takes the last hidden one's
        logistic = [self._is_logistic(a) for a in hidden]
        if hidden:
            logistic.append(logistic[-1])
        else:
            spec = self.activation
            logistic.append(not isinstance(spec, (list, tuple)) and self._is_logistic(_activation(spec, "activation")))
        params = _glorot_init(sizes, logistic, rs, dtype)
        return MLP(sizes, hidden=hidden, output=output, dtype=dtype, params=params)

    # ---- fit -------------------------------------------------------------------------------------
    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight=None, incremental=False):
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

    def _fit_unguarded(self, X, y, sample_weight, incremental):
        hidden_sizes = self._hidden_sizes()
        hidden = self._hidden_activations(len(hidden_sizes))
        first_pass = "network_" not in self.__dict__ or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = self._dtype_for(X) if first_pass else self.network_.dtype.type
        X = X.astype(dtype, copy=False)
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        output, loss = self._output_and_loss(Y.shape[1])
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
            if net.sizes != sizes:
                raise ValueError(f"the fitted network has layer sizes {net.sizes} but this call needs {sizes}; "
                                 "refit with warm_start=False to change the architecture or the outputs")
            net = net.copy()       # train a copy: a failed call leaves the fitted network untouched
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

    def _initialize(self, net, output):
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

    def _new_optimizer(self):
        if self.solver == "sgd":
            mu = float(self.momentum)
            return SGD(lr=self.learning_rate_init, momentum=mu, nesterov=bool(self.nesterovs_momentum and mu > 0))
        return Adam(lr=self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return int(np.clip(self.batch_size, 1, n))

    def _fit_stochastic(self, net, loss, X, Y, D, sw, rs, incremental):
        """sgd or adam: epochs of mini-batches with scikit-learn's schedules and stopping rules."""
        if not incremental or self.__dict__.get("_optimizer") is None:
            opt = self._new_optimizer()
        else:
            opt = copy.deepcopy(self._optimizer)   # the old one stays as it was if this call fails
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

        epoch = _Epochs(net, loss, X, D, sw, self._batch_size(X.shape[0]), float(self.alpha), self.shuffle, rs)
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

    def _split_validation(self, X, Y, D, sw, rs):
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

    def _stop_or_slow_down(self, opt, val):
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

    def _update_training_loss(self):
        last = self.loss_curve_[-1]
        if self.best_loss_ is None:
            self.best_loss_ = np.inf
        self._no_improvement_count = self._no_improvement_count + 1 if last > self.best_loss_ - self.tol else 0
        if last < self.best_loss_:
            self.best_loss_ = last

    def _update_validation(self, net, loss, X_val, D_val, y_val, sw_val):
        score = self._validation_score(net, X_val, y_val, sw_val)
        self.validation_scores_.append(score)
        self.validation_loss_curve_.append(_mean_divergence(net, loss, X_val, D_val, sw_val))
        if self.verbose:
            print("Validation score: %f" % score)
        self._no_improvement_count = (self._no_improvement_count + 1
                                      if score < self.best_validation_score_ + self.tol else 0)
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_params = net.params.copy()

    def _fit_full_batch(self, net, loss, X, D, sw):
        """L-BFGS-B (scikit-learn's lbfgs) or trust-ncg with exact Hessian-vector products, through scipy."""
        alpha = float(self.alpha)
        params = net.params
        curve = []

        def record(intermediate_result):
            curve.append(float(intermediate_result.fun))
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (len(curve), curve[-1]))

        if self.solver == "lbfgs":
            def fun(x):
                params[...] = x
                obj = batch_objective(net, loss, X, D, sw, alpha)
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

    def _trust_ncg(self, net, loss, X, D, sw, alpha, record):
        for _, ja in chain_layers(net):
            act = getattr(net.ops[ja], "act", None)
            if act is not None and not act.has_d2f:
                raise ValueError(f"solver='trust-ncg' needs second derivatives; activation {act.name!r} has "
                                 "no d2f (pass d2f= to bp.activation, or use another solver)")
        if sp.issparse(X):
            X = X.toarray()
        X = np.ascontiguousarray(X)
        params = net.params
        cache = {}

        def objective(x):
            if cache.get("x") is None or not np.array_equal(cache["x"], x):
                params[...] = x
                obj = batch_objective(net, loss, X, D, sw, alpha)
                cache.update(x=np.array(x, copy=True), obj=obj, grad=obj.gradient().astype(np.float64))
            return cache["obj"]

        def fun(x):
            obj = objective(x)
            return obj.value(), cache["grad"]

        def hessp(x, p):
            obj = objective(x)
            return obj.hvp(p.astype(net.dtype)[None, :])[0].astype(np.float64)

        return scipy.optimize.minimize(fun, params.astype(np.float64), method="trust-ncg", jac=True,
                                       hessp=hessp, callback=record,
                                       options={"maxiter": self.max_iter, "gtol": self.tol})

    # ---- prediction -------------------------------------------------------------------------------
    def _validate_X_predict(self, X):
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=_FLOAT_DTYPES, reset=False)
        return X.astype(self.network_.dtype, copy=False)

    def _forward(self, X, logits=False):
        with np.errstate(over="ignore", under="ignore"):
            return chain_forward(self.network_, X, logits=logits)

    # ---- pickling: networks hold lambdas, so they travel as (sizes, activations, dtype, params) -------
    def __getstate__(self):
        state = dict(super().__getstate__())
        net = state.pop("network_", None)
        if net is not None:
            acts = [_activation_spec(net.ops[ja].act if not isinstance(net.ops[ja], Softmax) else "softmax")
                    for _, ja in chain_layers(net)]
            state["_network_state"] = (list(net.sizes), acts, net.dtype.name, net.params.copy())
        for key in ("activation", "output_activation"):
            if key in state:
                state[key] = _pickle_param(state[key])
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_network_state", None)
        for key in ("activation", "output_activation"):
            if key in state:
                state[key] = _unpickle_param(state[key])
        super().__setstate__(state)
        if saved is not None:
            sizes, acts, dtype, params = saved
            acts = [_activation(a, "activation") if not isinstance(a, ScalarActivation) else a for a in acts]
            self.network_ = MLP(sizes, hidden=acts[:-1], output=acts[-1], dtype=np.dtype(dtype).type,
                                params=params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


# --- classification -----------------------------------------------------------------------------------

class MLPClassifier(ClassifierMixin, _BaseMLP):
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

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"log_loss", "cross_entropy", "kl", "bce", "binary_kl", "l2", "squared_error"}),
                 Loss],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 loss="log_loss", output_activation=None, label_smoothing=0.0, dtype=None):
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

    def _is_classifier(self):
        return True

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=_FLOAT_DTYPES, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if "classes_" not in self.__dict__ or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        Y = self._label_binarizer.transform(y)
        return X, np.asarray(Y)

    def _output_and_loss(self, n_outputs):
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
        if isinstance(loss, CrossEntropy) and n_outputs == 1:
            raise ValueError(f"loss={self.loss!r} needs a softmax over 2 or more classes; a binary problem has one "
                             "sigmoid output: use loss='log_loss' or 'bce'")
        return output, loss

    def _targets(self, Y, loss, output, dtype):
        D = Y.astype(dtype)
        eps = float(self.label_smoothing)
        if eps:
            K = D.shape[1] if output == "softmax" else 2
            if eps * K >= 1:
                raise ValueError(f"label_smoothing={eps} is too large for {K} classes; it must be < 1/{K}")
            D = D * (1 - K * eps) + eps
        return loss.prepare(D, D.shape[0], D.shape[1], dtype)

    def _labels_from_targets(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _validation_score(self, net, X, y, sw):
        y_pred = self._predict_from_output(chain_forward(net, X))
        return accuracy_score(y, y_pred, sample_weight=sw)

    def _predict_from_output(self, y_out):
        if self.n_outputs_ == 1:
            y_out = y_out.ravel()
        return self._label_binarizer.inverse_transform(y_out)

    def fit(self, X, y, sample_weight=None):
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
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
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
        """
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

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self._predict_from_output(self._forward(self._validate_X_predict(X)))

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
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

    def _has_logits(self):
        out = self.output_activation
        if out is not None and _sklearn_name(_activation(out, "output_activation")) not in ("softmax", "logistic"):
            raise AttributeError("decision_function needs a softmax or sigmoid output: it returns their logits")
        return True

    @available_if(lambda est: est._has_logits())
    def decision_function(self, X):
        """Logits z_L of the output layer: softmax(z) or sigmoid(z) is ``predict_proba``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) for binary problems, else (n_samples, n_outputs)
        """
        check_is_fitted(self)
        z = self._forward(self._validate_X_predict(X), logits=True)[1]
        return z.ravel() if self.n_outputs_ == 1 else z

    def predict_log_proba(self, X):
        """Log of ``predict_proba``, computed from the logits (finite where the probability underflows).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
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
                return np.column_stack([-np.logaddexp(0, z), -np.logaddexp(0, -z)])
            return -np.logaddexp(0, -z)
        p = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# --- regression ---------------------------------------------------------------------------------------

class MLPRegressor(RegressorMixin, _BaseMLP):
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

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", "l2", "bce", "binary_kl"}), Loss],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, output_activation=None, dtype=None):
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

    def _is_classifier(self):
        return False

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                             dtype=_FLOAT_DTYPES, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, Y

    def _output_and_loss(self, n_outputs):
        name = self.loss if isinstance(self.loss, str) else None
        if isinstance(self.loss, Loss):
            if self.loss.l2:
                raise ValueError("give the L2 strength as alpha, not as the loss's l2")
            loss = self.loss
        elif name == "poisson":
            loss = PoissonDeviance()
        else:
            loss = get_loss({"squared_error": "l2"}.get(name, name))
        if self.output_activation is not None:
            output = _activation(self.output_activation, "output_activation")
        elif isinstance(loss, PoissonDeviance):
            output = get_activation("exp")
        elif isinstance(loss, BinaryCrossEntropy):
            output = _activation("sigmoid", "output")
        else:
            output = _activation("identity", "output")
        return output, loss

    def _targets(self, Y, loss, output, dtype):
        return loss.prepare(Y, Y.shape[0], Y.shape[1], dtype)

    def _labels_from_targets(self, Y):
        return Y

    def _validation_score(self, net, X, y, sw):
        y_pred = chain_forward(net, X)
        if not np.all(np.isfinite(y_pred)):
            return np.nan
        return r2_score(y, y_pred, sample_weight=sw)

    def fit(self, X, y, sample_weight=None):
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
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of sgd or adam over (X, y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MLPRegressor
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        y = self._forward(self._validate_X_predict(X))
        return y.ravel() if y.shape[1] == 1 else y
