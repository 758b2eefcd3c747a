"""Static supervisors: OTP's ``supervisor`` behaviour on trio.

A :class:`Supervisor` owns a list of children (:class:`ChildSpec`), starts
them one at a time in order, watches them, restarts them according to their
restart type and the supervisor's strategy, and gives up -- stopping every
child in reverse order and raising
:class:`~synapsis_actors.errors.RestartIntensityExceeded` to its parent -- when
children fail more than ``max_restarts`` times within ``max_seconds``.

How it works: ``run`` opens a nursery; every child incarnation is a task in
it (see ``_child.py``). The supervisor's own task is a control loop reading
one queue: child exits (posted by the child tasks) and management requests
(posted by :class:`SupervisorHandle` methods). Everything that changes the
set of children happens in that loop, one message at a time, like the
``gen_server`` that an OTP supervisor is; so a restart never races a
``terminate_child``.

Failure modes of ``run``: a child failing to start at boot raises
:class:`~synapsis_actors.errors.StartError` (before ``started()``; the children
already started are stopped in reverse order first); exceeding the intensity
raises :class:`~synapsis_actors.errors.RestartIntensityExceeded`. Both are plain
exceptions, not ExceptionGroups. On cancellation the children are stopped in
reverse order (each with its own shutdown) and the Cancelled propagates.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeAlias

import attrs
import trio

from ..errors import (
    AlreadyPresent,
    AlreadyStarted,
    ChildNotFound,
    ChildRunning,
    InvalidChildSpec,
    RestartIntensityExceeded,
    ShutdownTimeout,
    StartError,
    SupervisorNotRunning,
)
from . import telemetry
from ._child import Incarnation, Intensity, exit_reason, should_restart, timeout_text
from ._lifecycle import open_behaviour
from .spec import (
    ChildSpec,
    ChildType,
    RestartType,
    ShutdownValue,
    Strategy,
    SupervisorBehaviour,
    check_children,
    check_intensity,
    check_strategy,
)

__all__ = [
    "ChildCounts",
    "ChildInfo",
    "ChildState",
    "Supervisor",
    "SupervisorHandle",
    "open_supervisor",
]

ChildState: TypeAlias = Literal["starting", "running", "stopping", "stopped", "restarting"]

_names = itertools.count(1)


def _auto_name(kind: str) -> str:
    return f"{kind}-{next(_names)}"


@attrs.frozen
class ChildInfo:
    """A snapshot of one child, as ``which_children()`` returns it.

    ``state``: ``"starting"``, ``"running"``, ``"stopping"``, ``"restarting"``
    or ``"stopped"`` (spec kept, not running: after ``terminate_child`` or a
    transient child's normal exit). ``value`` is what the running incarnation
    passed to ``task_status.started()`` (None when not running); ``restarts``
    counts this child's automatic restarts (its own, and as a bystander of a
    one_for_all / rest_for_one group restart).
    """

    id: Hashable
    state: ChildState
    restart: RestartType
    shutdown: ShutdownValue
    type: ChildType
    value: Any
    restarts: int


@attrs.frozen
class ChildCounts:
    """``count_children()``: as OTP's ``specs``, ``active``, ``supervisors``, ``workers``."""

    specs: int
    active: int
    supervisors: int
    workers: int


class _Child:
    __slots__ = ("inc", "restarts", "spec", "state", "value")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.state: ChildState = "stopped"
        self.inc: Incarnation | None = None
        self.value: Any = None
        self.restarts = 0

    def info(self) -> ChildInfo:
        s = self.spec
        return ChildInfo(s.id, self.state, s.restart, s.shutdown, s.type, self.value, self.restarts)


class _StartFailed(Exception):
    def __init__(self, child: _Child, reason: BaseException | str) -> None:
        self.child = child
        self.reason = reason


@attrs.define
class _Exited:
    child: _Child
    inc: Incarnation


class _Request:
    __slots__ = ("done", "error", "fn", "value")

    def __init__(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self.fn = fn
        self.done = trio.Event()
        self.value: Any = None
        self.error: BaseException | None = None


_STOP = object()
_Message: TypeAlias = "_Exited | _Request | object"


def counts(children: Iterable[tuple[ChildType, bool]]) -> ChildCounts:
    specs = active = sups = workers = 0
    for kind, is_active in children:
        specs += 1
        active += is_active
        if kind == "supervisor":
            sups += 1
        else:
            workers += 1
    return ChildCounts(specs, active, sups, workers)


class Supervisor(SupervisorBehaviour):
    """A static supervisor: children from a spec list, restarted per strategy.

    ``strategy``: ``"one_for_one"`` (restart the failed child only),
    ``"one_for_all"`` (stop the others in reverse order, restart all in order),
    ``"rest_for_one"`` (the failed child and those started after it).
    ``max_restarts`` restarts within ``max_seconds`` are allowed (pooled over
    all children); one more stops the supervisor with
    :class:`~synapsis_actors.errors.RestartIntensityExceeded`.

    The object is a reusable description: each ``run`` starts from the spec
    list (children added by ``start_child`` do not survive a restart of the
    supervisor itself, as in OTP). Invalid arguments raise
    :class:`~synapsis_actors.errors.InvalidChildSpec` here, not at run time.
    """

    def __init__(
        self,
        children: Iterable[ChildSpec] = (),
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        *,
        name: str | None = None,
    ) -> None:
        check_strategy(strategy)
        check_intensity(max_restarts, max_seconds)
        self.children = tuple(check_children(children))
        self.strategy: Strategy = strategy
        self.max_restarts = max_restarts
        self.max_seconds = float(max_seconds)
        self.name = name if name is not None else _auto_name("supervisor")

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} {self.strategy} children={len(self.children)}>"

    async def run(
        self, *, task_status: trio.TaskStatus[SupervisorHandle] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the children, then supervise them until stopped.

        ``task_status.started(handle)`` is called once every child has
        started. Returns after :meth:`SupervisorHandle.stop`; raises
        ``StartError`` / ``RestartIntensityExceeded`` as described in the
        module docstring.
        """
        await _Core(self).run(task_status)

    def child_spec(
        self,
        id: Hashable | None = None,
        *,
        restart: RestartType = "permanent",
        shutdown: ShutdownValue = "infinity",
    ) -> ChildSpec:
        """A spec that runs this supervisor as a child of another one."""
        return ChildSpec(
            self.name if id is None else id, self.run, restart=restart, shutdown=shutdown
        )


class HandleBase:
    """What every supervisor handle has: its name, whether it runs, a repr."""

    __slots__ = ("_core",)

    def __init__(self, core: Any) -> None:
        self._core = core

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name!r} {state} children={len(self._core.children)}>"

    @property
    def name(self) -> str:
        return str(self._core.name)

    @property
    def running(self) -> bool:
        """True until the supervisor starts shutting down."""
        return bool(self._core.accepting)


class SupervisorHandle(HandleBase):
    """What ``await nursery.start(sup.run)`` returns: introspection and management.

    The synchronous methods read a snapshot; the async ones are executed by
    the supervisor's control loop one at a time (and wait for it). Every
    method raises :class:`~synapsis_actors.errors.SupervisorNotRunning` once
    the supervisor has stopped.
    """

    __slots__ = ()
    _core: _Core

    def which_children(self) -> list[ChildInfo]:
        """One :class:`ChildInfo` per child spec, in start order."""
        return [child.info() for child in self._core.children]

    def count_children(self) -> ChildCounts:
        return counts((c.spec.type, c.inc is not None) for c in self._core.children)

    def child(self, id: Hashable) -> ChildInfo:
        """The :class:`ChildInfo` of child ``id``; ChildNotFound if unknown."""
        return self._core.find(id).info()

    async def start_child(self, spec: ChildSpec) -> Any:
        """Add ``spec`` and start it (last in start order); returns its started value.

        Raises AlreadyStarted (id running), AlreadyPresent (id's spec kept,
        not running), StartError (its start failed: nothing is kept).
        """
        if not isinstance(spec, ChildSpec):
            raise InvalidChildSpec("spec", f"is not a ChildSpec: {spec!r}")
        return await self._core.request(lambda: self._core.do_start_child(spec))

    async def terminate_child(self, id: Hashable) -> None:
        """Stop child ``id`` per its shutdown, keeping its spec (a temporary
        child's spec is dropped). ChildNotFound for an unknown id."""
        await self._core.request(lambda: self._core.do_terminate_child(id))

    async def restart_child(self, id: Hashable) -> Any:
        """Start a stopped child again from its kept spec; returns its value.

        ChildRunning if it is running, ChildNotFound if unknown, StartError
        if it fails to start (the spec stays)."""
        return await self._core.request(lambda: self._core.do_restart_child(id))

    async def delete_child(self, id: Hashable) -> None:
        """Forget a stopped child's spec. ChildRunning if it runs, ChildNotFound if unknown."""
        await self._core.request(lambda: self._core.do_delete_child(id))

    async def stop(self) -> None:
        """Stop every child (reverse start order) and the supervisor; waits.

        Idempotent; returns at once if the supervisor has already stopped.
        """
        core = self._core
        if core.accepting:
            core.accepting = False
            core.send.send_nowait(_STOP)
        await core.finished.wait()


class _Core:
    """One run of a static supervisor (its state dies with the run)."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.name = sup.name
        self.children = [_Child(spec) for spec in sup.children]
        self.intensity = Intensity(sup.max_restarts, sup.max_seconds)
        self.send, self.recv = trio.open_memory_channel[_Message](math.inf)
        self.accepting = False
        self.finished = trio.Event()
        self.nursery: trio.Nursery | None = None
        self.handle = SupervisorHandle(self)

    # ------------------------------------------------------------- lifecycle

    async def run(self, task_status: trio.TaskStatus[SupervisorHandle]) -> None:
        error: BaseException | None = None
        end_reason: object = "cancelled"
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                try:
                    error = await self._boot()
                    if error is None:
                        self.accepting = True
                        task_status.started(self.handle)
                        error = await self._loop()
                    end_reason = error or "normal"
                finally:
                    self.accepting = False
                    with trio.CancelScope(shield=True):
                        await self.stop_children(self.children)
                    self._close()
        finally:
            self.finished.set()
            # INFO: the error itself was logged when it happened.
            level = logging.INFO if isinstance(error, Exception) else logging.DEBUG
            telemetry.emit("shutdown", self.name, None, end_reason, level)
        if error is not None:
            raise error

    async def _boot(self) -> StartError | None:
        for child in self.children:
            try:
                await self.start(child)
            except _StartFailed as failed:
                return StartError(child.spec.id, failed.reason)
        return None

    async def _loop(self) -> RestartIntensityExceeded | None:
        async for message in self.recv:
            if isinstance(message, _Exited):
                error = await self._on_exit(message.child, message.inc)
                if error is not None:
                    return error
            elif isinstance(message, _Request):
                try:
                    message.value = await message.fn()
                except Exception as exc:
                    message.error = exc
                except BaseException:
                    message.error = SupervisorNotRunning(f"supervisor {self.name!r} was cancelled")
                    raise
                finally:
                    message.done.set()
            else:  # _STOP
                return None
        return None

    def _close(self) -> None:
        self.send.close()
        while True:
            try:
                message = self.recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if isinstance(message, _Request):
                message.error = SupervisorNotRunning(f"supervisor {self.name!r} has stopped")
                message.done.set()
        self.recv.close()

    async def request(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        if not self.accepting:
            raise SupervisorNotRunning(f"supervisor {self.name!r} is not running")
        req = _Request(fn)
        self.send.send_nowait(req)
        await req.done.wait()
        if req.error is not None:
            raise req.error
        return req.value

    # -------------------------------------------------------- child lifecycle

    def find(self, id: Hashable) -> _Child:
        for child in self.children:
            if child.spec.id == id:
                return child
        raise ChildNotFound(id)

    async def start(self, child: _Child) -> None:
        """Start one incarnation and wait for ``started()``; raises _StartFailed."""
        assert self.nursery is not None
        inc = Incarnation()
        child.inc = inc
        child.state = "starting"

        def on_started(value: Any) -> None:
            # Runs inside started(), so the record is right (and the event
            # emitted) before the child can do anything else, even exit.
            child.value = value
            child.state = "running"
            telemetry.emit("child_started", self.name, child.spec.id, None)

        inc.status.on_started = on_started
        self.nursery.start_soon(self._child_task, child, inc, name=f"{self.name}/{child.spec.id!r}")
        await inc.status.event.wait()
        if inc.status.error is not None:
            child.inc = None
            child.state = "stopped"
            telemetry.emit(
                "child_start_failed", self.name, child.spec.id, inc.status.error, logging.ERROR
            )
            raise _StartFailed(child, inc.status.error)

    async def _child_task(self, child: _Child, inc: Incarnation) -> None:
        await inc.run(child.spec)
        if not inc.status.is_started:
            return  # reported by start()
        reason = exit_reason(inc)
        level = logging.DEBUG if inc.normal else logging.WARNING
        if inc.stop_requested and not inc.normal:
            level = logging.ERROR  # an error raised while being stopped
        telemetry.emit("child_exited", self.name, child.spec.id, reason, level)
        try:
            self.send.send_nowait(_Exited(child, inc))
        except trio.ClosedResourceError:
            pass  # the supervisor is gone; nothing left to decide

    async def stop_child(self, child: _Child) -> None:
        inc = child.inc
        if inc is None:
            return
        child.state = "stopping"
        if not await inc.stop(child.spec.shutdown):
            telemetry.emit(
                "shutdown_timeout",
                self.name,
                child.spec.id,
                ShutdownTimeout(
                    f"child {child.spec.id!r} of {self.name!r} did not stop within"
                    f" {timeout_text(child.spec.shutdown)}; abandoned to finish unwinding"
                ),
                logging.WARNING,
            )
        child.inc = None
        child.value = None
        child.state = "stopped"

    async def stop_children(self, children: list[_Child]) -> None:
        """Stop ``children`` one at a time in reverse start order."""
        for child in reversed(children):
            await self.stop_child(child)

    def _drop(self, child: _Child) -> None:
        if child in self.children:
            self.children.remove(child)

    # -------------------------------------------------------------- restarts

    async def _on_exit(self, child: _Child, inc: Incarnation) -> RestartIntensityExceeded | None:
        if child.inc is not inc or child.state != "running":
            return None  # stale: we stopped it ourselves
        child.inc = None
        child.value = None
        child.state = "stopped"
        if not should_restart(child.spec, inc.normal):
            if child.spec.restart == "temporary":
                self._drop(child)  # a temporary child's id can be added again
            return None
        return await self._restart(child, exit_reason(inc))

    async def _restart(self, failed: _Child, reason: object) -> RestartIntensityExceeded | None:
        while True:
            if not self.intensity.add():
                return await self._escalate(failed, reason)
            failed.restarts += 1
            failed.state = "restarting"
            telemetry.emit("child_restarted", self.name, failed.spec.id, reason, logging.INFO)
            try:
                await self._apply_strategy(failed)
                return None
            except _StartFailed as start_failure:
                # A failed (re)start counts as a restart and is retried.
                failed, reason = start_failure.child, start_failure.reason

    async def _apply_strategy(self, failed: _Child) -> None:
        strategy = self.sup.strategy
        if strategy == "one_for_one":
            await self.start(failed)
            return
        index = self.children.index(failed)
        group = self.children if strategy == "one_for_all" else self.children[index:]
        await self.stop_children([c for c in group if c is not failed])
        for child in list(group):
            if child is not failed and child.spec.restart == "temporary":
                self._drop(child)  # temporary bystanders are not restarted
        for child in [c for c in self.children if c in group or c is failed]:
            if child.inc is None:
                if child is not failed:
                    child.restarts += 1  # restarted as a bystander of the group
                await self.start(child)

    async def _escalate(self, child: _Child, reason: object) -> RestartIntensityExceeded:
        error = RestartIntensityExceeded(
            self.name,
            reason if isinstance(reason, BaseException) else None,
            child_id=child.spec.id,
            max_restarts=self.sup.max_restarts,
            max_seconds=self.sup.max_seconds,
        )
        telemetry.emit("intensity_exceeded", self.name, child.spec.id, error, logging.ERROR)
        self.accepting = False
        await self.stop_children(self.children)
        return error

    # ------------------------------------------------------ management calls

    async def do_start_child(self, spec: ChildSpec) -> Any:
        for existing in self.children:
            if existing.spec.id == spec.id:
                if existing.inc is not None:
                    raise AlreadyStarted(spec.id)
                raise AlreadyPresent(spec.id)
        child = _Child(spec)
        self.children.append(child)
        try:
            await self.start(child)
        except _StartFailed as failed:
            self._drop(child)
            raise StartError(spec.id, failed.reason) from None
        return child.value

    async def do_terminate_child(self, id: Hashable) -> None:
        child = self.find(id)
        await self.stop_child(child)
        if child.spec.restart == "temporary":
            self._drop(child)

    async def do_restart_child(self, id: Hashable) -> Any:
        child = self.find(id)
        if child.inc is not None:
            raise ChildRunning(id, f"running: {id!r} (terminate it first)")
        try:
            await self.start(child)
        except _StartFailed as failed:
            raise StartError(id, failed.reason) from None
        return child.value

    async def do_delete_child(self, id: Hashable) -> None:
        child = self.find(id)
        if child.inc is not None:
            raise ChildRunning(id, f"running: {id!r} (terminate it before deleting)")
        self._drop(child)


@asynccontextmanager
async def open_supervisor(
    children: Iterable[ChildSpec] = (),
    strategy: Strategy = "one_for_one",
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    *,
    name: str | None = None,
) -> AsyncIterator[SupervisorHandle]:
    """``async with open_supervisor([...]) as sup:`` -- run a Supervisor for the block.

    Yields once every child has started; on exit stops the children in
    reverse order. A boot failure raises ``StartError`` from the ``async
    with``; exceeding the intensity cancels the block and raises
    ``RestartIntensityExceeded`` from it (both plain, not groups).
    """
    sup = Supervisor(children, strategy, max_restarts, max_seconds, name=name)
    async with open_behaviour(sup.run, SupervisorHandle) as handle:
        yield handle
