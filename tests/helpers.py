"""Helpers shared by the derivative tests."""
import numpy as np


def targets(loss, B, c, rng):
    """Random targets of the right kind for ``loss``: labels, 0/1 rows, or real values."""
    if loss in ("cross_entropy", "kl"):
        return rng.integers(0, c, size=B)
    if loss == "bce":
        return rng.integers(0, 2, size=(B, c)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, size=(B, c)).astype(float)
    return rng.normal(size=(B, c))


def nudge_off_kinks(net, X, act):
    """Move relu-like pre-activations away from 0, where f' jumps and finite differences mean nothing."""
    if act not in ("relu", "leaky_relu"):
        return
    for j, op, (W, b) in net.param_layers():
        for _ in range(50):             # shift a unit's bias until all its pre-activations are off the kink
            z = net.forward_values(X)[0][j + 1]
            close = np.abs(z).min(axis=0) < 0.05
            if not close.any():
                break
            b[close] += 0.037


def numeric_jacobian(f, v, h=1e-6):
    """J[i, j] = d f(v)_i / d v_j by central differences, for a function of one flat vector v."""
    cols = []
    for j in range(v.size):
        e = np.zeros_like(v)
        e.flat[j] = h
        cols.append(((f(v + e) - f(v - e)) / (2 * h)).ravel())
    return np.array(cols).T
