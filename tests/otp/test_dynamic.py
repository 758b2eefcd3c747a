"""D1-D5: dynamic and task supervisors."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from synapsis_actors import (
    ChildNotFound,
    InvalidChildSpec,
    MaxChildrenReached,
    RestartIntensityExceeded,
    StartError,
    SupervisorNotRunning,
    TaskCancelled,
)
from synapsis_actors.otp import (
    ChildSpec,
    DynamicSupervisor,
    TaskSupervisor,
    TelemetryEvent,
    open_dynamic_supervisor,
    open_supervisor,
    open_task_supervisor,
)

from .probe import Probe, settle


async def test_start_child_and_restart_in_place(autojump_clock: trio.abc.Clock) -> None:
    probe = Probe()
    async with open_dynamic_supervisor() as sup:
        a = await sup.start_child(probe.spec("a"))
        b = await sup.start_child(probe.spec("b", restart="transient"))
        first = a.value
        await probe.crash("a")
        assert a.state == "running"
        assert a.value != first
        assert a.restarts == 1
        await probe.tell("b", "exit")  # transient, normal exit: gone
        assert sup.children() == [a]
        assert b.state == "stopped"
        counts = sup.count_children()
        assert (counts.specs, counts.active, counts.workers) == (1, 1, 1)


async def test_max_children_refuses_and_starts_nothing(autojump_clock: trio.abc.Clock) -> None:
    """D1: at max_children start_child fails clearly, starting nothing."""
    probe = Probe()
    async with open_dynamic_supervisor(max_children=2) as sup:
        await sup.start_child(probe.spec("a"))
        await sup.start_child(probe.spec("b"))
        with pytest.raises(MaxChildrenReached) as info:
            await sup.start_child(probe.spec("c"))
        assert "max_children=2" in str(info.value)
        assert "c" not in probe.starts


async def test_restarting_child_keeps_its_slot(autojump_clock: trio.abc.Clock) -> None:
    """D1: while a child restarts (even a slow, failing restart), its slot is taken."""
    probe = Probe()
    async with open_dynamic_supervisor(max_children=1, max_restarts=10) as sup:
        a = await sup.start_child(probe.spec("a"))
        probe.fail_start["a"] = 3
        await probe.inbox["a"].send(ValueError("crash"))
        for _ in range(5):
            with pytest.raises(MaxChildrenReached):
                await sup.start_child(probe.spec("b"))
            await trio.sleep(0)
        await settle()
        assert a.state == "running"
        assert probe.count("start_failed", "a") == 3
        assert a.restarts == 4  # the crash + 3 failed restarts, each counted (G4)


async def test_failed_first_start_raises_and_keeps_nothing(autojump_clock: trio.abc.Clock) -> None:
    probe = Probe()
    probe.fail_start["x"] = 1
    async with open_dynamic_supervisor(max_children=1) as sup:
        with pytest.raises(StartError) as info:
            await sup.start_child(probe.spec("x"))
        assert info.value.child_id == "x"
        assert sup.children() == []
        await sup.start_child(probe.spec("y"))  # the slot is free


async def test_intensity_escalates(autojump_clock: trio.abc.Clock) -> None:
    probe = Probe()
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_dynamic_supervisor(max_restarts=1, name="dyn") as sup:
            await sup.start_child(probe.spec("a"))
            await sup.start_child(probe.spec("b"))
            await probe.crash("a")
            await probe.crash("b")
    assert info.value.supervisor == "dyn"
    assert info.value.child_id == "b"
    assert probe.count("stop", "a") == 2


async def test_children_stop_concurrently_each_with_its_own_timer(
    autojump_clock: trio.abc.Clock, events: list[TelemetryEvent]
) -> None:
    """D2: cleanups overlap; each child is held to its own shutdown."""
    probe = Probe()
    probe.cleanup_seconds.update({"a": 3.0, "b": 3.0, "slow": 100.0})
    async with open_dynamic_supervisor() as sup:
        await sup.start_child(probe.spec("a"))
        await sup.start_child(probe.spec("b"))
        await sup.start_child(probe.spec("slow", shutdown=4.0))
        t0 = trio.current_time()
        await sup.stop()
    # The cleanups ran side by side (not 3 + 3 + 4 s one after the other) ...
    exits = {e.child_id: e.timestamp - t0 for e in events if e.name == "child_exited"}
    assert exits["a"] == pytest.approx(3.0)
    assert exits["b"] == pytest.approx(3.0)
    # ... and the slow one was given up on after its own 4 s (trio cannot kill it:
    # the supervisor's nursery still waits for it to finish unwinding).
    [timeout] = [e for e in events if e.name == "shutdown_timeout"]
    assert timeout.child_id == "slow"
    assert timeout.timestamp - t0 == pytest.approx(4.0)
    assert exits["slow"] == pytest.approx(100.0)


async def test_nolink_failure_reaches_only_the_caller(autojump_clock: trio.abc.Clock) -> None:
    """D3: a failing task cancels neither the supervisor nor the caller; exactly one
    outcome (value or error)."""

    async def fails() -> None:
        await trio.sleep(1)
        raise KeyError("nope")

    async def works(x: int) -> int:
        await trio.sleep(2)
        return x * 2

    async with trio.open_nursery() as nursery:
        sup = await nursery.start(TaskSupervisor().run)
        bad = await sup.start_nolink(fails)
        good = await sup.start_nolink(works, 21)
        with pytest.raises(KeyError):
            await bad.result()
        with pytest.raises(KeyError):  # the same single outcome, again
            await bad.result()
        assert await good.result() == 42
        assert sup.running
        assert sup.children() == []
        nursery.cancel_scope.cancel()


async def test_nolink_task_outlives_an_impatient_caller(autojump_clock: trio.abc.Clock) -> None:
    """D4: a caller that stops waiting does not stop the task; it runs until terminated."""
    progress: list[int] = []

    async def ticker() -> str:
        for i in range(10):
            progress.append(i)
            await trio.sleep(1)
        return "finished"

    async with open_task_supervisor() as sup:
        task = await sup.start_nolink(ticker)
        with trio.move_on_after(2.5):
            await task.result()
        assert not task.done
        assert await task.result() == "finished"
        assert progress == list(range(10))

        endless = await sup.start_nolink(trio.sleep_forever)
        with trio.move_on_after(1):
            await endless.wait()
        assert endless.state == "running"
        await sup.terminate_child(endless)
        assert endless.done
        with pytest.raises(TaskCancelled):
            await endless.result()


async def test_tasks_are_temporary_with_five_second_shutdown(
    autojump_clock: trio.abc.Clock, events: list[TelemetryEvent]
) -> None:
    """D4: temporary, 5 s shutdown by default; terminate gives up after 5 s."""

    async def stubborn() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(60)

    async def fails() -> None:
        raise ValueError

    async with open_task_supervisor() as sup:
        crashing = await sup.start_nolink(fails)
        await crashing.wait()
        assert sup.children() == []  # never restarted
        task = await sup.start_nolink(stubborn)
        [info] = sup.which_children()
        assert (info.restart, info.shutdown) == ("temporary", 5.0)
        t0 = trio.current_time()
        await sup.terminate_child(task)
        assert trio.current_time() - t0 == pytest.approx(5.0)
        assert [e.child_id for e in events if e.name == "shutdown_timeout"] == [task.id]
        quick = await sup.start_nolink(stubborn, shutdown="brutal_kill")
        await sup.terminate_child(quick)
        assert trio.current_time() - t0 == pytest.approx(5.0)


async def test_cancel_and_wait(autojump_clock: trio.abc.Clock) -> None:
    async with open_task_supervisor() as sup:
        task = await sup.start_nolink(trio.sleep_forever)
        task.cancel()
        await task.wait()
        assert task.cancelled
        with pytest.raises(TaskCancelled):
            await task.result()
        with pytest.raises(ChildNotFound):
            await sup.terminate_child(task)  # already gone


async def test_supervisor_shutdown_cancels_tasks(autojump_clock: trio.abc.Clock) -> None:
    async with open_task_supervisor() as sup:
        task = await sup.start_nolink(trio.sleep_forever)
    assert task.cancelled
    assert not sup.running


async def test_start_after_shutdown_is_a_clear_error(autojump_clock: trio.abc.Clock) -> None:
    """D5."""
    probe = Probe()
    async with open_task_supervisor() as tasks:
        pass
    async with open_dynamic_supervisor() as dyn:
        pass
    with pytest.raises(SupervisorNotRunning):
        await tasks.start_nolink(trio.sleep, 1)
    with pytest.raises(SupervisorNotRunning):
        await dyn.start_child(probe.spec("a"))
    with pytest.raises(SupervisorNotRunning):
        await tasks.terminate_child(object())  # type: ignore[arg-type]


async def test_max_children_applies_to_tasks(autojump_clock: trio.abc.Clock) -> None:
    async with open_task_supervisor(max_children=1) as sup:
        first = await sup.start_nolink(trio.sleep, 1)
        with pytest.raises(MaxChildrenReached):
            await sup.start_nolink(trio.sleep, 1)
        await first.wait()
        await (await sup.start_nolink(trio.sleep, 1)).wait()


async def test_bad_task_function_and_flags(autojump_clock: trio.abc.Clock) -> None:
    def not_async() -> None:
        pass

    with pytest.raises(InvalidChildSpec) as info:
        DynamicSupervisor(max_children=-1)
    assert info.value.field == "max_children"
    async with open_task_supervisor() as sup:
        with pytest.raises(InvalidChildSpec) as bad_fn:
            await sup.start_nolink(not_async)  # type: ignore[arg-type]
        assert bad_fn.value.field == "fn"
        with pytest.raises(InvalidChildSpec):
            await sup.start_nolink(trio.sleep, 1, shutdown=-2)
        assert sup.children() == []


async def test_task_supervisor_under_a_supervisor(autojump_clock: trio.abc.Clock) -> None:
    """The provider layer's shape: a TaskSupervisor as a static supervisor's child."""
    tasks = TaskSupervisor(name="streams")
    async with open_supervisor([ChildSpec("streams", tasks.run)]) as root:
        assert root.child("streams").type == "supervisor"
        handle: Any = root.child("streams").value
        task = await handle.start_nolink(trio.sleep, 1)
        await task.result()
        assert task.done
