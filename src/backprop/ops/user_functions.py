"""User-defined functions in model descriptions: one mechanism for scalar and vector activations alike.

A user function (``bp.activation(name, f, df, d2f)``, ``bp.vector_activation(name, f, ...)``) is
code, so a model description names it and cannot store it. Whoever rebuilds the ops from a
description passes the functions explicitly (``bp.load(path, activations=[fn, ...])``); nothing is
looked up in process-wide state, so a model loads the same way in every process, and a name no
given function carries is refused with the way to pass it.

* ``function_table(activations)``  the functions given to ``load`` (a list, or a dict by name) -> {name: fn}
* ``resolve(cfg, functions, path)`` an op description with every named function replaced by the object
* ``used_by(ops)``                  {name: fn} of the user functions a list of ops holds
"""
from __future__ import annotations

from ..errors import ConfigError, FileFormatError
from .activations import ALIASES, SCALAR_NAMES, ScalarActivation, UserFunctions, get_activation
from .vector import VectorFunction


def function_table(activations) -> dict:
    """The user-defined functions given to ``load`` as {name: function}: a dict of them by name, or a list."""
    if activations is None:
        return {}
    if isinstance(activations, (list, tuple)) and all(isinstance(v, UserFunctions) for v in activations):
        return {v.name: v for v in activations}
    if isinstance(activations, dict) and all(isinstance(k, str) and isinstance(v, UserFunctions)
                                             for k, v in activations.items()):
        return dict(activations)
    raise ConfigError("activations must be a list of the model's user-defined functions (or a dict of them by "
                      "name), each made by bp.activation(name, f, df, d2f) or bp.vector_activation(name, f, ...)")


def _how_to_pass(name, path, maker):
    return (f"which a file cannot store (it is code); pass it when loading: load({str(path)!r}, "
            f"activations=[{maker}]) (or activations={{{name!r}: ...}})")


def _resolve_activation(spec, functions, path):
    """An activation description from a file -> ScalarActivation (user-defined ones from ``functions``)."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise FileFormatError(f"{path}: malformed activation description {spec!r:.80}")
    name = spec["name"]
    if ALIASES.get(name, name) in SCALAR_NAMES:
        try:
            return get_activation(spec)
        except ConfigError as e:
            raise FileFormatError(f"{path}: bad options for activation {name!r}: {e}") from None
        except TypeError:
            options = ", ".join(repr(k) for k in spec if k != "name")
            raise FileFormatError(f"{path}: activation {name!r} does not take the option(s) {options:.80}; "
                                  "expected the options it was saved with") from None
    fn = functions.get(name)
    if isinstance(fn, ScalarActivation):
        return fn
    what = "" if fn is None else " (the function passed under that name is a vector activation, not a scalar one)"
    raise ConfigError(f"the model in {path} uses the user-defined activation {name!r}{what}, "
                      + _how_to_pass(name, path, f"bp.activation({name!r}, f, df, d2f)"))


def _resolve_vector(name, functions, path):
    """The user vector function a ``vector_activation`` op of a file names, from ``functions``."""
    fn = functions.get(name)
    if isinstance(fn, VectorFunction):
        return fn
    what = "" if fn is None else " (the function passed under that name is a scalar activation, not a vector one)"
    raise ConfigError(f"the model in {path} uses the user-defined vector activation {name!r}{what}, "
                      + _how_to_pass(name, path, f"bp.vector_activation({name!r}, f, jacobian)"))


def resolve(cfg, functions, path="<model>"):
    """A copy of an op description (at the depths the schema allows) with every user function named in
    it resolved: each ``"activation"`` entry becomes a ScalarActivation (built-in ones by name, user-defined
    ones from ``functions``), the ``"fn"`` of each vector activation the VectorFunction passed for it."""
    if isinstance(cfg, list):
        return [resolve(v, functions, path) for v in cfg]
    if not isinstance(cfg, dict):
        return cfg
    vector = cfg.get("op") == "vector_activation"
    return {k: (_resolve_activation(v, functions, path) if k == "activation"
                else _resolve_vector(v, functions, path) if vector and k == "fn"
                else resolve(v, functions, path)) for k, v in cfg.items()}


def used_by(ops) -> dict:
    """{name: function} of the user-defined functions the ops hold (``Op.user_functions``)."""
    return {fn.name: fn for op in ops for fn in op.user_functions()}
