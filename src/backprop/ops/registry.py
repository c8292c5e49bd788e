"""Op types by name, so that a network can be rebuilt from its JSON description.

Every op registers itself where it is defined (``@register("dense")``). Looking a name up imports
the modules of the ``backprop.ops`` package first, so ``load()`` finds every op whether or not
anything imported its module before.
"""
from __future__ import annotations

import importlib
import pkgutil

from ..errors import FileFormatError
from ..registry import Registry

OPS = Registry("operation")
_loaded = False


def register(name):
    """Class decorator: make ``cls`` rebuildable from ``{"op": name, ...}`` via ``cls.from_config``."""
    def deco(cls):
        OPS.register(name, cls)
        cls.op_name = name
        return cls
    return deco


def load_ops() -> Registry:
    """Import every module of the ops package (each registers its ops) and return the registry."""
    global _loaded
    if not _loaded:
        package = importlib.import_module(__package__)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
        _loaded = True
    return OPS


def op_type(name):
    """The op class registered as ``name``; FileFormatError naming the known ones otherwise."""
    return load_ops().get(name, error=lambda msg: FileFormatError(f"{msg} (in a model description)"))


def op_from_config(cfg: dict):
    """Rebuild an op from the dict its ``config()`` returned."""
    return op_type(cfg.get("op") if isinstance(cfg, dict) else None).from_config(cfg)
