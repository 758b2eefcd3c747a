"""Provider telemetry: a few events per stream, never one per SSE event.

Events (``name``, then the keys of ``data``):

* ``"provider.request.start"``: ref, provider, kind, model, method, url, headers
  (redacted: only :data:`HEADER_ALLOW_LIST` values are kept), request (the
  ``Request``);
* ``"provider.request.retry"``: ref, provider, attempt (the one that failed),
  delay (seconds), error (the error's class name), status;
* ``"provider.stream.first_event"``: ref, provider, request_id, seconds (since
  the request was sent);
* ``"provider.stream.done"``: ref, provider, request_id, seconds, events,
  stop_reason, usage, reply (the ``AssistantMessage``);
* ``"provider.stream.error"``: ref, provider, request_id, seconds, error
  (class name), status, message (the error's ``str``, never holding a key),
  reply (the partial ``AssistantMessage``, usage as known or estimated);
* ``"provider.stream.cancel"``: ref, provider, request_id, seconds, reason,
  reply (as for an error).

``seconds`` counts from the last attempt's send. The OpenTelemetry
instrumentation (``runtime/otel.py``) is one subscriber of these events.

A handler is a plain callable ``handler(name, data)``; it runs synchronously
in the stream task, so it must be quick and must not raise (an exception is
logged and dropped, never breaks the stream).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from ..model.secrets import REDACTED
from ..otp.telemetry import Subscribers

Handler = Callable[[str, Mapping[str, Any]], None]

#: Request headers whose values telemetry may show; every other value is "[redacted]".
HEADER_ALLOW_LIST: frozenset[str] = frozenset(
    {
        "accept",
        "accept-encoding",
        "anthropic-beta",
        "anthropic-version",
        "content-length",
        "content-type",
        "host",
        "openai-beta",
        "user-agent",
        "x-stainless-retry-count",
    }
)

_log = logging.getLogger(__name__)
_handlers: Subscribers[Handler] = Subscribers()


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with lower-cased names, every value outside the allow-list hidden."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = value if key in HEADER_ALLOW_LIST else REDACTED
    return out


def subscribe(handler: Handler) -> Callable[[], None]:
    """Call ``handler(name, data)`` for every provider event; returns the unsubscribe function.

    The same shape as ``synapsis_actors.otp.telemetry.subscribe`` (whose events
    are about supervisors, not requests).
    """
    return _handlers.subscribe(handler)


def subscribed(handler: Handler) -> AbstractContextManager[None]:
    """``with subscribed(handler):`` subscribe for the duration of the block."""
    return _handlers.subscribed(handler)


def active() -> bool:
    """True when someone subscribed: callers skip building an event's data otherwise."""
    return bool(_handlers.callbacks)


def emit(name: str, data: Mapping[str, Any]) -> None:
    """Deliver one event to every subscriber (internal). Cheap when nobody listens."""
    for handler in _handlers.callbacks:
        try:
            handler(name, data)
        except Exception:  # a broken handler must not break a stream
            _log.exception("provider telemetry handler %r failed on %s", handler, name)
