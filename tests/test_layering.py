"""The import graph of src/backprop, read with ast: acyclic (module-level and function-local imports
alike), and no module imports upward.

LAYERS is the one statement of the layering: a module may import modules of its own layer or of
a lower one, at module level or inside a function. The package's ``__init__`` (``backprop``), which
imports every face, is left out of the cycle check: any module importing it at run time imports
the finished package.
"""
import ast
import functools
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "src" / "backprop"

LAYERS = [
    # 0: the bottom: errors, registries, validation, file safety, the ops, losses, data
    ("errors", "registry", "validation", "untrusted", "dispatch", "_optional", "_allocator", "ops", "losses",
     "data", "datasets"),
    # 1: the engine: networks, sweeps, the objective, files
    ("engine",),
    # 2: derivatives and training
    ("derivatives", "training"),
    # 3: second-order methods on top of them
    ("second_order",),
    # 4: the Dask backend
    ("cluster",),
    # 5: the faces: estimators, exports, CLI, plots, teaching; the package itself
    ("faces", "sklearn", "demo", "__main__", "__init__"),
]
LAYER = {name: k for k, names in enumerate(LAYERS) for name in names}


def module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: set = set()       # filled below, once module_name is defined


def _typing_only(tree):
    """ids of the nodes under ``if TYPE_CHECKING:``: imports for annotations, never run."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            found |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return found


def imports(path, typing=True):
    """(target module, at module level?) for every relative or backprop import in the file
    (``typing=False``: leaving out the imports under ``if TYPE_CHECKING:``, which only annotations read)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    skip = set() if typing else _typing_only(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("backprop"):
                target = node.module
            else:
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            out += [(t, id(node) in top) for t in (subs or [target])]
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names if a.name.startswith("backprop")]
    return out


MODULES |= {module_name(p) for p in ROOT.rglob("*.py")}


def layer_of(module):
    parts = module.split(".")
    return LAYER["__init__"] if len(parts) == 1 else LAYER[parts[1]]


@functools.lru_cache(maxsize=2)
def _read_graph(typing=True):
    return {module_name(p): tuple(imports(p, typing)) for p in ROOT.rglob("*.py")}


def graph(typing=True):
    return {m: list(deps) for m, deps in _read_graph(typing).items()}


def test_every_top_level_name_has_a_layer():
    names = {p.stem if p.suffix else p.name for p in ROOT.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert names <= set(LAYER), names - set(LAYER)


def test_no_module_imports_from_a_higher_layer():
    upward = [f"{m} -> {t}" for m, deps in graph().items() for t, _ in deps
              if m != "backprop" and layer_of(t) > layer_of(m)]
    assert not upward, upward


def _cycle(g):
    """One import cycle of the graph ``g`` (module -> targets) as a list of modules, or None."""
    state = {}
    found = []

    def visit(m, path):
        state[m] = "open"
        for t in sorted(g.get(m, ())):
            if found:
                return
            if state.get(t) == "open":
                found.extend(path[path.index(t):] + [t])
                return
            if t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in sorted(g):
        if m not in state and not found:
            visit(m, [m])
    return found or None


def test_module_level_imports_are_acyclic():
    g = {m: {t for t, top in deps if top and t != m} for m, deps in graph().items()}
    cycle = _cycle(g)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_are_acyclic_counting_function_local_ones():
    """A function-local import hides a cycle from Python, not from the design: none is allowed (imports for
    annotations only, under ``if TYPE_CHECKING:``, are no dependency at run time; upward ones are still refused)."""
    g = {m: {t for t, _ in deps if t != m and t != "backprop"} for m, deps in graph(typing=False).items()
         if m != "backprop"}
    cycle = _cycle(g)
    assert cycle is None, "import cycle (counting imports inside functions): " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles_and_only_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_is_read():
    g = graph()
    assert ("backprop.ops.base", True) in g["backprop.engine.passes"]
    assert ("backprop.dispatch", True) in g["backprop.derivatives.hvp"]
    assert ("backprop.engine.state_dict", False) in g["backprop.engine.network"]     # inside a function
    assert sum(map(len, g.values())) > 200
    # an import for annotations only (under ``if TYPE_CHECKING:``) is read, and left out of the run-time graph
    assert ("backprop.faces.cli.model", False) in g["backprop.faces.cli.data"]
    assert ("backprop.faces.cli.model", False) not in graph(typing=False)["backprop.faces.cli.data"]


def test_the_neuron_modules_keep_their_public_names():
    import backprop as bp
    from backprop.engine import neuron_layout, neurons
    assert neurons.NeuronGraph is bp.NeuronGraph and neurons.NeuronNetwork is bp.NeuronNetwork
    assert neuron_layout.neuron_layout is bp.neuron_layout and neuron_layout.NeuronPass is bp.NeuronPass
    assert neurons.check_unit_names.__module__ == "backprop.engine.neurons.network"
