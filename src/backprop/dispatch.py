"""Hand a public function over to another array backend when its data are not in memory.

The derivatives, second-order methods and training loop work on NumPy arrays. When they are given a
Dask collection instead, the same computation runs as a sum over the collection's row blocks
(``backprop.cluster``). This module is the meeting point, at the bottom of the package: a public
function asks ``on_dask(name, X, T)``; for in-memory data that is ``None`` (and costs one dictionary
look-up, Dask is never imported by it); for a Dask collection it is the function registered under
``name``, loading ``backprop.cluster`` (which registers its functions) on first use. The lower layers
thus never import the layer that builds on them.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


#: the module that registers the Dask versions of the public functions when it is imported
DASK_PROVIDER = "backprop.cluster"

_dask_functions: dict[str, Callable[..., Any]] = {}


def is_dask(x: object) -> bool:
    """True if ``x`` is a Dask collection (array, DataFrame, Series). Never imports Dask: an object
    cannot be a Dask collection unless Dask has already been imported.

    Parameters
    ----------
    x : object
        Anything.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> is_dask(np.zeros(2))
    False
    """
    if "dask" not in sys.modules or x is None:
        return False
    from ._optional import require
    return bool(require("dask.base", extra="dask", feature="Dask data").is_dask_collection(x))


def register_dask(name: str, function: Callable[..., Any]) -> None:
    """Make ``function`` the Dask version of the public function ``name``.

    Parameters
    ----------
    name : str
        The public function's name, e.g. "loss_and_grad".
    function : callable
        Its Dask version, with the same arguments.

    Examples
    --------
    >>> register_dask("example", lambda *args: "on Dask")
    >>> _ = _dask_functions.pop("example")
    """
    _dask_functions[name] = function


def on_dask(name: str, *arrays: object) -> Callable[..., Any] | None:
    """The Dask version of ``name`` if any of ``arrays`` is a Dask collection, else None.

    Parameters
    ----------
    name : str
        The public function's name.
    *arrays : object
        Its data arguments.

    Returns
    -------
    callable or None

    Examples
    --------
    >>> import numpy as np
    >>> on_dask("loss_and_grad", np.zeros(2)) is None
    True
    """
    if not any(is_dask(a) for a in arrays):
        return None
    if name not in _dask_functions:
        importlib.import_module(DASK_PROVIDER)
    return _dask_functions[name]
