"""Pictures that read: labels beside edges without collisions, step numbers shared with the table, an E node,
groups, product and max units drawn as such, colour and width when there are many edges, a size guard."""
import itertools

import numpy as np
import pytest

import backprop as bp

from test_trace import special_graph, tiny_graph


def _extents(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t.get_bbox_patch().get_window_extent(r) for t in ax.texts if t.get_zorder() == 4]
    nodes = [t.get_bbox_patch().get_window_extent(r) for t in ax.texts if t.get_zorder() == 2]
    return labels, nodes


@pytest.mark.parametrize("make", [lambda: bp.trace(tiny_graph(), [1.0, 2.0], 1.0),
                                  lambda: bp.trace(special_graph(), [0.6, -1.3], 1),
                                  lambda: bp.trace(bp.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=0),
                                                   [0.5, -1.0], 1)])
def test_edge_labels_overlap_neither_each_other_nor_the_nodes(make):
    tr = make()
    labels, nodes = _extents(bp.draw_trace(tr))
    assert len(labels) == len(tr.edges) and len(nodes) == len(tr.nodes) + 1          # + the E node
    for a, b in itertools.combinations(labels, 2):
        assert not a.overlaps(b), "two edge labels collide"
    for a in labels:
        for n in nodes:
            assert not a.overlaps(n), "an edge label covers a node"


def test_step_numbers_e_node_groups_and_special_units_in_the_svg(tmp_path):
    tr = bp.trace(tiny_graph(), [1.0, 2.0], 1.0)
    num = {s.key: k + 1 for k, s in enumerate(tr.steps)}
    bp.draw_trace(tr, tmp_path / "t.svg")
    text = (tmp_path / "t.svg").read_text()
    assert f"[{num['dE/dw(x2,h1)']}] dE/dw = 7.5" in text and f"[{num['x(h2)']}] x = -0.5" in text
    assert f"[{num['E']}] E = 1.125" in text                    # the terminal node, with the table's step number
    tr = bp.trace(special_graph(), [0.6, -1.3], 1)
    bp.draw_trace(tr, tmp_path / "s.svg")
    text = (tmp_path / "s.svg").read_text()
    assert "[product: y(a)^2 * y(b)]" in text and "[max of a, b, x1]" in text and ">softmax<" in text.replace(
        " ", "") or "softmax" in text


def test_many_edges_are_coloured_by_the_sign_and_sized_by_the_gradient():
    from matplotlib.text import Annotation

    tr = bp.trace(bp.MLP([4, 6, 3], hidden="tanh", output="softmax", seed=0), np.full(4, 0.1), 1)
    fig = bp.draw_trace(tr)
    assert not [t for t in fig.axes[0].texts if t.get_zorder() == 4]          # 42 edges: no labels
    arrows = [a for a in fig.axes[0].texts if isinstance(a, Annotation)]
    colours = [a.arrow_patch.get_edgecolor()[:3] for a in arrows]
    red = sum(np.allclose(c, (0xc0 / 255, 0x39 / 255, 0x2b / 255)) for c in colours)
    blue = sum(np.allclose(c, (0x25 / 255, 0x63 / 255, 0xeb / 255)) for c in colours)
    g = np.array([e["dE/dw"] for e in tr.edges.values()])
    assert (red, blue) == (np.sum(g > 0), np.sum(g < 0))
    widths = sorted(a.arrow_patch.get_linewidth() for a in arrows
                    if not np.allclose(a.arrow_patch.get_edgecolor()[:3], (0x77 / 255,) * 3))
    assert widths[-1] == pytest.approx(3.4) and widths[0] < 1.0               # width grows with |dE/dw|


def test_size_guard_summarises_per_level(tmp_path):
    tr = bp.trace(bp.MLP([64, 32, 10], hidden="tanh", output="softmax", seed=0), np.full(64, 0.1), 3)
    bp.draw_trace(tr, tmp_path / "big.png")
    from matplotlib.image import imread
    img = imread(tmp_path / "big.png")
    assert img.shape[0] < 1500 and img.shape[1] < 3000                         # not a 14,000-pixel picture
    fig = bp.draw_trace(tr)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "level 1: 32 units" in texts and "2048 edges in" in texts and "E = " in texts
    assert f"||dE/dW|| = {tr._f(np.linalg.norm(tr.grad[:2048]))}" in texts


def test_picture_and_command_line_in_a_notes_notation(tmp_path, capsys):
    tr = bp.trace(bp.MLP([2, 2, 1], hidden="tanh", output="identity", seed=0), [0.5, -1.0], 0.3, notation="002")
    bp.draw_trace(tr, tmp_path / "n.svg")
    text = (tmp_path / "n.svg").read_text()
    assert "a_1^(1) = " in text and "delta_1^(1) = " in text and "dE_n/dw_{1,2}^(1) = " in text
    from backprop.faces import cli
    model = tmp_path / "m.npz"
    tr.net.save(model)
    assert cli.main(["trace", "--model", str(model), "--input", "0.5", "-1", "--target", "0.3",
                     "--notation", "cmu"]) == 0
    out = capsys.readouterr().out
    assert "dLdW0[0,1]" in out and "dLdZ1[0]" in out


def _skip_graph():
    """Two levels of hidden units and edges from the inputs straight to the output (drawn as arcs)."""
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    h1 = g.neuron("h1", "tanh", bias=False)
    h2 = g.neuron("h2", "tanh", bias=False)
    o = g.neuron("o", output=True, bias=False)
    for src, dst, w in [(x1, h1, 0.5), (x2, h1, -0.3), (h1, h2, 1.2), (h2, o, 0.7), (x1, o, -0.4), (x2, o, 0.9)]:
        g.connect(src, dst, w)
    return g


def _box_distance(box, pts):
    """Pixels from a box to the nearest of the points (0 inside)."""
    dx = np.maximum(np.maximum(box.x0 - pts[:, 0], pts[:, 0] - box.x1), 0)
    dy = np.maximum(np.maximum(box.y0 - pts[:, 1], pts[:, 1] - box.y1), 0)
    return float(np.min(np.hypot(dx, dy)))


def test_labels_of_edges_that_skip_levels_sit_on_the_drawn_arc():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    tr = bp.trace(_skip_graph(), [0.8, -0.6], 0.2)
    fig = bp.draw_trace(tr, edge_labels=True)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    ax = fig.axes[0]
    px = ax.transData.transform
    labels = {t.get_text().split("\n")[0]: t.get_bbox_patch().get_window_extent(r)
              for t in ax.texts if t.get_zorder() == 4}
    nodes = {t.get_text().split("\n")[0]: tuple(px(t.get_position())) for t in ax.texts if t.get_zorder() == 2}
    weight = {"x1": "w = -0.4", "x2": "w = 0.9"}                 # the two edges into o that skip a level
    arcs = [a for a in ax.texts if getattr(a, "arrow_patch", None) is not None
            and "rad=0.0" not in str(a.arrowprops.get("connectionstyle"))]
    assert len(arcs) == 2
    f = np.linspace(0, 1, 401)[:, None]
    off_chord = []
    for a in arcs:
        rad = float(a.arrowprops["connectionstyle"].split("rad=")[1])
        P0, P2 = px(a.xyann), px(a.xy)
        src = next(n for n, at in nodes.items() if np.allclose(at, P0))
        d = P2 - P0
        C = (P0 + P2) / 2 + rad * np.array([d[1], -d[0]])       # matplotlib's arc3 control point, in pixels
        arc = (1 - f) ** 2 * P0 + 2 * (1 - f) * f * C + f ** 2 * P2
        chord = (1 - f) * P0 + f * P2
        box = labels[weight[src]]
        assert _box_distance(box, arc) <= 6.0, f"the label of {src} -> o is not beside its arc"
        off_chord.append(_box_distance(box, chord))
    assert max(off_chord) > 6.0                                # the arcs bulge: beside the chord is elsewhere
