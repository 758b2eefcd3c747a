"""trio's private attributes, reached from here only (see ``fast_paths.py``).

Written for the trio versions in ``fast_paths.SUPPORTED``: the TLS state of a
``trio.SSLStream`` (its ``ssl.SSLObject`` and incoming/outgoing memory BIOs),
to decode every TLS record already received in one read.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

import trio

Receive = Callable[[int], Awaitable[bytes]]


def draining_receive(stream: object) -> Receive | None:
    """A ``receive_some`` for ``stream`` that returns every TLS record already received.

    ``trio.SSLStream.receive_some`` decrypts one TLS record per call, even when
    the socket read brought in dozens (a provider sends each SSE event in its
    own record), so each event would cost its own wakeup and parse. This one
    calls it once, then decrypts whatever complete records its incoming
    buffer already holds, without I/O. It stops at the first incomplete
    record, at an alert or close_notify (left for the next ``receive_some``
    to report), and when OpenSSL has something to send (a key update: trio
    sends it on its next call). For any other stream: its own
    ``receive_some``; None when ``stream`` is an SSLStream not laid out as
    expected.
    """
    receive: Receive = stream.receive_some  # type: ignore[attr-defined]
    if type(stream) is not trio.SSLStream:
        return receive
    try:
        ssl_object: ssl.SSLObject = stream._ssl_object
        incoming: ssl.MemoryBIO = stream._incoming
        outgoing: ssl.MemoryBIO = stream._outgoing
    except AttributeError:
        return None
    if type(ssl_object) is not ssl.SSLObject or type(incoming) is not ssl.MemoryBIO:
        return None
    read = ssl_object.read

    async def receive_some(max_bytes: int) -> bytes:
        data = await receive(max_bytes)
        if not data or not incoming.pending:
            return data
        parts = [data]
        while incoming.pending and not outgoing.pending:
            try:
                more = read(max_bytes)
            except ssl.SSLError:  # incomplete record (WantRead), alert, close_notify
                break
            if not more:
                break
            parts.append(more)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    return receive_some
