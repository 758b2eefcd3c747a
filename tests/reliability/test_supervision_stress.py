"""Supervision under stress: crash storms against the restart intensity, and
the provider registry actor killed again and again while traffic flows.

Time is ``trio.testing.MockClock`` (autojump): crash intervals and restart
windows are virtual seconds, so "exactly as configured" is checked to the
crash, with no real sleep.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import Reply, Step, open_embedded_provider
from synapsis_actors.otp import telemetry as otp_telemetry

from ._support import assert_no_leaks, client_tasks, config, request, run_stream

# (max_restarts, max_seconds, crash interval, crashes that trip it, or None: never trips)
STORMS = [
    (0, 5.0, 0.1, 1),  # I4: the first failure terminates
    (3, 5.0, 0.1, 4),  # the Elixir default: the 4th crash within 5 s trips
    (10, 1.0, 0.05, 11),  # 11 crashes in 0.55 s
    (3, 1.0, 0.3, 4),  # the 4th crash (1.2 s) still has the other three within 1 s
    (3, 1.0, 0.34, None),  # never more than 3 within any 1 s: a storm of 200 never trips
    (5, 2.0, 0.41, None),  # at most 5 within 2 s: 200 crashes, no trip
]


class Crash(Exception):
    pass


@pytest.mark.parametrize(("max_restarts", "max_seconds", "interval", "trips_at"), STORMS)
async def test_crash_storm_trips_the_intensity_exactly_as_configured(
    max_restarts: int,
    max_seconds: float,
    interval: float,
    trips_at: int | None,
    autojump_clock: trio.testing.MockClock,
) -> None:
    starts = 0
    sibling_starts = 0
    events: list[otp_telemetry.TelemetryEvent] = []

    async def crasher(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal starts
        starts += 1
        task_status.started()
        await trio.sleep(interval)
        raise Crash(starts)

    async def sibling(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal sibling_starts
        sibling_starts += 1
        task_status.started()
        await trio.sleep_forever()

    children = [sa.ChildSpec("sibling", sibling), sa.ChildSpec("crasher", crasher)]
    storm = 200 if trips_at is None else trips_at
    start = trio.current_time()
    with otp_telemetry.subscribed(events.append):
        if trips_at is None:
            async with sa.open_supervisor(
                children, max_restarts=max_restarts, max_seconds=max_seconds, name="storm"
            ) as sup:
                await trio.sleep(storm * interval + interval / 2)
                assert sup.child("crasher").restarts == storm
                assert sup.child("sibling").state == "running"
        else:
            with pytest.raises(sa.RestartIntensityExceeded) as info:
                async with sa.open_supervisor(
                    children, max_restarts=max_restarts, max_seconds=max_seconds, name="storm"
                ):
                    await trio.sleep_forever()
            error = info.value
            assert error.child_id == "crasher"
            assert error.max_restarts == max_restarts
            assert error.max_seconds == max_seconds
            assert isinstance(error.last_failure, Crash)
            assert error.last_failure.args == (trips_at,)
            # it tripped on the crash it had to, not a moment later
            assert trio.current_time() - start == pytest.approx(trips_at * interval)
    restarted = [e for e in events if e.name == "child_restarted"]
    assert starts == storm + (1 if trips_at is None else 0)
    assert len(restarted) == storm - (0 if trips_at is None else 1)
    assert {e.child_id for e in restarted} <= {"crasher"}
    assert sibling_starts == 1  # one_for_one: the sibling was never touched
    assert len([e for e in events if e.name == "intensity_exceeded"]) == (trips_at is not None)


async def test_registry_killed_mid_traffic_loses_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Streams, reads and registrations run while the registry actor is killed
    four times (2 s apart: within the runtime's 3 restarts in 5 s). Nothing
    fails: every ``get`` answers, every registration lands, every stream
    completes; the actor is restarted each time and the stream supervisor
    never is."""
    rng = random.Random(11)
    names = [f"p{i}" for i in range(8)]
    kills = 4
    failures: list[BaseException] = []
    reads = 0
    streams = 0
    registered: list[str] = []
    async with open_embedded_provider() as server, sa.open_runtime() as rt:
        server.set_default(Step(reply=Reply(text="steady under fire"), delay=0.05))
        for i, name in enumerate(names):
            kind = ("anthropic", "openai")[i % 2]
            # plain HTTP: skip loading the CA bundle for each of the many clients
            await rt.providers.register(name, config(server, kind, verify=False))
        before = client_tasks()
        stop = trio.Event()

        async def reader() -> None:
            nonlocal reads
            while not stop.is_set():
                try:
                    for name in names:
                        assert rt.providers.get(name).api_key is not None
                    assert set(names) <= set(rt.providers.list())
                except BaseException as exc:  # the test reports every failure
                    failures.append(exc)
                reads += 1
                await trio.sleep(0.01)

        async def streamer() -> None:
            nonlocal streams
            while not stop.is_set():
                out = await run_stream(rt, rng.choice(names), request())
                if out.error is not None or out.done.message.text != "steady under fire":
                    failures.append(AssertionError(repr(out.done)))
                streams += 1
                await trio.sleep(0.25)

        async def registrar() -> None:
            for i in range(kills * 2):
                name = f"late{i}"
                await rt.providers.register(name, config(server, "openai", verify=False))
                registered.append(name)
                await trio.sleep(0.9)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            for _ in range(3):
                nursery.start_soon(streamer)
            nursery.start_soon(registrar)
            for _ in range(kills):
                await trio.sleep(2.0)
                reads_then, streams_then = reads, streams
                await rt.crash_registry("killed mid-traffic")
                assert set(names) <= set(rt.providers.list())
                # traffic kept flowing across the restart
                while reads == reads_then or streams == streams_then:
                    await trio.sleep(0.01)
            while len(registered) < kills * 2:
                await trio.sleep(0.1)
            stop.set()
        assert failures == []
        assert reads > 100
        assert streams > 20
        stats = rt.statistics()
        assert stats.registry_restarts == kills
        assert rt.supervisor.child("stream_tasks").restarts == 0
        assert set(rt.providers.list()) == set(names) | set(registered)
        assert len(registered) == kills * 2
        await assert_no_leaks(rt, server, before)
