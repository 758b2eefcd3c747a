"""S1-S3: how a static supervisor starts its children."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from synapsis_actors import AlreadyPresent, AlreadyStarted, StartError
from synapsis_actors.otp import ChildSpec, Supervisor, open_supervisor

from .probe import Probe, Token, settle


async def test_children_start_one_at_a_time_in_order(autojump_clock: trio.abc.Clock) -> None:
    """S1: the next child starts only after the previous one called started()."""
    order: list[str] = []

    async def slow(name: str, delay: float, *, task_status: trio.TaskStatus[str]) -> None:
        order.append(f"begin {name}")
        await trio.sleep(delay)  # a slow init: the next sibling must not begin meanwhile
        order.append(f"started {name}")
        task_status.started(name)
        await trio.sleep_forever()

    specs = [ChildSpec(n, slow, (n, d)) for n, d in [("a", 3.0), ("b", 1.0), ("c", 2.0)]]
    async with open_supervisor(specs) as sup:
        assert order == [
            "begin a", "started a", "begin b", "started b", "begin c", "started c",
        ]  # fmt: skip
        assert [c.value for c in sup.which_children()] == ["a", "b", "c"]
        assert [c.state for c in sup.which_children()] == ["running"] * 3


async def test_start_failure_stops_started_children_in_reverse(
    autojump_clock: trio.abc.Clock,
) -> None:
    """S2: a child failing to start stops the started ones (reverse) and names the child."""
    probe = Probe()
    probe.fail_start["c"] = 1
    specs = [probe.spec(i) for i in ("a", "b", "c", "d")]
    with pytest.raises(StartError) as info:
        async with open_supervisor(specs):
            pytest.fail("the block must not run")  # pragma: no cover
    assert info.value.child_id == "c"
    assert isinstance(info.value.reason, RuntimeError)
    assert "c cannot start" in str(info.value)
    assert probe.log == [
        ("start", "a"), ("start", "b"), ("start_failed", "c"), ("stop", "b"), ("stop", "a"),
    ]  # fmt: skip


async def test_start_failure_reaches_nursery_start_plain(autojump_clock: trio.abc.Clock) -> None:
    """S2 via nursery.start: the StartError is a plain exception, not a group."""
    probe = Probe()
    probe.fail_start["b"] = 1
    async with trio.open_nursery() as nursery:
        with pytest.raises(StartError) as info:
            await nursery.start(Supervisor([probe.spec("a"), probe.spec("b")]).run)
    assert info.value.child_id == "b"
    assert probe.log[-1] == ("stop", "a")


async def test_returning_before_started_is_a_start_failure(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def lazy(*, task_status: trio.TaskStatus[None]) -> None:
        return

    with pytest.raises(StartError) as info:
        async with open_supervisor([ChildSpec("lazy", lazy)]):
            pass  # pragma: no cover
    assert "without calling task_status.started()" in str(info.value.reason)


async def test_start_child_existing_id(autojump_clock: trio.abc.Clock) -> None:
    """S3: start_child of a running id: AlreadyStarted; of a kept stopped spec: AlreadyPresent."""
    probe = Probe()
    async with open_supervisor([probe.spec("a")]) as sup:
        with pytest.raises(AlreadyStarted) as started:
            await sup.start_child(probe.spec("a"))
        assert started.value.child_id == "a"
        assert started.value.reason == "already_started"
        await sup.terminate_child("a")
        with pytest.raises(AlreadyPresent) as present:
            await sup.start_child(probe.spec("a"))
        assert present.value.reason == "already_present"
        assert probe.count("start", "a") == 1  # nothing was started by the refusals
        token = await sup.start_child(probe.spec("b"))
        assert token == Token("b", token.serial)
        assert [c.id for c in sup.which_children()] == ["a", "b"]


async def test_start_child_failure_keeps_nothing(autojump_clock: trio.abc.Clock) -> None:
    probe = Probe()
    probe.fail_start["x"] = 1
    async with open_supervisor([probe.spec("a")]) as sup:
        with pytest.raises(StartError) as info:
            await sup.start_child(probe.spec("x"))
        assert info.value.child_id == "x"
        assert [c.id for c in sup.which_children()] == ["a"]
        await settle()
        assert sup.child("a").state == "running"


async def test_count_children(autojump_clock: trio.abc.Clock) -> None:
    probe = Probe()
    inner = Supervisor([probe.spec("i")], name="inner")
    async with open_supervisor([probe.spec("a"), probe.spec("b"), inner.child_spec()]) as sup:
        await sup.terminate_child("b")
        counts = sup.count_children()
        assert (counts.specs, counts.active, counts.supervisors, counts.workers) == (3, 2, 1, 2)
        inner_info = sup.child("inner")
        assert inner_info.type == "supervisor"
        assert inner_info.value.which_children()[0].id == "i"


async def test_trees_nest_and_start_depth_first(autojump_clock: trio.abc.Clock) -> None:
    """A Supervisor's run is a valid ChildSpec.start: trees nest."""
    probe = Probe()
    leaf = Supervisor([probe.spec("x"), probe.spec("y")], name="leaf")
    async with open_supervisor([probe.spec("a"), ChildSpec("leaf", leaf.run), probe.spec("b")]):
        assert [entry for entry in probe.log if entry[0] == "start"] == [
            ("start", "a"), ("start", "x"), ("start", "y"), ("start", "b"),
        ]  # fmt: skip
    # stopped in reverse order, the nested tree as one unit
    assert [entry[1] for entry in probe.log if entry[0] == "stop"] == ["b", "y", "x", "a"]
