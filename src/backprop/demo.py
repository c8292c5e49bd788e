"""The main job behind `make demo`: train the 10-class digits recogniser from scratch.

1. check backpropagation against finite differences on the untrained network;
2. train a 64-32-10 tanh/softmax MLP with SGD and classical momentum on 75% of the digits
   (15% of them held out for validation and early stopping);
3. report test accuracy on the held-out 25% and the confusion matrix;
4. save the model (loadable with ``bp.load`` and usable by ``backprop evaluate``), the loss curves
   and per-layer gradient norms, and the confusion matrix as PNG files in ``out/``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from . import data
from ._allocator import tune as tune_allocator
from .derivatives.checks import check_gradient
from .engine.network import MLP
from .engine.serialize import save
from .faces.plots import plot_confusion, plot_history
from .training.loop import train
from .training.metrics import confusion_matrix, format_confusion

TARGET = 0.96


def main(argv: list[str] | None = None) -> int:
    """Run the demo (the command line of ``python -m backprop.demo``); 0 if it reached its targets, else 1.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``): ``--out-dir``, ``--epochs``, ``--seed``, ``--quiet``.

    Returns
    -------
    int
        The exit status.

    Examples
    --------
    >>> main(["--help"])     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    parser = argparse.ArgumentParser(prog="python -m backprop.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="out", help="where to write the model and figures (default out/)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    tune_allocator()             # the demo owns its process: keep large temporaries in the heap

    X, y = data.digits()
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_size=0.25, seed=args.seed, stratify=True)
    print(f"digits: {len(X_train)} training and {len(X_test)} held-out test images of 8x8 pixels, 10 classes\n")
    net = MLP([64, 32, 10], hidden="tanh", output="softmax", seed=args.seed)
    print(net.summary())

    report = check_gradient(net, "cross_entropy", X_train[:100], y_train[:100], n=300, seed=args.seed)
    print(f"\nbackprop vs finite differences on 300 weights: {'PASS' if report.passed else 'FAIL'} "
          f"(max relative error {report.max_rel_error:.1e})\n")

    t0 = time.perf_counter()
    # 15% of the training images are held out for validation: early stopping, best parameters restored
    history = train(net, "cross_entropy", X_train, y_train, optimizer="momentum", lr=0.05, momentum=0.9,
                    batch_size=32, epochs=args.epochs, seed=args.seed, validation_fraction=0.15,
                    verbose=not args.quiet)
    seconds = time.perf_counter() - t0

    pred = net.predict(X_test).argmax(axis=1)
    accuracy = float(np.mean(pred == y_test))
    cm = confusion_matrix(y_test, pred, 10)
    best = history.best_epoch
    assert best is not None            # (validation data: early stopping keeps the best epoch)
    print(f"\ntrained {len(history)} epochs in {seconds:.2f} s ({history.stop_reason}); parameters of epoch {best} "
          f"kept: validation loss {history['val_loss'][best - 1]:.4f}, "
          f"validation accuracy {history['val_metric'][best - 1]:.2%}")
    print(f"test accuracy: {accuracy:.2%} on {len(X_test)} held-out images (target >= {TARGET:.0%})\n")
    print(format_confusion(cm, range(10)))

    os.makedirs(args.out_dir, exist_ok=True)
    model = os.path.join(args.out_dir, "digits.npz")
    meta = {"task": {"kind": "multiclass", "loss": {"name": "cross_entropy"}, "output": "softmax",
                     "n_outputs": 10, "classes": list(range(10))},
            "feature_names": [f"x{i}" for i in range(64)], "target": "label", "data": "digits",
            "seed": args.seed, "test_size": 0.25, "history": history.to_dict()}
    save(net, model, metadata=meta)
    curves = os.path.join(args.out_dir, "digits-loss.png")
    plot_history(history, curves, title="digits 64-32-10, SGD with momentum")
    confusion = os.path.join(args.out_dir, "digits-confusion.png")
    plot_confusion(cm, range(10), confusion, title=f"digits test set, accuracy {accuracy:.1%}")
    print(f"\nsaved {model}, {curves} and {confusion}")
    print(f"try: python -m backprop evaluate {model} --data digits --split test")
    ok = report.passed and accuracy >= TARGET
    if not ok:
        print("demo FAILED: " + ("gradient check failed" if not report.passed else "accuracy below target"),
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
