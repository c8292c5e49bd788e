"""Note 004's computation graph: 6 scalar nodes in order, one input, two hidden layers of 2 ReLU nodes, one
identity output, 8 weighted edges and no biases; E = 1/2 (y_output - y_target)^2.

    forward, node j in order:  x_j = sum_{i in in(j)} w_ij y_i,  y_j = f(x_j)
    backward, in reverse:      dE/dy_i = sum_{j in out(i)} w_ij dE/dx_j,  dE/dx_j = f'(x_j) dE/dy_j
    every edge:                dE/dw_ij = y_i dE/dx_j

The note's figure (and so its weights) is not part of the text; the weights below are chosen so
that one hidden node is inactive and the numbers are exact in binary.
"""
import backprop as bp


def graph():
    g = bp.NeuronGraph()
    (n1,) = g.inputs("1")
    n2, n3 = g.neuron("2", "relu", bias=False), g.neuron("3", "relu", bias=False)
    n4, n5 = g.neuron("4", "relu", bias=False), g.neuron("5", "relu", bias=False)
    n6 = g.neuron("6", output=True, bias=False)
    for a, b, w in [(n1, n2, 0.5), (n1, n3, -1.0), (n2, n4, 1.5), (n3, n4, 0.25), (n2, n5, -0.5),
                    (n3, n5, 2.0), (n4, n6, 2.0), (n5, n6, 1.0)]:
        g.connect(a, b, w)
    return g


def main(verbose=True):
    tr = bp.trace(graph(), [2.0], 0.5, loss="l2")
    if verbose:
        print(tr)
    N, E = tr.nodes, tr.edges
    assert len(N) == 6 and len(E) == 8
    # forward: node 2 = relu(0.5*2) = 1, node 3 = relu(-2) = 0, node 4 = relu(1.5) = 1.5, node 5 = relu(-0.5) = 0
    assert [N[n]["y"] for n in "123456"] == [2.0, 1.0, 0.0, 1.5, 0.0, 3.0]
    assert tr.E == 0.5 * (3.0 - 0.5) ** 2 == 3.125
    # backward: dE/dy_6 = y - t = 2.5; node 4: 2*2.5 = 5; node 5 inactive: dE/dx = 0
    assert N["6"]["dE/dy"] == 2.5 and N["4"]["dE/dx"] == 5.0 and N["5"]["dE/dx"] == 0.0
    assert N["2"]["dE/dy"] == 1.5 * 5.0 + (-0.5) * 0.0 == 7.5 and N["3"]["dE/dx"] == 0.0
    assert E[("4", "6")]["dE/dw"] == 1.5 * 2.5 and E[("1", "2")]["dE/dw"] == 2.0 * 7.5 == 15.0
    assert E[("2", "5")]["dE/dw"] == 0.0 and E[("3", "4")]["dE/dw"] == 0.0
    return {"trace": tr}


if __name__ == "__main__":
    main()
