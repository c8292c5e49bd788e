"""scikit-learn both ways: its fitted MLPClassifier/MLPRegressor <-> backprop's estimators (and networks).

scikit-learn stores layer k as ``coefs_[k]`` of shape (in, out) and ``intercepts_[k]``; backprop's
dense op holds W = coefs_[k].T (out, in) and b. scikit-learn uses one activation for every hidden
layer, one of identity, logistic, tanh, relu, and an output activation from the same list, softmax or exp
(the Poisson regressor).
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ...engine.network import MLP, Network
from ..._optional import require
from ...errors import ConfigError
from ...ops.activations import ScalarActivation, get_activation
from ...ops.base import Op
from ...ops.dense import Dense
from .chain import chain_ops, op_name

#: backprop activation -> scikit-learn's name, for the activations scikit-learn's MLPs compute
SKLEARN_NAMES = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh", "relu": "relu", "softmax": "softmax",
                 "exp": "exp"}
#: the ones scikit-learn allows in hidden layers
_HIDDEN = ("identity", "sigmoid", "tanh", "relu")
_BACKPROP_NAMES = {v: k for k, v in SKLEARN_NAMES.items()}
#: fitted attributes copied between the two kinds of estimator (besides coefs_ and intercepts_)
_FITTED = ("n_iter_", "t_", "loss_", "loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_",
           "n_features_in_", "feature_names_in_", "n_outputs_", "n_layers_", "out_activation_", "classes_",
           "_label_binarizer")


def _spec(name: str) -> str | ScalarActivation:
    return "softmax" if name == "softmax" else get_activation(name)


def _copy_fitted(src: Any, dst: Any) -> None:
    for key in _FITTED:
        if key in src.__dict__:
            dst.__dict__[key] = copy.deepcopy(src.__dict__[key])


def from_sklearn(est: Any) -> Any:
    """backprop's estimator equivalent to a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``.

    Parameters
    ----------
    est : sklearn.neural_network.MLPClassifier or MLPRegressor, fitted

    Returns
    -------
    backprop.sklearn.MLPClassifier or MLPRegressor
        Fitted, with the same constructor parameters, fitted attributes (``classes_``, ``n_iter_``,
        ``loss_curve_``, ...) and weights (copied; ``network_`` holds them, W = coefs_[k].T), so that
        ``predict`` and ``predict_proba`` agree.

    Examples
    --------
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn.datasets import load_iris
    >>> import backprop as bp
    >>> X, y = load_iris(return_X_y=True)
    >>> sk = MLPClassifier((5,), solver="lbfgs", max_iter=2000, random_state=0).fit(X, y)
    >>> bp.from_sklearn(sk).score(X, y) == sk.score(X, y)
    True
    """
    sk_nn = require("sklearn.neural_network", extra="sklearn", feature="scikit-learn interop")
    SkClassifier, SkRegressor = sk_nn.MLPClassifier, sk_nn.MLPRegressor
    from ..estimators import MLPClassifier, MLPRegressor
    cls: Any
    if isinstance(est, SkClassifier):
        cls = MLPClassifier
    elif isinstance(est, SkRegressor):
        cls = MLPRegressor
    else:
        raise ConfigError(f"from_sklearn takes scikit-learn's MLPClassifier or MLPRegressor; got {type(est).__name__}")
    if "coefs_" not in est.__dict__:
        raise ConfigError(f"the {type(est).__name__} is not fitted; call fit first")
    coefs, intercepts = est.coefs_, est.intercepts_
    dtype = np.asarray(coefs[0]).dtype
    sizes = [int(coefs[0].shape[0])] + [int(c.shape[1]) for c in coefs]
    hidden = [_spec(_BACKPROP_NAMES[est.activation])] * (len(coefs) - 1)
    output = _spec(_BACKPROP_NAMES[est.out_activation_])
    params = np.concatenate([a for c, b in zip(coefs, intercepts) for a in (np.asarray(c).T.ravel(), np.ravel(b))])
    net = MLP(sizes, hidden=hidden, output=output, dtype=dtype, params=params.astype(dtype))
    keep = cls().get_params()
    ours = cls(**{k: v for k, v in est.get_params().items() if k in keep})
    ours.network_ = net
    ours._initialize(net, output)
    _copy_fitted(est, ours)
    ours.validation_loss_curve_ = None
    return ours


def _chain_activations(net: Network) -> tuple[list[Op], str, str]:
    ops = chain_ops(net, "scikit-learn's MLP", SKLEARN_NAMES)
    if not (len(ops) % 2 == 0 and all(isinstance(op, Dense) for op in ops[::2])
            and not any(isinstance(op, Dense) for op in ops[1::2])):
        raise ConfigError("scikit-learn's MLP alternates dense layers and activations, ending with an activation; "
                          f"this network's ops are {[op_name(op) for op in ops]}")
    acts = [op_name(op) for op in ops[1::2]]
    hidden = set(acts[:-1])
    if len(hidden) > 1:
        raise ConfigError(f"scikit-learn's MLP uses one activation for all hidden layers; this network has "
                          f"{acts[:-1]}")
    if hidden - set(_HIDDEN):
        raise ConfigError(f"scikit-learn's MLP has no {hidden.pop()} hidden layer; its hidden activations are "
                          f"{', '.join(_HIDDEN)}")
    return ops, (hidden.pop() if hidden else "relu"), acts[-1]


def to_sklearn(net_or_estimator: Any) -> Any:
    """A fitted scikit-learn estimator that computes the same predictions.

    Parameters
    ----------
    net_or_estimator : backprop MLPClassifier, MLPRegressor (fitted) or Network
        A network must be an MLP whose hidden layers share one activation among identity, sigmoid, tanh,
        relu, with an output activation among those or softmax.

    Returns
    -------
    sklearn.neural_network.MLPClassifier or MLPRegressor
        For a backprop estimator, the same kind with the same parameters and fitted attributes; for a
        bare network an ``MLPRegressor`` whose ``predict`` is ``net.predict`` (raveled for one output).

    Raises
    ------
    ConfigError
        Naming the activation or op scikit-learn cannot compute.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="relu", output="identity")
    >>> sk = bp.to_sklearn(net)
    >>> X = np.array([[0.5, -1.0]])
    >>> bool(np.allclose(sk.predict(X), net.predict(X).ravel()))
    True
    """
    sk_nn = require("sklearn.neural_network", extra="sklearn", feature="scikit-learn interop")
    SkClassifier, SkRegressor = sk_nn.MLPClassifier, sk_nn.MLPRegressor
    from ..estimators import MLPClassifier, MLPRegressor
    est: Any
    net: Network
    cls: Any
    if isinstance(net_or_estimator, (MLPClassifier, MLPRegressor)):
        est = net_or_estimator
        if "network_" not in est.__dict__:
            raise ConfigError(f"the {type(est).__name__} is not fitted; call fit first")
        net = est.network_
        cls = SkClassifier if isinstance(est, MLPClassifier) else SkRegressor
    elif isinstance(net_or_estimator, Network):
        est, net, cls = None, net_or_estimator, SkRegressor
    else:
        raise ConfigError(f"to_sklearn takes a backprop estimator or Network; got {type(net_or_estimator).__name__}")
    ops, hidden, output = _chain_activations(net)
    if est is not None and cls is SkRegressor and est.get_params().get("loss") not in ("squared_error", "poisson"):
        raise ConfigError(f"scikit-learn's MLPRegressor has no loss {est.loss!r}")
    params: dict[str, Any] = {}
    if est is not None:
        keep = cls().get_params()
        params = {k: v for k, v in est.get_params().items() if k in keep and k != "activation"}
    sk = cls(**params, activation=SKLEARN_NAMES[hidden])
    sk.coefs_ = [net.views(j)[0].T.copy() for j, op in enumerate(ops) if isinstance(op, Dense)]
    sk.intercepts_ = [net.views(j)[1].copy() for j, op in enumerate(ops) if isinstance(op, Dense)]
    if est is not None:
        _copy_fitted(est, sk)
        sk.out_activation_ = SKLEARN_NAMES[output]
    else:
        sk.n_iter_, sk.t_, sk.loss_curve_ = 0, 0, []
        sk.n_features_in_, sk.n_outputs_ = net.n_inputs, net.n_outputs
        sk.n_layers_ = len(sk.coefs_) + 1
        sk.out_activation_ = SKLEARN_NAMES[output]
    return sk
