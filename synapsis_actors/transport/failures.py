"""How the HTTP exchange itself fails, as the runtime sees it (no httpx type above transport/).

``str()`` of each is safe to show: it never holds request headers.
"""

from __future__ import annotations

import httpx


class TransportFailure(Exception):
    """The HTTP exchange itself failed (not the provider)."""


class ConnectTimedOut(TransportFailure):
    """The connection (TCP, TLS) was not up within the connect limit."""


class ConnectFailed(TransportFailure):
    """The request could not be sent or its response headers not read."""


class BodyFailed(TransportFailure):
    """The connection broke, or the framing was bad, while the body was being read."""


class BodyFramingError(BodyFailed, httpx.RemoteProtocolError):
    """Bad chunked framing, or the connection closed before the last chunk.

    Also an ``httpx.RemoteProtocolError``, as httpx raises for the same bytes.
    """

    def __str__(self) -> str:
        return f"RemoteProtocolError: {self.args[0]}"


class BodyReadError(BodyFailed, httpx.ReadError):
    """The socket broke mid-body (also an ``httpx.ReadError``, as httpx raises)."""

    def __str__(self) -> str:
        return "ReadError"


def body_failure(exc: httpx.TransportError) -> BodyFailed:
    """The ``BodyFailed`` for an error httpx raised mid-body (worded as chunked.py words it)."""
    if isinstance(exc, httpx.RemoteProtocolError) and str(exc):
        # Bad framing or a cut body: say what arrived (the text quotes the bytes).
        return BodyFramingError(str(exc))
    if isinstance(exc, httpx.ReadError):
        return BodyReadError(str(exc))
    return BodyFailed(type(exc).__name__)
