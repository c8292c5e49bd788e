"""Op types by name, so that a network can be rebuilt from its JSON description.

Every op registers itself where it is defined (``@register("dense")``). Looking a name up imports
the modules of the ``backprop.ops`` package first, so ``load()`` finds every op whether or not
anything imported its module before.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..errors import FileFormatError
from ..registry import Registry

if TYPE_CHECKING:
    from .base import Op

#: an op class being registered
C = TypeVar("C", bound="type[Op]")

OPS = Registry("operation")
_loaded = False


def register(name: str) -> Callable[[C], C]:
    """Class decorator: make ``cls`` rebuildable from ``{"op": name, ...}`` via ``cls.from_config``.

    Parameters
    ----------
    name : str
        The name in model descriptions (``"op"``), also set as the class's ``op_name``.

    Returns
    -------
    callable
        The decorator; it registers the class and returns it unchanged otherwise.

    Examples
    --------
    >>> from backprop.ops.dense import Dense
    >>> op_type("dense") is Dense, Dense.op_name
    (True, 'dense')
    """
    def deco(cls: C) -> C:
        OPS.register(name, cls)
        cls.op_name = name
        return cls
    return deco


def load_ops() -> Registry:
    """Import every module of the ops package (each registers its ops) and return the registry.

    Returns
    -------
    Registry
        Every op class by its registered name.

    Examples
    --------
    >>> "dense" in load_ops().names()
    True
    """
    global _loaded
    if not _loaded:
        package = importlib.import_module(__package__)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
        _loaded = True
    return OPS


def op_type(name: object) -> type[Op]:
    """The op class registered as ``name``; FileFormatError naming the known ones otherwise.

    Parameters
    ----------
    name : str
        A registered op name (anything else is refused).

    Returns
    -------
    type
        The op class.

    Examples
    --------
    >>> op_type("dense").__name__
    'Dense'
    """
    cls: type[Op] = load_ops().get(name, error=lambda msg: FileFormatError(f"{msg} (in a model description)"))
    return cls


def op_from_config(cfg: dict[str, Any]) -> Op:
    """Rebuild an op from the dict its ``config()`` returned.

    Parameters
    ----------
    cfg : dict
        ``{"op": name, field: value, ...}`` as ``Op.config()`` writes it.

    Returns
    -------
    Op
        A new op of that type and configuration (fresh parameters are not part of it).

    Examples
    --------
    >>> op_from_config({"op": "dense", "n_in": 3, "n_out": 2}).param_shapes
    ((2, 3), (2,))
    """
    return op_type(cfg.get("op") if isinstance(cfg, dict) else None).from_config(cfg)
