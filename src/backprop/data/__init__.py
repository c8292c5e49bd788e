"""Data sets and data preparation (available to users as ``bp.datasets``).

Toy problems (:func:`xor`, :func:`digits`, :func:`moons`, :func:`spirals`), file
readers (:func:`load_csv`, :func:`load_idx`, :func:`load_mnist`, and :func:`save_idx`)
and preprocessing (:func:`encode_labels`, :func:`one_hot`, :class:`Standardizer`, :func:`train_test_split`).
"""

from .files import load_csv, load_idx, load_mnist, save_idx
from .preprocessing import Standardizer, one_hot, train_test_split
from .tables import encode_labels, load_table
from .toy import digits, moons, spirals, xor

__all__ = [
    "xor",
    "digits",
    "moons",
    "spirals",
    "load_csv",
    "load_table",
    "encode_labels",
    "load_idx",
    "save_idx",
    "load_mnist",
    "one_hot",
    "Standardizer",
    "train_test_split",
]
