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

Modes and buffers (what an op like Dropout, RReLU or BatchNorm declares; nothing else is needed for
the library to train, differentiate, copy, save, load and export it):

* ``has_modes = True``: the forward pass differs between training and evaluation; the instance attribute
  ``training`` (False by default) is set by ``Network.train()``/``eval()``. ``net.predict`` always runs
  in evaluation mode; gradients, Jacobians, Hessians, HVPs and checks use the network's current mode.
* ``state_specs``: buffers (:class:`State`), not parameters, held in ``op.state`` (made by ``init_state``),
  saved with the model and listed by ``net.state_dict()`` after the op's parameters under torch's names.
* ``update_state(at)``: called by the training step only, once per update, after its training-mode forward.
* ``batch_coupled``: True while row n of the output depends on other rows (batch statistics); per-row and
  batch-splitting computations then refuse the network (``Network.check_rows_independent``).
* ``random = True``: the training-mode forward draws random numbers with ``draw`` from (the op's seed,
  ``step``, the batch shape). The op receives the step as its attribute ``step``: a Network sets it on
  every op with ``has_modes`` whenever ``net.step`` is assigned (``bp.train`` adds 1 per update), so
  repeated derivative calls at one step see one mask and every update a fresh one.

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

from .fields import Field


class Param(NamedTuple):
    """One parameter array of an op, declared once: its name, shape and whether L2 applies to it."""

    name: str
    shape: tuple
    regularized: bool = False


class State(NamedTuple):
    """One non-trainable array of an op (a buffer such as BatchNorm's running mean), declared once.

    ``kind`` is "float" (the network's dtype) or "int" (int64). Buffers are not in ``net.params``: no
    gradient reaches them; only the training step changes them, through ``Op.update_state``. A buffer
    read from a file must be finite and, for "int" buffers (counters), >= 0; ``minimum`` adds a lower
    bound for a float buffer (a running variance: 0.0).
    """

    name: str
    shape: tuple
    kind: str = "float"
    minimum: float | None = None


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

    The constructor arguments are declared once, in order, as typed fields (``ops/fields.py``)::

        config_fields = (Size("n_in"), Size("n_out"), Choice("init", INIT_SCHEMES))

    ``Size`` (an integer >= 1), ``Choice``, ``Text``, ``Texts``, ``Widths``, ``Indices`` (``below=`` an
    earlier field bounds each entry, ``length=`` an earlier field sets the count), ``Numbers``,
    ``Activation``; ``optional=True`` for an argument with a default, ``attr=`` for a value held under
    another (dotted) attribute. ``config()`` is derived from them, and ``engine.model_schema`` checks a
    description read from a file against them, so an op needs no other schema. Rules that tie fields
    together beyond ``below``/``length`` go in ``check_config``. An op holding user code (a user
    activation) returns it from ``user_functions()``; ``load(path, activations=[fn])`` supplies it again.
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
    #: the training-mode forward draws random numbers (Dropout, RReLU) through ``draw``; the draw depends
    #: on the batch shape, so a computation that splits or repeats the rows would see other draws
    random = False
    #: the network's update counter ``net.step``: a Network sets it on every op with ``has_modes`` whenever
    #: ``net.step`` is assigned (at construction, by ``bp.train`` once per update, by the user); a random op
    #: draws its mask from (its seed, ``step``, the batch shape) through ``draw``, nothing else
    step = 0
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

        ``at`` is the point the op was evaluated at (``At``: xs, y, cache, p), ``dy`` = dE/dy.
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
    #: the constructor arguments, in order, each a typed ``backprop.ops.fields.Field`` (name, JSON
    #: type and range, optional or not, the attribute holding its value). This one declaration gives
    #: ``config()`` and the untrusted-file schema (``engine.model_schema``); see ``ops/fields.py``.
    config_fields: tuple = ()
    #: the op may apply to a run of units inside ``Segmented`` (one input, no parameters)
    in_segments = False

    def config(self) -> dict:
        """A JSON-able description from which the op can be rebuilt: {"op": its registered name, field: value}.

        Derived from ``config_fields``: each field's value read from the op (an optional field whose
        value is None is left out).
        """
        if not self.config_fields or not all(isinstance(f, Field) for f in self.config_fields):
            raise NotImplementedError(f"{type(self).__name__} must declare config_fields as typed fields "
                                      "(backprop.ops.fields)")
        cfg = {"op": self.op_name}
        for f in self.config_fields:
            v = f.read(self)
            if not (f.optional and v is None):
                cfg[f.name] = v
        return cfg

    @classmethod
    def check_config(cls, c, cfg: dict, at: str) -> None:
        """Rules of a description from a file that tie fields together beyond their declared ranges
        (each field is already checked; ``c`` is the schema's checker). None by default."""

    @classmethod
    def from_config(cls, cfg: dict):
        """Rebuild the op from ``config()`` (the keys other than "op" are constructor arguments)."""
        return cls(**{k: v for k, v in cfg.items() if k != "op"})

    def user_functions(self) -> tuple:
        """The user-defined functions (``bp.activation``, ``bp.vector_activation``) the op holds: code that a
        model file names but cannot store, so ``load(path, activations=...)`` must be given them."""
        return ()

    def init_params(self, rng, views) -> None:
        """Fill the parameter views with initial values (nothing to do for ops without parameters)."""

    def input_width(self, k: int):
        """Width expected of input k, or None if any width will do."""
        return self.size

    def describe(self) -> str:
        return self.op_name


def draw(seed: int, step: int, shape: tuple) -> np.random.Generator:
    """The random generator of a random op's draw: a pure function of (op seed, network step, batch shape).

    Every forward pass at the same step and batch shape sees the same numbers, so repeated gradient,
    Hessian and finite-difference calls at one point use one mask; ``bp.train`` advances ``net.step`` once
    per update, so every update draws afresh, bitwise reproducibly for a seed.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(step), *map(int, shape)]))


def accepts_out(op, method: str) -> bool:
    """Whether ``op``'s pass ``method`` ("forward" or "vjp") takes ``out=``: the class that defines the
    pass declares ``takes_out = True`` in its own body."""
    for cls in type(op).__mro__:
        if method in cls.__dict__:
            return bool(cls.__dict__.get("takes_out", False))
    return False



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
