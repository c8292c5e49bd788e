"""A network: a feed-forward graph of operations whose nodes are in order.

Node 0 is the input X (B, d). Node i >= 1 is the output of ``ops[i-1]`` applied to the
nodes listed in ``inputs[i-1]``, all of which come earlier (the "nodes in order" rule:
the input of node i can be computed from the outputs of nodes 0..i-1). The last node
is the network's output Y. A layered MLP is the chain special case:
dense, activation, dense, activation, ...

Every parameter of every op lives in ONE contiguous 1-D array ``net.params``, op by
op in node order, each op's arrays row-major one after another (a dense layer: W of
shape (out, in), then b) — the order of a torch ``nn.Sequential`` state_dict. Each op
sees views into it, so ``net.params[:] = v`` changes the network.
"""
from __future__ import annotations

import copy as _copy
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import dispatch
from ..errors import ConfigError
from ..registry import Registry
from ..ops.activations import ActivationSpec
from ..ops.arrays import Array, Maybe
from ..ops.base import Op, size_of
from ..ops.dense import Dense
from ..ops.dropout import Dropout
from ..ops.elementwise import Elementwise
from ..ops.normalization import BatchNorm, LayerNorm
from ..ops.rrelu import RReLU
from ..ops.softmax import Softmax
from ..validation import check_seed, check_X
from .model_formats import save as save_model

if TYPE_CHECKING:
    from ..ops.base import BufferedOp

_DTYPES = (np.float32, np.float64)


#: the Network classes a model file may name, registered where each is defined
NETWORK_CLASSES = Registry("network class")


class ParamLayer(NamedTuple):
    """An op with parameters at position ``index`` of the graph, and its views into ``net.params``.

    Parameters
    ----------
    index : int
        The op's position j in ``net.ops`` (it computes node j + 1).
    op : Op
        The op.
    views : tuple of ndarray
        Its parameter arrays, views of ``net.params``.

    Examples
    --------
    >>> import backprop as bp
    >>> [(L.index, L.op.describe(), len(L.views)) for L in bp.MLP([3, 4, 2]).param_layers()]
    [(0, 'dense 3->4', 2), (2, 'dense 4->2', 2)]
    """

    index: int  # type: ignore[assignment]  # the field's name shadows tuple.index; callers read ``L.index``
    op: Op
    views: tuple[Array, ...]


class Layer:
    """One layer with parameters, its arrays by their declared names (``W``, ``b``) as views of ``net.params``.

    Assigning an array (``layer.W = W0``) checks its shape and values and writes it into ``net.params``.

    Parameters
    ----------
    index : int
        The op's position in ``net.ops``.
    op : Op
        The op.
    views : tuple of ndarray
        Its parameter arrays, views of ``net.params``, in ``op.param_names`` order.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([3, 4, 2])
    >>> net.layers[0]
    Layer(0, dense 3->4: W(4, 3), b(4,))
    """

    __slots__ = ("index", "op", "_views")
    index: int
    op: Op
    _views: dict[str, Array]

    def __init__(self, index: int, op: Op, views: Sequence[Array]):
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "_views", dict(zip(op.param_names, views)))

    def __getattr__(self, name: str) -> Array:
        views: dict[str, Array] = object.__getattribute__(self, "_views")
        if name in views:
            return views[name]
        raise AttributeError(f"{type(self).__name__} ({self.op.describe()}) has no parameter {name!r}; "
                             f"it has {', '.join(views)}")

    def __setattr__(self, name: str, value: ArrayLike) -> None:
        if name not in self._views:
            raise AttributeError(f"{self.op.describe()} has no parameter {name!r}; it has {', '.join(self._views)}")
        view = self._views[name]
        v = np.asarray(value)
        if v.shape != view.shape:
            raise ConfigError(f"{name} of {self.op.describe()} must have shape {view.shape}; got {v.shape}")
        if v.dtype.kind not in "biuf" or not np.all(np.isfinite(v)):
            raise ConfigError(f"{name} must be finite numbers")
        view[...] = v

    def __repr__(self) -> str:
        return f"Layer({self.index}, {self.op.describe()}: {', '.join(f'{k}{v.shape}' for k, v in self._views.items())})"


def _check_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise ConfigError(f"dtype must be float32 or float64 (np.float32, np.float64 or their names); "
                          f"got {dtype!r}") from None
    if dt.type not in _DTYPES:
        raise ConfigError(f"dtype must be float32 or float64; got {dt}")
    return dt


@NETWORK_CLASSES.register("Network")
class Network:
    """A feed-forward graph of operations with all parameters in one flat vector.

    Parameters
    ----------
    n_inputs : int
        Width d of the input node.
    ops : list of Op
        The operations, in order; ``ops[i]`` computes node ``i + 1``.
    inputs : list of tuple of int, optional
        ``inputs[i]`` lists the nodes ``ops[i]`` reads; default: the chain ``(i,)``.
    seed : int or None
        Seed of the random initialisation.
    dtype : float32 or float64
    params : array, optional
        Initial parameter vector (otherwise initialised from ``seed``).

    Examples
    --------
    >>> import backprop as bp
    >>> from backprop.ops.dense import Dense
    >>> from backprop.ops.elementwise import Elementwise
    >>> net = Network(2, [Dense(2, 3), Elementwise(3, "tanh"), Dense(3, 1)])
    >>> net.widths, net.inputs, net.n_params
    ([2, 3, 3, 1], [(0,), (1,), (2,)], 13)
    >>> Network(2, [Dense(2, 3), Dense(2, 1)], inputs=[(0,), (0,)]).widths      # both read the input X
    [2, 3, 1]
    """

    def __init__(self, n_inputs: int, ops: Iterable[Op], inputs: Iterable[Iterable[int]] | None = None,
                 seed: int | np.random.Generator | None = 0, dtype: DTypeLike = np.float64,
                 params: ArrayLike | None = None):
        if not isinstance(n_inputs, (int, np.integer)) or isinstance(n_inputs, bool) or n_inputs < 1:
            raise ConfigError(f"the number of inputs must be an integer >= 1; got {n_inputs!r}")
        try:
            ops = list(ops)
        except TypeError:
            raise ConfigError(f"ops must be a list of operations; got {ops!r}") from None
        if not ops:
            raise ConfigError("a network needs at least one operation")
        self.dtype = _check_dtype(dtype)
        seed = check_seed(seed)
        self.n_inputs = int(n_inputs)
        self.ops: list[Op] = list(ops)
        try:
            self.inputs: list[tuple[int, ...]]
            self.inputs = ([tuple(int(i) if isinstance(i, (int, np.integer)) and not isinstance(i, bool) else i
                                  for i in ix) for ix in inputs]
                           if inputs is not None else [(i,) for i in range(len(ops))])
        except TypeError:
            raise ConfigError(f"inputs must list, for every operation, a tuple of the nodes it reads; "
                              f"got {inputs!r}") from None
        self._check_graph()
        # parameter layout: op j owns params[offsets[j]:offsets[j+1]], one (start, stop, shape) per array
        sizes = [op.n_params for op in self.ops]
        self.param_counts = sizes
        self.offsets: NDArray[np.int_] = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self._layout: list[list[tuple[int, int, tuple[int, ...]]]] = []
        for j, op in enumerate(self.ops):
            pos, parts = int(self.offsets[j]), cast("list[tuple[int, int, tuple[int, ...]]]", [])
            for shape in op.param_shapes:
                n = int(np.prod(shape, dtype=int))
                parts.append((pos, pos + n, tuple(shape)))
                pos += n
            self._layout.append(parts)
        for op in self.ops:
            if op.state_specs:
                op.init_state(self.dtype)
        self.step = 0
        self._params = np.zeros(int(self.offsets[-1]), dtype=self.dtype)
        self._views = [self.split(self._params, j) for j in range(len(self.ops))]
        if params is not None:
            self.params = params
        else:
            rng = np.random.default_rng(seed)
            for op, views in zip(self.ops, self._views):
                op.init_params(rng, views if views is not None else ())
        self._reg_mask: NDArray[np.bool_] | None = None

    @classmethod
    def check_loaded(cls, net: Network, where: str) -> None:
        """Checks a subclass makes on a network rebuilt from a file (none for a plain Network).

        Parameters
        ----------
        net : Network
            The network read from a file.
        where : str
            The file, for messages.

        Examples
        --------
        >>> import backprop as bp
        >>> Network.check_loaded(bp.MLP([2, 1], output="identity"), "model.npz") is None
        True
        """

    # ---- structure ------------------------------------------------------------------------
    def _check_graph(self) -> None:
        if len(self.inputs) != len(self.ops):
            raise ConfigError(f"inputs lists {len(self.inputs)} entries for {len(self.ops)} operations")
        widths = [self.n_inputs]
        for j, (op, ix) in enumerate(zip(self.ops, self.inputs)):
            node = j + 1
            if not isinstance(op, Op):
                raise ConfigError(f"node {node}: {op!r} is not an operation")
            if len(ix) != op.arity:
                raise ConfigError(f"node {node} ({op.describe()}) takes {op.arity} input(s); got {len(ix)}")
            for i in ix:
                if not isinstance(i, int):
                    raise ConfigError(f"node {node} reads {i!r}; nodes are integers 0..{node - 1}")
                if not 0 <= i < node:
                    raise ConfigError(f"node {node} reads node {i}; a node may only read earlier nodes 0..{node - 1}")
            for k, i in enumerate(ix):
                want = op.input_width(k)
                if want is not None and want != widths[i]:
                    raise ConfigError(f"node {node} ({op.describe()}) expects input {k} of width {want}; "
                                      f"node {i} has width {widths[i]}")
            widths.append(size_of(op))
        self.widths = widths
        # nodes whose value depends on some parameter: only those need adjoints in the backward pass
        dep = [False]
        for op, ix in zip(self.ops, self.inputs):
            dep.append(op.n_params > 0 or any(dep[i] for i in ix))
        self.depends_on_params = dep

    @property
    def n_outputs(self) -> int:
        """The width c of the output node."""
        return self.widths[-1]

    @property
    def head_input(self) -> int:
        """The node the output op reads (its input z when the output op is an activation).

        A loss fused with the output activation (softmax + cross-entropy, sigmoid + bce, exp + poisson)
        is evaluated at this node. It is read from the graph, so it holds for any topology: the output
        op may read any earlier node, with skips and other branches around it.
        """
        return self.inputs[-1][0]

    @property
    def n_params(self) -> int:
        """The number of parameters, the length of ``params``."""
        return int(self.offsets[-1])

    def split(self, flat: Array, j: int) -> tuple[Array, ...] | None:
        """The parameter arrays of op j as views of ``flat``, whose last axis is the parameter index.

        Parameters
        ----------
        flat : ndarray
            A vector over the parameters (n_params,), or with leading axes (m, n_params) (e.g. m directions).
        j : int
            The op's position in ``ops``.

        Returns
        -------
        tuple of ndarray or None
            Views of ``flat``, of shape ``shape`` or ``(m, *shape)``; None for an op without parameters.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([3, 4, 2])
        >>> [v.shape for v in net.split(np.zeros((5, net.n_params)), 2)], net.split(net.params, 1)
        ([(5, 2, 4), (5, 2)], None)
        """
        lead = flat.shape[:-1]
        out = tuple(flat[..., a:b].reshape(lead + shape) for a, b, shape in self._layout[j])
        return out or None

    @property
    def params(self) -> np.ndarray:
        """All weights and biases as one contiguous 1-D array (layer by layer, W row-major then b)."""
        return self._params

    @params.setter
    def params(self, value: ArrayLike) -> None:
        v = np.asarray(value)
        if v.shape != self._params.shape:
            raise ConfigError(f"params must have shape ({self.n_params},); got {v.shape}")
        if v.dtype.kind not in "biuf" or not np.all(np.isfinite(v)):
            raise ConfigError("params must be finite numbers")
        self._params[...] = v

    # tuple[Array, ...] | None; typed Any because callers index the views of ops they know have parameters
    def views(self, j: int) -> Any:
        """Parameter views of op j into ``net.params``.

        Parameters
        ----------
        j : int
            The op's position in ``ops``.

        Returns
        -------
        tuple of ndarray or None
            Its arrays (``W``, ``b``, ...) as views; None for an op without parameters.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([3, 4, 2])
        >>> W, b = net.views(0)
        >>> W.shape, np.shares_memory(W, net.params)
        ((4, 3), True)
        """
        return self._views[j]

    @property
    def reg_mask(self) -> np.ndarray:
        """Boolean mask over ``params``: True for weights (L2-regularised), False for biases."""
        if self._reg_mask is None:
            mask = np.zeros(self.n_params, dtype=bool)
            for j, op in enumerate(self.ops):
                for view, reg in zip(self.split(mask, j) or (), op.regularized):
                    view[...] = reg
            self._reg_mask = mask
        return self._reg_mask

    def param_layers(self) -> list[ParamLayer]:
        """(index, op, views) for every op that has parameters, in order: what the engine iterates over.

        Returns
        -------
        list of ParamLayer

        Examples
        --------
        >>> import backprop as bp
        >>> [L.index for L in bp.MLP([3, 4, 4, 2]).param_layers()]
        [0, 2, 4]
        """
        return [ParamLayer(j, op, self._views[j] or ()) for j, op in enumerate(self.ops) if self.param_counts[j]]

    @property
    def layers(self) -> list[Layer]:
        """The layers with parameters: ``net.layers[k].W`` and ``.b`` are views into ``net.params``.

        Writes go both ways: ``net.layers[0].W[0, 0] = 1`` and ``net.layers[0].W = W0`` change
        ``net.params``, and a change of ``net.params`` shows in the views.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([3, 4, 2], seed=0)
        >>> net.layers[1].W.shape, net.layers[1].b.shape
        ((2, 4), (2,))
        >>> net.layers[1].b = [1.0, 2.0]; float(net.params[-1])
        2.0
        """
        return [Layer(j, op, views) for j, op, views in self.param_layers()]

    def locate(self, k: int) -> str:
        """Describe flat parameter index k, e.g. ``'layer 2 (dense 32->10) W[3, 7]'``.

        Parameters
        ----------
        k : int
            An index into ``params``.

        Returns
        -------
        str
            The layer (counted from 1 over the layers with parameters), its op, array and position.

        Examples
        --------
        >>> import backprop as bp
        >>> bp.MLP([3, 4, 2]).locate(17)
        'layer 2 (dense 4->2) W[0, 1]'
        """
        j = int(np.searchsorted(self.offsets, k, side="right") - 1)
        op = self.ops[j]
        layer = [L.index for L in self.param_layers()].index(j) + 1
        pos = k - int(self.offsets[j])
        for name, shape in zip(op.param_names, op.param_shapes):
            n = int(np.prod(shape, dtype=int))
            if pos < n:
                idx = np.unravel_index(pos, shape)
                return f"layer {layer} ({op.describe()}) {name}[{', '.join(str(int(i)) for i in idx)}]"
            pos -= n
        return f"parameter {k}"

    # ---- mode, step and state ---------------------------------------------------------------
    @property
    def step(self) -> int:
        """The update counter: ``bp.train`` adds 1 per update. Random ops (dropout, rrelu) draw their
        training-mode masks from (their seed, ``step``, the batch shape), so calls at one step agree."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < 0:
            raise ConfigError(f"step must be an integer >= 0; got {value!r}")
        self._step = int(value)
        for op in self.ops:
            if op.has_modes:
                op.step = self._step

    @property
    def batch_coupled_ops(self) -> list[tuple[int, Op]]:
        """(node, op) for every op whose output rows depend on other rows in the current mode."""
        return [(j + 1, op) for j, op in enumerate(self.ops) if op.batch_coupled]

    def _row_dependence(self, draws: bool = True) -> tuple[int, Op, str] | None:
        """(node, op, why) of the first op that makes the rows of a batch depend on the batch as a whole in
        the current mode, or None: a batch-coupled op, or (with ``draws``) a random op in training mode, whose
        draw depends on the batch shape, so that a split or repeated batch would draw other masks."""
        for j, op in enumerate(self.ops):
            if op.batch_coupled:
                return j + 1, op, "couples the rows of the batch"
            if draws and op.random and op.has_modes and op.training:
                return j + 1, op, "draws its masks for the batch as a whole (from its shape)"
        return None

    @property
    def rows_independent(self) -> bool:
        """True when every row of a batch can be computed on its own, in chunks or repeated (see
        ``check_rows_independent``); False in training mode with a batch-coupled or random op."""
        return self._row_dependence() is None

    def check_rows_independent(self, what: str, draws: bool = True) -> None:
        """ConfigError when ``what`` (a per-row or batch-splitting computation) meets an op whose rows depend
        on the whole batch in the current mode.

        Parameters
        ----------
        what : str
            The computation, for the message.
        draws : bool, default True
            Also refuse random ops (dropout, rrelu) in training mode, whose draws depend on the batch shape
            (for a computation that splits or repeats the batch); False: batch statistics only.

        Examples
        --------
        >>> import backprop as bp
        >>> net = bp.MLP([2, 3, 2], dropout=0.5).train()
        >>> net.check_rows_independent("per-row gradients", draws=False)
        >>> net.check_rows_independent("per-row gradients")
        Traceback (most recent call last):
        ...
        backprop.errors.ConfigError: per-row gradients treats the rows of a batch independently ...
        """
        found = self._row_dependence(draws)
        if found is not None:
            node, op, why = found
            raise ConfigError(f"{what} treats the rows of a batch independently (or splits the batch), but node "
                              f"{node} ({op.describe()}) {why} in training mode; call net.eval() first, or use "
                              "the whole-batch gradient, Hessian or HVP, which are exact in either mode")

    @contextmanager
    def using_mode(self, training: bool) -> Iterator[Network]:
        """Within the block every op with a mode is in ``training`` (True) or evaluation mode; afterwards,
        also on error, each op has the mode it had before.

        Parameters
        ----------
        training : bool
            The mode inside the block.

        Returns
        -------
        context manager
            Yields the network.

        Examples
        --------
        >>> import backprop as bp
        >>> net = bp.MLP([2, 3, 2], dropout=0.5)
        >>> with net.using_mode(True):
        ...     net.training
        True
        >>> net.training
        False
        """
        before = [(op, op.training) for op in self.ops if op.has_modes]
        self.train(training)
        try:
            yield self
        finally:
            for op, mode in before:
                op.training = mode

    @property
    def training(self) -> bool:
        """True in training mode (batch statistics, dropout on); False in evaluation mode (the default)."""
        return any(op.training for op in self.ops if op.has_modes)

    def train(self, mode: bool = True) -> Network:
        """Switch every op with a mode to training (``mode=True``) or evaluation; returns the network.

        Parameters
        ----------
        mode : bool, default True
            True: training mode (batch statistics, dropout on); False: evaluation mode.

        Returns
        -------
        Network
            The network itself.

        Examples
        --------
        >>> import backprop as bp
        >>> bp.MLP([2, 3, 2], dropout=0.5).train().training
        True
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise ConfigError(f"mode must be True (training) or False (evaluation); got {mode!r}")
        for op in self.ops:
            if op.has_modes:
                op.training = bool(mode)
        return self

    def eval(self) -> Network:
        """Switch to evaluation mode (running statistics, dropout off); returns the network.

        Returns
        -------
        Network
            The network itself.

        Examples
        --------
        >>> import backprop as bp
        >>> bp.MLP([2, 3, 2], dropout=0.5).train().eval().training
        False
        """
        return self.train(False)

    # ---- evaluation -----------------------------------------------------------------------
    def forward_values(self, X: Array, upto: int | None = None,
                       out: Sequence[Maybe] | None = None) -> tuple[list[Array], list[object]]:
        """Node values for a validated batch X: list of arrays, node 0 first (up to node ``upto``).

        Parameters
        ----------
        X : ndarray of shape (B, d)
            A validated batch (``validation.check_X``) of the network's dtype.
        upto : int, optional
            The last node to compute (default: the output).
        out : list of ndarray or None, optional
            An execution plan's buffers: one array or None per op; op j is given ``out=out[j]`` when that
            is not None (see ``ops.base`` on output buffers).

        Returns
        -------
        values : list of ndarray
            ``values[i]`` = node i (B, width), node 0 = X.
        caches : list
            What each op's ``forward`` returned beside its output.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> values, caches = bp.MLP([3, 4, 2]).forward_values(np.zeros((5, 3)))
        >>> [v.shape for v in values]
        [(5, 3), (5, 4), (5, 4), (5, 2), (5, 2)]
        """
        values: list[Array] = [X]
        caches: list[object] = []
        n = len(self.ops) if upto is None else upto
        for j, (op, ix, p) in enumerate(zip(self.ops[:n], self.inputs[:n], self._views[:n])):
            buf = None if out is None else out[j]
            if buf is None:
                y, cache = op.forward([values[i] for i in ix], p)
            else:
                y, cache = cast("BufferedOp", op).forward([values[i] for i in ix], p, out=buf)
            values.append(y)
            caches.append(cache)
        return values, caches

    def predict(self, X: ArrayLike) -> Array:
        """Network output for a batch.

        Always in evaluation mode (inference: dropout off, running statistics), whatever ``net.training``.

        Parameters
        ----------
        X : array-like of shape (B, d)

        Returns
        -------
        ndarray of shape (B, c)

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> Y = bp.MLP([3, 4, 2]).predict(np.zeros((5, 3)))
        >>> Y.shape, np.allclose(Y.sum(axis=1), 1)
        ((5, 2), True)
        """
        if (on_dask := dispatch.on_dask("predict", X)) is not None:
            result: Array = on_dask(self, X)
            return result
        X = check_X(X, self.n_inputs, self.dtype)
        with self.using_mode(False):
            return self.forward_values(X)[0][-1]

    __call__ = predict

    @property
    def output_activation(self) -> str | None:
        """Name of the last op's activation ('softmax', 'sigmoid', ...), or None."""
        op = self.ops[-1]
        if isinstance(op, Softmax):
            return "softmax"
        if isinstance(op, Elementwise):
            return op.act.name
        return None

    def config(self) -> dict[str, Any]:
        """The architecture as JSON-able data: what a model file records beside the parameters.

        Returns
        -------
        dict
            ``{"n_inputs", "dtype", "ops": [op.config(), ...], "inputs": [[node, ...], ...]}``.

        Examples
        --------
        >>> import backprop as bp
        >>> bp.MLP([3, 2], output="sigmoid").config()
        {'n_inputs': 3, 'dtype': 'float64',
         'ops': [{'op': 'dense', 'n_in': 3, 'n_out': 2, 'init': 'glorot'},
                 {'op': 'activation', 'size': 2, 'activation': {'name': 'sigmoid'}}], 'inputs': [[0], [1]]}
        """
        return {"n_inputs": self.n_inputs, "dtype": self.dtype.name,
                "ops": [op.config() for op in self.ops], "inputs": [list(ix) for ix in self.inputs]}

    def state_dict(self) -> dict[str, Array]:
        """The parameters and buffers by name, with the keys of the equivalent PyTorch ``nn.Sequential``.

        Returns
        -------
        dict of str -> ndarray
            Copies, op by op: ``"{j}.weight"`` (out, in) and ``"{j}.bias"`` for a dense op j, then the op's
            buffers (``"{j}.running_mean"``, ...) in torch's order; ops without parameters keep their index
            (``0.weight, 0.bias, 2.weight, 2.bias``).

        Examples
        --------
        >>> import backprop as bp
        >>> list(bp.MLP([3, 4, 2]).state_dict())
        ['0.weight', '0.bias', '2.weight', '2.bias']
        """
        from .state_dict import state_dict
        return state_dict(self)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Set the parameters and buffers from a ``state_dict()``-shaped mapping (NumPy arrays or torch tensors).

        Parameters
        ----------
        state_dict : mapping of str -> array
            Exactly this network's keys, each with its shape (buffers: finite, counters whole numbers >= 0);
            otherwise ConfigError and nothing changes.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> a, b = bp.MLP([3, 4, 2], seed=0), bp.MLP([3, 4, 2], seed=1)
        >>> b.load_state_dict(a.state_dict())
        >>> bool(np.array_equal(a.params, b.params))
        True
        """
        from .state_dict import load_state_dict
        load_state_dict(self, state_dict)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save architecture (JSON) and parameters to ``path``, atomically; see ``backprop.load``.

        Parameters
        ----------
        path : str or path-like
            A path ending in ``.safetensors`` writes the safetensors format (parameters under the
            ``state_dict()`` keys, readable by PyTorch); any other path a backprop ``.npz`` model file.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([3, 4, 2])
        >>> net.save("tiny.npz")
        >>> bool(np.array_equal(bp.load("tiny.npz").params, net.params))
        True
        """
        save_model(self, path)

    def buffers(self) -> list[dict[str, Array] | None]:
        """A copy of every op's buffers (``op.state``: running statistics and the like), for ``set_buffers``.

        Returns
        -------
        list
            Per op, a dict of copies of its buffers, or None for an op without any.

        Examples
        --------
        >>> import numpy as np, backprop as bp
        >>> net = bp.MLP([2, 3, 1], output="identity", normalization="batch")
        >>> saved = net.buffers()
        >>> net.ops[1].state["running_mean"][:] = 5.0
        >>> net.set_buffers(saved)
        >>> net.ops[1].state["running_mean"]
        array([0., 0., 0.])
        """
        return [{k: v.copy() for k, v in op.state.items()} if op.state_specs else None for op in self.ops]

    def set_buffers(self, buffers: Sequence[Mapping[str, ArrayLike] | None]) -> None:
        """Give every op copies of the buffers ``buffers()`` took (or checked ones of the same shapes).

        Parameters
        ----------
        buffers : list
            Per op, a dict of its buffers or None, as ``buffers()`` returns; each is copied in the op's dtype.

        Examples
        --------
        >>> import backprop as bp
        >>> net = bp.MLP([2, 3, 1], output="identity", normalization="batch")
        >>> net.set_buffers(net.buffers())
        """
        for op, state in zip(self.ops, buffers):
            if state is not None:
                op.state = {k: np.array(v, dtype=op.state[k].dtype) for k, v in state.items()}

    def copy(self) -> Network:
        """An independent network with the same structure, a copy of the parameters, and of every op with
        a mode or buffers (its mode, step and state), so changing one network never changes the other.

        Returns
        -------
        Network
            A network of the same class.

        Examples
        --------
        >>> import backprop as bp
        >>> net = bp.MLP([3, 4, 2])
        >>> twin = net.copy()
        >>> twin.params[0] = 7.0
        >>> float(twin.params[0]), float(net.params[0]) == 7.0
        (7.0, False)
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.ops = [_copy.deepcopy(op) if (op.has_modes or op.state_specs) else op for op in self.ops]
        new._params = self._params.copy()
        new._views = [new.split(new._params, j) for j in range(len(new.ops))]
        return new

    def summary(self) -> str:
        """A table of the nodes: what each reads, its op, width and number of parameters.

        Returns
        -------
        str
            One header line, then one line per node.

        Examples
        --------
        >>> import backprop as bp
        >>> print(bp.MLP([3, 2], output="sigmoid").summary())
        MLP: 3 inputs -> 2 outputs, 8 parameters, float64
          node   1 <- 0      dense 3->2             width     2  params 8
          node   2 <- 1      sigmoid                width     2  params 0
        """
        lines = [f"{type(self).__name__}: {self.n_inputs} inputs -> {self.n_outputs} outputs, "
                 f"{self.n_params} parameters, {self.dtype.name}"]
        for j, (op, ix) in enumerate(zip(self.ops, self.inputs)):
            src = ",".join(map(str, ix))
            width = size_of(op)
            lines.append(f"  node {j + 1:>3} <- {src:<6} {op.describe():<22} width {width:>5}  params {op.n_params}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.n_inputs}->{self.n_outputs}, {self.n_params} params, {self.dtype.name}>"


#: activations that are ops of their own (a mode, a random draw), not scalar functions: name -> class
_OP_ACTIVATIONS: dict[str, Callable[..., Op]] = {"softmax": Softmax, "rrelu": RReLU}


def _op_seed(seed: int | np.random.Generator | None, k: int) -> int:
    """The seed of the k-th random op of a network built from ``seed``: distinct per op, reproducible."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2 ** 32))
    return int(np.random.SeedSequence(None if seed is None else [int(seed), int(k)]).generate_state(1)[0])


def _activation_op(size: int, spec: ActivationSpec, seed: int | np.random.Generator | None = 0, k: int = 0) -> Op:
    """The op computing activation ``spec``: softmax, rrelu (a name, or {"name": "rrelu", options}) or a scalar one."""
    name = spec.get("name") if isinstance(spec, dict) else spec
    if isinstance(name, str) and name in _OP_ACTIVATIONS:
        options = {key: v for key, v in spec.items() if key != "name"} if isinstance(spec, dict) else {}
        if name == "rrelu":
            options.setdefault("seed", _op_seed(seed, k))
        try:
            return _OP_ACTIVATIONS[name](size, **options)
        except TypeError as e:
            raise ConfigError(f"activation {name!r} does not take these options: {e}") from None
    return Elementwise(size, spec)


def _init_for(spec: ActivationSpec) -> str:
    name = spec.get("name") if isinstance(spec, dict) else spec
    if isinstance(name, str) and name in _OP_ACTIVATIONS:
        return "he" if name == "rrelu" else "glorot"
    from ..ops.activations import get_activation
    return get_activation(spec).init


#: ``bp.MLP(..., normalization=...)``: the op inserted after each hidden dense layer, before its activation
NORMALIZATIONS: dict[str, type[BatchNorm] | type[LayerNorm]] = {"batch": BatchNorm, "layer": LayerNorm}


def _check_normalization(normalization: object) -> str | None:
    if normalization is not None and (not isinstance(normalization, str) or normalization not in NORMALIZATIONS):
        raise ConfigError(f"unknown normalization {normalization!r}; expected None, "
                          f"{', '.join(map(repr, NORMALIZATIONS))}")
    return normalization


def _normalization_of(op: Op) -> str | None:
    """The ``normalization`` name of a normalisation op (None for any other op)."""
    return next((name for name, cls in NORMALIZATIONS.items() if type(op) is cls), None)


def mlp_layout(n_inputs: int, ops: Sequence[Op],
               inputs: Sequence[Sequence[int]]) -> tuple[list[int], str | None, float] | None:
    """(sizes, normalization, dropout) when ``ops`` chained by ``inputs`` are the layers of a ``bp.MLP``, else None.

    An MLP is a chain of layers, each a dense op, then (hidden layers only, the same kind in every one) a
    normalisation op, then an activation op, then (hidden layers only, the same p in every one) a dropout op.

    Parameters
    ----------
    n_inputs : int
        The width of the input node.
    ops : list of Op
        The network's ops.
    inputs : list of list of int
        The nodes each op reads.

    Returns
    -------
    tuple or None
        ``(sizes, normalization, dropout)``, the arguments of ``bp.MLP`` that build these ops; None if they
        are not an MLP.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([3, 4, 2], hidden="relu", dropout=0.25)
    >>> mlp_layout(net.n_inputs, net.ops, net.inputs)
    ([3, 4, 2], None, 0.25)
    >>> mlp_layout(3, net.ops[1:], net.inputs[:-1]) is None          # not starting with a dense op
    True
    """
    if any(list(ix) != [i] for i, ix in enumerate(inputs)):
        return None
    sizes, k = [int(n_inputs)], 0
    kinds: list[str | None] = []
    drops: list[float] = []
    while k < len(ops):
        if not isinstance(ops[k], Dense):
            return None
        sizes.append(size_of(ops[k]))
        kinds.append(_normalization_of(ops[k + 1]) if k + 1 < len(ops) else None)
        k += 2 if kinds[-1] else 1
        if k >= len(ops) or isinstance(ops[k], (Dense, Dropout)) or _normalization_of(ops[k]):
            return None
        k += 1
        op_k = ops[k] if k < len(ops) else None
        drops.append(op_k.p if isinstance(op_k, Dropout) else 0.0)
        k += 1 if drops[-1] else 0
    if kinds[-1] is not None or len(set(kinds[:-1])) > 1 or drops[-1] or len(set(drops[:-1])) > 1:
        return None
    hidden = len(kinds) > 1
    return sizes, (kinds[0] if hidden else None), (float(drops[0]) if hidden else 0.0)


@NETWORK_CLASSES.register("MLP")
class MLP(Network):
    """Multilayer perceptron: z_k = y_{k-1} W_k^T + b_k, y_k = f_k(z_k).

    Parameters
    ----------
    sizes : list of int
        Layer widths ``[d, h1, ..., hL, c]``: inputs, hidden layers, outputs.
    hidden : str, ScalarActivation, or list of them
        Hidden activation, one for all hidden layers or one per hidden layer.
    output : str or ScalarActivation
        Output activation: "softmax", "sigmoid", "identity", ...
    seed : int or None
        Seed of the initialisation (Glorot uniform for tanh/sigmoid/identity/softmax layers,
        He normal for relu-like layers; biases zero) and of the dropout and rrelu draws.
    dtype : float64 (default) or float32
    params : array, optional
        Initial parameter vector (otherwise initialised from ``seed``).
    normalization : None, "batch" or "layer"
        Insert a BatchNorm (``"batch"``) or LayerNorm (``"layer"``) after each hidden dense layer, before its
        activation (torch's order Linear, BatchNorm1d, activation, Dropout); its weight and bias follow the
        dense layer's in ``params``.
    dropout : float, default 0.0
        With p > 0, a Dropout(p) after each hidden activation (active in training mode only).

    Notes
    -----
    The hidden activation may be ``"rrelu"`` (or ``{"name": "rrelu", "lower": ..., "upper": ...}``), the
    randomized leaky ReLU: random slopes in training mode, their mean in evaluation mode.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([64, 32, 10], hidden="tanh", output="softmax", seed=0)
    >>> net.n_params
    2410
    >>> [op.describe() for op in bp.MLP([4, 8, 2], hidden="relu", dropout=0.2).ops]
    ['dense 4->8', 'relu', 'dropout p=0.2', 'dense 8->2', 'softmax']
    >>> [op.describe() for op in bp.MLP([3, 4, 2], hidden="relu", normalization="batch").ops]
    ['dense 3->4', 'batch_norm 4', 'relu', 'dense 4->2', 'softmax']
    """

    #: the normalisation after each hidden dense layer (None, "batch" or "layer")
    normalization: str | None = None
    #: the dropout probability after each hidden activation
    dropout = 0.0

    def __init__(self, sizes: Sequence[int], hidden: ActivationSpec | Sequence[ActivationSpec] = "tanh",
                 output: ActivationSpec = "softmax", seed: int | np.random.Generator | None = 0,
                 dtype: DTypeLike = np.float64, params: ArrayLike | None = None, *,
                 normalization: str | None = None, dropout: float = 0.0):
        given: object = sizes
        try:
            given = list(sizes) if not isinstance(sizes, (str, bytes, dict)) else sizes
        except TypeError:
            pass                # not iterable: refused just below
        if not isinstance(given, list) or len(given) < 2:
            raise ConfigError(f"sizes must list at least [n_inputs, n_outputs]; got {given!r}")
        sizes = given
        for s in sizes:
            if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1:
                raise ConfigError(f"every layer size must be an integer >= 1; got sizes={sizes!r}")
        n_hidden = len(sizes) - 2
        acts: list[ActivationSpec] = (list(hidden) if isinstance(hidden, (list, tuple))
                                      else [cast(ActivationSpec, hidden)] * n_hidden)
        if len(acts) != n_hidden:
            raise ConfigError(f"hidden lists {len(acts)} activations for {n_hidden} hidden layers")
        acts.append(output)
        if isinstance(dropout, (bool, np.bool_)) or not isinstance(dropout, (int, float, np.integer, np.floating)) \
                or not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"dropout must be a probability with 0 <= dropout < 1; got {dropout!r}")
        seed = check_seed(seed)
        kind = _check_normalization(normalization)
        norm = None if kind is None else NORMALIZATIONS[kind]
        ops: list[Op] = []
        for k, act in enumerate(acts):
            ops.append(Dense(int(sizes[k]), int(sizes[k + 1]), init=_init_for(act)))
            if norm is not None and k < n_hidden:
                ops.append(norm(int(sizes[k + 1])))
            ops.append(_activation_op(int(sizes[k + 1]), act, seed, len(ops)))
            if dropout and k < n_hidden:
                ops.append(Dropout(int(sizes[k + 1]), float(dropout), seed=_op_seed(seed, len(ops))))
        self.sizes = [int(s) for s in sizes]
        self.normalization = normalization
        self.dropout = float(dropout)
        super().__init__(int(sizes[0]), ops, seed=seed, dtype=dtype, params=params)


def Sequential(n_inputs: int, layers: Iterable[Any], seed: int | np.random.Generator | None = 0,
               dtype: DTypeLike = np.float64, params: ArrayLike | None = None) -> Network:
    """Compose a chain network from layer specifications.

    Parameters
    ----------
    n_inputs : int
        Width d of the input node.
    layers : list
        Each entry is ``("dense", n_out)`` (or just an int ``n_out``), an activation
        name or ScalarActivation (``"relu"``, ``"softmax"``, ``bp.activation(...)``), or an Op.
    seed : int or None
        Seed of the random initialisation (and of the rrelu draws).
    dtype : float32 or float64
    params : array, optional
        Initial parameter vector (otherwise initialised from ``seed``).

    Returns
    -------
    Network

    Examples
    --------
    >>> net = Sequential(2, [4, "relu", 3, "tanh", 1, "sigmoid"])
    >>> [op.describe() for op in net.ops]
    ['dense 2->4', 'relu', 'dense 4->3', 'tanh', 'dense 3->1', 'sigmoid']
    """
    if not isinstance(n_inputs, (int, np.integer)) or isinstance(n_inputs, bool) or n_inputs < 1:
        raise ConfigError(f"the number of inputs must be an integer >= 1; got {n_inputs!r}")
    seed = check_seed(seed)
    if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
        raise ConfigError(f"layers must be a list of layer specifications (ints, activation names, ops); "
                          f"got {layers!r}")
    ops: list[Op | tuple[Any, ...]] = []
    width = int(n_inputs)
    for spec in layers:
        if isinstance(spec, tuple) and spec and spec[0] == "dense":
            spec = spec[1]
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            pending_dense = int(spec)
            ops.append(("dense", width, pending_dense))
            width = pending_dense
        elif isinstance(spec, Op):
            ops.append(spec)
            width = size_of(spec)
        else:
            # the initialisation of the dense layer before an activation suits that activation
            last = ops[-1] if ops else None
            if isinstance(last, tuple):
                ops[-1] = last + (_init_for(spec),)
            ops.append(_activation_op(width, spec, seed, len(ops)))
    built = [Dense(t[1], t[2], init=t[3] if len(t) > 3 else "glorot") if isinstance(t, tuple) else t for t in ops]
    return Network(n_inputs, built, seed=seed, dtype=dtype, params=params)
