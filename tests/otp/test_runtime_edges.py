"""Cross-cutting behaviour: what is not a failure, exceptions never grouped, telemetry."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from synapsis_actors.otp import (
    ChildSpec,
    TelemetryEvent,
    open_dynamic_supervisor,
    open_supervisor,
    open_task_supervisor,
    subscribe,
    telemetry,
)

from .probe import Probe


async def test_system_exit_is_not_a_child_failure(autojump_clock: trio.abc.Clock) -> None:
    """SystemExit (like KeyboardInterrupt, Cancelled) propagates; it is never restarted."""
    probe = Probe()

    async def exits(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(1)
        raise SystemExit(3)

    with pytest.raises(BaseExceptionGroup) as info:
        async with open_supervisor([probe.spec("a"), ChildSpec("exits", exits)]):
            await trio.sleep_forever()
    assert info.value.subgroup(SystemExit) is not None
    assert probe.log == [("start", "a"), ("stop", "a")]  # no restart, siblings stopped


@pytest.mark.parametrize("opener", [open_supervisor, open_dynamic_supervisor, open_task_supervisor])
async def test_body_exception_is_not_grouped(
    opener: object, autojump_clock: trio.abc.Clock
) -> None:
    with pytest.raises(KeyError):
        async with opener() as sup:  # type: ignore[operator]
            assert sup.running
            raise KeyError("from the body")
    assert not sup.running


async def test_intensity_from_open_task_of_dynamic_is_plain(autojump_clock: trio.abc.Clock) -> None:
    probe = Probe()
    from synapsis_actors import RestartIntensityExceeded

    with pytest.raises(RestartIntensityExceeded):
        async with open_dynamic_supervisor(max_restarts=0) as sup:
            await sup.start_child(probe.spec("a"))
            await probe.crash("a")
            await trio.sleep_forever()


async def test_telemetry_unsubscribe_and_failing_callback(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[TelemetryEvent] = []

    def broken(event: TelemetryEvent) -> None:
        raise RuntimeError("subscriber bug")

    unsubscribe = subscribe(seen.append)
    unsubscribe_broken = subscribe(broken)
    probe = Probe()
    caplog.set_level(logging.DEBUG, logger="synapsis_actors.otp")
    try:
        async with open_supervisor([probe.spec("a")], name="telemetry-test") as sup:
            await probe.crash("a")
            assert sup.running  # a failing subscriber never breaks the runtime
    finally:
        unsubscribe()
        unsubscribe_broken()
        unsubscribe()  # twice is harmless
    names = [e.name for e in seen]
    assert names == [
        "child_started", "child_exited", "child_restarted", "child_started",
        "child_exited", "shutdown",
    ]  # fmt: skip
    exited = seen[1]
    assert (exited.supervisor, exited.child_id, exited.abnormal) == ("telemetry-test", "a", True)
    assert seen[-2].reason == "shutdown"
    assert seen[-1].reason == "normal"
    assert telemetry._subscribers.callbacks == ()
    # the same events on the stdlib logger, crash at WARNING
    records = [r for r in caplog.records if r.name == "synapsis_actors.otp.telemetry"]
    assert any(r.levelno == logging.WARNING and "child_exited" in r.getMessage() for r in records)
    assert any("subscriber bug" in str(r.exc_info) for r in records if r.exc_info)
    count = len(seen)
    async with open_supervisor([probe.spec("b")]):
        pass
    assert len(seen) == count  # unsubscribed: nothing more


async def test_mock_clock_is_what_tests_use(autojump_clock: trio.abc.Clock) -> None:
    """I6: windows are tested on trio's MockClock (autojump); time jumps, nobody sleeps."""
    assert isinstance(autojump_clock, trio.testing.MockClock)
    t0 = trio.current_time()
    await trio.sleep(3600)
    assert trio.current_time() - t0 == pytest.approx(3600)
