"""Rate limits: the budget a caller wants kept, and what a server said about its own.

* :class:`RateLimits` is the budget kept *before* sending
  (``ProviderConfig.rate_limits``): at most N requests (or tokens) in any
  window of ``window`` seconds, across everyone sharing the budget.
* :class:`RateLimitStatus` is what the server reported in its response
  headers (``ProviderDone.rate_limits``), one :class:`RateLimitWindow` per
  kind of limit; the header names of each vendor are read in ``wire/``.
* :class:`WindowLog` is the sliding-window log both the in-process budget and
  the embedded provider's server-side limits count with (the Redis budget
  runs the same algorithm as a server-side script).
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ..errors import ConfigError


def _positive_count(name: str) -> Any:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(name, f"must be an int >= 1 or None, got {value!r}")

    return check


def _check_window(_inst: Any, _attr: Any, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError("window", f"must be a positive number of seconds, got {value!r}")


@attrs.frozen
class RateLimits:
    """A budget: at most this many requests / input tokens / output tokens start
    in any window of ``window`` seconds (60 by default, so the names read per
    minute; a shorter window scales every count to it, for tests and demos).

    A request counts when it is sent; its input tokens are estimated from the
    request body and corrected when the server reports usage; its output
    tokens are charged as reported. None leaves that dimension unlimited.

    ``burst`` paces the requests (GCRA): one every ``window /
    requests_per_minute`` seconds on average, at most ``burst`` at once,
    on top of the window's limit. None lets the whole limit start at once;
    a fleet that would otherwise send its whole limit in one burst every
    window (which the server sees arrive late and spread out, under load)
    should set it.
    """

    requests_per_minute: int | None = attrs.field(
        default=None, validator=_positive_count("requests_per_minute")
    )
    input_tokens_per_minute: int | None = attrs.field(
        default=None, validator=_positive_count("input_tokens_per_minute")
    )
    output_tokens_per_minute: int | None = attrs.field(
        default=None, validator=_positive_count("output_tokens_per_minute")
    )
    window: float = attrs.field(default=60.0, validator=_check_window)
    burst: int | None = attrs.field(default=None, validator=_positive_count("burst"))

    def __attrs_post_init__(self) -> None:
        if self.burst is not None and (
            self.requests_per_minute is None or self.burst > self.requests_per_minute
        ):
            raise ConfigError("burst", "needs requests_per_minute, and at most that many")

    @property
    def limited(self) -> bool:
        """True when at least one dimension has a limit."""
        return (
            self.requests_per_minute is not None
            or self.input_tokens_per_minute is not None
            or self.output_tokens_per_minute is not None
        )


@attrs.frozen
class RateLimitWindow:
    """One limit as the server reported it: ``limit`` and ``remaining`` counts,
    ``reset`` seconds from when the response arrived until the limit is
    replenished. Any of them None when the server did not say."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None


@attrs.frozen
class RateLimitStatus:
    """The rate-limit headers of one response, normalised from either vendor's
    family; a field is None when the server sent nothing for that limit."""

    requests: RateLimitWindow | None = None
    tokens: RateLimitWindow | None = None
    input_tokens: RateLimitWindow | None = None
    output_tokens: RateLimitWindow | None = None

    def exhausted(self) -> float | None:
        """How long to hold back when a window has nothing remaining, else None.

        The servers' ``reset`` is when the window is *fully* replenished; a
        token bucket (Anthropic's) refills steadily, so the first request fits
        again after ``reset / limit``: that is the wait (the longest over the
        exhausted windows; ``reset`` itself when the limit is unknown).
        """
        waits = [
            w.reset / w.limit if w.limit else w.reset
            for w in (self.requests, self.tokens, self.input_tokens, self.output_tokens)
            if w is not None and w.remaining == 0 and w.reset is not None
        ]
        return max(waits) if waits else None


@attrs.define
class WindowLog:
    """A sliding-window log of charges ``(time, amount)`` under one limit.

    ``wait(now, amount)`` is 0.0 when ``amount`` more fits in the window that
    ends at ``now``, else the seconds until enough old charges age out for it
    to fit. An amount larger than the whole limit fits only an empty window
    (it could never be admitted otherwise). Charges are keyed so that they
    can be corrected (``set``) or given back (``remove``).
    """

    limit: int
    window: float
    entries: dict[Any, tuple[float, int]] = attrs.field(factory=dict)

    def prune(self, now: float) -> None:
        horizon = now - self.window
        stale = [key for key, (at, _) in self.entries.items() if at <= horizon]
        for key in stale:
            del self.entries[key]

    def used(self, now: float) -> int:
        self.prune(now)
        return sum(amount for _, amount in self.entries.values())

    def wait(self, now: float, amount: int) -> float:
        used = self.used(now)
        if used + amount <= self.limit or (used == 0 and amount > self.limit):
            return 0.0
        # Free the oldest charges until the new one fits.
        for at, charged in sorted(self.entries.values()):
            used -= charged
            if used + amount <= self.limit or (used == 0 and amount > self.limit):
                return max(at + self.window - now, 0.0)
        return self.window  # unreachable: an empty window always fits

    def charge(self, key: Any, now: float, amount: int) -> None:
        self.entries[key] = (now, amount)

    def set(self, key: Any, amount: int) -> None:
        """Correct the amount of charge ``key`` (kept at its time); absent: no-op."""
        found = self.entries.get(key)
        if found is not None:
            self.entries[key] = (found[0], amount)

    def remove(self, key: Any) -> None:
        self.entries.pop(key, None)

    def remaining(self, now: float) -> int:
        return max(self.limit - self.used(now), 0)

    def reset(self, now: float) -> float:
        """Seconds until every charge now in the window has aged out."""
        self.prune(now)
        if not self.entries:
            return 0.0
        return max(at for at, _ in self.entries.values()) + self.window - now
