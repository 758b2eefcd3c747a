"""Every error synapsis_actors raises or reports, in one place.

The hierarchy::

    SynapsisError                      base of everything below
    ├── ConfigError (ValueError)       invalid configuration, raised at construction;
    │                                  the message names the offending field
    ├── OTPError                       the supervision runtime (knows nothing of HTTP)
    │   ├── InvalidChildSpec (ConfigError too)
    │   ├── StartError                 a child failed to start: .child_id, .reason
    │   ├── RestartIntensityExceeded   .supervisor, .last_failure (also its __cause__):
    │   │                              escalates to the parent
    │   ├── ChildError                 refusals of management calls, with .child_id
    │   │   ├── AlreadyStarted         start_child: the id is running
    │   │   ├── AlreadyPresent         start_child: the id's spec is kept, not running
    │   │   ├── ChildNotFound          unknown id / task
    │   │   └── ChildRunning           delete_child of a running child
    │   ├── MaxChildrenReached         a dynamic supervisor is full
    │   ├── SupervisorNotRunning       the supervisor has shut down
    │   ├── ShutdownTimeout            a child did not stop within its shutdown time
    │   ├── NoProcess                  call to an unknown / dead actor, or to itself
    │   ├── CallTimeout (TimeoutError) a call got no reply in time
    │   ├── ActorExited                the actor died during a call: .reason
    │   ├── NameTaken                  a unique name is registered: .owner
    │   └── TaskCancelled              a supervised task was cancelled before it produced
    │                                  a result (terminate_child, cancel(), shutdown)
    └── ProviderError                  base of every error a provider stream reports;
        │                              .provider, .status, .request_id, .body,
        │                              .attempts, .elapsed (how many tries, over how long)
        ├── ProviderNotFound (LookupError)  no provider registered under that name
        ├── APIConnectionError         could not connect / send / read the headers: .reason
        ├── APIStatusError             the server said no (HTTP status, or an error
        │   │                          event after a 200, where .status is the error's)
        │   ├── BadRequest             400, 404, 413, 422, invalid_request_error
        │   ├── AuthenticationError    401: the server refused the API key
        │   │   └── PermissionDenied   403: the key works, not for this model/org/region
        │   │                          (a subclass, so `except AuthenticationError` keeps
        │   │                          catching 403s as before)
        │   ├── RateLimited            429: .retry_after (seconds or None)
        │   │   └── AdmissionTimedOut  raised locally: the budget (ProviderConfig.rate_limits)
        │   │                          had no room within admission_timeout; nothing was sent
        │   ├── Overloaded             529, overloaded_error
        │   └── ServerError            other 5xx, api_error
        ├── StreamError                the body went wrong after a 200
        │   ├── StreamInterrupted      ended early: .partial (AssistantMessage so far)
        │   ├── StreamStalled          a time limit tripped: .limit, .seconds
        │   ├── InvalidStreamData      bytes that are not the protocol: .received
        │   └── MalformedToolCall      the model's tool call was unusable (Gemini
        │                              MALFORMED_FUNCTION_CALL): .partial, .reason
        ├── StreamCancelled            the caller left or cancel(ref) was called
        └── BudgetUnavailable          the shared budget store is unreachable and
                                       RedisBudgets(on_unavailable="refuse") was chosen

Not an error: ``synapsis_actors.otp.Shutdown`` (an ``Exception`` raised to exit
*normally*, OTP's ``exit(normal)``) lives in ``otp/signals.py``.

``trio.Cancelled``, ``KeyboardInterrupt`` and ``SystemExit`` are never wrapped.
No error ever carries an API key: messages are built from status, provider name,
request id and the server's error text, never from request headers.
"""

from __future__ import annotations

from typing import Any


class SynapsisError(Exception):
    """Base of every synapsis_actors error."""


class ConfigError(SynapsisError, ValueError):
    """A configuration value is invalid. ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


# ---------------------------------------------------------------- OTP runtime


class OTPError(SynapsisError):
    """Base of the supervision runtime's errors."""


class InvalidChildSpec(OTPError, ConfigError):
    """A child spec or supervisor flag is invalid (raised at construction)."""

    def __init__(self, field: str, message: str) -> None:
        ConfigError.__init__(self, field, message)


class StartError(OTPError):
    """A child failed to start; the supervisor did not start (or restart) it."""

    def __init__(self, child_id: Any, reason: BaseException | str) -> None:
        self.child_id = child_id
        self.reason = reason
        super().__init__(f"child {child_id!r} failed to start: {reason!r}")


class RestartIntensityExceeded(OTPError):
    """More restarts than max_restarts within max_seconds: the supervisor gave up."""

    def __init__(
        self,
        supervisor: Any,
        last_failure: BaseException | None,
        child_id: Any = None,
        max_restarts: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.last_failure = last_failure
        self.child_id = child_id
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        # The child's crash is the cause: tracebacks and ``raise ... from`` readers see it.
        self.__cause__ = last_failure
        super().__init__(
            f"supervisor {supervisor!r} exceeded {max_restarts} restarts in {max_seconds}s;"
            f" last failure in child {child_id!r}: {last_failure!r}"
        )


class ChildError(OTPError):
    """A management call was refused; ``child_id`` says for which child."""

    reason = "error"

    def __init__(self, child_id: Any, message: str | None = None) -> None:
        self.child_id = child_id
        super().__init__(message or f"{self.reason}: {child_id!r}")


class AlreadyStarted(ChildError):
    reason = "already_started"


class AlreadyPresent(ChildError):
    reason = "already_present"


class ChildNotFound(ChildError):
    reason = "not_found"


class ChildRunning(ChildError):
    reason = "running"


class MaxChildrenReached(OTPError):
    """A dynamic supervisor already runs max_children children."""


class SupervisorNotRunning(OTPError):
    """The supervisor has shut down (or never started)."""


class ShutdownTimeout(OTPError):
    """A child did not stop within its shutdown time and was abandoned."""


class NoProcess(OTPError):
    """No live actor under that reference or name (or an actor called itself)."""


class CallTimeout(OTPError, TimeoutError):
    """A call got no reply within its timeout."""


class ActorExited(OTPError):
    """The actor exited while a call was waiting; ``reason`` is its exit reason."""

    def __init__(self, actor: Any, reason: BaseException | str | None) -> None:
        self.actor = actor
        self.reason = reason
        super().__init__(f"actor {actor!r} exited during the call: {reason!r}")


class NameTaken(OTPError):
    """A unique name is already registered; ``owner`` holds it."""

    def __init__(self, name: Any, owner: Any) -> None:
        self.name = name
        self.owner = owner
        super().__init__(f"name {name!r} is already registered by {owner!r}")


class TaskCancelled(OTPError):
    """A supervised task was cancelled (terminate_child, ``TaskHandle.cancel()``,
    its supervisor stopping) before it returned or raised; ``task`` names it."""

    def __init__(self, task: Any) -> None:
        self.task = task
        super().__init__(f"task {task!r} was cancelled before it produced a result")


# ----------------------------------------------------------------- providers


class ProviderError(SynapsisError):
    """Base of every error a provider stream reports.

    ``provider`` is the registered name (or kind), ``status`` the HTTP status or
    the in-stream error's equivalent, ``request_id`` the server's request id
    when it sent one, ``body`` the server's error payload (decoded JSON or a
    truncated text), ``rate_limits`` the server's rate-limit headers
    (a ``RateLimitStatus``) when the response carried any. Never an API key.

    ``attempts`` is how many requests were sent for it (retries included) and
    ``elapsed`` the seconds from the first send to the failure (None when the
    error came from no request, e.g. ``ProviderNotFound``).
    """

    rate_limits: Any = None
    attempts: int = 1
    elapsed: float | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.body = body
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.provider:
            parts.append(f"provider={self.provider}")
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.attempts > 1:
            parts.append(f"attempts={self.attempts}")
            if self.elapsed is not None:
                parts.append(f"elapsed={self.elapsed:.3g}s")
        return " ".join(parts) if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"


class ProviderNotFound(ProviderError, LookupError):
    """No provider is registered under that name."""


class APIConnectionError(ProviderError):
    """Could not connect, send the request or read the response headers.

    ``reason`` is the cause in a few words when it is known ("connection
    refused", "host name not resolved (...)", "TLS failed (...)"); the
    message adds the HTTP stack's own words.
    """

    reason: str | None = None


class APIStatusError(ProviderError):
    """The server refused the request (HTTP status or an error event after a 200).

    ``retry_after`` is the delay (seconds) the server asked for, when it asked
    one longer than the runtime is willing to wait (``max_retry_delay``).
    """

    retry_after: float | None = None


class BadRequest(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    """401: the server refused the API key (missing, wrong, revoked)."""


class PermissionDenied(AuthenticationError):
    """403: the key was accepted but may not do this (model, organization, region).

    A subclass of ``AuthenticationError`` so that code catching that for
    "the key does not work here" (which 403s were before this class existed)
    still catches it; catch ``PermissionDenied`` first to tell the two apart.
    """


class RateLimited(APIStatusError):
    """429. ``retry_after`` is the server's requested delay in seconds, if any.

    Read from ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP
    date) by the same parser that decides the wait before a retry: ``0.0``
    when the server named a time already past ("retry now"); None when it
    named nothing usable (no header, ``inf``, a negative number, garbage).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class AdmissionTimedOut(RateLimited):
    """The budget had no room for the request within ``admission_timeout``.

    Raised locally, before anything was sent: ``retry_after`` is how many
    seconds from now the budget expected room (None when it could not say).
    """


class Overloaded(APIStatusError):
    pass


class ServerError(APIStatusError):
    pass


class StreamError(ProviderError):
    """The response body went wrong after a 200 status."""


class StreamInterrupted(StreamError):
    """The stream ended before its final event; ``partial`` is what arrived."""

    def __init__(self, message: str, *, partial: Any = None, **kw: Any) -> None:
        self.partial = partial
        super().__init__(message, **kw)


class StreamStalled(StreamError):
    """A time limit tripped: ``limit`` is "connect", "first_event" or "idle"."""

    def __init__(self, message: str, *, limit: str, seconds: float, **kw: Any) -> None:
        self.limit = limit
        self.seconds = seconds
        super().__init__(message, **kw)


class InvalidStreamData(StreamError):
    """Bytes that break the protocol; ``received`` holds them (truncated)."""

    def __init__(self, message: str, *, received: bytes | str = b"", **kw: Any) -> None:
        self.received = received
        super().__init__(message, **kw)


class MalformedToolCall(StreamError):
    """The provider reported that the model's tool call could not be used.

    Gemini ends such a reply with ``finishReason: MALFORMED_FUNCTION_CALL``
    (or ``UNEXPECTED_TOOL_CALL``) and no call. ``partial`` is the reply so
    far, ``reason`` the vendor's finish reason; the message carries the
    vendor's explanation. The request itself was fine: sending it again may
    succeed.
    """

    def __init__(self, message: str, *, partial: Any = None, reason: str = "", **kw: Any) -> None:
        self.partial = partial
        self.reason = reason
        super().__init__(message, **kw)


class StreamCancelled(ProviderError):
    """The stream was cancelled by its caller (left the block, cancel scope, cancel(ref))."""


class BudgetUnavailable(ProviderError):
    """The shared budget store could not be reached and was configured to refuse
    (``RedisBudgets(on_unavailable="refuse")``) rather than fall back."""


# Every error above, listed once: `synapsis_actors` re-exports exactly these.
__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "ActorExited",
    "AdmissionTimedOut",
    "AlreadyPresent",
    "AlreadyStarted",
    "AuthenticationError",
    "BadRequest",
    "BudgetUnavailable",
    "CallTimeout",
    "ChildError",
    "ChildNotFound",
    "ChildRunning",
    "ConfigError",
    "InvalidChildSpec",
    "InvalidStreamData",
    "MalformedToolCall",
    "MaxChildrenReached",
    "NameTaken",
    "NoProcess",
    "OTPError",
    "Overloaded",
    "PermissionDenied",
    "ProviderError",
    "ProviderNotFound",
    "RateLimited",
    "RestartIntensityExceeded",
    "ServerError",
    "ShutdownTimeout",
    "StartError",
    "StreamCancelled",
    "StreamError",
    "StreamInterrupted",
    "StreamStalled",
    "SupervisorNotRunning",
    "SynapsisError",
    "TaskCancelled",
]
