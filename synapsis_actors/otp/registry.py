"""Unique names for processes (Elixir's ``Registry`` with ``keys: :unique``).

A :class:`Registry` maps a name to a value (usually an
:class:`~synapsis_actors.otp.ActorRef`) held by an *owner*. The name is taken
for as long as the owner holds its :class:`Registration`; actors started with
``name=`` hold theirs for exactly their lifetime, so a name is freed when its
owner exits, however it exits. Any task can do the same::

    with registry.register("cache", value):
        ...  # the name is ours until this block ends

Lookups are plain dictionary reads: synchronous, lock-free, cheap (trio runs
one task at a time, so no reader ever sees a half-made change).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import trio

from ..errors import NameTaken, NoProcess

__all__ = ["Addressable", "Registration", "Registry"]

_names = itertools.count(1)


@runtime_checkable
class Addressable(Protocol):
    """What ``Registry.call`` / ``Registry.cast`` need of a registered value."""

    async def call(self, message: Any, timeout: float | None = 5.0) -> Any: ...

    async def cast(self, message: Any) -> None: ...


class Registration:
    """A held name. ``release()`` (or leaving its ``with`` block) frees it.

    Releasing twice is harmless, and never frees a later owner's registration
    of the same name.
    """

    __slots__ = ("key", "owner", "registry", "value")

    def __init__(self, registry: Registry, key: Hashable, value: object, owner: object) -> None:
        self.registry = registry
        self.key = key
        self.value = value
        self.owner = owner

    @property
    def active(self) -> bool:
        return self.registry._entries.get(self.key) is self

    def release(self) -> None:
        if self.active:
            del self.registry._entries[self.key]

    def __enter__(self) -> Registration:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "active" if self.active else "released"
        return f"<Registration {self.key!r} -> {self.value!r} ({state})>"


class Registry:
    """Unique names. Create one per runtime (there is no global one)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name if name is not None else f"registry-{next(_names)}"
        self._entries: dict[Hashable, Registration] = {}

    def __repr__(self) -> str:
        return f"<Registry {self.name!r} names={len(self._entries)}>"

    def register(self, key: Hashable, value: object, *, owner: object = None) -> Registration:
        """Take ``key`` for ``value``; raises NameTaken (naming the owner) if it is taken.

        ``owner`` (default: ``value``) is what NameTaken reports to others.
        """
        existing = self._entries.get(key)
        if existing is not None:
            raise NameTaken(key, existing.owner)
        registration = Registration(self, key, value, value if owner is None else owner)
        self._entries[key] = registration
        return registration

    def whereis(self, key: Hashable) -> Any:
        """The value registered under ``key``, or None."""
        registration = self._entries.get(key)
        return None if registration is None else registration.value

    def lookup(self, key: Hashable) -> Any:
        """The value registered under ``key``; raises NoProcess if none."""
        registration = self._entries.get(key)
        if registration is None:
            raise NoProcess(f"no process registered as {key!r} in {self.name!r}")
        return registration.value

    def owner(self, key: Hashable) -> object:
        """Who holds ``key``; raises NoProcess if nobody."""
        registration = self._entries.get(key)
        if registration is None:
            raise NoProcess(f"no process registered as {key!r} in {self.name!r}")
        return registration.owner

    def keys(self) -> list[Hashable]:
        return list(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._entries))

    async def call(self, key: Hashable, message: Any, timeout: float | None = 5.0) -> Any:
        """``call`` the actor registered as ``key``; NoProcess at once if there is none."""
        target = self.lookup(key)
        if not isinstance(target, Addressable):
            raise NoProcess(f"{key!r} in {self.name!r} is not an actor: {target!r}")
        return await target.call(message, timeout)

    async def cast(self, key: Hashable, message: Any) -> None:
        """``cast`` to the actor registered as ``key``; silently dropped if none."""
        target = self.whereis(key)
        if isinstance(target, Addressable):
            await target.cast(message)
        else:
            await trio.lowlevel.checkpoint()
