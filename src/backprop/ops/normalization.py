"""Normalisation layers: LayerNorm and BatchNorm, both y = weight * xhat + bias on a standardised xhat.

The standardisation along one axis of x (N values per group: the features of a row for LayerNorm,
the samples of a feature for BatchNorm in training mode) is written once, with all its derivatives:

    mu  = 1/N sum x                    var = 1/N sum (x - mu)^2          (the biased variance)
    s   = 1 / sqrt(var + eps)          xhat = (x - mu) s

First order. With t a tangent of x, R{mu} = mean(t) and R{var} = 2 mean((x - mu) t) (mean(x - mu) = 0),
so R{s} = -s^3 mean((x - mu) t) = -s^2 r with r = mean(xhat t), and

    R{xhat} = s (t - mean(t) - xhat r) = s (t - mean(t) - xhat mean(xhat t))

i.e. dxhat/dx = s (I - 1/N 1 1^T - 1/N xhat xhat^T) within a group: a SYMMETRIC matrix, so the VJP
is the same map applied to g = dE/dxhat:

    dE/dx = s (g - mean(g) - xhat c),   c = mean(g xhat)

Second order. Differentiating dE/dx = s u, u = g - mean(g) - xhat c, along (t, R{g}):
R{s} u = -s^2 r (dE/dx / s) = -s r dE/dx, and s R{u} = s (R{g} - mean(R{g}) - xhat mean(R{g} xhat))
- s (R{xhat} c + xhat mean(g R{xhat})), whose first part is the first-order map applied to R{g}:

    R{dE/dx} = s (R{g} - mean(R{g}) - xhat mean(R{g} xhat))  -  s (r dE/dx + R{xhat} c + xhat mean(g R{xhat}))

With fixed statistics (BatchNorm in evaluation mode: mu, var are the running ones) the map is
affine per feature: dxhat/dx = s, R{xhat} = s t, dE/dx = s g, R{dE/dx} = s R{g}.

The affine part y = weight * xhat + bias (one weight and bias per feature) gives, summing over the
samples n of the batch,

    dE/dweight = sum_n dE/dy * xhat,   dE/dbias = sum_n dE/dy,   g = dE/dxhat = weight * dE/dy
    R{y} = R{weight} xhat + weight R{xhat} + R{bias}
    R{g} = R{weight} dE/dy + weight R{dE/dy}
    R{dE/dweight} = sum_n (R{dE/dy} xhat + dE/dy R{xhat}),   R{dE/dbias} = sum_n R{dE/dy}

How the batch coupling enters the second-order passes: in training mode BatchNorm's statistics are
means over the samples, so the group of the standardisation is a column of the batch and every
formula above sums over the batch inside the op. The passes of the whole-batch objective therefore
differentiate the coupling exactly (gradient, HVP and Hessian need nothing else); what treats
samples one by one is refused for such an op (``batch_coupled``).
"""
from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np
from numpy.typing import DTypeLike

from ..errors import ConfigError, InputError
from .arrays import Array, Maybe
from .base import At, Op, Param, State, accumulate, write
from .fields import Flag, Number, Size
from .registry import register


def _mean(a: Array, axis: int) -> Array:
    return a.mean(axis=axis, keepdims=True)


class Standardized:
    """xhat = (x - mu) s of x (B, N) or its tangents (m, B, N), with its first- and second-order maps.

    ``axis`` is the axis of the group (-1: over the features of each row, -2: over the samples of
    each feature), counted from the end so that the same axis serves x and tangents with a leading
    axis of m directions. With ``axis=None`` the statistics ``mu`` and ``var`` are given (fixed).

    Parameters
    ----------
    x : ndarray
        The input (B, N).
    axis : {-1, -2} or None
        The axis of a group, or None for fixed statistics.
    eps : float
        Added to the variance before the square root.
    mu, var : ndarray, optional
        The fixed statistics (with ``axis=None``).

    Examples
    --------
    >>> st = Standardized(np.array([[1.0, 3.0]]), -1, 0.0)
    >>> st.xhat, st.d(np.array([[1.0, 0.0]]))
    (array([[-1.,  1.]]), array([[0., 0.]]))
    """

    def __init__(self, x: Array, axis: int | None, eps: float, mu: Array | None = None, var: Array | None = None):
        self.axis = axis
        if axis is not None:
            mu = _mean(x, axis)
            xc = x - mu
            var = _mean(xc * xc, axis)
        else:
            assert mu is not None and var is not None, "fixed statistics need mu and var"
            xc = x - mu
        self.mu, self.var = mu, var
        self.s = 1.0 / np.sqrt(var + eps)
        self.xhat = xc * self.s

    # dxhat/dx u = s (u - mean(u) - xhat mean(xhat u)): the JVP (u = t) and the VJP (u = g) alike
    def d(self, u: Maybe) -> Maybe:
        """dxhat/dx u (the JVP of a tangent, the VJP of an adjoint: the map is symmetric); None for None.

        Parameters
        ----------
        u : ndarray or None
            A tangent R{x} or an adjoint dE/dxhat, (B, N) or (m, B, N).

        Returns
        -------
        ndarray or None
            s (u - mean(u) - xhat mean(xhat u)) over each group (s u with fixed statistics).

        Examples
        --------
        >>> st = Standardized(np.array([[1.0, 2.0, 4.0]]), -1, 0.0)
        >>> np.round(st.d(np.array([[1.0, 0.0, 0.0]])), 4)
        array([[ 0.2291, -0.3436,  0.1145]])
        """
        if u is None:
            return None
        if self.axis is None:
            return self.s * u
        a = self.axis
        return self.s * (u - _mean(u, a) - self.xhat * _mean(self.xhat * u, a))

    # R{dE/dx} = d(R{g}) - s (r dE/dx + R{xhat} c + xhat mean(g R{xhat})),  r = mean(xhat t), c = mean(g xhat)
    def d_tangent(self, g: Array, tg: Maybe, t: Maybe, th: Maybe, dx: Maybe) -> Maybe:
        """R{dE/dx} from g = dE/dxhat, its tangent ``tg``, the input tangent ``t`` and th = R{xhat} = d(t).

        Parameters
        ----------
        g : ndarray
            dE/dxhat (B, N).
        tg : ndarray or None
            R{g} (m, B, N).
        t : ndarray or None
            R{x} (m, B, N).
        th : ndarray or None
            R{xhat} = ``d(t)``, given with ``t``.
        dx : ndarray or None
            dE/dx = ``d(g)``, given with ``t``.

        Returns
        -------
        ndarray or None
            R{dE/dx} (m, B, N), None when zero.

        Examples
        --------
        >>> st = Standardized(np.array([[1.0, 2.0, 4.0]]), -1, 0.0)
        >>> t, g = np.array([[[1.0, 0.0, 0.0]]]), np.array([[0.0, 1.0, 0.0]])
        >>> np.round(st.d_tangent(g, None, t, st.d(t), st.d(g)), 4)
        array([[[-0.18  ,  0.0982,  0.0818]]])
        """
        out = self.d(tg)
        if t is None or self.axis is None:
            return out
        a, xhat = self.axis, self.xhat
        assert th is not None and dx is not None, "th = d(t) and dx = d(g) are given with t"
        r, c = _mean(xhat * t, a), _mean(g * xhat, a)
        return accumulate(out, -self.s * (r * dx + th * c + xhat * _mean(g * th, a)))


def _check_size(name: str, size: object) -> int:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"{name} size must be an integer >= 1; got {size!r}")
    return int(size)


def _check_eps(name: str, eps: object) -> float:
    if (not isinstance(eps, (int, float, np.floating, np.integer)) or isinstance(eps, bool)
            or not np.isfinite(eps) or eps <= 0):
        raise ConfigError(f"{name} eps must be a finite number > 0 (e.g. 1e-5); got {eps!r}")
    return float(eps)


class AffineNormalization:
    """The passes of y = weight * xhat + bias, xhat the standardisation chosen by ``standardize``.

    Mixed into the ops (before :class:`Op`), so each normalisation op only chooses its statistics.

    Parameters
    ----------
    size : int
        Number of features.
    eps : float
        Added to the variance before the square root.
    affine : bool
        Learn ``weight`` and ``bias`` (one per feature).

    Examples
    --------
    >>> LayerNorm(3, elementwise_affine=False).param_specs
    ()
    """

    # declared by Op, which the ops mix this into
    op_name: str
    param_specs: tuple[Param, ...]

    def __init__(self, size: int, eps: float, affine: bool):
        name = self.op_name
        self.size, self.eps = _check_size(name, size), _check_eps(name, eps)
        self.param_specs = (Param("weight", (self.size,)), Param("bias", (self.size,))) if affine else ()

    def standardize(self, x: Array) -> Standardized:
        """The standardisation of ``x`` (B, size): the op's choice of statistics.

        Parameters
        ----------
        x : ndarray
            The input (B, size).

        Returns
        -------
        Standardized
            xhat and its maps (over each row for LayerNorm; over the batch, or the running statistics, for
            BatchNorm).

        Examples
        --------
        >>> LayerNorm(2).standardize(np.array([[1.0, 3.0]])).mu
        array([[2.]])
        """
        raise NotImplementedError

    def init_params(self, rng: np.random.Generator, views: Sequence[Array]) -> None:
        """weight ones and bias zeros, in place in ``views`` (none without ``affine``).

        Parameters
        ----------
        rng : numpy.random.Generator
            Not used (the initial values are fixed).
        views : tuple of ndarray
            (weight, bias), or empty without ``affine``.

        Examples
        --------
        >>> w, b = np.empty(2), np.empty(2)
        >>> LayerNorm(2).init_params(np.random.default_rng(0), (w, b)); w, b
        (array([1., 1.]), array([0., 0.]))
        """
        if views:
            views[0][...] = 1
            views[1][...] = 0

    # y = weight * xhat + bias
    def forward(self, xs: Sequence[Array], p: Sequence[Array] | None) -> tuple[Array, Standardized]:
        """``Op.forward`` of the normalisation ops: y = weight * xhat + bias (y = xhat without ``affine``).

        Parameters
        ----------
        xs : list of ndarray
            The input x (B, size).
        p : tuple of ndarray or None
            (weight, bias), or None without ``affine``.

        Returns
        -------
        y : ndarray
            (B, size).
        cache : Standardized
            The standardisation, for the other passes.

        Examples
        --------
        >>> y, st = LayerNorm(2).forward([np.array([[1.0, 3.0]])], (np.ones(2), np.zeros(2)))
        >>> np.round(y, 4), st.mu
        (array([[-1.,  1.]]), array([[2.]]))
        """
        st = self.standardize(xs[0])
        if p is None:
            return st.xhat, st
        return st.xhat * p[0] + p[1], st

    # dE/dweight = sum_n dE/dy xhat,  dE/dbias = sum_n dE/dy,  dE/dx = dxhat/dx^T (weight dE/dy)
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        """``Op.vjp`` of the normalisation ops: dE/dweight and dE/dbias into ``gp``, dE/dx returned.

        Parameters
        ----------
        at : At
            The point of the forward pass (its cache the ``Standardized``).
        dy : ndarray
            dE/dy (B, size).
        gp : tuple of ndarray or None
            Views that receive (dE/dweight, dE/dbias), overwritten; None: not wanted.
        need : list of bool
            Whether dE/dx is wanted.

        Returns
        -------
        list of ndarray or None
            [dE/dx (B, size)], or [None].

        Examples
        --------
        >>> op, x, p = LayerNorm(2), np.array([[1.0, 3.0]]), (np.ones(2), np.zeros(2))
        >>> y, st = op.forward([x], p)
        >>> gw, gb = np.empty(2), np.empty(2)
        >>> op.vjp(At([x], y, st, p), np.array([[1.0, 0.0]]), gp=(gw, gb), need=[False])
        [None]
        >>> np.round(gw, 4), gb                       # sum_n dE/dy xhat, sum_n dE/dy
        (array([-1.,  0.]), array([1., 0.]))
        """
        st, p = cast(Standardized, at.cache), cast("Sequence[Array] | None", at.p)
        if gp is not None:
            np.sum(dy * st.xhat, axis=0, out=gp[0])
            np.sum(dy, axis=0, out=gp[1])
        if not need[0]:
            return [None]
        return [st.d(dy if p is None else dy * p[0])]

    # R{y} = R{weight} xhat + weight R{xhat} + R{bias},  R{xhat} = dxhat/dx R{x}
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Array] | None) -> Maybe:
        """``Op.jvp`` of the normalisation ops: R{y} from R{x} and R{weight}, R{bias}.

        Parameters
        ----------
        at : At
            The point of the forward pass.
        txs : list of ndarray or None
            [R{x}] (m, B, size), or [None].
        tp : tuple of ndarray or None
            (R{weight}, R{bias}), each (m, size), or None.

        Returns
        -------
        ndarray or None
            R{y} (m, B, size), None when zero.

        Examples
        --------
        >>> op, x, p = LayerNorm(2), np.array([[1.0, 3.0]]), (np.ones(2), np.zeros(2))
        >>> y, st = op.forward([x], p)
        >>> op.jvp(At([x], y, st, p), [None], (np.zeros((1, 2)), np.ones((1, 2))))     # R{bias}
        array([[[1., 1.]]])
        """
        st, p = cast(Standardized, at.cache), cast("Sequence[Array] | None", at.p)
        th = st.d(txs[0])
        if p is None:
            return th
        out = None if th is None else th * p[0]
        if tp is not None:
            tw, tb = tp
            out = accumulate(out, tw[:, None, :] * st.xhat + tb[:, None, :])
        return out

    # R{dE/dweight} = sum_n (R{dE/dy} xhat + dE/dy R{xhat}),  R{dE/dbias} = sum_n R{dE/dy},
    # R{dE/dx} = the standardisation's second-order map with g = weight dE/dy, R{g} = R{weight} dE/dy + weight R{dE/dy}
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Array] | None, *, tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        """``Op.vjp_tangent`` of the normalisation ops: R{dE/dweight}, R{dE/dbias} into ``tgp``, R{dE/dx} returned.

        Parameters
        ----------
        at : At
            The point of the forward pass.
        dy : ndarray
            dE/dy (B, size).
        tdy : ndarray or None
            R{dE/dy} (m, B, size).
        txs : list of ndarray or None
            [R{x}] (m, B, size).
        ty : ndarray or None
            R{y} (not needed here).
        tp : tuple of ndarray or None
            (R{weight}, R{bias}), or None.
        tgp : tuple of ndarray or None
            Views (m, size) that receive (R{dE/dweight}, R{dE/dbias}), overwritten; None: not wanted.
        need : list of bool
            Whether R{dE/dx} is wanted.

        Returns
        -------
        list of ndarray or None
            [R{dE/dx} (m, B, size)], or [None].

        Examples
        --------
        >>> op, x, p = LayerNorm(2), np.array([[1.0, 3.0]]), (np.ones(2), np.zeros(2))
        >>> y, st = op.forward([x], p)
        >>> tgw, tgb = np.empty((1, 2)), np.empty((1, 2))
        >>> op.vjp_tangent(At([x], y, st, p), np.array([[1.0, 0.0]]), np.array([[[1.0, 2.0]]]), [None], None,
        ...                None, tgp=(tgw, tgb), need=[False])
        [None]
        >>> tgb, np.round(tgw, 4)                     # sum_n R{dE/dy}, sum_n R{dE/dy} xhat
        (array([[1., 2.]]), array([[-1.,  2.]]))
        """
        st, p = cast(Standardized, at.cache), cast("Sequence[Array] | None", at.p)
        t = txs[0]
        th = st.d(t)
        if tgp is not None:
            tgw, tgb = tgp
            terms = None if tdy is None else tdy * st.xhat          # R{dE/dy} xhat + dE/dy R{xhat}, per sample
            if th is not None:
                terms = accumulate(terms, dy * th)
            write(tgw, None if terms is None else terms.sum(axis=1))
            write(tgb, None if tdy is None else tdy.sum(axis=1))
        if not need[0]:
            return [None]
        if p is None:
            g, tg = dy, tdy
        else:
            g = dy * p[0]
            tg = None if tdy is None else tdy * p[0]
            if tp is not None:
                tg = accumulate(tg, tp[0][:, None, :] * dy)
        dx = None if t is None or st.axis is None else st.d(g)
        return [st.d_tangent(g, tg, t, th, dx)]

    def input_width(self, k: int) -> int:
        """``Op.input_width``: the input has the op's width.

        Parameters
        ----------
        k : int
            The input (0).

        Returns
        -------
        int
            ``size``.

        Examples
        --------
        >>> LayerNorm(3).input_width(0)
        3
        """
        return self.size


@register("layer_norm")
class LayerNorm(AffineNormalization, Op):
    """Layer normalisation: each row standardised over its ``size`` features, then y = weight * xhat + bias.

    Matches ``torch.nn.LayerNorm(size, eps, elementwise_affine)`` on inputs of shape (B, size).

    Parameters
    ----------
    size : int
        Width of the input (and output) node.
    eps : float
        Added to the variance before the square root.
    elementwise_affine : bool
        Learn ``weight`` (init ones) and ``bias`` (init zeros), one per feature; neither is L2-regularised.

    Examples
    --------
    >>> import numpy as np
    >>> y, _ = LayerNorm(3).forward([np.array([[1.0, 2.0, 3.0]])], (np.ones(3), np.zeros(3)))
    >>> np.round(y, 4)
    array([[-1.2247,  0.    ,  1.2247]])
    """

    config_fields = (Size("size"), Number("eps", lo=0, lo_open=True, optional=True),
                     Flag("elementwise_affine", optional=True))

    def __init__(self, size: int, eps: float = 1e-5, elementwise_affine: bool = True):
        if not isinstance(elementwise_affine, (bool, np.bool_)):
            raise ConfigError(f"layer_norm elementwise_affine must be True or False; got {elementwise_affine!r}")
        self.elementwise_affine = bool(elementwise_affine)
        super().__init__(size, eps, self.elementwise_affine)

    def standardize(self, x: Array) -> Standardized:
        return Standardized(x, -1, self.eps)

    def describe(self) -> str:
        return f"layer_norm {self.size}"


@register("batch_norm")
class BatchNorm(AffineNormalization, Op):
    """Batch normalisation of each feature, as ``torch.nn.BatchNorm1d(size, eps, momentum)`` on (B, size).

    In training mode (``net.train()``) each feature is standardised over the samples of the batch with
    the biased variance, so the rows of the output depend on each other (``batch_coupled``); in
    evaluation mode (the default) with ``running_mean`` and ``running_var``, an affine map per feature.
    After a training-mode forward that drives an update, ``update_state`` moves the running statistics
    as torch does: running = (1 - momentum) running + momentum batch, with the unbiased batch variance,
    and counts ``num_batches_tracked`` (momentum None: the cumulative average over the batches seen).

    Parameters
    ----------
    size : int
        Number of features.
    eps : float
        Added to the variance before the square root.
    momentum : float in [0, 1] or None
        Weight of the current batch in the running statistics.

    Examples
    --------
    >>> import numpy as np
    >>> op = BatchNorm(2); op.training = True
    >>> y, _ = op.forward([np.array([[0.0, 1.0], [2.0, 5.0]])], (np.ones(2), np.zeros(2)))
    >>> np.round(y, 4)
    array([[-1., -1.],
           [ 1.,  1.]])
    """

    has_modes = True
    config_fields = (Size("size"), Number("eps", lo=0, lo_open=True, optional=True),
                     Number("momentum", lo=0, hi=1, nullable=True))

    def __init__(self, size: int, eps: float = 1e-5, momentum: float | None = 0.1):
        if momentum is not None and (not isinstance(momentum, (int, float, np.floating, np.integer))
                                     or isinstance(momentum, bool) or not 0 <= momentum <= 1):
            raise ConfigError(f"batch_norm momentum must be a number in [0, 1] or None; got {momentum!r}")
        self.momentum = None if momentum is None else float(momentum)
        super().__init__(size, eps, True)
        self.training = False
        self.state_specs = (State("running_mean", (self.size,)), State("running_var", (self.size,)),
                            State("num_batches_tracked", (), "int"))
        self.init_state(np.float64)

    @property
    def batch_coupled(self) -> bool:
        """In training mode: each output row depends on the other rows (batch statistics)."""
        return bool(self.training)

    # running_mean zeros, running_var ones, num_batches_tracked 0 (as torch)
    def init_state(self, dtype: DTypeLike) -> None:
        super().init_state(dtype)
        self.state["running_var"][...] = 1

    def standardize(self, x: Array) -> Standardized:
        if self.training:
            if x.shape[0] < 2:
                raise InputError(f"batch_norm in training mode needs a batch of at least 2 samples to take batch "
                                 f"statistics; got {x.shape[0]} (call net.eval() to use the running statistics)")
            return Standardized(x, -2, self.eps)
        return Standardized(x, None, self.eps, mu=self.state["running_mean"].astype(x.dtype, copy=False),
                            var=self.state["running_var"].astype(x.dtype, copy=False))

    # running = (1 - m) running + m batch (the unbiased batch variance), m = momentum or 1 / (batches seen)
    def update_state(self, at: At) -> None:
        st = cast(Standardized, at.cache)
        if st.axis is None:         # an evaluation-mode forward: no batch statistics to take
            return
        n = at.xs[0].shape[0]
        count = int(self.state["num_batches_tracked"]) + 1
        m = 1.0 / count if self.momentum is None else self.momentum
        mean = (1 - m) * self.state["running_mean"] + m * st.mu[0]
        var = (1 - m) * self.state["running_var"] + m * (st.var[0] * (n / (n - 1)))
        self.state["running_mean"][...] = mean
        self.state["running_var"][...] = var
        self.state["num_batches_tracked"][...] = count

    def describe(self) -> str:
        return f"batch_norm {self.size}"
