"""Data sets and data preparation: ``from backprop.datasets import digits`` (also ``bp.datasets.digits``).

The public names of :mod:`backprop.data`, under the name users import them by.
"""
from .data import *  # noqa: F401,F403  (the names listed in backprop.data.__all__)
from .data import __all__  # noqa: F401
