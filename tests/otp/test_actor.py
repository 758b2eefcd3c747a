"""A1-A7: actors (GenServer) and the registry."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from synapsis_actors import (
    ActorExited,
    CallTimeout,
    InvalidChildSpec,
    NameTaken,
    NoProcess,
    StartError,
)
from synapsis_actors.otp import (
    NOREPLY,
    Actor,
    ActorRef,
    Caller,
    DynamicSupervisorHandle,
    Registry,
    Shutdown,
    open_dynamic_supervisor,
    open_supervisor,
)

from .probe import settle


async def spawn(sup: DynamicSupervisorHandle, *args: Any, **kwargs: Any) -> ActorRef:
    """Start a temporary Counter under ``sup``: its crash reaches only its callers."""
    spec = Counter.child_spec("counter", *args, restart="temporary", **kwargs)
    child = await sup.start_child(spec)
    ref: ActorRef = child.value
    return ref


class Counter(Actor):
    mailbox_size = 4

    def __init__(self, start: int = 0) -> None:
        self.count = start
        self.infos: list[Any] = []
        self.terminated: list[object] = []
        self.deferred: list[Caller] = []

    async def handle_call(self, message: Any, caller: Caller) -> Any:
        match message:
            case "get":
                return self.count
            case ("sleep", seconds):
                await trio.sleep(seconds)
                return "slept"
            case "crash":
                raise ValueError("counter crashed")
            case "stop":
                caller.reply("bye")
                raise Shutdown("asked to")
            case "defer":
                self.deferred.append(caller)
                return NOREPLY
            case ("release", value):
                for pending in self.deferred:
                    pending.reply(value)
                return len(self.deferred)
            case "self":
                return await self.ref.call("get")
        raise AssertionError(message)

    async def handle_cast(self, message: Any) -> None:
        if message == "crash":
            raise ValueError("cast crash")
        if isinstance(message, tuple):
            await trio.sleep(message[1])
            return
        self.count += message

    async def handle_info(self, message: Any) -> None:
        self.infos.append(message)

    async def terminate(self, reason: object) -> None:
        self.terminated.append(reason)


async def test_call_cast_send_in_order(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(Counter.start, 10)
        assert isinstance(ref, ActorRef)
        await ref.cast(1)
        await ref.cast(2)
        assert await ref.call("get") == 13
        await ref.send("hello")
        ref.send_nowait("world")
        ref.cast_nowait(5)
        assert await ref.call("get") == 18
        assert await ref.call("stop") == "bye"
        assert not ref.alive
        assert ref.exit_reason == "asked to"


async def test_call_default_timeout_is_five_seconds(autojump_clock: trio.abc.Clock) -> None:
    """A1."""
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(Counter.start)
        t0 = trio.current_time()
        with pytest.raises(CallTimeout) as info:
            await ref.call(("sleep", 60))
        assert trio.current_time() - t0 == pytest.approx(5.0)
        assert isinstance(info.value, TimeoutError)
        with pytest.raises(CallTimeout):
            await ref.call(("sleep", 60), timeout=1)
        nursery.cancel_scope.cancel()


async def test_actor_dying_during_call_fails_caller_promptly(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A2: the in-flight caller and the callers queued behind it all get ActorExited
    carrying the actor's exit reason, at once (no timeout)."""
    errors: list[ActorExited] = []

    async def call(ref: ActorRef, message: str) -> None:
        try:
            await ref.call(message, timeout=60)
        except ActorExited as exc:
            errors.append(exc)

    async with open_dynamic_supervisor() as sup, trio.open_nursery() as nursery:
        ref = await spawn(sup)
        await ref.cast(("busy", 1))  # the actor is busy for 1 s while calls queue up
        t0 = trio.current_time()
        nursery.start_soon(call, ref, "crash")
        await settle()
        nursery.start_soon(call, ref, "get")
        nursery.start_soon(call, ref, "get")
    assert trio.current_time() - t0 == pytest.approx(1.0)
    assert len(errors) == 3
    assert all(isinstance(e.reason, ValueError) for e in errors)
    assert "counter crashed" in str(errors[0])


async def test_deferred_caller_fails_when_actor_dies(autojump_clock: trio.abc.Clock) -> None:
    """A2 for a NOREPLY caller; and NOREPLY replies delivered from a later message."""
    async with open_dynamic_supervisor() as sup, trio.open_nursery() as nursery:
        ref = await spawn(sup)
        got: list[Any] = []

        async def deferred() -> None:
            got.append(await ref.call("defer"))

        nursery.start_soon(deferred)
        await settle()
        assert await ref.call(("release", "later")) == 1
        await settle()
        assert got == ["later"]

        async def deferred_then_crash() -> None:
            with pytest.raises(ActorExited):
                await ref.call("defer", timeout=None)
            got.append("failed")

        nursery.start_soon(deferred_then_crash)
        await settle()
        await ref.cast("crash")
        await settle()
        assert got == ["later", "failed"]


async def test_dead_unknown_and_self_calls_fail_at_once(autojump_clock: trio.abc.Clock) -> None:
    """A3."""
    registry = Registry()
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(Counter.start)
        t0 = trio.current_time()
        await ref.call("stop")
        with pytest.raises(NoProcess):
            await ref.call("get")
        with pytest.raises(NoProcess):
            await registry.call("nobody", "get")
        assert trio.current_time() == t0


async def test_self_call_is_noprocess_inside_the_actor(autojump_clock: trio.abc.Clock) -> None:
    """A3: the actor's own call raises NoProcess in the actor (which then crashes, and
    the outside caller learns why) instead of deadlocking until the timeout."""
    async with open_dynamic_supervisor() as sup:
        ref = await spawn(sup)
        t0 = trio.current_time()
        with pytest.raises(ActorExited) as info:
            await ref.call("self")
        assert isinstance(info.value.reason, NoProcess)
        assert "called itself" in str(info.value.reason)
        assert trio.current_time() == t0


async def test_late_reply_is_dropped_and_actor_keeps_running(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A4."""
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(Counter.start, 7)
        with pytest.raises(CallTimeout):
            await ref.call(("sleep", 3), timeout=1)
        await trio.sleep(5)  # the reply was produced meanwhile, to nobody
        assert ref.alive
        assert await ref.call("get") == 7
        nursery.cancel_scope.cancel()


async def test_cast_to_missing_actor_does_not_raise(autojump_clock: trio.abc.Clock) -> None:
    """A5."""
    registry = Registry()
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(Counter.start)
        await ref.call("stop")
    await ref.cast(1)
    ref.cast_nowait(1)
    await ref.send("x")
    await registry.cast("nobody", 1)
    await ref.stop()  # no-op on a dead actor


async def test_registered_name_freed_on_exit_and_taken_name_names_owner(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A6."""
    registry = Registry()
    async with open_dynamic_supervisor() as sup:
        first = await spawn(sup, 1, name="counter", registry=registry)
        assert registry.whereis("counter") is first
        assert await registry.call("counter", "get") == 1
        with pytest.raises(StartError) as taken:
            await spawn(sup, 2, name="counter", registry=registry)
        assert isinstance(taken.value.reason, NameTaken)
        assert taken.value.reason.owner is first
        assert "counter" in str(taken.value.reason)
        await first.stop()
        assert "counter" not in registry
        second = await spawn(sup, 2, name="counter", registry=registry)
        assert await registry.call("counter", "get") == 2
        with pytest.raises(ActorExited):
            await second.call("crash")  # abnormal exit frees it too
        assert registry.whereis("counter") is None


async def test_registry_for_any_owner() -> None:
    registry = Registry("names")
    with registry.register("k", "v", owner="me") as reg:
        assert registry.lookup("k") == "v"
        assert registry.owner("k") == "me"
        with pytest.raises(NameTaken) as info:
            registry.register("k", "other")
        assert info.value.owner == "me"
        assert list(registry) == ["k"]
    assert not reg.active
    assert len(registry) == 0
    with pytest.raises(NoProcess):
        registry.lookup("k")
    later = registry.register("k", "new")
    reg.release()  # a stale release never frees a later owner's registration
    assert later.active


async def test_mailbox_is_bounded_backpressure(autojump_clock: trio.abc.Clock) -> None:
    """A7: a full mailbox makes senders wait instead of growing."""
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(Counter.start)
        await ref.cast(("busy", 10))  # occupies the actor for 10 s
        await settle()
        for _ in range(Counter.mailbox_size):
            ref.cast_nowait(1)  # fills the mailbox
        with pytest.raises(trio.WouldBlock):
            ref.cast_nowait(1)
        t0 = trio.current_time()
        await ref.cast(1)  # waits until the actor takes the next message
        assert trio.current_time() - t0 == pytest.approx(10 - 0.001)
        stats = ref.mailbox_statistics()
        assert stats.max_buffer_size == Counter.mailbox_size
        assert stats.current_buffer_used <= Counter.mailbox_size
        assert await ref.call("get") == Counter.mailbox_size + 1
        nursery.cancel_scope.cancel()


async def test_restart_runs_a_fresh_instance_and_updates_name(
    autojump_clock: trio.abc.Clock,
) -> None:
    """OTP semantics: a restarted actor starts from fresh state, with a new ref; the
    registered name follows the new incarnation."""
    registry = Registry()
    spec = Counter.child_spec("counter", 100, name="c", registry=registry)
    async with open_supervisor([spec]) as sup:
        first = sup.child("counter").value
        await registry.cast("c", 5)
        assert await registry.call("c", "get") == 105
        with pytest.raises(ActorExited):
            await first.call("crash")
        await settle()
        second = sup.child("counter").value
        assert second is not first
        assert registry.whereis("c") is second
        assert await registry.call("c", "get") == 100
        assert sup.child("counter").restarts == 1


async def test_terminate_gets_the_reason(autojump_clock: trio.abc.Clock) -> None:
    instances: list[Counter] = []

    class Tracked(Counter):
        async def init(self) -> None:
            instances.append(self)

    async with open_supervisor([Tracked.child_spec("t", restart="temporary")]) as sup:
        ref = sup.child("t").value
        with pytest.raises(ActorExited):
            await ref.call("crash")
    async with open_supervisor([Tracked.child_spec("t")]):
        pass
    assert isinstance(instances[0].terminated[0], ValueError)
    assert instances[1].terminated == ["shutdown"]


async def test_init_failure_is_a_start_failure(autojump_clock: trio.abc.Clock) -> None:
    class Broken(Actor):
        async def init(self) -> None:
            raise RuntimeError("no database")

    async with trio.open_nursery() as nursery:
        with pytest.raises(RuntimeError, match="no database"):
            await nursery.start(Broken.start)


def test_name_without_registry_is_rejected() -> None:
    with pytest.raises(InvalidChildSpec) as info:
        Counter.child_spec("c", name="c")
    assert info.value.field == "registry"


async def test_caller_blocked_on_full_mailbox_learns_of_the_death(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A2 + A7: a caller still waiting for mailbox space is failed too, not left hanging."""
    outcome: list[BaseException] = []

    async def blocked_call(ref: ActorRef) -> None:
        try:
            await ref.call("get", timeout=None)
        except ActorExited as exc:
            outcome.append(exc)

    async with open_dynamic_supervisor() as sup, trio.open_nursery() as nursery:
        ref = await spawn(sup)
        await ref.cast(("busy", 5))
        await settle()
        ref.cast_nowait("crash")  # next in line
        for _ in range(Counter.mailbox_size - 1):
            ref.cast_nowait(1)
        nursery.start_soon(blocked_call, ref)
        await settle()
        assert ref.mailbox_statistics().tasks_waiting_send == 1
    assert len(outcome) == 1
    assert isinstance(outcome[0].reason, ValueError)  # type: ignore[attr-defined]


async def test_actor_stopping_itself(autojump_clock: trio.abc.Clock) -> None:
    class Quitter(Actor):
        async def handle_cast(self, message: Any) -> None:
            await self.ref.stop("done with it")

    async with trio.open_nursery() as nursery:
        ref = await nursery.start(Quitter.start)
        await ref.cast("quit")
    assert not ref.alive
    assert ref.exit_reason == "done with it"
