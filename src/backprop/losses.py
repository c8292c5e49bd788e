"""Divergences between a network's output Y and the target d.

The training loss is the mean over the batch of the per-instance divergence,
plus (lambda / 2) ||W||^2 over the weights (not biases) when ``l2`` > 0:

    Loss = 1/B sum_n Div(Y_n, d_n) + lambda/2 sum_k ||W_k||^2      (reduction="mean", the default)

or, with ``reduction="sum"``, the notes' E = sum_n E_n, E_n = Div(Y_n, d_n):

    Loss = sum_n Div(Y_n, d_n) + lambda/2 sum_k ||W_k||^2          (reduction="sum")

Every derivative (gradient, Hessian, Hessian-vector products, Gauss-Newton) is of this Loss.

Each loss gives, per instance, the divergence, its gradient dDiv/dY and its
Hessian-vector product (d2Div/dY2) R{Y}. When softmax meets cross-entropy or
sigmoid meets binary cross-entropy, the loss is evaluated on the logits z instead
(``fused``): dDiv/dz = y - d directly, stable for any finite z.

A loss also declares what the rest of the library asks of it, so that a new loss is one class
here, registered in ``LOSSES``:

* ``task``: "regression", "binary", "multiclass" or "counts" (the estimators and the CLI read it);
* ``output``: the output activation that suits it, and ``fuses_with``: the one whose logits it takes;
* ``metric``: the training metric "auto" stands for ("r2", "accuracy");
* ``needs``: what it needs of its input y (one of ``training.pairing.KINDS``; the pairing check reads it)
  and ``advice``: the output to use when a network's output cannot meet that need;
* ``laplace``: how ``Laplace`` treats it ("regression": a Gaussian likelihood; "classification": only on
  the fused output; None: not supported);
* ``make_targets(rng, B, c)``: random targets of its kind (for tests);
* ``trace_E`` and ``trace_dE_dy``: the rows of E and dE/dy that ``bp.trace`` prints (and, for a fused
  loss, ``trace_E``, ``trace_dE_dx``, ``trace_note`` and ``trace_M`` on the logits).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .errors import ConfigError, InputError
from .ops.activations import _sigmoid_df, expit as sigmoid
from .ops.softmax import log_softmax, log_sum_exp_shifted, softmax, softmax_jvp
from .registry import Registry
from .validation import as_numeric


REDUCTIONS = ("mean", "sum")

#: one output of one instance in a trace: (name, y, t, x), output value y, target t, logit x
Output = tuple[str, float, float, float]
#: a number written as a term or as a factor in a trace row
Format = Callable[[float], str]
#: a row of a trace: (formula in symbols, formula with numbers)
Rows = tuple[str, str]

#: every loss, by name: ``LOSSES.get("huber")``, ``LOSSES.names()``
LOSSES = Registry("loss")


def xlogy(x: ArrayLike, y: ArrayLike) -> NDArray[Any]:
    """x log y, and 0 where x = 0 (scipy's xlogy; scipy.special is loaded on first use).

    Parameters
    ----------
    x, y : array_like
        Broadcastable arrays.

    Returns
    -------
    ndarray
        x log y elementwise, 0 where x = 0.

    Examples
    --------
    >>> xlogy(np.array([0.0, 2.0]), np.array([0.0, 4.0]))
    array([0.        , 2.77258872])
    """
    from scipy.special import xlogy as f
    return f(x, y)


def softplus(z: NDArray[Any]) -> NDArray[Any]:
    """log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): no overflow, full precision for every finite z.

    ``-softplus(-z)`` is log sigmoid(z), and ``-softplus(z)`` is log(1 - sigmoid(z)).

    Parameters
    ----------
    z : ndarray
        Logits, any shape.

    Returns
    -------
    ndarray
        log(1 + e^z), the shape of ``z``.

    Examples
    --------
    >>> softplus(np.array([0.0, 1000.0])).tolist()
    [0.6931471805599453, 1000.0]
    """
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


#: how labels of another kind (text, booleans, other whole numbers) become the class indices these losses take
_ENCODE_HINT = ("labels of another kind (text, or whole numbers such as 5 and 7) become class indices with "
                "indices, classes = bp.datasets.encode_labels(labels); the estimators bp.sklearn.MLPClassifier "
                "take any labels")


def _as_targets(T: ArrayLike, B: int, c: int, dtype: DTypeLike, what: str) -> NDArray[Any]:
    T = as_numeric(T, "targets", f"({B}, {c})" + (f" or ({B},)" if c == 1 else ""))
    if T.ndim == 1 and c == 1:
        T = T.reshape(-1, 1)
    if T.shape != (B, c):
        raise InputError(f"{what} targets must have shape ({B}, {c})"
                         + (f" or ({B},)" if c == 1 else "") + f"; got {T.shape}")
    T = T.astype(dtype, copy=False)
    if not np.all(np.isfinite(T)):
        raise InputError("targets contain NaN or inf; every target must be finite")
    return T


_ROWS: dict[int, NDArray[np.intp]] = {}


def _rows(B: int) -> NDArray[np.intp]:
    """0, 1, ..., B - 1 (read-only, cached for the batch sizes in use): the row index of one-hot targets."""
    rows = _ROWS.get(B)
    if rows is None:
        if len(_ROWS) > 64:
            _ROWS.clear()
        rows = _ROWS[B] = np.arange(B, dtype=np.intp)
        rows.flags.writeable = False
    return rows


def _sum_rows(terms: Sequence[str], wrap: bool = False) -> str:
    s = " + ".join(terms)
    return f"({s})" if wrap and len(terms) > 1 else s


class Loss:
    """Base class. Subclasses define ``div``, ``grad`` and ``hvp`` per instance, and their declarations.

    Parameters
    ----------
    l2 : float, default 0.0
        lambda of the penalty lambda/2 ||W||^2 over the weights (not the biases).
    reduction : {"mean", "sum"}, default "mean"
        The batch loss: 1/B sum_n Div_n ("mean") or the notes' sum_n Div_n ("sum").

    Examples
    --------
    >>> Loss(l2=0.1).config()
    {'name': 'loss', 'l2': 0.1}
    """

    name = "loss"
    task = "regression"
    output = "identity"
    #: name of the output activation whose logits this loss can take directly
    fuses_with: str | None = None
    metric = "r2"
    needs = "real"
    advice = ""
    laplace: str | None = None

    def __init__(self, l2: float = 0.0, reduction: str = "mean") -> None:
        try:
            l2 = float(l2)
        except (TypeError, ValueError):
            raise ConfigError(f"l2 regularisation strength must be a finite number >= 0; got {l2!r}") from None
        if not np.isfinite(l2) or l2 < 0:
            raise ConfigError(f"l2 regularisation strength must be a finite number >= 0; got {l2}")
        if reduction not in REDUCTIONS:
            raise ConfigError(f"reduction must be 'mean' (1/B sum_n Div_n) or 'sum' (sum_n Div_n); "
                              f"got {reduction!r}")
        self.l2 = l2
        self.reduction = reduction

    # ---- the contract: every loss defines div, grad and hvp; the others have defaults ---------------------
    # In the examples, y and d are (B, c) arrays: B instances of c outputs and their targets.
    def prepare(self, T: ArrayLike, B: int, c: int, dtype: DTypeLike) -> NDArray[Any]:
        """Validate targets against a batch of B outputs of width c and return them as a (B, c) array.

        Parameters
        ----------
        T : array_like
            The targets, shape (B, c) (or (B,) when c is 1; class indices for ``CrossEntropy``).
        B : int
            Number of instances in the batch.
        c : int
            Number of outputs per instance.
        dtype : dtype
            The dtype of the network's outputs, which the targets take.

        Returns
        -------
        ndarray of shape (B, c)
            The targets as this loss's ``div``, ``grad`` and ``hvp`` take them.

        Raises
        ------
        InputError
            When the targets do not have the shape or the values this loss takes.

        Examples
        --------
        >>> L2().prepare([1.0, 2.0], B=2, c=1, dtype=np.float64)
        array([[1.],
               [2.]])
        """
        return _as_targets(T, B, c, dtype, self.name)

    def make_targets(self, rng: np.random.Generator, B: int, c: int) -> NDArray[Any]:
        """Random targets of this loss's kind for B samples of c outputs (for tests and examples).

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.
        B : int
            Number of samples.
        c : int
            Number of outputs per sample.

        Returns
        -------
        ndarray
            Targets that ``prepare`` accepts for a batch of B outputs of width c.

        Examples
        --------
        >>> L2().make_targets(np.random.default_rng(0), 2, 3).shape
        (2, 3)
        """
        return rng.normal(size=(B, c))

    def kink_distance(self, y: NDArray[Any], d: NDArray[Any]) -> float:
        """How far the outputs y are from a point where the loss's second derivative jumps.

        Finite differences across such a point do not measure the Hessian, so checks against them stay
        farther away than this.

        Parameters
        ----------
        y : ndarray of shape (B, c)
            Outputs of the network.
        d : ndarray of shape (B, c)
            Targets.

        Returns
        -------
        float
            The smallest distance of an output to a kink, ``inf`` for a smooth loss.

        Examples
        --------
        >>> L2().kink_distance(np.zeros((1, 1)), np.ones((1, 1)))
        inf
        >>> float(Huber(delta=1.0).kink_distance(np.array([[0.25]]), np.zeros((1, 1))))
        0.75
        """
        return np.inf

    def div(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        """The divergence Div(y_n, d_n) of each instance.

        Parameters
        ----------
        y : ndarray of shape (B, c)
            Outputs of the network (for a fused loss: the logits z).
        d : ndarray of shape (B, c)
            Targets, as ``prepare`` returns them.

        Returns
        -------
        ndarray of shape (B,)
            One divergence per instance.

        Examples
        --------
        >>> L2().div(np.array([[0.5, 2.0]]), np.array([[0.0, 0.0]]))
        array([2.125])
        """
        raise NotImplementedError

    def grad(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        """The gradient dDiv/dy of each instance's divergence with respect to its outputs.

        Parameters
        ----------
        y : ndarray of shape (B, c)
            Outputs of the network (for a fused loss: the logits z).
        d : ndarray of shape (B, c)
            Targets, as ``prepare`` returns them.

        Returns
        -------
        ndarray of shape (B, c)
            dDiv_n/dy_n, row n for instance n.

        Examples
        --------
        >>> L2().grad(np.array([[0.5, 2.0]]), np.array([[0.0, 1.0]]))
        array([[0.5, 1. ]])
        """
        raise NotImplementedError

    def hvp(self, y: NDArray[Any], d: NDArray[Any], ty: NDArray[Any]) -> NDArray[Any]:
        """The second derivative applied to tangents: (d2Div/dy2) R{y} per instance.

        Parameters
        ----------
        y : ndarray of shape (B, c)
            Outputs of the network (for a fused loss: the logits z).
        d : ndarray of shape (B, c)
            Targets, as ``prepare`` returns them.
        ty : ndarray of shape (m, B, c)
            m tangents R{y} of the outputs.

        Returns
        -------
        ndarray of shape (m, B, c)
            (d2Div_n/dy_n2) R{y_n} for each tangent and instance.

        Examples
        --------
        >>> y, d = np.array([[0.5, 2.0]]), np.zeros((1, 2))
        >>> L2().hvp(y, d, np.ones((1, 1, 2)))
        array([[[1., 1.]]])
        """
        raise NotImplementedError

    def div_grad(self, y: NDArray[Any], d: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        """``div`` and ``grad`` together; losses that share work between the two override this.

        Parameters
        ----------
        y : ndarray of shape (B, c)
            Outputs of the network (for a fused loss: the logits z).
        d : ndarray of shape (B, c)
            Targets, as ``prepare`` returns them.

        Returns
        -------
        div : ndarray of shape (B,)
            One divergence per instance.
        grad : ndarray of shape (B, c)
            dDiv_n/dy_n.

        Examples
        --------
        >>> L2().div_grad(np.array([[1.0]]), np.array([[0.0]]))
        (array([0.5]), array([[1.]]))
        """
        return self.div(y, d), self.grad(y, d)

    def fused(self) -> Loss | None:
        """The same loss taking the logits z of the ``fuses_with`` activation, or None.

        Returns
        -------
        Loss or None
            A loss whose ``div``, ``grad`` and ``hvp`` take the logits (dDiv/dz = y - d), or None when this
            loss has no such form.

        Examples
        --------
        >>> print(L2().fused())
        None
        >>> CrossEntropy().fused().grad(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]))
        array([[-0.5,  0.5]])
        """
        return None

    def fused_head(self) -> Loss | None:
        """``fused()``, built once per loss and its current options.

        Returns
        -------
        Loss or None
            What ``fused()`` returns, the same object while the options stay the same.

        Examples
        --------
        >>> loss = BinaryCrossEntropy()
        >>> loss.fused_head() is loss.fused_head()
        True
        """
        key = (self.l2, tuple(sorted(self.config().items())))
        cached = getattr(self, "_fused_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self.fused())
            self._fused_cache = cached
        return cached[1]

    def label(self) -> str:
        """The registered name that gives this loss with its options.

        Returns
        -------
        str
            A name of ``LOSSES``: ``"kl"`` for cross_entropy with kl=True.

        Examples
        --------
        >>> CrossEntropy(kl=True).label()
        'kl'
        """
        return self.name

    # ---- the rows bp.trace prints ------------------------------------------------------------------
    # outs: [(name, y, t, x)] of the outputs of one instance; S: the trace's symbols (S.y, S.t, S.x of a
    # name); f, m: a number as a term and as a factor (negative numbers in parentheses). Terms whose
    # coefficient is zero are left out of the numbers, so every printed number can be evaluated as written.
    # The examples stand in for the trace's symbols with y(name) and t(name), and for f and m with str.
    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        """The row of Div for one instance in ``bp.trace``: the formula, and the formula with its numbers.

        Parameters
        ----------
        outs : sequence of (name, y, t, x)
            The outputs of one instance: name, output value y, target t, logit x.
        S : Symbols
            The trace's notation: ``S.y(name)``, ``S.t(name)``, ``S.x(name)`` are the symbols of an output.
        f, m : callable
            A number written as a term and as a factor (negative numbers in parentheses).

        Returns
        -------
        (str, str) or None
            The formula in symbols and with numbers, or None to print Div unexpanded.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> S = SimpleNamespace(y=lambda n: f"y({n})", t=lambda n: f"t({n})")
        >>> L2().trace_E([("o1", 0.5, 1.0, 0.5)], S, str, str)
        ('1/2 * (y(o1) - t(o1))^2', '1/2 * (0.5 - 1.0)^2')
        """
        return None

    def trace_dE_dy(self, name: str, y: float, t: float, S: Any, f: Format, m: Format) -> Rows | None:
        """The row of dDiv/dy of one output in ``bp.trace``: the formula, and the formula with its numbers.

        Parameters
        ----------
        name : str
            The output's name.
        y, t : float
            Its value and its target.
        S : Symbols
            The trace's notation: ``S.y(name)``, ``S.t(name)`` are the symbols of an output.
        f, m : callable
            A number written as a term and as a factor (negative numbers in parentheses).

        Returns
        -------
        (str, str) or None
            The formula in symbols and with numbers, or None to print the value only.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> S = SimpleNamespace(y=lambda n: f"y({n})", t=lambda n: f"t({n})")
        >>> L2().trace_dE_dy("o1", 0.5, 1.0, S, str, str)
        ('(y(o1) - t(o1))', '(0.5 - 1.0)')
        """
        return None

    # the rows of a loss taken on the logits of its output (what ``fused()`` returns)
    #: template of the trace header's line on the fused form, in the fields of ``Symbols.generic_output``
    #: (x, y, t, E, dx, dy: the symbols of output k in the trace's notation)
    note = ""

    def trace_note(self, S: Any = None) -> str:
        """One line for the trace's header: how E is taken on the logits ("" for none).

        Parameters
        ----------
        S : Symbols, optional
            The trace's notation, whose ``generic_output()`` gives the symbols of output k; when None, note
            004's x(k), y(k), t(k), E.

        Returns
        -------
        str
            The line, or "" when this loss is not taken on logits.

        Examples
        --------
        >>> L2().trace_note()
        ''
        >>> CrossEntropy().fused().trace_note()
        'softmax output with cross_entropy, taken on the logits x(k): ...'
        """
        if not self.note:
            return ""
        fields = S.generic_output() if S is not None else {
            "x": "x(k)", "y": "y(k)", "t": "t(k)", "E": "E", "dx": "dE/dx(k)", "dy": "dE/dy(k)"}
        return self.note.format(**fields)

    def trace_dE_dx(self, name: str, y: float, t: float, outs: Sequence[Output], S: Any, f: Format,
                    m: Format) -> Rows | None:
        """The row of dE/dx(o) at the logit x(o) of an output in ``bp.trace`` (for a loss on logits).

        Parameters
        ----------
        name : str
            The output's name.
        y, t : float
            Its value and its target.
        outs : sequence of (name, y, t, x)
            All outputs of the instance: name, output value y, target t, logit x.
        S : Symbols
            The trace's notation: ``S.y(name)``, ``S.t(name)`` are the symbols of an output.
        f, m : callable
            A number written as a term and as a factor (negative numbers in parentheses).

        Returns
        -------
        (str, str) or None
            The formula in symbols and with numbers, or None to print the value only.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> S = SimpleNamespace(y=lambda n: f"y({n})", t=lambda n: f"t({n})")
        >>> BinaryCrossEntropy().fused().trace_dE_dx("o1", 0.25, 1.0, [("o1", 0.25, 1.0, -1.1)], S, str, str)
        ('y(o1) - t(o1)', '0.25 - 1.0')
        """
        return None

    def trace_M(self, k: str, k2: str, y: float, y2: float, same: bool, outs: Sequence[Output], S: Any, f: Format,
                m: Format) -> Rows | None:
        """The row of d2E/dx(k)dx(k2) at the logits of outputs k and k2 in ``bp.hessian_trace``.

        Parameters
        ----------
        k, k2 : str
            The two outputs' names.
        y, y2 : float
            Their values.
        same : bool
            Whether k and k2 are the same output (a diagonal entry).
        outs : sequence of (name, y, t, x)
            All outputs of the instance: name, output value y, target t, logit x.
        S : Symbols
            The trace's notation: ``S.y(name)`` is the symbol of an output's value.
        f, m : callable
            A number written as a term and as a factor (negative numbers in parentheses).

        Returns
        -------
        (str, str) or None
            The formula in symbols and with numbers, or None to print the value only.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> S = SimpleNamespace(y=lambda n: f"y({n})", t=lambda n: f"t({n})")
        >>> BinaryCrossEntropy().fused().trace_M("o1", "o1", 0.25, 0.25, True, [("o1", 0.25, 1.0, -1.1)],
        ...                                      S, str, str)
        ('y(o1)*(1 - y(o1))', '0.25*(1 - 0.25)')
        """
        return None

    def config(self) -> dict[str, Any]:
        """The loss's name and the options that differ from their defaults (what ``get_loss`` takes back).

        Returns
        -------
        dict
            ``{"name": ..., option: value, ...}``.

        Examples
        --------
        >>> Huber(delta=2.0).config()
        {'name': 'huber', 'delta': 2.0}
        >>> get_loss(Huber(delta=2.0).config()).delta
        2.0
        """
        cfg: dict[str, Any] = {"name": self.name}
        if self.l2:
            cfg["l2"] = self.l2
        if self.reduction != "mean":
            cfg["reduction"] = self.reduction
        return cfg

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class _Fused(Loss):
    """A loss evaluated on the logits z of its ``fuses_with`` output; dDiv/dz = y - d."""

    def __init__(self, base: Loss) -> None:
        super().__init__(base.l2, base.reduction)
        self.base, self.name = base, base.name

    def trace_dE_dx(self, name: str, y: float, t: float, outs: Sequence[Output], S: Any, f: Format,
                    m: Format) -> Rows | None:
        # y(o) - t(o): the activation's derivative cancels against dDiv/dy
        return f"{S.y(name)} - {S.t(name)}", f"{f(y)} - {m(t)}"


class L2(Loss):
    """Div = 1/2 ||y - d||^2;  dDiv/dy = y - d;  d2Div/dy2 = I.

    Parameters
    ----------
    l2 : float, default 0.0
        lambda of the penalty lambda/2 ||W||^2 over the weights (not the biases).
    reduction : {"mean", "sum"}, default "mean"
        The batch loss: 1/B sum_n Div_n ("mean") or the notes' sum_n Div_n ("sum").

    Examples
    --------
    >>> L2().div(np.array([[0.5, 2.0]]), np.array([[0.0, 0.0]]))
    array([2.125])
    """

    name = "l2"
    laplace = "regression"

    def div(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        r = y - d
        return 0.5 * np.einsum("ij,ij->i", r, r)

    def grad(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return y - d

    def hvp(self, y: NDArray[Any], d: NDArray[Any], ty: NDArray[Any]) -> NDArray[Any]:
        return ty

    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        s = _sum_rows([f"({S.y(o)} - {S.t(o)})^2" for o, _, _, _ in outs], wrap=True)
        n = _sum_rows([f"({f(y)} - {f(t)})^2" for _, y, t, _ in outs], wrap=True)
        return f"1/2 * {s}", f"1/2 * {n}"

    def trace_dE_dy(self, name: str, y: float, t: float, S: Any, f: Format, m: Format) -> Rows | None:
        return f"({S.y(name)} - {S.t(name)})", f"({f(y)} - {f(t)})"


class Huber(Loss):
    """Div = sum_c h(y_c - d_c) with ``h(r) = r^2 / 2`` for ``|r| <= delta``, ``delta (|r| - delta / 2)`` beyond.

    dDiv/dy = clip(y - d, -delta, delta);  d2Div/dy2 = ``diag(1 for |r| <= delta, 0 beyond)`` (piecewise:
    the second derivative jumps at ``|r| = delta``). Quadratic near the target like ``l2``, linear far from
    it, so that outliers pull with at most delta. ``torch.nn.HuberLoss(delta=delta, reduction="sum")``
    over a batch gives the summed form.

    Parameters
    ----------
    l2 : float, default 0.0
        lambda of the penalty lambda/2 ||W||^2 over the weights (not the biases).
    reduction : {"mean", "sum"}, default "mean"
        The batch loss: 1/B sum_n Div_n ("mean") or the notes' sum_n Div_n ("sum").
    delta : float, default 1.0
        Where the loss turns from quadratic to linear (> 0).

    Examples
    --------
    >>> h = Huber(delta=1.0)
    >>> y, d = np.array([[0.5, 2.0]]), np.array([[0.0, 0.0]])
    >>> h.div(y, d), h.grad(y, d)
    (array([1.625]), array([[0.5, 1. ]]))
    """

    name = "huber"

    def __init__(self, l2: float = 0.0, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(l2, reduction)
        try:
            delta = float(delta)
        except (TypeError, ValueError):
            raise ConfigError(f"huber delta must be a finite number > 0; got {delta!r}") from None
        if not np.isfinite(delta) or delta <= 0:
            raise ConfigError(f"huber delta must be a finite number > 0; got {delta}")
        self.delta = delta

    def make_targets(self, rng: np.random.Generator, B: int, c: int) -> NDArray[Any]:
        return rng.normal(scale=2.0, size=(B, c))       # residuals on both sides of delta = 1

    def div(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        r = np.abs(y - d)
        dl = self.delta
        return np.where(r <= dl, 0.5 * r * r, dl * (r - 0.5 * dl)).sum(axis=1)

    def grad(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return np.clip(y - d, -self.delta, self.delta)

    def hvp(self, y: NDArray[Any], d: NDArray[Any], ty: NDArray[Any]) -> NDArray[Any]:
        return (np.abs(y - d) <= self.delta).astype(ty.dtype) * ty

    def kink_distance(self, y: NDArray[Any], d: NDArray[Any]) -> float:
        return float(np.abs(np.abs(y - d) - self.delta).min()) if np.size(y) else np.inf

    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        # the branch each output is on: 1/2 r^2 inside [-delta, delta], delta (|r| - delta/2) beyond
        dl, s, n = self.delta, [], []
        for o, y, t, _ in outs:
            if abs(y - t) <= dl:
                s.append(f"1/2 * ({S.y(o)} - {S.t(o)})^2")
                n.append(f"1/2 * ({f(y)} - {f(t)})^2")
            else:
                s.append(f"delta * (abs({S.y(o)} - {S.t(o)}) - delta/2)")
                hi, lo = (y, t) if y > t else (t, y)       # |y - t| = hi - lo, written so it evaluates as printed
                n.append(f"{m(dl)} * ({f(hi)} - {m(lo)} - {m(dl)}/2)")
        return _sum_rows(s), _sum_rows(n)

    def trace_dE_dy(self, name: str, y: float, t: float, S: Any, f: Format, m: Format) -> Rows | None:
        r = S.y(name) + " - " + S.t(name)
        if abs(y - t) <= self.delta:
            return f"({r})", f"({f(y)} - {f(t)})"
        sign = 1 if y > t else -1
        return f"delta*sign({r})", f"{m(sign * self.delta)}"

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if self.delta != 1.0:
            cfg["delta"] = self.delta
        return cfg


def _kl_terms(outs: Sequence[Output], S: Any, f: Format, m: Format, binary: bool) -> Rows:
    """The constant of the KL forms in a trace: + sum t log t (+ (1 - t) log(1 - t) for bce)."""
    s, n = [], []
    for o, _, t, _ in outs:
        s.append(f"{S.t(o)}*log({S.t(o)})")
        n += [f"{m(t)}*log({f(t)})"] if t != 0 else []
        if binary:
            s.append(f"(1 - {S.t(o)})*log(1 - {S.t(o)})")
            n += [f"{m(1 - t)}*log({f(1 - t)})"] if t != 1 else []
    return " + " + " + ".join(s), (" + " + " + ".join(n)) if n else ""


class BinaryCrossEntropy(Loss):
    """Div = sum_c -d log y - (1 - d) log(1 - y), for outputs y in (0, 1) and targets d in [0, 1].

    With ``kl=True`` the constant d log d + (1-d) log(1-d) is added, giving the KL divergence
    (zero when y = d); the derivatives are the same.

    Parameters
    ----------
    l2 : float, default 0.0
        lambda of the penalty lambda/2 ||W||^2 over the weights (not the biases).
    reduction : {"mean", "sum"}, default "mean"
        The batch loss: 1/B sum_n Div_n ("mean") or the notes' sum_n Div_n ("sum").
    kl : bool, default False
        Add the targets' entropy term, so that the loss is the KL divergence.

    Examples
    --------
    >>> BinaryCrossEntropy().div(np.array([[0.5]]), np.array([[1.0]]))
    array([0.69314718])
    """

    name = "bce"
    task = "binary"
    output = fuses_with = "sigmoid"
    metric = "accuracy"
    needs = "probability"
    advice = ("output='sigmoid' (bce is then evaluated on its logits), or softmax with cross_entropy "
              "for one class per sample")
    laplace = "classification"

    def __init__(self, l2: float = 0.0, kl: bool = False, reduction: str = "mean") -> None:
        super().__init__(l2, reduction)
        self.kl = bool(kl)

    def prepare(self, T: ArrayLike, B: int, c: int, dtype: DTypeLike) -> NDArray[Any]:
        T = _as_targets(T, B, c, dtype, self.name)
        if np.any((T < 0) | (T > 1)):
            raise InputError("bce targets must lie in [0, 1] (class labels 0/1 or probabilities); " + _ENCODE_HINT)
        return T

    def make_targets(self, rng: np.random.Generator, B: int, c: int) -> NDArray[Any]:
        return rng.integers(0, 2, size=(B, c)).astype(float)

    def label(self) -> str:
        return "binary_kl" if self.kl else self.name

    def _entropy(self, d: NDArray[Any]) -> NDArray[Any] | float:
        return (xlogy(d, d) + xlogy(1 - d, 1 - d)).sum(axis=1) if self.kl else 0.0

    def div(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return -(xlogy(d, y) + xlogy(1 - d, 1 - y)).sum(axis=1) + self._entropy(d)

    # dDiv/dy = -d / y + (1 - d) / (1 - y)
    def grad(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return -d / y + (1 - d) / (1 - y)

    # d2Div/dy2 = d / y^2 + (1 - d) / (1 - y)^2, diagonal
    def hvp(self, y: NDArray[Any], d: NDArray[Any], ty: NDArray[Any]) -> NDArray[Any]:
        return (d / (y * y) + (1 - d) / ((1 - y) * (1 - y))) * ty

    def fused(self) -> Loss:
        return _SigmoidBCE(self)

    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        s = " + ".join(f"-({S.t(o)}*log({S.y(o)}) + (1 - {S.t(o)})*log(1 - {S.y(o)}))" for o, _, _, _ in outs)
        parts = []
        for _, y, t, _ in outs:
            terms = ([f"{m(t)}*log({f(y)})"] if t != 0 else []) + ([f"{m(1 - t)}*log({f(1 - y)})"] if t != 1 else [])
            parts.append(f"-({' + '.join(terms)})")
        ks, kn = _kl_terms(outs, S, f, m, binary=True) if self.kl else ("", "")
        return s + ks, " + ".join(parts) + kn

    def trace_dE_dy(self, name: str, y: float, t: float, S: Any, f: Format, m: Format) -> Rows | None:
        sy, st = S.y(name), S.t(name)
        terms = ([f"-{m(t)}/{m(y)}"] if t != 0 else []) + ([f"{m(1 - t)}/{m(1 - y)}"] if t != 1 else [])
        return f"(-{st}/{sy} + (1 - {st})/(1 - {sy}))", f"({' + '.join(terms)})"

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if self.kl:
            cfg["kl"] = True
        return cfg


class _SigmoidBCE(_Fused):
    base: BinaryCrossEntropy
    """BCE evaluated on the logits z of a sigmoid output: Div = softplus(z) - d z;  dDiv/dz = sigmoid(z) - d."""

    note = ("sigmoid output with bce, taken on the logit {x}: {E} = sum_k (softplus({x}) - {t}*{x}) with "
            "softplus(u) = log(1 + e^u), and {dx} = {y} - {t} (sigmoid' = {y}*(1 - {y}) cancels in "
            "{dy}*{y}*(1 - {y}))")

    def div(self, z: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        # softplus(z) - d z = (1 - d) softplus(z) + d softplus(-z): no cancellation, finite for every finite z
        return ((1 - d) * softplus(z) + d * softplus(-z)).sum(axis=1) + self.base._entropy(d)

    def grad(self, z: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return sigmoid(z) - d

    # d2Div/dz2 = sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)), diagonal
    def hvp(self, z: NDArray[Any], d: NDArray[Any], tz: NDArray[Any]) -> NDArray[Any]:
        s = sigmoid(z)
        return _sigmoid_df(z, s) * tz

    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        s = " + ".join(f"(softplus({S.x(o)}) - {S.t(o)}*{S.x(o)})" for o, _, _, _ in outs)
        n = " + ".join(f"(softplus({f(x)}) - {m(t)}*{m(x)})" for _, _, t, x in outs)
        ks, kn = _kl_terms(outs, S, f, m, binary=True) if self.base.kl else ("", "")
        return s + ks, n + kn

    def trace_M(self, k: str, k2: str, y: float, y2: float, same: bool, outs: Sequence[Output], S: Any, f: Format,
                m: Format) -> Rows | None:
        if not same:
            return "0", "0"
        return f"{S.y(k)}*(1 - {S.y(k)})", f"{m(y)}*(1 - {m(y)})"


def _target_sum(outs: Sequence[Output]) -> float | None:
    """sum t of one instance's targets, or None when it is 1 (to the last digits)."""
    st = float(sum(t for _, _, t, _ in outs))
    return None if abs(st - 1) <= 1e-12 else st


class CrossEntropy(Loss):
    """Div = -sum_i d_i log y_i over c classes (the KL divergence for one-hot d, up to a constant).

    Targets are integer labels (B,) in [0, c) or rows of class probabilities (B, c).
    ``label_smoothing`` = eps sets the target to 1 - (K-1) eps on the class and eps elsewhere.
    With ``kl=True`` the constant sum_i d_i log d_i is added (KL divergence; same derivatives).

    Parameters
    ----------
    l2 : float, default 0.0
        lambda of the penalty lambda/2 ||W||^2 over the weights (not the biases).
    reduction : {"mean", "sum"}, default "mean"
        The batch loss: 1/B sum_n Div_n ("mean") or the notes' sum_n Div_n ("sum").
    label_smoothing : float, default 0.0
        eps in [0, 1): the weight moved from the labelled class to the others.
    kl : bool, default False
        Add the targets' entropy term, so that the loss is the KL divergence.

    Examples
    --------
    >>> CrossEntropy().div(np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]]))
    array([0.28768207])
    >>> CrossEntropy(label_smoothing=0.1)
    CrossEntropy(label_smoothing=0.1)
    """

    name = "cross_entropy"
    task = "multiclass"
    output = fuses_with = "softmax"
    metric = "accuracy"
    needs = "distribution"
    advice = ("output='softmax' (cross_entropy is then evaluated on its logits), or bce with a sigmoid "
              "output for independent 0/1 targets")
    laplace = "classification"

    def __init__(self, l2: float = 0.0, label_smoothing: float = 0.0, kl: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__(l2, reduction)
        eps = float(label_smoothing)
        if not np.isfinite(eps) or eps < 0:
            raise ConfigError(f"label_smoothing must be a finite number >= 0; got {label_smoothing}")
        self.label_smoothing, self.kl = eps, bool(kl)

    def prepare(self, T: ArrayLike, B: int, c: int, dtype: DTypeLike) -> NDArray[Any]:
        eps = self.label_smoothing
        if c > 1 and eps * (c - 1) >= 1:
            raise ConfigError(f"label_smoothing={eps} is too large for {c} classes; it must be < 1/{c - 1}")
        T = as_numeric(T, "targets", f"({B},) class labels or ({B}, {c})")
        if T.ndim == 1 and c > 1:      # integer class labels
            if T.shape[0] != B:
                raise InputError(f"cross_entropy labels must have shape ({B},) or ({B}, {c}); got {T.shape}")
            if T.dtype.kind == "f":
                if not np.all(np.isfinite(T)) or np.any(T != np.round(T)):
                    raise InputError("cross_entropy class labels must be whole numbers in [0, "
                                     f"{c}); got non-integer or non-finite values")
            if B and (np.minimum.reduce(T) < 0 or np.maximum.reduce(T) >= c):
                raise InputError(f"class labels must lie in [0, {c - 1}] for a network with {c} outputs; "
                                 f"got values from {T.min()} to {T.max()}; " + _ENCODE_HINT)
            D = np.zeros((B, c), dtype=dtype)
            D[_rows(B), T.astype(np.intp, copy=False)] = 1
        else:
            D = _as_targets(T, B, c, dtype, self.name)
            if np.any(D < 0):
                raise InputError("cross_entropy targets must be >= 0 (one-hot rows or class probabilities)")
        if eps:
            D = D * (1 - c * eps) + eps * D.sum(axis=1, keepdims=True)
        return D

    def make_targets(self, rng: np.random.Generator, B: int, c: int) -> NDArray[Any]:
        return rng.integers(0, c, size=B)

    def label(self) -> str:
        return "kl" if self.kl else self.name

    def _entropy(self, d: NDArray[Any]) -> NDArray[Any] | float:
        return xlogy(d, d).sum(axis=1) if self.kl else 0.0

    def div(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return -xlogy(d, y).sum(axis=1) + self._entropy(d)

    # dDiv/dy_i = -d_i / y_i
    def grad(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return -d / y

    # d2Div/dy_i^2 = d_i / y_i^2, diagonal
    def hvp(self, y: NDArray[Any], d: NDArray[Any], ty: NDArray[Any]) -> NDArray[Any]:
        return (d / (y * y)) * ty

    def fused(self) -> Loss:
        return _SoftmaxCrossEntropy(self)

    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        s = " + ".join(f"-{S.t(o)}*log({S.y(o)})" for o, _, _, _ in outs)
        n = " + ".join(f"-{m(t)}*log({f(y)})" for _, y, t, _ in outs if t != 0) or "0"
        ks, kn = _kl_terms(outs, S, f, m, binary=False) if self.kl else ("", "")
        return s + ks, n + kn

    def trace_dE_dy(self, name: str, y: float, t: float, S: Any, f: Format, m: Format) -> Rows | None:
        return f"-{S.t(name)}/{S.y(name)}", (f"-{m(t)}/{m(y)}" if t != 0 else "0")

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if self.label_smoothing:
            cfg["label_smoothing"] = self.label_smoothing
        if self.kl:
            cfg["kl"] = True
        return cfg


class _SoftmaxCrossEntropy(_Fused):
    base: CrossEntropy
    """Cross-entropy on the logits z of a softmax output.

    Div = (sum_i d_i) logsumexp(z) - d.z;  dDiv/dz = (sum_i d_i) y - d  (= y - d for target rows summing to 1);
    d2Div/dz2 = (sum_i d_i) (diag(y) - y y^T).
    """

    note = ("softmax output with cross_entropy, taken on the logits {x}: {E} = log(sum_k e^{x}) - "
            "sum_k {t}*{x}, and {dx} = {y} - {t}")

    def div(self, z: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return -np.einsum("ij,ij->i", d, log_softmax(z)) + self.base._entropy(d)

    def grad(self, z: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        g = softmax(z)
        g *= d.sum(axis=1, keepdims=True)
        g -= d
        return g

    def div_grad(self, z: NDArray[Any], d: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        # one pass: s = z - max z, e = e^s, lse = log sum e; Div = lse sum(d) - d.s; dDiv/dz = sum(d) e / sum(e) - d
        s = z - np.maximum.reduce(z, axis=1, keepdims=True)
        e = np.exp(s)
        total = np.add.reduce(e, axis=1, keepdims=True)
        sd = np.add.reduce(d, axis=1, keepdims=True)
        div = log_sum_exp_shifted(e, s)[:, 0] * sd[:, 0] - np.einsum("ij,ij->i", d, s) + self.base._entropy(d)
        e *= sd / total
        e -= d
        return div, e

    # (sum d) (diag(y) - y y^T) R{z}: sum d times the softmax JVP
    def hvp(self, z: NDArray[Any], d: NDArray[Any], tz: NDArray[Any]) -> NDArray[Any]:
        return d.sum(axis=1, keepdims=True) * softmax_jvp(softmax(z), tz)

    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        st = _target_sum(outs)
        lse_s = "logsumexp(" + ", ".join(f"{S.x(o)}" for o, _, _, _ in outs) + ")"
        lse_n = "logsumexp(" + ", ".join(f(x) for _, _, _, x in outs) + ")"
        if st is not None:
            lse_s, lse_n = f"sum(t)*{lse_s}", f"{f(st)}*{lse_n}"
        s = lse_s + " - (" + " + ".join(f"{S.t(o)}*{S.x(o)}" for o, _, _, _ in outs) + ")"
        terms = [f"{m(t)}*{m(x)}" for _, _, t, x in outs if t != 0]
        n = lse_n + (" - (" + " + ".join(terms) + ")" if terms else "")
        ks, kn = _kl_terms(outs, S, f, m, binary=False) if self.base.kl else ("", "")
        return s + ks, n + kn

    def trace_dE_dx(self, name: str, y: float, t: float, outs: Sequence[Output], S: Any, f: Format,
                    m: Format) -> Rows | None:
        # sum(t) y(o) - t(o) for target rows that do not sum to 1
        st = _target_sum(outs)
        if st is None:
            return super().trace_dE_dx(name, y, t, outs, S, f, m)
        return f"sum(t)*{S.y(name)} - {S.t(name)}", f"{f(st)}*{m(y)} - {m(t)}"

    def trace_M(self, k: str, k2: str, y: float, y2: float, same: bool, outs: Sequence[Output], S: Any, f: Format,
                m: Format) -> Rows | None:
        st = _target_sum(outs)
        scale = "" if st is None else f"{f(st)}*"
        s = f"{S.y(k)}*(delta_kk' - {S.y(k2)})" if not scale else f"sum(t)*{S.y(k)}*(delta_kk' - {S.y(k2)})"
        return s, f"{scale}{m(y)}*({int(same)} - {m(y2)})"


class PoissonDeviance(Loss):
    """Half the Poisson deviance for a mean mu > 0 and counts d >= 0.

    Div = sum_c mu - d + d log(d / mu);  dDiv/dmu = 1 - d / mu;  d2Div/dmu2 = d / mu^2 (diagonal).
    With an exp output mu = e^z it is evaluated on z: Div = e^z - d z + d log d - d, dDiv/dz = e^z - d.

    Parameters
    ----------
    l2 : float, default 0.0
        lambda of the penalty lambda/2 ||W||^2 over the weights (not the biases).
    reduction : {"mean", "sum"}, default "mean"
        The batch loss: 1/B sum_n Div_n ("mean") or the notes' sum_n Div_n ("sum").

    Examples
    --------
    >>> PoissonDeviance().div(np.array([[2.0]]), np.array([[2.0]]))
    array([0.])
    """

    name = "poisson"
    task = "counts"
    output = fuses_with = "exp"
    needs = "positive"
    advice = "output='exp' (poisson is then evaluated on its logits) or 'softplus'"

    def prepare(self, T: ArrayLike, B: int, c: int, dtype: DTypeLike) -> NDArray[Any]:
        T = super().prepare(T, B, c, dtype)
        if np.any(T < 0):
            raise InputError("poisson targets must be >= 0 (counts or rates); got negative values")
        return T

    def make_targets(self, rng: np.random.Generator, B: int, c: int) -> NDArray[Any]:
        return rng.poisson(2.0, size=(B, c)).astype(float)

    def div(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return (y - d + xlogy(d, d) - xlogy(d, y)).sum(axis=1)

    def grad(self, y: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return 1 - d / y

    def hvp(self, y: NDArray[Any], d: NDArray[Any], ty: NDArray[Any]) -> NDArray[Any]:
        return (d / (y * y)) * ty

    def fused(self) -> Loss:
        return _ExpPoisson(self)

    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        s = " + ".join(f"({S.y(o)} - {S.t(o)} + {S.t(o)}*log({S.t(o)}/{S.y(o)}))" for o, _, _, _ in outs)
        n = " + ".join(f"({f(y)} - {f(t)}" + (f" + {m(t)}*log({f(t)}/{f(y)}))" if t else ")") for _, y, t, _ in outs)
        return s, n

    def trace_dE_dy(self, name: str, y: float, t: float, S: Any, f: Format, m: Format) -> Rows | None:
        return f"(1 - {S.t(name)}/{S.y(name)})", f"(1 - {m(t)}/{m(y)})"


class _ExpPoisson(_Fused):
    """Poisson deviance on the logits z of an exp output: Div = e^z - d z + d log d - d;  dDiv/dz = e^z - d."""

    note = ("exp output with poisson, taken on the logit {x}: {E} = sum_k (e^{x} - {t}*{x} + {t}*log({t}) - "
            "{t}), and {dx} = {y} - {t}")

    def div(self, z: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return (np.exp(z) - d * z + xlogy(d, d) - d).sum(axis=1)

    def grad(self, z: NDArray[Any], d: NDArray[Any]) -> NDArray[Any]:
        return np.exp(z) - d

    # d2Div/dz2 = e^z, diagonal
    def hvp(self, z: NDArray[Any], d: NDArray[Any], tz: NDArray[Any]) -> NDArray[Any]:
        return np.exp(z) * tz

    def trace_E(self, outs: Sequence[Output], S: Any, f: Format, m: Format) -> Rows | None:
        s = " + ".join(f"(exp({S.x(o)}) - {S.t(o)}*{S.x(o)} + {S.t(o)}*log({S.t(o)}) - {S.t(o)})"
                       for o, _, _, _ in outs)
        n = " + ".join(f"(exp({f(x)}) - {m(t)}*{m(x)}" + (f" + {m(t)}*log({f(t)}) - {m(t)})" if t else ")")
                       for _, _, t, x in outs)
        return s, n

    # d2E/da2 = e^a = y
    def trace_M(self, k: str, k2: str, y: float, y2: float, same: bool, outs: Sequence[Output], S: Any, f: Format,
                m: Format) -> Rows | None:
        return (S.y(k), m(y)) if same else ("0", "0")


# registration order is the order of LOSS_NAMES (what the CLI help and the tests list)
LOSSES.register("l2", L2, aliases=("mse", "squared_error"))
LOSSES.register("bce", BinaryCrossEntropy, aliases=("binary_cross_entropy", "log_loss"))
LOSSES.register("cross_entropy", CrossEntropy, aliases=("ce", "nll"))
LOSSES.register("poisson", PoissonDeviance)
LOSSES.register("kl", functools.partial(CrossEntropy, kl=True))
LOSSES.register("binary_kl", functools.partial(BinaryCrossEntropy, kl=True))
LOSSES.register("huber", Huber)

#: derived views of the registry, for code that reads names
LOSS_NAMES = LOSSES.names()
LOSS_ALIASES = LOSSES.aliases()


def loss_class(name: str) -> type[Loss]:
    """The Loss class a registered name (or alias) builds: ``loss_class("kl") is CrossEntropy``.

    Parameters
    ----------
    name : str
        A registered loss name or alias.

    Returns
    -------
    type
        The Loss subclass.

    Examples
    --------
    >>> loss_class("kl").__name__
    'CrossEntropy'
    """
    member = LOSSES.get(name)
    if isinstance(member, functools.partial):
        member = member.func
    return member


def default_loss_for(output: str | None) -> str:
    """The classification loss taken on the logits of ``output`` (bce for sigmoid, cross_entropy for softmax),
    else ``"l2"``.

    Parameters
    ----------
    output : str or None
        The name of a network's output activation.

    Returns
    -------
    str
        A registered loss name.

    Examples
    --------
    >>> default_loss_for("softmax"), default_loss_for("identity")
    ('cross_entropy', 'l2')
    """
    for name, member in LOSSES.items():
        cls = loss_class(name)
        if cls.task in ("binary", "multiclass") and cls.fuses_with == output and member is cls:
            return name
    return "l2"


def loss_names(tasks: Iterable[str] | None = None) -> tuple[str, ...]:
    """The registered names and aliases of the losses whose ``task`` is in ``tasks`` (default: all).

    Parameters
    ----------
    tasks : iterable of str, optional
        Any of "regression", "binary", "multiclass", "counts".

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> loss_names(["binary"])
    ('bce', 'binary_kl', 'binary_cross_entropy', 'log_loss')
    """
    names = [n for n in (*LOSSES.names(), *LOSSES.aliases()) if tasks is None or loss_class(n).task in tasks]
    return tuple(names)


def laplace_losses() -> str:
    """The losses ``Laplace`` takes, in words: "'l2' regression, 'cross_entropy' with a softmax output and ...".

    Returns
    -------
    str

    Examples
    --------
    >>> laplace_losses()
    "'l2' regression, 'bce' with a sigmoid output and 'cross_entropy' with a softmax output"
    """
    parts = [f"{name!r} regression" if cls.laplace == "regression" else f"{name!r} with a {cls.fuses_with} output"
             for name, cls in LOSSES.items() if isinstance(cls, type) and issubclass(cls, Loss) and cls.laplace]
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


def get_loss(spec: str | dict[str, Any] | Loss, **options: Any) -> Loss:
    """Return a loss from a name (one of ``LOSSES.names()``: ``"l2"``, ``"bce"``, ``"cross_entropy"``,
    ``"poisson"``, ``"kl"``, ``"binary_kl"``, ``"huber"``, or an alias), a dict from a saved model, or a
    Loss instance (returned unchanged).

    Parameters
    ----------
    spec : str, dict or Loss
    **options
        ``l2``, ``label_smoothing`` (cross_entropy), ``kl`` (bce, cross_entropy), ``delta`` (huber), and for
        every loss ``reduction``: ``"mean"`` (default, E = 1/B sum_n Div_n + lambda/2 ||W||^2) or ``"sum"``
        (the notes' E = sum_n E_n + lambda/2 ||W||^2).

    Returns
    -------
    Loss

    Examples
    --------
    >>> get_loss("huber", delta=0.5)
    Huber(delta=0.5)
    """
    if isinstance(spec, Loss):
        if options:
            raise ConfigError("options can only be given with a loss name, not with a Loss instance")
        return spec
    name: object = spec
    if isinstance(spec, dict):
        options = {**{k: v for k, v in spec.items() if k != "name"}, **options}
        name = spec.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"a loss is a name or a Loss instance; got {name!r}")
    make = LOSSES.get(name)
    try:
        loss: Loss = make(**options)
    except TypeError as e:
        raise ConfigError(f"bad option for loss {LOSSES.canonical(name)!r}: {e}") from None
    return loss
