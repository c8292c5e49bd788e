"""Neuron graphs: compiled networks against the derivation node by node, against bp.MLP, and against
finite differences; validation errors that name the nodes."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import backprop as bp
from backprop.ops.activations import get_activation
from backprop.ops.masked_dense import MaskedDense
from backprop.ops.select import Select

SMOOTH = ["tanh", "sigmoid", "softplus", "identity"]
KINKED = ["relu", "leaky_relu"]


# ---- random DAGs --------------------------------------------------------------------------------

def random_graph(rng, n_in, n_hidden, n_out, p_edge, head, special):
    """Random edges from earlier to later nodes (skip connections included), optional product/max units.

    Returns the graph and the creation order (a topological order) for the reference implementation.
    """
    g = bp.NeuronGraph()
    nodes = [g.input(f"x{i + 1}").name for i in range(n_in)]
    positive = []                        # nodes whose output is > 0 (sigmoid): safe for non-integer powers
    for k in range(n_hidden):
        earlier = nodes[:]
        r = rng.random()
        if special and k >= 1 and r < 0.2 and len(earlier) >= 2:
            pick = list(rng.choice(earlier, size=2, replace=False))
            alpha = [float(rng.choice([1.0, 2.0])) for _ in pick]
            if positive and rng.random() < 0.5:
                pick[0] = str(rng.choice(positive))
                if pick[0] == pick[1]:
                    pick = [pick[0]]
                    alpha = alpha[:1]
                alpha[0] = float(rng.choice([0.5, 1.5, -1.0]))
            name = g.product(pick, name=f"p{k}", exponents=alpha).name
        elif special and k >= 1 and r < 0.35 and len(earlier) >= 2:
            pick = list(rng.choice(earlier, size=min(3, len(earlier)), replace=False))
            name = g.max(pick, name=f"m{k}").name
        else:
            act = str(rng.choice(SMOOTH + KINKED))
            name = g.neuron(f"h{k}", act, bias=bool(rng.random() < 0.8)).name
            srcs = [s for s in earlier if rng.random() < p_edge] or [str(rng.choice(earlier))]
            for s in srcs:
                g.connect(s, name, float(rng.normal()))
            if act == "sigmoid":
                positive.append(name)
        nodes.append(name)
    outs = []
    out_act = {"l2": "identity", "bce": "sigmoid", "cross_entropy": "identity"}[head]
    for k in range(n_out):
        name = g.neuron(f"o{k + 1}", out_act, output=True).name
        srcs = [s for s in nodes if rng.random() < p_edge] or [nodes[-1]]
        for s in srcs:
            g.connect(s, name, float(rng.normal()))
        outs.append(name)
    fed = {s for s, _ in g.edges} | {i for n in nodes for i in g._nodes[n].inputs}
    for n in nodes:                      # nothing may dangle: feed unused nodes to an output
        if n not in fed:
            g.connect(n, str(rng.choice(outs)), float(rng.normal()))
    if head == "cross_entropy":
        g.softmax_group(outs)
    return g, nodes + outs


def nudge_off_kinks(net, X, gap=0.02):
    """Move relu-like inputs away from 0 (via their bias) and reject max units with near ties."""
    lay = net.layout
    for _ in range(60):
        vals = net.node_values(X)
        close = [u for u in lay.units if u.act is not None and u.act.name in KINKED and u.bias is not None
                 and np.abs(vals[u.name][0]).min() < gap]
        if not close:
            break
        for u in close:
            net.params[u.bias] += 0.037
    vals = net.node_values(X)
    for u in lay.units:
        if u.act is not None and u.act.name in KINKED and np.abs(vals[u.name][0]).min() < gap:
            return False
        if u.kind == "max" and len(u.inputs) > 1:
            Y = np.stack([vals[lay.names[i]][1] for i in u.inputs], axis=1)
            top2 = np.sort(Y, axis=1)[:, -2:]
            if np.min(top2[:, 1] - top2[:, 0]) < gap:
                return False
    return True


def targets(head, B, c, rng):
    if head == "cross_entropy":
        return rng.integers(0, c, size=B)
    if head == "bce":
        return rng.integers(0, 2, size=(B, c)).astype(float)
    return rng.normal(size=(B, c))


@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(1, 3), n_hidden=st.integers(1, 7), n_out=st.integers(1, 3), p_edge=st.floats(0.2, 0.9),
       head=st.sampled_from(["l2", "bce", "cross_entropy"]), special=st.booleans(), B=st.integers(1, 5),
       seed=st.integers(0, 10_000))
def test_random_dags_pass_the_gradient_check(n_in, n_hidden, n_out, p_edge, head, special, B, seed):
    if head == "cross_entropy":
        n_out = max(n_out, 2)
    rng = np.random.default_rng(seed)
    g, _ = random_graph(rng, n_in, n_hidden, n_out, p_edge, head, special)
    net = g.compile(seed=seed)
    X = rng.normal(size=(B, n_in))
    assume(nudge_off_kinks(net, X))
    T = targets(head, B, n_out, rng)
    # a saturated output deep in its exponential tail (E ~ 1e-50, say) curves so steeply relative to its
    # size that no fixed step resolves 1e-7 there: such draws say nothing about the gradient
    assume(bp.loss_and_grad(net, head, X, T)[0] > 1e-12)
    # products of squares make E quartic in the weights: a step of 2e-4 keeps the O(eps^4) stencil's
    # truncation error below the tolerance (rounding, ~u/eps, stays far below it too)
    report = bp.check_gradient(net, head, X, T, order=4, eps=2e-4, tol=1e-7)
    assert report.passed, str(report)


# ---- the derivation, one scalar node at a time (the reference) --------------------------------------

def reference_pass(g, order, net, x, t, head):
    """The forward and backward algorithm of the notes, a Python loop over single nodes."""
    spec = g._nodes
    X, Y, w = {}, {}, {}
    for (s, d) in g.edges:
        w[(s, d)] = net.weight(s, d)
    ins = [n for n in order if spec[n].kind == "input"]
    for c, n in enumerate(ins):
        X[n] = Y[n] = float(x[c])
    for n in order:
        sp = spec[n]
        if sp.kind == "input":
            continue
        if sp.kind == "neuron":
            X[n] = sum(w[(s, d)] * Y[s] for (s, d) in g.edges if d == n) + (net.bias(n) if sp.bias is not False else 0)
        elif sp.kind == "product":
            X[n] = float(np.prod([Y[i] ** a for i, a in zip(sp.inputs, sp.exponents)]))
        else:
            X[n] = max(Y[i] for i in sp.inputs)
        if sp.group is None:
            Y[n] = float(sp.act.f(np.array([X[n]]))[0])
    outs = g._outputs
    if head == "cross_entropy":
        z = np.array([X[o] for o in outs])
        e = np.exp(z - z.max())
        for o, v in zip(outs, e / e.sum()):
            Y[o] = float(v)
    y_out = np.array([Y[o] for o in outs])
    with np.errstate(divide="ignore", invalid="ignore"):      # a saturated output: see the caller
        if head == "l2":
            dEdy_out = y_out - t
        elif head == "bce":
            dEdy_out = -t / y_out + (1 - t) / (1 - y_out)
        else:
            dEdy_out = -t / y_out
    dY = {n: 0.0 for n in order}
    dX = {}
    for o, v in zip(outs, dEdy_out):
        dY[o] = float(v)
    for n in reversed(order):                          # nodes in reverse order
        sp = spec[n]
        for (s, d) in g.edges:                         # dE/dy_i = sum_j w_ij dE/dx_j
            if s == n:
                dY[n] += w[(s, d)] * dX[d]
        for m in order:                                # unweighted consumers: products and max units
            sm = spec[m]
            if sm.kind == "product" and n in sm.inputs:
                j = sm.inputs.index(n)
                part = sm.exponents[j] * Y[n] ** (sm.exponents[j] - 1) * np.prod(
                    [Y[i] ** a for k, (i, a) in enumerate(zip(sm.inputs, sm.exponents)) if k != j])
                dY[n] += part * dX[m]
            if sm.kind == "max" and n in sm.inputs:
                vals = [Y[i] for i in sm.inputs]
                dY[n] += (1.0 if sm.inputs[int(np.argmax(vals))] == n else 0.0) * dX[m]
        if sp.kind == "input":
            continue
        if sp.group is None:                           # dE/dx_j = f'(x_j) dE/dy_j
            dX[n] = float(sp.act.df(np.array([X[n]]), np.array([Y[n]]))[0]) * dY[n]
        elif n == outs[0]:                             # softmax group: sum_k dE/dy_k y_k (delta_kj - y_j)
            ys = np.array([Y[o] for o in outs])
            gs = np.array([dY[o] for o in outs])
            for k, o in enumerate(outs):
                dX[o] = float(ys[k] * (gs[k] - gs @ ys))
    dW = {(s, d): Y[s] * dX[d] for (s, d) in g.edges}  # dE/dw_ij = y_i dE/dx_j
    return X, Y, dY, dX, dW


@settings(max_examples=25, deadline=None)
@given(n_in=st.integers(1, 3), n_hidden=st.integers(1, 6), n_out=st.integers(2, 3),
       head=st.sampled_from(["l2", "bce", "cross_entropy"]), seed=st.integers(0, 10_000))
def test_compiled_graph_matches_the_node_by_node_algorithm(n_in, n_hidden, n_out, head, seed):
    rng = np.random.default_rng(seed)
    g, order = random_graph(rng, n_in, n_hidden, n_out, 0.5, head, special=True)
    net = g.compile(seed=seed)
    x = rng.normal(size=n_in)
    t = targets(head, 1, n_out, rng)
    p = bp.neuron_backprop(net, head, x[None], t)
    if head == "cross_entropy":
        t = np.eye(n_out)[t[0]]
    with np.errstate(invalid="ignore", over="ignore"):
        X, Y, dY, dX, dW = reference_pass(g, order, net, x, np.asarray(t, float).ravel(), head)
    # where an output saturates (y = 1.0 in floating point) the unfused dE/dy of the reference is
    # not finite; the engine starts from the fused dE/dx = y - t there, so compare the rest
    assume(all(np.isfinite(v) for v in list(dX.values()) + list(dW.values())))
    for n in order:
        node = p.node(n)
        assert node["x"][0] == pytest.approx(X[n], rel=1e-10, abs=1e-12), n
        assert node["y"][0] == pytest.approx(Y[n], rel=1e-10, abs=1e-12), n
        assert node["dE/dy"][0] == pytest.approx(dY[n], rel=1e-8, abs=1e-10), n
        if n in dX:
            assert node["dE/dx"][0] == pytest.approx(dX[n], rel=1e-8, abs=1e-10), n
    for (s, d), v in p.edge_grads().items():
        assert v[0] == pytest.approx(dW[(s, d)], rel=1e-8, abs=1e-10)


def test_per_instance_edge_gradients_sum_to_the_gradient():
    rng = np.random.default_rng(3)
    g, _ = random_graph(rng, 3, 6, 2, 0.6, "l2", special=True)
    net = g.compile(seed=1)
    X, T = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    p = bp.neuron_backprop(net, "l2", X, T)
    value, grad = bp.loss_and_grad(net, "l2", X, T)
    lay = net.layout
    assert p.dE_dw.shape == (7, len(lay.edges)) and p.x.shape == (7, len(lay.units))
    np.testing.assert_allclose(p.dE_dw.sum(axis=0), grad[lay.param], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p.dE_db.sum(axis=0), grad[lay.bias_param], rtol=1e-12, atol=1e-15)
    assert p.value == pytest.approx(value)
    # the per-edge formula, checked on the arrays: dE/dw_ij = y_i dE/dx_j for every instance
    for k, e in enumerate(lay.edges):
        np.testing.assert_array_equal(p.dE_dw[:, k], p.y[:, e.src] * p.dE_dx[:, e.dst])
    # and the methods on the compiled network agree with the result object
    ng = net.node_grads("l2", X, T)
    name = net.node_names[4]
    np.testing.assert_array_equal(ng[name][1], p.node(name)["dE/dx"])
    eg = net.edge_grads("l2", X, T)
    s, d = net.edges[0]
    np.testing.assert_array_equal(eg[(s, d)], p.edge(s, d))


# ---- the layered special case: a neuron graph is an MLP ------------------------------------------------

@pytest.mark.parametrize("hidden, output, loss", [("tanh", "softmax", "cross_entropy"), ("relu", "sigmoid", "bce"),
                                                  (["relu", "tanh"], "identity", "l2")])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layered_graph_equals_mlp(hidden, output, loss, dtype):
    sizes = [5, 7, 4, 3]
    mlp = bp.MLP(sizes, hidden=hidden, output=output, seed=4, dtype=dtype)
    net = bp.NeuronGraph.mlp(sizes, hidden=hidden, output=output).compile(seed=4, dtype=dtype)
    # same layout (W row-major then b, layer by layer) and the same initialisation
    np.testing.assert_array_equal(net.params, mlp.params)
    assert net.output_activation == mlp.output_activation
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 5))
    T = targets(loss, 9, 3, rng)
    net.params[:] = rng.normal(size=net.n_params) * 0.5        # any weights: the maps agree
    mlp.params[:] = net.params
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(net.predict(X), mlp.predict(X), rtol=tol, atol=tol)
    v1, g1 = bp.loss_and_grad(net, loss, X, T)
    v2, g2 = bp.loss_and_grad(mlp, loss, X, T)
    assert v1 == pytest.approx(v2, rel=tol)
    np.testing.assert_allclose(g1, g2, rtol=tol, atol=tol)
    assert all(isinstance(op, MaskedDense) and op.blocks[0].full for op in net.ops[::2])


def test_hand_built_layered_graph_equals_mlp_with_copied_weights():
    mlp = bp.MLP([2, 3, 1], hidden="sigmoid", output="identity", seed=0)
    g = bp.NeuronGraph()
    xs = g.inputs("a", "b")
    hs = [g.neuron(f"h{k}", "sigmoid") for k in range(3)]
    o = g.neuron("out", output=True)
    W1, b1 = mlp.views(0)
    W2, b2 = mlp.views(2)
    for k, h in enumerate(hs):                      # edges given in any order
        for i in (1, 0):
            g.connect(xs[i], h, W1[k, i])
        g.connect(h, o, W2[0, k])
    net = g.compile()
    for k, h in enumerate(hs):
        net.set_bias(h, b1[k] + 0.0)
    np.testing.assert_array_equal(net.params, mlp.params)
    assert net.param_names()[:4] == ["w[a->h0]", "w[b->h0]", "w[a->h1]", "w[b->h1]"]
    assert net.param_names()[6:9] == ["b[h0]", "b[h1]", "b[h2]"]


# ---- second order and the rest of the library work unchanged ------------------------------------------

from interop_nets import special_graph  # noqa: E402  (products, maxout, mixed levels, a softmax group)


def test_hessian_and_hvp_of_a_graph_with_special_units_match_finite_differences():
    net = special_graph().compile(seed=2)
    rng = np.random.default_rng(5)
    X, T = rng.normal(size=(4, 3)), rng.integers(0, 2, size=4)
    assert nudge_off_kinks(net, X, gap=0.05)          # the max unit has no near-ties on this batch
    report = bp.check_hessian(net, "cross_entropy", X, T)
    assert report.passed, str(report)
    H = bp.hessian(net, "cross_entropy", X, T)
    V = rng.normal(size=(net.n_params, 2))
    np.testing.assert_allclose(bp.hvp(net, "cross_entropy", X, T, V), H @ V, rtol=1e-9, atol=1e-12)


def test_jacobian_train_save_and_load_work_on_compiled_graphs(tmp_path):
    net = special_graph().compile(seed=0)
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    J = bp.jacobian(net, X[:2])
    assert J.shape[-1] == 3 and np.all(np.isfinite(J))
    before, _ = bp.loss_and_grad(net, "cross_entropy", X, T)
    bp.train(net, "cross_entropy", X, T, epochs=30, lr=0.1, verbose=False)
    after, _ = bp.loss_and_grad(net, "cross_entropy", X, T)
    assert after < before
    path = tmp_path / "graph.npz"
    net.save(path)
    back = bp.load(path)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert bp.neuron_layout(back).names == net.node_names       # node names survive the round trip
    assert bp.trace(back, X[0], T[0]).E == pytest.approx(bp.trace(net, X[0], T[0]).E)


def test_float32_graph_passes_a_loose_gradient_check():
    net = special_graph().compile(seed=0, dtype=np.float32)
    X = np.random.default_rng(0).normal(size=(3, 3))
    g = bp.loss_and_grad(net, "cross_entropy", X, [0, 1, 1])[1]
    assert g.dtype == np.float32
    assert bp.check_gradient(net, "cross_entropy", X, [0, 1, 1]).passed


# ---- layout details -----------------------------------------------------------------------------

def test_outputs_keep_their_declared_order_across_levels():
    g = bp.NeuronGraph()
    x = g.input("x")
    deep = g.neuron("deep", "tanh")
    g.connect(x, deep, 1.0)
    late = g.neuron("late", output=True, bias=False)
    early = g.neuron("early", output=True, bias=False)      # an output on an earlier level than "late"
    g.connect(deep, late, 2.0)
    g.connect(x, early, 3.0)
    g.connect(early, late, 1.0)                              # an output that also feeds another node
    net = g.compile()
    assert isinstance(net.ops[-1], Select)
    assert net.output_names == ["late", "early"]
    y = net.predict([[0.5]])
    np.testing.assert_allclose(y, [[2 * np.tanh(0.5) + 1.5, 1.5]])


def test_outputs_that_feed_nothing_share_the_last_level_so_the_loss_fuses():
    g = bp.NeuronGraph()
    x = g.input("x")
    h = g.neuron("h", "tanh")
    g.connect(x, h)
    shallow, deep = g.neuron("shallow", "sigmoid", output=True), g.neuron("deep", "sigmoid", output=True)
    g.connect(x, shallow)
    g.connect(h, deep)
    net = g.compile()
    assert net.output_activation == "sigmoid" and net.output_names == ["shallow", "deep"]
    # saturated outputs: the fused sigmoid + bce head keeps the gradient exact and finite
    net.set_weight("x", "shallow", 40.0)
    value, grad = bp.loss_and_grad(net, "bce", [[1.0]], [[0.0, 1.0]])
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert grad[net.layout.edges[net.layout.find_edge("x", "shallow")].param] == pytest.approx(1.0, rel=1e-12)


def test_levels_with_mixed_activations_group_runs_and_follow_output_order():
    g = bp.NeuronGraph()
    x = g.input("x")
    hs = [g.neuron(f"h{k}", act) for k, act in enumerate(["relu", "tanh", "relu", "tanh"])]
    for h in hs:
        g.connect(x, h)
    outs = [g.neuron(n, act, output=True) for n, act in (("o1", "sigmoid"), ("o2", "identity"), ("o3", "sigmoid"))]
    for o in outs:
        for h in hs:
            g.connect(h, o)
    net = g.compile()
    assert [u.name for u in net.layout.units[1:5]] == ["h0", "h2", "h1", "h3"]     # relu run, tanh run
    assert net.output_names == ["o1", "o2", "o3"] and not isinstance(net.ops[-1], Select)
    assert net.ops[1].describe() == "relu[2]+tanh[2]"
    X = np.random.default_rng(0).normal(size=(3, 1))
    vals = net.node_values(X)
    np.testing.assert_allclose(net.predict(X)[:, 0], vals["o1"][1])
    np.testing.assert_allclose(vals["o1"][1], get_activation("sigmoid").f(vals["o1"][0]))


def test_weights_and_biases_by_name():
    g = bp.NeuronGraph()
    x = g.input("x")
    o = g.neuron("o", output=True, bias=0.25)
    g.connect(x, o, -2.0)
    net = g.compile()
    assert net.weight("x", "o") == -2.0 and net.bias("o") == 0.25
    net.set_weight("x", o, 3.0)
    assert net.predict([[1.0]])[0, 0] == 3.25
    with pytest.raises(bp.ConfigError, match="no weighted edge o -> x"):
        net.weight("o", "x")
    with pytest.raises(bp.ConfigError, match="no node named 'y'"):
        net.bias("y")
    assert "w[x->o]" in net.locate(0)


# ---- validation: errors name the nodes --------------------------------------------------------------

def two_layer():
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    h = g.neuron("h", "tanh")
    o = g.neuron("o", output=True)
    g.connect(x1, h)
    g.connect(x2, h)
    g.connect(h, o)
    return g


def test_cycle_is_rejected_naming_its_nodes():
    g = two_layer()
    h2 = g.neuron("h2", "tanh")
    g.connect("h", h2)
    g.connect(h2, "h")
    g.connect(h2, "o")
    with pytest.raises(bp.ConfigError, match=r"cycle: h -> h2 -> h|cycle: h2 -> h -> h2"):
        g.compile()


@pytest.mark.parametrize("build, match", [
    (lambda g: g.connect("h", "x1"), "'x1' is an input node"),
    (lambda g: g.connect("x1", "h"), "duplicate edge x1 -> h"),
    (lambda g: g.connect("h", "h"), "h -> h is a cycle"),
    (lambda g: g.connect("x1", "nope"), "unknown node 'nope'"),
    (lambda g: g.neuron("h"), "'h' already exists"),
    (lambda g: g.neuron("s", "softmax"), "softmax_group"),
    (lambda g: g.product(["h", "h"]), "lists a node twice"),
    (lambda g: g.product(["h", "x1"], exponents=[1]), "one finite non-zero exponent per factor"),
    (lambda g: g.connect("x1", g.max(["h", "x2"], name="m")), "'m' is a max unit"),
    (lambda g: g.softmax_group(["h", "o"]), "'h' has activation 'tanh'"),
    (lambda g: g.softmax_group(["x1"]), "'x1' is 'input'"),
    (lambda g: g.neuron("b", bias=float("nan")), "bias must be"),
])
def test_bad_construction_steps_name_the_nodes(build, match):
    g = two_layer()
    with pytest.raises(bp.ConfigError, match=match):
        build(g)


@pytest.mark.parametrize("build, match", [
    (lambda g: g.connect("x1", g.neuron("lonely", "tanh")), "dangling node.*lonely"),
    (lambda g: g.neuron("lonely", "tanh"), "without incoming edges: lonely"),
    (lambda g: g.neuron("o2", output=True), "output.*nobody feeds: o2"),
    (lambda g: g.input("x3"), r"input node\(s\) x3 feed no node"),
    (lambda g: g._outputs.clear(), "no output node"),
])
def test_invalid_graphs_are_rejected_at_compile_time_naming_the_nodes(build, match):
    g = two_layer()
    build(g)
    with pytest.raises(bp.ConfigError, match=match):
        g.compile()


def test_group_members_that_feed_each_other_are_rejected():
    g = two_layer()
    o2 = g.neuron("o2", output=True)
    g.connect("o", o2)
    g.softmax_group(["o", o2])
    with pytest.raises(bp.ConfigError, match="member 'o2' depends on member 'o'"):
        g.compile()


def test_a_failed_compile_leaves_the_graph_usable():
    g = two_layer()
    h2 = g.neuron("h2")
    with pytest.raises(bp.ConfigError, match="h2"):
        g.compile()
    g.connect("x1", h2)
    g.connect(h2, "o")
    assert g.compile().n_params == 5 + 3              # 5 edges, biases of h, h2 and o
