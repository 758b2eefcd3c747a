"""Rate-limit response headers of both families -> ``RateLimitStatus``.

* Anthropic: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
  {limit,remaining,reset}``, the reset an RFC 3339 timestamp.
* OpenAI (and the OpenAI-compatible servers that copy it):
  ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, the reset a
  duration such as ``6m0s``, ``1s`` or ``120ms``.

Both are read from every response; where both name the same limit the
Anthropic header wins. A value that does not parse leaves that field None
(a garbled header must not fail a reply that arrived fine), and is logged at
debug level. Resets are seconds from ``now`` (``time.time()`` by default).
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Mapping

from ..model.ratelimits import RateLimitStatus, RateLimitWindow

_log = logging.getLogger(__name__)

#: field of RateLimitStatus -> the name of that limit in each family (None: not sent).
_LIMITS: tuple[tuple[str, str, str | None], ...] = (
    ("requests", "requests", "requests"),
    ("tokens", "tokens", "tokens"),
    ("input_tokens", "input-tokens", None),
    ("output_tokens", "output-tokens", None),
)

_PREFIXES = ("anthropic-ratelimit-", "x-ratelimit-")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_rate_limits(
    headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitStatus | None:
    """The rate-limit headers of one response, or None when it carried none.

    ``headers`` is any mapping (``httpx.Headers``, a dict), names in any case.
    """
    # One pass over the headers (every response pays it): most carry none.
    found: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low.startswith(_PREFIXES):
            found[low] = value
    if not found:
        return None
    windows: dict[str, RateLimitWindow] = {}
    clock = time.time() if now is None else now
    for field, anthropic, openai in _LIMITS:
        window = _anthropic(found, anthropic, clock)
        if window is None and openai is not None:
            window = _openai(found, openai)
        if window is not None:
            windows[field] = window
    return RateLimitStatus(**windows) if windows else None


def _anthropic(headers: dict[str, str], name: str, now: float) -> RateLimitWindow | None:
    prefix = f"anthropic-ratelimit-{name}-"
    limit = headers.get(prefix + "limit")
    remaining = headers.get(prefix + "remaining")
    reset = headers.get(prefix + "reset")
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitWindow(
        _count(prefix + "limit", limit),
        _count(prefix + "remaining", remaining),
        _timestamp(prefix + "reset", reset, now),
    )


def _openai(headers: dict[str, str], name: str) -> RateLimitWindow | None:
    limit = headers.get(f"x-ratelimit-limit-{name}")
    remaining = headers.get(f"x-ratelimit-remaining-{name}")
    reset = headers.get(f"x-ratelimit-reset-{name}")
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitWindow(
        _count(f"x-ratelimit-limit-{name}", limit),
        _count(f"x-ratelimit-remaining-{name}", remaining),
        parse_duration(reset) if reset is not None else None,
    )


def _count(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        _log.debug("unusable %s header: %r", name, text[:64])
        return None
    return value if value >= 0 else None


def _timestamp(name: str, text: str | None, now: float) -> float | None:
    """An RFC 3339 time -> seconds from ``now`` (0.0 when already past)."""
    if text is None:
        return None
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        _log.debug("unusable %s header: %r", name, text[:64])
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(when.timestamp() - now, 0.0)


def parse_duration(text: str) -> float | None:
    """``6m0s``, ``1s``, ``120ms``, ``1h2m3.5s``, ``0.5`` (bare seconds) -> seconds; else None."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds != float("inf") else None
    total = 0.0
    position = 0
    for match in _DURATION.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(value):
        _log.debug("unusable rate-limit duration: %r", value[:64])
        return None
    return total
