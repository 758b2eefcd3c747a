"""httpcore's private attributes, reached from here only (see ``fast_paths.py``).

Written for the httpcore versions in ``fast_paths.SUPPORTED``: the HTTP/1.1
connection's h11 state and socket (the chunked-body takeover). The lookup
returns None when the objects are not laid out as expected.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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
