"""The rate-limit header parsers against the vendors' documented examples."""

from __future__ import annotations

import datetime

import httpx
import pytest

import synapsis_actors as sa
from synapsis_actors.wire.ratelimits import parse_duration, parse_rate_limits

NOW = datetime.datetime(2025, 10, 25, 12, 0, 0, tzinfo=datetime.UTC).timestamp()


def test_openai_documented_example() -> None:
    # The sample values of OpenAI's rate-limit guide (header table).
    headers = httpx.Headers(
        {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-remaining-tokens": "149984",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    )
    status = parse_rate_limits(headers, now=NOW)
    assert status == sa.RateLimitStatus(
        requests=sa.RateLimitWindow(60, 59, 1.0),
        tokens=sa.RateLimitWindow(150000, 149984, 360.0),
    )
    assert status.input_tokens is None
    assert status.output_tokens is None


def test_anthropic_documented_example() -> None:
    # Anthropic's rate-limit headers: counts, and resets as RFC 3339 times.
    headers = httpx.Headers(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": "2025-10-25T12:00:00Z",
            "anthropic-ratelimit-tokens-limit": "50000",
            "anthropic-ratelimit-tokens-remaining": "49500",
            "anthropic-ratelimit-tokens-reset": "2025-10-25T12:01:00Z",
            "anthropic-ratelimit-input-tokens-limit": "40000",
            "anthropic-ratelimit-input-tokens-remaining": "39600",
            "anthropic-ratelimit-input-tokens-reset": "2025-10-25T12:00:30.5Z",
            "anthropic-ratelimit-output-tokens-limit": "8000",
            "anthropic-ratelimit-output-tokens-remaining": "0",
            "anthropic-ratelimit-output-tokens-reset": "2025-10-25T12:00:07+00:00",
            "retry-after": "7",
        }
    )
    status = parse_rate_limits(headers, now=NOW)
    assert status == sa.RateLimitStatus(
        requests=sa.RateLimitWindow(50, 49, 0.0),
        tokens=sa.RateLimitWindow(50000, 49500, 60.0),
        input_tokens=sa.RateLimitWindow(40000, 39600, 30.5),
        output_tokens=sa.RateLimitWindow(8000, 0, 7.0),
    )
    assert status is not None
    # Fully replenished in 7 s: one token's worth comes back after 7/8000 s.
    assert status.exhausted() == pytest.approx(7.0 / 8000)
    assert sa.RateLimitStatus(requests=sa.RateLimitWindow(None, 0, 2.0)).exhausted() == 2.0
    assert sa.RateLimitStatus(requests=sa.RateLimitWindow(5, 1, 2.0)).exhausted() is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("120ms", 0.12),
        ("1h2m3.5s", 3723.5),
        ("0.5s", 0.5),
        ("17", 17.0),
        ("", None),
        ("soon", None),
        ("6m0", None),
        ("-1s", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_absent_and_garbled() -> None:
    assert parse_rate_limits(httpx.Headers({"content-type": "text/event-stream"})) is None
    status = parse_rate_limits(
        {
            "x-ratelimit-limit-requests": "many",
            "x-ratelimit-remaining-requests": "-3",
            "x-ratelimit-reset-requests": "later",
            "anthropic-ratelimit-tokens-reset": "not a time",
        },
        now=NOW,
    )
    # Each garbled value leaves its field None; the window is still reported.
    assert status == sa.RateLimitStatus(
        requests=sa.RateLimitWindow(None, None, None), tokens=sa.RateLimitWindow(None, None, None)
    )


def test_anthropic_wins_where_both_families_speak() -> None:
    status = parse_rate_limits(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-limit-tokens": "1000",
        },
        now=NOW,
    )
    assert status is not None
    assert status.requests == sa.RateLimitWindow(50, None, None)
    assert status.tokens == sa.RateLimitWindow(1000, None, None)
