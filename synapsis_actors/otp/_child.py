"""The engine shared by every supervisor: one child incarnation, its stop, intensity.

Each incarnation of a child runs in its own task inside the supervisor's
nursery, under its own *shielded* cancel scope. The shield matters: when the
supervisor itself is cancelled, trio would otherwise cancel every child at
once; with it, only the supervisor cancels its children, one at a time, in
the order and with the timers OTP prescribes. The incarnation captures how
the child ended (the nursery never sees a child's exception), so a failing
child can never take its siblings or its supervisor down through trio's
exception propagation.
"""

from __future__ import annotations

import collections
import math
from typing import Any

import trio

from .signals import Shutdown
from .spec import ChildSpec, ShutdownValue

__all__ = [
    "Incarnation",
    "Intensity",
    "StartStatus",
    "cancel_and_wait",
    "exit_reason",
    "should_restart",
]


class StartStatus:
    """The ``task_status`` handed to a child's start function.

    Records the ``started(value)`` call and wakes whoever waits for the start.
    Also serves a running child that re-signals nothing: a second ``started()``
    raises RuntimeError, as trio's does.
    """

    __slots__ = ("error", "event", "is_started", "on_started", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: Any = None
        self.error: BaseException | str | None = None
        self.is_started = False
        self.on_started: Any = None

    def started(self, value: Any = None) -> None:
        if self.is_started or self.event.is_set():
            raise RuntimeError("called 'started' twice on the same task status")
        self.value = value
        self.is_started = True
        if self.on_started is not None:
            self.on_started(value)
        self.event.set()

    def fail(self, error: BaseException | str) -> None:
        if not self.event.is_set():
            self.error = error
            self.event.set()


class Incarnation:
    """One run of a child: its cancel scope, its outcome, its end event."""

    __slots__ = ("done", "normal", "reason", "scope", "status", "stop_requested")

    def __init__(self) -> None:
        self.scope = trio.CancelScope(shield=True)
        self.status = StartStatus()
        self.done = trio.Event()
        self.normal = True
        #: None (returned or cancelled by us), a Shutdown, or the abnormal exception
        self.reason: BaseException | None = None
        self.stop_requested = False

    async def run(self, spec: ChildSpec) -> None:
        """Run the start function to its end. Never raises an ``Exception``.

        ``BaseException``s that are not ours to handle (KeyboardInterrupt,
        SystemExit, a Cancelled from outside) propagate after bookkeeping.
        """
        try:
            with self.scope:
                await spec.start(*spec.args, task_status=self.status, **spec.kwargs)
        except Shutdown as exc:
            self.reason = exc
        except Exception as exc:
            self.reason = exc
            self.normal = False
        finally:
            if not self.status.is_started:
                if self.reason is not None:
                    self.status.fail(self.reason)
                elif self.stop_requested:
                    self.status.fail("shutdown")
                else:
                    self.status.fail(
                        RuntimeError(
                            f"start function of child {spec.id!r} returned without calling"
                            " task_status.started()"
                        )
                    )
            self.done.set()

    async def stop(self, shutdown: ShutdownValue) -> bool:
        """Cancel the incarnation and wait for it per ``shutdown``.

        Returns False when it did not end in time (the caller reports a
        ShutdownTimeout): trio cannot kill a task, so it is left to finish
        its unwinding in the nursery. ``"brutal_kill"`` does not wait at all.
        """
        self.stop_requested = True
        return await cancel_and_wait(self.scope, self.done, shutdown)


async def cancel_and_wait(
    scope: trio.CancelScope, done: trio.Event, shutdown: ShutdownValue
) -> bool:
    """Cancel ``scope``; wait for ``done`` per ``shutdown``; False if it timed out."""
    scope.cancel()
    if done.is_set() or shutdown == "brutal_kill":
        return True
    if shutdown == "infinity":
        await done.wait()
        return True
    with trio.move_on_after(shutdown):
        await done.wait()
    return done.is_set()


def exit_reason(inc: Incarnation) -> object:
    """``"normal"``, ``"shutdown"`` (stopped by the supervisor) or the exception."""
    if inc.reason is not None:
        return inc.reason
    return "shutdown" if inc.stop_requested else "normal"


def should_restart(spec: ChildSpec, normal: bool) -> bool:
    if spec.restart == "permanent":
        return True
    if spec.restart == "transient":
        return not normal
    return False


class Intensity:
    """Restart timestamps pooled over all children of one supervisor.

    ``add()`` records a restart and says whether it is still allowed: at most
    ``max_restarts`` restarts within any ``max_seconds`` window; restarts older
    than ``max_seconds`` drop out.
    """

    __slots__ = ("_times", "max_restarts", "max_seconds")

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._times: collections.deque[float] = collections.deque()

    def add(self) -> bool:
        now = trio.current_time()
        self._times.append(now)
        horizon = now - self.max_seconds
        while self._times and self._times[0] <= horizon:
            self._times.popleft()
        return len(self._times) <= self.max_restarts

    def __len__(self) -> int:
        return len(self._times)


def timeout_text(shutdown: ShutdownValue) -> str:
    return "infinity" if shutdown == "infinity" or shutdown == math.inf else f"{shutdown}s"
