"""Provider telemetry: a handful of events per stream (never one per SSE event),
request headers redacted except an allow-list, and stdlib logging."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step
from synapsis_actors.runtime import telemetry

from ._helpers import Served, collect, hello


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, data: Mapping[str, Any]) -> None:
        self.items.append((name, dict(data)))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.items]


async def _stream(rt: sa.Runtime) -> list[Any]:
    async with sa.open_stream(rt, "local", hello()) as stream:
        return await collect(stream)


async def test_success_emits_start_first_event_done(http1: Served, rt: sa.Runtime) -> None:
    http1.server.enqueue(Reply(text="one two three four five six seven"))
    await rt.providers.register("local", http1.config())
    events = Events()
    with telemetry.subscribed(events):
        messages = await _stream(rt)
    assert len(messages) > 10  # many SSE events ...
    assert events.names == [  # ... three telemetry events
        "provider.request.start",
        "provider.stream.first_event",
        "provider.stream.done",
    ]
    start, first, done = (data for _, data in events.items)
    assert start["provider"] == "local"
    assert start["model"] == "claude-test"
    assert start["url"].endswith("/v1/messages")
    assert start["headers"]["x-api-key"] == "[redacted]"
    assert start["headers"]["content-type"] == "application/json"
    assert first["ref"] == done["ref"] == messages[0].ref
    assert done["request_id"] == "req_emb_0000"
    assert done["events"] == len(messages) - 1
    assert done["stop_reason"] == "end_turn"


async def test_retry_then_error(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    http1.server.set_default(Fault(status=503))
    await rt.providers.register("local", http1.config(max_retries=1))
    events = Events()
    with telemetry.subscribed(events):
        messages = await _stream(rt)
    assert isinstance(messages[-1].error, sa.ServerError)
    assert events.names == [
        "provider.request.start",
        "provider.request.retry",
        "provider.stream.error",
    ]
    retry, error = events.items[1][1], events.items[2][1]
    assert retry["attempt"] == 1
    assert retry["status"] == 503
    assert retry["error"] == "ServerError"
    assert error["error"] == "ServerError"
    assert error["status"] == 503


async def test_cancel_event(http1: Served, rt: sa.Runtime) -> None:
    http1.server.enqueue(Step(reply=Reply(text="word " * 300), delay=0.01))
    await rt.providers.register("local", http1.config())
    events = Events()
    with telemetry.subscribed(events):
        async with sa.open_stream(rt, "local", hello()) as stream:
            async for msg in stream:
                if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
                    break
    assert events.names[-1] == "provider.stream.cancel"
    assert events.items[-1][1]["reason"] == "the caller left the stream's block"


async def test_a_broken_handler_never_breaks_a_stream(http1: Served, rt: sa.Runtime) -> None:
    await rt.providers.register("local", http1.config())

    def broken(name: str, data: Mapping[str, Any]) -> None:
        raise RuntimeError("handler bug")

    with telemetry.subscribed(broken):
        assert (await sa.complete(rt, "local", hello())).text


async def test_failures_are_logged_on_the_streaming_logger(
    http1: Served, rt: sa.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # Loggers are named after their modules: a stream's failure is the job's record.
    http1.server.enqueue(Fault(status=400))
    await rt.providers.register("local", http1.config())
    with caplog.at_level(logging.DEBUG, logger="synapsis_actors"):
        await _stream(rt)
    records = [r for r in caplog.records if r.name == "synapsis_actors.runtime.job"]
    assert any(r.levelno == logging.WARNING and "failed" in r.getMessage() for r in records)
