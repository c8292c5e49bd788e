"""Exceptions raised by backprop.

Every error caused by user input is a ``ValueError`` subclass whose message names
the problem and the expected shape or value, so ``except ValueError`` keeps working.
"""


class InputError(ValueError):
    """Bad input data: wrong shape, non-finite values, labels out of range, empty batch."""


class ConfigError(ValueError):
    """Bad configuration: unknown activation or loss name, sizes < 1, bad option value."""


class MemoryLimitError(ConfigError):
    """A request whose result would exceed a memory limit (e.g. a W x W matrix): refused before allocating."""


class FileFormatError(ValueError):
    """A saved model, CSV or IDX file that is missing, malformed or truncated."""


class DivergenceError(FloatingPointError, ValueError):
    """Training produced a non-finite loss; parameters were restored to their last finite values."""


class DivergenceWarning(UserWarning):
    """Training ended with a loss far worse than the one it started from (``history.diverged`` is True)."""
