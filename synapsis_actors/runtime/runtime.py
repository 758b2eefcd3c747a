"""The runtime that runs provider streams: ``open_runtime``, ``open_stream``, ``complete``.

The supervision tree of :func:`open_runtime` (restart policies in one place,
:func:`runtime_children`)::

    runtime (Supervisor, one_for_one, 3 restarts in 5 s)
    ├── provider_registry   ProviderRegistryActor   permanent, shutdown 5 s
    └── stream_tasks        TaskSupervisor          permanent, shutdown infinity
        └── one temporary task per open stream (start_nolink)

One stream's path: :func:`open_stream` opens a bounded memory channel that
the caller owns, starts ``StreamJob.run`` (``runtime/job.py``) under the
task supervisor with ``start_nolink`` and yields a :class:`Stream` reading the
channel. The task asks the provider for the request, sends it, feeds body
bytes to the provider's decoder (SSE + accumulation) and sends one
``ProviderChunk`` per event, then exactly one ``ProviderDone``.

Cancellation: leaving the block, cancelling the caller, or
``await rt.cancel(ref)`` terminates the task through the task supervisor; the
task closes its HTTP response on the way out. A caller still reading then
receives the remaining buffered chunks and a ``ProviderDone`` whose error is
``StreamCancelled``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from ..errors import (
    ActorExited,
    ChildNotFound,
    ConfigError,
    NoProcess,
    ProviderError,
    StreamCancelled,
    SupervisorNotRunning,
)
from ..model.catalog import check_max_tokens
from ..model.events import ProviderChunk, ProviderDone
from ..model.reply import AssistantMessage
from ..model.request import Request
from ..otp import ChildSpec, Supervisor, SupervisorHandle, TaskSupervisor
from .budgets import BudgetStore, LocalBudgets, budget_key
from .job import Budget, StreamJob
from .registry import (
    DEFAULT_MODELS_TTL,
    Poison,
    ProviderRegistryActor,
    Providers,
    ProviderTable,
    close_all,
)

__all__ = [
    "DEFAULT_BUFFER",
    "Runtime",
    "RuntimeStatistics",
    "Stream",
    "StreamRef",
    "complete",
    "open_runtime",
    "open_stream",
    "runtime_children",
]

_log = logging.getLogger(__name__)

#: Default capacity of a stream's channel (events buffered ahead of the caller).
DEFAULT_BUFFER = 64

REGISTRY_ID = "provider_registry"
TASKS_ID = "stream_tasks"

_refs = itertools.count(1)


@attrs.frozen
class StreamRef:
    """Identifies one stream; rides on every message (``msg.ref``) and names it for cancel."""

    id: int
    provider: str

    def __repr__(self) -> str:
        return f"StreamRef({self.id}, {self.provider!r})"


@attrs.frozen
class RuntimeStatistics:
    """``rt.statistics()``: what the runtime holds right now."""

    providers: int
    open_streams: int
    streams_started: int
    registry_restarts: int


@attrs.define(eq=False)
class _Live:
    job: StreamJob
    task: Any


def runtime_children(table: ProviderTable) -> list[ChildSpec]:
    """The runtime's child specs, in start order: the whole restart policy in one list.

    The registry actor is permanent: it holds nothing but a reference to
    ``table`` (owned by the runtime), so a restart loses no provider. The task
    supervisor is permanent; its stream tasks are temporary (never restarted:
    a failed stream reports its error instead of replaying a request).
    """
    return [
        ProviderRegistryActor.child_spec(REGISTRY_ID, table, restart="permanent", shutdown=5.0),
        ChildSpec(TASKS_ID, TaskSupervisor().run, shutdown="infinity"),
    ]


class Runtime:
    """What :func:`open_runtime` yields: ``providers``, ``cancel(ref)``, ``statistics()``."""

    def __init__(
        self, *, models_ttl: float = DEFAULT_MODELS_TTL, budgets: BudgetStore | None = None
    ) -> None:
        self.table = ProviderTable()
        #: Where ``ProviderConfig.rate_limits`` budgets are kept (in the process by default).
        self.budgets: BudgetStore = LocalBudgets() if budgets is None else budgets
        self.providers = Providers(
            self.table, self._registry_call, self._spawn, models_ttl=models_ttl
        )
        self._supervisor: SupervisorHandle | None = None
        self._live: dict[StreamRef, _Live] = {}
        self._started = 0
        # The stream task supervisor's handle, looked up again only after it
        # stopped (a restart gives a new handle): one lookup per stream was a
        # ChildInfo record built twice per request.
        self._task_sup: Any = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<Runtime providers={self.providers.list()} open_streams={len(self._live)}>"

    @property
    def supervisor(self) -> SupervisorHandle:
        """The root supervisor's handle (``which_children()``, ...)."""
        if self._supervisor is None or self._closed:
            raise SupervisorNotRunning("the runtime is not running")
        return self._supervisor

    def statistics(self) -> RuntimeStatistics:
        restarts = 0
        if self._supervisor is not None and not self._closed:
            restarts = self._supervisor.child(REGISTRY_ID).restarts
        return RuntimeStatistics(
            providers=len(self.table.snapshot),
            open_streams=len(self._live),
            streams_started=self._started,
            registry_restarts=restarts,
        )

    async def cancel(self, ref: StreamRef) -> bool:
        """Cancel stream ``ref``: its task ends and its HTTP response is closed.

        Returns when the task has ended; True if it was running, False if it
        had already finished (or ``ref`` is unknown). The stream's reader, if
        still reading, gets a ``ProviderDone`` with ``StreamCancelled``.
        """
        live = self._live.get(ref)
        if live is None or live.task.done:
            return False
        live.job.cancel_reason = "cancel(ref) was called"
        await self._terminate(live)
        return True

    # -------------------------------------------------------------- children

    def _running_value(self, child_id: str) -> Any:
        """The value of child ``child_id`` if it is up, else None."""
        info = self.supervisor.child(child_id)
        value = info.value
        if info.state == "running" and value is not None and getattr(value, "alive", True):
            return value
        return None

    async def _child_value(self, child_id: str, timeout: float = 5.0) -> Any:
        # The common case first, without a timer: the child is up.
        value = self._running_value(child_id)
        if value is not None:
            return value
        # Between a crash and its restart a child has no value: wait for the
        # new incarnation rather than fail a call that would succeed a moment later.
        with trio.move_on_after(timeout):
            while True:
                value = self._running_value(child_id)
                if value is not None:
                    return value
                await trio.sleep(0.001)
        raise NoProcess(f"{child_id} did not come back within {timeout}s")

    async def _registry_call(self, message: Any) -> Any:
        for _ in range(3):
            ref = await self._child_value(REGISTRY_ID)
            try:
                return await ref.call(message)
            except NoProcess:
                # The incarnation died between the lookup and the call: ask the next one.
                await trio.sleep(0.001)
        raise NoProcess("the provider registry actor keeps dying")

    async def _tasks(self) -> Any:
        tasks = self._task_sup
        if tasks is None or not tasks.running:
            tasks = self._task_sup = await self._child_value(TASKS_ID)
        return tasks

    async def _spawn(self, fn: Callable[[], Awaitable[None]]) -> None:
        tasks = await self._tasks()
        await tasks.start_nolink(fn)

    async def _terminate(self, live: _Live) -> None:
        tasks = await self._tasks()
        try:
            await tasks.terminate_child(live.task)
        except (ChildNotFound, SupervisorNotRunning):
            pass  # it ended on its own meanwhile

    async def crash_registry(self, reason: str = "poisoned") -> None:
        """Make the registry actor crash (for tests and demos of supervision).

        The call itself fails with ``ActorExited``; the supervisor restarts
        the actor and every registered provider is still there.
        """
        try:
            await self._registry_call(Poison(reason))
        except ActorExited:
            return


@asynccontextmanager
async def open_runtime(
    *,
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    models_ttl: float = DEFAULT_MODELS_TTL,
    budgets: BudgetStore | None = None,
) -> AsyncIterator[Runtime]:
    """Run the provider runtime for the duration of the block.

    ``budgets`` is where the ``rate_limits`` of the providers' configs are
    kept: None keeps them in this process (``LocalBudgets``);
    ``RedisBudgets(url, namespace=...)`` shares them with every process that
    uses the same Redis and namespace. Its connections close with the block.

    Starts the root supervisor (registry actor, then stream task
    supervisor). On exit, open streams are cancelled, the children stop in
    reverse order, and every provider's HTTP client is closed. If the
    supervisor gives up (restart intensity), ``RestartIntensityExceeded``
    is raised from the block.
    """
    rt = Runtime(models_ttl=models_ttl, budgets=budgets)
    sup = Supervisor(
        runtime_children(rt.table),
        "one_for_one",
        max_restarts,
        max_seconds,
        name="synapsis_actors.runtime",
    )
    try:
        async with trio.open_nursery() as nursery:
            rt._supervisor = await nursery.start(sup.run)
            try:
                yield rt
            finally:
                with trio.CancelScope(shield=True):
                    for live in list(rt._live.values()):
                        live.job.cancel_reason = "the runtime closed"
                    await rt.supervisor.stop()
                rt._closed = True
    finally:
        rt._closed = True
        with trio.CancelScope(shield=True):
            await close_all(rt.table)
            await rt.budgets.aclose()


class Stream:
    """The caller's end of one stream: ``async for msg in stream``.

    Yields ``ProviderChunk`` messages, then exactly one ``ProviderDone``
    (also when the stream failed, crashed or was cancelled), then stops.
    """

    __slots__ = ("_finished", "_job", "_recv", "ref")

    def __init__(self, ref: StreamRef, recv: trio.MemoryReceiveChannel[Any], job: StreamJob):
        self.ref = ref
        self._recv = recv
        self._job = job
        self._finished = False

    def __repr__(self) -> str:
        return f"<Stream {self.ref!r} finished={self._finished}>"

    def __aiter__(self) -> Stream:
        return self

    def statistics(self) -> trio.MemoryChannelStatistics:
        """The channel's statistics: ``current_buffer_used``, ``max_buffer_size``,
        ``tasks_waiting_send`` (1 while the stream task waits for this reader)."""
        return self._recv.statistics()

    async def __anext__(self) -> ProviderChunk | ProviderDone:
        if self._finished:
            raise StopAsyncIteration
        try:
            # Fast path: a buffered message is taken without a trip through the
            # scheduler (a checkpoint per event would dominate the cost per event).
            # The reader still yields whenever the buffer runs dry, i.e. at least
            # once per ``buffer`` messages, so cancellation stays prompt.
            message = self._recv.receive_nowait()
        except trio.WouldBlock:
            try:
                message = await self._recv.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return self._end()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return self._end()
        if type(message) is ProviderDone:
            self._finished = True
        return message  # type: ignore[no-any-return]

    def _end(self) -> ProviderDone:
        # The task ended without handing over its ProviderDone (it was
        # cancelled while the channel was full, or never ran): the reader
        # still gets exactly one.
        self._finished = True
        return self._job.final or _lost(self._job)


def _lost(job: StreamJob) -> ProviderDone:
    error = StreamCancelled(
        f"stream ended before it started: {job.cancel_reason}", provider=job.entry.name
    )
    return ProviderDone(job.ref, None, None, AssistantMessage().usage, AssistantMessage(), error)


@asynccontextmanager
async def open_stream(
    rt: Runtime, name: str, request: Request, *, buffer: int = DEFAULT_BUFFER
) -> AsyncIterator[Stream]:
    """Stream ``request`` to provider ``name``; yields a :class:`Stream`.

    ``buffer`` bounds the events waiting for the caller: when it is full the
    task stops reading the socket (and its time limits pause meanwhile).
    Raises ``ProviderNotFound`` for an unknown name and ``ConfigError`` for a
    bad ``request`` or ``buffer``, before any I/O (also for a ``max_tokens``
    above the model's known output limit: ``Providers.model_info``); every other failure
    arrives as the ``ProviderDone``'s error. Leaving the block (normally, by
    an exception, or by cancellation) ends the stream's task and closes its
    response before returning.
    """
    entry = rt.providers.entry(name)
    if not isinstance(request, Request):
        raise ConfigError("request", f"expected a Request, got {type(request).__name__}")
    if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 0:
        raise ConfigError("buffer", f"must be an int >= 0, got {buffer!r}")
    if request.max_tokens is not None:
        # A request the server must refuse is not sent: the model's known limit.
        check_max_tokens(
            request.model, request.max_tokens, rt.providers.model_info(name, request.model)
        )
    # Built here, not in the task: a request the wire refuses (ConfigError
    # naming the field) is raised to the caller before any I/O.
    spec = entry.provider.build_request(entry.config, request)
    ref = StreamRef(next(_refs), name)
    # Not open_memory_channel[...](): the subscripted form builds a typing
    # alias on every call.
    send: trio.MemorySendChannel[ProviderChunk | ProviderDone]
    recv: trio.MemoryReceiveChannel[ProviderChunk | ProviderDone]
    send, recv = trio.open_memory_channel(buffer)
    limits = entry.config.rate_limits
    budget = None
    if limits is not None and limits.limited:
        key = budget_key(entry.config, request.model)
        budget = Budget(rt.budgets, key, limits, entry.config.admission_timeout)
    job = StreamJob(ref, entry, request, send, budget, spec)
    with recv:
        try:
            tasks = await rt._tasks()
            task = await tasks.start_nolink(job.run)
        except BaseException:
            send.close()
            raise
        live = rt._live[ref] = _Live(job, task)
        rt._started += 1
        try:
            yield Stream(ref, recv, job)
        finally:
            if not task.done:  # usually it ended already: it sent its ProviderDone
                if job.final is None:
                    job.cancel_reason = "the caller left the stream's block"
                task.cancel()  # first, so the task cannot read on after the reset
                with trio.CancelScope(shield=True):
                    await job.abandon()
                    await rt._terminate(live)
            rt._live.pop(ref, None)


async def complete(rt: Runtime, name: str, request: Request) -> AssistantMessage:
    """Run ``request`` to the end and return the reply; raises the stream's error.

    The same stream as :func:`open_stream`, accumulated; on failure the
    ``ProviderError`` raised carries what it carries (a ``StreamInterrupted``
    has the partial message).
    """
    async with open_stream(rt, name, request) as stream:
        async for message in stream:
            if type(message) is ProviderDone:
                if message.error is not None:
                    raise message.error
                return message.message
    raise ProviderError("stream ended without a ProviderDone", provider=name)  # unreachable
