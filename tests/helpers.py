"""Helpers shared by the derivative tests."""
import numpy as np

from backprop.losses import LOSS_NAMES, get_loss


def targets(loss, B, c, rng):
    """Random targets of the right kind for ``loss`` (a name or a Loss), as the loss declares them."""
    return get_loss(loss).make_targets(rng, B, c)


def heads(*extra):
    """(output, loss) settings: every registered loss with the output it declares (fused where it fuses),
    then the ``extra`` pairings."""
    return [(get_loss(name).output, name) for name in LOSS_NAMES] + list(extra)


def off_loss_kinks(net, loss, X, T, margin=0.05):
    """True when no output is within ``margin`` of a point where the loss's second derivative jumps (Huber's
    |y - t| = delta), where finite differences of the gradient mean nothing."""
    loss = get_loss(loss)
    Y = net.forward_values(X)[0][-1]
    return loss.kink_distance(Y, loss.prepare(T, Y.shape[0], Y.shape[1], Y.dtype)) > margin


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
