"""Actors: OTP's ``gen_server`` on trio.

Subclass :class:`Actor` and override the callbacks::

    class Counter(Actor):
        def __init__(self, start: int = 0) -> None:
            self.count = start

        async def handle_call(self, message, caller):
            if message == "get":
                return self.count          # the reply

        async def handle_cast(self, message) -> None:
            self.count += message

An actor runs in one task that owns a bounded mailbox (a trio memory
channel of ``mailbox_size`` messages, default 64) and handles one message at
a time, in arrival order, so its state needs no locks. Talk to it through
its :class:`ActorRef`:

* ``await ref.call(msg, timeout=5.0)`` -- ``handle_call``'s return value is the
  reply. Raises CallTimeout after ``timeout`` seconds (a late reply is then
  dropped), ActorExited with the exit reason if the actor dies first,
  NoProcess at once if it is not running or if an actor calls itself.
* ``await ref.cast(msg)`` -- fire and forget to ``handle_cast``; waits only while
  the mailbox is full; never raises for a dead actor.
* ``await ref.send(info)`` / ``ref.send_nowait(info)`` -- to ``handle_info``.

Lifecycle: each incarnation is a new instance, built with the start
arguments (``Counter(*args, **kwargs)``), then ``await init()`` runs before the
actor counts as started (an exception in either is a start failure). A
handler that raises crashes the actor; its supervisor decides about a
restart, which builds a *fresh* instance (OTP semantics: no state survives,
keep what must survive outside, as the provider table does). Raising
:class:`~synapsis_actors.otp.Shutdown` stops it normally. ``terminate(reason)``
runs on every exit, shielded, for at most ``terminate_timeout`` seconds.
A restarted actor has a new ActorRef; hold a name in a :class:`Registry` to
find the current one.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from collections.abc import Hashable
from contextlib import nullcontext
from typing import Any, ClassVar, Final

import trio

from ..errors import ActorExited, CallTimeout, InvalidChildSpec, NoProcess
from .registry import Registration, Registry
from .signals import Shutdown
from .spec import ChildSpec, RestartType, ShutdownValue

__all__ = ["NOREPLY", "Actor", "ActorRef", "Caller"]

logger = logging.getLogger(__name__)

_serial = itertools.count(1)


class _NoReply:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOREPLY"


#: Return this from ``handle_call`` to reply later with ``caller.reply(value)``.
NOREPLY: Final = _NoReply()


class Caller:
    """The task waiting in ``call``: ``reply(value)`` or ``fail(error)`` once.

    ``handle_call`` receives it; returning a value replies immediately, and
    returning :data:`NOREPLY` leaves the reply to a later ``caller.reply``
    (from any task). Replies after the caller gave up (timeout, cancellation)
    are dropped silently.
    """

    __slots__ = ("_error", "_event", "_pending", "_value", "abandoned")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._pending: set[Caller] | None = None
        self.abandoned = False

    @property
    def replied(self) -> bool:
        return self._event.is_set()

    def reply(self, value: Any) -> None:
        if not self._event.is_set():
            self._value = value
            self._settle()

    def fail(self, error: BaseException) -> None:
        """Make the caller's ``call`` raise ``error``."""
        if not self._event.is_set():
            self._error = error
            self._settle()

    def _settle(self) -> None:
        self._event.set()
        if self._pending is not None:
            self._pending.discard(self)
            self._pending = None


class _Call:
    __slots__ = ("caller", "message")

    def __init__(self, message: Any, caller: Caller) -> None:
        self.message = message
        self.caller = caller


class _Cast:
    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message


class _Info(_Cast):
    __slots__ = ()


class _Stop:
    __slots__ = ("reason",)

    def __init__(self, reason: object) -> None:
        self.reason = reason


_Envelope = _Call | _Cast | _Stop


class _Process:
    """The running side of an actor: mailbox, task, exit bookkeeping."""

    __slots__ = ("alive", "current", "exit_reason", "exited", "pending", "recv", "send", "task")

    def __init__(self, size: int | float) -> None:
        self.send, self.recv = trio.open_memory_channel[_Envelope](size)
        self.task = trio.lowlevel.current_task()
        self.alive = True
        self.current: Caller | None = None
        self.pending: set[Caller] = set()  # NOREPLY callers still waiting
        self.exit_reason: object = None
        self.exited = trio.Event()


class ActorRef:
    """The address of one actor incarnation. Cheap to copy around; compares by identity.

    After the actor exits the ref is dead for good: ``call`` raises NoProcess,
    ``cast``/``send`` drop the message.
    """

    __slots__ = ("_proc", "actor_type", "name", "serial")

    def __init__(self, proc: _Process, actor_type: str, name: Hashable | None) -> None:
        self._proc = proc
        self.actor_type = actor_type
        self.name = name
        self.serial = next(_serial)

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name is not None else ""
        state = "" if self._proc.alive else " dead"
        return f"<ActorRef {self.actor_type}#{self.serial}{label}{state}>"

    @property
    def alive(self) -> bool:
        return self._proc.alive

    @property
    def exit_reason(self) -> object:
        """None while alive; then ``"normal"``, ``"shutdown"``, a Shutdown reason or the error."""
        return self._proc.exit_reason

    def mailbox_statistics(self) -> Any:
        """trio's ``MemoryChannelStatistics`` of the mailbox (used, size, waiting senders)."""
        return self._proc.send.statistics()

    async def call(self, message: Any, timeout: float | None = 5.0) -> Any:
        """Send ``message`` to ``handle_call`` and wait for the reply.

        ``timeout`` (seconds, None = forever) covers waiting for mailbox space
        too. Raises NoProcess, CallTimeout, ActorExited, or the error the
        handler chose with ``caller.fail``. Cancelling the caller abandons the
        call (the reply, if any, is dropped).
        """
        proc = self._proc
        if not proc.alive:
            raise NoProcess(f"{self!r} is not running")
        if trio.lowlevel.current_task() is proc.task:
            raise NoProcess(f"{self!r} called itself (it would wait for itself forever)")
        caller = Caller()
        deadline = math.inf if timeout is None else trio.current_time() + timeout
        try:
            with trio.CancelScope(deadline=deadline) as scope:
                envelope = _Call(message, caller)
                try:
                    try:
                        # Hot path: no extra schedule point when there is room;
                        # the wait for the reply below is the call's checkpoint.
                        proc.send.send_nowait(envelope)
                    except trio.WouldBlock:
                        await proc.send.send(envelope)  # backpressure: mailbox full
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    raise _exited(self, proc.exit_reason) from None
                await caller._event.wait()
        finally:
            if not caller._event.is_set():
                caller.abandoned = True
        if scope.cancelled_caught and not caller._event.is_set():
            raise CallTimeout(f"{self!r} did not reply to {message!r} within {timeout}s")
        if caller._error is not None:
            raise caller._error
        return caller._value

    async def cast(self, message: Any) -> None:
        """Queue ``message`` for ``handle_cast``; waits only while the mailbox is full.

        Never raises for a dead actor: the message is dropped.
        """
        await self._post(_Cast(message))

    def cast_nowait(self, message: Any) -> None:
        """Like ``cast``; raises ``trio.WouldBlock`` instead of waiting when full."""
        self._post_nowait(_Cast(message))

    async def send(self, info: Any) -> None:
        """Queue ``info`` for ``handle_info`` (as ``cast``, for out-of-band messages)."""
        await self._post(_Info(info))

    def send_nowait(self, info: Any) -> None:
        self._post_nowait(_Info(info))

    async def stop(self, reason: object = "normal") -> None:
        """Ask the actor to stop (after the messages already queued) and wait for it.

        Stopping is a normal exit: a permanent actor is restarted by its
        supervisor, a transient or temporary one is not. No-op if dead.
        Called by the actor on itself, it raises :class:`Shutdown` at once
        (waiting for itself would never end).
        """
        if trio.lowlevel.current_task() is self._proc.task and self._proc.alive:
            raise Shutdown(reason)
        await self._post(_Stop(reason))
        await self._proc.exited.wait()

    async def _post(self, envelope: _Envelope) -> None:
        proc = self._proc
        if proc.alive:
            try:
                await proc.send.send(envelope)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await trio.lowlevel.checkpoint()

    def _post_nowait(self, envelope: _Envelope) -> None:
        proc = self._proc
        if proc.alive:
            try:
                proc.send.send_nowait(envelope)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass


class Actor:
    """Base class of GenServer-style actors; override the async callbacks.

    Class attributes: ``mailbox_size`` (default 64, the bound that gives
    senders backpressure) and ``terminate_timeout`` (seconds ``terminate``
    may take, default 5). ``self.ref`` is the actor's own :class:`ActorRef`
    (set before ``init``).
    """

    mailbox_size: ClassVar[int] = 64
    terminate_timeout: ClassVar[float] = 5.0
    ref: ActorRef

    async def init(self) -> None:
        """Async set-up, after ``__init__`` and before the actor counts as started.

        Raising here is a start failure. Messages sent meanwhile (even by
        ``init`` itself to ``self.ref``) wait in the mailbox.
        """

    async def handle_call(self, message: Any, caller: Caller) -> Any:
        """Answer a ``call``: return the reply (or NOREPLY and ``caller.reply`` later)."""
        raise NotImplementedError(f"{type(self).__name__} does not handle calls ({message!r})")

    async def handle_cast(self, message: Any) -> None:
        """Handle a ``cast``."""
        raise NotImplementedError(f"{type(self).__name__} does not handle casts ({message!r})")

    async def handle_info(self, message: Any) -> None:
        """Handle a ``send``; the default logs and ignores it (as GenServer does)."""
        logger.debug("%r ignored an unexpected message %r", self.ref, message)

    async def terminate(self, reason: object) -> None:
        """Clean up on exit; ``reason`` is "normal", "shutdown", a Shutdown reason or the error."""

    # ------------------------------------------------------------- starting

    @classmethod
    async def start(
        cls,
        *args: Any,
        task_status: trio.TaskStatus[ActorRef] = trio.TASK_STATUS_IGNORED,
        name: Hashable | None = None,
        registry: Registry | None = None,
        **kwargs: Any,
    ) -> None:
        """Run an actor in the current task: ``ref = await nursery.start(Counter.start, 0)``.

        ``args``/``kwargs`` build the instance (``cls(*args, **kwargs)``).
        Follows trio's ``nursery.start`` protocol (so it is a valid
        ``ChildSpec.start``); ``started(ref)`` is called after ``init``.
        With ``name``, the actor holds that name in ``registry`` for its
        lifetime (NameTaken, before ``init``, if it is taken). Returns on a
        normal exit; raises the error of an abnormal one.
        """
        size = cls.mailbox_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidChildSpec("mailbox_size", f"must be an int >= 0, not {size!r}")
        if name is not None and registry is None:
            raise InvalidChildSpec("registry", f"a name ({name!r}) needs a Registry to live in")
        proc = _Process(size)
        ref = ActorRef(proc, cls.__name__, name)
        try:
            registration: Registration | nullcontext[None] = (
                registry.register(name, ref)
                if registry is not None and name is not None
                else nullcontext()
            )
        except BaseException:
            _exit(proc, ref, "failed to register")
            raise
        with registration:
            try:
                actor = cls(*args, **kwargs)
            except BaseException as exc:
                _exit(proc, ref, exc)
                raise
            actor.ref = ref
            await _serve(actor, proc, task_status)

    #: Elixir's name for :meth:`start`.
    start_link = start

    @classmethod
    def child_spec(
        cls,
        id: Hashable,
        *args: Any,
        name: Hashable | None = None,
        registry: Registry | None = None,
        restart: RestartType = "permanent",
        shutdown: ShutdownValue = 5.0,
        **kwargs: Any,
    ) -> ChildSpec:
        """A :class:`ChildSpec` that runs this actor under a supervisor.

        ``args``/``kwargs`` build the instance. The child's started value (in
        ``which_children()``) is the current incarnation's ActorRef.
        """
        if name is not None and registry is None:
            raise InvalidChildSpec("registry", f"a name ({name!r}) needs a Registry to live in")
        start = functools.partial(cls.start, name=name, registry=registry)
        return ChildSpec(id, start, args, kwargs, restart, shutdown)


async def _serve(actor: Actor, proc: _Process, task_status: trio.TaskStatus[ActorRef]) -> None:
    ref = actor.ref
    reason: object = "normal"
    try:
        await actor.init()
        task_status.started(ref)
        recv = proc.recv
        while True:
            envelope = await recv.receive()
            if type(envelope) is _Call:
                caller = envelope.caller
                proc.current = caller
                result = await actor.handle_call(envelope.message, caller)
                proc.current = None
                if result is NOREPLY:
                    if not caller.replied:
                        caller._pending = proc.pending
                        proc.pending.add(caller)
                else:
                    caller.reply(result)
            elif type(envelope) is _Cast:
                await actor.handle_cast(envelope.message)
            elif type(envelope) is _Info:
                await actor.handle_info(envelope.message)
            else:
                assert isinstance(envelope, _Stop)
                raise Shutdown(envelope.reason)
    except Shutdown as exc:
        reason = exc.reason
    except trio.Cancelled:
        reason = "shutdown"
        raise
    except BaseException as exc:
        reason = exc
        raise
    finally:
        _exit(proc, ref, reason)
        with trio.CancelScope(shield=True), trio.move_on_after(type(actor).terminate_timeout):
            try:
                await actor.terminate(reason)
            except Exception:
                logger.exception("%r: terminate(%r) raised", ref, reason)


def _exited(ref: ActorRef, reason: object) -> ActorExited:
    return ActorExited(ref, reason if isinstance(reason, BaseException | str) else repr(reason))


def _exit(proc: _Process, ref: ActorRef, reason: object) -> None:
    """Mark the actor dead and fail every waiting caller with ActorExited."""
    proc.alive = False
    proc.exit_reason = reason
    error = _exited(ref, reason)
    waiting = [proc.current] if proc.current is not None else []
    waiting.extend(proc.pending)
    # Drain synchronously: this also takes the envelopes of senders blocked on
    # a full mailbox, so nobody is left waiting on a dead actor.
    while True:
        try:
            envelope = proc.recv.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            break
        if type(envelope) is _Call:
            waiting.append(envelope.caller)
    proc.recv.close()
    for caller in waiting:
        caller.fail(error)
    proc.pending.clear()
    proc.current = None
    proc.exited.set()
