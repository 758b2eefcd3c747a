"""Shared helpers of the reliability suite: leak probes, a canary key, stream drivers.

Leaks are measured from both ends:

* the client's trio tasks: a walk of the whole task tree from
  ``trio.lowlevel.current_root_task()``, leaving out the embedded server's
  own subtrees (it runs in the same trio run, and its connection handlers
  end on their own schedule);
* the server's view of TCP connections (``EmbeddedProvider.open_connections``),
  which must come down to the number of idle keep-alive connections the
  provider's httpx pool still holds, and to 0 once the runtime has closed.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import EmbeddedProvider
from synapsis_actors.otp import telemetry as otp_telemetry
from synapsis_actors.runtime import telemetry

#: The canary: if any of it shows up anywhere but the request headers, K1 is broken.
CANARY = "sk-canary-7f3b9e1c-RELIABILITY-do-not-leak-5a2d"
#: A distinctive slice, so that a truncated or partly masked key is caught too.
CANARY_CORE = "7f3b9e1c-RELIABILITY"

KINDS = ("anthropic", "openai")

# Task names of the embedded server's subtrees (it shares the trio run with the client).
_SERVER_TASKS = ("trio._highlevel_serve_listeners", "trio.serve_listeners", "hypercorn.")


def client_tasks() -> collections.Counter[str]:
    """Live trio tasks by name, the embedded server's subtrees left out."""
    counts: collections.Counter[str] = collections.Counter()
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task.name.startswith(_SERVER_TASKS):
            continue
        counts[task.name] += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return counts


def stream_tasks() -> int:
    """How many stream task bodies (``StreamJob.run``) are alive right now."""
    return client_tasks()["synapsis_actors.runtime.job.StreamJob.run"]


def pooled_connections(rt: sa.Runtime) -> int:
    """Connections the runtime's httpx pools hold (idle keep-alive ones included)."""
    total = 0
    for name in rt.providers.list():
        total += rt.providers.entry(name).transport.open_connections()
    return total


async def settle(predicate: Any, *, rounds: int = 5000) -> bool:
    """Let the run loop turn until ``predicate()`` holds (bounded; True if it did).

    A loopback close is visible to the peer at once, so this needs a few
    scheduler turns, not time; a round count (not a deadline) keeps it
    meaningful under ``MockClock`` autojump, which would otherwise race
    any timeout straight to its end.
    """
    for _ in range(rounds):
        if predicate():
            return True
        await trio.sleep(0)
        await trio.testing.wait_all_tasks_blocked()
    return bool(predicate())


async def assert_no_leaks(
    rt: sa.Runtime, server: EmbeddedProvider, before: collections.Counter[str]
) -> None:
    """Client tasks are back to ``before``; the server holds no connection but
    the idle ones in the client's pool."""
    ok = await settle(lambda: server.open_connections == pooled_connections(rt))
    assert ok, (server.open_connections, pooled_connections(rt))
    assert await settle(lambda: client_tasks() == before), client_tasks() - before
    assert rt.statistics().open_streams == 0


def config(server: EmbeddedProvider | None, kind: str, **kw: Any) -> sa.ProviderConfig:
    if "base_url" not in kw:
        assert server is not None
        anthropic = kind == "anthropic"
        kw["base_url"] = server.anthropic_base_url if anthropic else server.openai_base_url
    kw.setdefault("api_key", CANARY)
    return sa.ProviderConfig(kind=kind, **kw)


def request(text: str = "hello", **kw: Any) -> sa.Request:
    return sa.Request(model="embedded-echo", messages=[sa.Message.user(text)], **kw)


@attrs.frozen
class Outcome:
    """Everything a caller saw on one stream."""

    chunks: tuple[sa.ProviderChunk, ...]
    done: sa.ProviderDone
    dones: int

    @property
    def error(self) -> sa.ProviderError | None:
        return self.done.error

    @property
    def text(self) -> str:
        return "".join(c.event.text for c in self.chunks if isinstance(c.event, sa.TextDelta))


async def drain(stream: sa.Stream) -> Outcome:
    chunks: list[sa.ProviderChunk] = []
    dones: list[sa.ProviderDone] = []
    async for message in stream:
        if isinstance(message, sa.ProviderDone):
            dones.append(message)
        else:
            assert not dones, "a chunk after the ProviderDone"
            chunks.append(message)
    assert dones, "the stream ended without a ProviderDone"
    return Outcome(tuple(chunks), dones[-1], len(dones))


async def run_stream(rt: sa.Runtime, name: str, req: sa.Request, **kw: Any) -> Outcome:
    async with sa.open_stream(rt, name, req, **kw) as stream:
        return await drain(stream)


class Recorder:
    """Collects telemetry events (provider and OTP) while installed."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, data: Mapping[str, Any]) -> None:
        self.events.append((name, dict(data)))

    def otp(self, event: otp_telemetry.TelemetryEvent) -> None:
        self.events.append((f"otp.{event.name}", attrs.asdict(event, recurse=False)))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]


@contextmanager
def recording() -> Iterator[Recorder]:
    rec = Recorder()
    with telemetry.subscribed(rec), otp_telemetry.subscribed(rec.otp):
        yield rec


def leaked_texts(
    *,
    records: list[logging.LogRecord],
    rec: Recorder,
    server: EmbeddedProvider | None,
    extra: list[Any],
) -> list[str]:
    """Every text a key could leak into; returns those that contain the canary."""
    texts: list[str] = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(repr(record.exc_info[1]))
            texts.append(str(record.exc_info[1]))
    texts += [f"{name} {data!r}" for name, data in rec.events]
    if server is not None:
        texts += [repr(r) for r in server.requests]
        texts += [repr(r) for r in server.responses]
    for item in extra:
        texts += [repr(item), str(item)]
        if isinstance(item, BaseException):
            texts += [str(a) for a in item.args]
            texts.append(repr(vars(item)))
            cause = item.__cause__ or item.__context__
            if cause is not None:
                texts += [repr(cause), str(cause)]
    return [t for t in texts if CANARY in t or CANARY_CORE in t]
