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
from ..._optional import require

require("sklearn", extra="sklearn", feature="the scikit-learn estimators (backprop.sklearn)")

from .classifier import MLPClassifier  # noqa: E402  (after the check that scikit-learn is installed)
from .regressor import MLPRegressor  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor"]
