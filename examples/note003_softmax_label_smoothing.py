"""Note 003: the softmax as a vector activation (its Jacobian dy_i/dz_j = y_i (delta_ij - y_j)), the
cross-entropy divergence with label smoothing, and the derivative the note gives for it:

    dDiv/dY_i = -(1 - (K-1) eps) / y_c  for the target class c,   -eps / y_i  for the other classes

and the backward step through the softmax, dDiv/dz = J^T dDiv/dY = y - d for the smoothed target d.
"""
import numpy as np

import backprop as bp


def main(verbose=True):
    K, eps, c = 3, 0.1, 2
    net = bp.MLP([2, K], output="softmax", seed=4)
    x = np.array([0.3, -1.2])
    loss = bp.get_loss("cross_entropy", label_smoothing=eps)
    tr = bp.trace(net, x, c, loss=loss, notation="003", digits=8)
    if verbose:
        print(tr)
    y = np.array([tr.nodes[f"o{k + 1}"]["y"] for k in range(K)])
    d = tr.target
    assert np.allclose(d, [eps, eps, 1 - (K - 1) * eps])                   # the smoothed target
    # the note's derivative of the divergence with respect to the outputs Y
    note = np.where(np.arange(K) == c, -(1 - (K - 1) * eps) / y, -eps / y)
    assert np.allclose(loss.grad(y[None], d[None])[0], note, rtol=1e-14)
    # the softmax Jacobian, from the group's own derivative, against y_i (delta_ij - y_j)
    lay = tr.layout
    J = tr._group_jacobian(lay.groups[0])
    assert np.allclose(J, np.diag(y) - np.outer(y, y), atol=1e-15)
    # backward through the softmax: J^T dDiv/dY = y - d, the fused delta the trace shows
    dz = J.T @ note
    assert np.allclose(dz, y - d, atol=1e-14)
    assert np.allclose([tr.nodes[f"o{k + 1}"]["dE/dx"] for k in range(K)], y - d, atol=1e-15)
    # the divergence itself: -sum_i d_i log y_i
    assert abs(tr.E + np.sum(d * np.log(y))) < 1e-14
    if verbose:
        print("\nsoftmax Jacobian J = diag(y) - y y^T:\n", np.array2string(J, precision=6))
        print("dDiv/dY (note 003):", np.array2string(note, precision=6), " J^T dDiv/dY = y - d:",
              np.array2string(dz, precision=6))
    return {"trace": tr, "J": J, "dDiv_dY": note}


if __name__ == "__main__":
    main()
