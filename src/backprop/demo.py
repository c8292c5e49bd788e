"""The main job behind `make demo`: check backpropagation on a digits-sized network."""
from __future__ import annotations

import numpy as np

from . import data
from .derivatives.checks import check_gradient
from .derivatives.gradient import loss_and_grad
from .engine.network import MLP


def main() -> int:
    X, y = data.digits()
    net = MLP([64, 32, 10], hidden="tanh", output="softmax", seed=0)
    print(net.summary())
    value, grad = loss_and_grad(net, "cross_entropy", X, y)
    print(f"\ncross-entropy on {len(X)} digits: {value:.6f}, |grad| = {np.linalg.norm(grad):.6f}\n")
    report = check_gradient(net, "cross_entropy", X[:200], y[:200])
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
