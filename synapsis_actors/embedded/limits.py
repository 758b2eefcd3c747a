"""Server-side rate limits of the embedded provider, enforced like the real APIs.

With ``open_embedded_provider(rate_limits=RateLimits(...))`` every chat
request is counted in a sliding window (``model.ratelimits.WindowLog``, the
same log the client's budgets keep): requests and input tokens when the
request arrives, output tokens when the reply is rendered. A request beyond
a limit gets a 429 in the vendor's error shape with ``retry-after`` (whole
seconds, rounded up) and ``retry-after-ms``; every chat response, refused or
not, carries both header families (``anthropic-ratelimit-*`` with RFC 3339
resets, ``x-ratelimit-*`` with durations such as ``1m0s``), so a client sees
the same headers from either shape. Refused requests are not counted.
"""

from __future__ import annotations

import datetime
import math
import time

from ..model.ratelimits import RateLimits, WindowLog


class ServerLimits:
    """The embedded provider's counters for one server (all callers share them)."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        window = limits.window
        self.requests = _log(limits.requests_per_minute, window)
        self.input_tokens = _log(limits.input_tokens_per_minute, window)
        self.output_tokens = _log(limits.output_tokens_per_minute, window)
        #: 429s sent, and the time (trio's clock) each admitted request arrived.
        self.refused = 0
        self.admitted: list[float] = []
        self._next = 0

    def admit(self, now: float, input_tokens: int) -> tuple[int | None, float]:
        """``(charge id, 0.0)`` when admitted (and charged), ``(None, retry_after)`` if not."""
        wait = 0.0
        if self.requests is not None:
            wait = max(wait, self.requests.wait(now, 1))
        if self.input_tokens is not None:
            wait = max(wait, self.input_tokens.wait(now, input_tokens))
        if self.output_tokens is not None:
            wait = max(wait, self.output_tokens.wait(now, 1))
        if wait > 0:
            self.refused += 1
            return None, wait
        self._next += 1
        self.admitted.append(now)
        if self.requests is not None:
            self.requests.charge(self._next, now, 1)
        if self.input_tokens is not None:
            self.input_tokens.charge(self._next, now, input_tokens)
        return self._next, 0.0

    def charge_output(self, charge: int, now: float, tokens: int) -> None:
        if self.output_tokens is not None and tokens > 0:
            self.output_tokens.charge(charge, now, tokens)

    def headers(self, now: float, retry_after: float | None = None) -> list[tuple[str, str]]:
        """Both header families for the state at ``now`` (and the retry headers of a 429)."""
        out: list[tuple[str, str]] = []
        wall = time.time()
        windows = {
            "requests": self.requests,
            "input-tokens": self.input_tokens,
            "output-tokens": self.output_tokens,
        }
        for name, log in windows.items():
            if log is not None:
                out += _anthropic(name, log.limit, log.remaining(now), log.reset(now), wall)
        token_logs = [log for log in (self.input_tokens, self.output_tokens) if log is not None]
        tokens = None
        if token_logs:
            tokens = (
                sum(log.limit for log in token_logs),
                sum(log.remaining(now) for log in token_logs),
                max(log.reset(now) for log in token_logs),
            )
            out += _anthropic("tokens", *tokens, wall)
        if self.requests is not None:
            log = self.requests
            out += _openai("requests", log.limit, log.remaining(now), log.reset(now))
        if tokens is not None:
            out += _openai("tokens", *tokens)
        if retry_after is not None:
            out.append(("retry-after", str(max(math.ceil(retry_after), 1))))
            out.append(("retry-after-ms", str(max(math.ceil(retry_after * 1000), 1))))
        return out


def _log(limit: int | None, window: float) -> WindowLog | None:
    return None if limit is None else WindowLog(limit, window)


def _anthropic(
    name: str, limit: int, remaining: int, reset: float, wall: float
) -> list[tuple[str, str]]:
    when = datetime.datetime.fromtimestamp(wall + reset, datetime.UTC)
    prefix = f"anthropic-ratelimit-{name}-"
    return [
        (prefix + "limit", str(limit)),
        (prefix + "remaining", str(remaining)),
        (prefix + "reset", when.isoformat(timespec="milliseconds").replace("+00:00", "Z")),
    ]


def _openai(name: str, limit: int, remaining: int, reset: float) -> list[tuple[str, str]]:
    return [
        (f"x-ratelimit-limit-{name}", str(limit)),
        (f"x-ratelimit-remaining-{name}", str(remaining)),
        (f"x-ratelimit-reset-{name}", duration(reset)),
    ]


def duration(seconds: float) -> str:
    """Seconds as the OpenAI headers write them: ``120ms``, ``1s``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{text}s" if minutes else f"{text}s"
