"""The record of a training run: one row per epoch, plus how and why it ended."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, overload

import numpy as np
from numpy.typing import NDArray

from ..engine.serialize import atomic_write
from ..errors import FileFormatError


#: the columns of a history, in display order
COLUMNS = ("epoch", "loss", "val_loss", "train_metric", "val_metric", "lr", "grad_norms", "time")
#: why a run can end
STOP_REASONS = ("max_epochs", "converged", "early_stopping", "callback", "interrupted", "diverged")
#: a run that ends with a training loss more than this many times its starting loss has diverged
DIVERGED_FACTOR = 2.0


def _json_number(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class History:
    """Per-epoch training record returned by ``train``.

    Each epoch adds one row with

    * ``epoch``          1, 2, ... (counting every epoch of the run, resumed ones too)
    * ``loss``           mean training loss over the epoch's batches (each at the parameters it saw)
    * ``val_loss``       loss on the validation data at the end of the epoch (NaN without validation)
    * ``train_metric``   running ``metric`` over the epoch's batches (NaN if the metric is not per sample)
    * ``val_metric``     ``metric`` on the validation data at the end of the epoch
    * ``lr``             learning rate of the epoch's first update
    * ``grad_norms``     per layer, the mean over the epoch's batches of ||dL/dp|| for that layer's
                         parameters: shrinking values from the output down to the input show vanishing gradients
    * ``time``           wall time of the epoch in seconds

    ``history["loss"]`` gives a column as an array (``grad_norms``: shape (n_epochs, n_layers)).

    Attributes
    ----------
    metric : str or None
        Name of the metric.
    layers : list of str
        Names of the layers of ``grad_norms``.
    stop_reason : str
        ``"max_epochs"``, ``"converged"``, ``"early_stopping"``, ``"callback"``, ``"interrupted"``
        or ``"diverged"``.
    best_epoch : int or None
        Epoch with the lowest validation loss, if validation was used (its parameters are the network's
        final ones when ``train`` ran with ``restore_best=True``).
    start_loss, end_loss : float or None
        Training loss (over the whole training set) at the parameters the run started from and at
        those it ended with; ``train`` computes both when the run ends.
    diverged : bool
        True when training diverged: the loss became NaN or inf (``stop_reason == "diverged"``), or
        the run ended with a training loss more than ``DIVERGED_FACTOR`` (2) times its starting loss
        (then ``train`` also warns with ``bp.DivergenceWarning``). Both losses are exact whole-set losses,
        computed by ``train`` when the run ends (two forward passes over the training set per call).

    Parameters
    ----------
    metric : str, optional
        The name of the training metric (None: none was tracked).
    layers : sequence of str, default ()
        One name per layer, for the gradient-norm columns.
    records : list of dict, optional
        One row per epoch (``epoch``, ``loss``, ``val_loss``, ``train_metric``, ``val_metric``, ``lr``,
        ``time``, ``grad_norms``).
    stop_reason : str, optional
        Why training stopped.
    best_epoch : int, optional
        The epoch whose parameters were kept.
    start_loss, end_loss : float, optional
        The training loss before the first and after the last epoch.
    diverged : bool, default False
        Whether training ended far worse than it started.

    Examples
    --------
    >>> import backprop as bp
    >>> X, y = bp.datasets.xor()
    >>> h = bp.train(bp.MLP([2, 3, 1], output="sigmoid", seed=0), "bce", X, y, epochs=3, batch_size=4, verbose=False)
    >>> len(h), h["epoch"].tolist(), h[0]["epoch"]
    (3, [1, 2, 3], 1)
    """

    def __init__(self, metric: str | None = None, layers: Sequence[str] = (),
                 records: list[dict[str, Any]] | None = None, stop_reason: str | None = None,
                 best_epoch: int | None = None, start_loss: float | None = None, end_loss: float | None = None,
                 diverged: bool = False) -> None:
        self.metric = metric
        self.layers = list(layers)
        self.records: list[dict[str, Any]] = list(records or [])
        self.stop_reason = stop_reason
        self.best_epoch = best_epoch
        self.start_loss = start_loss
        self.end_loss = end_loss
        self.diverged = bool(diverged)

    @property
    def start_loss(self) -> float | None:
        """Training loss over the whole training set at the parameters the run started from (None if unknown)."""
        return self._resolved("_start_loss")

    @start_loss.setter
    def start_loss(self, value: float | Callable[[], float] | None) -> None:
        self._start_loss = value

    @property
    def end_loss(self) -> float | None:
        """Training loss over the whole training set at the parameters the run ended with (None if unknown)."""
        return self._resolved("_end_loss")

    @end_loss.setter
    def end_loss(self, value: float | Callable[[], float] | None) -> None:
        self._end_loss = value

    def _resolved(self, name: str) -> float | None:
        # a value left to be computed (a callable, e.g. training.loop.SetLoss) is computed once, here
        value = self.__dict__.get(name)
        if callable(value):
            value = value()
            setattr(self, name, value)
        return value

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_start_loss"], state["_end_loss"] = self.start_loss, self.end_loss
        return state

    # ---- access ------------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Add one epoch's row (a copy of ``record``).

        Parameters
        ----------
        record : dict
            The epoch's columns: ``epoch``, ``loss``, ``val_loss``, ``train_metric``, ``val_metric``, ``lr``,
            ``grad_norms``, ``time``.

        Examples
        --------
        >>> h = History()
        >>> h.append({"epoch": 1, "loss": 0.5, "val_loss": float("nan"), "train_metric": float("nan"),
        ...           "val_metric": float("nan"), "lr": 0.1, "grad_norms": [], "time": 0.0})
        >>> len(h), h["loss"].tolist()
        (1, [0.5])
        """
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    @overload
    def __getitem__(self, key: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, key: str) -> NDArray[Any]: ...
    def __getitem__(self, key: int | str) -> dict[str, Any] | NDArray[Any]:
        if isinstance(key, (int, np.integer)):
            return self.records[key]
        if key not in COLUMNS:
            raise KeyError(f"no column {key!r} in a training history; columns are {', '.join(COLUMNS)}")
        if key == "grad_norms":
            return np.array([r["grad_norms"] for r in self.records], dtype=float).reshape(len(self), len(self.layers))
        if key == "epoch":
            return np.array([r["epoch"] for r in self.records], dtype=int)
        return np.array([np.nan if r.get(key) is None else r[key] for r in self.records], dtype=float)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.records)

    @property
    def interrupted(self) -> bool:
        """Whether the run was stopped by Ctrl-C (``stop_reason == "interrupted"``)."""
        return self.stop_reason == "interrupted"

    @property
    def converged(self) -> bool:
        """Whether the run stopped because it converged (``"converged"`` or ``"early_stopping"``)."""
        return self.stop_reason in ("converged", "early_stopping")

    @property
    def total_time(self) -> float:
        """Wall time of all recorded epochs, in seconds."""
        return float(sum(r["time"] for r in self.records))

    @property
    def final_loss(self) -> float:
        """Mean training loss of the last epoch (NaN with no epoch)."""
        return self.records[-1]["loss"] if self.records else float("nan")

    @property
    def history(self) -> dict[str, Any]:
        """The columns as Keras names them: ``{"loss": [...], "val_loss": [...], "accuracy": [...],
        "val_accuracy": [...], "lr": [...]}`` (validation columns only with validation data, the metric's
        only with a metric), one float per epoch.

        Examples
        --------
        >>> h = History("accuracy", records=[{"epoch": 1, "loss": 0.5, "val_loss": float("nan"),
        ...     "train_metric": 0.75, "val_metric": float("nan"), "lr": 0.01, "grad_norms": [], "time": 0.0}])
        >>> h.history
        {'loss': [0.5], 'accuracy': [0.75], 'lr': [0.01]}
        """
        out = {"loss": self["loss"].tolist()}
        columns = [("val_loss", "val_loss")]
        if self.metric:
            columns += [(self.metric, "train_metric"), (f"val_{self.metric}", "val_metric")]
        for name, column in columns:
            values = self[column]
            if np.isfinite(values).any():
                out[name] = values.tolist()
        out["lr"] = self["lr"].tolist()
        return out

    def to_pandas(self) -> Any:
        """The history as a pandas DataFrame indexed by epoch (needs pandas: the ``tables`` extra).

        Returns
        -------
        pandas.DataFrame
            One column per scalar column and one ``grad_norm[LAYER]`` column per layer, one row per epoch.

        Examples
        --------
        >>> h = History(layers=["W1"], records=[{"epoch": 1, "loss": 0.5, "val_loss": float("nan"),
        ...     "train_metric": float("nan"), "val_metric": float("nan"), "lr": 0.1, "grad_norms": [2.0],
        ...     "time": 0.0}])
        >>> list(h.to_pandas().columns)
        ['loss', 'val_loss', 'train_metric', 'val_metric', 'lr', 'time', 'grad_norm[W1]']
        """
        from .._optional import require

        pd = require("pandas", extra="tables", feature="History.to_pandas")
        frame = pd.DataFrame({c: self[c] for c in COLUMNS if c not in ("epoch", "grad_norms")},
                             index=pd.Index(self["epoch"], name="epoch"))
        norms = self["grad_norms"]
        for k, layer in enumerate(self.layers):
            frame[f"grad_norm[{layer}]"] = norms[:, k]
        return frame

    def plot(self, path: str | os.PathLike[str] | None = None, title: str | None = None, dpi: int = 110,
             format: str | None = None) -> Any:
        """The run's curves: training and validation loss, the metric, the learning rate and the
        per-layer gradient norms, one panel each (needs matplotlib: the ``plots`` extra).

        Parameters
        ----------
        path : str or path, optional
            Also write the figure to this file (atomically), in the format its extension names
            (``.png``, ``.svg``, ``.pdf``, ...).
        title : str, optional
        dpi : int
        format : str, optional
            The file format, if not the one of the extension.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import backprop as bp
        >>> X, y = bp.datasets.xor()
        >>> net = bp.MLP([2, 4, 1], hidden="tanh", output="sigmoid", seed=0)
        >>> history = bp.train(net, "bce", X, y, epochs=20, verbose=False)
        >>> fig = history.plot("run.png")
        >>> len(fig.axes) > 0
        True
        """
        from .history_plot import plot_history

        return plot_history(self, path, title=title, dpi=dpi, format=format)

    # ---- files -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The history as a JSON-able dict, which ``from_dict`` reads back.

        Returns
        -------
        dict
            ``{"format": "backprop-history", "metric": ..., "records": [...], ...}``; non-finite numbers
            become None (null).

        Examples
        --------
        >>> h = History(records=[{"epoch": 1, "loss": 0.5, "val_loss": float("nan"), "train_metric": float("nan"),
        ...     "val_metric": float("nan"), "lr": 0.1, "grad_norms": [], "time": 0.0}], stop_reason="max_epochs")
        >>> d = h.to_dict()
        >>> d["format"], d["records"][0]["loss"], d["records"][0]["val_loss"]
        ('backprop-history', 0.5, None)
        """
        rows = []
        for r in self.records:
            row: dict[str, Any] = {k: _json_number(r.get(k)) for k in COLUMNS if k not in ("epoch", "grad_norms")}
            row["epoch"] = int(r["epoch"])
            row["grad_norms"] = [_json_number(g) for g in r["grad_norms"]]
            rows.append(row)
        return {"format": "backprop-history", "metric": self.metric, "layers": self.layers,
                "stop_reason": self.stop_reason, "best_epoch": self.best_epoch,
                "start_loss": _json_number(self.start_loss), "end_loss": _json_number(self.end_loss),
                "diverged": self.diverged, "records": rows}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "history") -> "History":
        """Rebuild a history from ``to_dict``'s output, checking every value (the dict may come from a file).

        Parameters
        ----------
        d : dict
            What ``to_dict`` returned (or JSON read from a file).
        source : str, default "history"
            What to call the dict in an error message (a file name).

        Returns
        -------
        History
            The same rows and end of run.

        Raises
        ------
        FileFormatError
            Naming the first bad entry and what it should be.

        Examples
        --------
        >>> h = History(records=[{"epoch": 1, "loss": 0.5, "val_loss": float("nan"), "train_metric": float("nan"),
        ...     "val_metric": float("nan"), "lr": 0.1, "grad_norms": [], "time": 0.0}], stop_reason="max_epochs")
        >>> History.from_dict(h.to_dict())
        <History: 1 epochs, loss 0.5, stopped: max_epochs>
        >>> History.from_dict({"format": "backprop-history", "records": [{"epoch": 0}]})
        Traceback (most recent call last):
        ...
        backprop.errors.FileFormatError: history is not a valid backprop training history: records[0].epoch must be an integer > 0 (epochs count up from 1); got 0
        """
        def bad(field: str, expected: str, value: Any) -> FileFormatError:
            shown = repr(value) if not isinstance(value, (list, dict)) else type(value).__name__
            return FileFormatError(f"{source} is not a valid backprop training history: {field} must be "
                                   f"{expected}; got {shown[:80]}")

        def number(field: str, value: Any, low: float | None = None, allow_null: bool = True) -> Any:
            if value is None and allow_null:
                return np.nan
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(field, "a number" + (" or null" if allow_null else ""), value)
            v = float(value)
            if not math.isfinite(v) or (low is not None and v < low):
                raise bad(field, ("a finite number" if low is None else f"a finite number >= {low:g}")
                          + (" or null" if allow_null else ""), value)
            return v

        if not isinstance(d, dict) or d.get("format") != "backprop-history":
            raise FileFormatError(f"{source} is not a backprop training history (no \"format\": "
                                  "\"backprop-history\")")
        metric = d.get("metric")
        if metric is not None and not isinstance(metric, str):
            raise bad("metric", "a name or null", metric)
        layers = d.get("layers", [])
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise bad("layers", "a list of layer names", layers)
        stop = d.get("stop_reason")
        if stop is not None and stop not in STOP_REASONS:
            raise bad("stop_reason", f"null or one of {', '.join(STOP_REASONS)}", stop)
        diverged = d.get("diverged", False)
        if not isinstance(diverged, bool):
            raise bad("diverged", "true or false", diverged)
        start_loss, end_loss = (None if d.get(k) is None else number(k, d.get(k)) for k in ("start_loss", "end_loss"))
        rows = d.get("records")
        if not isinstance(rows, list):
            raise bad("records", "a list of epoch records", rows)
        records: list[dict[str, Any]] = []
        for i, r in enumerate(rows):
            where = f"records[{i}]"
            if not isinstance(r, dict):
                raise bad(where, "an object with the columns " + ", ".join(COLUMNS), r)
            e = r.get("epoch")
            last = records[-1]["epoch"] if records else 0
            if isinstance(e, bool) or not isinstance(e, int) or e <= last:
                raise bad(f"{where}.epoch", f"an integer > {last} (epochs count up from 1)", e)
            row: dict[str, Any] = {"epoch": e}
            for k in ("loss", "val_loss", "train_metric", "val_metric"):
                row[k] = number(f"{where}.{k}", r.get(k))
            row["lr"] = number(f"{where}.lr", r.get("lr"), low=0.0)
            row["time"] = number(f"{where}.time", r.get("time"), low=0.0)
            g = r.get("grad_norms")
            if not isinstance(g, list) or len(g) != len(layers):
                raise bad(f"{where}.grad_norms", f"a list of {len(layers)} numbers (one per entry of layers)", g)
            row["grad_norms"] = [number(f"{where}.grad_norms[{j}]", x, low=0.0) for j, x in enumerate(g)]
            records.append(row)
        best = d.get("best_epoch")
        if best is not None and (isinstance(best, bool) or not isinstance(best, int)
                                 or best not in {r["epoch"] for r in records}):
            raise bad("best_epoch", "null or the number of a recorded epoch", best)
        return cls(metric, layers, records, stop, best, start_loss, end_loss, diverged)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the history as JSON, atomically (``load`` reads it back).

        Parameters
        ----------
        path : str or path-like
            The file to write.

        Examples
        --------
        >>> h = History(records=[{"epoch": 1, "loss": 0.5, "val_loss": float("nan"), "train_metric": float("nan"),
        ...     "val_metric": float("nan"), "lr": 0.1, "grad_norms": [], "time": 0.0}], stop_reason="max_epochs")
        >>> h.save("history.json")
        >>> History.load("history.json")
        <History: 1 epochs, loss 0.5, stopped: max_epochs>
        """
        text = json.dumps(self.to_dict(), indent=1)
        atomic_write(path, lambda f: f.write(text), binary=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "History":
        """Read a history written by ``save``, checking every value.

        Parameters
        ----------
        path : str or path-like
            A JSON file written by ``History.save``.

        Returns
        -------
        History

        Raises
        ------
        FileFormatError
            When the file does not exist, is not JSON, or holds a bad entry.

        Examples
        --------
        >>> History(records=[], stop_reason="max_epochs").save("empty.json")
        >>> History.load("empty.json")
        <History: no epochs>
        """
        path = Path(os.fspath(path))
        if not path.is_file():
            raise FileFormatError(f"cannot read history {path}: it does not exist")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise FileFormatError(f"{path} is not a JSON training history ({e})") from None
        return cls.from_dict(d, source=str(path))

    # ---- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        if not self.records:
            return "<History: no epochs>"
        last = self.records[-1]
        parts = [f"{len(self)} epochs", f"loss {last['loss']:.4g}"]
        if last.get("val_loss") is not None and math.isfinite(last["val_loss"]):
            parts.append(f"val_loss {last['val_loss']:.4g}")
        if self.metric and last.get("val_metric") is not None and math.isfinite(last["val_metric"]):
            parts.append(f"val_{self.metric} {last['val_metric']:.4g}")
        parts.append(f"stopped: {self.stop_reason}")
        if self.diverged and self.stop_reason != "diverged":
            parts.append("diverged")
        return f"<History: {', '.join(parts)}>"
