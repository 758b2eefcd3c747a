"""C1-C4: cancellation, exactly one terminal message, backpressure, isolation.

Closing is checked from the server's side: over HTTP/1.1 the server sees its
TCP connection close; over HTTP/2 it sees the stream reset (the connection
may stay pooled for other streams), i.e. the response outcome "disconnected".
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step

from ._helpers import Served, assert_nothing_left, collect, hello, server_saw_close

LONG = Step(reply=Reply(text="word " * 400), delay=0.01)


async def _first_text(stream: sa.Stream) -> None:
    async for msg in stream:
        if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
            return
    raise AssertionError("no text")


async def test_c1_leaving_the_block_early_closes_the_response(
    served: Served, rt: sa.Runtime
) -> None:
    served.server.enqueue(LONG)
    await rt.providers.register("local", served.config())
    async with sa.open_stream(rt, "local", hello()) as stream:
        await _first_text(stream)
    # open_stream returned only after the task ended
    assert_nothing_left(rt)
    await server_saw_close(served)


async def test_c1_cancelling_the_caller_closes_the_response(served: Served, rt: sa.Runtime) -> None:
    served.server.enqueue(LONG)
    await rt.providers.register("local", served.config())
    with trio.CancelScope() as scope:
        async with sa.open_stream(rt, "local", hello()) as stream:
            await _first_text(stream)
            scope.cancel()
            await collect(stream)  # raises Cancelled at the next checkpoint
    assert scope.cancelled_caught
    assert_nothing_left(rt)
    await server_saw_close(served)


async def test_c1_cancel_ref_ends_the_task_and_the_reader_gets_done(
    served: Served, rt: sa.Runtime
) -> None:
    served.server.enqueue(LONG)
    await rt.providers.register("local", served.config())
    messages: list[object] = []
    async with sa.open_stream(rt, "local", hello()) as stream:
        await _first_text(stream)
        assert await rt.cancel(stream.ref) is True
        messages = await collect(stream)
        assert await rt.cancel(stream.ref) is False  # already ended
    dones = [m for m in messages if isinstance(m, sa.ProviderDone)]
    assert len(dones) == 1
    assert messages[-1] is dones[0]
    assert isinstance(dones[0].error, sa.StreamCancelled)
    assert dones[0].ref == stream.ref
    assert dones[0].stop_reason is None
    assert dones[0].message.text  # the partial reply so far
    assert_nothing_left(rt)
    await server_saw_close(served)


async def test_c1_cancel_from_another_task(http1: Served, rt: sa.Runtime) -> None:
    http1.server.enqueue(LONG)
    await rt.providers.register("local", http1.config())
    refs: list[sa.StreamRef] = []
    started = trio.Event()

    async def reader() -> list[object]:
        async with sa.open_stream(rt, "local", hello()) as stream:
            refs.append(stream.ref)
            await _first_text(stream)
            started.set()
            return await collect(stream)

    result: list[list[object]] = []
    async with trio.open_nursery() as nursery:

        async def run_reader() -> None:
            result.append(await reader())

        nursery.start_soon(run_reader)
        await started.wait()
        await rt.cancel(refs[0])
    done = result[0][-1]
    assert isinstance(done, sa.ProviderDone)
    assert isinstance(done.error, sa.StreamCancelled)
    await server_saw_close(http1)


FAULTS = [
    None,
    Fault(status=400),
    Fault(drop_after=4),
    Fault(error_event_at=4),
    Fault(malformed_at=4),
    Fault(truncate=True),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: repr(f)[:40])
async def test_c2_exactly_one_done_whatever_happens(
    fault: Fault | None, http1: Served, rt: sa.Runtime
) -> None:
    if fault is not None:
        http1.server.enqueue(Step(reply=Reply(text="a b c d e f"), fault=fault))
    await rt.providers.register("local", http1.config())
    async with sa.open_stream(rt, "local", hello()) as stream:
        messages = await collect(stream)
    dones = [m for m in messages if isinstance(m, sa.ProviderDone)]
    assert len(dones) == 1
    assert messages[-1] is dones[0]
    assert (dones[0].error is None) == (fault is None)
    if fault is not None and fault.malformed_at is not None:
        assert isinstance(dones[0].error, sa.InvalidStreamData)
    if fault is not None and (fault.truncate or fault.drop_after is not None):
        assert isinstance(dones[0].error, sa.StreamInterrupted)


async def test_c2_unexpected_crash_still_yields_a_typed_done(http1: Served, rt: sa.Runtime) -> None:
    # A tool schema httpx cannot serialize: the task raises TypeError while
    # building the request. That is a bug-shaped failure, not a provider error.
    request = hello(tools=[sa.Tool(name="t", input_schema={"type": "object", "x": object()})])
    await rt.providers.register("local", http1.config())
    async with sa.open_stream(rt, "local", request) as stream:
        messages = await collect(stream)
    assert len(messages) == 1
    done = messages[0]
    assert isinstance(done, sa.ProviderDone)
    assert isinstance(done.error, sa.ProviderError)
    assert isinstance(done.error.__cause__, TypeError)
    assert done.error.provider == "local"
    with pytest.raises(sa.ProviderError):
        await sa.complete(rt, "local", request)
    assert http1.server.requests == []


async def test_c3_slow_consumer_slows_the_server(served: Served, rt: sa.Runtime) -> None:
    # 3000 events of ~2 KB (6 MB): more than socket buffers and HTTP/2 windows hold.
    words = tuple(f" {i:05d}" + "x" * 2000 for i in range(3000))
    served.server.enqueue(Reply(text=words))
    await rt.providers.register("local", served.config())
    async with sa.open_stream(rt, "local", hello(), buffer=8) as stream:
        received = [await stream.__anext__() for _ in range(20)]
        await trio.sleep(0.2)  # the caller is busy: the task must be blocked on the channel
        stats = stream.statistics()
        assert stats.current_buffer_used == 8
        assert stats.tasks_waiting_send == 1
        assert served.server.responses == []  # the server could not finish: it is held back
        received += await collect(stream)
    done = received[-1]
    assert isinstance(done, sa.ProviderDone)
    assert done.error is None
    assert done.message.text == "".join(words)


async def test_c4_a_failed_stream_never_cancels_the_caller_or_the_supervisor(
    http1: Served, rt: sa.Runtime
) -> None:
    await rt.providers.register("local", http1.config())
    crash = hello(tools=[sa.Tool(name="t", input_schema={"x": object()})])
    ticks = 0

    async def sibling() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sibling)
        for _ in range(3):
            async with sa.open_stream(rt, "local", crash) as stream:
                await collect(stream)
        nursery.cancel_scope.cancel()
    assert ticks > 0
    # the task supervisor never restarted, the runtime still streams
    tasks = rt.supervisor.child("stream_tasks")
    assert tasks.state == "running"
    assert tasks.restarts == 0
    assert (await sa.complete(rt, "local", hello())).text


async def test_c1_h2_reset_spares_the_other_streams_on_the_connection(
    h2: Served, rt: sa.Runtime
) -> None:
    served = h2
    await rt.providers.register("local", served.config())
    # settle one connection first, so both streams multiplex on it
    assert (await sa.complete(rt, "local", hello())).text
    served.server.enqueue(LONG)
    served.server.enqueue(Step(reply=Reply(text="the survivor speaks"), delay=0.01))
    survivor: list[sa.AssistantMessage] = []

    async def keep() -> None:
        async with sa.open_stream(rt, "local", hello("second")) as stream:
            async for msg in stream:
                if isinstance(msg, sa.ProviderDone):
                    assert msg.error is None
                    survivor.append(msg.message)

    async with (
        trio.open_nursery() as nursery,
        sa.open_stream(rt, "local", hello("first")) as stream,
    ):
        await _first_text(stream)
        nursery.start_soon(keep)
        await served.server.wait_requests(3)
        # leaving the block resets the first stream while the second one runs
    assert survivor[0].text == "the survivor speaks"
    assert served.server.total_connections == 1
    outcomes = sorted(r.outcome for r in served.server.responses)
    assert outcomes == ["complete", "complete", "disconnected"]
