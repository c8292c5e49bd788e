"""``backprop predict``: the predictions of a saved model for a CSV file, as CSV."""
from __future__ import annotations

import csv
import sys
import argparse
from typing import IO

from ...engine.serialize import atomic_write
from .data import add_table_options, check_model_table_options, check_table_options, model_data, table_options
from .model import load_model, prepared_inputs
from .usage import check_output_path, refuse


HELP = "predictions of a saved model for a CSV file, as CSV"
EXAMPLES = """examples:
  backprop predict model.npz --data new.csv --out predictions.csv
  backprop predict model.npz --data new.csv | head
  backprop predict iris.npz --data new.csv --proba
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``backprop predict``: the model, the data, the table options and the output."""
    p.add_argument("model", help="a model file written by 'backprop train'")
    p.add_argument("--data", required=True, help="PATH.csv holding the model's feature columns, taken by name "
                   "from the header row (other columns are ignored) or, without header row, exactly the "
                   "model's columns in order; or a built-in data set")
    add_table_options(p, columns="model")
    p.add_argument("--proba", action="store_true", help="a classifier: after the predicted label, one column "
                   "of probabilities per class, named p_<label>")
    p.add_argument("--out", help="write the CSV here instead of to standard output")


def run(args: argparse.Namespace) -> int:
    """``backprop predict``: one predicted label or value per row (and class probabilities)."""
    check_output_path("--out", args.out)
    check_table_options(args)
    net, meta, task, scaler = load_model(args.model)
    check_model_table_options(args, meta, scaler, "predict")
    if args.proba and task.kind == "regression":
        refuse("--proba", f"with the regression model {args.model}: it predicts numbers, not classes")
    data = model_data(args.data, meta, net.n_inputs, need_target=False, table=table_options(args))
    Y = net.predict(prepared_inputs(data, scaler, fill=args.missing != "error"))
    labels = task.labels(Y)

    def write(f: IO[str]) -> None:
        # row by row: a reader that stops early (``| head``) is noticed at once, not after the last row
        w = csv.writer(f, lineterminator="\n")
        if task.kind == "regression":
            w.writerow(["prediction"] if Y.shape[1] == 1 else [f"y{i}" for i in range(Y.shape[1])])
            w.writerows([[repr(float(v))] for v in labels] if Y.shape[1] == 1 else Y.tolist())
        else:
            w.writerow(["prediction"] + ([f"p_{c}" for c in task.classes] if args.proba else []))
            if not args.proba:
                w.writerows([lab] for lab in labels.tolist())
                return
            for lab, row in zip(labels.tolist(), task.probabilities(Y)):
                w.writerow([lab] + [f"{p:.6g}" for p in row])

    if args.out:
        atomic_write(args.out, write, binary=False)
        print(f"wrote {len(labels)} predictions to {args.out}", file=sys.stderr)
    else:
        write(sys.stdout)
    return 0
