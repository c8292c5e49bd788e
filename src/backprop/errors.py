"""Exceptions raised by backprop.

Every error caused by user input is a ``ValueError`` subclass whose message names
the problem and the expected shape or value, so ``except ValueError`` keeps working.
"""


class InputError(ValueError):
    """Bad input data: wrong shape, non-finite values, labels out of range, empty batch.

    Examples
    --------
    >>> import backprop as bp
    >>> try:
    ...     bp.loss_and_grad(bp.MLP([2, 1], output="identity"), "l2", [[1.0, 2.0, 3.0]], [[0.0]])
    ... except bp.InputError as e:
    ...     isinstance(e, ValueError)
    True
    """


class ConfigError(ValueError):
    """Bad configuration: unknown activation or loss name, sizes < 1, bad option value.

    Examples
    --------
    >>> import backprop as bp
    >>> try:
    ...     bp.get_loss("no such loss")
    ... except bp.ConfigError as e:
    ...     str(e).split(";")[0]
    "unknown loss 'no such loss'"
    """


class MemoryLimitError(ConfigError):
    """A request whose result would exceed a memory limit (e.g. a W x W matrix): refused before allocating.

    Examples
    --------
    >>> issubclass(MemoryLimitError, ConfigError)
    True
    """


class FileFormatError(ValueError):
    """A saved model, CSV or IDX file that is missing, malformed or truncated.

    Examples
    --------
    >>> import backprop as bp
    >>> try:
    ...     bp.load("no-such-file.npz")
    ... except bp.FileFormatError as e:
    ...     isinstance(e, ValueError)
    True
    """


class DivergenceError(FloatingPointError, ValueError):
    """Training produced a non-finite loss; parameters were restored to their last finite values.

    Examples
    --------
    >>> issubclass(DivergenceError, ValueError), issubclass(DivergenceError, FloatingPointError)
    (True, True)
    """


class DivergenceWarning(UserWarning):
    """Training ended with a loss far worse than the one it started from (``history.diverged`` is True).

    Examples
    --------
    >>> issubclass(DivergenceWarning, UserWarning)
    True
    """
