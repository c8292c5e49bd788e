"""The record of a training run: one row per epoch, plus how and why it ended."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from ..engine.serialize import atomic_write
from ..errors import FileFormatError

#: the columns of a history, in display order
COLUMNS = ("epoch", "loss", "val_loss", "train_metric", "val_metric", "lr", "grad_norms", "time")


def _json_number(x):
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
    """

    def __init__(self, metric=None, layers=(), records=None, stop_reason=None, best_epoch=None):
        self.metric = metric
        self.layers = list(layers)
        self.records: list[dict] = list(records or [])
        self.stop_reason = stop_reason
        self.best_epoch = best_epoch

    # ---- access ------------------------------------------------------------------------------
    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, key):
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
        return self.stop_reason == "interrupted"

    @property
    def converged(self) -> bool:
        return self.stop_reason in ("converged", "early_stopping")

    @property
    def total_time(self) -> float:
        return float(sum(r["time"] for r in self.records))

    @property
    def final_loss(self) -> float:
        return self.records[-1]["loss"] if self.records else float("nan")

    # ---- files -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-able dict (non-finite numbers become null)."""
        rows = []
        for r in self.records:
            row = {k: _json_number(r.get(k)) for k in COLUMNS if k not in ("epoch", "grad_norms")}
            row["epoch"] = int(r["epoch"])
            row["grad_norms"] = [_json_number(g) for g in r["grad_norms"]]
            rows.append(row)
        return {"format": "backprop-history", "metric": self.metric, "layers": self.layers,
                "stop_reason": self.stop_reason, "best_epoch": self.best_epoch, "records": rows}

    @classmethod
    def from_dict(cls, d: dict, source="history") -> "History":
        try:
            if d.get("format") != "backprop-history":
                raise ValueError("not a backprop history")
            records = []
            for r in d["records"]:
                row = {k: r.get(k) for k in COLUMNS}
                row["epoch"] = int(r["epoch"])
                row["grad_norms"] = [np.nan if g is None else float(g) for g in r["grad_norms"]]
                for k in ("loss", "val_loss", "train_metric", "val_metric", "lr", "time"):
                    row[k] = np.nan if row[k] is None else float(row[k])
                records.append(row)
            layers = [str(x) for x in d.get("layers", [])]
            if any(len(r["grad_norms"]) != len(layers) for r in records):
                raise ValueError("grad_norms do not match the layers")
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise FileFormatError(f"{source} is not a backprop training history ({e})") from None
        return cls(d.get("metric"), layers, records, d.get("stop_reason"), d.get("best_epoch"))

    def save(self, path) -> None:
        """Write the history as JSON, atomically."""
        text = json.dumps(self.to_dict(), indent=1)
        atomic_write(path, lambda f: f.write(text), binary=False)

    @classmethod
    def load(cls, path) -> "History":
        """Read a history written by ``save``."""
        path = Path(os.fspath(path))
        if not path.is_file():
            raise FileFormatError(f"cannot read history {path}: it does not exist")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise FileFormatError(f"{path} is not a JSON training history ({e})") from None
        return cls.from_dict(d, source=str(path))

    # ---- display -----------------------------------------------------------------------------
    def __repr__(self):
        if not self.records:
            return "<History: no epochs>"
        last = self.records[-1]
        parts = [f"{len(self)} epochs", f"loss {last['loss']:.4g}"]
        if last.get("val_loss") is not None and math.isfinite(last["val_loss"]):
            parts.append(f"val_loss {last['val_loss']:.4g}")
        if self.metric and last.get("val_metric") is not None and math.isfinite(last["val_metric"]):
            parts.append(f"val_{self.metric} {last['val_metric']:.4g}")
        parts.append(f"stopped: {self.stop_reason}")
        return f"<History: {', '.join(parts)}>"
