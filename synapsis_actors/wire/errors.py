"""HTTP statuses and error payloads -> the typed errors of ``errors.py``.

Shared by both wire formats. Messages are built from the status, the
server's error type and text, and the request id: never from request headers
(no API key can leak through an error).

``RateLimited.retry_after`` is whatever the caller passes as ``retry_after``:
the runtime reads it from the response headers with the one parser,
``transport.retry.server_delay``, which also decides the wait before a retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import (
    APIStatusError,
    AuthenticationError,
    BadRequest,
    Overloaded,
    PermissionDenied,
    ProviderError,
    RateLimited,
    ServerError,
)

_BODY_LIMIT = 2000

#: Error ``type`` (or string ``code``) names -> (class, HTTP status equivalent).
ERROR_TYPES: dict[str, tuple[type[APIStatusError], int]] = {
    "overloaded_error": (Overloaded, 529),
    "overloaded": (Overloaded, 529),
    "rate_limit_error": (RateLimited, 429),
    "rate_limit_exceeded": (RateLimited, 429),
    "tokens": (RateLimited, 429),
    "api_error": (ServerError, 500),
    "server_error": (ServerError, 500),
    "internal_server_error": (ServerError, 500),
    "InternalServerError": (ServerError, 500),
    "service_unavailable": (ServerError, 503),
    "invalid_request_error": (BadRequest, 400),
    "BadRequestError": (BadRequest, 400),
    "not_found_error": (BadRequest, 404),
    "NotFoundError": (BadRequest, 404),
    "request_too_large": (BadRequest, 413),
    "context_length_exceeded": (BadRequest, 400),
    "tool_use_failed": (BadRequest, 400),
    "authentication_error": (AuthenticationError, 401),
    "invalid_api_key": (AuthenticationError, 401),
    "permission_error": (PermissionDenied, 403),
    "permission_denied": (PermissionDenied, 403),
    "AuthenticationError": (AuthenticationError, 401),
    # Google's error.status names (Gemini API, Vertex AI)
    "RESOURCE_EXHAUSTED": (RateLimited, 429),
    "UNAVAILABLE": (ServerError, 503),
    "INTERNAL": (ServerError, 500),
    "DEADLINE_EXCEEDED": (ServerError, 504),
    "INVALID_ARGUMENT": (BadRequest, 400),
    "FAILED_PRECONDITION": (BadRequest, 400),
    "NOT_FOUND": (BadRequest, 404),
    "UNAUTHENTICATED": (AuthenticationError, 401),
    "PERMISSION_DENIED": (AuthenticationError, 403),
}


def class_for_status(status: int) -> type[APIStatusError] | None:
    if status in (400, 404, 413, 422):
        return BadRequest
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDenied
    if status == 429:
        return RateLimited
    if status == 529:
        return Overloaded
    if 500 <= status < 600:
        return ServerError
    return None


def request_id(headers: Mapping[str, str]) -> str | None:
    """The server's request id: ``request-id`` (Anthropic), else ``x-request-id``.

    ``headers`` is case-insensitive (``httpx.Headers``) or a plain dict, whose
    names may be in any case.
    """
    value = headers.get("request-id") or headers.get("x-request-id")
    if value or not isinstance(headers, dict):
        return value or None
    lower = {k.lower(): v for k, v in headers.items()}
    return lower.get("request-id") or lower.get("x-request-id") or None


def _describe(payload: Any) -> tuple[str | None, str | None, int | None]:
    """(type, message, status) from any of the error shapes vendors use."""
    if not isinstance(payload, dict):
        return None, None, None
    err = payload.get("error")
    status: int | None = None
    if isinstance(err, dict):
        kind = err.get("type")
        code = err.get("code")
        message = err.get("message")
        for candidate in (err.get("status_code"), err.get("status"), code):
            if isinstance(candidate, int) and not isinstance(candidate, bool):
                status = candidate
                break
        if not isinstance(kind, str) or kind not in ERROR_TYPES:
            kind = code if isinstance(code, str) and code in ERROR_TYPES else kind
        google = err.get("status")  # Google: {"code": 429, "status": "RESOURCE_EXHAUSTED"}
        if kind is None and isinstance(google, str) and google in ERROR_TYPES:
            kind = google
    elif isinstance(err, str):  # {"error": "model not found"} (Ollama)
        kind, message = None, err
    else:  # {"object": "error", "message": ..., "type": ..., "code": 400} (vLLM, Mistral)
        kind = payload.get("type")
        message = payload.get("message") or payload.get("detail")
        code = payload.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            status = code
    return (
        kind if isinstance(kind, str) else None,
        message if isinstance(message, str) else (None if message is None else str(message)),
        status,
    )


def error_from_payload(
    payload: Any,
    *,
    provider: str | None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    retry_after: float | None = None,
) -> ProviderError:
    """The typed error for an error payload (in a non-2xx body or inside the stream).

    The class comes from the HTTP status when it says something definite
    (429, 401, 529, ...), else from the error type, else from the status the
    payload carries; in-stream errors nobody classified are ``ServerError``
    (the server failed after accepting the request). ``retry_after``
    (seconds) is carried by a ``RateLimited``.
    """
    kind, message, inner_status = _describe(payload)
    cls: type[APIStatusError] | None = None
    if kind in ERROR_TYPES and (status is None or kind in ("overloaded_error", "overloaded")):
        cls, typed_status = ERROR_TYPES[kind]
        status = status or typed_status
    if cls is None and status is not None:
        cls = class_for_status(status)
    if cls is None and kind in ERROR_TYPES:
        cls, typed_status = ERROR_TYPES[kind]
        status = status or typed_status
    if cls is None and inner_status is not None:
        cls = class_for_status(inner_status)
        status = status or inner_status
    if cls is None:
        cls = ServerError if status is None else APIStatusError
    text = message or "error"
    if kind:
        text = f"{kind}: {text}"
    hdrs = headers or {}
    rid = request_id(hdrs) if hdrs else None
    if rid is None and isinstance(payload, dict) and isinstance(payload.get("request_id"), str):
        rid = payload["request_id"]
    kw: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "request_id": rid,
        "body": payload if body is None else body,
    }
    if cls is RateLimited:
        return RateLimited(text, retry_after=retry_after, **kw)
    return cls(text, **kw)


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    provider: str | None,
    *,
    retry_after: float | None = None,
) -> ProviderError:
    """The typed error for a non-2xx response: JSON error payload, else truncated text.

    ``retry_after`` is the server's delay as ``transport.retry.server_delay``
    read it (headers are not parsed for it here).
    """
    payload: Any
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        return error_from_payload(
            payload, provider=provider, status=status, headers=headers, retry_after=retry_after
        )
    text = body[:_BODY_LIMIT].decode("utf-8", "replace").strip()
    cls = class_for_status(status) or APIStatusError
    kw: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "request_id": request_id(headers),
        "body": text,
    }
    message = f"HTTP {status}" + (f": {text[:200]}" if text else "")
    if cls is RateLimited:
        return RateLimited(message, retry_after=retry_after, **kw)
    return cls(message, **kw)
