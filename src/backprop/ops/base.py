"""The operation interface: every node of a network's graph is one Op.

An op maps the values of its input nodes, xs[0], xs[1], ... (each of shape (B, width)),
and its own parameters p to its output y (B, size). It knows four things about itself:

* ``forward``      y = op(xs; p)
* ``vjp``          backward pass: from dE/dy to dE/dxs and dE/dp (vector-Jacobian product)
* ``jvp``          forward directional derivative: from R{xs}, R{p} to R{y} (Jacobian-vector product)
* ``vjp_tangent``  the second-order terms: R{dE/dxs} and R{dE/dp}, the directional derivative
                   of the backward pass itself (used by Hessian-vector products and the Hessian)

R{.} is Pearlmutter's R-operator, d/dr (.)(w + r v) at r = 0. Tangent arrays carry a leading
axis of m directions: shape (m, B, width) for nodes and (m, *shape) for parameters. ``None``
stands for a zero tangent or an adjoint nobody needs, so whole branches of work are skipped.

Who zeroes what (one rule for every pass): an op OVERWRITES its parameter buffers (``gp`` in
``vjp``, ``tgp`` in ``vjp_tangent``) with its own contribution, writing zeros where it has none;
the sweeps in ``engine.passes`` zero the buffers of the ops they skip. Adjoints and tangents of
nodes are returned, never written in place: the sweep sums what several readers return with
``accumulate``.

Output buffers (optional, for execution plans): an op that declares ``takes_out = True`` accepts a
keyword ``out`` in ``forward(xs, p, out=buf)``, ``buf`` a C-contiguous (B, size) array of the
network's dtype, and in ``vjp(at, dy, gp=..., need=..., out=bufs)``, ``bufs`` a list with one
(B, width) array or None per input. The op MAY write its result into the buffer it is given and
return it; it may also return another array (the caller always uses what is returned, never the
buffer). A buffer is never one of the op's inputs, its ``dy`` or its parameters, and its contents on
entry are arbitrary. ``takes_out`` is read from the class that defines the pass (``accepts_out``),
so a subclass that overrides ``forward`` or ``vjp`` without declaring it is called without ``out``.
An op without ``takes_out`` is never given ``out`` and works exactly as before: the plans run it
through the generic call. ``out=None`` (the default) means "allocate", so every op with
``takes_out`` still answers the plain call.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Param(NamedTuple):
    """One parameter array of an op, declared once: its name, shape and whether L2 applies to it."""

    name: str
    shape: tuple
    regularized: bool = False


class State(NamedTuple):
    """One non-trainable array of an op (a buffer such as BatchNorm's running mean), declared once.

    ``kind`` is "float" (the network's dtype) or "int" (int64). Buffers are not in ``net.params``: no
    gradient reaches them; only the training step changes them, through ``Op.update_state``.
    """

    name: str
    shape: tuple
    kind: str = "float"


class At(NamedTuple):
    """The point an op was evaluated at: its inputs ``xs``, output ``y``, ``cache`` and parameter views ``p``.

    Every pass after ``forward`` receives it first; the pass's own arguments follow in one order:
    ``vjp(at, dy, *, gp, need)``, ``jvp(at, txs, tp)`` and
    ``vjp_tangent(at, dy, tdy, txs, ty, tp, *, tgp, need)`` (adjoint, its tangent, input tangents,
    output tangent, parameter tangents; the output buffer and the wanted inputs by keyword).
    """

    xs: list
    y: object
    cache: object
    p: object


class Op:
    """Base class of graph operations.

    Subclasses set ``arity`` (number of input nodes) and ``size`` (output width), and declare their
    parameters once in ``self.param_specs`` (a tuple of :class:`Param`, in their order in the flat
    parameter vector); the shapes, names and regularisation mask are read from it. ``affine = True``
    declares that the op computes z = x W^T + b from one input with parameters (W, b) exactly as
    :class:`~backprop.ops.dense.Dense` does: the Jacobian and Hessian fast paths select on it (a
    subclass that changes the map must set it to False).
    """

    arity = 1
    #: the op's parameter arrays (none by default)
    param_specs: tuple = ()
    #: z = x W^T + b with parameters (W, b): the dense fast paths apply
    affine = False
    #: the name the op is registered under (set by ``ops.registry.register``)
    op_name = "op"
    #: the forward pass differs between training and evaluation (Dropout, BatchNorm, RReLU); such an
    #: op has an instance attribute ``training`` (False: evaluation), set by ``Network.train``/``eval``
    has_modes = False
    training = False
    #: the op's buffers (none by default), held in ``self.state`` once ``init_state`` has run
    state_specs: tuple = ()
    #: ``forward`` and ``vjp`` accept ``out=`` buffers (see the module notes); plans give them one
    takes_out = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "op_name" not in cls.__dict__:      # until ``register`` names it: the class name
            cls.op_name = cls.__name__.lower()

    @property
    def param_shapes(self) -> tuple:
        """Shapes of the parameter arrays, in their order in the flat parameter vector."""
        return tuple(tuple(s.shape) for s in self.param_specs)

    @param_shapes.setter
    def param_shapes(self, shapes):
        # an op that sets only its shapes: arrays named W, b (then p2, p3, ...), regularised per ``regularized``
        names = ("W", "b") + tuple(f"p{i}" for i in range(2, len(shapes)))
        self.param_specs = tuple(Param(n, tuple(s)) for n, s in zip(names, shapes))

    @property
    def param_names(self) -> tuple:
        return tuple(s.name for s in self.param_specs)

    @property
    def regularized(self) -> tuple:
        """For each parameter array, whether L2 regularisation applies to it (weights yes, biases no)."""
        return tuple(s.regularized for s in self.param_specs)

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(s, dtype=int) for s in self.param_shapes))

    # ---- the four passes -------------------------------------------------------------------
    def forward(self, xs, p):
        """Return (y, cache); cache is anything the other passes need beyond xs and y."""
        raise NotImplementedError

    def vjp(self, at, dy, *, gp, need):
        """Write dE/dp into the views ``gp`` (when not None), overwriting what they hold; return
        [dE/dx or None for x in xs].

        ``at`` is the point the op was evaluated at (:class:`At`: xs, y, cache, p), ``dy`` = dE/dy.
        ``need[i]`` says whether the adjoint of input i is wanted.
        """
        raise NotImplementedError

    def jvp(self, at, txs, tp):
        """Return R{y} (m, B, size) from the input tangents ``txs`` and parameter tangents ``tp``.

        Entries of ``txs`` and ``tp`` may be None (zero). Return None if R{y} is zero.
        """
        raise NotImplementedError

    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        """Return [R{dE/dx} or None for x in xs] and write R{dE/dp} into ``tgp`` (when not None), overwriting it.

        ``dy`` is dE/dy (B, size), ``tdy`` its tangent R{dE/dy} (m, B, size) or None, ``txs`` and
        ``ty`` the forward tangents, ``tp`` the parameter tangents.
        """
        raise NotImplementedError

    # ---- modes and state -------------------------------------------------------------------
    @property
    def batch_coupled(self) -> bool:
        """True when row n of the output depends on other rows of the batch in the current mode."""
        return False

    def init_state(self, dtype) -> None:
        """Create ``self.state`` from ``state_specs``: zeros of the network's dtype (or int64)."""
        self.state = {s.name: np.zeros(s.shape, dtype=np.int64 if s.kind == "int" else dtype)
                      for s in self.state_specs}

    def update_state(self, at) -> None:
        """Update the buffers after a training-mode forward at ``at`` whose result drives an update.

        Called by the training step only: gradients, Hessians, checks and predictions never change state.
        """

    # ---- description -----------------------------------------------------------------------
    #: the constructor arguments, in order: ``config()`` reads each from the attribute of the same name
    config_fields: tuple = ()

    def config(self) -> dict:
        """A JSON-able description from which the op can be rebuilt: {"op": its registered name, field: value}.

        Derived from ``config_fields`` (arrays and tuples become lists); an op whose description is
        not its fields overrides this.
        """
        if not self.config_fields:
            raise NotImplementedError(f"{type(self).__name__} declares no config_fields and no config()")
        return {"op": self.op_name, **{f: _jsonable(getattr(self, f)) for f in self.config_fields}}

    @classmethod
    def from_config(cls, cfg: dict):
        """Rebuild the op from ``config()`` (the keys other than "op" are constructor arguments)."""
        return cls(**{k: v for k, v in cfg.items() if k != "op"})

    def init_params(self, rng, views) -> None:
        """Fill the parameter views with initial values (nothing to do for ops without parameters)."""

    def input_width(self, k: int):
        """Width expected of input k, or None if any width will do."""
        return self.size

    def describe(self) -> str:
        return self.op_name


def accepts_out(op, method: str) -> bool:
    """Whether ``op``'s pass ``method`` ("forward" or "vjp") takes ``out=``: the class that defines the
    pass declares ``takes_out = True`` in its own body."""
    for cls in type(op).__mro__:
        if method in cls.__dict__:
            return bool(cls.__dict__.get("takes_out", False))
    return False


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def accumulate(acc, term):
    """acc + term for adjoints and tangents, with None standing for zero.

    Returns a new array (or one of the two unchanged): a stored node value, adjoint or tangent is
    never modified in place, so every caller may hand in arrays it does not own.
    """
    if term is None:
        return acc
    return term if acc is None else acc + term


def write(buf, value):
    """Overwrite the gradient buffer ``buf`` with ``value`` (None: zero)."""
    if value is None:
        buf[...] = 0
    else:
        buf[...] = value


def product_tangent(prod, a, ta, b, tb, shift=None):
    """R{prod(a, b)} = prod(R{a}, b) + (prod(a, R{b}) + shift), for a product bilinear in (a, b).

    A bilinear op (z = x W^T + b and its masked form) has three products: the forward one
    z = x W^T, the input adjoint dE/dx = delta W and the weight gradient dE/dW = delta^T x.
    Its JVP and the second-order terms of its VJP are the tangents of those products, which is
    this one rule applied three times. ``ta``/``tb`` None stand for zero; ``shift`` (e.g. R{b})
    is added to the second term when that term exists. Returns None when both tangents are zero.
    """
    out = None if ta is None else prod(ta, b)
    if tb is not None:
        term = prod(a, tb)
        if shift is not None:
            term += shift
        out = accumulate(out, term)
    return out


def matmul_right(t, M):
    """t @ M for a tangent t of shape (m, B, k), as one matrix product over all m*B rows."""
    m, B, k = t.shape
    return (t.reshape(m * B, k) @ M).reshape(m, B, M.shape[1])
