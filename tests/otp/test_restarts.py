"""R1-R4 (restart types) and G1-G4 (strategies)."""

from __future__ import annotations

import pytest
import trio

from synapsis_actors.otp import ChildSpec, Shutdown, open_supervisor

from .probe import Probe, Token, settle


def running_tokens(sup) -> dict[object, Token]:  # type: ignore[no-untyped-def]
    return {c.id: c.value for c in sup.which_children() if c.state == "running"}


@pytest.mark.parametrize("how", ["exit", "shutdown", "crash"])
async def test_permanent_restarts_after_any_exit(how: str, autojump_clock: trio.abc.Clock) -> None:
    """R1: a permanent child restarts after normal exits too."""
    probe = Probe()
    async with open_supervisor([probe.spec("p", restart="permanent")]) as sup:
        before = sup.child("p").value
        await probe.tell("p", ValueError("boom") if how == "crash" else how)
        after = sup.child("p")
        assert after.state == "running"
        assert after.value != before  # a fresh incarnation
        assert after.restarts == 1
        assert probe.count("start", "p") == 2


@pytest.mark.parametrize(
    ("how", "restarted"), [("exit", False), ("shutdown", False), ("crash", True)]
)
async def test_transient_restarts_only_after_abnormal_exit(
    how: str, restarted: bool, autojump_clock: trio.abc.Clock
) -> None:
    """R2: transient restarts only after an abnormal exit; a normal exit keeps the spec."""
    probe = Probe()
    async with open_supervisor([probe.spec("t", restart="transient")]) as sup:
        await probe.tell("t", ValueError("boom") if how == "crash" else how)
        assert probe.count("start", "t") == (2 if restarted else 1)
        info = sup.child("t")  # spec kept either way
        assert info.state == ("running" if restarted else "stopped")


@pytest.mark.parametrize("how", ["exit", "crash"])
async def test_temporary_never_restarts_and_spec_is_dropped(
    how: str, autojump_clock: trio.abc.Clock
) -> None:
    """R3: temporary never restarts; its spec is dropped so the id can be added again."""
    probe = Probe()
    async with open_supervisor([probe.spec("keep"), probe.spec("tmp", restart="temporary")]) as sup:
        await probe.tell("tmp", ValueError("boom") if how == "crash" else how)
        assert probe.count("start", "tmp") == 1
        assert [c.id for c in sup.which_children()] == ["keep"]
        await sup.start_child(probe.spec("tmp", restart="temporary"))
        assert probe.count("start", "tmp") == 2


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_temporary_bystander_not_restarted(
    strategy: str, autojump_clock: trio.abc.Clock
) -> None:
    """R4: a temporary child stopped as a bystander of a group restart is not restarted."""
    probe = Probe()
    specs = [probe.spec("a"), probe.spec("tmp", restart="temporary"), probe.spec("c")]
    async with open_supervisor(specs, strategy=strategy) as sup:  # type: ignore[arg-type]
        await probe.crash("a")
        assert probe.count("stop", "tmp") == 1
        assert probe.count("start", "tmp") == 1
        assert [c.id for c in sup.which_children()] == ["a", "c"]
        assert probe.count("start", "c") == 2


async def test_one_for_one_restarts_only_the_failed_child(autojump_clock: trio.abc.Clock) -> None:
    """G1: siblings keep running untouched (same incarnation)."""
    probe = Probe()
    async with open_supervisor([probe.spec(i) for i in "abc"], strategy="one_for_one") as sup:
        before = running_tokens(sup)
        await probe.crash("b")
        after = running_tokens(sup)
        assert after["a"] == before["a"]
        assert after["c"] == before["c"]
        assert after["b"] != before["b"]
        assert probe.log[3:] == [("stop", "b"), ("start", "b")]


async def test_one_for_all_stops_reverse_restarts_in_order(autojump_clock: trio.abc.Clock) -> None:
    """G2: others stop in reverse start order, then all restart in start order."""
    probe = Probe()
    async with open_supervisor([probe.spec(i) for i in "abcd"], strategy="one_for_all") as sup:
        before = running_tokens(sup)
        del probe.log[:]
        await probe.crash("b")
        assert probe.log == [
            ("stop", "b"),
            ("stop", "d"), ("stop", "c"), ("stop", "a"),
            ("start", "a"), ("start", "b"), ("start", "c"), ("start", "d"),
        ]  # fmt: skip
        after = running_tokens(sup)
        assert all(after[i] != before[i] for i in "abcd")


async def test_rest_for_one_restarts_failed_and_later(autojump_clock: trio.abc.Clock) -> None:
    """G3: the failed child and later ones stop (reverse) and restart (order)."""
    probe = Probe()
    async with open_supervisor([probe.spec(i) for i in "abcd"], strategy="rest_for_one") as sup:
        before = running_tokens(sup)
        del probe.log[:]
        await probe.crash("b")
        assert probe.log == [
            ("stop", "b"), ("stop", "d"), ("stop", "c"),
            ("start", "b"), ("start", "c"), ("start", "d"),
        ]  # fmt: skip
        after = running_tokens(sup)
        assert after["a"] == before["a"]
        assert all(after[i] != before[i] for i in "bcd")
        assert [c.restarts for c in sup.which_children()] == [0, 1, 1, 1]


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
async def test_failed_restart_counts_and_is_retried(
    strategy: str, autojump_clock: trio.abc.Clock, events: list
) -> None:
    """G4: a child failing to start during a restart pass counts as a restart; retried."""
    probe = Probe()
    specs = [probe.spec(i) for i in "abc"]
    async with open_supervisor(specs, strategy=strategy, max_restarts=5) as sup:  # type: ignore[arg-type]
        probe.fail_start["c"] = 2  # the next two starts of c fail
        await probe.crash("c" if strategy == "one_for_one" else "b")
        assert probe.count("start_failed", "c") == 2
        assert sup.child("c").state == "running"
        restarted = [e for e in events if e.name == "child_restarted"]
        assert len(restarted) == 3  # the crash + two failed passes, each counted
        assert [e.child_id for e in restarted][1:] == ["c", "c"]


async def test_shutdown_signal_is_a_normal_exit(
    autojump_clock: trio.abc.Clock, events: list
) -> None:
    async def quits(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        raise Shutdown("done")

    async with open_supervisor([ChildSpec("q", quits, restart="transient")]) as sup:
        await settle()
        assert sup.child("q").state == "stopped"
    exited = [e for e in events if e.name == "child_exited"]
    assert not exited[0].abnormal
