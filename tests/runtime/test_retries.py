"""T1-T4 against the embedded provider: statuses, headers, dropped connections.

Backoff sleeps run on ``trio.testing.MockClock`` (autojump), so virtual time
is asserted, never wall-clock durations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step
from synapsis_actors.runtime import telemetry

from ._helpers import Served, hello

RETRYABLE = [408, 409, 429, 500, 502, 503, 504, 529]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, data: Mapping[str, Any]) -> None:
        self.events.append((name, dict(data)))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]


@pytest.fixture
def recorder() -> Any:
    rec = Recorder()
    with telemetry.subscribed(rec):
        yield rec


@pytest.mark.parametrize("status", RETRYABLE)
async def test_t1_retryable_status_then_success(
    status: int, http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    http1.server.enqueue(Fault(status=status))
    http1.server.enqueue(Reply(text="second time lucky"))
    await rt.providers.register("local", http1.config())
    reply = await sa.complete(rt, "local", hello())
    assert reply.text == "second time lucky"
    assert len(http1.server.requests) == 2
    assert http1.server.responses[0].status == status


async def test_t1_retries_over_both_transports(
    served: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    served.server.enqueue(Fault(status=529), times=2)
    await rt.providers.register("local", served.config())
    assert (await sa.complete(rt, "local", hello("ping"))).text
    assert len(served.server.requests) == 3
    assert served.server.http_versions == {served.http_version}


async def test_t1_non_retryable_status_fails_at_once(http1: Served, rt: sa.Runtime) -> None:
    http1.server.enqueue(Fault(status=400))
    await rt.providers.register("local", http1.config())
    with pytest.raises(sa.BadRequest) as info:
        await sa.complete(rt, "local", hello())
    assert info.value.status == 400
    assert info.value.provider == "local"
    assert info.value.request_id  # the server's request-id header
    assert len(http1.server.requests) == 1


async def test_t1_x_should_retry_overrides(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    await rt.providers.register("local", http1.config())
    http1.server.enqueue(Fault(status=503, should_retry=False))
    with pytest.raises(sa.ServerError):
        await sa.complete(rt, "local", hello())
    assert len(http1.server.requests) == 1

    http1.server.enqueue(Fault(status=400, should_retry=True))
    assert (await sa.complete(rt, "local", hello())).text
    assert len(http1.server.requests) == 3
    assert http1.server.responses[1].status == 400


async def test_t1_connection_dropped_before_the_first_byte_is_retried(
    served: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    served.server.enqueue(Fault(drop_after=0))
    await rt.providers.register("local", served.config())
    reply = await sa.complete(rt, "local", hello("again"))
    assert reply.text
    assert len(served.server.requests) == 2
    assert served.server.responses[0].outcome == "dropped"


async def test_t1_connection_refused_is_retried_then_reported(
    rt: sa.Runtime, autojump_clock: trio.testing.MockClock, recorder: Recorder
) -> None:
    # A port nobody listens on: bind one, learn its number, close it.
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = sa.ProviderConfig(kind="anthropic", base_url=f"http://127.0.0.1:{port}", api_key="k")
    await rt.providers.register("down", config)
    with pytest.raises(sa.APIConnectionError, match="ConnectError") as info:
        await sa.complete(rt, "down", hello())
    assert info.value.provider == "down"
    assert len(recorder.named("provider.request.retry")) == 2  # 3 attempts


async def test_t2_server_delay_is_honoured(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock, recorder: Recorder
) -> None:
    http1.server.enqueue(Fault(status=429, retry_after_ms=1500, retry_after=9))
    http1.server.enqueue(Fault(status=503, retry_after=2.5))
    await rt.providers.register("local", http1.config(max_retries=3))
    start = trio.current_time()
    assert (await sa.complete(rt, "local", hello())).text
    delays = [data["delay"] for data in recorder.named("provider.request.retry")]
    assert delays == [1.5, 2.5]
    assert trio.current_time() - start >= 4.0  # virtual time: MockClock


async def test_t2_http_date_retry_after(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock, recorder: Recorder
) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    http1.server.enqueue(Fault(status=503, retry_after=when))
    await rt.providers.register("local", http1.config())
    assert (await sa.complete(rt, "local", hello())).text
    (retry,) = recorder.named("provider.request.retry")
    assert 25 <= retry["delay"] <= 31


async def test_t2_backoff_without_server_delay(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock, recorder: Recorder
) -> None:
    http1.server.enqueue(Fault(status=500), times=2)
    await rt.providers.register("local", http1.config())
    assert (await sa.complete(rt, "local", hello())).text
    delays = [data["delay"] for data in recorder.named("provider.request.retry")]
    assert len(delays) == 2
    assert 0.375 <= delays[0] <= 0.5  # 0.5 s with jitter in (0.75, 1]
    assert 0.75 <= delays[1] <= 1.0


@pytest.mark.parametrize(
    ("header", "reported"),
    [
        (2.5, 2.5),
        ("inf", None),
        ("-5", None),
        ("soon", None),
        (dt.timedelta(hours=-1), 0.0),  # a past date: "now"
        (dt.timedelta(seconds=30), 30.0),  # a future date
    ],
    ids=["seconds", "inf", "negative", "garbage", "past-date", "future-date"],
)
async def test_t2_error_retry_after_is_the_delay_the_policy_read(
    header: float | str | dt.timedelta,
    reported: float | None,
    http1: Served,
    rt: sa.Runtime,
    autojump_clock: trio.testing.MockClock,
    recorder: Recorder,
) -> None:
    value = dt.datetime.now(dt.UTC) + header if isinstance(header, dt.timedelta) else header
    http1.server.set_default(Fault(status=429, retry_after=value))
    await rt.providers.register("local", http1.config(max_retries=1))
    with pytest.raises(sa.RateLimited) as info:
        await sa.complete(rt, "local", hello())
    (retry,) = recorder.named("provider.request.retry")
    if reported is None:
        assert info.value.retry_after is None
    elif reported > 0 and isinstance(header, dt.timedelta):
        # a future HTTP date has whole seconds and is read against the wall clock
        assert info.value.retry_after == pytest.approx(reported, abs=1.5)
    else:
        assert info.value.retry_after == reported
    if info.value.retry_after:  # a positive delay: waited for, the same one reported
        assert retry["delay"] == pytest.approx(info.value.retry_after, abs=1.5)
    else:  # none, or "now": exponential backoff (0.5 s with jitter)
        assert 0.375 <= retry["delay"] <= 0.5


async def test_t2_retry_after_ms_wins_end_to_end(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock, recorder: Recorder
) -> None:
    http1.server.set_default(Fault(status=429, retry_after_ms=1500, retry_after=9))
    await rt.providers.register("local", http1.config(max_retries=1))
    with pytest.raises(sa.RateLimited) as info:
        await sa.complete(rt, "local", hello())
    (retry,) = recorder.named("provider.request.retry")
    assert retry["delay"] == info.value.retry_after == 1.5


@pytest.mark.parametrize(("status", "error"), [(429, sa.RateLimited), (503, sa.ServerError)])
async def test_t2_delay_over_the_cap_is_not_waited_for(
    status: int, error: type[sa.APIStatusError], http1: Served, rt: sa.Runtime
) -> None:
    http1.server.enqueue(Fault(status=status, retry_after=120))
    await rt.providers.register("local", http1.config())
    with pytest.raises(error) as info:
        await sa.complete(rt, "local", hello())
    assert info.value.retry_after == 120.0
    assert info.value.status == status
    assert len(http1.server.requests) == 1


async def test_t2_cap_is_configurable(http1: Served, rt: sa.Runtime) -> None:
    http1.server.enqueue(Fault(status=429, retry_after=6))
    await rt.providers.register("local", http1.config(max_retry_delay=5.0))
    with pytest.raises(sa.RateLimited) as info:
        await sa.complete(rt, "local", hello())
    assert info.value.retry_after == 6.0


@pytest.mark.parametrize(("max_retries", "attempts"), [(None, 3), (0, 1), (4, 5)])
async def test_t3_attempts(
    max_retries: int | None,
    attempts: int,
    http1: Served,
    rt: sa.Runtime,
    autojump_clock: trio.testing.MockClock,
) -> None:
    http1.server.set_default(Fault(status=529))
    kw = {} if max_retries is None else {"max_retries": max_retries}
    await rt.providers.register("local", http1.config(**kw))
    with pytest.raises(sa.Overloaded):
        await sa.complete(rt, "local", hello())
    assert len(http1.server.requests) == attempts


async def test_t4_no_retry_after_the_first_event(served: Served, rt: sa.Runtime) -> None:
    # message_start, usage, block start, 3 text deltas... then the connection drops.
    served.server.enqueue(
        # paced, so the first events reach the client before the abort
        # (an abort discards data the client's kernel has not handed over yet)
        Step(
            reply=Reply(text=("one", " two", " three", " four", " five")),
            fault=Fault(drop_after=7),
            delay=0.02,
        )
    )
    await rt.providers.register("local", served.config())
    seen: list[str] = []
    async with sa.open_stream(rt, "local", hello()) as stream:
        async for msg in stream:
            if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
                seen.append(msg.event.text)
            elif isinstance(msg, sa.ProviderDone):
                done = msg
    assert isinstance(done.error, sa.StreamInterrupted)
    assert seen  # some deltas reached the caller ...
    assert done.error.partial.text == "".join(seen) == done.message.text
    assert done.stop_reason is None
    assert len(served.server.requests) == 1  # ... so nothing was replayed


async def test_t4_error_event_after_200_is_typed_and_not_retried(
    served: Served, rt: sa.Runtime
) -> None:
    served.server.enqueue(Step(reply=Reply(text="a b c d"), fault=Fault(error_event_at=5)))
    await rt.providers.register("local", served.config())
    with pytest.raises(sa.Overloaded) as info:
        await sa.complete(rt, "local", hello())
    assert info.value.provider == "local"
    assert len(served.server.requests) == 1
