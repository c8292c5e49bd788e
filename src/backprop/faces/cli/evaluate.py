"""``backprop evaluate``: loss, metric and confusion matrix of a saved model on data."""
from __future__ import annotations

from ...errors import ConfigError
from ...training.metrics import confusion_matrix, format_confusion
from .data import add_data_options, check_target_option, model_data, split, target_for
from .model import load_model, metric_line

HELP = "loss, accuracy and confusion matrix of a saved model on data"
EXAMPLES = """examples:
  backprop evaluate model.npz --data digits --split test
  backprop evaluate iris.npz --data iris.csv
"""


def add_arguments(p):
    p.add_argument("model", help="a model file written by 'backprop train'")
    add_data_options(p, "target column of a CSV file (default: the one the model was trained on)")
    p.add_argument("--split", choices=("all", "train", "test"), default="all",
                   help="evaluate on all samples, or on the training/test part of the split made by "
                        "'backprop train' (same --test-size and --seed)")


def run(args) -> int:
    check_target_option(args)
    net, meta, task, scaler = load_model(args.model)
    data = model_data(args.data, meta, net.n_inputs, target_for(args, meta))
    if args.split != "all":
        test_size = meta.get("test_size") or 0
        parts = split(data, test_size, meta.get("seed", 0), task.kind != "regression")
        if parts[1] is None:
            raise ConfigError(f"the model was trained without a test split of {data.name}; use --split all")
        data.X, data.y = (parts[0], parts[2]) if args.split == "train" else (parts[1], parts[3])
    X = scaler(data.X)
    T = task.targets(data.y)
    loss, mname, mval = metric_line(task, net, X, T)
    print(f"{data.name} ({args.split}, {len(X)} samples): loss {loss:.4f}  {mname} {mval:.4f}")
    if task.kind != "regression":
        cm = confusion_matrix(T, task.indices(net.predict(X)), len(task.classes))
        print(format_confusion(cm, task.classes))
    return 0
