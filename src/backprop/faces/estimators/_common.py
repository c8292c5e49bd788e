"""Helpers shared by the estimators: activations by name, scikit-learn's initialisation, the objective
of one batch from the engine, and one epoch of mini-batches."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Sequence, TypeAlias, TypeVar, Union, overload

import numpy as np
import scipy.sparse as sp
from numpy.typing import DTypeLike, NDArray
from sklearn.utils import gen_batches
from sklearn.utils.metaestimators import available_if as _available_if

from ... import dispatch
from ...engine.network import NORMALIZATIONS
from ...engine.objective import Objective, loss_head
from ...engine.plan import acquire
from ...errors import ConfigError, InputError
from ...ops.activations import ALIASES, SCALAR_NAMES, ScalarActivation, get_activation
from ...ops.dense import Dense, glorot_bound
from ...training.loop import apply_update

if TYPE_CHECKING:
    from ...engine.network import Network
    from ...engine.plan import Plan
    from ...losses import Loss
    from ...training.optimizers import Optimizer

#: an activation of the estimators: a scalar one, or the softmax over the outputs
Activation: TypeAlias = Union[ScalarActivation, Literal["softmax"]]
#: validated inputs: a dense array, a scipy sparse matrix (csr or csc) or a Dask array (fits on Dask data);
#: Any, as scipy and Dask carry no type information here
Matrix: TypeAlias = Any

F = TypeVar("F", bound=Callable[..., Any])


def available_if(check: Callable[[Any], bool]) -> Callable[[F], F]:
    """scikit-learn's ``available_if``, with its type: the method exists on an instance only when ``check(instance)``
    is true (an AttributeError it raises says why not); the method itself is unchanged.

    Parameters
    ----------
    check : callable
        ``check(instance)``: whether the method is available.

    Returns
    -------
    callable
        The decorator.

    Examples
    --------
    >>> class Solver:
    ...     stochastic = False
    ...     @available_if(lambda self: self.stochastic)
    ...     def partial_fit(self):
    ...         return "one epoch"
    >>> hasattr(Solver(), "partial_fit")
    False
    """
    return _available_if(check)

_STOCHASTIC_SOLVERS = ("sgd", "adam")
_FLOAT_DTYPES = (np.float64, np.float32)
#: scikit-learn's names of the hidden activations -> backprop's
_SKLEARN_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_ACTIVATION_NAMES = set(_SKLEARN_ACTIVATIONS) | set(SCALAR_NAMES) | set(ALIASES)


# --- input dtypes -----------------------------------------------------------------------------------

#: dtype kinds never converted to numbers: complex (the imaginary part would be dropped), datetime64,
#: timedelta64, strings and bytes. Object arrays of numbers are converted, as scikit-learn does.
_REFUSED_KINDS = {"c": "complex", "M": "datetime64", "m": "timedelta64", "U": "string", "S": "bytes"}


def refuse_non_real(a: object, name: str) -> None:
    """InputError if ``a`` (array-like, DataFrame or scipy sparse matrix) holds complex numbers, datetimes,
    timedeltas or strings; scikit-learn's own validation follows for everything else.

    Parameters
    ----------
    a : array-like, DataFrame, scipy sparse matrix or None
        The data (None is accepted: nothing to check).
    name : str
        Its name, for the message ("X", "y").

    Raises
    ------
    InputError
        For complex, datetime64, timedelta64, string or bytes data.

    Examples
    --------
    >>> refuse_non_real(np.array([1.0, 2.0]), "X")
    >>> refuse_non_real(np.array([1 + 2j]), "X")
    Traceback (most recent call last):
    ...
    backprop.errors.InputError: Complex data not supported: X must hold real numbers; got complex data, ...
    """
    if a is None:
        return
    dtypes = getattr(a, "dtypes", None)              # a pandas DataFrame: one dtype per column
    if dtypes is not None and hasattr(dtypes, "__iter__"):
        kinds = [np.dtype(getattr(d, "numpy_dtype", d)).kind if _is_numpy_dtype(d) else "O" for d in dtypes]
    elif hasattr(a, "dtype"):                        # arrays and scipy sparse matrices
        kinds = [np.dtype(a.dtype).kind] if _is_numpy_dtype(a.dtype) else ["O"]
    else:
        try:
            kinds = [np.asarray(a).dtype.kind]
        except (TypeError, ValueError):
            return                                   # scikit-learn reports what it cannot read
    for k in kinds:
        if k in _REFUSED_KINDS:
            what = "Complex data not supported: " if k == "c" else ""     # scikit-learn's wording, kept
            raise InputError(f"{what}{name} must hold real numbers; got {_REFUSED_KINDS[k]} data, which is never "
                             f"converted silently (convert it explicitly, e.g. {name}.real or to float)")


def _is_numpy_dtype(d: Any) -> bool:
    try:
        np.dtype(d)
    except TypeError:
        return False
    return True


def refuse_summed_loss(loss: Loss) -> None:
    """The estimators minimise scikit-learn's mean loss; a Loss with reduction='sum' is refused.

    Parameters
    ----------
    loss : Loss
        The loss an estimator is about to fit.

    Raises
    ------
    ConfigError
        For a loss whose reduction is not "mean".

    Examples
    --------
    >>> import backprop as bp
    >>> refuse_summed_loss(bp.get_loss("l2"))
    >>> refuse_summed_loss(bp.get_loss("l2", reduction="sum"))
    Traceback (most recent call last):
    ...
    backprop.errors.ConfigError: the estimators minimise scikit-learn's mean loss ...
    """
    if getattr(loss, "reduction", "mean") != "mean":
        raise ConfigError("the estimators minimise scikit-learn's mean loss (alpha scaled by the batch size); "
                          f"loss has reduction={loss.reduction!r}: use a loss with reduction='mean'")


# --- activations: names, instances, and a picklable description ---------------------------------------

def _activation(spec: object, what: str) -> Activation:
    """A ScalarActivation (or the string "softmax") from a scikit-learn or backprop name, a dict or an instance."""
    if isinstance(spec, str):
        if spec == "softmax":
            return "softmax"
        spec = _SKLEARN_ACTIVATIONS.get(spec, spec)
    try:
        return get_activation(spec)         # type: ignore[arg-type]  # get_activation checks any spec itself
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None


def _activation_spec(act: Activation) -> ScalarActivation | str | dict[str, Any]:
    """What rebuilds ``act``: "softmax", "exp", a config dict, or the instance itself (user-defined ones)."""
    if isinstance(act, str) or getattr(act, "user_defined", False):
        return act
    if act.name == "exp":
        return "exp"
    return act.config()


def _sklearn_name(act: Activation) -> str:
    """scikit-learn's name of an output activation ('logistic' for the sigmoid)."""
    name = act if isinstance(act, str) else act.name
    return {"sigmoid": "logistic"}.get(name, name)


class _PickledActivation(dict[str, Any]):
    """Stands for a built-in ScalarActivation parameter inside a pickle (its functions are lambdas)."""


def _pickle_param(value: object) -> object:
    if isinstance(value, ScalarActivation) and not getattr(value, "user_defined", False):
        return _PickledActivation(value.config() if value.name != "exp" else {"name": "exp"})
    if isinstance(value, list):
        return [_pickle_param(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_pickle_param(v) for v in value)
    return value


def _unpickle_param(value: object) -> object:
    if isinstance(value, _PickledActivation):
        return _activation(value["name"] if value.get("name") == "exp" else dict(value), "activation")
    if isinstance(value, list):
        return [_unpickle_param(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_unpickle_param(v) for v in value)
    return value


def _glorot_init(sizes: Sequence[int], logistic: Sequence[bool], rs: np.random.RandomState,
                 dtype: DTypeLike) -> NDArray[Any]:
    """scikit-learn's initialisation, draw for draw: per layer coef (fan_in, fan_out) then intercept (fan_out),
    both U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for logistic units).

    Returns the flat parameter vector of ``MLP(sizes)``: per layer W = coef^T (out, in) row-major, then b.
    """
    parts = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        r = glorot_bound(fan_in, fan_out, 2.0 if logistic[k] else 6.0)
        coef = rs.uniform(-r, r, (fan_in, fan_out))
        intercept = rs.uniform(-r, r, fan_out)
        parts += [coef.T.ravel(), intercept]
    return np.concatenate(parts).astype(dtype)


def chain_layers(net: Network) -> list[tuple[int, int]]:
    """[(dense op index, activation op index)] of the estimator's MLP, layer by layer (a normalisation op
    may sit between the two).

    Parameters
    ----------
    net : MLP
        An estimator's network.

    Returns
    -------
    list of (int, int)

    Examples
    --------
    >>> import backprop as bp
    >>> chain_layers(bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0))
    [(0, 1), (2, 3)]
    """
    out = []
    for j, op, _ in net.param_layers():
        if isinstance(op, Dense):
            out.append((j, j + 2 if isinstance(net.ops[j + 1], tuple(NORMALIZATIONS.values())) else j + 1))
    return out


@overload
def chain_forward(net: Network, X: Matrix, logits: Literal[False] = ...) -> NDArray[Any]: ...


@overload
def chain_forward(net: Network, X: Matrix, logits: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...


@overload
def chain_forward(net: Network, X: Matrix, logits: bool) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...


def chain_forward(net: Network, X: Matrix, logits: bool = False) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]:
    """Network output for validated X (dense or scipy sparse); with ``logits=True`` also the node the output
    op reads (z_L, the logits), taken from the graph; in evaluation mode (no dropout).

    Parameters
    ----------
    net : MLP
        An estimator's network.
    X : ndarray or scipy sparse matrix of shape (B, d)
        Validated inputs of the network's dtype.
    logits : bool, default False
        Also return the logits.

    Returns
    -------
    y : ndarray of shape (B, c)
        The output.
    z : ndarray of shape (B, c)
        With ``logits=True``: the input of the output op.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0)
    >>> y, z = chain_forward(net, np.ones((4, 2)), logits=True)
    >>> bool(np.allclose(y, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)))
    True
    """
    with net.using_mode(False):
        values, _ = net.forward_values(X)
    return (values[-1], values[net.head_input]) if logits else values[-1]


def batch_objective(net: Network, loss: Loss, X: Matrix, D: NDArray[Any], sw: NDArray[Any] | None, alpha: float,
                    plan: Plan | None = None, head: tuple[Loss, int] | None = None) -> Objective | None:
    """scikit-learn's objective on one batch, from the engine: 1/S sum_n s_n Div_n + alpha/(2 S) ||W||^2,
    S = sum_n s_n (the batch size without sample weights). None when the batch's total weight is zero.

    Parameters
    ----------
    net : MLP
        An estimator's network.
    loss : Loss
        The loss, with reduction "mean".
    X : ndarray, scipy sparse matrix or Dask array of shape (B, d)
        Validated inputs.
    D : ndarray of shape (B, c)
        The targets in the loss's format (``loss.prepare``).
    sw : ndarray of shape (B,) or None
        Sample weights s_n; None for ones.
    alpha : float
        scikit-learn's L2 strength.
    plan : Plan, optional
        An execution plan held by the caller (``engine.plan.acquire``) to compute in.
    head : tuple, optional
        ``loss_head(net, loss)``, when the caller has it (a loop over batches).

    Returns
    -------
    Objective or None

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> X, T = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0.0, 1.0, 1.0, 0.0])
    >>> loss = bp.get_loss("l2")
    >>> obj = batch_objective(net, loss, X, loss.prepare(T, 4, 1, np.float64), None, 0.0)
    >>> bool(np.isclose(obj.value(), bp.loss_and_grad(net, "l2", X, T)[0]))       # alpha = 0: the mean loss
    True
    """
    if (on_dask := dispatch.on_dask("batch_objective", X)) is not None:    # summed over Dask blocks
        return on_dask(net, loss, X, D, sw, alpha)
    S = float(X.shape[0]) if sw is None else float(sw.sum(dtype=np.float64))
    if S <= 0:
        return None
    return Objective(net, loss, X, D, sample_weight=sw, l2=alpha / S, validate=False, full_forward=False,
                     plan=plan, head=head)


@contextmanager
def fit_plan(net: Network, loss: Loss, X: Matrix, B: int) -> Iterator[Plan | None]:
    """The network's execution plan for batches of B rows of X, held for a fit (None for Dask data).

    Parameters
    ----------
    net : MLP
        An estimator's network.
    loss : Loss
        The loss it is fitted on.
    X : ndarray, scipy sparse matrix or Dask array
        The training inputs.
    B : int
        The number of rows per batch.

    Yields
    ------
    Plan or None

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.MLP([2, 3, 1], hidden="tanh", output="identity", seed=0)
    >>> with fit_plan(net, bp.get_loss("l2"), np.ones((4, 2)), 4) as plan:
    ...     plan is not None
    True
    """
    if dispatch.is_dask(X):
        yield None
        return
    with acquire(net, loss_head(net, loss)[1], B) as plan:
        yield plan


def _mean_divergence(net: Network, loss: Loss, X: Matrix, D: NDArray[Any], w: NDArray[Any] | None) -> float:
    """Weighted mean divergence of ``net`` on (X, D), without the penalty: the validation loss."""
    y, z = chain_forward(net, X, logits=True)
    head, node = loss_head(net, loss)            # the fused form on the logits where there is one
    div = head.div(y if node == len(net.ops) else z, D)
    div = div.astype(np.float64)
    return float(div.mean()) if w is None else float(np.dot(w, div) / w.sum())


class _Epochs:
    """One pass over the training set in scikit-learn's mini-batches, one optimiser step per batch.

    The shuffle draws from the same RandomState as scikit-learn's ``utils.shuffle``, so the batches are
    the same; each batch's loss is taken before its update, and the epoch's loss is their mean weighted by
    batch size (scikit-learn's ``loss_``). Each batch is gathered on its own, so that it stays in cache.
    """

    def __init__(self, net: Network, loss: Loss, X: Matrix, D: NDArray[Any], sw: NDArray[Any] | None, batch_size: int,
                 alpha: float, shuffle: bool, rs: np.random.RandomState) -> None:
        self.net, self.X, self.D, self.sw = net, X, D, sw
        self.n, self.batch_size, self.alpha, self.shuffle, self.rs = X.shape[0], batch_size, alpha, shuffle, rs
        self.loss = loss
        self.order = np.arange(self.n)
        self.dense = not sp.issparse(X)
        self.stateful = any(op.state_specs for op in net.ops)     # ops whose buffers follow the updates

    def run(self, opt: Optimizer) -> float:
        """One epoch, in training mode (batch statistics, each batch's forward updating the running ones);
        returns the mean batch loss. The network is back in the mode it had afterwards, also on error."""
        if self.shuffle:
            perm = np.arange(self.n)
            self.rs.shuffle(perm)
            self.order = self.order[perm]
        X, D, sw, net, params = self.X, self.D, self.sw, self.net, self.net.params
        total = 0.0
        head = loss_head(net, self.loss)         # the loss as applied, for every batch of the epoch
        # one execution plan for the epoch's batches: each batch gathered into its buffers; dropout on while
        # training, a fresh mask per update
        with net.using_mode(True), fit_plan(net, self.loss, X, min(self.batch_size, self.n)) as plan:
            for sl in gen_batches(self.n, self.batch_size):
                total += self._update(opt, params, X, D, sw, sl, plan, head)
        return total / self.n

    def _update(self, opt: Optimizer, params: NDArray[Any], X: Matrix, D: NDArray[Any], sw: NDArray[Any] | None,
                sl: slice, plan: Plan | None, head: tuple[Loss, int] | None = None) -> float:
        """One mini-batch: its loss before the update times its size (0 for a batch of weight zero)."""
        net = self.net
        rows = self.order[sl] if self.shuffle else sl
        if plan is not None and self.dense:
            Xb, Db = plan.gather("X", X, rows), plan.gather("D", D, rows)
        else:
            Xb, Db = X[rows], D[rows]
        obj = batch_objective(net, self.loss, Xb, Db, None if sw is None else sw[rows], self.alpha, plan=plan,
                              head=head)
        if obj is None:            # every sample of this batch has weight zero: nothing to learn
            return 0.0
        grad = obj.gradient()      # the whole gradient first, then the update
        value = obj.value() * (sl.stop - sl.start)
        apply_update(obj, opt, params, grad, self.stateful)
        return value
