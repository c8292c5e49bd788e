"""Optimisers: each one updates ONE flat parameter vector in place, once the whole gradient is known.

The update rules, with g = dL/dW for the current batch and eta the learning rate:

* gradient descent        W <- W - eta g
* classical momentum      Delta <- mu Delta + g ;  W <- W - eta Delta
* Nesterov momentum       Delta <- mu Delta + g ;  W <- W - eta (g + mu Delta)
* Adam                    m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2 ;
                          W <- W - eta m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
* weight decay (any)      W <- W - eta (step) - lambda W      (applied to the weights, not the biases, when
                          ``decay_mask`` is set; ``train`` sets it from ``net.reg_mask``)

Every step works in place on preallocated buffers: no copy of the parameter vector per step.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError


def _check_rate(name, value, low=0.0, high=None, inclusive_low=False, inclusive_high=False):
    """Return ``value`` as a float after checking it is a finite number within (low, high)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number; got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(v):
        raise ConfigError(f"{name} must be a finite number; got {value!r}")
    ok_low = v >= low if inclusive_low else v > low
    ok_high = True if high is None else (v <= high if inclusive_high else v < high)
    if not (ok_low and ok_high):
        lo = "[" if inclusive_low else "("
        hi = "]" if inclusive_high else ")"
        rng = f"{lo}{low:g}, {'inf' if high is None else format(high, 'g')}{hi}"
        raise ConfigError(f"{name} must lie in {rng}; got {value!r}")
    return v


class Optimizer:
    """Base class: a rule that updates a flat parameter vector in place from its gradient.

    Attributes
    ----------
    lr : float
        Learning rate eta; public, so that schedules can set it between steps.
    weight_decay : float
        lambda in W <- W - eta (step) - lambda W.
    decay_mask : ndarray of bool or None
        Which parameters weight decay applies to (None: all of them). ``train`` and ``run_epoch``
        set it to ``net.reg_mask`` (weights yes, biases no) when it is None.
    full_batch : bool
        True for plain gradient descent: ``train`` then uses the whole training set as one batch.
    t : int
        Number of steps taken since the last ``reset``.
    """

    name = "optimizer"
    full_batch = False
    #: names of the per-parameter state arrays (saved by ``state_dict``)
    _buffers: tuple = ()
    #: names of the hyper-parameters (saved by ``state_dict`` and shown by ``repr``)
    _hyper: tuple = ("lr", "weight_decay")

    def __init__(self, lr, weight_decay=0.0):
        self.lr = _check_rate("learning rate lr", lr)
        self.weight_decay = _check_rate("weight_decay", weight_decay, inclusive_low=True, high=1.0)
        self._decay_mask = None
        self.reset()

    # ---- state -------------------------------------------------------------------------------
    @property
    def decay_mask(self):
        return self._decay_mask

    @decay_mask.setter
    def decay_mask(self, mask):
        self._decay_mask = None if mask is None else np.asarray(mask, dtype=bool)
        self._decay = None

    def _state_names(self) -> tuple:
        """Names of the state arrays this optimiser needs with its current hyper-parameters."""
        return self._buffers

    def reset(self) -> None:
        """Forget the state (momentum, moment estimates, step count); hyper-parameters stay."""
        self.t = 0
        self._shape = None
        self._dtype = None
        self._scratch = None
        self._decay = None
        for name in self._buffers:
            setattr(self, name, None)

    def _prepare(self, params, grad):
        """Allocate the state on the first step; afterwards only check that it still fits."""
        if self._shape is None:
            self._shape, self._dtype = params.shape, params.dtype
        elif params.shape != self._shape or params.dtype != self._dtype:
            raise ConfigError(f"this {self.name} optimiser holds state for {self._shape[0]} {self._dtype} "
                              f"parameters; got {params.shape[0]} {params.dtype} ones (call reset() to reuse it)")
        if grad.shape != params.shape:
            raise ConfigError(f"gradient of shape {grad.shape} does not match parameters of shape {params.shape}")
        if self.weight_decay and self._decay_mask is not None and self._decay_mask.shape != params.shape:
            raise ConfigError(f"decay_mask has shape {self._decay_mask.shape}; the parameters have shape "
                              f"{params.shape}")
        if self._scratch is None:
            self._scratch = np.empty(params.shape, dtype=params.dtype)
            for name in self._state_names():
                if getattr(self, name) is None:
                    setattr(self, name, np.zeros(params.shape, dtype=params.dtype))

    def _apply_decay(self, params):
        """W <- W - lambda W (on the masked entries), from the W before this step's update."""
        lam = self.weight_decay
        if not lam:
            return
        if self.decay_mask is None:
            params *= 1.0 - lam
            return
        if self._decay is None:
            self._decay = np.where(self._decay_mask, 1.0 - lam, 1.0).astype(params.dtype)
        params *= self._decay

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Update ``params`` in place from the gradient ``grad`` = dL/dW (same shape).

        Parameters
        ----------
        params : ndarray of shape (n_params,)
            The flat parameter vector, e.g. ``net.params``; modified in place.
        grad : ndarray of shape (n_params,)
            dL/dW at ``params``, computed completely before the update.
        """
        self._prepare(params, grad)
        self.t += 1
        self._apply_decay(params)
        self._update(params, grad)

    def _update(self, params, grad):
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Hyper-parameters, step count and copies of the state arrays (None before the first step)."""
        state = {"name": self.name, "t": self.t}
        state.update({k: getattr(self, k) for k in self._hyper})
        for name in self._buffers:
            buf = getattr(self, name)
            state[name] = None if buf is None else buf.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned (from an optimiser of the same kind).

        Everything is checked before anything changes: a bad state leaves the optimiser as it was.
        """
        if not isinstance(state, dict) or state.get("name") != self.name:
            got = state.get("name") if isinstance(state, dict) else type(state).__name__
            raise ConfigError(f"optimiser state is for {got!r}; this optimiser is {self.name!r}")
        missing = [k for k in ("t",) + self._hyper if k not in state]
        if missing:
            raise ConfigError(f"optimiser state lacks {', '.join(missing)}")
        t = state["t"]
        if not isinstance(t, (int, np.integer)) or isinstance(t, bool) or t < 0:
            raise ConfigError(f"optimiser step count t must be an integer >= 0; got {t!r}")
        probe = type(self).__new__(type(self))      # validates the hyper-parameters without touching self
        probe._set_hyper({k: state[k] for k in self._hyper})
        arrays = {k: state.get(k) for k in probe._state_names()}
        given = [np.asarray(a) for a in arrays.values() if a is not None]
        if given and len(given) != len(arrays):
            raise ConfigError(f"optimiser state must hold all of {', '.join(arrays)} or none of them")
        if given and (len({a.shape for a in given}) > 1 or given[0].ndim != 1
                      or any(a.dtype.kind != "f" for a in given)):
            raise ConfigError("optimiser state arrays must be 1-D float arrays of one length")
        mask = self._decay_mask
        self.reset()
        self._set_hyper({k: state[k] for k in self._hyper})
        self._decay_mask = mask
        self.t = int(t)
        if given:
            self._shape, self._dtype = given[0].shape, given[0].dtype
            for name, a in arrays.items():
                setattr(self, name, np.array(a, dtype=given[0].dtype))

    def _set_hyper(self, hyper):
        self.lr = _check_rate("learning rate lr", hyper["lr"])
        self.weight_decay = _check_rate("weight_decay", hyper["weight_decay"], inclusive_low=True, high=1.0)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyper)
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional classical or Nesterov momentum and weight decay.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate eta > 0.
    momentum : float, default 0.0
        mu in [0, 1): Delta <- mu Delta + dL/dW, W <- W - eta Delta (mu = 0 is plain SGD).
    nesterov : bool, default False
        Look ahead: W <- W - eta (dL/dW + mu Delta), with Delta already updated.
    weight_decay : float, default 0.0
        lambda in [0, 1): W <- W - eta Delta - lambda W.

    Examples
    --------
    >>> import numpy as np
    >>> opt = SGD(lr=0.1, momentum=0.9)
    >>> W = np.array([1.0, -2.0])
    >>> opt.step(W, np.array([0.5, 0.5]))      # Delta = g, W <- W - 0.1 g
    >>> W
    array([ 0.95, -2.05])
    """

    name = "sgd"
    _buffers = ("delta",)
    _hyper = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        self._set_momentum(momentum, nesterov)
        super().__init__(lr, weight_decay)

    def _set_momentum(self, momentum, nesterov):
        self.momentum = _check_rate("momentum", momentum, inclusive_low=True, high=1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ConfigError(f"nesterov must be True or False; got {nesterov!r}")
        if nesterov and not self.momentum:
            raise ConfigError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)

    def _set_hyper(self, hyper):
        self._set_momentum(hyper["momentum"], hyper["nesterov"])
        super()._set_hyper(hyper)

    def _state_names(self):
        # plain SGD keeps no state
        return ("delta",) if self.momentum else ()

    def _update(self, params, grad):
        buf, mu = self._scratch, self.momentum
        if not mu:
            # W <- W - eta g
            np.multiply(grad, self.lr, out=buf)
            params -= buf
            return
        delta = self.delta
        # Delta <- mu Delta + g
        delta *= mu
        delta += grad
        if self.nesterov:
            # W <- W - eta (g + mu Delta)
            np.multiply(delta, mu, out=buf)
            buf += grad
            buf *= self.lr
        else:
            # W <- W - eta Delta
            np.multiply(delta, self.lr, out=buf)
        params -= buf


class GD(SGD):
    """Full-batch gradient descent: SGD whose batch is the whole training set.

    ``train`` uses one batch of all samples per epoch with this optimiser, so every
    step is W <- W - eta dLoss/dW with the exact gradient of the training loss.
    Parameters as for :class:`SGD`.
    """

    name = "gd"
    full_batch = True


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): per-parameter steps from running moments of the gradient.

    Parameters
    ----------
    lr : float, default 0.001
        Step size eta > 0.
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates in [0, 1) of the first and second moment estimates.
    eps : float, default 1e-8
        Added to sqrt(v_hat) so that no step divides by zero.
    weight_decay : float, default 0.0
        lambda in [0, 1): W <- W - eta m_hat / (sqrt(v_hat) + eps) - lambda W.
    """

    name = "adam"
    _buffers = ("m", "v")
    _hyper = ("lr", "beta1", "beta2", "eps", "weight_decay")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        self._set_betas(beta1, beta2, eps)
        super().__init__(lr, weight_decay)

    def _set_betas(self, beta1, beta2, eps):
        self.beta1 = _check_rate("beta1", beta1, inclusive_low=True, high=1.0)
        self.beta2 = _check_rate("beta2", beta2, inclusive_low=True, high=1.0)
        self.eps = _check_rate("eps", eps)

    def _set_hyper(self, hyper):
        self._set_betas(hyper["beta1"], hyper["beta2"], hyper["eps"])
        super()._set_hyper(hyper)

    def _update(self, params, grad):
        b1, b2, buf, m, v = self.beta1, self.beta2, self._scratch, self.m, self.v
        # m <- b1 m + (1 - b1) g
        m *= b1
        np.multiply(grad, 1.0 - b1, out=buf)
        m += buf
        # v <- b2 v + (1 - b2) g^2
        v *= b2
        np.multiply(grad, grad, out=buf)
        buf *= 1.0 - b2
        v += buf
        # W <- W - eta m_hat / (sqrt(v_hat) + eps)
        c1 = 1.0 - b1 ** self.t
        c2 = 1.0 - b2 ** self.t
        np.sqrt(v, out=buf)
        buf *= 1.0 / math.sqrt(c2)
        buf += self.eps
        np.divide(m, buf, out=buf)
        buf *= self.lr / c1
        params -= buf


OPTIMIZER_NAMES = ("gd", "sgd", "momentum", "nesterov", "adam")


def get_optimizer(spec="sgd", **kwargs) -> Optimizer:
    """Return an optimiser from a name, or ``spec`` itself if it is already an Optimizer.

    Parameters
    ----------
    spec : str or Optimizer
        ``"gd"`` (full-batch gradient descent), ``"sgd"`` (mini-batch, no momentum),
        ``"momentum"`` (SGD with classical momentum, mu = 0.9 unless given),
        ``"nesterov"`` (SGD with Nesterov momentum, mu = 0.9 unless given), ``"adam"``,
        or an Optimizer instance.
    **kwargs
        Constructor arguments (``lr``, ``momentum``, ``weight_decay``, ``beta1``, ...). Entries that
        are None are ignored, so callers can pass through options the user left unset.

    Returns
    -------
    Optimizer
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if isinstance(spec, Optimizer):
        if kwargs:
            raise ConfigError(f"options {', '.join(sorted(kwargs))} can only be given with an optimiser name, "
                              f"not with an optimiser instance ({spec!r})")
        return spec
    if not isinstance(spec, str):
        raise ConfigError(f"an optimiser is a name ({', '.join(OPTIMIZER_NAMES)}) or an Optimizer; got {spec!r}")
    name = spec.lower()
    if name in ("momentum", "nesterov"):
        kwargs.setdefault("momentum", 0.9)
        if name == "nesterov":
            kwargs["nesterov"] = True
        cls = SGD
    elif name in ("gd", "sgd", "adam"):
        cls = {"gd": GD, "sgd": SGD, "adam": Adam}[name]
    else:
        raise ConfigError(f"unknown optimiser {spec!r}; expected one of {', '.join(OPTIMIZER_NAMES)}")
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"bad option for optimiser {name!r}: {e}") from None
