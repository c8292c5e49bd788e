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

from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple, Protocol, Sequence, TypeVar, overload

import numpy as np
from numpy.typing import DTypeLike

from .arrays import Array, Maybe
from .fields import Config, Field

if TYPE_CHECKING:
    from .activations import UserFunctions

#: an op class, for ``from_config``
O = TypeVar("O", bound="Op")

# Typing notes. A node value or adjoint handed to a pass is an ndarray; ``forward``'s ``xs``, the adjoint
# ``dy`` and ``At.xs`` are typed Any because ``Segmented`` hands its runs over as ``Maybe`` slices. The
# parameter views ``p`` are Any because ``MaskedDense`` declares them without None. ``config_fields`` and
# the checker ``c`` of ``check_config`` are Any because the schema's checker (``engine.model_schema``)
# returns what it checks while ``fields.Checker`` declares None.


class Param(NamedTuple):
    """One parameter array of an op, declared once: its name, shape and whether L2 applies to it.

    Parameters
    ----------
    name : str
        The array's name (``"W"``, ``"b"``, ``"weight"``, ...): the key of ``net.layers[k]`` and of the state dict.
    shape : tuple of int
        Its shape; the array is stored row-major in ``net.params``.
    regularized : bool, default False
        Whether the L2 term lambda/2 ||.||^2 applies to it (weights yes, biases no).

    Examples
    --------
    >>> Param("W", (3, 2), regularized=True)
    Param(name='W', shape=(3, 2), regularized=True)
    """

    name: str
    shape: tuple[int, ...]
    regularized: bool = False


class State(NamedTuple):
    """One non-trainable array of an op (a buffer such as BatchNorm's running mean), declared once.

    ``kind`` is "float" (the network's dtype) or "int" (int64). Buffers are not in ``net.params``: no
    gradient reaches them; only the training step changes them, through ``Op.update_state``. A buffer
    read from a file must be finite and, for "int" buffers (counters), >= 0; ``minimum`` adds a lower
    bound for a float buffer (a running variance: 0.0).

    Parameters
    ----------
    name : str
        The buffer's name (torch's, e.g. ``"running_mean"``).
    shape : tuple of int
        Its shape (``()`` for a counter).
    kind : {"float", "int"}, default "float"
        The network's float dtype, or int64.
    minimum : float or None, default None
        A lower bound on the values a file may hold.

    Examples
    --------
    >>> State("num_batches_tracked", (), "int")
    State(name='num_batches_tracked', shape=(), kind='int', minimum=None)
    """

    name: str
    shape: tuple[int, ...]
    kind: str = "float"
    minimum: float | None = None


class At(NamedTuple):
    """The point an op was evaluated at: its inputs ``xs``, output ``y``, ``cache`` and parameter views ``p``.

    Every pass after ``forward`` receives it first; the pass's own arguments follow in one order:
    ``vjp(at, dy, *, gp, need)``, ``jvp(at, txs, tp)`` and
    ``vjp_tangent(at, dy, tdy, txs, ty, tp, *, tgp, need)`` (adjoint, its tangent, input tangents,
    output tangent, parameter tangents; the output buffer and the wanted inputs by keyword).

    Parameters
    ----------
    xs : list of ndarray
        The values of the op's input nodes, each (B, width).
    y : ndarray
        The op's output (B, size).
    cache : object
        What ``forward`` returned beside ``y`` (each op casts it to what it stores).
    p : tuple of ndarray or None
        The op's parameter views (None for an op without parameters).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, -2.0]])
    >>> at = At([x], np.abs(x), None, None)
    >>> at.xs[0].shape, at.p
    ((1, 2), None)
    """

    xs: list[Any]
    y: object
    cache: object
    p: object


class Op:
    """Base class of graph operations.

    Subclasses set ``arity`` (number of input nodes) and ``size`` (output width), and declare their
    parameters once in ``self.param_specs`` (a tuple of ``Param``, in their order in the flat
    parameter vector); the shapes, names and regularisation mask are read from it. ``affine = True``
    declares that the op computes z = x W^T + b from one input with parameters (W, b) exactly as
    ``backprop.ops.dense.Dense`` does: the Jacobian and Hessian fast paths select on it (a
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

    The passes' contract (``forward``, ``vjp``, ``jvp``, ``vjp_tangent``, ``init_params``, ``config``, ...)
    is documented once, on the methods of this class; an op's own methods state only their formulas.

    Examples
    --------
    >>> import numpy as np
    >>> from backprop.ops.dense import Dense
    >>> op = Dense(2, 3)
    >>> op.param_names, op.param_shapes, op.regularized, op.n_params
    (('W', 'b'), ((3, 2), (3,)), (True, False), 9)
    """

    arity = 1
    #: the op's parameter arrays (none by default)
    param_specs: tuple[Param, ...] = ()
    #: z = x W^T + b with parameters (W, b): the dense fast paths apply
    affine = False
    #: the name the op is registered under (set by ``ops.registry.register``)
    op_name = "op"
    #: the forward pass differs between training and evaluation (Dropout, BatchNorm, RReLU); such an
    #: op has an instance attribute ``training`` (False: evaluation), set by ``Network.train``/``eval``
    has_modes = False
    training = False
    #: the op's buffers (none by default), held in ``self.state`` once ``init_state`` has run
    state_specs: tuple[State, ...] = ()
    state: dict[str, Array]
    #: the training-mode forward draws random numbers (Dropout, RReLU) through ``draw``; the draw depends
    #: on the batch shape, so a computation that splits or repeats the rows would see other draws
    random = False
    #: the network's update counter ``net.step``: a Network sets it on every op with ``has_modes`` whenever
    #: ``net.step`` is assigned (at construction, by ``bp.train`` once per update, by the user); a random op
    #: draws its mask from (its seed, ``step``, the batch shape) through ``draw``, nothing else
    step = 0
    #: ``forward`` and ``vjp`` accept ``out=`` buffers (see the module notes); plans give them one
    takes_out = False
    # ``size``, the output width, is an attribute of each op or a property (Dense): read it with ``size_of``

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "op_name" not in cls.__dict__:      # until ``register`` names it: the class name
            cls.op_name = cls.__name__.lower()

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shapes of the parameter arrays, in their order in the flat parameter vector."""
        return tuple(tuple(s.shape) for s in self.param_specs)

    @param_shapes.setter
    def param_shapes(self, shapes: Sequence[Iterable[int]]) -> None:
        # an op that sets only its shapes: arrays named W, b (then p2, p3, ...), regularised per ``regularized``
        names = ("W", "b") + tuple(f"p{i}" for i in range(2, len(shapes)))
        self.param_specs = tuple(Param(n, tuple(s)) for n, s in zip(names, shapes))

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameter arrays, in their order in the flat parameter vector."""
        return tuple(s.name for s in self.param_specs)

    @property
    def regularized(self) -> tuple[bool, ...]:
        """For each parameter array, whether L2 regularisation applies to it (weights yes, biases no)."""
        return tuple(s.regularized for s in self.param_specs)

    @property
    def n_params(self) -> int:
        """The number of parameters of the op: the sizes of its arrays summed."""
        return int(sum(np.prod(s, dtype=int) for s in self.param_shapes))

    # ---- the four passes -------------------------------------------------------------------
    def forward(self, xs: Sequence[Any], p: Any) -> tuple[Array, object]:
        """The forward pass y = op(xs; p).

        Parameters
        ----------
        xs : list of ndarray
            The values of the op's input nodes, each (B, width), ``arity`` of them.
        p : tuple of ndarray or None
            The op's parameter views (in ``param_specs`` order), None for an op without parameters.
        out : ndarray, optional
            Only for an op with ``takes_out``: a (B, size) buffer the op may write ``y`` into (see the
            module notes).

        Returns
        -------
        y : ndarray
            The output (B, size).
        cache : object
            Whatever the other passes need beyond ``xs`` and ``y`` (None if nothing); it reaches them as
            ``at.cache``.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.ops.dense import Dense
        >>> W, b = np.array([[1.0, 2.0]]), np.array([0.5])
        >>> y, cache = Dense(2, 1).forward([np.array([[3.0, 4.0]])], (W, b))
        >>> y
        array([[11.5]])
        """
        raise NotImplementedError

    def vjp(self, at: At, dy: Any, *, gp: Sequence[Array] | None, need: Sequence[bool]) -> list[Maybe]:
        """The backward pass (vector-Jacobian product): from dE/dy to dE/dp and dE/dxs.

        Parameters
        ----------
        at : At
            The point the op was evaluated at (xs, y, cache, p).
        dy : ndarray
            dE/dy, (B, size).
        gp : tuple of ndarray or None
            Views (one per parameter array) that receive dE/dp, summed over the batch: the op OVERWRITES
            them (zeros where it has no contribution). None: the parameter gradient is not wanted.
        need : list of bool
            ``need[i]``: whether the adjoint of input i is wanted.
        out : list of ndarray or None, optional
            Only for an op with ``takes_out``: one (B, width) buffer or None per input, which the op may
            write dE/dx into.

        Returns
        -------
        list of ndarray or None
            dE/dx (B, width) for each input x, None where it is not needed (or zero).

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.ops.dense import Dense
        >>> op, x, W, b = Dense(2, 1), np.array([[3.0, 4.0]]), np.array([[1.0, 2.0]]), np.array([0.5])
        >>> y, cache = op.forward([x], (W, b))
        >>> gW, gb = np.empty((1, 2)), np.empty(1)
        >>> op.vjp(At([x], y, cache, (W, b)), np.array([[1.0]]), gp=(gW, gb), need=[True])
        [array([[1., 2.]])]
        >>> gW, gb
        (array([[3., 4.]]), array([1.]))
        """
        raise NotImplementedError

    def jvp(self, at: At, txs: Sequence[Maybe], tp: Sequence[Array] | None) -> Maybe:
        """The forward directional derivative (Jacobian-vector product) R{y} for m directions at once.

        Parameters
        ----------
        at : At
            The point the op was evaluated at (xs, y, cache, p).
        txs : list of ndarray or None
            R{x} (m, B, width) for each input x; None stands for a zero tangent.
        tp : tuple of ndarray or None
            R{p} ``(m, *shape)`` for each parameter array, or None (zero, or no parameters).

        Returns
        -------
        ndarray or None
            R{y} (m, B, size), or None when it is zero.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.ops.dense import Dense
        >>> op, x, W, b = Dense(2, 1), np.array([[3.0, 4.0]]), np.array([[1.0, 2.0]]), np.array([0.5])
        >>> y, cache = op.forward([x], (W, b))
        >>> op.jvp(At([x], y, cache, (W, b)), [np.ones((1, 1, 2))], None)     # R{x} W^T
        array([[[3.]]])
        """
        raise NotImplementedError

    def vjp_tangent(self, at: At, dy: Any, tdy: Maybe, txs: Sequence[Maybe], ty: Maybe,
                    tp: Sequence[Array] | None, *, tgp: Sequence[Array] | None,
                    need: Sequence[bool]) -> list[Maybe]:
        """The second-order terms: R{dE/dxs} and R{dE/dp}, the directional derivative of ``vjp`` itself.

        Parameters
        ----------
        at : At
            The point the op was evaluated at (xs, y, cache, p).
        dy : ndarray
            dE/dy (B, size).
        tdy : ndarray or None
            Its tangent R{dE/dy} (m, B, size); None: zero.
        txs : list of ndarray or None
            The input tangents R{x} (m, B, width), from the forward sweep.
        ty : ndarray or None
            The output tangent R{y} (m, B, size).
        tp : tuple of ndarray or None
            The parameter tangents R{p} ``(m, *shape)``, or None.
        tgp : tuple of ndarray or None
            Views ``(m, *shape)`` that receive R{dE/dp}: the op OVERWRITES them. None: not wanted.
        need : list of bool
            ``need[i]``: whether R{dE/dx} of input i is wanted.

        Returns
        -------
        list of ndarray or None
            R{dE/dx} (m, B, width) for each input x, None where it is not needed or zero.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.ops.dense import Dense
        >>> op, x, W, b = Dense(2, 1), np.array([[3.0, 4.0]]), np.array([[1.0, 2.0]]), np.array([0.5])
        >>> y, cache = op.forward([x], (W, b))
        >>> tgW, tgb = np.empty((1, 1, 2)), np.empty((1, 1))
        >>> op.vjp_tangent(At([x], y, cache, (W, b)), np.array([[1.0]]), np.full((1, 1, 1), 2.0),
        ...                [np.ones((1, 1, 2))], None, None, tgp=(tgW, tgb), need=[True])
        [array([[[2., 4.]]])]
        >>> tgW, tgb           # R{delta}^T x + delta^T R{x},  sum_n R{delta}
        (array([[[7., 9.]]]), array([[2.]]))
        """
        raise NotImplementedError

    # ---- modes and state -------------------------------------------------------------------
    @property
    def batch_coupled(self) -> bool:
        """True when row n of the output depends on other rows of the batch in the current mode."""
        return False

    def init_state(self, dtype: DTypeLike) -> None:
        """Create ``self.state`` from ``state_specs``: zeros of the network's dtype (or int64).

        Parameters
        ----------
        dtype : numpy dtype
            The network's float dtype, for the "float" buffers.

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.ops.normalization import BatchNorm
        >>> op = BatchNorm(2)
        >>> op.init_state(np.float32)
        >>> op.state["running_mean"]
        array([0., 0.], dtype=float32)
        """
        self.state = {s.name: np.zeros(s.shape, dtype=np.int64 if s.kind == "int" else dtype)
                      for s in self.state_specs}

    def update_state(self, at: At) -> None:
        """Update the buffers after a training-mode forward at ``at`` whose result drives an update.

        Called by the training step only: gradients, Hessians, checks and predictions never change state.
        Nothing to do for an op without buffers.

        Parameters
        ----------
        at : At
            The point of the training-mode forward pass (xs, y, cache, p).

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.ops.normalization import BatchNorm
        >>> op = BatchNorm(1, momentum=0.5); op.training = True
        >>> x = np.array([[0.0], [2.0]])
        >>> y, cache = op.forward([x], (np.ones(1), np.zeros(1)))
        >>> op.update_state(At([x], y, cache, None))
        >>> op.state["running_mean"], op.state["running_var"]       # halfway to the batch's mean 1 and variance 2
        (array([0.5]), array([1.5]))
        """

    # ---- description -----------------------------------------------------------------------
    #: the constructor arguments, in order, each a typed ``backprop.ops.fields.Field`` (name, JSON
    #: type and range, optional or not, the attribute holding its value). This one declaration gives
    #: ``config()`` and the untrusted-file schema (``engine.model_schema``); see ``ops/fields.py``.
    config_fields: tuple[Any, ...] = ()
    #: the op may apply to a run of units inside ``Segmented`` (one input, no parameters)
    in_segments = False

    def config(self) -> Config:
        """A JSON-able description from which the op can be rebuilt: {"op": its registered name, field: value}.

        Derived from ``config_fields``: each field's value read from the op (an optional field whose
        value is None is left out).

        Returns
        -------
        dict
            ``{"op": name, argument: value, ...}``, the constructor's arguments in order.

        Examples
        --------
        >>> from backprop.ops.dense import Dense
        >>> Dense(3, 2, init="he").config()
        {'op': 'dense', 'n_in': 3, 'n_out': 2, 'init': 'he'}
        """
        if not self.config_fields or not all(isinstance(f, Field) for f in self.config_fields):
            raise NotImplementedError(f"{type(self).__name__} must declare config_fields as typed fields "
                                      "(backprop.ops.fields)")
        cfg: Config = {"op": self.op_name}
        for f in self.config_fields:
            v = f.read(self)
            if not (f.optional and v is None):
                cfg[f.name] = v
        return cfg

    @classmethod
    def check_config(cls, c: Any, cfg: Config, at: str) -> None:
        """Rules of a description from a file that tie fields together beyond their declared ranges.

        Each field is already checked when this runs; an op with such a rule overrides it (none by default).

        Parameters
        ----------
        c : Checker
            The schema's checker (``engine.model_schema``): ``c.fail(at, expected, got)`` raises.
        cfg : dict
            The op's description from the file.
        at : str
            Where the description is, for messages.

        Examples
        --------
        >>> from backprop.ops.dense import Dense
        >>> Dense.check_config(None, {"op": "dense", "n_in": 3, "n_out": 2}, "ops[0]") is None
        True
        """

    @classmethod
    def from_config(cls: type[O], cfg: Config) -> O:
        """Rebuild the op from ``config()`` (the keys other than "op" are constructor arguments).

        Parameters
        ----------
        cfg : dict
            A description made by ``config()``.

        Returns
        -------
        Op
            A new op of this class.

        Examples
        --------
        >>> from backprop.ops.dense import Dense
        >>> Dense.from_config({"op": "dense", "n_in": 3, "n_out": 2}).describe()
        'dense 3->2'
        """
        return cls(**{k: v for k, v in cfg.items() if k != "op"})

    def user_functions(self) -> tuple[UserFunctions, ...]:
        """The user-defined functions (``bp.activation``, ``bp.vector_activation``) the op holds.

        Code that a model file names but cannot store, so ``load(path, activations=...)`` must be given them.

        Returns
        -------
        tuple
            The user activations the op holds (empty for the built-in ones).

        Examples
        --------
        >>> import backprop as bp
        >>> from backprop.ops.elementwise import Elementwise
        >>> cube = bp.activation("cube", lambda z: z ** 3, lambda z: 3 * z ** 2)
        >>> Elementwise(2, cube).user_functions() == (cube,), Elementwise(2, "tanh").user_functions()
        (True, ())
        """
        return ()

    def init_params(self, rng: np.random.Generator, views: Sequence[Array]) -> None:
        """Fill the parameter views with initial values, in place (nothing to do for ops without parameters).

        Parameters
        ----------
        rng : numpy.random.Generator
            The network's generator (seeded by its ``seed``).
        views : tuple of ndarray
            The op's parameter arrays, views of ``net.params`` (empty for an op without parameters).

        Examples
        --------
        >>> import numpy as np
        >>> from backprop.ops.dense import Dense
        >>> W, b = np.empty((2, 3)), np.empty(2)
        >>> Dense(3, 2).init_params(np.random.default_rng(0), (W, b))
        >>> bool(np.all(np.abs(W) <= np.sqrt(6 / 5))), b
        (True, array([0., 0.]))
        """

    def input_width(self, k: int) -> int | None:
        """Width expected of input k, or None if any width will do.

        Parameters
        ----------
        k : int
            The input's position, 0 <= k < ``arity``.

        Returns
        -------
        int or None
            The width; by default the op's own ``size`` (a unit-by-unit op).

        Examples
        --------
        >>> from backprop.ops.dense import Dense
        >>> from backprop.ops.softmax import Softmax
        >>> Dense(3, 2).input_width(0), Softmax(4).input_width(0)
        (3, 4)
        """
        return size_of(self)

    def describe(self) -> str:
        """A short description of the op for summaries and messages.

        Returns
        -------
        str
            The op's name, with its widths or options where they tell ops apart.

        Examples
        --------
        >>> from backprop.ops.dense import Dense
        >>> from backprop.ops.softmax import Softmax
        >>> Dense(3, 2).describe(), Softmax(2).describe()
        ('dense 3->2', 'softmax')
        """
        return self.op_name


if TYPE_CHECKING:
    class BufferedOp(Protocol):
        """For the type checker only (no such class at run time): the passes of an op with ``takes_out``.

        ``forward(xs, p, out=buf)`` and ``vjp(at, dy, gp=..., need=..., out=bufs)`` as the module notes
        describe them; the engine calls an op through them only when ``accepts_out`` says it may.
        """

        def forward(self, xs: Sequence[Array], p: Any, out: Array | None = None) -> tuple[Array, object]: ...

        def vjp(self, at: At, dy: Array, *, gp: Sequence[Array] | None, need: Sequence[bool],
                out: Sequence[Maybe] | None = None) -> list[Maybe]: ...


def size_of(op: Op) -> int:
    """The output width ``op.size``: an attribute of each op, or a property (Dense: ``n_out``).

    Parameters
    ----------
    op : Op
        Any op.

    Returns
    -------
    int
        The width of the op's output node.

    Examples
    --------
    >>> from backprop.ops.dense import Dense
    >>> size_of(Dense(3, 2))
    2
    """
    size: int = getattr(op, "size")      # declared by the subclasses, so not typed on Op
    return size


def draw(seed: int, step: int, shape: tuple[int, ...]) -> np.random.Generator:
    """The random generator of a random op's draw: a pure function of (op seed, network step, batch shape).

    Every forward pass at the same step and batch shape sees the same numbers, so repeated gradient,
    Hessian and finite-difference calls at one point use one mask; ``bp.train`` advances ``net.step`` once
    per update, so every update draws afresh, bitwise reproducibly for a seed.

    Parameters
    ----------
    seed : int
        The op's seed.
    step : int
        The network's update counter ``net.step``.
    shape : tuple of int
        The batch's shape.

    Returns
    -------
    numpy.random.Generator
        A fresh generator, the same for the same three.

    Examples
    --------
    >>> a, b = draw(0, 5, (2, 3)).random(), draw(0, 5, (2, 3)).random()
    >>> a == b, a == draw(0, 6, (2, 3)).random()
    (True, False)
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(step), *map(int, shape)]))


def accepts_out(op: Op, method: str) -> bool:
    """Whether ``op``'s pass ``method`` ("forward" or "vjp") takes ``out=``.

    The class that defines the pass must declare ``takes_out = True`` in its own body.

    Parameters
    ----------
    op : Op
        Any op.
    method : {"forward", "vjp"}
        The pass.

    Returns
    -------
    bool

    Examples
    --------
    >>> from backprop.ops.dense import Dense
    >>> from backprop.ops.dropout import Dropout
    >>> accepts_out(Dense(2, 1), "forward"), accepts_out(Dropout(2), "forward")
    (True, False)
    """
    for cls in type(op).__mro__:
        if method in cls.__dict__:
            return bool(cls.__dict__.get("takes_out", False))
    return False


@overload
def accumulate(acc: Maybe, term: Array) -> Array: ...
@overload
def accumulate(acc: Array, term: Maybe) -> Array: ...
@overload
def accumulate(acc: Maybe, term: Maybe) -> Maybe: ...
def accumulate(acc: Maybe, term: Maybe) -> Maybe:
    """acc + term for adjoints and tangents, with None standing for zero.

    Returns a new array (or one of the two unchanged): a stored node value, adjoint or tangent is
    never modified in place, so every caller may hand in arrays it does not own.

    Parameters
    ----------
    acc, term : ndarray or None
        The sum so far and the term to add (None: zero).

    Returns
    -------
    ndarray or None
        The sum; None if both are None.

    Examples
    --------
    >>> import numpy as np
    >>> accumulate(None, np.ones(2)), accumulate(np.ones(2), np.ones(2)), accumulate(None, None)
    (array([1., 1.]), array([2., 2.]), None)
    """
    if term is None:
        return acc
    return term if acc is None else acc + term


def write(buf: Array, value: Maybe) -> None:
    """Overwrite the gradient buffer ``buf`` with ``value`` (None: zero).

    Parameters
    ----------
    buf : ndarray
        The buffer, changed in place.
    value : ndarray or None
        What to write (broadcast against ``buf``), or None for zeros.

    Examples
    --------
    >>> import numpy as np
    >>> buf = np.full(2, 7.0)
    >>> write(buf, None); buf
    array([0., 0.])
    """
    if value is None:
        buf[...] = 0
    else:
        buf[...] = value


def product_tangent(prod: Callable[[Array, Array], Array], a: Array, ta: Maybe, b: Array, tb: Maybe,
                    shift: Maybe = None) -> Maybe:
    """R{prod(a, b)} = prod(R{a}, b) + (prod(a, R{b}) + shift), for a product bilinear in (a, b).

    A bilinear op (z = x W^T + b and its masked form) has three products: the forward one
    z = x W^T, the input adjoint dE/dx = delta W and the weight gradient dE/dW = delta^T x.
    Its JVP and the second-order terms of its VJP are the tangents of those products, which is
    this one rule applied three times. ``ta``/``tb`` None stand for zero; ``shift`` (e.g. R{b})
    is added to the second term when that term exists. Returns None when both tangents are zero.

    Parameters
    ----------
    prod : callable
        The bilinear product ``prod(a, b)``, accepting a leading axis of m directions on either factor.
    a, b : ndarray
        The factors.
    ta, tb : ndarray or None
        Their tangents (m, ...), None for zero.
    shift : ndarray or None, optional
        Added to the second term (when ``tb`` is given).

    Returns
    -------
    ndarray or None
        The tangent of the product (m, ...), or None when it is zero.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    >>> product_tangent(np.matmul, a, np.ones((1, 1, 2)), b, None)       # R{a} b
    array([[[7.]]])
    """
    out = None if ta is None else prod(ta, b)
    if tb is not None:
        term = prod(a, tb)
        if shift is not None:
            term += shift
        out = accumulate(out, term)
    return out


def matmul_right(t: Array, M: Array) -> Array:
    """t @ M for a tangent t of shape (m, B, k), as one matrix product over all m*B rows.

    Parameters
    ----------
    t : ndarray
        Tangents (m, B, k).
    M : ndarray
        A matrix (k, n).

    Returns
    -------
    ndarray
        (m, B, n).

    Examples
    --------
    >>> import numpy as np
    >>> matmul_right(np.ones((2, 3, 4)), np.ones((4, 5))).shape
    (2, 3, 5)
    """
    m, B, k = t.shape
    return (t.reshape(m * B, k) @ M).reshape(m, B, M.shape[1])
