"""Drop-in replacements for scikit-learn's neural-network estimators.

Change one import line and keep the script::

    from backprop.sklearn import MLPClassifier, MLPRegressor

Same parameters, defaults, fitted attributes and methods as ``sklearn.neural_network``; see
``backprop.faces.estimators`` for what they add (float32, label smoothing, any backprop activation or
loss, trust-ncg with exact Hessian-vector products, and ``network_``: the trained backprop network).
"""
from .faces.estimators import MLPClassifier, MLPRegressor
from .losses import PoissonDeviance

__all__ = ["MLPClassifier", "MLPRegressor", "PoissonDeviance"]
