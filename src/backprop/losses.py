"""Divergences between a network's output Y and the target d.

The training loss is the mean over the batch of the per-instance divergence,
plus (lambda / 2) ||W||^2 over the weights (not biases) when ``l2`` > 0:

    Loss = 1/B sum_n Div(Y_n, d_n) + lambda/2 sum_k ||W_k||^2      (reduction="mean", the default)

or, with ``reduction="sum"``, the notes' E = sum_n E_n, E_n = Div(Y_n, d_n):

    Loss = sum_n Div(Y_n, d_n) + lambda/2 sum_k ||W_k||^2          (reduction="sum")

Every derivative (gradient, Hessian, Hessian-vector products, Gauss-Newton) is of this Loss.

Each loss gives, per instance, the divergence, its gradient dDiv/dY and its
Hessian-vector product (d2Div/dY2) R{Y}. When softmax meets cross-entropy or
sigmoid meets binary cross-entropy, the loss is evaluated on the logits z instead
(``fused``): dDiv/dz = y - d directly, stable for any finite z.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, xlogy

from .errors import ConfigError, InputError
from .ops.softmax import log_softmax, log_sum_exp_shifted, softmax
from .validation import as_numeric

REDUCTIONS = ("mean", "sum")


def _as_targets(T, B, c, dtype, what):
    T = as_numeric(T, "targets", f"({B}, {c})" + (f" or ({B},)" if c == 1 else ""))
    if T.ndim == 1 and c == 1:
        T = T.reshape(-1, 1)
    if T.shape != (B, c):
        raise InputError(f"{what} targets must have shape ({B}, {c})"
                         + (f" or ({B},)" if c == 1 else "") + f"; got {T.shape}")
    T = T.astype(dtype, copy=False)
    if not np.all(np.isfinite(T)):
        raise InputError("targets contain NaN or inf; every target must be finite")
    return T


class Loss:
    """Base class. Subclasses define ``div``, ``grad`` and ``hvp`` per instance."""

    name = "loss"
    #: name of the output activation whose logits this loss can take directly
    fuses_with = None

    def __init__(self, l2: float = 0.0, reduction: str = "mean"):
        try:
            l2 = float(l2)
        except (TypeError, ValueError):
            raise ConfigError(f"l2 regularisation strength must be a finite number >= 0; got {l2!r}") from None
        if not np.isfinite(l2) or l2 < 0:
            raise ConfigError(f"l2 regularisation strength must be a finite number >= 0; got {l2}")
        if reduction not in REDUCTIONS:
            raise ConfigError(f"reduction must be 'mean' (1/B sum_n Div_n) or 'sum' (sum_n Div_n); "
                              f"got {reduction!r}")
        self.l2 = l2
        self.reduction = reduction

    def prepare(self, T, B, c, dtype):
        """Validate targets against a batch of B outputs of width c; return them as (B, c) arrays."""
        return _as_targets(T, B, c, dtype, self.name)

    def div(self, y, d):
        """Per-instance divergence, shape (B,)."""
        raise NotImplementedError

    def grad(self, y, d):
        """dDiv/dy per instance, shape (B, c)."""
        raise NotImplementedError

    def hvp(self, y, d, ty):
        """(d2Div/dy2) R{y} per instance for tangents ty of shape (m, B, c)."""
        raise NotImplementedError

    def div_grad(self, y, d):
        """(div, grad) together; losses that share work between the two override this."""
        return self.div(y, d), self.grad(y, d)

    def fused(self):
        """The same loss taking the logits z of the ``fuses_with`` activation, or None."""
        return None

    def fused_head(self):
        """``fused()``, built once per loss and its current options."""
        key = (self.l2, tuple(sorted(self.config().items())))
        cached = getattr(self, "_fused_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self.fused())
            self._fused_cache = cached
        return cached[1]

    def config(self) -> dict:
        cfg = {"name": self.name}
        if self.l2:
            cfg["l2"] = self.l2
        if self.reduction != "mean":
            cfg["reduction"] = self.reduction
        return cfg

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class L2(Loss):
    """Div = 1/2 ||y - d||^2;  dDiv/dy = y - d;  d2Div/dy2 = I."""

    name = "l2"

    def div(self, y, d):
        r = y - d
        return 0.5 * np.einsum("ij,ij->i", r, r)

    def grad(self, y, d):
        return y - d

    def hvp(self, y, d, ty):
        return ty


class BinaryCrossEntropy(Loss):
    """Div = sum_c -d log y - (1 - d) log(1 - y), for outputs y in (0, 1) and targets d in [0, 1].

    With ``kl=True`` the constant d log d + (1-d) log(1-d) is added, giving the KL divergence
    (zero when y = d); the derivatives are the same.
    """

    name = "bce"
    fuses_with = "sigmoid"

    def __init__(self, l2=0.0, kl=False, reduction="mean"):
        super().__init__(l2, reduction)
        self.kl = bool(kl)

    def prepare(self, T, B, c, dtype):
        T = _as_targets(T, B, c, dtype, self.name)
        if np.any((T < 0) | (T > 1)):
            raise InputError("bce targets must lie in [0, 1] (class labels 0/1 or probabilities)")
        return T

    def _entropy(self, d):
        return (xlogy(d, d) + xlogy(1 - d, 1 - d)).sum(axis=1) if self.kl else 0.0

    def div(self, y, d):
        return -(xlogy(d, y) + xlogy(1 - d, 1 - y)).sum(axis=1) + self._entropy(d)

    # dDiv/dy = -d / y + (1 - d) / (1 - y)
    def grad(self, y, d):
        return -d / y + (1 - d) / (1 - y)

    # d2Div/dy2 = d / y^2 + (1 - d) / (1 - y)^2, diagonal
    def hvp(self, y, d, ty):
        return (d / (y * y) + (1 - d) / ((1 - y) * (1 - y))) * ty

    def fused(self):
        return _SigmoidBCE(self)

    def config(self):
        cfg = super().config()
        if self.kl:
            cfg["kl"] = True
        return cfg


class _SigmoidBCE(Loss):
    """BCE evaluated on the logits z of a sigmoid output: Div = softplus(z) - d z;  dDiv/dz = sigmoid(z) - d."""

    def __init__(self, base: BinaryCrossEntropy):
        super().__init__(base.l2, base.reduction)
        self.base, self.name = base, base.name

    def div(self, z, d):
        # softplus(z) - d z = (1 - d) softplus(z) + d softplus(-z): no cancellation, finite for every finite z
        tail = np.log1p(np.exp(-np.abs(z)))
        return ((1 - d) * (np.maximum(z, 0) + tail) + d * (np.maximum(-z, 0) + tail)).sum(axis=1) \
            + self.base._entropy(d)

    def grad(self, z, d):
        return expit(z) - d

    # d2Div/dz2 = sigmoid(z) (1 - sigmoid(z)), diagonal
    def hvp(self, z, d, tz):
        s = expit(z)
        return (s * (1 - s)) * tz


class CrossEntropy(Loss):
    """Div = -sum_i d_i log y_i over c classes (the KL divergence for one-hot d, up to a constant).

    Targets are integer labels (B,) in [0, c) or rows of class probabilities (B, c).
    ``label_smoothing`` = eps sets the target to 1 - (K-1) eps on the class and eps elsewhere.
    With ``kl=True`` the constant sum_i d_i log d_i is added (KL divergence; same derivatives).
    """

    name = "cross_entropy"
    fuses_with = "softmax"

    def __init__(self, l2=0.0, label_smoothing=0.0, kl=False, reduction="mean"):
        super().__init__(l2, reduction)
        eps = float(label_smoothing)
        if not np.isfinite(eps) or eps < 0:
            raise ConfigError(f"label_smoothing must be a finite number >= 0; got {label_smoothing}")
        self.label_smoothing, self.kl = eps, bool(kl)

    def prepare(self, T, B, c, dtype):
        eps = self.label_smoothing
        if c > 1 and eps * (c - 1) >= 1:
            raise ConfigError(f"label_smoothing={eps} is too large for {c} classes; it must be < 1/{c - 1}")
        T = as_numeric(T, "targets", f"({B},) class labels or ({B}, {c})")
        if T.ndim == 1 and c > 1:      # integer class labels
            if T.shape[0] != B:
                raise InputError(f"cross_entropy labels must have shape ({B},) or ({B}, {c}); got {T.shape}")
            if T.dtype.kind == "f":
                if not np.all(np.isfinite(T)) or np.any(T != np.round(T)):
                    raise InputError("cross_entropy class labels must be whole numbers in [0, "
                                     f"{c}); got non-integer or non-finite values")
            if B and (T.min() < 0 or T.max() >= c):
                raise InputError(f"class labels must lie in [0, {c - 1}] for a network with {c} outputs; "
                                 f"got values from {T.min()} to {T.max()}")
            D = np.zeros((B, c), dtype=dtype)
            D[np.arange(B), T.astype(np.intp)] = 1
        else:
            D = _as_targets(T, B, c, dtype, self.name)
            if np.any(D < 0):
                raise InputError("cross_entropy targets must be >= 0 (one-hot rows or class probabilities)")
        if eps:
            D = D * (1 - c * eps) + eps * D.sum(axis=1, keepdims=True)
        return D

    def _entropy(self, d):
        return xlogy(d, d).sum(axis=1) if self.kl else 0.0

    def div(self, y, d):
        return -xlogy(d, y).sum(axis=1) + self._entropy(d)

    # dDiv/dy_i = -d_i / y_i
    def grad(self, y, d):
        return -d / y

    # d2Div/dy_i^2 = d_i / y_i^2, diagonal
    def hvp(self, y, d, ty):
        return (d / (y * y)) * ty

    def fused(self):
        return _SoftmaxCrossEntropy(self)

    def config(self):
        cfg = super().config()
        if self.label_smoothing:
            cfg["label_smoothing"] = self.label_smoothing
        if self.kl:
            cfg["kl"] = True
        return cfg


class _SoftmaxCrossEntropy(Loss):
    """Cross-entropy on the logits z of a softmax output.

    Div = (sum_i d_i) logsumexp(z) - d.z;  dDiv/dz = (sum_i d_i) y - d  (= y - d for target rows summing to 1);
    d2Div/dz2 = (sum_i d_i) (diag(y) - y y^T).
    """

    def __init__(self, base: CrossEntropy):
        super().__init__(base.l2, base.reduction)
        self.base, self.name = base, base.name

    def div(self, z, d):
        return -np.einsum("ij,ij->i", d, log_softmax(z)) + self.base._entropy(d)

    def grad(self, z, d):
        g = softmax(z)
        g *= d.sum(axis=1, keepdims=True)
        g -= d
        return g

    def div_grad(self, z, d):
        # one pass: s = z - max z, e = e^s, lse = log sum e; Div = lse sum(d) - d.s; dDiv/dz = sum(d) e / sum(e) - d
        s = z - z.max(axis=1, keepdims=True)
        e = np.exp(s)
        total = e.sum(axis=1, keepdims=True)
        sd = d.sum(axis=1, keepdims=True)
        div = log_sum_exp_shifted(e, s)[:, 0] * sd[:, 0] - np.einsum("ij,ij->i", d, s) + self.base._entropy(d)
        e *= sd / total
        e -= d
        return div, e

    def hvp(self, z, d, tz):
        y = softmax(z)
        s = d.sum(axis=1, keepdims=True)
        return (s * y) * (tz - np.einsum("bi,mbi->mb", y, tz)[..., None])


class PoissonDeviance(Loss):
    """Half the Poisson deviance for a mean mu > 0 and counts d >= 0.

    Div = sum_c mu - d + d log(d / mu);  dDiv/dmu = 1 - d / mu;  d2Div/dmu2 = d / mu^2 (diagonal).
    With an exp output mu = e^z it is evaluated on z: Div = e^z - d z + d log d - d, dDiv/dz = e^z - d.
    """

    name = "poisson"
    fuses_with = "exp"

    def prepare(self, T, B, c, dtype):
        T = super().prepare(T, B, c, dtype)
        if np.any(T < 0):
            raise InputError("poisson targets must be >= 0 (counts or rates); got negative values")
        return T

    def div(self, y, d):
        return (y - d + xlogy(d, d) - xlogy(d, y)).sum(axis=1)

    def grad(self, y, d):
        return 1 - d / y

    def hvp(self, y, d, ty):
        return (d / (y * y)) * ty

    def fused(self):
        return _ExpPoisson(self)


class _ExpPoisson(Loss):
    """Poisson deviance on the logits z of an exp output: Div = e^z - d z + d log d - d;  dDiv/dz = e^z - d."""

    def __init__(self, base):
        super().__init__(base.l2, base.reduction)
        self.base, self.name = base, base.name

    def div(self, z, d):
        return (np.exp(z) - d * z + xlogy(d, d) - d).sum(axis=1)

    def grad(self, z, d):
        return np.exp(z) - d

    # d2Div/dz2 = e^z, diagonal
    def hvp(self, z, d, tz):
        return np.exp(z) * tz


_LOSSES = {"l2": L2, "bce": BinaryCrossEntropy, "cross_entropy": CrossEntropy, "poisson": PoissonDeviance}
LOSS_ALIASES = {"mse": "l2", "squared_error": "l2", "binary_cross_entropy": "bce", "log_loss": "bce",
                "ce": "cross_entropy", "nll": "cross_entropy"}
LOSS_NAMES = tuple(_LOSSES) + ("kl", "binary_kl")


def get_loss(spec, **options) -> Loss:
    """Return a loss from a name (``"l2"``, ``"bce"``, ``"cross_entropy"``, ``"kl"``, ``"binary_kl"``
    or an alias), a dict from a saved model, or a Loss instance (returned unchanged).

    Parameters
    ----------
    spec : str, dict or Loss
    **options
        ``l2``, ``label_smoothing`` (cross_entropy), ``kl`` (bce, cross_entropy), and for every loss
        ``reduction``: ``"mean"`` (default, E = 1/B sum_n Div_n + lambda/2 ||W||^2) or ``"sum"``
        (the notes' E = sum_n E_n + lambda/2 ||W||^2).

    Returns
    -------
    Loss
    """
    if isinstance(spec, Loss):
        if options:
            raise ConfigError("options can only be given with a loss name, not with a Loss instance")
        return spec
    if isinstance(spec, dict):
        options = {**{k: v for k, v in spec.items() if k != "name"}, **options}
        spec = spec.get("name")
    if not isinstance(spec, str):
        raise ConfigError(f"a loss is a name or a Loss instance; got {spec!r}")
    name = LOSS_ALIASES.get(spec, spec)
    if name == "kl":
        name, options = "cross_entropy", {**options, "kl": True}
    elif name == "binary_kl":
        name, options = "bce", {**options, "kl": True}
    if name not in _LOSSES:
        raise ConfigError(f"unknown loss {spec!r}; expected one of {', '.join(LOSS_NAMES)}")
    try:
        return _LOSSES[name](**options)
    except TypeError as e:
        raise ConfigError(f"bad option for loss {name!r}: {e}") from None
