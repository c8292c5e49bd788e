"""User vector activations over a group of units: y = f(z), every output may depend on every input.

For a vector activation the backward pass sums over the outputs,

    dE/dz_i = sum_j dE/dy_j dy_j/dz_i      (dE/dz = J^T dE/dy)

and the second-order terms add the curvature of f:

    R{dE/dz} = J^T R{dE/dy} + (sum_j dE/dy_j d2y_j/dz dz) R{z}

A user function is given either with its Jacobian, or with Jacobian-vector and
vector-Jacobian products; the second-order terms need its Hessian (or the contraction
``vhp``) and are only asked for by Hessians and Hessian-vector products.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, cast

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from .activations import UserFunctions
from .arrays import Maybe
from .base import At, Op, accumulate
from .fields import Size, Text
from .registry import register

#: a user's function of (N, n) arrays
Fn = Callable[..., Any]
#: the point the op was evaluated at: (xs, y, J, p), J the Jacobian (None for a function given by jvp/vjp)
_At = tuple[list[NDArray[Any]], NDArray[Any], Maybe, Any]

class VectorFunction(UserFunctions):
    """A vector function y = f(z) of a group of units, with its derivatives.

    Every callable acts on 2-D arrays whose rows are instances: ``z`` (N, n) and ``y = f(z)`` (N, n).

    Parameters
    ----------
    name : str
    f : callable
        ``f(z) -> y``.
    jacobian : callable, optional
        ``jacobian(z, y) -> J`` of shape (N, n, n), ``J[:, j, i] = dy_j/dz_i``.
    jvp, vjp : callable, optional
        ``jvp(z, y, tz) -> J tz`` and ``vjp(z, y, dy) -> J^T dy``, both (N, n); an alternative to
        ``jacobian`` (give both).
    hessian : callable, optional
        ``hessian(z, y) -> H`` of shape (N, n, n, n), ``H[:, j, i, k] = d2y_j/dz_i dz_k``.
    vhp : callable, optional
        ``vhp(z, y, dy, tz) -> sum_j dy_j H_j tz`` (N, n); an alternative to ``hessian``.

    Examples
    --------
    >>> square = VectorFunction("square", lambda z: z * z, jacobian=lambda z, y: 2 * z[:, :, None] * np.eye(2))
    >>> square.f(np.array([[1.0, 3.0]])), square.has_second_order
    (array([[1., 9.]]), False)
    """

    def __init__(self, name: str, f: Fn, jacobian: Fn | None = None, jvp: Fn | None = None, vjp: Fn | None = None,
                 hessian: Fn | None = None, vhp: Fn | None = None):
        self.name, self._f = name, f
        self._jac, self._jvp, self._vjp = jacobian, jvp, vjp
        self._hess, self._vhp = hessian, vhp

    @property
    def has_second_order(self) -> bool:
        """The function has second derivatives (``hessian`` or ``vhp``): Hessians and HVPs can use it."""
        return self._hess is not None or self._vhp is not None

    def _checked(self, what: str, out: Any, shape: tuple[int, ...]) -> NDArray[Any]:
        out = np.asarray(out)
        if out.shape != shape:
            raise ConfigError(f"vector activation {self.name!r}: {what} returned shape {out.shape}; expected {shape}")
        return out

    def f(self, z: NDArray[Any]) -> NDArray[Any]:
        """y = f(z) (N, n); ConfigError if the user's function returns another shape."""
        return self._checked("f", self._f(z), z.shape)

    def jacobian(self, z: NDArray[Any], y: NDArray[Any]) -> NDArray[Any] | None:
        """J (N, n, n) with ``J[:, j, i] = dy_j/dz_i``; None when the function was given by jvp and vjp."""
        if self._jac is None:
            return None
        return self._checked("jacobian", self._jac(z, y), z.shape + (z.shape[-1],))

    @staticmethod
    def _rows(t: NDArray[Any], *arrays: NDArray[Any]) -> list[NDArray[Any]]:
        """Flatten the leading (m,) axis of a tangent into rows, repeating the (N, n) arrays to match."""
        m = t.shape[0]
        return [np.broadcast_to(a, (m,) + a.shape).reshape(-1, a.shape[-1]) for a in arrays]

    # R{y} = J R{z}
    def jvp(self, z: NDArray[Any], y: NDArray[Any], J: NDArray[Any] | None, tz: NDArray[Any]) -> NDArray[Any]:
        """R{y} = J R{z} for tangents ``tz`` (m, N, n)."""
        if J is not None:
            return np.einsum("bji,mbi->mbj", J, tz)
        assert self._jvp is not None, "vector_activation requires jacobian= or both jvp= and vjp="
        zz, yy = self._rows(tz, z, y)
        return self._checked("jvp", self._jvp(zz, yy, tz.reshape(zz.shape)), zz.shape).reshape(tz.shape)

    # dE/dz = J^T dE/dy (also for tangents with a leading axis)
    def vjp(self, z: NDArray[Any], y: NDArray[Any], J: NDArray[Any] | None, dy: NDArray[Any]) -> NDArray[Any]:
        """dE/dz = J^T dE/dy for ``dy`` (N, n) or (m, N, n)."""
        if J is not None:
            return np.einsum("...bj,bji->...bi", dy, J)
        assert self._vjp is not None, "vector_activation requires jacobian= or both jvp= and vjp="
        if dy.ndim == 2:
            return self._checked("vjp", self._vjp(z, y, dy), z.shape)
        zz, yy = self._rows(dy, z, y)
        return self._checked("vjp", self._vjp(zz, yy, dy.reshape(zz.shape)), zz.shape).reshape(dy.shape)

    # (sum_j dy_j H_j) R{z}
    def vhp(self, z: NDArray[Any], y: NDArray[Any], dy: NDArray[Any], tz: NDArray[Any]) -> NDArray[Any]:
        """(sum_j dy_j d2y_j/dz2) R{z} for tangents ``tz`` (m, N, n); ConfigError without second derivatives."""
        if self._hess is not None:
            H = self._checked("hessian", self._hess(z, y), z.shape + (z.shape[-1],) * 2)
            return np.einsum("bj,bjik,mbk->mbi", dy, H, tz)
        if self._vhp is None:
            raise ConfigError(f"vector activation {self.name!r} has no second derivatives; pass hessian= or "
                              "vhp= to bp.vector_activation to use it for Hessians or Hessian-vector products")
        zz, yy, gg = self._rows(tz, z, y, dy)
        return self._checked("vhp", self._vhp(zz, yy, gg, tz.reshape(zz.shape)), zz.shape).reshape(tz.shape)

    kind = "vector activation"

    def _functions(self) -> list[tuple[str, Fn | None]]:
        return [("f", self._f), ("jacobian", self._jac), ("jvp", self._jvp), ("vjp", self._vjp),
                ("hessian", self._hess), ("vhp", self._vhp)]

    def __repr__(self) -> str:
        return f"VectorFunction({self.name!r})"


def vector_activation(name: str, f: Fn, jacobian: Fn | None = None, *, jvp: Fn | None = None, vjp: Fn | None = None,
                      hessian: Fn | None = None, vhp: Fn | None = None) -> VectorFunction:
    """Define a vector activation for a group of units (``NeuronGraph.vector_group``).

    Parameters
    ----------
    name : str
        Name in reports and saved models. A file cannot store the function (it is code): a model
        that uses it is loaded by passing it, ``bp.load(path, activations=[fn])``.
    f : callable
        ``f(z) -> y`` on arrays (N, n), rows are instances.
    jacobian : callable, optional
        ``jacobian(z, y) -> (N, n, n)`` with entry [:, j, i] = dy_j/dz_i.
    jvp, vjp : callable, optional
        ``jvp(z, y, tz)`` and ``vjp(z, y, dy)``, instead of ``jacobian``.
    hessian, vhp : callable, optional
        Second derivatives, for Hessians: ``hessian(z, y) -> (N, n, n, n)`` or
        ``vhp(z, y, dy, tz) -> (N, n)`` = sum_j dy_j (d2y_j/dz2) tz.

    Returns
    -------
    VectorFunction

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> square = bp.vector_activation("square", lambda z: z * z,
    ...     jacobian=lambda z, y: 2 * z[:, :, None] * np.eye(z.shape[1]))
    """
    if not isinstance(name, str) or not name or name == "softmax":
        raise ConfigError(f"a vector activation needs a name other than 'softmax'; got {name!r}")
    if not callable(f):
        raise ConfigError("vector_activation needs a callable f(z)")
    for label, fn in (("jacobian", jacobian), ("jvp", jvp), ("vjp", vjp), ("hessian", hessian), ("vhp", vhp)):
        if fn is not None and not callable(fn):
            raise ConfigError(f"vector_activation {label}= must be callable")
    if jacobian is None and (jvp is None or vjp is None):
        raise ConfigError(f"vector activation {name!r} needs jacobian=, or both jvp= and vjp=")
    return VectorFunction(name, f, jacobian, jvp, vjp, hessian, vhp)


@register("vector_activation")
class VectorActivation(Op):
    """A user vector activation applied to all units of its input node: y = f(z).

    Parameters
    ----------
    size : int
        The number of units (the width of the input node).
    fn : VectorFunction
        The function, from :func:`vector_activation`.

    Examples
    --------
    >>> square = vector_activation("square", lambda z: z * z, jacobian=lambda z, y: 2 * z[:, :, None] * np.eye(2))
    >>> VectorActivation(2, square).forward([np.array([[1.0, 3.0]])], None)[0]
    array([[1., 9.]])
    """

    #: ``fn`` is the user function's name in a file: ``load`` is given the function itself (ops/user_functions.py)
    config_fields = (Size("size"), Text("fn", attr="fn.name"))
    in_segments = True

    def __init__(self, size: int, fn: VectorFunction):
        self.size = int(size)
        if not isinstance(fn, VectorFunction):
            hint = (" (a saved model naming one is loaded by passing the function: "
                    "bp.load(path, activations=[fn]))") if isinstance(fn, str) else ""
            raise ConfigError(f"expected a vector activation from bp.vector_activation; got {fn!r:.60}{hint}")
        self.fn = fn

    def forward(self, xs: Sequence[NDArray[Any]], p: Any) -> tuple[NDArray[Any], NDArray[Any] | None]:
        z = xs[0]
        y = self.fn.f(z)
        return y, self.fn.jacobian(z, y)

    # dE/dz_i = sum_j dE/dy_j dy_j/dz_i
    def vjp(self, at: At, dy: NDArray[Any], *, gp: Any, need: Any) -> list[Maybe]:
        xs, y, J, p = cast(_At, at)
        return [self.fn.vjp(xs[0], y, J, dy)]

    # R{y} = J R{z}
    def jvp(self, at: At, txs: Sequence[Maybe], tp: Any) -> Maybe:
        xs, y, J, p = cast(_At, at)
        return None if txs[0] is None else self.fn.jvp(xs[0], y, J, txs[0])

    # R{dE/dz} = J^T R{dE/dy} + (sum_j dE/dy_j H_j) R{z}
    def vjp_tangent(self, at: At, dy: NDArray[Any], tdy: Maybe, txs: Sequence[Maybe], ty: Maybe, tp: Any, *,
                    tgp: Any, need: Any) -> list[Maybe]:
        xs, y, J, p = cast(_At, at)
        out = None if tdy is None else self.fn.vjp(xs[0], y, J, tdy)
        if txs[0] is not None:
            out = accumulate(out, self.fn.vhp(xs[0], y, dy, txs[0]))
        return [out]

    def user_functions(self) -> tuple[VectorFunction]:
        return (self.fn,)

    def describe(self) -> str:
        return self.fn.name
