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

        Returns ``obj`` (or the decorator), so that registering does not change what is registered.
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
        """The registered name that ``name`` (a name or an alias) stands for."""
        if isinstance(name, str):
            if name in self._members:
                return name
            if name in self._aliases:
                return self._aliases[name]
        known = ", ".join(self._members)
        what = f"{name!r}" if isinstance(name, str) else f"of type {type(name).__name__}"
        raise error(f"unknown {self.family} {what}; known: {known}")

    def get(self, name: object, *, error: Callable[[str], Exception] = ConfigError) -> Any:
        """The member registered as ``name`` (or an alias of it); ``error`` (ConfigError) names the known ones."""
        return self._members[self.canonical(name, error=error)]

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (aliases left out)."""
        return tuple(self._members)

    def aliases(self) -> dict[str, str]:
        """Alias -> registered name."""
        return dict(self._aliases)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self._members.items())

    def __contains__(self, name: object) -> bool:
        return name in self._members or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}: {', '.join(self._members)})"
