"""Chunked HTTP/1.1 response bodies, read past h11 (the stream body's fast path).

Why: over HTTP/1.1 every SSE event a provider writes arrives as its own
chunk, and httpx hands each chunk up through h11's state machine, httpcore's
per-event exception mapping and five async generators: about 9 us per event
on the bench machine, three quarters of bare httpx's whole cost per event
(``docs/benchmarks.md``). :func:`open_chunked_body` takes over a response
whose headers httpx has read, reads the socket itself and decodes the
chunked framing with ``bytes.find``, so one network read costs one pass
however many chunks it holds.

The takeover is safe because it begins and ends on chunk boundaries of the
same h11 connection: it starts only while h11's chunk reader has consumed no
body byte (it takes the bytes h11 buffered with the headers), and it hands the
last chunk (``0``, trailers, the blank line) back to h11, which validates it
and ends the message. httpcore then sees a finished exchange and keeps the
connection for the next request, exactly as after its own read. Reaching h11
and httpcore this way uses their internals (``_h11_private.py``,
``_httpcore_private.py``, ``_httpx_private.py``); every one is checked
first, and when anything is not as expected (another layout, HTTP/2, a body
that is not chunked, a read timeout set on the request, an upgraded or
non-trio stream) :func:`open_chunked_body` returns ``None`` and the caller
reads through httpx as usual.

Errors are httpx's and the transport's at once: a broken socket raises
``BodyReadError`` (an ``httpx.ReadError``), bad framing or a connection closed
before the last chunk ``BodyFramingError`` (an ``httpx.RemoteProtocolError``), so
the stream task handles both paths alike.
"""

from __future__ import annotations

import re
from typing import Any

import h11
import httpx
import trio

from ._h11_private import take_chunked_body
from ._httpcore_private import http11_connection
from ._httpx_private import httpcore_stream
from ._trio_private import joined
from .failures import BodyFramingError, BodyReadError

__all__ = ["ChunkParser", "ChunkedBody", "open_chunked_body"]

#: Bytes asked of the socket per read. Smaller than httpcore's 64 KiB: one read's
#: events are decoded at once, so this bounds the events a stream holds in memory.
READ_SIZE = 16 * 1024
#: Longest chunk-size line accepted (h11 bounds a whole header block at 16 KiB).
MAX_SIZE_LINE = 4096

# h11's chunk header: 1-20 hex digits, extensions (ignored), trailing spaces.
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*")
# Size lines already validated, and their sizes: a stream's events have a few
# dozen sizes, and a dict lookup costs a fraction of the match and int() above.
_SIZES: dict[bytes, int] = {}
_SIZES_KEPT = 4096


class ChunkParser:
    """Decodes chunked framing incrementally; knows nothing of sockets.

    :meth:`feed` takes the next bytes of the body and returns the chunk data
    they complete (data of a chunk split across feeds is returned as it
    comes). Once the last-chunk line is seen, :attr:`tail` holds the bytes from
    that line on (for h11 to finish the message) and no more may be fed.
    """

    __slots__ = ("_buf", "_crlf", "_remaining", "tail")

    def __init__(self) -> None:
        self._buf = b""  # unparsed bytes, always at a size line or a chunk's CRLF
        self._remaining = 0  # data bytes left in the current chunk
        self._crlf = False  # the current chunk's data is done, its CRLF is not
        self.tail: bytes | None = None

    def feed(self, data: bytes) -> bytes:
        if self.tail is not None:
            raise RuntimeError("the body has ended")
        remaining = self._remaining
        if not data:
            return b""
        if remaining >= len(data) and not self._buf and not self._crlf:
            # Data of a chunk larger than one read: nothing to parse.
            self._remaining = remaining - len(data)
            if self._remaining == 0:
                self._crlf = True
            return data
        buf = self._buf + data if self._buf else data
        end = len(buf)
        pos = 0
        parts: list[bytes] = []
        crlf = self._crlf
        while True:
            if remaining:
                take = end - pos
                if take < remaining:
                    if take:
                        parts.append(buf[pos:])
                    remaining -= take
                    pos = end
                    break
                parts.append(buf[pos : pos + remaining])
                pos += remaining
                remaining = 0
                crlf = True
            if crlf:
                if end - pos < 2:
                    if buf[pos:] not in (b"", b"\r"):
                        raise BodyFramingError(
                            f"malformed chunk footer: {buf[pos:]!r} (expected b'\\r\\n')"
                        )
                    break
                if buf[pos] != 13 or buf[pos + 1] != 10:
                    raise BodyFramingError(
                        f"malformed chunk footer: {buf[pos : pos + 2]!r} (expected b'\\r\\n')"
                    )
                pos += 2
                crlf = False
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if end - pos > MAX_SIZE_LINE:
                    raise BodyFramingError("chunk size line too long")
                break
            line = buf[pos:eol]
            size = _SIZES.get(line)
            if size is None:
                match = _SIZE_LINE.fullmatch(line)
                if match is None:
                    raise BodyFramingError(f"illegal chunk header: {buf[pos : eol + 2]!r}")
                size = int(match[1], 16)
                if len(line) <= 8 and len(_SIZES) < _SIZES_KEPT:
                    _SIZES[line] = size
            if size == 0:
                self.tail = buf[pos:]
                pos = end
                break
            remaining = size
            pos = eol + 2
        self._buf = buf[pos:] if pos < end else b""
        self._remaining = remaining
        self._crlf = crlf
        return joined(parts)

    @property
    def pending(self) -> bytes:
        """Bytes fed but not yet parsed (part of a size line or of a CRLF)."""
        return self._buf


class ChunkedBody:
    """An async iterator of a chunked response body's data, as ``aiter_raw`` yields it.

    Each ``__anext__`` returns the data of one or more chunks (never empty),
    reading the socket as needed; at the end of the body it has handed the
    last chunk to h11 and raises ``StopAsyncIteration``.
    """

    __slots__ = ("_h11", "_leftover", "_parser", "_receive", "done")

    def __init__(self, h11_state: h11.Connection, receive: Any, leftover: bytes) -> None:
        self._h11 = h11_state
        self._receive = receive
        self._parser = ChunkParser()
        self._leftover = leftover
        self.done = False

    def __aiter__(self) -> ChunkedBody:
        return self

    async def __anext__(self) -> bytes:
        if self.done:
            raise StopAsyncIteration
        parser = self._parser
        # What h11 read past the headers (up to 64 KiB) is parsed READ_SIZE bytes
        # at a time, like the socket's reads: all of it at once would have the
        # stream decode and hold several hundred events before the caller got
        # the first of them.
        while self._leftover and parser.tail is None:
            data = self._leftover[:READ_SIZE]
            self._leftover = self._leftover[READ_SIZE:]
            out = parser.feed(data)
            if out:
                return out
        while parser.tail is None:
            data = await self._read()
            if not data:
                raise BodyFramingError(
                    "peer closed connection without sending complete message body "
                    "(incomplete chunked read)"
                )
            out = parser.feed(data)
            if out:
                return out
        tail, self._leftover = parser.tail + self._leftover, b""
        await self._finish(tail)
        raise StopAsyncIteration

    async def _read(self) -> bytes:
        try:
            data: bytes = await self._receive(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise BodyReadError(str(exc) or type(exc).__name__) from exc
        return data

    async def _finish(self, tail: bytes) -> None:
        # h11 reads the last chunk and the trailers, so it reaches DONE and
        # httpcore reuses the connection.
        state = self._h11
        state.receive_data(tail)
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise BodyFramingError(str(exc)) from exc
            if type(event) is h11.EndOfMessage:
                self.done = True
                return
            if event is not h11.NEED_DATA:
                raise BodyFramingError(f"unexpected {type(event).__name__} in trailers")
            data = await self._read()
            state.receive_data(data)  # b"" = EOF: the next event raises


def open_chunked_body(response: httpx.Response) -> ChunkedBody | None:
    """Take over reading ``response``'s chunked body, or ``None`` (read it through httpx)."""
    if response.http_version != "HTTP/1.1":
        return None
    headers = response.headers
    if headers.get("transfer-encoding", "").lower() != "chunked" or "content-encoding" in headers:
        return None
    if response.is_stream_consumed or response.is_closed:
        return None
    if response.request.extensions.get("timeout", {}).get("read") is not None:
        return None  # only httpcore's read enforces a read timeout
    pool_stream = httpcore_stream(response)
    found = None if pool_stream is None else http11_connection(pool_stream)
    if found is None:
        return None
    state, receive = found
    leftover = take_chunked_body(state)
    if leftover is None:
        return None
    response.is_stream_consumed = True  # a later aiter_raw fails loudly, never rereads
    return ChunkedBody(state, receive, leftover)
