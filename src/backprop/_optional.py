"""Optional dependencies: import one where a feature needs it, or say in one line what to install.

The core of backprop needs numpy and scipy only. Everything else is an extra of the distribution,
imported lazily inside the function that needs it::

    Figure = require("matplotlib.figure", extra="plots", feature="plots").Figure

Without matplotlib this raises :class:`MissingDependencyError` with the message
``matplotlib is needed for plots but is not installed: pip install 'backprop-exact[plots]'``.
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import IO, Any


#: The name of the distribution on the package index (the import name is ``backprop``).
DISTRIBUTION = "backprop-exact"

#: Top-level module -> the package to install, where the two names differ.
_PACKAGE = {"sklearn": "scikit-learn"}


class MissingDependencyError(ImportError, ValueError):
    """An optional dependency of a feature is not installed; the message names the ``pip install`` to run.

    An ``ImportError``, and also a ``ValueError`` like every other error a user can act on, so that the
    command line reports it in one line.

    Examples
    --------
    >>> issubclass(MissingDependencyError, ImportError), issubclass(MissingDependencyError, ValueError)
    (True, True)
    """


def install_hint(extra: str) -> str:
    """The command that installs ``extra``, e.g. ``pip install 'backprop-exact[plots]'``.

    Parameters
    ----------
    extra : str
        The name of an extra ("plots", "sklearn", ...).

    Returns
    -------
    str

    Examples
    --------
    >>> install_hint("plots")
    "pip install 'backprop-exact[plots]'"
    """
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` (dotted names allowed) for ``feature``, or say which extra installs it.

    Parameters
    ----------
    module : str
        What to import, e.g. ``"sklearn.datasets"``.
    extra : str
        The extra of the distribution that provides it, e.g. ``"sklearn"``.
    feature : str
        What needs it, for the message, e.g. ``"datasets.digits"``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependencyError
        If the top-level package of ``module`` is not installed. An ``ImportError`` raised from inside
        an installed package (a broken installation) propagates unchanged.

    Examples
    --------
    >>> require("numpy.linalg", extra="core", feature="this example").__name__
    'numpy.linalg'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.partition(".")[0]
        if e.name is None or e.name.partition(".")[0] != top or sys.modules.get(top) is not None:
            raise                   # the package is there but something inside it failed to import
        package = _PACKAGE.get(top, top)
        raise MissingDependencyError(f"{package} is needed for {feature} but is not installed: "
                                     f"{install_hint(extra)}", name=top) from None


class _PlainBar:
    """A counter with tqdm's methods used here, for when tqdm (the ``progress`` extra) is not installed.

    On a terminal it redraws one line per update; elsewhere (logs, pipes) it writes the final line only.
    """

    def __init__(self, total: int | None = None, initial: int = 0, desc: str = "", unit: str = "it",
                 file: IO[str] | None = None, **_ignored: object) -> None:
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.file = sys.stderr if file is None else file
        self.postfix = ""
        isatty = getattr(self.file, "isatty", None)
        self.live = bool(isatty and isatty())

    def _line(self) -> str:
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        return f"{self.desc}: {count} {self.unit}" + (f" {self.postfix}" if self.postfix else "")

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.live:
            self.file.write("\r" + self._line())
            self.file.flush()

    def close(self) -> None:
        self.file.write(("\r" if self.live else "") + self._line() + "\n")
        self.file.flush()


def progress_bar(**kwargs: Any) -> Any:
    """A tqdm progress bar when tqdm is installed (the ``progress`` extra), else a plain text counter.

    Parameters
    ----------
    **kwargs
        tqdm's keyword arguments (``total``, ``initial``, ``desc``, ``unit``, ``file``, ...); the plain
        counter uses the first five and ignores the others.

    Returns
    -------
    tqdm.tqdm or _PlainBar
        An object with ``update``, ``set_postfix_str`` and ``close``.
    """
    try:
        from tqdm import tqdm
    except ImportError as e:
        if e.name != "tqdm" or sys.modules.get("tqdm") is not None:
            raise
        return _PlainBar(**kwargs)
    return tqdm(**kwargs)
