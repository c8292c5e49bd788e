"""Note 002's worked example: a two-layer network for regression, tanh hidden units, identity outputs.

    a_j = sum_i w_ji^(1) x_i,  z_j = tanh(a_j),  y_k = sum_j w_kj^(2) z_j,  E_n = 1/2 sum_k (y_k - t_k)^2
    delta_k = y_k - t_k,  delta_j = (1 - z_j^2) sum_k w_kj^(2) delta_k
    dE_n/dw_ji^(1) = delta_j x_i,  dE_n/dw_kj^(2) = delta_k z_j,  and dE/dw = sum_n dE_n/dw

Prints the trace of one pattern in the note's symbols, checks every delta against the closed
forms above, sums over N patterns, and checks the gradient by central differences (O(eps^2)).
"""
import numpy as np

import backprop as bp


def main(verbose=True):
    net = bp.MLP([2, 3, 2], hidden="tanh", output="identity", seed=0)
    X = np.array([[0.5, -1.0], [1.5, 0.25], [-0.7, 0.8]])
    T = np.array([[0.2, 0.4], [-0.1, 0.3], [0.5, -0.5]])
    tr = bp.trace(net, X[0], T[0], loss="l2", notation="002")
    if verbose:
        print(tr)
    N = tr.nodes
    out, hid = ["o1", "o2"], ["h1_1", "h1_2", "h1_3"]
    delta_k = {k: N[k]["y"] - t for k, t in zip(out, T[0])}
    for k in out:
        assert N[k]["dE/dx"] == delta_k[k]                                   # delta_k = y_k - t_k
    for j in hid:
        s = sum(tr.edges[(j, k)]["w"] * delta_k[k] for k in out)
        assert abs(N[j]["dE/dx"] - (1 - N[j]["y"] ** 2) * s) < 1e-15         # delta_j = (1 - z_j^2) sum_k w_kj delta_k
        for i, x in zip(["x1", "x2"], X[0]):
            assert tr.edges[(i, j)]["dE/dw"] == x * N[j]["dE/dx"]           # dE_n/dw_ji = delta_j x_i
    # E = sum_n E_n: the library's objective is the mean, so N times it is the note's sum
    bt = bp.trace_batch(net, X, T, loss="l2", notation="002")
    per_n = np.array([t.grad for t in bt.instances])
    grad_sum = per_n.sum(axis=0)
    _, g = bp.loss_and_grad(net, "l2", X, T)
    assert np.allclose(grad_sum, len(X) * g, rtol=1e-13, atol=1e-15)
    # central differences, error O(eps^2): the check costs O(W^2), backprop O(W)
    eps, p0 = 1e-5, net.params.copy()
    fd = np.empty_like(p0)
    for m in range(p0.size):
        for sign in (+1, -1):
            net.params[:] = p0
            net.params[m] += sign * eps / 2
            E = len(X) * bp.loss_and_grad(net, "l2", X, T)[0]
            fd[m] = E / eps if sign > 0 else fd[m] - E / eps
    net.params[:] = p0
    err = np.max(np.abs(fd - grad_sum))
    assert err < 1e-8, err
    if verbose:
        print(f"\nsum over the {len(X)} patterns: dE/dw agrees with central differences to {err:.1e}")
    return {"trace": tr, "grad_sum": grad_sum, "fd_error": err}


if __name__ == "__main__":
    main()
