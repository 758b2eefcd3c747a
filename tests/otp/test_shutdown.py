"""E3-E6: shutdown order, shutdown values, errors while stopping, management calls."""

from __future__ import annotations

import pytest
import trio

from synapsis_actors import ChildNotFound, ChildRunning, ShutdownTimeout, SupervisorNotRunning
from synapsis_actors.otp import ChildSpec, Supervisor, TelemetryEvent, open_supervisor

from .probe import Probe, settle


async def test_stop_is_one_at_a_time_in_reverse_order(autojump_clock: trio.abc.Clock) -> None:
    """E3: each child is fully stopped (its cleanup done) before the previous one is."""
    probe = Probe()
    probe.cleanup_seconds.update({"a": 1.0, "b": 1.0, "c": 1.0})
    async with open_supervisor([probe.spec(i) for i in "abc"]):
        pass
    assert [e for e in probe.log if e[0] == "stop"] == [("stop", "c"), ("stop", "b"), ("stop", "a")]


async def test_outer_cancellation_still_stops_in_reverse_order(
    autojump_clock: trio.abc.Clock,
) -> None:
    """E3 under cancellation: trio would cancel everything at once; the supervisor
    shields its children and stops them one by one."""
    probe = Probe()
    probe.cleanup_seconds.update({"a": 1.0, "b": 1.0, "c": 1.0})
    with trio.move_on_after(10) as scope:
        async with trio.open_nursery() as nursery:
            await nursery.start(Supervisor([probe.spec(i) for i in "abc"]).run)
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert [e for e in probe.log if e[0] == "stop"] == [("stop", "c"), ("stop", "b"), ("stop", "a")]


async def test_shutdown_timeout_gives_up_and_reports(
    autojump_clock: trio.abc.Clock, events: list[TelemetryEvent]
) -> None:
    """E4: a timeout T cancels, waits at most T, reports ShutdownTimeout, moves on."""
    probe = Probe()
    probe.cleanup_seconds["slow"] = 30.0
    async with open_supervisor([probe.spec("slow", shutdown=2.0), probe.spec("fast")]) as sup:
        t0 = trio.current_time()
        await sup.terminate_child("slow")
        assert trio.current_time() - t0 == pytest.approx(2.0)
        assert sup.child("slow").state == "stopped"
    [timeout] = [e for e in events if e.name == "shutdown_timeout"]
    assert timeout.child_id == "slow"
    assert isinstance(timeout.reason, ShutdownTimeout)


@pytest.mark.parametrize(("cleanup", "shutdown"), [(1.5, 5.0), (1000.0, "infinity")])
async def test_shutdown_waits_for_cleanup_within_its_limit(
    cleanup: float, shutdown: float | str, autojump_clock: trio.abc.Clock
) -> None:
    """E4: within T (or with infinity, however long) the child's cleanup completes."""
    probe = Probe()
    probe.cleanup_seconds["w"] = cleanup
    async with open_supervisor([probe.spec("w", shutdown=shutdown)]) as sup:
        t0 = trio.current_time()
        await sup.terminate_child("w")
        assert trio.current_time() - t0 == pytest.approx(cleanup)
        assert probe.log[-1] == ("stop", "w")


async def test_brutal_kill_gives_no_grace(autojump_clock: trio.abc.Clock) -> None:
    """E4: brutal_kill cancels and does not wait for the child's cleanup."""
    probe = Probe()
    probe.cleanup_seconds["w"] = 3.0
    async with open_supervisor([probe.spec("w", shutdown="brutal_kill")]) as sup:
        t0 = trio.current_time()
        await sup.terminate_child("w")
        assert trio.current_time() == t0
        assert ("stop", "w") not in probe.log  # its shielded cleanup still runs
        await trio.sleep(3.5)
        assert ("stop", "w") in probe.log


def test_shutdown_defaults() -> None:
    """E4: 5 s for workers, infinity for supervisors."""
    probe = Probe()
    assert probe.spec("w").shutdown == 5.0
    assert ChildSpec("s", Supervisor([]).run).shutdown == "infinity"
    assert Supervisor([]).child_spec().shutdown == "infinity"


async def test_error_while_stopping_is_reported_and_others_still_stop(
    autojump_clock: trio.abc.Clock, events: list[TelemetryEvent]
) -> None:
    """E5."""
    probe = Probe()
    err = RuntimeError("cleanup failed")
    probe.raise_on_stop["b"] = err
    async with open_supervisor([probe.spec(i) for i in "abc"]):
        pass
    assert [e for e in probe.log if e[0] == "stop"] == [("stop", "c"), ("stop", "b"), ("stop", "a")]
    reported = [e for e in events if e.name == "child_exited" and e.child_id == "b"]
    assert reported[0].reason is err
    assert reported[0].abnormal


async def test_terminate_keeps_spec_restart_delete(autojump_clock: trio.abc.Clock) -> None:
    """E6: terminate keeps the spec; restart_child works after it; deleting a running
    child is refused; unknown ids give not found."""
    probe = Probe()
    async with open_supervisor([probe.spec("a"), probe.spec("b")]) as sup:
        await sup.terminate_child("a")
        assert sup.child("a").state == "stopped"
        await settle()
        assert probe.count("start", "a") == 1  # a terminated permanent child stays down
        value = await sup.restart_child("a")
        assert sup.child("a").value == value
        assert probe.count("start", "a") == 2
        with pytest.raises(ChildRunning):
            await sup.restart_child("a")
        with pytest.raises(ChildRunning) as running:
            await sup.delete_child("b")
        assert running.value.child_id == "b"
        for call in (sup.terminate_child, sup.restart_child, sup.delete_child):
            with pytest.raises(ChildNotFound) as missing:
                await call("nope")
            assert missing.value.reason == "not_found"
        with pytest.raises(ChildNotFound):
            sup.child("nope")
        await sup.terminate_child("b")
        await sup.delete_child("b")
        assert [c.id for c in sup.which_children()] == ["a"]


async def test_terminate_temporary_drops_spec(autojump_clock: trio.abc.Clock) -> None:
    probe = Probe()
    async with open_supervisor([probe.spec("t", restart="temporary")]) as sup:
        await sup.terminate_child("t")
        assert sup.which_children() == []


async def test_calls_after_stop_raise_supervisor_not_running(
    autojump_clock: trio.abc.Clock,
) -> None:
    """D5 for static supervisors: a clear error, not a trio RuntimeError."""
    probe = Probe()
    async with open_supervisor([probe.spec("a")]) as sup:
        pass
    assert not sup.running
    with pytest.raises(SupervisorNotRunning):
        await sup.start_child(probe.spec("b"))
    with pytest.raises(SupervisorNotRunning):
        await sup.terminate_child("a")
    await sup.stop()  # idempotent


async def test_child_terminating_itself_does_not_deadlock(autojump_clock: trio.abc.Clock) -> None:
    handles: list[object] = []

    async def suicidal(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(1)
        await handles[0].terminate_child("s")  # type: ignore[attr-defined]

    async with open_supervisor([ChildSpec("s", suicidal)]) as sup:
        handles.append(sup)
        await trio.sleep(2)
        assert sup.child("s").state == "stopped"
