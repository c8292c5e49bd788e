"""Scalar activation functions y = f(z), each with its first and second derivative.

Derivatives receive both z and y = f(z) so that they can reuse the forward value
(sigmoid' = y (1 - y), tanh' = 1 - y^2) instead of recomputing it.
"""
from __future__ import annotations

import copy
import pickle
from functools import partial
from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..registry import Registry


def expit(z, out=None):
    """1 / (1 + e^-z), exact for every finite z (scipy's expit; scipy.special is loaded on first use)."""
    from scipy.special import expit as f
    return f(z) if out is None else f(z, out=out)


def erf(z):
    """The error function (scipy's erf, loaded on first use)."""
    from scipy.special import erf as f
    return f(z)

Fn = Callable[[np.ndarray], np.ndarray]


class UserFunctions:
    """Copying and pickling of an object that holds a user's functions (a scalar or vector activation).

    Copies share the functions, as ``deepcopy`` does for any function, so lambdas copy without pickling;
    pickling stores each function by reference, so each must be importable.
    """

    kind = "activation"

    def __deepcopy__(self, memo):
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update({k: copy.deepcopy(v, memo) for k, v in self.__dict__.items()})
        return new

    def __copy__(self):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def _functions(self):
        """(role, function or None) of every function the object holds."""
        raise NotImplementedError

    def __getstate__(self):
        for role, fn in self._functions():
            if fn is not None and not _picklable(fn):
                raise ConfigError(f"{self.kind} {self.name!r} cannot be pickled: its {role} ({fn!r}) is not an "
                                  "importable function; define it as a module-level function (def at the top level "
                                  "of a module, not a lambda or a local function) to pickle a network that uses it")
        return self.__dict__.copy()


class ScalarActivation(UserFunctions):
    """An elementwise activation with f, f' and f''.

    Parameters
    ----------
    name : str
        Name used in reports and saved models.
    f : callable
        ``f(z) -> y``, elementwise.
    df : callable
        ``df(z, y) -> f'(z)``, elementwise (``y`` is ``f(z)``, already computed).
    d2f : callable or None
        ``d2f(z, y) -> f''(z)``; needed only for second-order derivatives.
    piecewise_linear : bool
        True when f'' is identically zero (almost everywhere), so second-order
        code can skip the f'' term.
    init : {"glorot", "he"}
        Weight initialisation that suits a layer feeding this activation.
    takes_out : iterable of {"f", "df"}
        The functions that accept a keyword ``out`` (an array like z to write the result into; they
        may return another array). ``f(z, out=buf)`` and ``df(z, y, out=buf)`` pass it on to those
        only, so a plan can reuse its buffers; the others are called as ``f(z)``, ``df(z, y)``.
    """

    #: the functions that accept ``out=`` (none unless declared)
    takes_out = frozenset()

    def __init__(self, name: str, f, df, d2f=None, piecewise_linear=False, init="glorot", params=None,
                 takes_out=()):
        self.name = name
        self._f, self._df, self._d2f = f, df, d2f
        self.piecewise_linear = piecewise_linear
        self.init = init
        self.params = dict(params or {})
        if takes_out:
            self.takes_out = frozenset(takes_out)

    def f(self, z, out=None):
        if out is not None and "f" in self.takes_out:
            return self._f(z, out=out)
        return self._f(z)

    def df(self, z, y, out=None):
        if out is not None and "df" in self.takes_out:
            return self._df(z, y, out=out)
        return self._df(z, y)

    def d2f(self, z, y):
        if self.piecewise_linear:
            return np.zeros_like(z)
        if self._d2f is None:
            raise ConfigError(f"activation {self.name!r} has no second derivative d2f; "
                              "pass d2f= to use it for Hessians or Hessian-vector products")
        return self._d2f(z, y)

    @property
    def has_d2f(self) -> bool:
        return self.piecewise_linear or self._d2f is not None

    def config(self) -> dict:
        return {"name": self.name, **self.params}

    def _functions(self):
        return [(role, fn.g if isinstance(fn, _OfZ) else fn)
                for role, fn in (("f", self._f), ("df", self._df), ("d2f", self._d2f))]

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({self.name!r}{extra})"


def _picklable(fn) -> bool:
    """Whether the standard library can pickle ``fn`` (a module-level function, a ufunc, a partial of those)."""
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


class _OfZ:
    """A derivative ``g(z)`` of a user activation seen through the interface ``df(z, y)``."""

    def __init__(self, g):
        self.g = g

    def __call__(self, z, y):
        return self.g(z)


def user_activation(name: str, f: Fn, df: Fn, d2f: Fn | None = None, init: str = "glorot") -> ScalarActivation:
    """Define an activation from plain functions of z.

    Parameters
    ----------
    name : str
        A name for reports; it must not clash with a built-in activation.
    f, df, d2f : callable
        ``f(z)``, ``f'(z)`` and optionally ``f''(z)`` as vectorised numpy functions. A network using the
        activation pickles (for ``multiprocessing``, Dask) only if they are importable module-level
        functions; lambdas and local functions work everywhere else.
    init : {"glorot", "he"}
        Initialisation scheme for the weights feeding this activation.

    Returns
    -------
    ScalarActivation

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> cube = bp.activation("cube", lambda z: z ** 3, lambda z: 3 * z ** 2, lambda z: 6 * z)
    """
    if name in ACTIVATIONS.names():
        raise ConfigError(f"activation name {name!r} is taken by a built-in activation; choose another name")
    if not (callable(f) and callable(df)) or (d2f is not None and not callable(d2f)):
        raise ConfigError("a user-defined activation needs callables f(z), df(z) and optionally d2f(z)")
    act = ScalarActivation(name, f, _OfZ(df), _OfZ(d2f) if d2f is not None else None, init=init)
    act.user_defined = True
    return act


# --- the built-in activations: f, f', f'' side by side, as module-level functions (they pickle) ----

# y = z;  f' = 1;  f'' = 0
def _identity_f(z):
    return z


def _identity_df(z, y):
    return np.ones_like(z)


# y = 1 / (1 + e^-z);  f' = y (1 - y);  f'' = y (1 - y) (1 - 2y)
def _sigmoid_df(z, y, out=None):
    out = np.subtract(1, y, out=out)
    return np.multiply(y, out, out=out)


def _sigmoid_d2f(z, y):
    return y * (1 - y) * (1 - 2 * y)


# y = tanh z;  f' = 1 - y^2;  f'' = -2 y (1 - y^2)
def _tanh_df(z, y, out=None):
    out = np.multiply(y, y, out=out)
    return np.subtract(1, out, out=out)


def _tanh_d2f(z, y):
    return -2 * y * (1 - y * y)


# y = max(z, 0);  subgradient f' = 1 for z >= 0, 0 below;  f'' = 0
def _relu_f(z, out=None):
    return np.maximum(z, 0, out=out)


def _relu_df(z, y, out=None):
    if out is None:
        return (z >= 0).astype(z.dtype)
    return np.greater_equal(z, 0, out=out)


# y = z for z >= 0, slope * z below;  f' = 1 for z >= 0, slope below;  f'' = 0
def _leaky_relu_f(z, slope):
    return np.where(z >= 0, z, slope * z)


def _leaky_relu_df(z, y, slope):
    return np.where(z >= 0, 1, slope).astype(z.dtype)


# y = log(1 + e^z);  f' = sigmoid(z);  f'' = sigmoid(z) (1 - sigmoid(z))
def _softplus_f(z):
    return np.logaddexp(0, z)


def _softplus_df(z, y):
    return expit(z)


def _softplus_d2f(z, y):
    s = expit(z)
    return s * (1 - s)


# y = e^z;  f' = y;  f'' = y   (the mean of a Poisson output)
def _exp_df(z, y):
    return y


# y = z Phi(z) = z/2 (1 + erf(z / sqrt 2));  f' = Phi(z) + z phi(z);  f'' = phi(z) (2 - z^2)
#   (GELU, Hendrycks & Gimpel 2016, the exact erf form; phi, Phi: the standard normal density and cdf)
_SQRT_HALF = float(np.sqrt(0.5))
_INV_SQRT_2PI = float(1 / np.sqrt(2 * np.pi))


def _gelu_f(z):
    return 0.5 * z * (1 + erf(z * _SQRT_HALF))


def _gelu_df(z, y):
    return 0.5 * (1 + erf(z * _SQRT_HALF)) + z * (_INV_SQRT_2PI * np.exp(-0.5 * z * z))


def _gelu_d2f(z, y):
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z) * (2 - z * z)


# y = z for z > 0, alpha (e^z - 1) below;  f' = 1 above, alpha e^z = y + alpha below;  f'' = 0 above, y + alpha below
def _elu_f(z, alpha):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))


def _elu_df(z, y, alpha):
    return np.where(z > 0, 1, y + alpha).astype(z.dtype, copy=False)


def _elu_d2f(z, y, alpha):
    return np.where(z > 0, 0, y + alpha).astype(z.dtype, copy=False)


# y = z sigmoid(z) (SiLU, also called swish);  f' = s (1 + z (1 - s));  f'' = s (1 - s) (2 + z (1 - 2 s)),  s = sigmoid(z)
def _silu_f(z):
    return z * expit(z)


def _silu_df(z, y):
    s = expit(z)
    return s * (1 + z * (1 - s))


def _silu_d2f(z, y):
    s = expit(z)
    return s * (1 - s) * (2 + z * (1 - 2 * s))


#: the built-in activations: name -> factory(**options) returning a ScalarActivation
ACTIVATIONS = Registry("activation")


@ACTIVATIONS.register("identity", aliases=("linear",))
def _identity() -> ScalarActivation:
    return ScalarActivation("identity", _identity_f, _identity_df, piecewise_linear=True)


@ACTIVATIONS.register("sigmoid", aliases=("logistic",))
def _sigmoid() -> ScalarActivation:
    return ScalarActivation("sigmoid", expit, _sigmoid_df, _sigmoid_d2f, takes_out=("f", "df"))


@ACTIVATIONS.register("tanh")
def _tanh() -> ScalarActivation:
    return ScalarActivation("tanh", np.tanh, _tanh_df, _tanh_d2f, takes_out=("f", "df"))


@ACTIVATIONS.register("relu")
def _relu() -> ScalarActivation:
    return ScalarActivation("relu", _relu_f, _relu_df, piecewise_linear=True, init="he", takes_out=("f", "df"))


@ACTIVATIONS.register("leaky_relu")
def leaky_relu(slope: float = 0.01) -> ScalarActivation:
    """Leaky ReLU: y = z for z >= 0, slope * z below; f'(0) = 1 by convention; f'' = 0."""
    slope = float(slope)
    if not np.isfinite(slope) or slope < 0:
        raise ConfigError(f"leaky_relu slope must be a finite number >= 0; got {slope}")
    return ScalarActivation("leaky_relu", partial(_leaky_relu_f, slope=slope), partial(_leaky_relu_df, slope=slope),
                            piecewise_linear=True, init="he", params={"slope": slope})


@ACTIVATIONS.register("softplus")
def _softplus() -> ScalarActivation:
    return ScalarActivation("softplus", _softplus_f, _softplus_df, _softplus_d2f)


@ACTIVATIONS.register("exp")
def _exp() -> ScalarActivation:
    return ScalarActivation("exp", np.exp, _exp_df, _exp_df, takes_out=("f",))


@ACTIVATIONS.register("gelu")
def _gelu() -> ScalarActivation:
    return ScalarActivation("gelu", _gelu_f, _gelu_df, _gelu_d2f, init="he")


@ACTIVATIONS.register("elu")
def elu(alpha: float = 1.0) -> ScalarActivation:
    """ELU (Clevert et al. 2015): y = z for z > 0, alpha (e^z - 1) below; f'(0) = alpha (the branch below)."""
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ConfigError(f"elu alpha must be a finite number > 0; got {alpha}")
    return ScalarActivation("elu", partial(_elu_f, alpha=alpha), partial(_elu_df, alpha=alpha),
                            partial(_elu_d2f, alpha=alpha), init="he", params={"alpha": alpha})


@ACTIVATIONS.register("silu")
def _silu() -> ScalarActivation:
    return ScalarActivation("silu", _silu_f, _silu_df, _silu_d2f, init="he")


#: read from the registry (no list kept by hand)
ALIASES = ACTIVATIONS.aliases()
SCALAR_NAMES = ACTIVATIONS.names()


def get_activation(spec) -> ScalarActivation:
    """Return the scalar activation named ``spec`` (or ``spec`` itself if already one).

    ``spec`` may be a name, a ScalarActivation, or a dict from a saved model
    (``{"name": "leaky_relu", "slope": 0.1}``).
    """
    if isinstance(spec, ScalarActivation):
        return spec
    params = {}
    if isinstance(spec, dict):
        params = {k: v for k, v in spec.items() if k != "name"}
        spec = spec.get("name")
    if not isinstance(spec, str):
        raise ConfigError(f"an activation is a name or a ScalarActivation; got {spec!r}")
    if spec not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {spec!r}; known: {', '.join(ACTIVATIONS.names() + ('softmax',))} "
                          "or bp.activation(name, f, df, d2f)")
    return ACTIVATIONS.get(spec)(**params)
