"""Note 000: XOR with ReLU hidden units, its four hidden representations, backpropagation with local gradients
delta, and the update-ordering mistake.

The network is the classic exact solution (2 inputs, 2 ReLU hidden units, 1 identity output):
    W = [[1, 1], [1, 1]], c = [0, -1], w = [1, -2], b = 0   ->   yhat = 0, 1, 1, 0 on the four inputs.
Its hidden representations map (0,1) and (1,0) to the same point, which makes XOR linearly separable.
With squared error, each weight's gradient is delta_j a_i (000's dL/dw_ji = delta_j x_i).
"""
import numpy as np

import backprop as bp
from backprop.faces.teaching.demonstrations import update_order_demo

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
T = np.array([0.0, 1.0, 1.0, 0.0])


def xor_net():
    net = bp.MLP([2, 2, 1], hidden="relu", output="identity")
    net.params[:] = [1, 1, 1, 1, 0, -1, 1, -2, 0]        # W (2x2) row by row, c, w, b
    return net


def main(verbose=True):
    net = xor_net()
    bt = bp.trace_batch(net, X, T, loss="l2", notation="000")
    if verbose:
        print(bt)
    H = np.column_stack([bt.values("y(h1_1)"), bt.values("y(h1_2)")])
    assert H.tolist() == [[0, 0], [1, 0], [1, 0], [2, 1]]            # (0,1) and (1,0) share one representation
    assert bt.values("y(o1)").tolist() == T.tolist() and bt.E == 0.0   # exact: every gradient is zero
    assert np.all(bt.grad == 0)
    # move one weight: now the deltas are non-zero, and the two orders of updating differ (000's warning)
    net.params[6] = 1.25
    tr = bp.trace(net, X[3], T[3], loss="l2", notation="000")
    d_k = tr.nodes["o1"]["dE/dx"]
    assert d_k == tr.nodes["o1"]["y"] - T[3] == 0.5                   # delta_k = yhat - y (identity output)
    for j, w in (("h1_1", 1.25), ("h1_2", -2.0)):                   # delta_j = (sum_k delta_k w_kj) relu'(z_j)
        assert tr.nodes[j]["dE/dx"] == d_k * w * (tr.nodes[j]["x"] > 0)
    demo = update_order_demo(net, X[3], T[3], loss="l2", lr=0.5)
    if verbose:
        print()
        print(tr)
        print()
        print(demo)
    assert np.all(demo.difference[6:] == 0) and np.any(demo.difference[:6] != 0)
    return {"batch": bt, "trace": tr, "demo": demo}


if __name__ == "__main__":
    main()
