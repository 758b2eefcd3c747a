"""Telemetry: what the supervisors do, as events, and as ``logging`` records.

Subscribe a callback to receive every :class:`TelemetryEvent`::

    unsubscribe = telemetry.subscribe(events.append)
    ...
    unsubscribe()

or, scoped (the usual form in tests)::

    with telemetry.subscribed(events.append):
        ...

Event names (``TelemetryEvent.name``):

``child_started``       a child signalled ``task_status.started()``; reason None
``child_start_failed``  a child raised (or returned) before ``started()``; reason: the error
``child_exited``        a child's task ended; reason ``"normal"`` (returned / raised
                        :class:`~synapsis_actors.otp.Shutdown`), ``"shutdown"`` (stopped by
                        its supervisor) or the exception (an abnormal exit, or an error
                        raised while it was being stopped)
``shutdown_timeout``    a child did not end within its shutdown time; reason: a
                        :class:`~synapsis_actors.errors.ShutdownTimeout`
``child_restarted``     the supervisor is restarting a child; reason: the exit reason
``intensity_exceeded``  too many restarts; reason: the
                        :class:`~synapsis_actors.errors.RestartIntensityExceeded`
``shutdown``            the supervisor itself stopped; child_id None; reason ``"normal"``,
                        ``"cancelled"`` or the error it raises

The same events are logged on this module's logger, ``"synapsis_actors.otp.telemetry"`` (abnormal
exits at WARNING, intensity and start failures at ERROR, the rest at DEBUG or
INFO). A callback that raises is logged and otherwise ignored: telemetry never
breaks the runtime. Callbacks run synchronously inside the supervisor, so keep
them short and non-blocking.

Subscriptions are process-wide (one list), which is what a logging-like hook
needs; :func:`subscribe` returns the function that removes the subscription,
and :func:`subscribed` removes it on exit, so tests never leak subscribers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Generic, TypeVar

import attrs
import trio

__all__ = [
    "EVENT_NAMES",
    "Subscribers",
    "TelemetryCallback",
    "TelemetryEvent",
    "subscribe",
    "subscribed",
]

logger = logging.getLogger(__name__)

EVENT_NAMES = frozenset(
    {
        "child_started",
        "child_start_failed",
        "child_exited",
        "shutdown_timeout",
        "child_restarted",
        "intensity_exceeded",
        "shutdown",
    }
)


@attrs.frozen
class TelemetryEvent:
    """One thing a supervisor did.

    ``timestamp`` is ``trio.current_time()`` (so it follows a ``MockClock`` in
    tests), ``supervisor`` the supervisor's name, ``child_id`` the child's id
    (None for supervisor-level events), ``reason`` as listed in the module doc.
    """

    name: str
    supervisor: str
    child_id: Hashable | None
    reason: object
    timestamp: float

    @property
    def abnormal(self) -> bool:
        """True when ``reason`` is an exception other than the normal-exit signal."""
        from .signals import Shutdown

        return isinstance(self.reason, BaseException) and not isinstance(self.reason, Shutdown)


TelemetryCallback = Callable[[TelemetryEvent], None]

C = TypeVar("C", bound=Callable[..., Any])


class Subscribers(Generic[C]):
    """A process-wide list of callbacks (what a logging-like hook needs).

    ``callbacks`` is a copy-on-write tuple: an emitter iterates it without a
    lock and without a copy, even if a callback subscribes or unsubscribes.
    ``subscribe`` returns the function that removes that one subscription
    (calling it again does nothing); ``subscribed`` is the ``with`` form.
    The provider layer's telemetry uses it too.
    """

    __slots__ = ("callbacks",)

    def __init__(self) -> None:
        self.callbacks: tuple[C, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def subscribe(self, callback: C) -> Callable[[], None]:
        self.callbacks = (*self.callbacks, callback)
        removed = False

        def unsubscribe() -> None:
            nonlocal removed
            if removed:
                return
            removed = True
            remaining = list(self.callbacks)
            if callback in remaining:
                remaining.remove(callback)
                self.callbacks = tuple(remaining)

        return unsubscribe

    @contextmanager
    def subscribed(self, callback: C) -> Iterator[None]:
        unsubscribe = self.subscribe(callback)
        try:
            yield
        finally:
            unsubscribe()


_subscribers: Subscribers[TelemetryCallback] = Subscribers()


def subscribe(callback: TelemetryCallback) -> Callable[[], None]:
    """Call ``callback(event)`` for every event; returns the unsubscribe function.

    Unsubscribing twice is harmless.
    """
    return _subscribers.subscribe(callback)


def subscribed(callback: TelemetryCallback) -> AbstractContextManager[None]:
    """``with subscribed(cb):`` -- subscribe for the duration of the block."""
    return _subscribers.subscribed(callback)


def emit(
    name: str,
    supervisor: str,
    child_id: Hashable | None,
    reason: object,
    level: int = logging.DEBUG,
) -> None:
    """Publish one event (internal). Cheap when nobody listens."""
    subscribers = _subscribers.callbacks
    log = logger.isEnabledFor(level)
    if not subscribers and not log:
        return
    event = TelemetryEvent(name, supervisor, child_id, reason, trio.current_time())
    if log:
        logger.log(
            level,
            "%s: %s child=%r reason=%r",
            supervisor,
            name,
            child_id,
            reason,
            exc_info=reason if level >= logging.WARNING and isinstance(reason, Exception) else None,
        )
    for callback in subscribers:
        try:
            callback(event)
        except Exception:
            logger.exception("telemetry callback %r failed on %s", callback, name)
