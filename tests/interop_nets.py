"""Networks for the interop tests: every built-in activation and head, read from the library's own tables,
and compiled neuron graphs that together hold every registered op type."""
import numpy as np

import backprop as bp
from backprop.ops.activations import SCALAR_NAMES
from backprop.ops.registry import load_ops


def _square(z):                    # y = z^2 / 2, a user vector activation made of module-level functions
    return 0.5 * z * z


def _square_jac(z, y):
    return z[:, :, None] * np.eye(z.shape[1])


SQUARE = bp.vector_activation("interop_square", _square, _square_jac)

#: every built-in scalar activation, leaky_relu with a non-default slope as well
ACTIVATIONS = list(SCALAR_NAMES) + [{"name": "leaky_relu", "slope": 0.2}]
#: the output heads: softmax and every scalar activation
HEADS = ["softmax"] + list(SCALAR_NAMES)


def act_id(a):
    return a if isinstance(a, str) else f"{a['name']}_{a['slope']}"


def mlp(hidden, output, dtype=np.float64, sizes=(3, 5, 4, 2), seed=0):
    return bp.MLP(list(sizes), hidden=hidden, output=output, seed=seed, dtype=dtype)


def special_graph():
    """Products, a maxout unit (max), mixed activations in one level (segments), a softmax group."""
    g = bp.NeuronGraph()
    x1, x2, x3 = g.inputs("x1", "x2", "x3")
    a, b = g.neuron("a", "tanh"), g.neuron("b", "sigmoid")
    for s in (x1, x2):
        g.connect(s, a)
    for s in (x2, x3):
        g.connect(s, b)
    p = g.product([a, b], name="p")
    q = g.product([b, x1], name="q", exponents=[1.5, 2])
    m = g.maxout([x1, x3], 2, name="m")
    o1, o2 = g.neuron("o1", output=True), g.neuron("o2", output=True)
    for o in (o1, o2):
        for s in (p, q, m, a):
            g.connect(s, o)
    g.softmax_group([o1, o2])
    return g


def skip_graph():
    """A skip connection from the input to the output, relu and identity units in one level."""
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    h1, h2 = g.neuron("h1", "relu"), g.neuron("h2", "softplus", bias=False)
    for s in (x1, x2):
        g.connect(s, h1)
        g.connect(s, h2)
    o = g.neuron("o", "identity", output=True)
    for s in (h1, h2, x1):
        g.connect(s, o)
    return g


def vector_graph():
    """A user vector activation over a group of two neurons."""
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    u, v = g.neuron("u"), g.neuron("v")
    for s in (x1, x2):
        g.connect(s, u)
        g.connect(s, v)
    g.vector_group([u, v], SQUARE)
    o = g.neuron("o", "tanh", output=True)
    g.connect(u, o)
    g.connect(v, o)
    return g


GRAPHS = {"special": special_graph, "skip": skip_graph, "vector": vector_graph}


def op_kinds(net) -> set:
    """The registered op names used by ``net``, including the ops inside segmented activations."""
    kinds = set()

    def visit(cfg):
        if isinstance(cfg, dict):
            if "op" in cfg:
                kinds.add(cfg["op"])
            for v in cfg.values():
                visit(v)
        elif isinstance(cfg, (list, tuple)):
            for v in cfg:
                visit(v)
    visit([op.config() for op in net.ops])
    return kinds


def all_networks(dtype=np.float64):
    """(name, network) pairs covering every activation, head and registered op type."""
    nets = [(f"mlp_{act_id(a)}_{h}", mlp(a, h, dtype)) for a in ACTIVATIONS for h in ("softmax", "identity")]
    nets += [(f"mlp_tanh_{h}", mlp("tanh", h, dtype)) for h in HEADS]
    nets += [(name, make().compile(seed=1, dtype=dtype)) for name, make in GRAPHS.items()]
    # the ops with a train/eval mode (saved, exported and compared in evaluation mode, where they are defined)
    nets += [("rrelu_dropout_mlp", bp.MLP([3, 5, 4, 2], hidden="rrelu", dropout=0.3, seed=2, dtype=dtype))]
    nets += [(f"norm_{kind}", normalized(kind, dtype)) for kind in ("batch", "layer")]
    return nets


def normalized(kind, dtype=np.float64):
    """An MLP with a BatchNorm or LayerNorm after each hidden layer, its norm weights and biases off 1 and 0
    (BatchNorm in evaluation mode, with its initial running statistics)."""
    net = bp.MLP([3, 5, 4, 2], hidden="tanh", output="softmax", normalization=kind, seed=2, dtype=dtype)
    net.params = net.params + np.random.default_rng(2).normal(scale=0.2, size=net.n_params)
    return net


def covered_op_kinds():
    kinds = set()
    for _, net in all_networks():
        kinds |= op_kinds(net)
    return kinds


def registered_op_kinds():
    return set(load_ops().names())


def inputs_for(net, n=7, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, net.n_inputs))
    if any(k == "product" for k in op_kinds(net)):
        X = np.abs(X) + 0.5        # fractional powers of positive factors
    return X.astype(net.dtype)
