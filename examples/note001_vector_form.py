"""Note 001: the L-layer vector form with a softmax output, negative log-likelihood plus L2, the three steps of
backpropagation, and vanishing gradients.

    1. top-layer error:     delta_K = dL/da_K  (= y - d for softmax + NLL)
    2. weight gradients:    dL/dW_k = delta_(k+1) h_k^T  (+ lambda W_k),   dL/db_k = delta_(k+1)
    3. propagate down:      delta_k = W_k^T delta_(k+1) . g'(a_k)

Checked against the trace in 001's symbols; then a deep sigmoid network shows the deltas shrinking
layer by layer (sigmoid' <= 1/4): the vanishing gradient.
"""
import numpy as np

import backprop as bp


def main(verbose=True):
    lam = 0.01
    net = bp.MLP([3, 4, 4, 3], hidden="tanh", output="softmax", seed=2)
    x, c = np.array([0.2, -0.4, 0.9]), 1
    tr = bp.trace(net, x, c, loss=bp.get_loss("cross_entropy", l2=lam), notation="001")
    if verbose:
        print(tr)
    L = tr.layers()                      # per-layer vectors: A0 = h^(1), Z0 = a^(2), ... in 0-based names
    d = np.eye(3)[c]
    delta = L["A3"] - d                                       # step 1
    assert np.allclose(delta, L["dLdZ2"], atol=1e-15)
    for k in (2, 1, 0):
        W = L[f"W{k}"]
        assert np.allclose(L[f"dLdW{k}"], np.outer(delta, L[f"A{k}"]) + lam * W, atol=1e-15)   # step 2
        assert np.allclose(L[f"dLdb{k}"], delta, atol=1e-15)
        if k:
            delta = (W.T @ delta) * (1 - L[f"A{k}"] ** 2)     # step 3 (tanh' = 1 - h^2)
            assert np.allclose(delta, L[f"dLdZ{k - 1}"], atol=1e-15)
    # vanishing gradients: 12 sigmoid layers
    deep = bp.MLP([2] + [8] * 12 + [1], hidden="sigmoid", output="identity", seed=0)
    dt = bp.trace(deep, [0.5, -0.5], 1.0, loss="l2")
    norms = [float(np.linalg.norm(dt.layers()[f"dLdZ{k}"])) for k in range(12)]
    if verbose:
        print("\n||delta|| per hidden layer, input side first:", ", ".join(f"{v:.2e}" for v in norms))
    assert norms[0] < 1e-4 * norms[-1]                        # the first layers learn far more slowly
    return {"trace": tr, "delta_norms": norms}


if __name__ == "__main__":
    main()
