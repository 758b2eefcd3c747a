"""L1, L2: connect, first-event and content-idle limits, on trio's MockClock.

The server's pacing (header delays, stalls, keep-alive pings) sleeps on the
same virtual clock, so the limits trip in virtual time; the tests never
measure wall-clock time. Each stalled stream's connection must be closed as
the server sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step

from ._helpers import Served, hello, server_saw_close


async def _run(rt: sa.Runtime, name: str) -> tuple[list[sa.ProviderChunk], sa.ProviderDone]:
    chunks: list[sa.ProviderChunk] = []
    async with sa.open_stream(rt, name, hello()) as stream:
        async for msg in stream:
            if isinstance(msg, sa.ProviderDone):
                return chunks, msg
            chunks.append(msg)
    raise AssertionError("no ProviderDone")


async def test_l1_first_event_limit_on_slow_headers(
    served: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    served.server.enqueue(Fault(header_delay=60))
    await rt.providers.register("local", served.config(first_event_timeout=5.0, max_retries=0))
    start = trio.current_time()
    chunks, done = await _run(rt, "local")
    assert isinstance(done.error, sa.StreamStalled)
    assert done.error.limit == "first_event"
    assert done.error.seconds == 5.0
    assert chunks == []
    assert 5.0 <= trio.current_time() - start < 60.0
    await server_saw_close(served)


async def test_l1_slow_headers_count_as_read_timeout_and_are_retried(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    http1.server.enqueue(Fault(header_delay=60))
    await rt.providers.register("local", http1.config(first_event_timeout=5.0))
    assert (await sa.complete(rt, "local", hello())).text
    assert len(http1.server.requests) == 2


async def test_l1_pings_do_not_count_as_first_event(
    served: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    # Only keep-alive pings for 60 s: the first-event limit (5 s) still trips.
    served.server.enqueue(
        Step(reply=Reply(text="late"), fault=Fault(stall_after=0, stall_for=60, keepalive_every=1))
    )
    await rt.providers.register("local", served.config(first_event_timeout=5.0, max_retries=0))
    chunks, done = await _run(rt, "local")
    assert isinstance(done.error, sa.StreamStalled)
    assert done.error.limit == "first_event"
    assert chunks
    assert all(isinstance(c.event, sa.Ping) for c in chunks)
    await server_saw_close(served)


async def test_l1_l2_idle_limit_pings_do_not_reset_it(
    served: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    # 5 events, then only pings (every 1 s) for 60 s: idle limit 3 s trips.
    served.server.enqueue(
        Step(
            reply=Reply(text="one two three four five six"),
            fault=Fault(stall_after=5, stall_for=60, keepalive_every=1),
        )
    )
    await rt.providers.register("local", served.config(idle_timeout=3.0))
    chunks, done = await _run(rt, "local")
    assert isinstance(done.error, sa.StreamStalled)
    assert done.error.limit == "idle"
    assert done.error.seconds == 3.0
    events = [c.event for c in chunks]
    last_content = max(i for i, e in enumerate(events) if not isinstance(e, sa.Ping))
    # pings kept arriving after the last content event, and did not save the stream
    assert any(isinstance(e, sa.Ping) for e in events[last_content + 1 :])
    assert done.message.text == "".join(e.text for e in events if isinstance(e, sa.TextDelta))
    assert len(served.server.requests) == 1  # never retried after the first event (T4)
    await server_saw_close(served)


async def test_l1_content_keeps_a_slow_stream_alive(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    # One event every 2 s for ~50 s: far longer in total than the idle limit
    # (5 s) but never without content that long (a ping between two deltas
    # makes a 4 s gap), so it completes.
    http1.server.enqueue(Step(reply=Reply(text="w " * 20), delay=2.0))
    await rt.providers.register("local", http1.config(idle_timeout=5.0, first_event_timeout=5.0))
    start = trio.current_time()
    reply = await sa.complete(rt, "local", hello())
    assert reply.text == "w " * 20
    assert trio.current_time() - start > 30.0


@pytest.fixture
async def black_hole() -> AsyncIterator[int]:
    """A TCP listener that accepts and never says a word (a TLS handshake never completes)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    held: list[trio.SocketStream] = []

    async def serve() -> None:
        while True:
            held.append(await listeners[0].accept())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        yield port
        nursery.cancel_scope.cancel()
    for stream in held:
        await trio.aclose_forcefully(stream)
    await trio.aclose_forcefully(listeners[0])


async def test_l1_l2_connect_limit(
    black_hole: int, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    config = sa.ProviderConfig(
        kind="anthropic",
        base_url=f"https://127.0.0.1:{black_hole}",
        api_key="k",
        connect_timeout=4.0,
        max_retries=1,
    )
    await rt.providers.register("hole", config)
    start = trio.current_time()
    with pytest.raises(sa.StreamStalled) as info:
        await sa.complete(rt, "hole", hello())
    assert info.value.limit == "connect"
    assert info.value.seconds == 4.0
    assert trio.current_time() - start >= 8.0  # two attempts of 4 s each
