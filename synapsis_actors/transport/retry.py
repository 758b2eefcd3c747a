"""When to retry a provider request, and how long to wait.

The rules follow the official Anthropic and OpenAI SDKs:

* retried: connection errors and connect/read timeouts before the first byte
  of the body, and the statuses 408, 409, 429, 500, 502, 503, 504, 529;
  a response header ``x-should-retry: true|false`` overrides the status rule;
* delay: ``retry-after-ms``, then ``retry-after`` (seconds as a float, or an
  HTTP date), read by :func:`server_delay` alone (the wait and
  ``RateLimited.retry_after`` both come from it), used when
  ``0 < delay <= max_retry_delay``; a longer delay is
  not waited for: the request fails at once with the status's typed error
  carrying the server's delay in ``retry_after``; with no usable header,
  exponential backoff ``min(0.5 * 2**n, 8)`` seconds times a jitter in
  ``(0.75, 1]``;
* ``max_retries`` retries (default 2, so 3 attempts).

Retries are only ever made before the first event reached the caller; the
runtime (``runtime/runtime.py``) enforces that by running only the "connect, send,
read the headers" part of a stream under :func:`retrying`.

The policy is pure (:class:`RetryPolicy`, :func:`server_delay`,
:meth:`RetryPolicy.classify_status`) and the waiting goes through tenacity's
``AsyncRetrying`` sleeping with ``trio.sleep``, so tests drive it with
``trio.testing.MockClock``.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import attrs
import tenacity
import trio

from ..errors import ProviderError
from ..model.config import ProviderConfig

T = TypeVar("T")

#: Statuses retried unless ``x-should-retry: false`` says otherwise.
RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def server_delay(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The delay the server asked for, in seconds (>= 0), or None when it asked none.

    The one retry-after parser: both the wait before a retry and
    ``RateLimited.retry_after`` come from it. As the official SDKs do,
    ``retry-after-ms`` (milliseconds) wins over ``retry-after``; the latter is
    seconds (a float) or an HTTP date, compared with ``now`` (``time.time()``
    by default). A header only counts when it holds a usable value:

    * ``inf``, ``nan``, a negative number, or garbage: absent (a
      ``retry-after-ms`` like that lets ``retry-after`` speak);
    * an HTTP date in the past: ``0.0``, "you may retry now".

    ``headers`` must be case-insensitive for mixed-case names (``httpx.Headers``
    is) or use lower-case keys.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        ms = _usable(_number(raw_ms))
        if ms is not None:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return _usable(seconds)
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _usable(value: float | None) -> float | None:
    """``value`` when it is a delay (finite, >= 0), else None."""
    return value if value is not None and math.isfinite(value) and value >= 0 else None


@attrs.frozen
class StatusDecision:
    """What to do after a non-2xx status.

    ``retry`` says whether another attempt may be made (attempts permitting);
    ``delay`` is the server's usable delay (None: use backoff);
    ``over_cap`` is the server's delay when it exceeded ``max_retry_delay``
    (then ``retry`` is False and the error must carry it);
    ``retry_after`` is what :func:`server_delay` read, whether or not it is
    waited for: the value ``RateLimited.retry_after`` reports, so the error
    and the wait come from one parse. ``delay`` is ``retry_after`` when
    ``0 < retry_after <= max_retry_delay`` and a retry is allowed.
    """

    retry: bool
    delay: float | None = None
    over_cap: float | None = None
    retry_after: float | None = None


@attrs.frozen
class RetryPolicy:
    """Retry settings for one provider. Build with :meth:`from_config`."""

    max_retries: int = 2
    max_retry_delay: float = 60.0
    initial_delay: float = 0.5
    max_backoff: float = 8.0
    #: The backoff is multiplied by ``1 - jitter * random()``, as the SDKs do.
    jitter: float = 0.25

    @classmethod
    def from_config(cls, config: ProviderConfig) -> RetryPolicy:
        return cls(max_retries=config.max_retries, max_retry_delay=config.max_retry_delay)

    def backoff(self, retries_done: int, rand: Callable[[], float] = random.random) -> float:
        """The wait before retry number ``retries_done + 1`` when the server named none."""
        base = min(self.initial_delay * 2.0**retries_done, self.max_backoff)
        return base * (1.0 - self.jitter * rand())

    def classify_status(
        self, status: int, headers: Mapping[str, str], *, now: float | None = None
    ) -> StatusDecision:
        """Whether to retry after this status and these headers, and after how long."""
        override = headers.get("x-should-retry")
        if override is not None and override.strip().lower() in ("true", "false"):
            retry = override.strip().lower() == "true"
        else:
            retry = status in RETRYABLE_STATUSES
        asked = server_delay(headers, now=now)
        if asked is not None and asked > self.max_retry_delay:
            # The server wants longer than we are willing to wait: fail now and
            # say how long it asked for, so the caller can schedule its own retry.
            return StatusDecision(retry=False, over_cap=asked, retry_after=asked)
        # A zero delay ("now", a past date) is not waited for as such: backoff.
        delay = asked if retry and asked is not None and asked > 0 else None
        return StatusDecision(retry=retry, delay=delay, retry_after=asked)


class AttemptFailed(Exception):
    """One attempt failed: ``error`` is the typed error to report if it is the last.

    ``retryable`` says whether the policy allows another attempt; ``delay`` is
    the server's requested wait (None: exponential backoff). Internal to the
    runtime: callers only ever see ``error``.
    """

    def __init__(self, error: ProviderError, *, retryable: bool, delay: float | None = None):
        self.error = error
        self.retryable = retryable
        self.delay = delay
        super().__init__(str(error))


def retrying(
    policy: RetryPolicy,
    *,
    before_sleep: Callable[[tenacity.RetryCallState], Awaitable[None] | None] | None = None,
    rand: Callable[[], float] = random.random,
) -> tenacity.AsyncRetrying:
    """A tenacity ``AsyncRetrying`` applying ``policy`` to :class:`AttemptFailed`.

    Any other exception (``trio.Cancelled`` included) is re-raised at once.
    After the last attempt the final :class:`AttemptFailed` is re-raised; the
    caller reports its ``error``. Sleeps with ``trio.sleep``.
    """

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, AttemptFailed) and exc.delay is not None:
            return exc.delay
        return policy.backoff(state.attempt_number - 1, rand)

    def should_retry(exc: BaseException) -> bool:
        return isinstance(exc, AttemptFailed) and exc.retryable

    kwargs: dict[str, Any] = {}
    if before_sleep is not None:
        kwargs["before_sleep"] = before_sleep
    return tenacity.AsyncRetrying(
        sleep=trio.sleep,
        stop=tenacity.stop_after_attempt(policy.max_retries + 1),
        wait=wait,
        retry=tenacity.retry_if_exception(should_retry),
        reraise=True,
        **kwargs,
    )


async def with_retries(
    policy: RetryPolicy,
    attempt: Callable[..., Awaitable[T]],
    *args: Any,
    before_sleep: Callable[[tenacity.RetryCallState], Awaitable[None] | None] | None = None,
) -> T:
    """``await attempt(*args)`` under :func:`retrying`, paying for tenacity only on a failure.

    The first attempt runs directly. Only if it fails retryably (and the
    policy allows a retry) is the tenacity controller built; it is handed the
    first failure as its own attempt 1, so waits, ``before_sleep`` and attempt
    numbers are exactly those of ``retrying(policy)(attempt, *args)``.
    """
    try:
        return await attempt(*args)
    except AttemptFailed as failed:
        if not failed.retryable or policy.max_retries < 1:
            raise
        first: AttemptFailed | None = failed

    async def replay(*call_args: Any) -> T:
        nonlocal first
        if first is not None:
            error, first = first, None
            raise error
        return await attempt(*call_args)

    result: T = await retrying(policy, before_sleep=before_sleep)(replay, *args)
    return result
