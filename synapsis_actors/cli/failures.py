"""One line per failure, and the exit code that goes with it.

A person sees a single sentence that says what went wrong and what to do,
never a traceback (``--debug`` adds it). The exit codes:

====  ==============================================================
code  meaning
====  ==============================================================
0     the reply arrived in full
1     an unexpected internal error (a bug: rerun with ``--debug``)
2     bad usage or configuration (unknown option or provider, invalid
      TOML, a missing API key: the message names the variable)
3     the server refused the API key (401 / 403)
4     rate limited (429, with the server's retry delay) or overloaded (529)
5     the server could not be reached (connection refused, DNS, TLS)
6     the stream failed after it started: interrupted, stalled or
      invalid data (what arrived was printed)
7     the server rejected the request (400, 404, ...) or failed (5xx)
130   interrupted by Ctrl-C
====  ==============================================================
"""

from __future__ import annotations

import attrs

from ..errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequest,
    ConfigError,
    InvalidStreamData,
    Overloaded,
    ProviderError,
    ProviderNotFound,
    RateLimited,
    StreamCancelled,
    StreamInterrupted,
    StreamStalled,
)

OK = 0
INTERNAL = 1
USAGE = 2
AUTH = 3
RATE_LIMITED = 4
UNREACHABLE = 5
STREAM_FAILED = 6
REJECTED = 7
INTERRUPTED = 130


@attrs.frozen
class Target:
    """What the CLI was talking to, for the hint in a message."""

    provider: str
    base_url: str | None = None
    key_env: str | None = None
    url_env: str | None = None


def _server_text(exc: ProviderError) -> str:
    # The server's own error message, if its body carried one.
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return exc.message


_STALLS = {
    "connect": "could not connect within",
    "first_event": "no first event within",
    "idle": "no new content for",
}


def _seconds(value: float) -> str:
    return f"{value:g} s"


def describe(exc: BaseException, target: Target | None = None) -> tuple[str, int]:
    """The one line (without the ``error:`` prefix) and exit code for ``exc``."""
    name = repr(target.provider) if target else "the provider"
    if isinstance(exc, ConfigError):
        return str(exc), USAGE
    if isinstance(exc, ProviderNotFound):
        return exc.message, USAGE
    if isinstance(exc, AuthenticationError):
        where = f": check {target.key_env}" if target and target.key_env else ""
        return f"{name} refused the API key (HTTP {exc.status}){where}", AUTH
    if isinstance(exc, RateLimited):
        after = (
            f"; retry after {_seconds(exc.retry_after)}"
            if exc.retry_after is not None
            else "; try again later"
        )
        return f"rate limited by {name} (HTTP 429){after}", RATE_LIMITED
    if isinstance(exc, Overloaded):
        return f"{name} is overloaded: {_server_text(exc)}; try again later", RATE_LIMITED
    if isinstance(exc, BadRequest):
        return f"{name} rejected the request (HTTP {exc.status}): {_server_text(exc)}", REJECTED
    if isinstance(exc, APIStatusError):
        status = f"HTTP {exc.status}" if exc.status is not None else "error"
        return f"{name} failed ({status}): {_server_text(exc)}", REJECTED
    if isinstance(exc, APIConnectionError):
        url = target.base_url if target and target.base_url else "the server"
        hint = "is the server running and the URL right?"
        if target and target.url_env:
            hint = f"is the server running? check {target.url_env}"
        return f"cannot reach {url} ({exc.message}): {hint}", UNREACHABLE
    if isinstance(exc, StreamStalled):
        what = _STALLS.get(exc.limit, f"{exc.limit} limit of")
        return f"the stream from {name} stalled: {what} {_seconds(exc.seconds)}", STREAM_FAILED
    if isinstance(exc, StreamInterrupted):
        text = getattr(exc.partial, "text", "") or ""
        got = f" after {len(text)} characters" if text else ""
        return f"the stream from {name} was interrupted{got}: {exc.message}", STREAM_FAILED
    if isinstance(exc, InvalidStreamData):
        return f"{name} sent invalid stream data: {exc.message}", STREAM_FAILED
    if isinstance(exc, StreamCancelled):
        return "interrupted", INTERRUPTED
    if isinstance(exc, ProviderError):
        return f"{name}: {exc.message}", STREAM_FAILED
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    return (
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
        INTERNAL,
    )
