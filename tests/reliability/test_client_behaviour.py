"""The caller misbehaves: leaves at a random point, is cancelled, is slow, crashes.

Whatever the caller does, nothing of its stream outlives it: after each
``open_stream`` block the stream's channel has no open end, no stream task
is alive, and the server (which counts its TCP connections) holds only the
idle keep-alive connections of the client's pool; when the runtime closes,
none. Every test runs over HTTP/1.1 and over TLS+HTTP/2, for both wire
formats; random choices come from a seeded ``random.Random``.
"""

from __future__ import annotations

import logging
import random
import tracemalloc
from collections.abc import Iterator

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import Reply, Step

from ._support import (
    KINDS,
    assert_no_leaks,
    client_tasks,
    config,
    drain,
    leaked_texts,
    recording,
    request,
    settle,
    stream_tasks,
)
from .conftest import Server

WORDS = tuple(f" w{i:02d}" for i in range(40))
TEXT = "".join(WORDS)
STREAMS = 10


@pytest.fixture(autouse=True)
def no_key_leaks(server: Server, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """K1 for every caller behaviour: the canary key in no log record (DEBUG),
    telemetry event or server request log, however the caller left."""
    caplog.set_level(logging.DEBUG)
    with recording() as rec:
        yield
    assert rec.events
    assert leaked_texts(records=caplog.records, rec=rec, server=server.provider, extra=[]) == []


def _closed(stream: sa.Stream) -> bool:
    stats = stream.statistics()
    return stats.open_send_channels == 0 and stats.open_receive_channels == 0


async def _register(rt: sa.Runtime, server: Server, kind: str) -> None:
    await rt.providers.register("p", config(server.provider, kind, verify=server.verify))


async def _after_runtime(server: Server) -> None:
    assert await settle(lambda: server.provider.open_connections == 0)
    # every response the server started has ended: no handler lingers
    assert len(server.provider.responses) == len(server.provider.requests)


@pytest.mark.parametrize("kind", KINDS)
async def test_caller_leaves_at_a_random_point(server: Server, kind: str) -> None:
    rng = random.Random(f"leave-{kind}-{server.transport}")
    left_early = 0
    async with sa.open_runtime() as rt:
        await _register(rt, server, kind)
        before = client_tasks()
        for _ in range(STREAMS):
            server.provider.enqueue(Reply(text=WORDS))
            leave_at = rng.randrange(0, len(WORDS) + 8)
            seen = 0
            async with sa.open_stream(rt, "p", request(), buffer=rng.choice([0, 1, 4, 64])) as s:
                async for message in s:
                    if seen == leave_at:
                        left_early += 1
                        break
                    seen += 1
                    if isinstance(message, sa.ProviderDone):
                        assert message.error is None
                        assert message.message.text == TEXT
            assert _closed(s)
            assert stream_tasks() == 0
            assert rt.statistics().open_streams == 0
        await assert_no_leaks(rt, server.provider, before)
        assert left_early > STREAMS // 2
    await _after_runtime(server)


@pytest.mark.parametrize("kind", KINDS)
async def test_caller_scope_cancelled_at_a_random_time(
    server: Server, kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    # Events are paced 50 ms apart (virtual), so a random deadline in
    # [0, 4) s lands anywhere from "before the request is sent" to "after
    # the last event".
    rng = random.Random(f"cancel-{kind}-{server.transport}")
    cancelled = 0
    async with sa.open_runtime() as rt:
        await _register(rt, server, kind)
        before = client_tasks()
        for _ in range(STREAMS):
            server.provider.enqueue(Step(reply=Reply(text=WORDS), delay=0.05))
            stream: sa.Stream | None = None
            with trio.move_on_after(rng.uniform(0.0, 4.0)) as scope:
                async with sa.open_stream(rt, "p", request()) as stream:
                    out = await drain(stream)
                    assert out.dones == 1
                    assert out.error is None
            cancelled += scope.cancelled_caught
            assert stream is not None
            assert _closed(stream)
            assert stream_tasks() == 0
        await assert_no_leaks(rt, server.provider, before)
        assert 0 < cancelled < STREAMS
    await _after_runtime(server)


class Boom(Exception):
    pass


@pytest.mark.parametrize("kind", KINDS)
async def test_caller_crashes_inside_the_block(server: Server, kind: str) -> None:
    rng = random.Random(f"crash-{kind}-{server.transport}")
    async with sa.open_runtime() as rt:
        await _register(rt, server, kind)
        before = client_tasks()
        for _ in range(STREAMS):
            server.provider.enqueue(Reply(text=WORDS))
            crash_at = rng.randrange(0, len(WORDS))
            # the caller's own exception comes out as itself, not in a group
            with pytest.raises(Boom):
                async with sa.open_stream(rt, "p", request()) as stream:
                    seen = 0
                    async for _message in stream:
                        if seen == crash_at:
                            raise Boom(crash_at)
                        seen += 1
            assert _closed(stream)
            assert stream_tasks() == 0
        await assert_no_leaks(rt, server.provider, before)
        # the runtime is unharmed: the next stream runs to the end
        assert (await sa.complete(rt, "p", request())).text
        assert rt.supervisor.child("stream_tasks").restarts == 0
    await _after_runtime(server)


def _client_memory() -> int:
    """Bytes traced outside hypercorn: the embedded server shares the process.

    Over HTTP/2, hypercorn's per-stream send buffer is not bounded while the
    client's window is closed (its sender pops 0 bytes, which releases the
    app to push more): that is the server's memory, not the client's. A
    snapshot costs ~0.1 s, so the test samples it.
    """
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, "*/hypercorn/*")]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


@pytest.mark.parametrize("kind", KINDS)
async def test_slow_consumer_keeps_memory_bounded(
    server: Server, kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    # 600 events of 4 KiB (2.4 MB) read by a consumer that takes 10 ms
    # (virtual) per event with an 8-event buffer: the buffer never holds more
    # than 8, and what the process allocates while the stream runs, beyond
    # the reply text itself (which the caller and the accumulated message
    # share), stays far below the size of the reply: the server is held back
    # by flow control instead of the body piling up in the client. The
    # baseline is taken at the first event, when the embedded server has
    # already rendered its whole reply (a server-side cost, not the client's).
    words = tuple(f" {i:04d}" + "x" * 4096 for i in range(600))
    total = sum(len(w) for w in words)
    server.provider.enqueue(Reply(text=words))
    async with sa.open_runtime() as rt:
        await _register(rt, server, kind)
        before = client_tasks()
        most_buffered = 0
        most_extra = 0
        seen = 0
        text: list[str] = []
        tracemalloc.start()
        try:
            base: int | None = None
            async with sa.open_stream(rt, "p", request(), buffer=8) as stream:
                async for message in stream:
                    if base is None:
                        base = _client_memory()
                    most_buffered = max(most_buffered, stream.statistics().current_buffer_used)
                    if isinstance(message, sa.ProviderChunk) and isinstance(
                        message.event, sa.TextDelta
                    ):
                        text.append(message.event.text)
                    elif isinstance(message, sa.ProviderDone):
                        assert message.error is None
                    await trio.sleep(0.01)
                    seen += 1
                    if seen % 50 == 0:  # a pile-up grows with the body: samples catch it
                        kept = sum(len(t) + 64 for t in text)
                        most_extra = max(most_extra, _client_memory() - base - kept)
        finally:
            tracemalloc.stop()
        assert "".join(text) == "".join(words)
        assert most_buffered <= 8
        assert most_extra < total // 4, (most_extra, total)
        await assert_no_leaks(rt, server.provider, before)
    await _after_runtime(server)
