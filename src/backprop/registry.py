"""Named families (losses, activations, ops, optimisers, ...): one lookup and one error format for all.

Each family keeps one :class:`Registry`, filled where its members are defined::

    LOSSES = Registry("loss")

    @LOSSES.register("l2", aliases=("mse",))
    class L2(Loss): ...

    LOSSES.get("mse")        # -> L2
    LOSSES.get("x")          # ConfigError: unknown loss 'x'; known: l2, ...
    LOSSES.names()           # ('l2', ...): what the CLI help, the estimators and the tests read

The registry is the only list of a family's names: nothing else keeps one by hand.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, TypeVar, overload

from .errors import ConfigError


#: a member of a registry (a class, a function, a value)
M = TypeVar("M")


class Registry:
    """The members of one named family, by name, in the order they were registered.

    Parameters
    ----------
    family : str
        What a member is, for messages: ``"loss"``, ``"activation"``, ``"operation"``, ...

    Examples
    --------
    >>> shapes = Registry("shape")
    >>> _ = shapes.register("square", 4, aliases=("quad",))
    >>> shapes.get("quad"), shapes.names()
    (4, ('square',))
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self._members: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}

    @overload
    def register(self, name: str, obj: None = None, *, aliases: tuple[str, ...] = ()) -> Callable[[M], M]: ...
    @overload
    def register(self, name: str, obj: M, *, aliases: tuple[str, ...] = ()) -> M: ...
    def register(self, name: str, obj: Any = None, *, aliases: tuple[str, ...] = ()) -> Any:
        """Add ``obj`` under ``name`` (and ``aliases``); without ``obj``, a decorator that adds what it decorates.

        Parameters
        ----------
        name : str
            The member's name.
        obj : object, optional
            The member; without it, ``register`` returns a decorator.
        aliases : tuple of str, default ()
            Other names that stand for it.

        Returns
        -------
        object
            ``obj`` (or the decorator), so that registering does not change what is registered.

        Raises
        ------
        ConfigError
            When a name is empty or already taken.

        Examples
        --------
        >>> shapes = Registry("shape")
        >>> @shapes.register("circle", aliases=("round",))
        ... def circle(r):
        ...     return 3 * r * r
        >>> shapes.get("round") is circle, shapes.register("square", 4)
        (True, 4)
        """
        if obj is None:
            def deco(member: Any) -> Any:
                self.register(name, member, aliases=aliases)
                return member
            return deco
        for key in (name, *aliases):
            if not isinstance(key, str) or not key:
                raise ConfigError(f"a {self.family} name must be a non-empty string; got {key!r}")
            if key in self._members or key in self._aliases:
                raise ConfigError(f"{self.family} {key!r} is already registered")
        self._members[name] = obj
        self._aliases.update((alias, name) for alias in aliases)
        return obj

    def canonical(self, name: object, *, error: Callable[[str], Exception] = ConfigError) -> str:
        """The registered name that ``name`` (a name or an alias) stands for.

        Parameters
        ----------
        name : object
            A name or an alias.
        error : callable, default ConfigError
            Builds the exception raised for an unknown name, from its message.

        Returns
        -------
        str
            The registered name.

        Examples
        --------
        >>> shapes = Registry("shape")
        >>> _ = shapes.register("square", 4, aliases=("quad",))
        >>> shapes.canonical("quad")
        'square'
        >>> shapes.canonical("circle")
        Traceback (most recent call last):
        ...
        backprop.errors.ConfigError: unknown shape 'circle'; known: square
        """
        if isinstance(name, str):
            if name in self._members:
                return name
            if name in self._aliases:
                return self._aliases[name]
        known = ", ".join(self._members)
        what = f"{name!r}" if isinstance(name, str) else f"of type {type(name).__name__}"
        raise error(f"unknown {self.family} {what}; known: {known}")

    def get(self, name: object, *, error: Callable[[str], Exception] = ConfigError) -> Any:
        """The member registered as ``name`` (or an alias of it).

        Parameters
        ----------
        name : object
            A name or an alias.
        error : callable, default ConfigError
            Builds the exception raised for an unknown name (its message names the known ones).

        Returns
        -------
        object
            The member.

        Examples
        --------
        >>> shapes = Registry("shape")
        >>> _ = shapes.register("square", 4, aliases=("quad",))
        >>> shapes.get("quad")
        4
        """
        return self._members[self.canonical(name, error=error)]

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (aliases left out).

        Returns
        -------
        tuple of str

        Examples
        --------
        >>> shapes = Registry("shape")
        >>> _ = shapes.register("square", 4, aliases=("quad",)); _ = shapes.register("triangle", 3)
        >>> shapes.names()
        ('square', 'triangle')
        """
        return tuple(self._members)

    def aliases(self) -> dict[str, str]:
        """The aliases and the registered names they stand for.

        Returns
        -------
        dict
            Alias -> registered name.

        Examples
        --------
        >>> shapes = Registry("shape")
        >>> _ = shapes.register("square", 4, aliases=("quad",))
        >>> shapes.aliases()
        {'quad': 'square'}
        """
        return dict(self._aliases)

    def items(self) -> Iterator[tuple[str, Any]]:
        """The (registered name, member) pairs, in registration order.

        Returns
        -------
        iterator of (str, object)

        Examples
        --------
        >>> shapes = Registry("shape")
        >>> _ = shapes.register("square", 4, aliases=("quad",))
        >>> list(shapes.items())
        [('square', 4)]
        """
        return iter(self._members.items())

    def __contains__(self, name: object) -> bool:
        return name in self._members or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}: {', '.join(self._members)})"
