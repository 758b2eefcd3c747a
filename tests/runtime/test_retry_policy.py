"""The retry policy as pure code (T1-T3), and its tenacity loop on trio's clock."""

from __future__ import annotations

import email.utils
import itertools

import httpx
import pytest
import tenacity
import trio
import trio.testing

from synapsis_actors import ProviderConfig, RateLimited
from synapsis_actors.transport.retry import (
    RETRYABLE_STATUSES,
    AttemptFailed,
    RetryPolicy,
    retrying,
    server_delay,
)
from synapsis_actors.wire.errors import error_from_response

POLICY = RetryPolicy()


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_t1_retryable_statuses(status: int) -> None:
    assert POLICY.classify_status(status, httpx.Headers()).retry


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 501])
def test_t1_other_statuses_are_not_retried(status: int) -> None:
    assert status not in RETRYABLE_STATUSES
    assert not POLICY.classify_status(status, httpx.Headers()).retry


def test_t1_x_should_retry_overrides_the_status() -> None:
    assert not POLICY.classify_status(529, httpx.Headers({"x-should-retry": "false"})).retry
    assert POLICY.classify_status(400, httpx.Headers({"X-Should-Retry": "true"})).retry
    # anything but true/false leaves the status rule in charge
    assert POLICY.classify_status(503, httpx.Headers({"x-should-retry": "maybe"})).retry


def test_t2_retry_after_ms_wins_over_retry_after() -> None:
    headers = httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})
    assert server_delay(headers) == 1.5
    decision = POLICY.classify_status(429, headers)
    assert decision.retry
    assert decision.delay == 1.5


def test_t2_retry_after_seconds_float_and_http_date() -> None:
    assert server_delay(httpx.Headers({"retry-after": "2.5"})) == 2.5
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert server_delay(httpx.Headers({"retry-after": date}), now=now) == pytest.approx(30.0)
    assert server_delay(httpx.Headers({"retry-after": "soon"})) is None
    assert server_delay(httpx.Headers({"retry-after-ms": "nan", "retry-after": "3"})) == 3.0
    assert server_delay(httpx.Headers()) is None


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "retry_after", "delay"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5, 1.5),  # ms wins
        ({"retry-after": "2.5"}, 2.5, 2.5),
        ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0, 30.0),
        # "you may retry now": reported as 0.0, waited for as backoff (the SDKs' 0 < delay)
        ({"retry-after": email.utils.formatdate(NOW - 60, usegmt=True)}, 0.0, None),
        ({"retry-after": "0"}, 0.0, None),
        # not a delay: absent, on the error and for the wait
        ({"retry-after": "inf"}, None, None),
        ({"retry-after": "nan"}, None, None),
        ({"retry-after": "-5"}, None, None),
        ({"retry-after": "soon"}, None, None),
        ({}, None, None),
        # an unusable retry-after-ms lets retry-after speak
        ({"retry-after-ms": "inf", "retry-after": "3"}, 3.0, 3.0),
        ({"retry-after-ms": "-5000", "retry-after": "3"}, 3.0, 3.0),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0, 3.0),
    ],
)
def test_t2_one_parse_gives_the_wait_and_the_errors_retry_after(
    headers: dict[str, str], retry_after: float | None, delay: float | None
) -> None:
    hdrs = httpx.Headers(headers)
    assert server_delay(hdrs, now=NOW) == retry_after
    decision = POLICY.classify_status(429, hdrs, now=NOW)
    assert decision.retry
    assert decision.retry_after == retry_after
    assert decision.delay == delay
    error = error_from_response(429, hdrs, b"{}", "p", retry_after=decision.retry_after)
    assert isinstance(error, RateLimited)
    assert error.retry_after == retry_after
    if decision.delay is not None:  # a server delay that is waited for is the one reported
        assert error.retry_after == decision.delay


def test_t2_wire_errors_do_not_read_retry_after_headers() -> None:
    error = error_from_response(429, httpx.Headers({"retry-after": "7"}), b"{}", "p")
    assert isinstance(error, RateLimited)
    assert error.retry_after is None  # only the runtime's one parse sets it


def test_t2_zero_or_negative_delay_falls_back_to_backoff() -> None:
    for value in ("0", "-5"):
        decision = POLICY.classify_status(503, httpx.Headers({"retry-after": value}))
        assert decision.retry
        assert decision.delay is None


def test_t2_delay_over_the_cap_is_not_retried_and_is_reported() -> None:
    decision = POLICY.classify_status(429, httpx.Headers({"retry-after": "61"}))
    assert not decision.retry
    assert decision.over_cap == 61.0
    # exactly the cap is still honoured
    assert POLICY.classify_status(429, httpx.Headers({"retry-after": "60"})).delay == 60.0
    # the cap comes from the provider config
    small = RetryPolicy.from_config(ProviderConfig(kind="openai", max_retry_delay=5.0))
    assert small.classify_status(429, httpx.Headers({"retry-after": "6"})).over_cap == 6.0


def test_t2_exponential_backoff_with_jitter() -> None:
    no_jitter = [POLICY.backoff(n, rand=lambda: 0.0) for n in range(7)]
    assert no_jitter == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    full_jitter = [POLICY.backoff(n, rand=lambda: 1.0) for n in range(5)]
    assert full_jitter == [0.375, 0.75, 1.5, 3.0, 6.0]


def test_t3_default_two_retries_configurable() -> None:
    assert RetryPolicy.from_config(ProviderConfig(kind="anthropic")).max_retries == 2
    assert RetryPolicy.from_config(ProviderConfig(kind="anthropic", max_retries=5)).max_retries == 5


def _fail(retryable: bool, delay: float | None = None) -> AttemptFailed:
    return AttemptFailed(RateLimited("slow down", status=429), retryable=retryable, delay=delay)


async def test_t2_t3_tenacity_sleeps_on_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    starts: list[float] = []
    sleeps: list[float] = []

    async def attempt() -> str:
        starts.append(trio.current_time())
        if len(starts) == 1:
            raise _fail(True, delay=3.0)  # server-named delay
        if len(starts) == 2:
            raise _fail(True)  # backoff, second retry: 1.0 s without jitter
        return "ok"

    async def record(state: tenacity.RetryCallState) -> None:
        assert state.next_action is not None
        sleeps.append(state.next_action.sleep)

    result = await retrying(POLICY, before_sleep=record, rand=lambda: 0.0)(attempt)
    assert result == "ok"
    assert sleeps == [3.0, 1.0]
    assert [b - a for a, b in itertools.pairwise(starts)] == [3.0, 1.0]


async def test_t3_gives_up_after_max_retries_with_the_last_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise _fail(True)

    with pytest.raises(AttemptFailed) as info:
        await retrying(RetryPolicy(max_retries=2))(attempt)
    assert calls == 3
    assert isinstance(info.value.error, RateLimited)


async def test_not_retryable_and_foreign_exceptions_propagate_at_once() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise _fail(False)

    with pytest.raises(AttemptFailed):
        await retrying(POLICY)(attempt)
    assert calls == 1

    async def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await retrying(POLICY)(boom)


async def test_cancellation_during_backoff_is_not_swallowed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise _fail(True, delay=50.0)

    with trio.move_on_after(10) as scope:
        await retrying(POLICY)(attempt)
    assert scope.cancelled_caught
    assert calls == 1
