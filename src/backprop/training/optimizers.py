"""Optimisers: each one updates ONE flat parameter vector in place, once the whole gradient is known.

The update rules, with g = dL/dW for the current batch and eta the learning rate:

* gradient descent        W <- W - eta g
* classical momentum      Delta <- mu Delta + g ;  W <- W - eta Delta
* Nesterov momentum       Delta <- mu Delta + g ;  W <- W - eta (g + mu Delta)
* Adam                    m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2 ;
                          W <- W - eta m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
* RMSprop                 v <- a v + (1 - a) g^2 ;  W <- W - eta g / (sqrt(v) + eps)
* AdamW                   Adam's step, and the weights decayed by eta lambda: W <- W - eta lambda W - eta (step)
* weight decay (any)      W <- W - eta (step) - lambda W      (on the weights, not the biases)

Weight decay needs to know which entries of the flat vector are weights: ``step(net, grad)`` reads
that from the network (``net.reg_mask``), which is what ``train`` does. A bare array carries no such
layout, so ``step(array, grad)`` with weight decay is refused unless ``decay_mask`` says it explicitly.

Every step works in place on preallocated buffers: no copy of the parameter vector per step.
"""
from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from numpy.typing import NDArray

from ..engine.network import Network
from ..errors import ConfigError
from ..registry import Registry
from . import fused

if TYPE_CHECKING:
    from ..engine.network import Network


def _check_rate(name: str, value: float, low: float = 0.0, high: float | None = None, inclusive_low: bool = False,
                inclusive_high: bool = False) -> float:
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
        Which parameters weight decay applies to. None (the default): the weights of the network
        given to ``step(net, grad)``, i.e. ``net.reg_mask`` (weights yes, biases no). Set it only to
        decay other entries, or to use weight decay on a bare array.
    full_batch : bool
        True for plain gradient descent: ``train`` then uses the whole training set as one batch.
    t : int
        Number of steps taken since the last ``reset``.

    Parameters
    ----------
    lr : float
        The learning rate eta (> 0).
    weight_decay : float, default 0.0
        lambda of the decoupled weight decay, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> opt = SGD(lr=0.1)
    >>> w = np.array([1.0, 2.0])
    >>> opt.step(w, np.array([1.0, -1.0]))
    >>> w
    array([0.9, 2.1])
    """

    name = "optimizer"
    full_batch = False
    #: names of the per-parameter state arrays (saved by ``state_dict``)
    _buffers: tuple[str, ...] = ()
    #: names of the hyper-parameters (saved by ``state_dict`` and shown by ``repr``)
    _hyper: tuple[str, ...] = ("lr", "weight_decay")
    # the state, allocated on the first step
    t: int
    _shape: tuple[int, ...] | None
    _dtype: np.dtype[Any] | None
    _scratch: Any
    _decay: Any
    _decay_mask: NDArray[Any] | None

    def __init__(self, lr: float, weight_decay: float = 0.0) -> None:
        self.lr = _check_rate("learning rate lr", lr)
        self.weight_decay = _check_rate("weight_decay", weight_decay, inclusive_low=True, high=1.0)
        self._decay_mask = None
        self.reset()

    # ---- state -------------------------------------------------------------------------------
    @property
    def decay_mask(self) -> NDArray[Any] | None:
        """Which parameters weight decay applies to (None: the weights of the network given to ``step``)."""
        return self._decay_mask

    @decay_mask.setter
    def decay_mask(self, mask: NDArray[Any] | None) -> None:
        if mask is not None:
            m = np.asarray(mask)
            if m.dtype != bool or m.ndim != 1:
                raise ConfigError(f"decay_mask must be a 1-D boolean array over the parameters (or None); "
                                  f"got {m.dtype} of shape {m.shape}")
            mask = m.copy()
        self._decay_mask = mask
        self._decay = None

    def _state_names(self) -> tuple[str, ...]:
        """Names of the state arrays this optimiser needs with its current hyper-parameters."""
        return self._buffers

    def reset(self) -> None:
        """Forget the state (momentum, moment estimates, step count); hyper-parameters stay.

        Examples
        --------
        >>> import numpy as np
        >>> opt = Adam(lr=0.1)
        >>> opt.step(np.zeros(2), np.ones(2))
        >>> opt.t, opt.m is None
        (1, False)
        >>> opt.reset()
        >>> opt.t, opt.m is None, opt.lr
        (0, True, 0.1)
        """
        self.t = 0
        self._shape = None
        self._dtype = None
        self._scratch = None
        self._decay = None
        for name in self._buffers:
            setattr(self, name, None)

    def _check_step(self, params: NDArray[Any], grad: NDArray[Any], mask: NDArray[Any] | None) -> None:
        """Everything ``step`` needs, checked before anything changes."""
        if not isinstance(params, np.ndarray) or params.dtype.kind != "f":
            got = f"{params.dtype} array" if isinstance(params, np.ndarray) else type(params).__name__
            raise ConfigError(f"step updates a network or a float parameter array; got {got}")
        if self._shape is not None and (params.shape != self._shape or params.dtype != self._dtype):
            raise ConfigError(f"this {self.name} optimiser holds state for {self._shape[0]} {self._dtype} "
                              f"parameters; got {params.shape[0]} {params.dtype} ones (call reset() to reuse it)")
        if not isinstance(grad, np.ndarray) or grad.shape != params.shape:
            raise ConfigError(f"gradient of shape {getattr(grad, 'shape', None)} does not match parameters of "
                              f"shape {params.shape}")
        if self.weight_decay:
            if mask is None:
                raise ConfigError(
                    f"weight_decay={self.weight_decay:g} applies to the weights, not the biases, and a bare "
                    "parameter array does not say which entries are which: pass the network, "
                    "opt.step(net, grad), or set opt.decay_mask (e.g. to net.reg_mask)")
            if mask.shape != params.shape:
                raise ConfigError(f"decay_mask has shape {mask.shape}; the parameters have shape {params.shape}")

    def _prepare(self, params: NDArray[Any]) -> None:
        """Allocate the state on the first step (after ``_check_step``)."""
        if self._shape is None:
            self._shape, self._dtype = params.shape, params.dtype
        if self._scratch is None:
            self._scratch = np.empty(params.shape, dtype=params.dtype)
            for name in self._state_names():
                if getattr(self, name) is None:
                    setattr(self, name, np.zeros(params.shape, dtype=params.dtype))

    @property
    def decay_rate(self) -> float:
        """The factor of one step's decay W <- W - rate W: ``weight_decay`` (AdamW: ``lr * weight_decay``)."""
        return self.weight_decay

    def _apply_decay(self, params: NDArray[Any], mask: NDArray[Any] | None) -> None:
        """W <- W - rate W on the entries of ``mask`` (the weights), from the W before this step's update."""
        lam = self.decay_rate
        if not lam:
            return
        assert mask is not None             # _check_step refused weight decay without a mask
        key = (mask, lam, params.dtype)
        if self._decay is None or self._decay[0] is not mask or self._decay[1:3] != key[1:]:
            self._decay = key + (np.where(mask, 1.0 - lam, 1.0).astype(params.dtype),)
        params *= self._decay[3]

    def step(self, params: NDArray[Any] | Network, grad: NDArray[Any]) -> None:
        """Update the parameters in place from the gradient ``grad`` = dL/dW (same shape).

        Parameters
        ----------
        params : Network or ndarray of shape (n_params,)
            The network (its ``net.params`` are updated, and weight decay applies to its weights,
            ``net.reg_mask``, not to its biases), or a flat float vector, modified in place. A bare
            vector with ``weight_decay`` > 0 needs ``decay_mask`` set, since it does not say which
            entries are weights.
        grad : ndarray of shape (n_params,)
            dL/dW at the parameters, computed completely before the update.

        Raises
        ------
        ConfigError
            For mismatched shapes, or weight decay on a bare vector without ``decay_mask``; nothing
            is changed then.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([2, 3, 1], output="sigmoid", seed=0)
        >>> b = net.views(0)[1].copy()
        >>> bp.SGD(lr=0.1, weight_decay=0.5).step(net, np.zeros(net.n_params))
        >>> bool(np.array_equal(net.views(0)[1], b))        # the biases are not decayed
        True
        """
        mask: NDArray[Any] | None
        if isinstance(params, Network):
            net, params = params, params.params
            mask = self._decay_mask if self._decay_mask is not None else net.reg_mask
        else:
            mask = self._decay_mask
        self._check_step(params, grad, mask)
        self._prepare(params)
        self.t += 1
        self._apply_decay(params, mask)
        self._update(params, grad)

    def _update(self, params: NDArray[Any], grad: NDArray[Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state, for ``load_state_dict`` (and checkpoints).

        Returns
        -------
        dict
            ``name``, the step count ``t``, the hyper-parameters, and copies of the state arrays (None
            before the first step).

        Examples
        --------
        >>> import numpy as np
        >>> opt = SGD(lr=0.1, momentum=0.9)
        >>> opt.step(np.zeros(2), np.ones(2))
        >>> opt.state_dict()
        {'name': 'sgd', 't': 1, 'lr': 0.1, 'momentum': 0.9, 'nesterov': False, 'weight_decay': 0.0,
         'delta': array([1., 1.])}
        """
        state = {"name": self.name, "t": self.t}
        state.update({k: getattr(self, k) for k in self._hyper})
        for name in self._buffers:
            buf = getattr(self, name)
            state[name] = None if buf is None else buf.copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (from an optimiser of the same kind).

        Everything is checked before anything changes: a bad state (wrong kind, missing or non-numeric
        entries, hyper-parameters out of range, state arrays that are not finite or that no sequence of
        gradients could have produced) raises ConfigError naming the entry, and leaves the optimiser
        as it was. ``decay_mask`` is kept.

        Parameters
        ----------
        state : dict
            What ``state_dict`` of an optimiser of this kind returned.

        Raises
        ------
        ConfigError
            Naming the first bad entry and what it should be.

        Examples
        --------
        >>> import numpy as np
        >>> a = SGD(lr=0.1, momentum=0.9)
        >>> a.step(np.zeros(2), np.ones(2))
        >>> b = SGD()
        >>> b.load_state_dict(a.state_dict())
        >>> b.t, b.lr, b.delta
        (1, 0.1, array([1., 1.]))
        """
        probe = self.validated_state(state)
        mask = self._decay_mask
        self.__dict__.update(probe.__dict__)
        self._decay_mask, self._decay = mask, None

    def validated_state(self, state: dict[str, Any]) -> "Optimizer":
        """Check ``state`` completely; return a fresh optimiser of this kind holding it (self is untouched).

        Parameters
        ----------
        state : dict
            What ``state_dict`` of an optimiser of this kind returned.

        Returns
        -------
        Optimizer
            A new optimiser of this kind in that state.

        Raises
        ------
        ConfigError
            Naming the first bad entry and what it should be.

        Examples
        --------
        >>> SGD().validated_state({"name": "sgd", "t": 0, "lr": 0.5, "momentum": 0.0, "nesterov": False,
        ...                        "weight_decay": 0.0, "delta": None})
        SGD(lr=0.5, momentum=0.0, nesterov=False, weight_decay=0.0)
        >>> SGD().validated_state({"name": "adam"})
        Traceback (most recent call last):
        ...
        backprop.errors.ConfigError: optimiser state is for 'adam'; this optimiser is 'sgd'
        """
        if not isinstance(state, dict) or state.get("name") != self.name:
            got = state.get("name") if isinstance(state, dict) else type(state).__name__
            raise ConfigError(f"optimiser state is for {got!r}; this optimiser is {self.name!r}")
        missing = [k for k in ("t",) + self._hyper if k not in state]
        if missing:
            raise ConfigError(f"optimiser state lacks {', '.join(missing)}")
        unknown = sorted(str(k) for k in state if k not in ("name", "t") + self._hyper + self._buffers)
        if unknown:
            raise ConfigError(f"optimiser state has unknown entries {', '.join(unknown)}; a {self.name} state holds "
                              f"name, t, {', '.join(self._hyper + self._buffers)}")
        t = state["t"]
        if not isinstance(t, (int, np.integer)) or isinstance(t, (bool, np.bool_)) or not 0 <= t < 2 ** 63:
            raise ConfigError(f"optimiser step count t must be an integer in [0, 2**63); got {t!r}")
        for k in self._hyper:
            v = state[k]
            if k == "nesterov":
                continue                                 # checked by _set_hyper: True or False
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ConfigError(f"optimiser hyper-parameter {k} must be a number; got {v!r}")
        probe = type(self).__new__(type(self))
        probe._set_hyper({k: state[k] for k in self._hyper})
        probe._decay_mask = None
        probe.reset()
        names = probe._state_names()
        arrays = {k: state.get(k) for k in names}
        given = {k: np.asarray(a) for k, a in arrays.items() if a is not None}
        if given and len(given) != len(arrays):
            raise ConfigError(f"optimiser state must hold all of {', '.join(arrays)} or none of them")
        if names and t > 0 and not given:
            raise ConfigError(f"optimiser state has taken t={t} steps but holds no {', '.join(names)}")
        if given:
            first = next(iter(given.values()))
            for k, a in given.items():
                if a.ndim != 1 or a.dtype.kind != "f" or a.shape != first.shape or a.dtype != first.dtype:
                    raise ConfigError(f"optimiser state {k} must be a 1-D float array like {names[0]} "
                                      f"({first.dtype}, {first.shape}); got {a.dtype} of shape {a.shape}")
                if not np.isfinite(a).all():
                    raise ConfigError(f"optimiser state {k} contains NaN or inf; every entry must be finite")
                if t == 0 and np.any(a):
                    raise ConfigError(f"optimiser state {k} must be zero before the first step (t = 0)")
            problem = probe._check_buffers(given, int(t))
            if problem:
                raise ConfigError(problem)
            probe._shape, probe._dtype = first.shape, first.dtype
            for k, a in given.items():
                setattr(probe, k, a.copy())
        probe.t = int(t)
        return probe

    def _check_buffers(self, arrays: dict[str, Any], t: int) -> str | None:
        """A message if the state arrays are impossible for this rule after t steps, else None."""
        return None

    def _set_hyper(self, hyper: dict[str, Any]) -> None:
        self.lr = _check_rate("learning rate lr", hyper["lr"])
        self.weight_decay = _check_rate("weight_decay", hyper["weight_decay"], inclusive_low=True, high=1.0)

    def __repr__(self) -> str:
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

    delta: Any

    name = "sgd"
    _buffers = ("delta",)
    _hyper = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        self._set_momentum(momentum, nesterov)
        super().__init__(lr, weight_decay)

    def _set_momentum(self, momentum: float, nesterov: bool) -> None:
        self.momentum = _check_rate("momentum", momentum, inclusive_low=True, high=1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ConfigError(f"nesterov must be True or False; got {nesterov!r}")
        if nesterov and not self.momentum:
            raise ConfigError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)

    def _set_hyper(self, hyper: dict[str, Any]) -> None:
        self._set_momentum(hyper["momentum"], hyper["nesterov"])
        super()._set_hyper(hyper)

    def _state_names(self) -> tuple[str, ...]:
        # plain SGD keeps no state
        return ("delta",) if self.momentum else ()

    def _update(self, params: NDArray[Any], grad: NDArray[Any]) -> None:
        buf, mu = self._scratch, self.momentum
        # large vectors: the same arithmetic in one fused loop when numba is installed (training/fused.py)
        if fused.sgd_update(params, grad, self.delta if mu else None, self.lr, mu, self.nesterov):
            return
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

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate eta > 0.
    momentum : float, default 0.0
        mu in [0, 1): Delta <- mu Delta + dL/dW, W <- W - eta Delta (mu = 0 is plain gradient descent).
    nesterov : bool, default False
        Look ahead: W <- W - eta (dL/dW + mu Delta), with Delta already updated.
    weight_decay : float, default 0.0
        lambda in [0, 1): W <- W - eta Delta - lambda W.

    Examples
    --------
    >>> GD(lr=0.5).full_batch
    True
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

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([1.0])
    >>> Adam(lr=0.1).step(w, np.array([2.0]))
    >>> w
    array([0.9])
    """

    m: Any
    v: Any

    name = "adam"
    _buffers = ("m", "v")
    _hyper = ("lr", "beta1", "beta2", "eps", "weight_decay")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        self._set_betas(beta1, beta2, eps)
        super().__init__(lr, weight_decay)

    def _set_betas(self, beta1: float, beta2: float, eps: float) -> None:
        self.beta1 = _check_rate("beta1", beta1, inclusive_low=True, high=1.0)
        self.beta2 = _check_rate("beta2", beta2, inclusive_low=True, high=1.0)
        self.eps = _check_rate("eps", eps)

    def _set_hyper(self, hyper: dict[str, Any]) -> None:
        self._set_betas(hyper["beta1"], hyper["beta2"], hyper["eps"])
        super()._set_hyper(hyper)

    def _check_buffers(self, arrays: Mapping[str, Any], t: int) -> str | None:
        # m_t = sum_j (1-b1) b1^j g_(t-j) and v_t = sum_j (1-b2) b2^j g_(t-j)^2 over j < t, so by
        # Cauchy-Schwarz m_t^2 <= C v_t with C = (1-b1)^2 / (1-b2) * sum_(j<t) (b1^2 / b2)^j. A first
        # moment beyond that bound (a NaN-free but "huge" m) is no state Adam can reach.
        m, v = arrays["m"], arrays["v"]
        if np.any(v < 0):
            return "optimiser state v (Adam's second moment) must be >= 0"
        b1, b2 = self.beta1, self.beta2
        r = b1 * b1 / b2 if b2 > 0 else math.inf
        if r >= 1:
            return None                                  # no bound independent of the gradients
        C = (1 - b1) ** 2 / (1 - b2) * (1 - r ** t) / (1 - r)
        with np.errstate(over="ignore"):
            bad = m * m > C * v * (1 + 1e-3)
        if np.any(bad):
            k = int(np.argmax(bad))
            return (f"optimiser state m (Adam's first moment) is inconsistent with v: m^2 <= {C:.4g} v must "
                    f"hold after {t} steps with beta1={b1:g}, beta2={b2:g}; entry {k} has m={m[k]!r}, v={v[k]!r}")
        return None

    def _update(self, params: NDArray[Any], grad: NDArray[Any]) -> None:
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


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    Each step first decays the weights (not the biases) by eta lambda, W <- W - eta lambda W, then takes
    Adam's step; the decay follows the learning rate, so a schedule that lowers eta lowers it too.

    Parameters
    ----------
    lr : float, default 0.001
    beta1, beta2, eps : float
        As for :class:`Adam`.
    weight_decay : float, default 0.01
        lambda in [0, 1); the weights shrink by the factor 1 - eta lambda per step.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> net = bp.MLP([2, 1], output="identity", seed=0)
    >>> opt = AdamW(lr=0.1, weight_decay=0.5)
    >>> W = net.params[:2].copy()
    >>> opt.step(net, np.zeros(net.n_params))
    >>> bool(np.allclose(net.params[:2], W * (1 - 0.1 * 0.5)))
    True
    """

    name = "adamw"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay)

    @property
    def decay_rate(self) -> float:
        return self.lr * self.weight_decay


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton, 2012): steps scaled by a running root mean square of the gradient.

    Parameters
    ----------
    lr : float, default 0.01
        Step size eta > 0.
    alpha : float, default 0.99
        Decay rate in [0, 1) of the mean square: v <- alpha v + (1 - alpha) g^2.
    eps : float, default 1e-8
        Added to sqrt(v): W <- W - eta g / (sqrt(v) + eps).
    weight_decay : float, default 0.0
        lambda in [0, 1): W <- W - eta g / (sqrt(v) + eps) - lambda W (on the weights).

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([1.0])
    >>> RMSprop(lr=0.1, alpha=0.0).step(W, np.array([4.0]))       # v = 16: W <- 1 - 0.1 * 4 / 4
    >>> W.round(6)
    array([0.9])
    """

    v: Any

    name = "rmsprop"
    _buffers = ("v",)
    _hyper = ("lr", "alpha", "eps", "weight_decay")

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self._set_alpha(alpha, eps)
        super().__init__(lr, weight_decay)

    def _set_alpha(self, alpha: float, eps: float) -> None:
        self.alpha = _check_rate("alpha", alpha, inclusive_low=True, high=1.0)
        self.eps = _check_rate("eps", eps)

    def _set_hyper(self, hyper: dict[str, Any]) -> None:
        self._set_alpha(hyper["alpha"], hyper["eps"])
        super()._set_hyper(hyper)

    def _check_buffers(self, arrays: Mapping[str, Any], t: int) -> str | None:
        if np.any(arrays["v"] < 0):
            return "optimiser state v (RMSprop's mean square) must be >= 0"
        return None

    def _update(self, params: NDArray[Any], grad: NDArray[Any]) -> None:
        a, buf, v = self.alpha, self._scratch, self.v
        # v <- a v + (1 - a) g^2
        v *= a
        np.multiply(grad, grad, out=buf)
        buf *= 1.0 - a
        v += buf
        # W <- W - eta g / (sqrt(v) + eps)
        np.sqrt(v, out=buf)
        buf += self.eps
        np.divide(grad, buf, out=buf)
        buf *= self.lr
        params -= buf


#: every optimiser by name (a class, or a class with preset options)
OPTIMIZERS = Registry("optimiser")
OPTIMIZERS.register("gd", GD)
OPTIMIZERS.register("sgd", SGD)
OPTIMIZERS.register("momentum", functools.partial(SGD, momentum=0.9))
OPTIMIZERS.register("nesterov", functools.partial(SGD, momentum=0.9, nesterov=True))
OPTIMIZERS.register("adam", Adam)
OPTIMIZERS.register("adamw", AdamW)
OPTIMIZERS.register("rmsprop", RMSprop)

OPTIMIZER_NAMES = OPTIMIZERS.names()


def get_optimizer(spec: Any = "sgd", **kwargs: Any) -> Optimizer:
    """Return an optimiser from a name, or ``spec`` itself if it is already an Optimizer.

    Parameters
    ----------
    spec : str or Optimizer
        One of ``OPTIMIZER_NAMES``: ``"gd"`` (full-batch gradient descent), ``"sgd"`` (mini-batch, no
        momentum), ``"momentum"`` (SGD with classical momentum, mu = 0.9 unless given), ``"nesterov"``
        (SGD with Nesterov momentum, mu = 0.9 unless given), ``"adam"``, ``"adamw"``, ``"rmsprop"``;
        or an Optimizer instance.
    **kwargs
        Constructor arguments (``lr``, ``momentum``, ``weight_decay``, ``beta1``, ...). Entries that
        are None are ignored, so callers can pass through options the user left unset.

    Returns
    -------
    Optimizer

    Examples
    --------
    >>> get_optimizer("adam", lr=0.01)
    Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0)
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
    make = OPTIMIZERS.get(name if name in OPTIMIZERS else spec)
    try:
        return make(**kwargs)
    except TypeError as e:
        raise ConfigError(f"bad option for optimiser {name!r}: {e}") from None
