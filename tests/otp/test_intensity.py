"""I1-I6 (restart intensity) and E1-E2 (escalation). Time is trio's MockClock."""

from __future__ import annotations

import pytest
import trio

from synapsis_actors import RestartIntensityExceeded
from synapsis_actors.otp import ChildSpec, Supervisor, open_supervisor

from .probe import Probe


async def test_intensity_is_pooled_over_children(autojump_clock: trio.abc.Clock) -> None:
    """I1: two children crashing twice each exceed max_restarts=3 together."""
    probe = Probe()
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_supervisor([probe.spec("a"), probe.spec("b")], max_restarts=3) as sup:
            await probe.crash("a")
            await probe.crash("b")
            await probe.crash("a")
            assert sup.running  # 3 restarts: allowed
            await probe.crash("b")  # the 4th, within the window
            pytest.fail("the block must be cancelled")  # pragma: no cover
    assert info.value.child_id == "b"


async def test_max_restarts_allowed_then_one_more_terminates(
    autojump_clock: trio.abc.Clock,
) -> None:
    """I2 + E1: max_restarts within max_seconds allowed; one more stops everything in
    reverse order and raises, naming the supervisor and the last failure."""
    probe = Probe()
    specs = [probe.spec("a"), probe.spec("b"), probe.spec("c")]
    boom = ValueError("last straw")
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_supervisor(specs, max_restarts=2, max_seconds=10, name="top") as sup:
            for _ in range(2):
                await probe.crash("b")
                await trio.sleep(1)
            assert sup.child("b").restarts == 2
            del probe.log[:]
            await probe.crash("b", boom)
    error = info.value
    assert error.supervisor == "top"
    assert error.last_failure is boom
    assert error.child_id == "b"
    assert (error.max_restarts, error.max_seconds) == (2, 10)
    assert "top" in str(error)
    assert "last straw" in str(error)
    assert probe.log == [("stop", "b"), ("stop", "c"), ("stop", "a")]


async def test_old_restarts_drop_out_of_the_window(autojump_clock: trio.abc.Clock) -> None:
    """I3: restarts older than max_seconds do not count."""
    probe = Probe()
    async with open_supervisor([probe.spec("a")], max_restarts=2, max_seconds=5) as sup:
        for _ in range(10):  # 10 crashes, 3 s apart: never more than 2 in 5 s
            await probe.crash("a")
            await trio.sleep(3)
        assert sup.running
        assert sup.child("a").restarts == 10


async def test_max_restarts_zero_first_failure_terminates(autojump_clock: trio.abc.Clock) -> None:
    """I4."""
    probe = Probe()
    with pytest.raises(RestartIntensityExceeded):
        async with open_supervisor([probe.spec("a")], max_restarts=0):
            await probe.crash("a")
    assert probe.count("start", "a") == 1


def test_defaults_follow_elixir() -> None:
    """I5: 3 restarts in 5 seconds; one_for_one."""
    sup = Supervisor([])
    assert (sup.strategy, sup.max_restarts, sup.max_seconds) == ("one_for_one", 3, 5.0)


async def test_default_window_with_mock_clock(autojump_clock: trio.abc.Clock) -> None:
    """I5 + I6: with the defaults, 3 quick crashes pass, a 4th within 5 s does not;
    time is the autojump MockClock (no real sleeps anywhere in tests/otp)."""
    probe = Probe()
    start = trio.current_time()
    with pytest.raises(RestartIntensityExceeded):
        async with open_supervisor([probe.spec("a")]) as sup:
            for _ in range(3):
                await probe.crash("a")
            assert sup.running
            await trio.sleep(4.9)
            await probe.crash("a")
    assert trio.current_time() - start < 5.0


async def test_escalation_reaches_parent_nursery_as_plain_exception(
    autojump_clock: trio.abc.Clock,
) -> None:
    """E1: the error reaches the parent nursery (plain, not an ExceptionGroup)."""
    probe = Probe()
    sup = Supervisor([probe.spec("a")], max_restarts=0, name="solo")
    with pytest.raises(ExceptionGroup) as group:
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await probe.crash("a")
    [error] = group.value.exceptions  # the nursery wraps it once, as trio does for any task
    assert isinstance(error, RestartIntensityExceeded)

    async def run_and_catch() -> RestartIntensityExceeded | None:
        try:
            await Supervisor([probe.spec("b")], max_restarts=0).run()
        except RestartIntensityExceeded as exc:  # what run() itself raises: no group
            return exc
        return None

    async with trio.open_nursery() as nursery:
        result: list[RestartIntensityExceeded | None] = []

        async def go() -> None:
            result.append(await run_and_catch())

        nursery.start_soon(go)
        await trio.sleep(1)
        await probe.crash("b")
    assert isinstance(result[0], RestartIntensityExceeded)


@pytest.mark.parametrize(
    ("restart", "restarted"), [("permanent", True), ("transient", True), ("temporary", False)]
)
async def test_parent_restarts_escalated_child_supervisor(
    restart: str, restarted: bool, autojump_clock: trio.abc.Clock
) -> None:
    """E2: a parent restarts an escalated child supervisor per the child's restart type
    (escalation is abnormal, so transient restarts too; temporary does not)."""
    probe = Probe()
    child_sup = Supervisor([probe.spec("w")], max_restarts=0, name="child")
    spec = ChildSpec("child", child_sup.run, restart=restart)  # type: ignore[arg-type]
    async with open_supervisor([probe.spec("sibling"), spec], max_restarts=5) as top:
        first = top.child("child").value
        await probe.crash("w")  # child supervisor gives up -> escalates to top
        assert probe.count("start", "w") == (2 if restarted else 1)
        assert probe.count("start", "sibling") == 1
        if restarted:
            info = top.child("child")
            assert info.state == "running"
            assert info.value is not first  # a fresh run: a new handle
            assert info.value.which_children()[0].state == "running"
        else:
            assert [c.id for c in top.which_children()] == ["sibling"]


async def test_the_childs_crash_is_the_cause_of_the_escalation(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A traceback of RestartIntensityExceeded shows the child's crash as its cause."""
    import traceback

    probe = Probe()
    boom = KeyError("the crash")
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_supervisor([probe.spec("a")], max_restarts=0):
            await probe.crash("a", boom)
    assert info.value.__cause__ is boom
    assert info.value.__suppress_context__
    text = "".join(traceback.format_exception(info.value))
    assert "KeyError: 'the crash'" in text
    assert "direct cause" in text
