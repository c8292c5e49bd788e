"""Model file formats by suffix: ``save`` and ``load`` pick the format from the file's name.

Each format registers its writer and reader where it is implemented (``serialize``: the ``.npz``
model file, the default; ``safetensors_file``: ``.safetensors``), so ``Network.save`` and the two
format modules reach each other through this table instead of importing one another.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from ..errors import ConfigError
from ..registry import Registry

if TYPE_CHECKING:
    from ..ops.user_functions import Functions
    from .network import Network


class Format(NamedTuple):
    """One file format: ``save(net, path, *, metadata, arrays)`` and ``load_bundle(path, activations)``."""

    save: Callable[..., None]
    load_bundle: Callable[..., tuple[Any, dict[str, Any], dict[str, Any]]]


#: suffix -> Format; a path with no registered suffix uses DEFAULT
FORMATS = Registry("model file format")
DEFAULT = ".npz"


def register_format(suffix: str, save: Callable[..., None],
                    load_bundle: Callable[..., tuple[Any, dict[str, Any], dict[str, Any]]]) -> None:
    """Make ``save``/``load_bundle`` the writer and reader of paths ending in ``suffix`` (lower case).

    Parameters
    ----------
    suffix : str
        The file name ending, such as ``".safetensors"``.
    save : callable
        ``save(net, path, *, metadata, arrays)``.
    load_bundle : callable
        ``load_bundle(path, activations) -> (net, metadata, arrays)``.

    Examples
    --------
    >>> ".safetensors" in FORMATS.names()
    True
    """
    FORMATS.register(suffix, Format(save, load_bundle))


def format_for(path: str | os.PathLike[str]) -> Format:
    """The format of ``path``: the one registered for its (case-insensitive) suffix, else the default.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Format
        Its writer and reader.

    Examples
    --------
    >>> format_for("m.SAFETENSORS") is FORMATS.get(".safetensors")
    True
    """
    name = str(os.fspath(path)).lower()
    for suffix, fmt in FORMATS.items():
        if suffix != DEFAULT and name.endswith(suffix):
            return fmt
    if DEFAULT not in FORMATS:
        raise ConfigError(f"no model file format is registered for {DEFAULT!r} (import backprop first)")
    default: Format = FORMATS.get(DEFAULT)
    return default


def save(net: Network, path: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None,
         arrays: dict[str, Any] | None = None) -> None:
    """Save a network to ``path``, atomically; the format follows the name.

    A path ending in ``.safetensors`` writes the safetensors format (parameters under the
    ``state_dict()`` keys, readable by PyTorch); any other path a backprop ``.npz`` model file
    (written exactly under this name: no suffix is added).

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
    metadata : dict, optional
        JSON-serialisable information to store alongside (read back by ``load_bundle``).
    arrays : dict of str -> ndarray, optional
        Further numeric arrays to store (``.npz`` only; read back by ``load_bundle``).

    Raises
    ------
    ConfigError
        If the parameters are not finite, the metadata is not JSON-serialisable or an array is not numeric.
    FileFormatError
        If the directory of ``path`` does not exist.

    Examples
    --------
    >>> import backprop as bp, tempfile, os
    >>> net = bp.MLP([2, 3, 1], output="identity", seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> save(net, path)
    >>> bp.load(path).params.tobytes() == net.params.tobytes()
    True
    """
    return format_for(path).save(net, path, metadata=metadata, arrays=arrays)


def load_bundle(path: str | os.PathLike[str], activations: Functions = None
                ) -> tuple[Network, dict[str, Any], dict[str, Any]]:
    """Load a model file with everything stored beside the network: (net, metadata, arrays).

    The file is untrusted input: nothing in it is executed (no pickle), and every size it declares
    is checked before memory is spent. ``activations`` is as for ``load``.

    Parameters
    ----------
    path : str or os.PathLike
    activations : dict or list, optional
        The user-defined functions the model uses (see ``load``).

    Returns
    -------
    net : Network (an MLP if it was saved as one)
    metadata : dict
        The ``metadata`` given to ``save`` (empty if none); any JSON object of bounded size and depth,
        with finite numbers only.
    arrays : dict of str -> ndarray
        The ``arrays`` given to ``save``: plain numeric (bool, int, uint, float) arrays in native
        byte order (none for ``.safetensors``).

    Raises
    ------
    FileFormatError
        If the file is missing, not a model file, malformed, truncated, or declares more than it holds.
    ConfigError
        If the model uses a user-defined function that ``activations`` does not supply.

    Examples
    --------
    >>> import backprop as bp, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> save(bp.MLP([2, 2]), path, metadata={"note": "x"})
    >>> load_bundle(path)[1]
    {'note': 'x'}
    """
    return format_for(path).load_bundle(path, activations)


def load(path: str | os.PathLike[str], activations: Functions = None) -> Network:
    """Load a network saved with ``net.save(path)``.

    Parameters
    ----------
    path : str or os.PathLike
    activations : dict or list, optional
        The user-defined functions the model uses, which a file cannot store because they are code:
        ``{name: fn}`` or a list of them, each made by ``bp.activation(name, f, df, d2f)`` (a scalar
        activation) or ``bp.vector_activation(name, f, ...)`` (a vector one). Nothing else supplies
        them: a model naming a user function loads only when that function is passed here.

    Returns
    -------
    Network
        An MLP if an MLP was saved; parameters bitwise equal to the saved ones.

    Raises
    ------
    FileFormatError
        If the file is missing, not a model file, malformed or truncated.
    ConfigError
        If the model uses a user-defined function that ``activations`` does not supply; the message
        names it and shows how to pass it.

    Examples
    --------
    >>> import numpy as np, backprop as bp, tempfile, os
    >>> cube = bp.activation("cube", lambda z: z ** 3, lambda z: 3 * z ** 2, lambda z: 6 * z)
    >>> net = bp.MLP([2, 3, 1], hidden=cube, output="identity", seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> net.save(path)
    >>> load(path, activations=[cube]).params.tobytes() == net.params.tobytes()
    True
    """
    return load_bundle(path, activations)[0]
