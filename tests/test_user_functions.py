"""User-defined functions (scalar and vector activations): one explicit mechanism, no process-wide state.

A model naming a user function loads only when that function is passed to ``load``, in both file
formats; defining a function changes nothing in any module, so a second definition, a fresh
interpreter or another process sees no leftovers.
"""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import backprop as bp
from backprop.engine.serialize import user_functions
from backprop.errors import ConfigError

SUFFIXES = [".npz", ".safetensors"]


def _cube(z):
    return z ** 3


def _cube_df(z):
    return 3 * z ** 2


def _cube_d2f(z):
    return 6 * z


def _square(z):
    return 0.5 * z * z


def _square_jac(z, y):
    return z[:, :, None] * np.eye(z.shape[1])


CUBE = bp.activation("uf_cube", _cube, _cube_df, _cube_d2f)
SQUARE = bp.vector_activation("uf_square", _square, _square_jac)


def scalar_model():
    return bp.MLP([3, 4, 2], hidden=CUBE, output="identity", seed=0)


def vector_model():
    g = bp.NeuronGraph()
    x1, x2 = g.inputs("x1", "x2")
    h1, h2 = g.neuron("h1"), g.neuron("h2")
    for h in (h1, h2):
        for x in (x1, x2):
            g.connect(x, h)
    g.vector_group([h1, h2], SQUARE)
    o = g.neuron("o", "sigmoid", output=True)
    g.connect(h1, o)
    g.connect(h2, o)
    return g.compile(seed=0)


MODELS = [("scalar", scalar_model, CUBE, "activation"), ("vector", vector_model, SQUARE, "vector activation")]


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("kind,make,fn,what", MODELS, ids=[m[0] for m in MODELS])
def test_a_user_function_round_trips_only_when_passed(tmp_path, suffix, kind, make, fn, what):
    pytest.importorskip("safetensors") if suffix == ".safetensors" else None
    net = make()
    path = tmp_path / f"m{suffix}"
    net.save(path)
    assert user_functions(net) == {fn.name: fn}
    with pytest.raises(ConfigError, match=rf"user-defined {what} '{fn.name}'.*activations=\["):
        bp.load(path)
    X = np.random.default_rng(1).normal(size=(5, net.n_inputs))
    for given in ([fn], {fn.name: fn}):
        back = bp.load(path, activations=given)
        assert type(back) is type(net) and back.config() == net.config()
        assert back.params.tobytes() == net.params.tobytes()
        np.testing.assert_array_equal(back.predict(X), net.predict(X))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_function_of_the_other_kind_under_the_name_is_refused(tmp_path, suffix):
    pytest.importorskip("safetensors") if suffix == ".safetensors" else None
    scalar_model().save(tmp_path / f"s{suffix}")
    vector_model().save(tmp_path / f"v{suffix}")
    impostor_vector = bp.vector_activation("uf_cube", _square, _square_jac)
    impostor_scalar = bp.activation("uf_square", _cube, _cube_df)
    with pytest.raises(ConfigError, match="'uf_cube' .*a vector activation, not a scalar one"):
        bp.load(tmp_path / f"s{suffix}", activations=[impostor_vector])
    with pytest.raises(ConfigError, match="'uf_square' .*a scalar activation, not a vector one"):
        bp.load(tmp_path / f"v{suffix}", activations=[impostor_scalar])


def _module_state():
    """Sizes of every module-level container in backprop's modules (what a hidden registry would grow)."""
    out = {}
    for name, mod in list(sys.modules.items()):
        if isinstance(mod, types.ModuleType) and (name == "backprop" or name.startswith("backprop.")):
            for key, v in vars(mod).items():
                if isinstance(v, (dict, list, set)):
                    out[f"{name}.{key}"] = len(v)
    return out


def test_defining_user_functions_writes_no_module_state():
    before = _module_state()
    bp.vector_activation("uf_fresh_vector", _square, _square_jac)
    bp.activation("uf_fresh_scalar", _cube, _cube_df)
    assert _module_state() == before


_CHILD = r"""
import sys, numpy as np, backprop as bp
from backprop.errors import ConfigError
path = sys.argv[1]
try:                                   # nothing defined: the name and how to pass it
    bp.load(path)
except ConfigError as e:
    assert "'uf_square'" in str(e) and "activations=[bp.vector_activation('uf_square'" in str(e), e
else:
    raise SystemExit("loaded without the function")
sq = bp.vector_activation("uf_square", lambda z: 0.5 * z * z, lambda z, y: z[:, :, None] * np.eye(z.shape[1]))
try:                                   # defined in this process but not passed: still refused
    bp.load(path)
except ConfigError:
    pass
else:
    raise SystemExit("a defined but unpassed function was found")
net = bp.load(path, activations=[sq])
print(net.params.tobytes().hex())
"""


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_fresh_interpreter_needs_the_function_passed(tmp_path, suffix):
    pytest.importorskip("safetensors") if suffix == ".safetensors" else None
    net = vector_model()
    path = tmp_path / f"v{suffix}"
    net.save(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == net.params.tobytes().hex()
