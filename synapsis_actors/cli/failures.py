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
3     the server refused the API key (401) or denied permission (403)
4     rate limited (429, with the server's retry delay) or overloaded (529)
5     the server could not be reached (connection refused, DNS, TLS)
6     the stream failed after it started: interrupted, stalled or
      invalid data (what arrived was printed)
7     the server rejected the request (400, 404, ...) or failed (5xx)
8     the reply was cut off at the max_tokens limit (what arrived was
      printed, and a ``warning:`` line says so)
130   interrupted by Ctrl-C
====  ==============================================================

Every line built from a server's answer carries the server's own message
(from the error body, on one line, trimmed; the CLI masks known keys in all
it prints) and, when the server sent one, its request id. A failure after
retries says how many attempts were made and how long they took in all.
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
    PermissionDenied,
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
TRUNCATED = 8
INTERRUPTED = 130


@attrs.frozen
class Target:
    """What the CLI was talking to, for the hint in a message."""

    provider: str
    base_url: str | None = None
    key_env: str | None = None
    url_env: str | None = None


def server_message(exc: ProviderError, limit: int = 300) -> str | None:
    """The server's own words for ``exc``: from its error body, on one line,
    cut to ``limit`` characters.

    None when the body said nothing (an empty 404, a dropped connection).
    An error the library raised itself (no status, no body) has its own
    message instead, since no server spoke.
    """
    body = exc.body
    text: object = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            text = inner.get("message")
        elif isinstance(inner, str):  # {"error": "model not found"} (Ollama)
            text = inner
        if not isinstance(text, str):
            text = body.get("message") or body.get("detail")
    elif isinstance(body, str):
        text = body
    elif body is None and exc.status is None:
        text = exc.message
    if not isinstance(text, str) or not text.strip():
        return None
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _said(exc: ProviderError, sep: str = ": ") -> str:
    text = server_message(exc)
    return f"{sep}{text}" if text else ""


def _tries(exc: ProviderError) -> str:
    """``"; 3 attempts over 6.2 s"`` after retries, else nothing."""
    if exc.attempts <= 1:
        return ""
    over = f" over {exc.elapsed:.1f} s" if exc.elapsed is not None else ""
    return f"; {exc.attempts} attempts{over}"


def _status(exc: ProviderError) -> str:
    """`` (HTTP 404)``, or nothing for an error no HTTP status came with."""
    return f" (HTTP {exc.status})" if exc.status is not None else ""


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
    if isinstance(exc, ProviderError):
        line, code = _provider_line(exc, name, target)
        if exc.request_id:
            line += f" [request id {exc.request_id}]"
        return line, code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    return (
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
        INTERNAL,
    )


def _provider_line(exc: ProviderError, name: str, target: Target | None) -> tuple[str, int]:
    if isinstance(exc, PermissionDenied):
        said = _said(exc) or ": the key may not use this model or feature"
        return f"{name} denied permission{_status(exc)}{said}", AUTH
    if isinstance(exc, AuthenticationError):
        said = _said(exc)
        if target and target.key_env:
            said += f"{'; ' if said else ': '}check {target.key_env}"
        return f"{name} refused the API key{_status(exc)}{said}", AUTH
    if isinstance(exc, RateLimited):
        after = (
            f"; retry after {_seconds(exc.retry_after)}"
            if exc.retry_after is not None
            else "; try again later"
        )
        said = f"{_said(exc)}{_tries(exc)}{after}"
        return f"rate limited by {name}{_status(exc)}{said}", RATE_LIMITED
    if isinstance(exc, Overloaded):
        return (
            f"{name} is overloaded{_status(exc)}{_said(exc)}{_tries(exc)}; try again later",
            RATE_LIMITED,
        )
    if isinstance(exc, BadRequest):
        return f"{name} rejected the request{_status(exc)}{_said(exc)}", REJECTED
    if isinstance(exc, APIStatusError):
        return f"{name} failed{_status(exc)}{_said(exc)}{_tries(exc)}", REJECTED
    if isinstance(exc, APIConnectionError):
        url = target.base_url if target and target.base_url else "the server"
        hint = "is the server running and the URL right?"
        if target and target.url_env:
            hint = f"is the server running? check {target.url_env}"
        why = exc.reason or exc.message
        return f"cannot reach {url} ({why}{_tries(exc)}): {hint}", UNREACHABLE
    if isinstance(exc, StreamStalled):
        what = _STALLS.get(exc.limit, f"{exc.limit} limit of")
        return (
            f"the stream from {name} stalled: {what} {_seconds(exc.seconds)}{_tries(exc)}",
            STREAM_FAILED,
        )
    if isinstance(exc, StreamInterrupted):
        text = getattr(exc.partial, "text", "") or ""
        got = f" after {len(text)} characters" if text else ""
        return f"the stream from {name} was interrupted{got}: {exc.message}", STREAM_FAILED
    if isinstance(exc, InvalidStreamData):
        return f"{name} sent invalid stream data: {exc.message}", STREAM_FAILED
    if isinstance(exc, StreamCancelled):
        return "interrupted", INTERRUPTED
    return f"{name}: {exc.message}", STREAM_FAILED


def truncated(limit: int | None, output_tokens: int) -> str:
    """The ``warning:`` line of a reply cut off at its ``max_tokens`` limit (exit code 8)."""
    asked = f"max_tokens={limit}" if limit is not None else "the max_tokens limit"
    return f"the reply was cut off at {asked} ({output_tokens} output tokens); raise --max-tokens"
