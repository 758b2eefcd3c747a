"""httpcore's private attributes, reached from here only (see ``fast_paths.py``).

Written for the httpcore versions in ``fast_paths.SUPPORTED``: the HTTP/1.1
connection's h11 state and socket (the chunked-body takeover), and the HTTP/2
connection's h2 state (resetting one stream). Every lookup returns None when
the objects are not laid out as expected.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import h2.errors

from ._trio_private import draining_receive

_HTTP11: Any = None  # (connection class, byte stream class, trio stream class)
try:
    from httpcore._async.http11 import AsyncHTTP11Connection, HTTP11ConnectionByteStream
    from httpcore._backends.trio import TrioStream

    _HTTP11 = (AsyncHTTP11Connection, HTTP11ConnectionByteStream, TrioStream)
except (
    ImportError
):  # pragma: no cover - another httpcore layout: no takeover (the version test fails)
    pass

_log = logging.getLogger(__name__)


def http11_connection(pool_stream: Any) -> tuple[Any, Callable[[int], Awaitable[bytes]]] | None:
    """(h11 state, the socket's ``receive_some``) of an open HTTP/1.1 exchange on trio, or None.

    Over TLS the ``receive_some`` returns every TLS record already received
    (``_trio_private.draining_receive``).
    """
    if _HTTP11 is None:
        return None
    connection_type, byte_stream_type, trio_stream_type = _HTTP11
    try:
        inner = pool_stream._stream
        if type(inner) is not byte_stream_type or inner._closed:
            return None
        connection = inner._connection
        if type(connection) is not connection_type:
            return None
        network = connection._network_stream
        if type(network) is not trio_stream_type:
            return None
        state: Any = connection._h11_state
        receive = draining_receive(network._stream)
        return None if receive is None else (state, receive)
    except AttributeError:
        return None


def http2_stream(pool_stream: Any) -> tuple[Any, int, Any] | None:
    """(connection, stream id, request) of an HTTP/2 exchange, or None."""
    try:
        inner = pool_stream._stream
        return inner._connection, inner._stream_id, inner._request
    except AttributeError:
        return None


def http2_owner(pool: Any, stream_id: Any) -> Any:
    """The one HTTP/2 connection of ``pool`` that has stream ``stream_id`` open, or None.

    None too when two connections could own that id: resetting the wrong
    stream would cut someone else's reply.
    """
    try:
        owners = [
            inner
            for conn in pool.connections
            if (inner := getattr(conn, "_connection", None)) is not None
            and stream_id in getattr(inner, "_events", ())
        ]
    except AttributeError:
        return None
    return owners[0] if len(owners) == 1 else None


async def reset_http2_stream(connection: Any, stream_id: int, request: Any) -> None:
    """Send RST_STREAM(CANCEL) for one stream; the other streams of the connection go on."""
    try:
        connection._h2_state.reset_stream(stream_id, error_code=h2.errors.ErrorCodes.CANCEL)
        await connection._write_outgoing_data(request)
    except Exception as exc:  # the stream or connection is already gone: nothing to reset
        _log.debug("HTTP/2 stream reset skipped: %r", exc)
