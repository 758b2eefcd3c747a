"""The provider registry: an actor for writes, an immutable snapshot for reads.

Writes (``register``, ``unregister``) go through one actor, so they are
serialized and each one builds the provider's HTTP client exactly once.
Reads (``get``, ``list``, and every ``open_stream``) never touch the actor:
they read a dict that is never mutated, only replaced wholesale by the actor
(the trio analogue of an ETS table with ``read_concurrency``). A read is a
plain attribute load plus a dict lookup: no lock, no await, never blocked by
a write in progress.

The snapshot lives in a :class:`ProviderTable` owned by the runtime, outside
the actor's state. When the actor crashes, its supervisor restarts it with
the same table: no registered provider is lost (the Elixir original lost them
all, its ETS table being owned by the crashed process).

Model lists (:meth:`Providers.models`) are cached per provider with a TTL,
refreshed by one request at a time (concurrent callers share it), served
stale while a refresh runs, and kept when the provider is unreachable.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs
import trio

from ..errors import APIConnectionError, ConfigError, ProviderError, ProviderNotFound
from ..model.catalog import ModelInfo, known_model, merge
from ..model.config import ProviderConfig
from ..model.secrets import scrub, scrub_bytes
from ..otp import Actor, Caller
from ..transport.failures import TransportFailure
from ..transport.http import HttpClient, HttpTransport, check_client
from ..transport.retry import RetryPolicy, server_delay
from ..wire import get_provider
from ..wire.errors import request_id
from .job import ERROR_BODY_LIMIT, ProviderEntry

_log = logging.getLogger(__name__)

#: How long a fetched model list is fresh, and the limit on one fetch.
DEFAULT_MODELS_TTL = 300.0
DEFAULT_MODELS_TIMEOUT = 5.0


class ProviderTable:
    """The registered providers: ``snapshot`` is replaced, never mutated.

    Owned by the runtime; the registry actor is its only writer.
    """

    def __init__(self) -> None:
        self.snapshot: Mapping[str, ProviderEntry] = MappingProxyType({})

    def replace(self, entries: dict[str, ProviderEntry]) -> None:
        self.snapshot = MappingProxyType(entries)


# ----------------------------------------------------------------- the actor


@attrs.frozen
class Register:
    name: str
    config: ProviderConfig
    #: The user's client, or None for one the runtime builds (and owns).
    http_client: HttpClient | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Unregister:
    name: str


@attrs.frozen
class Poison:
    """Makes the actor raise (tests prove a crash loses no provider)."""

    reason: str = "poisoned"


@attrs.frozen
class Refused:
    """The registry's reply when it refuses a request: ``error`` is raised to the caller."""

    error: ConfigError


class RegistryCrash(Exception):
    """Raised inside the registry actor by a :class:`Poison` call."""


class ProviderRegistryActor(Actor):
    """Serializes writes to a :class:`ProviderTable` it does not own.

    ``call(Register(name, config))`` builds the provider and its client, swaps
    the snapshot, then closes the client it replaced (if any);
    ``call(Unregister(name))`` removes and closes it (False when absent).
    """

    def __init__(self, table: ProviderTable) -> None:
        self.table = table

    async def handle_call(self, message: Any, caller: Caller) -> Any:
        if isinstance(message, Poison):
            raise RegistryCrash(message.reason)
        try:
            if isinstance(message, Register):
                return await self._register(message.name, message.config, message.http_client)
            if isinstance(message, Unregister):
                return await self._unregister(message.name)
            raise ConfigError("message", f"unknown registry call {type(message).__name__}")
        except ConfigError as error:
            # A refused request is the caller's error, not the registry's: reply
            # with it instead of crashing (and restarting) the actor.
            return Refused(error)

    async def _register(
        self, name: str, config: ProviderConfig, http_client: HttpClient | None
    ) -> None:
        old = self.table.snapshot.get(name)
        if (
            old is not None
            and old.config == config
            and (
                old.transport.owns_client
                if http_client is None
                else old.transport.client is http_client
            )
        ):
            return
        provider = get_provider(config)
        # Resolves the base URL and auth now: an unusable config (a preset with
        # no default URL and none given, ...) fails here, naming the field.
        provider.models_request(config)
        entry = ProviderEntry(
            name=name,
            config=config,
            provider=provider,
            transport=HttpTransport(config, http_client),
            policy=RetryPolicy.from_config(config),
        )
        entries = dict(self.table.snapshot)
        entries[name] = entry
        self.table.replace(entries)
        _log.info("provider %r registered (%s)", name, config.kind)
        if old is not None:
            await _close_client(old)

    async def _unregister(self, name: str) -> bool:
        old = self.table.snapshot.get(name)
        if old is None:
            return False
        entries = dict(self.table.snapshot)
        del entries[name]
        self.table.replace(entries)
        _log.info("provider %r unregistered", name)
        await _close_client(old)
        return True


async def _close_client(entry: ProviderEntry) -> None:
    # Streams still using the old client end with a connection error: the
    # provider they were using is gone. A user's client stays open.
    await entry.transport.aclose()


async def close_all(table: ProviderTable) -> None:
    """Close every client in ``table`` (the runtime is closing) and empty it."""
    entries = list(table.snapshot.values())
    table.replace({})
    for entry in entries:
        await _close_client(entry)


# ----------------------------------------------------------- the public face


@attrs.define(eq=False)
class _ModelCache:
    models: list[ModelInfo] | None = None
    fetched_at: float = -math.inf
    error: ProviderError | None = None
    refreshing: trio.Event | None = None


def _raise_refused(reply: Any) -> Any:
    if isinstance(reply, Refused):
        raise reply.error
    return reply


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ConfigError("name", f"a provider name must be a non-empty string, got {name!r}")
    return name


class Providers:
    """``rt.providers``: register/unregister through the actor, lock-free reads.

    Built by the runtime; ``call`` sends one message to the current registry
    actor (whichever incarnation is running) and ``spawn`` runs a background
    task under the runtime's task supervisor (used for model refreshes).
    """

    def __init__(
        self,
        table: ProviderTable,
        call: Callable[[Any], Awaitable[Any]],
        spawn: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]],
        *,
        models_ttl: float = DEFAULT_MODELS_TTL,
        models_timeout: float = DEFAULT_MODELS_TIMEOUT,
    ) -> None:
        self._table = table
        self._call = call
        self._spawn = spawn
        self._models: dict[str, _ModelCache] = {}
        self.models_ttl = models_ttl
        self.models_timeout = models_timeout

    async def register(
        self, name: str, config: ProviderConfig, *, http_client: HttpClient | None = None
    ) -> None:
        """Register (or replace) provider ``name``. Goes through the registry actor.

        ``http_client``: an ``httpx.AsyncClient`` to use instead of one the
        runtime builds: its proxies, TLS settings, transport and event hooks
        apply, and the runtime never closes it (``config``'s TLS, HTTP/2 and
        connect settings then do not apply: the client has its own). The
        library's fast read paths step aside for it.

        Raises ``ConfigError`` for a bad name, config or client (before
        reaching the actor), and the provider's own ``ConfigError`` for an
        unusable config. Replacing a provider closes the old client if the
        runtime built it: its running streams fail.
        """
        _check_name(name)
        if not isinstance(config, ProviderConfig):
            raise ConfigError("config", f"expected a ProviderConfig, got {type(config).__name__}")
        if http_client is not None:
            check_client(http_client)
        _raise_refused(await self._call(Register(name, config, http_client)))
        self._models.pop(name, None)

    async def unregister(self, name: str) -> bool:
        """Remove provider ``name`` and close its client; False if it was not registered."""
        _check_name(name)
        self._models.pop(name, None)
        removed = _raise_refused(await self._call(Unregister(name)))
        return bool(removed)

    def get(self, name: str) -> ProviderConfig:
        """The config registered under ``name``; raises ``ProviderNotFound``. Lock-free."""
        return self.entry(name).config

    def entry(self, name: str) -> ProviderEntry:
        """What the runtime holds for ``name`` (config, provider, client); lock-free."""
        entry = self._table.snapshot.get(name)
        if entry is None:
            known = ", ".join(sorted(self._table.snapshot)) or "none"
            raise ProviderNotFound(f"no provider registered as {name!r} (registered: {known})")
        return entry

    def list(self) -> list[str]:
        """The registered names, sorted. Lock-free."""
        return sorted(self._table.snapshot)

    def __contains__(self, name: object) -> bool:
        return name in self._table.snapshot

    # ---------------------------------------------------------------- models

    async def models(self, name: str, *, refresh: bool = False) -> builtins.list[ModelInfo]:
        """The models provider ``name`` serves (its models endpoint), cached.

        Fresh for ``models_ttl`` seconds. Past that, the cached list is
        returned at once and one background refresh starts (stale while
        revalidate). With nothing cached (or ``refresh=True``) the caller
        waits for the refresh; concurrent callers share one request. A failed
        refresh keeps the last good list; with none, its error is raised.
        """
        self.entry(name)  # ProviderNotFound before anything else
        cache = self._models.setdefault(name, _ModelCache())
        age = trio.current_time() - cache.fetched_at
        if cache.models is not None and not refresh:
            if age >= self.models_ttl and cache.refreshing is None:
                await self._start_refresh(name, cache)
            return cache.models
        done = cache.refreshing
        if done is None:
            done = await self._start_refresh(name, cache)
        await done.wait()
        if cache.models is not None:
            return cache.models  # fresh, or the last good list when offline
        assert cache.error is not None
        raise cache.error

    async def _start_refresh(self, name: str, cache: _ModelCache) -> trio.Event:
        done = cache.refreshing = trio.Event()

        async def refresh() -> None:
            try:
                models = await self._fetch_models(name)
            except ProviderError as error:
                cache.error = error
            except Exception as exc:  # a bug-shaped failure still reaches the waiters, typed
                cache.error = ProviderError(
                    f"model list refresh failed: {type(exc).__name__}", provider=name
                )
                cache.error.__cause__ = exc
            else:
                cache.models, cache.error = models, None
                cache.fetched_at = trio.current_time()
            finally:
                if cache.error is not None:
                    _log.warning("provider %r: model list refresh failed: %s", name, cache.error)
                cache.refreshing = None
                done.set()

        await self._spawn(refresh)
        return done

    async def _fetch_models(self, name: str) -> builtins.list[ModelInfo]:
        entry = self.entry(name)
        spec = entry.provider.models_request(entry.config)
        try:
            with trio.fail_after(self.models_timeout):
                status, headers, content = await entry.transport.fetch(spec)
        except (TransportFailure, trio.TooSlowError) as exc:
            why = str(exc) if isinstance(exc, TransportFailure) else "timed out"
            raise APIConnectionError(
                scrub(f"model list request failed: {why}", entry.config.api_key),
                provider=name,
            ) from exc
        if not 200 <= status < 300:
            raise entry.provider.error_from_response(
                status,
                headers,
                scrub_bytes(content[:ERROR_BODY_LIMIT], entry.config.api_key),
                name,
                retry_after=server_delay(headers),
            )
        try:
            body = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProviderError(
                "model list is not JSON",
                provider=name,
                status=status,
                request_id=request_id(headers),
            ) from exc
        # What the server said, filled in from the catalogue where it said nothing.
        return [
            merge(model, known_model(model.id)) or model
            for model in entry.provider.parse_models(body)
        ]

    def model_info(self, name: str, model: str) -> ModelInfo | None:
        """What is known of ``model`` on provider ``name``, without I/O: its entry
        in the cached model list (merged with the catalogue), else the
        catalogue's (``model.catalog.known_model``), else None."""
        cache = self._models.get(name)
        for listed in (cache.models or ()) if cache is not None else ():
            if listed.id == model:
                return listed
        return known_model(model)
