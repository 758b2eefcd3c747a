"""Dynamic and task supervisors: Elixir's ``DynamicSupervisor`` and ``Task.Supervisor``.

A :class:`DynamicSupervisor` starts with no children; ``start_child(spec)``
adds them at run time (strategy one_for_one, restart intensity pooled as in
a static supervisor, at most ``max_children``). Children are independent, so
each child's task restarts itself in place -- keeping its slot -- and no
control loop is needed: management calls act directly, which keeps them
cheap. On shutdown every child is stopped *concurrently*, each under its own
shutdown timer.

A :class:`TaskSupervisor` is a dynamic supervisor for plain async functions:
``await sup.start_nolink(fn, *args)`` returns a :class:`TaskHandle` at once
(no round trip through the supervisor); ``await task.result()`` gives the
task's value or raises its exception, exactly once per task however many
times it is awaited. A failing task never cancels its caller or its
supervisor; a caller that stops waiting does not stop the task.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import trio

from ..errors import (
    ChildNotFound,
    InvalidChildSpec,
    MaxChildrenReached,
    RestartIntensityExceeded,
    ShutdownTimeout,
    StartError,
    SupervisorNotRunning,
    TaskCancelled,
)
from . import telemetry
from ._child import Incarnation, Intensity, cancel_and_wait, exit_reason, should_restart
from ._child import timeout_text as _timeout_text
from ._lifecycle import open_behaviour
from .spec import ChildSpec, ShutdownValue, SupervisorBehaviour, check_intensity, check_shutdown
from .spec import is_async_callable as _is_async
from .supervisor import ChildCounts, ChildInfo, ChildState, HandleBase, _auto_name, counts

__all__ = [
    "ChildHandle",
    "DynamicSupervisor",
    "DynamicSupervisorHandle",
    "TaskHandle",
    "TaskSupervisor",
    "TaskSupervisorHandle",
    "open_dynamic_supervisor",
    "open_task_supervisor",
]

T = TypeVar("T")


class ChildHandle:
    """One child of a :class:`DynamicSupervisor` (what ``start_child`` returns).

    ``value`` is what the current incarnation passed to ``started()``; it
    changes when the child is restarted. ``state`` as in :class:`ChildInfo`.
    """

    __slots__ = ("_inc", "key", "restarts", "spec", "state", "value")

    def __init__(self, key: int, spec: ChildSpec) -> None:
        self.key = key
        self.spec = spec
        self.state: ChildState = "starting"
        self.value: Any = None
        self.restarts = 0
        self._inc = Incarnation()

    @property
    def id(self) -> Hashable:
        return self.spec.id

    def info(self) -> ChildInfo:
        s = self.spec
        return ChildInfo(s.id, self.state, s.restart, s.shutdown, s.type, self.value, self.restarts)

    def __repr__(self) -> str:
        return f"<ChildHandle {self.spec.id!r} #{self.key} {self.state}>"


class TaskHandle(Generic[T]):
    """A task started by :meth:`TaskSupervisorHandle.start_nolink`.

    ``await result()`` waits for the task and returns its value or raises
    its exception (:class:`~synapsis_actors.errors.TaskCancelled` if it was
    cancelled first). ``cancel()`` requests cancellation without waiting;
    ``await wait()`` waits for the end without raising. Cancelling a
    ``result()`` / ``wait()`` caller never affects the task.
    """

    __slots__ = ("_done", "_error", "_value", "args", "fn", "key", "name", "scope", "shutdown")

    def __init__(
        self,
        key: int,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        shutdown: ShutdownValue,
        name: str | None,
    ) -> None:
        self.key = key
        self.fn = fn
        self.args = args
        self.shutdown = shutdown
        self.name = name
        # Shielded: only this handle and the supervisor cancel it, never the
        # supervisor's surroundings directly (they go through the shutdown timer).
        self.scope = trio.CancelScope(shield=True)
        self._done = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def id(self) -> int:
        """Unique within its supervisor."""
        return self.key

    @property
    def state(self) -> ChildState:
        if self._done.is_set():
            return "stopped"
        return "stopping" if self.scope.cancel_called else "running"

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        """True once the task ended because it was cancelled."""
        return isinstance(self._error, TaskCancelled)

    def cancel(self) -> None:
        """Request cancellation (idempotent, returns at once)."""
        self.scope.cancel()

    async def wait(self) -> None:
        """Wait until the task has ended; never raises the task's error."""
        await self._done.wait()

    async def result(self) -> T:
        """The task's return value, or its exception raised here."""
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def info(self) -> ChildInfo:
        return ChildInfo(self.key, self.state, "temporary", self.shutdown, "worker", None, 0)

    def __repr__(self) -> str:
        label = self.name or getattr(self.fn, "__qualname__", "task")
        return f"<TaskHandle {label} #{self.key} {self.state}>"


_Child = ChildHandle | TaskHandle[Any]


class DynamicSupervisor(SupervisorBehaviour):
    """A supervisor whose children are added at run time.

    ``await nursery.start(DynamicSupervisor().run)`` returns a
    :class:`DynamicSupervisorHandle`. ``max_children=None`` means unbounded.
    Restart intensity as for :class:`~synapsis_actors.otp.Supervisor` (3 in 5 s).
    """

    def __init__(
        self,
        max_children: int | None = None,
        *,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: str | None = None,
    ) -> None:
        if max_children is not None and (
            isinstance(max_children, bool) or not isinstance(max_children, int) or max_children < 0
        ):
            raise InvalidChildSpec(
                "max_children", f"must be None or an int >= 0, not {max_children!r}"
            )
        check_intensity(max_restarts, max_seconds)
        self.max_children = max_children
        self.max_restarts = max_restarts
        self.max_seconds = float(max_seconds)
        self.name = name if name is not None else _auto_name(self._kind)

    _kind = "dynamic-supervisor"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} max_children={self.max_children}>"

    def _make_handle(self, core: _DynamicCore) -> DynamicSupervisorHandle:
        return DynamicSupervisorHandle(core)

    async def run(
        self, *, task_status: trio.TaskStatus[DynamicSupervisorHandle] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until stopped; raises RestartIntensityExceeded (plain) on too many restarts.

        On cancellation or stop, every child is stopped concurrently, each
        under its own shutdown timer.
        """
        await _DynamicCore(self).run(task_status)


class TaskSupervisor(DynamicSupervisor):
    """A dynamic supervisor of plain async functions (tasks), Elixir's ``Task.Supervisor``.

    ``sup = await nursery.start(TaskSupervisor().run)`` returns a
    :class:`TaskSupervisorHandle`; ``task = await sup.start_nolink(fn, *args)``.
    """

    _kind = "task-supervisor"

    def _make_handle(self, core: _DynamicCore) -> TaskSupervisorHandle:
        return TaskSupervisorHandle(core)

    async def run(
        self, *, task_status: trio.TaskStatus[TaskSupervisorHandle] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await _DynamicCore(self).run(task_status)  # type: ignore[arg-type]


class DynamicSupervisorHandle(HandleBase):
    """What ``await nursery.start(DynamicSupervisor().run)`` returns."""

    __slots__ = ()
    _core: _DynamicCore

    def children(self) -> list[_Child]:
        """The live children (ChildHandle / TaskHandle), in start order."""
        return list(self._core.children.values())

    def which_children(self) -> list[ChildInfo]:
        return [child.info() for child in self._core.children.values()]

    def count_children(self) -> ChildCounts:
        return counts(
            (c.spec.type if isinstance(c, ChildHandle) else "worker", True)
            for c in self._core.children.values()
        )

    async def start_child(self, spec: ChildSpec) -> ChildHandle:
        """Start a child from ``spec``; returns once it called ``started()``.

        Raises MaxChildrenReached (nothing started), StartError (its start
        failed; nothing kept), SupervisorNotRunning. Ids need not be unique.
        """
        core = self._core
        core.admit()
        if not isinstance(spec, ChildSpec):
            raise InvalidChildSpec("spec", f"is not a ChildSpec: {spec!r}")
        return await core.start_child(spec)

    async def terminate_child(self, child: _Child) -> None:
        """Stop ``child`` per its shutdown and forget it.

        ChildNotFound if it is not (or no longer) a child of this supervisor.
        """
        core = self._core
        if not core.accepting:
            raise SupervisorNotRunning(f"supervisor {core.name!r} is not running")
        key = getattr(child, "key", None)
        if key is None or core.children.get(key) is not child:
            raise ChildNotFound(getattr(child, "id", child))
        await core.stop_one(child)

    async def stop(self) -> None:
        """Stop every child (concurrently) and the supervisor; waits. Idempotent."""
        core = self._core
        core.accepting = False
        core.stop_event.set()
        await core.finished.wait()


class TaskSupervisorHandle(DynamicSupervisorHandle):
    """What ``await nursery.start(TaskSupervisor().run)`` returns."""

    __slots__ = ()

    async def start_nolink(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        name: str | None = None,
        shutdown: ShutdownValue = 5.0,
    ) -> TaskHandle[T]:
        """Run ``fn(*args)`` as a temporary child; returns its handle at once.

        The task is never restarted. Its failure is delivered only through
        ``await task.result()``; it never cancels the caller nor the
        supervisor. ``shutdown`` (default 5 s) bounds how long the supervisor
        waits for it after cancelling it. Raises MaxChildrenReached,
        SupervisorNotRunning, or InvalidChildSpec for a non-async ``fn``.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        core = self._core
        core.admit()
        if not _is_async(fn):
            raise InvalidChildSpec("fn", f"{fn!r} is not an async function")
        if shutdown != 5.0:
            check_shutdown(shutdown)
        key = next(core.keys)
        task: TaskHandle[T] = TaskHandle(key, fn, args, shutdown, name)
        core.children[key] = task
        assert core.nursery is not None
        core.nursery.start_soon(core.run_task, task, name=name or fn)
        return task


class _DynamicCore:
    def __init__(self, sup: DynamicSupervisor) -> None:
        self.sup = sup
        self.name = sup.name
        self.children: dict[int, _Child] = {}
        self.keys = itertools.count(1)
        self.intensity = Intensity(sup.max_restarts, sup.max_seconds)
        self.accepting = False
        self.stop_event = trio.Event()
        self.finished = trio.Event()
        self.escalation: RestartIntensityExceeded | None = None
        self.nursery: trio.Nursery | None = None
        self.handle = sup._make_handle(self)

    async def run(self, task_status: trio.TaskStatus[DynamicSupervisorHandle]) -> None:
        end_reason: object = "cancelled"
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                try:
                    self.accepting = True
                    task_status.started(self.handle)
                    await self.stop_event.wait()
                    end_reason = self.escalation or "normal"
                finally:
                    self.accepting = False
                    with trio.CancelScope(shield=True):
                        await self.stop_all()
        finally:
            self.finished.set()
            level = logging.INFO if self.escalation else logging.DEBUG
            telemetry.emit("shutdown", self.name, None, end_reason, level)
        if self.escalation is not None:
            raise self.escalation

    def admit(self) -> None:
        """Refuse a new child unless running and below max_children."""
        if not self.accepting:
            raise SupervisorNotRunning(f"supervisor {self.name!r} is not running")
        limit = self.sup.max_children
        if limit is not None and len(self.children) >= limit:
            raise MaxChildrenReached(
                f"supervisor {self.name!r} already runs max_children={limit} children"
            )

    # --------------------------------------------------------------- children

    async def start_child(self, spec: ChildSpec) -> ChildHandle:
        assert self.nursery is not None
        child = ChildHandle(next(self.keys), spec)
        self.children[child.key] = child
        self._arm(child, child._inc)
        self.nursery.start_soon(self._child_loop, child, name=f"{self.name}/{spec.id!r}")
        status = child._inc.status
        await status.event.wait()
        if status.error is not None:
            raise StartError(spec.id, status.error)
        return child

    def _arm(self, child: ChildHandle, inc: Incarnation) -> None:
        def on_started(value: Any) -> None:
            child.value = value
            child.state = "running"
            telemetry.emit("child_started", self.name, child.spec.id, None)

        inc.status.on_started = on_started

    async def _child_loop(self, child: ChildHandle) -> None:
        inc = child._inc
        first = True
        spec = child.spec
        while True:
            await inc.run(spec)
            started = inc.status.is_started
            if started:
                level = logging.DEBUG if inc.normal else logging.WARNING
                if inc.stop_requested and not inc.normal:
                    level = logging.ERROR  # an error raised while being stopped
                reason = exit_reason(inc)
                telemetry.emit("child_exited", self.name, spec.id, reason, level)
            else:
                reason = inc.status.error
                telemetry.emit("child_start_failed", self.name, spec.id, reason, logging.ERROR)
            if inc.stop_requested:
                return  # stop_one forgets it
            child.value = None
            child.state = "stopped"
            restart = (not started and not first) or (started and should_restart(spec, inc.normal))
            if not restart or not self.accepting:
                self.children.pop(child.key, None)
                return
            first = False
            if not self.intensity.add():  # failed restarts count too
                self.children.pop(child.key, None)
                self._escalate(child, reason)
                return
            child.restarts += 1
            child.state = "restarting"  # keeps its slot against max_children
            telemetry.emit("child_restarted", self.name, spec.id, reason, logging.INFO)
            inc = child._inc = Incarnation()
            self._arm(child, inc)

    def _escalate(self, child: ChildHandle, reason: object) -> None:
        self.escalation = RestartIntensityExceeded(
            self.name,
            reason if isinstance(reason, BaseException) else None,
            child_id=child.spec.id,
            max_restarts=self.sup.max_restarts,
            max_seconds=self.sup.max_seconds,
        )
        telemetry.emit(
            "intensity_exceeded", self.name, child.spec.id, self.escalation, logging.ERROR
        )
        self.accepting = False
        self.stop_event.set()

    async def run_task(self, task: TaskHandle[Any]) -> None:
        finished = False
        try:
            with task.scope:
                task._value = await task.fn(*task.args)
                finished = True
        except Exception as exc:
            task._error = exc
        finally:
            if not finished and task._error is None:
                task._error = TaskCancelled(task)
            self.children.pop(task.key, None)
            task._done.set()
            telemetry.emit("child_exited", self.name, task.key, task._error or "normal")

    async def stop_one(self, child: _Child) -> None:
        if isinstance(child, ChildHandle):
            child.state = "stopping"
            inc = child._inc
            ok = await inc.stop(child.spec.shutdown)
            child_id: Hashable = child.spec.id
            shutdown = child.spec.shutdown
            child.state = "stopped"
        else:
            ok = await cancel_and_wait(child.scope, child._done, child.shutdown)
            child_id, shutdown = child.key, child.shutdown
        self.children.pop(child.key, None)
        if not ok:
            telemetry.emit(
                "shutdown_timeout",
                self.name,
                child_id,
                ShutdownTimeout(
                    f"child {child_id!r} of {self.name!r} did not stop within"
                    f" {_timeout_text(shutdown)}; abandoned to finish unwinding"
                ),
                logging.WARNING,
            )

    async def stop_all(self) -> None:
        """Stop every child concurrently, each under its own timer."""
        children = list(self.children.values())
        if not children:
            return
        async with trio.open_nursery() as nursery:
            for child in children:
                nursery.start_soon(self.stop_one, child)


@asynccontextmanager
async def open_dynamic_supervisor(
    max_children: int | None = None,
    *,
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    name: str | None = None,
) -> AsyncIterator[DynamicSupervisorHandle]:
    """``async with open_dynamic_supervisor() as sup:`` -- run one for the block."""
    sup = DynamicSupervisor(
        max_children, max_restarts=max_restarts, max_seconds=max_seconds, name=name
    )
    async with open_behaviour(sup.run, DynamicSupervisorHandle) as handle:
        yield handle


@asynccontextmanager
async def open_task_supervisor(
    max_children: int | None = None, *, name: str | None = None
) -> AsyncIterator[TaskSupervisorHandle]:
    """``async with open_task_supervisor() as tasks:`` -- run one for the block.

    On exit, the tasks still running are cancelled (each under its shutdown).
    """
    sup = TaskSupervisor(max_children, name=name)
    async with open_behaviour(sup.run, TaskSupervisorHandle) as handle:
        yield handle
