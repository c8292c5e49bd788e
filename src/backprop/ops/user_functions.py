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

import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, TypeVar, Union

from ..errors import ConfigError, FileFormatError
from .activations import ALIASES, SCALAR_NAMES, ScalarActivation, UserFunctions, get_activation
from .vector import VectorFunction

if TYPE_CHECKING:
    from .base import Op

#: the user functions given to ``load``: a list of them, or a dict of them by name
Functions = Union[Sequence[UserFunctions], Mapping[str, UserFunctions], None]
#: a kind of user function (ScalarActivation, VectorFunction)
F = TypeVar("F", bound=UserFunctions)


def function_table(activations: Functions) -> dict[str, UserFunctions]:
    """The user-defined functions given to ``load`` as {name: function}: a dict of them by name, or a list.

    Parameters
    ----------
    activations : list or dict of user functions, or None
        Each made by ``bp.activation`` or ``bp.vector_activation``; a dict holds them by name.

    Returns
    -------
    dict
        {name: function}; ConfigError if ``activations`` is anything else.

    Examples
    --------
    >>> import numpy as np, backprop as bp
    >>> cube = bp.activation("cube", lambda z: z**3, lambda z: 3 * z**2, lambda z: 6 * z)
    >>> list(function_table([cube]))
    ['cube']
    """
    if activations is None:
        return {}
    if isinstance(activations, (list, tuple)) and all(isinstance(v, UserFunctions) for v in activations):
        return {getattr(v, "name"): v for v in activations}
    if isinstance(activations, dict) and all(isinstance(k, str) and isinstance(v, UserFunctions)
                                             for k, v in activations.items()):
        return dict(activations)
    raise ConfigError("activations must be a list of the model's user-defined functions (or a dict of them by "
                      "name), each made by bp.activation(name, f, df, d2f) or bp.vector_activation(name, f, ...)")


#: each kind of user function: what the message calls it, and how it is made
_KINDS = {ScalarActivation: ("scalar", "activation", "bp.activation({!r}, f, df, d2f)"),
          VectorFunction: ("vector", "vector activation", "bp.vector_activation({!r}, f, jacobian)")}


def _passed(name: object, functions: Mapping[str, UserFunctions], cls: type[F], path: str | os.PathLike[str]) -> F:
    """The function of type ``cls`` passed as ``name``; ConfigError naming it and how to pass it otherwise."""
    fn = functions.get(name) if isinstance(name, str) else None
    if isinstance(fn, cls):
        return fn
    short, kind, maker = _KINDS[cls]
    other = next((k for c, k in _KINDS.items() if isinstance(fn, c)), None)
    what = "" if other is None else f" (the function passed under that name is a {other[0]} activation, not a " \
        f"{short} one)"
    raise ConfigError(f"the model in {path} uses the user-defined {kind} {name!r}{what}, which a file cannot store "
                      f"(it is code); pass it when loading: load({str(path)!r}, activations=[{maker.format(name)}]) "
                      f"(or activations={{{name!r}: ...}})")


def _resolve_activation(spec: object, functions: Mapping[str, UserFunctions], path: str | os.PathLike[str]
                        ) -> ScalarActivation:
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
    return _passed(name, functions, ScalarActivation, path)


def resolve(cfg: Any, functions: Mapping[str, UserFunctions], path: str | os.PathLike[str] = "<model>") -> Any:
    """A copy of an op description (at the depths the schema allows) with every user function named in
    it resolved: each ``"activation"`` entry becomes a ScalarActivation (built-in ones by name, user-defined
    ones from ``functions``), the ``"fn"`` of each vector activation the VectorFunction passed for it.

    Parameters
    ----------
    cfg : dict, list or value
        An op description (or a part of one) as read from a file.
    functions : dict
        {name: function} from :func:`function_table`.
    path : str or Path, optional
        The file, for messages.

    Returns
    -------
    dict, list or value
        The resolved copy; ConfigError names a user function that was not passed, FileFormatError a
        malformed activation.

    Examples
    --------
    >>> resolve({"op": "dense_act", "activation": "tanh"}, {})["activation"].name
    'tanh'
    """
    if isinstance(cfg, list):
        return [resolve(v, functions, path) for v in cfg]
    if not isinstance(cfg, dict):
        return cfg
    vector = cfg.get("op") == "vector_activation"
    return {k: (_resolve_activation(v, functions, path) if k == "activation"
                else _passed(v, functions, VectorFunction, path) if vector and k == "fn"
                else resolve(v, functions, path)) for k, v in cfg.items()}


def used_by(ops: Iterable[Op]) -> dict[str, UserFunctions]:
    """{name: function} of the user-defined functions the ops hold (``Op.user_functions``).

    Parameters
    ----------
    ops : iterable of Op
        The ops of a network.

    Returns
    -------
    dict
        {name: function}, empty when every function is built in.

    Examples
    --------
    >>> import backprop as bp
    >>> cube = bp.activation("cube", lambda z: z**3, lambda z: 3 * z**2, lambda z: 6 * z)
    >>> list(used_by(bp.MLP([2, 3, 2], hidden=cube).ops))
    ['cube']
    """
    return {fn.name: fn for op in ops for fn in op.user_functions()}
