"""Multiplicative units: x_i = prod_l z_l^(alpha_li), the product of some earlier units' outputs.

With all exponents 1 and two factors this is o = y_j y_l, whose backward pass is
dE/dy_j = y_l dE/do and dE/dy_l = y_j dE/do. In general

    dx_i/dz_j = alpha_ji z_j^(alpha_ji - 1) prod_{l != j} z_l^(alpha_li)

Domain: integer exponents >= 1 accept any real z; negative integer exponents need z != 0;
non-integer exponents need z > 0 (a negative number has no real non-integer power). An input
outside the domain raises InputError naming the unit. An exponent may not be 0.

The factors of all units of one op are laid out in a (units, K) table, K the most factors
of any unit, padded with z = 1, alpha = 0, so that every pass is a handful of array
operations over the whole batch and all units at once (no loop over units or instances).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, cast

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError, InputError
from .arrays import Array, Maybe
from .base import At, Op, accumulate
from .gather import GatheredUnits, padded_slots
from .fields import Numbers
from .registry import register


#: the forward cache: the padded factors Z, P = Z^A, dP and the partials D, each (B, units, K)
Cache = tuple[Array, Array, Array, Array]


def exclusive_product(P: Array) -> Array:
    """E[..., a] = prod over b != a of P[..., b] along the last axis, without dividing (zeros are fine).

    Parameters
    ----------
    P : ndarray
        Factors (..., K).

    Returns
    -------
    ndarray
        The products of the other factors, same shape.

    Examples
    --------
    >>> exclusive_product(np.array([2.0, 0.0, 5.0]))
    array([ 0., 10.,  0.])
    """
    pre = np.ones_like(P)
    suf = np.ones_like(P)
    if P.shape[-1] > 1:
        pre[..., 1:] = np.cumprod(P[..., :-1], axis=-1)
        suf[..., :-1] = np.cumprod(P[..., :0:-1], axis=-1)[..., ::-1]
    return pre * suf


def _power(v: Array, e: Array, where: Array) -> Array:
    """v ** e where ``where`` holds, 0 elsewhere (so no 0 ** negative is ever evaluated)."""
    out = np.zeros(np.broadcast_shapes(v.shape, e.shape), dtype=v.dtype)
    np.power(v, e, out=out, where=np.broadcast_to(where, out.shape))
    return out


def factor_partials(Z: Array, A: Array, mask: Array | None = None) -> tuple[Array, Array, Array]:
    """The factors P_f = z_f^alpha_f, their derivatives dP_f and the partials D_f = dx/dz_f of x = prod_f P_f.

    dP_f = alpha_f z_f^(alpha_f - 1);  D_f = dP_f prod_{g != f} P_g.  ``Z`` is (..., K) with the
    factors of a unit on the last axis, ``A`` their exponents; slots outside ``mask`` (padding) have P = 1.

    Parameters
    ----------
    Z : ndarray
        Factor values (..., K).
    A : ndarray
        Exponents (K,) or broadcastable to ``Z``.
    mask : ndarray of bool, optional
        The slots in use (default all).

    Returns
    -------
    P, dP, D : ndarray
        Each the shape of ``Z``.

    Examples
    --------
    >>> P, dP, D = factor_partials(np.array([2.0, 3.0]), np.array([2.0, 1.0]))
    >>> P, dP, D
    (array([4., 3.]), array([4., 1.]), array([12.,  4.]))
    """
    if mask is None:
        mask = np.ones(Z.shape[-1], dtype=bool)
    P = _power(Z, A, mask)
    P[..., ~mask] = 1
    others = exclusive_product(P)
    dP = A * _power(Z, A - 1, mask)            # d(z^alpha)/dz = alpha z^(alpha - 1)
    return P, dP, dP * others


@register("product")
class Product(GatheredUnits, Op):
    """Units x_u = prod over the factors f of u of z_f^alpha_f, z_f read from earlier nodes.

    Parameters
    ----------
    in_widths : list of int
        Widths of the input nodes.
    unit, src, col : list of int
        Factor f of unit ``unit[f]`` is column ``col[f]`` of input ``src[f]``; factors of one unit
        keep the order in which they are listed.
    alpha : list of float, optional
        Exponent of each factor (default all 1).
    n_units : int, optional
        Number of units (default ``max(unit) + 1``).
    names, input_names : list of str, optional
        Labels of the units and of node 0's columns (for reports only).

    Examples
    --------
    >>> op = Product([2], unit=[0, 0], src=[0, 0], col=[0, 1], alpha=[2.0, 1.0])
    >>> op.forward([np.array([[3.0, 5.0]])], None)[0]
    array([[45.]])
    """


    config_fields = (GatheredUnits.unit_fields[:4] + (Numbers("alpha", length="unit", optional=True),)
                     + GatheredUnits.unit_fields[4:] + GatheredUnits.name_fields)

    def __init__(self, in_widths: Sequence[int], unit: ArrayLike, src: ArrayLike, col: ArrayLike,
                 alpha: ArrayLike | None = None, n_units: int | None = None, names: Sequence[str] | None = None,
                 input_names: Sequence[str] | None = None):
        self._set_units(in_widths, unit, src, col, n_units, "product", "factor")
        a = np.ones(self.unit.size) if alpha is None else np.asarray(alpha, dtype=np.float64)
        if a.shape != self.unit.shape or not np.all(np.isfinite(a)) or np.any(a == 0):
            raise ConfigError("product exponents alpha must be finite, non-zero and one per factor; "
                              f"got {np.asarray(alpha).tolist()!r:.120}")
        self.alpha = a
        self._set_names(names, input_names)
        self.slot, self.K, self.table, self.mask = padded_slots(self.unit, self.size)
        A = np.zeros((self.size, self.K))
        A[self.unit, self.slot] = a
        self.A = A
        # domain: non-integer exponents need z > 0, negative integer exponents z != 0
        integer = a == np.round(a)
        self.need_positive = np.flatnonzero(~integer)
        self.need_nonzero = np.flatnonzero(integer & (a < 0))

    # ---- the padded layout ------------------------------------------------------------------
    def _pad(self, V: Array, fill: float) -> Array:
        """(..., F) factor values -> (..., units, K) table, padding with ``fill``."""
        Vp = np.full(V.shape[:-1] + (self.size, self.K), fill, dtype=V.dtype)
        Vp[..., self.unit, self.slot] = V
        return Vp

    def _unpad(self, Vp: Array) -> Array:
        return Vp[..., self.unit, self.slot]

    def _check_domain(self, V: Array) -> None:
        rules: tuple[tuple[Array, Callable[[Array], Array], str], ...] = (
            (self.need_positive, lambda v: v <= 0, "> 0"), (self.need_nonzero, lambda v: v == 0, "!= 0"))
        for idx, bad, rule in rules:
            if idx.size:
                hit = bad(V[:, idx])
                if hit.any():
                    n, f = np.argwhere(hit)[0]
                    f = idx[f]
                    who = self.names[self.unit[f]] if self.names else f"unit {self.unit[f]}"
                    raise InputError(f"product {who!r}: factor {int(self.slot[f]) + 1} has exponent {self.alpha[f]:g} "
                                     f"and value {V[n, f]:g} (row {n}); this exponent needs inputs {rule}")

    # ---- the four passes --------------------------------------------------------------------
    # x_u = prod_f z_f^alpha_f
    def forward(self, xs: Sequence[Array], p: Any) -> tuple[Array, Cache]:
        V = cast(Array, self.gather.take(xs))
        self._check_domain(V)
        Z = self._pad(V, 1)
        P, dP, D = factor_partials(Z, self.A.astype(V.dtype), self.mask)
        return P.prod(axis=-1), (Z, P, dP, D)

    # dE/dz_f = dE/dx_u dx_u/dz_f
    def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        cache = cast(Cache, at.cache)
        if not any(need):
            return [None] * self.arity
        D = cache[3]
        dV = self._unpad(D * dy[..., None])
        return self.gather.put(dV, need)

    # R{x_u} = sum_f dx_u/dz_f R{z_f}
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Maybe] | None) -> Maybe:
        cache = cast(Cache, at.cache)
        tV = self.gather.take(txs)
        if tV is None:
            return None
        return np.einsum("buk,mbuk->mbu", cache[3], self._pad(tV, 0))

    # R{dE/dz_f} = R{dE/dx_u} dx_u/dz_f + dE/dx_u sum_g (d2 x_u / dz_f dz_g) R{z_g}
    def vjp_tangent(self, at: At, dy: Array, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe, tp: Sequence[Maybe] | None, *,
                    tgp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        cache = cast(Cache, at.cache)
        if not any(need):
            return [None] * self.arity
        Z, P, dP, D = cache
        out = None if tdy is None else D * tdy[..., None]
        tV = self.gather.take(txs)
        if tV is not None:
            tZ = self._pad(tV, 0)
            RD = self._tangent_of_D(Z, P, dP, tZ)
            out = accumulate(out, RD * dy[..., None])
        if out is None:
            return [None] * self.arity
        return self.gather.put(self._unpad(out), need)

    def _tangent_of_D(self, Z: Array, P: Array, dP: Array, tZ: Array) -> Array:
        """R{dx_u/dz_a} for every slot a: the Hessian of x_u over its factors applied to R{z}.

        d2x/dz_a^2 = alpha_a (alpha_a - 1) z_a^(alpha_a - 2) prod_{b != a} P_b;
        d2x/dz_a dz_b = dP_a dP_b prod_{h != a, b} P_h  (a != b).
        """
        A = self.A.astype(Z.dtype)
        c2 = A * (A - 1)
        d2P = c2 * _power(Z, A - 2, self.mask & (c2 != 0))
        others = exclusive_product(P)
        RD = (d2P * others) * tZ                      # the diagonal term
        for a in range(self.K):                       # K = most factors per unit: a small constant
            Pa = P.copy()
            Pa[..., a] = 1
            Ea = exclusive_product(Pa)                # prod over h != a, b
            Ea[..., a] = 0
            s = np.einsum("buk,mbuk->mbu", dP * Ea, tZ)
            RD[..., a] += dP[..., a] * s
        return RD

    def input_width(self, k: int) -> int:
        return self.in_widths[k]

    def describe(self) -> str:
        return f"product of {self.unit.size} factors -> {self.size}"
