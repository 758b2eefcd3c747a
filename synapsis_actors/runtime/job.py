"""One stream's work: the body of the task ``open_stream`` starts.

Top to bottom: ask the provider for the HTTP request, send it (retrying under
the retry policy, and only until the first body byte), feed the body's bytes to
the provider's decoder per network chunk, send one ``ProviderChunk`` per event
into the caller's bounded channel, and finish with exactly one
``ProviderDone``, whatever happens. The time limits are one trio cancel scope whose
deadline moves when a content event arrives; pings and SSE comments do not
move it; a tripped limit ends the stream with ``StreamStalled``. Cancellation
closes the response (RST_STREAM on HTTP/2) before anything else.

Nothing here knows a vendor's field names: that is the provider's decoder.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import tenacity
import trio

from ..errors import (
    APIConnectionError,
    APIStatusError,
    ProviderError,
    StreamCancelled,
    StreamInterrupted,
    StreamStalled,
)
from ..model.accumulator import with_output_estimate
from ..model.config import ProviderConfig
from ..model.events import Ping, ProviderChunk, ProviderDone
from ..model.http import HttpRequest
from ..model.ratelimits import RateLimits, RateLimitStatus
from ..model.reply import AssistantMessage
from ..model.request import Request
from ..model.secrets import scrub, scrub_bytes
from ..transport.http import (
    BodyFailed,
    ConnectFailed,
    ConnectTimedOut,
    Exchange,
    HttpTransport,
    Outgoing,
)
from ..transport.retry import AttemptFailed, RetryPolicy, with_retries
from ..wire.errors import request_id
from ..wire.protocol import Provider, StreamDecoder
from ..wire.ratelimits import parse_rate_limits
from . import telemetry
from .budgets import Admission, BudgetStore, admit, estimate_tokens, learn

_log = logging.getLogger(__name__)

_INF = math.inf
#: Bytes of a non-2xx body kept for the error (the rest is not read).
ERROR_BODY_LIMIT = 64 * 1024
#: Characters of an exception's text kept in an error message.
_TEXT_LIMIT = 2000


@attrs.frozen
class ProviderEntry:
    """What the runtime holds for one registered provider (immutable)."""

    name: str
    config: ProviderConfig
    provider: Provider
    #: The HTTP side: the client (built here, or the user's) and its fast paths.
    transport: HttpTransport = attrs.field(repr=False, eq=False)
    policy: RetryPolicy


@attrs.frozen
class Budget:
    """The budget one stream is admitted under: where it is kept, its key, its limits."""

    store: BudgetStore = attrs.field(repr=False)
    key: str
    limits: RateLimits
    admission_timeout: float | None


class _ConsumerGone(Exception):
    """The caller closed its receiving end: stop reading, nobody listens."""


#: SSE gains nothing from compression, and an identity body lets the hot loop
#: read raw network chunks without a decoder layer (unless the provider asks).
_STREAM_DEFAULT_HEADERS = {"accept-encoding": "identity"}


class StreamJob:
    """The state of one stream task. Created by ``open_stream``; ``run`` is the task.

    ``final`` is the terminal ``ProviderDone`` once decided: the receiving side
    yields it itself when the task was cancelled before it could send it.
    ``cancel_reason`` is set by whoever cancels the task (for the error text).
    """

    __slots__ = (
        "admission",
        "attempts",
        "budget",
        "cancel_reason",
        "decoder",
        "entry",
        "events",
        "final",
        "first_deadline",
        "first_sent_at",
        "input_estimate",
        "rate_limits",
        "ref",
        "request",
        "request_id",
        "response",
        "send",
        "sent_at",
        "spec",
    )

    def __init__(
        self,
        ref: Any,
        entry: ProviderEntry,
        request: Request,
        send: trio.MemorySendChannel[Any],
        budget: Budget | None = None,
        spec: HttpRequest | None = None,
    ) -> None:
        self.ref = ref
        self.spec = spec  # the HTTP request, when open_stream built it already
        self.budget = budget
        self.admission: Admission | None = None
        self.input_estimate = 0
        self.rate_limits: RateLimitStatus | None = None
        self.entry = entry
        self.request = request
        self.send = send
        self.decoder: StreamDecoder | None = None
        self.response: Exchange | None = None
        self.request_id: str | None = None
        self.final: ProviderDone | None = None
        self.cancel_reason = "cancelled"
        self.sent_at = 0.0
        self.first_deadline = _INF
        self.events = 0
        #: Requests sent (retries included) and when the first went out: errors say both.
        self.attempts = 0
        self.first_sent_at: float | None = None

    # ------------------------------------------------------------------ task

    async def run(self) -> None:
        """The task body. Ends with exactly one ``ProviderDone`` (sent, or kept in
        ``final`` when cancelled). Only ``trio.Cancelled`` (and BaseExceptions)
        escape; every ``Exception`` becomes a typed error on the ``ProviderDone``.
        """
        try:
            try:
                done = await self._stream()
            except trio.Cancelled:
                self._record_cancel()
                await self._settle()
                raise
            except _ConsumerGone:
                self.cancel_reason = "the caller stopped reading"
                self._record_cancel()
                await self._settle()
                return
            except Exception as exc:  # a crash still ends with one typed ProviderDone
                done = self._failed(self._unexpected(exc))
            await self._settle()
            self.final = done
            try:
                # No checkpoint when there is room: the task ends right after,
                # so the reader's terminate finds it done without a round trip.
                self.send.send_nowait(done)
            except trio.WouldBlock:
                try:
                    await self.send.send(done)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the caller left; it gets ``final`` if it ever asks
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the caller left; it gets ``final`` if it ever asks
        finally:
            self.send.close()

    async def _stream(self) -> ProviderDone:
        entry = self.entry
        spec = self.spec or entry.provider.build_request(entry.config, self.request)
        if self.budget is not None:
            self.input_estimate = estimate_tokens(json.dumps(spec.json) if spec.json else None)
        request = entry.transport.prepare(
            spec, defaults=_STREAM_DEFAULT_HEADERS, http2=entry.config.http2
        )
        if telemetry.active():  # the event's data (headers redacted) costs when nobody listens
            telemetry.emit(
                "provider.request.start",
                {
                    "ref": self.ref,
                    "provider": entry.name,
                    "kind": entry.config.kind,
                    "model": self.request.model,
                    "method": request.method,
                    "url": scrub(request.url, entry.config.api_key),
                    "headers": telemetry.redact_headers(request.headers),
                    "request": self.request,
                },
            )
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("stream %r: %s %s", self.ref, request.method, request.path)
        try:
            opened: tuple[Exchange, AsyncIterator[bytes], bytes] = await with_retries(
                entry.policy, self._attempt, request, before_sleep=self._on_retry
            )
        except AttemptFailed as failed:
            return self._failed(failed.error)
        response, chunks, first = opened
        self.response = response
        # Only _body keeps the first chunk, and only until it is decoded.
        body = self._body(chunks, first)
        del opened, first
        try:
            return await body
        finally:
            await response.close(finished=self.decoder is not None and self.decoder.complete)

    async def abandon(self) -> None:
        """The caller left before the end: tell the server now (the task is being cancelled).

        Called from the caller's task, so an HTTP/2 stream's reset leaves
        without waiting for this task to be scheduled and unwind.
        """
        response = self.response
        if response is not None and self.final is None:
            await response.abort()

    # --------------------------------------------------------------- attempt

    async def _attempt(self, request: Outgoing) -> tuple[Exchange, AsyncIterator[bytes], bytes]:
        """Send ``request`` and read up to the first body chunk (what may be retried)."""
        config = self.entry.config
        if self.budget is not None:
            await self._admit()
        self.sent_at = trio.current_time()
        self.attempts += 1
        if self.first_sent_at is None:
            self.first_sent_at = self.sent_at
        limit = config.first_event_timeout
        self.first_deadline = _INF if limit is None else self.sent_at + limit
        response: Exchange | None = None
        with trio.CancelScope(deadline=self.first_deadline):
            try:
                response = await self.entry.transport.send(request)
                self.request_id = request_id(response.headers)
                self.rate_limits = parse_rate_limits(response.headers)
                if not 200 <= response.status < 300:
                    await self._status_failure(response)
                if self.budget is not None and self.rate_limits is not None:
                    await self._learn(response.status, None)
                chunks = response.body()
                try:
                    first = await chunks.__anext__()
                except StopAsyncIteration:
                    first = b""  # an empty body: the decoder's close() says what it means
                return response, chunks, first
            except ConnectTimedOut as exc:
                await self._discard(request, response)
                await self._give_back(response)
                raise AttemptFailed(
                    self._stalled("connect", config.connect_timeout), retryable=True
                ) from exc
            except (ConnectFailed, BodyFailed) as exc:
                await self._discard(request, response)
                await self._give_back(response)
                reason = _connection_failure(exc)
                text = f"{reason}: {exc}" if reason else f"connection failed: {exc}"
                error = APIConnectionError(scrub(text, config.api_key))
                error.reason = reason and scrub(reason, config.api_key)
                error.__cause__ = exc  # the HTTP stack's own error, for --debug and tracebacks
                raise AttemptFailed(self._tag(error), retryable=True) from exc
            except BaseException:
                await self._discard(request, response)
                raise
        # The first-event limit tripped before the first body byte: a read
        # timeout in the SDKs' terms, so it is retried.
        await self._discard(request, response)
        await self._give_back(response)
        raise AttemptFailed(self._stalled("first_event", limit), retryable=True)

    async def _status_failure(self, response: Exchange) -> None:
        entry = self.entry
        # Some servers echo the key they refused; the error keeps the body.
        body = scrub_bytes(await response.error_body(ERROR_BODY_LIMIT), entry.config.api_key)
        decision = entry.policy.classify_status(
            response.status, entry.provider.retry_headers(response.headers, body)
        )
        error = entry.provider.error_from_response(
            response.status,
            response.headers,
            body,
            entry.name,
            retry_after=decision.retry_after,  # the one parse: the wait uses it too
        )
        self._tag(error)
        if error.status is None:
            error.status = response.status
        if decision.over_cap is not None and isinstance(error, APIStatusError):
            error.retry_after = decision.over_cap
        error.rate_limits = self.rate_limits
        if self.budget is not None:
            await self._learn(response.status, decision.retry_after)
            if self.admission is not None:
                await self.admission.refused()
                self.admission = None
        raise AttemptFailed(error, retryable=decision.retry, delay=decision.delay)

    # ---------------------------------------------------------------- budget

    async def _admit(self) -> None:
        budget = self.budget
        assert budget is not None
        try:
            self.admission = await admit(
                budget.store,
                budget.key,
                budget.limits,
                self.input_estimate,
                budget.admission_timeout,
            )
        except ProviderError as error:  # AdmissionTimedOut, BudgetUnavailable
            raise AttemptFailed(self._tag(error), retryable=False) from None

    async def _learn(self, status: int, retry_after: float | None) -> None:
        budget = self.budget
        assert budget is not None
        await learn(budget.store, budget.key, budget.limits, status, retry_after, self.rate_limits)

    async def _give_back(self, response: Exchange | None) -> None:
        """An attempt that failed before its response: the server may never have
        seen it, so its request and tokens go back to the budget."""
        if self.admission is not None and response is None:
            await self.admission.release()
            self.admission = None

    async def _settle(self) -> None:
        """The stream ended: the input estimate becomes the reported usage, the
        output is charged; without usage the estimate stands (the server saw it)."""
        admission, self.admission = self.admission, None
        if admission is None:
            return
        usage = self.decoder.message().usage if self.decoder is not None else None
        await admission.settle(usage)

    async def _discard(self, request: Outgoing, response: Exchange | None) -> None:
        if response is not None:
            await response.close(finished=False)
        else:
            # Abandoned before the headers: httpcore has no response to close
            # and would leave an HTTP/2 stream open on the server.
            await request.abandon()

    async def _on_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        error = exc.error if isinstance(exc, AttemptFailed) else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        if telemetry.active():
            telemetry.emit(
                "provider.request.retry",
                {
                    "ref": self.ref,
                    "provider": self.entry.name,
                    "attempt": state.attempt_number,
                    "delay": delay,
                    "error": type(error).__name__,
                    "status": getattr(error, "status", None),
                },
            )
        _log.info(
            "stream %r: attempt %d failed (%s), retrying in %.2fs",
            self.ref,
            state.attempt_number,
            error,
            delay,
        )

    # ------------------------------------------------------------------ body

    async def _body(self, chunks: AsyncIterator[bytes], first: bytes) -> ProviderDone:
        decoder = self.decoder = self.entry.provider.decoder(self.entry.name, ref=self.ref)
        feed = decoder.feed
        offer = self._offer
        clock_now = trio.lowlevel.current_clock().current_time
        idle = self.entry.config.idle_timeout
        # Moving a cancel scope's deadline costs a timer-heap operation, too much
        # per event in a burst. So the deadline is moved in steps: to ``idle +
        # step`` ahead, and again only once ``step`` has passed (``refresh_at``).
        # The idle limit thus trips between ``idle`` and ``idle + step`` (step =
        # idle / 8) after the last content event, and a burst costs one clock
        # read and one float comparison per network chunk. (A wait for a slow
        # caller only moves the deadline later: see _send_blocking.)
        step = 0.0 if idle is None else idle / 8
        refresh_at = -_INF
        got_content = False
        chunk = first
        del first  # freed once decoded (chunk is rebound to the next read)
        with trio.CancelScope(deadline=self.first_deadline) as limit:
            try:
                while True:
                    if chunk:
                        out = feed(chunk)
                        # Neither the bytes nor the events stay referenced here
                        # while the next read waits: the caller frees each event.
                        chunk = b""
                        if out:
                            # Sent without a checkpoint while the channel has room.
                            pending = iter(out)
                            blocked = offer(pending)
                            if blocked is not None:  # the caller lags: wait for room
                                await self._send_blocking(blocked, limit)
                                await self._deliver(pending, limit)
                            self.events += len(out)
                            last = out[-1].event
                            if type(last) is not Ping or any(
                                type(m.event) is not Ping for m in out
                            ):
                                if idle is not None:
                                    now = clock_now()
                                    if now > refresh_at:
                                        limit.deadline = now + idle + step
                                        refresh_at = now + step
                                elif not got_content:
                                    limit.deadline = _INF
                                if not got_content:
                                    got_content = True
                                    self._first_event()
                        del out
                        if decoder.error is not None:
                            # An error event came with other events in this chunk:
                            # they are delivered, now the error ends the stream.
                            return self._failed(decoder.error)
                    try:
                        chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        break
            except BodyFailed as exc:
                if not decoder.complete:
                    text = scrub(f"connection lost mid-stream: {exc}", self.entry.config.api_key)
                    interrupted = StreamInterrupted(text[:_TEXT_LIMIT], partial=decoder.message())
                    interrupted.__cause__ = exc
                    return self._failed(interrupted)
                # The terminal event arrived: a reset after it changes nothing.
            except ProviderError as error:  # an error event after the 200, or bad data
                return self._failed(error)
        if limit.cancelled_caught:
            if got_content:
                return self._failed(self._stalled("idle", idle))
            return self._failed(self._stalled("first_event", self.entry.config.first_event_timeout))
        try:
            out = decoder.close()
        except ProviderError as error:
            return self._failed(error)
        if out:
            await self._deliver(iter(out), limit)
            self.events += len(out)
        return self._succeeded()

    def _offer(self, pending: Iterator[ProviderChunk]) -> ProviderChunk | None:
        """Send from ``pending`` while the channel has room; the one that did not fit, or None."""
        send_nowait = self.send.send_nowait
        try:
            for message in pending:
                send_nowait(message)
        except trio.WouldBlock:
            return message
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _ConsumerGone from exc
        return None

    async def _deliver(self, pending: Iterator[ProviderChunk], limit: trio.CancelScope) -> None:
        """Send the rest of ``pending`` in order, waiting for room when the channel is full."""
        while (blocked := self._offer(pending)) is not None:
            await self._send_blocking(blocked, limit)

    async def _send_blocking(self, message: ProviderChunk, limit: trio.CancelScope) -> None:
        # A full channel means a slow caller; waiting for it must not count
        # against the server's time limits, so the deadline is paused meanwhile.
        saved = limit.deadline
        limit.deadline = _INF
        started = trio.current_time()
        try:
            await self.send.send(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _ConsumerGone from exc
        finally:
            limit.deadline = saved + (trio.current_time() - started)

    # --------------------------------------------------------------- outcomes

    def _message(self) -> AssistantMessage:
        return self.decoder.message() if self.decoder is not None else AssistantMessage()

    def _partial(self) -> AssistantMessage:
        """The reply so far of a stream that did not finish: usage as known, the
        output tokens estimated (and flagged) where the server's count is missing."""
        message = self._message()
        if self.decoder is None or self.decoder.complete:
            return message
        return with_output_estimate(message)

    def _tag(self, error: ProviderError) -> ProviderError:
        # The registered name, not the kind a decoder may have put there.
        error.provider = self.entry.name
        if error.request_id is None:
            error.request_id = self.request_id
        if self.first_sent_at is not None:
            error.attempts = max(self.attempts, 1)
            error.elapsed = trio.current_time() - self.first_sent_at
        return error

    def _stalled(self, limit: str, seconds: float | None) -> StreamStalled:
        text = {
            "connect": "could not connect within",
            "first_event": "no content event within",
            "idle": "no content event for",
        }[limit]
        error = StreamStalled(f"{text} {seconds}s", limit=limit, seconds=seconds or 0.0)
        self._tag(error)
        return error

    def _unexpected(self, exc: Exception) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        text = scrub(f"stream task failed: {type(exc).__name__}: {exc}", self.entry.config.api_key)
        error = ProviderError(text[:_TEXT_LIMIT])
        error.__cause__ = exc
        _log.error("stream %r: unexpected failure", self.ref, exc_info=exc)
        return error

    def _first_event(self) -> None:
        if telemetry.active():
            telemetry.emit(
                "provider.stream.first_event",
                {
                    "ref": self.ref,
                    "provider": self.entry.name,
                    "request_id": self.request_id,
                    "seconds": trio.current_time() - self.sent_at,
                },
            )

    def _failed(self, error: ProviderError) -> ProviderDone:
        self._tag(error)
        message = self._partial()
        if isinstance(error, StreamInterrupted):
            error.partial = message
        if telemetry.active():
            telemetry.emit(
                "provider.stream.error",
                {
                    "ref": self.ref,
                    "provider": self.entry.name,
                    "request_id": self.request_id,
                    "seconds": trio.current_time() - self.sent_at,
                    "error": type(error).__name__,
                    "status": error.status,
                    "message": scrub(str(error), self.entry.config.api_key),
                    "reply": message,
                },
            )
        _log.warning("stream %r failed: %s", self.ref, error)
        if error.rate_limits is None:
            error.rate_limits = self.rate_limits
        return ProviderDone(
            self.ref,
            None,
            message.raw_stop_reason,
            message.usage,
            message,
            error,
            self.rate_limits,
        )

    def _succeeded(self) -> ProviderDone:
        message = self._message()
        if telemetry.active():
            telemetry.emit(
                "provider.stream.done",
                {
                    "ref": self.ref,
                    "provider": self.entry.name,
                    "request_id": self.request_id,
                    "seconds": trio.current_time() - self.sent_at,
                    "events": self.events,
                    "stop_reason": message.stop_reason,
                    "usage": message.usage,
                    "reply": message,
                },
            )
        _log.debug("stream %r done: %s", self.ref, message.stop_reason)
        return ProviderDone(
            self.ref,
            message.stop_reason,
            message.raw_stop_reason,
            message.usage,
            message,
            None,
            self.rate_limits,
        )

    def _record_cancel(self) -> None:
        """Decide the terminal message of a cancelled stream (synchronously: we are cancelled)."""
        if self.final is not None:
            return
        error = self._tag(StreamCancelled(f"stream cancelled: {self.cancel_reason}"))
        message = self._partial()
        self.final = ProviderDone(
            self.ref, None, message.raw_stop_reason, message.usage, message, error, self.rate_limits
        )
        if telemetry.active():
            telemetry.emit(
                "provider.stream.cancel",
                {
                    "ref": self.ref,
                    "provider": self.entry.name,
                    "request_id": self.request_id,
                    "seconds": trio.current_time() - self.sent_at,
                    "reason": self.cancel_reason,
                    "reply": message,
                },
            )
        _log.debug("stream %r cancelled: %s", self.ref, self.cancel_reason)
        try:
            self.entry.provider.on_cancel(self.ref)
        except Exception:
            _log.exception("provider %s: on_cancel failed", self.entry.name)


def _connection_failure(exc: BaseException) -> str | None:
    """What went wrong with the connection, in the words a person looks for, or None.

    The OS error at the bottom of the HTTP stack's chain (refused, name not
    resolved, TLS) names the cause better than the wrapper's text.
    """
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return f"host name not resolved ({current.strerror or current})"
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({current.verify_message or current})"
        if isinstance(current, ssl.SSLError):
            return f"TLS failed ({current.reason or current})"
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return None
