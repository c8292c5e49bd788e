"""Scalar activation functions y = f(z), each with its first and second derivative.

Derivatives receive both z and y = f(z) so that they can reuse the forward value
(sigmoid' = y (1 - y), tanh' = 1 - y^2) instead of recomputing it.
"""
from __future__ import annotations

import copy
import pickle
from functools import partial
from typing import Any, Callable, Iterable

import numpy as np

from .arrays import Array
from ..errors import ConfigError
from ..registry import Registry


def expit(z: Array, out: Array | None = None) -> Array:
    """1 / (1 + e^-z), exact for every finite z (scipy's expit; scipy.special is loaded on first use).

    Parameters
    ----------
    z : ndarray
        Any array.
    out : ndarray, optional
        Written with the result when given.

    Returns
    -------
    ndarray
        The logistic sigmoid of z, elementwise.

    Examples
    --------
    >>> expit(np.array([0.0, 800.0, -800.0]))
    array([0.5, 1. , 0. ])
    """
    from scipy.special import expit as f
    return f(z) if out is None else f(z, out=out)


def erf(z: Array) -> Array:
    """The error function (scipy's erf, loaded on first use).

    Parameters
    ----------
    z : ndarray
        Any array.

    Returns
    -------
    ndarray
        erf(z) = 2/sqrt(pi) int_0^z e^{-t^2} dt, elementwise.

    Examples
    --------
    >>> erf(np.array([0.0, np.inf]))
    array([0., 1.])
    """
    from scipy.special import erf as f
    return f(z)

Fn = Callable[[Array], Array]


class UserFunctions:
    """Copying and pickling of an object that holds a user's functions (a scalar or vector activation).

    Copies share the functions, as ``deepcopy`` does for any function, so lambdas copy without pickling;
    pickling stores each function by reference, so each must be importable.

    Examples
    --------
    >>> import copy
    >>> cube = user_activation("cube", lambda z: z ** 3, lambda z: 3 * z ** 2)
    >>> copy.deepcopy(cube)._f is cube._f        # a deep copy shares the user's functions
    True
    """

    kind = "activation"
    #: the name a model file records (set by each subclass)
    name: str

    def __deepcopy__(self, memo: dict[int, Any]) -> UserFunctions:
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update({k: copy.deepcopy(v, memo) for k, v in self.__dict__.items()})
        return new

    def __copy__(self) -> UserFunctions:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def _functions(self) -> list[tuple[str, Any]]:
        """(role, function or None) of every function the object holds."""
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
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
    params : dict, optional
        The activation's options (a leaky ReLU's ``slope``), recorded by ``config()``.
    takes_out : iterable of {"f", "df"}
        The functions that accept a keyword ``out`` (an array like z to write the result into; they
        may return another array). ``f(z, out=buf)`` and ``df(z, y, out=buf)`` pass it on to those
        only, so a plan can reuse its buffers; the others are called as ``f(z)``, ``df(z, y)``.

    Examples
    --------
    >>> act = get_activation("tanh")
    >>> z = np.array([0.0, 1.0])
    >>> y = act.f(z)
    >>> np.round(act.df(z, y), 4), round(float(act.d2f(z, y)[1]), 4)     # 1 - y^2, -2 y (1 - y^2)
    (array([1.  , 0.42]), -0.6397)
    """

    #: the functions that accept ``out=`` (none unless declared)
    takes_out: frozenset[str] = frozenset()
    #: set on the activations made by ``bp.activation``
    user_defined = False

    def __init__(self, name: str, f: Callable[..., Array], df: Callable[..., Array],
                 d2f: Callable[..., Array] | None = None, piecewise_linear: bool = False, init: str = "glorot",
                 params: dict[str, Any] | None = None, takes_out: Iterable[str] = ()) -> None:
        self.name = name
        self._f, self._df, self._d2f = f, df, d2f
        self.piecewise_linear = piecewise_linear
        self.init = init
        self.params = dict(params or {})
        if takes_out:
            self.takes_out = frozenset(takes_out)

    def f(self, z: Array, out: Array | None = None) -> Array:
        """y = f(z), elementwise.

        Parameters
        ----------
        z : ndarray
            The pre-activations.
        out : ndarray, optional
            A buffer like z the result may be written into (used only if ``"f"`` is in ``takes_out``).

        Returns
        -------
        ndarray
            f(z) (``out`` itself, or another array).

        Examples
        --------
        >>> get_activation("relu").f(np.array([-1.0, 2.0]))
        array([0., 2.])
        """
        if out is not None and "f" in self.takes_out:
            return self._f(z, out=out)
        return self._f(z)

    def df(self, z: Array, y: Array, out: Array | None = None) -> Array:
        """f'(z), elementwise, from z and y = f(z).

        Parameters
        ----------
        z : ndarray
            The pre-activations.
        y : ndarray
            f(z), already computed.
        out : ndarray, optional
            A buffer like z the result may be written into (used only if ``"df"`` is in ``takes_out``).

        Returns
        -------
        ndarray
            f'(z).

        Examples
        --------
        >>> z = np.array([0.0])
        >>> sigmoid = get_activation("sigmoid")
        >>> sigmoid.df(z, sigmoid.f(z))
        array([0.25])
        """
        if out is not None and "df" in self.takes_out:
            return self._df(z, y, out=out)
        return self._df(z, y)

    def d2f(self, z: Array, y: Array) -> Array:
        """f''(z), elementwise, from z and y = f(z) (zeros for a piecewise-linear activation).

        Parameters
        ----------
        z : ndarray
            The pre-activations.
        y : ndarray
            f(z), already computed.

        Returns
        -------
        ndarray
            f''(z); ConfigError if the activation has no second derivative.

        Examples
        --------
        >>> z = np.array([0.0])
        >>> softplus = get_activation("softplus")
        >>> softplus.d2f(z, softplus.f(z))
        array([0.25])
        """
        if self.piecewise_linear:
            return np.zeros_like(z)
        if self._d2f is None:
            raise ConfigError(f"activation {self.name!r} has no second derivative d2f; "
                              "pass d2f= to use it for Hessians or Hessian-vector products")
        return self._d2f(z, y)

    @property
    def has_d2f(self) -> bool:
        """Whether f'' is known (second-order derivatives need it)."""
        return self.piecewise_linear or self._d2f is not None

    def config(self) -> dict[str, Any]:
        """The description a model file records: the name and the options.

        Returns
        -------
        dict
            ``{"name": name, option: value, ...}``, which ``get_activation`` reads back.

        Examples
        --------
        >>> leaky_relu(0.1).config()
        {'name': 'leaky_relu', 'slope': 0.1}
        """
        return {"name": self.name, **self.params}

    def _functions(self) -> list[tuple[str, Any]]:
        return [(role, fn.g if isinstance(fn, _OfZ) else fn)
                for role, fn in (("f", self._f), ("df", self._df), ("d2f", self._d2f))]

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({self.name!r}{extra})"


#: what names an activation: a name, a ScalarActivation, or a saved model's dict ({"name": ..., options})
ActivationSpec = str | ScalarActivation | dict[str, Any]


def _picklable(fn: object) -> bool:
    """Whether the standard library can pickle ``fn`` (a module-level function, a ufunc, a partial of those)."""
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


class _OfZ:
    """A derivative ``g(z)`` of a user activation seen through the interface ``df(z, y)``."""

    def __init__(self, g: Fn):
        self.g = g

    def __call__(self, z: Array, y: Array) -> Array:
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
    >>> z = np.array([2.0])
    >>> cube.f(z), cube.df(z, cube.f(z)), cube.d2f(z, cube.f(z))
    (array([8.]), array([12.]), array([12.]))
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
def _identity_f(z: Array) -> Array:
    return z


def _identity_df(z: Array, y: Array) -> Array:
    return np.ones_like(z)


# y = 1 / (1 + e^-z);  f' = y (1 - y);  f'' = y (1 - y) (1 - 2y)
def _sigmoid_df(z: Array, y: Array, out: Array | None = None) -> Array:
    out = np.subtract(1, y, out=out)
    return np.multiply(y, out, out=out)


def _sigmoid_d2f(z: Array, y: Array) -> Array:
    return y * (1 - y) * (1 - 2 * y)


# y = tanh z;  f' = 1 - y^2;  f'' = -2 y (1 - y^2)
def _tanh_df(z: Array, y: Array, out: Array | None = None) -> Array:
    out = np.multiply(y, y, out=out)
    return np.subtract(1, out, out=out)


def _tanh_d2f(z: Array, y: Array) -> Array:
    return -2 * y * (1 - y * y)


# y = max(z, 0);  subgradient f' = 1 for z >= 0, 0 below;  f'' = 0
def _relu_f(z: Array, out: Array | None = None) -> Array:
    return np.maximum(z, 0, out=out)


def _relu_df(z: Array, y: Array, out: Array | None = None) -> Array:
    if out is None:
        return (z >= 0).astype(z.dtype)
    return np.greater_equal(z, 0, out=out)


# y = z for z >= 0, slope * z below;  f' = 1 for z >= 0, slope below;  f'' = 0
def _leaky_relu_f(z: Array, slope: float) -> Array:
    return np.where(z >= 0, z, slope * z)


def _leaky_relu_df(z: Array, y: Array, slope: float) -> Array:
    return np.where(z >= 0, 1, slope).astype(z.dtype)


# y = log(1 + e^z);  f' = sigmoid(z);  f'' = sigmoid(z) (1 - sigmoid(z))
def _softplus_f(z: Array) -> Array:
    return np.logaddexp(0, z)


def _softplus_df(z: Array, y: Array) -> Array:
    return expit(z)


def _softplus_d2f(z: Array, y: Array) -> Array:
    s = expit(z)
    return s * (1 - s)


# y = e^z;  f' = y;  f'' = y   (the mean of a Poisson output)
def _exp_df(z: Array, y: Array) -> Array:
    return y


# y = z Phi(z) = z/2 (1 + erf(z / sqrt 2));  f' = Phi(z) + z phi(z);  f'' = phi(z) (2 - z^2)
#   (GELU, Hendrycks & Gimpel 2016, the exact erf form; phi, Phi: the standard normal density and cdf)
_SQRT_HALF = float(np.sqrt(0.5))
_INV_SQRT_2PI = float(1 / np.sqrt(2 * np.pi))


def _gelu_f(z: Array) -> Array:
    return 0.5 * z * (1 + erf(z * _SQRT_HALF))


def _gelu_df(z: Array, y: Array) -> Array:
    return 0.5 * (1 + erf(z * _SQRT_HALF)) + z * (_INV_SQRT_2PI * np.exp(-0.5 * z * z))


def _gelu_d2f(z: Array, y: Array) -> Array:
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z) * (2 - z * z)


# y = z for z > 0, alpha (e^z - 1) below;  f' = 1 above, alpha e^z = y + alpha below;  f'' = 0 above, y + alpha below
def _elu_f(z: Array, alpha: float) -> Array:
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))


def _elu_df(z: Array, y: Array, alpha: float) -> Array:
    return np.where(z > 0, 1, y + alpha).astype(z.dtype, copy=False)


def _elu_d2f(z: Array, y: Array, alpha: float) -> Array:
    return np.where(z > 0, 0, y + alpha).astype(z.dtype, copy=False)


# y = z sigmoid(z) (SiLU, also called swish);  f' = s (1 + z (1 - s));  f'' = s (1 - s) (2 + z (1 - 2 s)),  s = sigmoid(z)
def _silu_f(z: Array) -> Array:
    return z * expit(z)


def _silu_df(z: Array, y: Array) -> Array:
    s = expit(z)
    return s * (1 + z * (1 - s))


def _silu_d2f(z: Array, y: Array) -> Array:
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
    """Leaky ReLU: y = z for z >= 0, slope * z below; f'(0) = 1 by convention; f'' = 0.

    Parameters
    ----------
    slope : float, default 0.01
        The slope below zero, a finite number >= 0.

    Returns
    -------
    ScalarActivation

    Examples
    --------
    >>> leaky_relu(0.1).f(np.array([-2.0, 3.0]))
    array([-0.2,  3. ])
    """
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
    """ELU (Clevert et al. 2015): y = z for z > 0, alpha (e^z - 1) below; f'(0) = alpha (the branch below).

    Parameters
    ----------
    alpha : float, default 1.0
        The scale of the branch below zero, a finite number > 0.

    Returns
    -------
    ScalarActivation

    Examples
    --------
    >>> act = elu(2.0)
    >>> z = np.array([0.0, 1.0])
    >>> act.f(z), act.df(z, act.f(z))
    (array([0., 1.]), array([2., 1.]))
    """
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


def get_activation(spec: ActivationSpec) -> ScalarActivation:
    """Return the scalar activation named ``spec`` (or ``spec`` itself if already one).

    Parameters
    ----------
    spec : str, ScalarActivation or dict
        A name (or alias), an activation, or a dict from a saved model
        (``{"name": "leaky_relu", "slope": 0.1}``).

    Returns
    -------
    ScalarActivation

    Examples
    --------
    >>> get_activation("logistic").name, get_activation({"name": "leaky_relu", "slope": 0.1})
    ('sigmoid', ScalarActivation('leaky_relu', slope=0.1))
    """
    if isinstance(spec, ScalarActivation):
        return spec
    params: dict[str, Any] = {}
    name: object = spec
    if isinstance(spec, dict):
        params = {k: v for k, v in spec.items() if k != "name"}
        name = spec.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"an activation is a name or a ScalarActivation; got {name!r}")
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS.names() + ('softmax',))} "
                          "or bp.activation(name, f, df, d2f)")
    act: ScalarActivation = ACTIVATIONS.get(name)(**params)
    return act
