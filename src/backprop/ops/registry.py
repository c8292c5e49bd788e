"""Op types by name, so that a network can be rebuilt from its JSON description."""
from __future__ import annotations

from ..errors import FileFormatError

OP_TYPES: dict = {}


def register(name):
    """Class decorator: make ``cls`` rebuildable from ``{"op": name, ...}`` via ``cls.from_config``."""
    def deco(cls):
        OP_TYPES[name] = cls
        cls.op_name = name
        return cls
    return deco


def op_from_config(cfg: dict):
    """Rebuild an op from the dict its ``config()`` returned."""
    name = cfg.get("op") if isinstance(cfg, dict) else None
    if name not in OP_TYPES:
        raise FileFormatError(f"unknown operation {name!r} in model description; known: {', '.join(sorted(OP_TYPES))}")
    return OP_TYPES[name].from_config(cfg)
