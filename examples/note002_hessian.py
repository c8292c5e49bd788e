"""Note 002: the exact Hessian of a two-layer network by backpropagating M = d2E_n/(da da'), checked by the
4-point finite difference (O(W^3) work) and by the mixed approach, central differences of
backpropagated gradients (O(W^2)); both have error O(eps^2).
"""
import numpy as np

import backprop as bp


def main(verbose=True):
    net = bp.MLP([2, 2, 2], hidden="tanh", output="identity", seed=3)
    x, t = np.array([0.6, -0.3]), np.array([0.25, -0.5])
    ht = bp.hessian_trace(net, x, t, loss="l2")
    if verbose:
        print(ht)
    H, p0, eps = ht.H, net.params.copy(), 1e-4

    def E(p):
        net.params[:] = p
        return bp.loss_and_grad(net, "l2", x[None], t[None])[0]

    def grad(p):
        net.params[:] = p
        return bp.loss_and_grad(net, "l2", x[None], t[None])[1]

    n = p0.size
    H4 = np.empty((n, n))
    for a in range(n):
        for b in range(n):
            e_a, e_b = np.eye(n)[a] * eps, np.eye(n)[b] * eps
            H4[a, b] = (E(p0 + e_a + e_b) - E(p0 + e_a - e_b) - E(p0 - e_a + e_b) + E(p0 - e_a - e_b)) / (4 * eps ** 2)
    Hm = np.array([(grad(p0 + np.eye(n)[b] * eps) - grad(p0 - np.eye(n)[b] * eps)) / (2 * eps) for b in range(n)]).T
    net.params[:] = p0
    err4, errm = np.max(np.abs(H4 - H)), np.max(np.abs(Hm - H))
    assert err4 < 1e-6 and errm < 1e-7, (err4, errm)
    assert ht.max_difference < 1e-14
    if verbose:
        print(f"\n4-point finite differences: largest error {err4:.1e}; mixed (differences of gradients): {errm:.1e}")
    return {"hessian_trace": ht, "err4": err4, "err_mixed": errm}


if __name__ == "__main__":
    main()
