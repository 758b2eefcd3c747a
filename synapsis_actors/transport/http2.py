"""HTTP/2 over TLS for the library's own client, on the ``h2`` state machine.

:class:`Http2Transport` is an ``httpx.AsyncBaseTransport``: the library's
client (``client.open_client``) sends every request through it. An https
request goes out over HTTP/2 when the server picks ``h2`` by ALPN; anything
else (plain http, a server that only speaks HTTP/1.1) goes through httpx's own
transport, so the HTTP/1.1 fast paths apply there unchanged. A user's client
(``register(..., http_client=...)``) never meets this module.

Why not httpcore's HTTP/2: it takes a lock, opens a timeout scope, reads one
TLS record and runs h2 per frame for every SSE event, then takes a second lock
for an empty write. Here, per connection:

* **One reader at a time, for every stream.** A task waiting for its stream's
  data reads the socket if nobody else is reading, hands each stream the data
  that arrived for it, and steps down once its own stream has something,
  waking a waiting stream to take over. One socket read decodes every TLS
  record already received (``_trio_private.draining_receive``) and h2 parses
  all of its frames in one ``receive_data`` call. No lock and no cancel scope
  per frame.
* **Flow control acknowledged in batches.** Data is acknowledged when the
  stream's reader takes it, and h2's window manager only emits WINDOW_UPDATE
  once half a window is consumed. A stream nobody reads stops at its window
  (:data:`STREAM_WINDOW`); the connection's window (:data:`CONNECTION_WINDOW`)
  bounds what one connection buffers in all.
* **Cancellation resets one stream.** A response closed before its end, or a
  request abandoned before its headers, sends RST_STREAM(CANCEL) for that
  stream only; the connection goes on serving the others.
* **The server's MAX_CONCURRENT_STREAMS is honoured.** A request finding
  every connection full opens another connection (up to
  :data:`MAX_CONNECTIONS` per origin, then waits for a free stream); it never
  fails for lack of streams.

Writes (headers, body, WINDOW_UPDATE, RST_STREAM) are queued in h2's order and
sent under one lock, shielded from cancellation with a bounded grace: a write
cut in the middle would break the TLS stream for every stream on it.

Errors surface as httpx's (``ConnectError``, ``ConnectTimeout``,
``RemoteProtocolError``, ``ReadError``), which ``http.py`` turns into the
transport's typed failures, as for the HTTP/1.1 path.
"""

from __future__ import annotations

import ssl
from typing import Any

import h2.config
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpx
import trio

from ._h2_private import H2Connection
from ._trio_private import draining_receive, joined, tls_send

#: Receive window of each stream: what a stream nobody reads may buffer.
STREAM_WINDOW = 65535
#: Receive window of a connection: what all its streams may buffer together.
CONNECTION_WINDOW = 16 << 20
#: HTTP/2 connections per origin before a request waits for a free stream.
MAX_CONNECTIONS = 1000
#: Bytes asked of the socket per read.
READ_SIZE = 1 << 16
#: The response extension holding a coroutine function that resets the stream.
RESET_EXTENSION = "synapsis_actors.reset_stream"
#: Upper bound on one (shielded) write.
_WRITE_GRACE = 10.0
#: Request headers HTTP/2 forbids (connection-specific) or carries as pseudo-headers.
_DROPPED = frozenset(
    (b"host", b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)


class Http2Transport(httpx.AsyncBaseTransport):
    """HTTP/2 for https origins that offer it (ALPN), httpx's transport for everything else.

    ``fallback`` serves plain http and the origins that answered ALPN with
    HTTP/1.1 (remembered per origin; the first such request costs one extra
    TLS handshake). ``connect_timeout`` bounds TCP + TLS + the server's first
    SETTINGS (None: no limit).
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        fallback: httpx.AsyncBaseTransport,
        *,
        connect_timeout: float | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        #: httpx's transport, for plain http and HTTP/1.1-only origins.
        self.fallback = fallback
        self._connect_timeout = connect_timeout
        self._origins: dict[tuple[str, int], _Origin] = {}
        self._http11: set[tuple[str, int]] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "https":
            return await self.fallback.handle_async_request(request)
        key = (url.host, url.port or 443)
        if key in self._http11:
            return await self.fallback.handle_async_request(request)
        if self._closed:
            raise httpx.ConnectError("the transport is closed")
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(self, *key)
        response = await origin.handle(request)
        if response is None:  # the server chose HTTP/1.1
            self._http11.add(key)
            self._origins.pop(key, None)
            return await self.fallback.handle_async_request(request)
        return response

    async def aclose(self) -> None:
        self._closed = True
        origins, self._origins = list(self._origins.values()), {}
        with trio.CancelScope(shield=True):
            for origin in origins:
                await origin.aclose()
            await self.fallback.aclose()

    def connections(self) -> list[_Connection]:
        """The open HTTP/2 connections (for tests and the benchmark)."""
        return [conn for origin in self._origins.values() for conn in origin.connections]


class _Origin:
    """The HTTP/2 connections to one host and port."""

    def __init__(self, transport: Http2Transport, host: str, port: int) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.authority = (host if port == 443 else f"{host}:{port}").encode()
        self.connections: list[_Connection] = []
        self.connecting: trio.Event | None = None
        self.http11 = False  # the server answered ALPN with HTTP/1.1
        self.freed = trio.Event()  # set when a stream ends somewhere (replaced after)

    async def handle(self, request: httpx.Request) -> httpx.Response | None:
        """The response over HTTP/2, or None when the server speaks HTTP/1.1 only."""
        while True:
            if self.http11:
                return None  # (requests that waited for the connect that found out)
            conn = self._pick()
            if conn is not None:
                try:
                    usable = await conn.catch_up()
                except BaseException:
                    conn.reserved -= 1
                    raise
                if usable:
                    return await conn.request(request)
                conn.reserved -= 1
                continue
            if self.connecting is not None:
                await self.connecting.wait()  # another request is connecting: share it
                continue
            if len(self.connections) >= MAX_CONNECTIONS:
                await self.freed.wait()
                continue
            self.connecting = connecting = trio.Event()
            try:
                conn = await self._connect()
            finally:
                self.connecting = None
                connecting.set()
            if conn is None:
                self.http11 = True
                return None
            self.connections.append(conn)

    def _pick(self) -> _Connection | None:
        for conn in self.connections:
            if conn.available():
                conn.reserved += 1  # taken before any await: no other request sees the slot
                return conn
        return None

    def stream_freed(self, conn: _Connection) -> None:
        if conn.closed:
            self.drop(conn)
        freed, self.freed = self.freed, trio.Event()
        freed.set()

    def drop(self, conn: _Connection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)

    async def _connect(self) -> _Connection | None:
        """A new HTTP/2 connection, or None when the server picked HTTP/1.1."""
        timeout = self.transport._connect_timeout
        context = self.transport._ssl_context
        tls: trio.SSLStream[trio.SocketStream] | None = None
        try:
            with trio.fail_after(timeout if timeout is not None else float("inf")):
                tcp = await trio.open_tcp_stream(self.host, self.port)
                try:
                    # The context may be shared (httpcore sets its ALPN list per
                    # connection too): set it right before the wrap, no await between.
                    context.set_alpn_protocols(["h2", "http/1.1"])
                    tls = trio.SSLStream(
                        tcp, context, server_hostname=self.host, https_compatible=True
                    )
                    await tls.do_handshake()
                except BaseException:
                    await trio.aclose_forcefully(tcp)
                    raise
                if tls.selected_alpn_protocol() != "h2":
                    await trio.aclose_forcefully(tls)
                    return None
                conn = _Connection(self, tls)
                await conn.start()
                return conn
        except trio.TooSlowError:
            if tls is not None:
                await trio.aclose_forcefully(tls)
            raise httpx.ConnectTimeout(f"connect to {self.host}:{self.port} timed out") from None
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            if tls is not None:
                await trio.aclose_forcefully(tls)
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        except _ConnectionFailed as exc:
            raise httpx.ConnectError(str(exc)) from exc

    async def aclose(self) -> None:
        conns, self.connections = self.connections, []
        for conn in conns:
            await conn.aclose()


class _ConnectionFailed(Exception):
    """The connection is gone (closed, broken, GOAWAY, protocol error); says why."""


class _Stream:
    """What arrived for one stream, waiting for its task."""

    __slots__ = (
        "chunks",
        "ended",
        "error",
        "headers",
        "id",
        "unacked",
        "wakeup",
    )

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.unacked = 0  # flow-controlled bytes handed over but not yet acknowledged
        self.ended = False
        self.error: Exception | None = None
        self.wakeup: trio.Event | None = None

    def has_headers(self) -> bool:
        return self.headers is not None or self.error is not None or self.ended

    def has_data(self) -> bool:
        return bool(self.chunks) or self.ended or self.error is not None


class _Connection:
    """One HTTP/2 connection: h2's state, the TLS stream, the streams in flight."""

    def __init__(self, origin: _Origin, tls: trio.SSLStream[trio.SocketStream]) -> None:
        self.origin = origin
        self.tls = tls
        self.receive = draining_receive(tls) or tls.receive_some
        self.send = tls_send(tls)
        self.h2 = H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.streams: dict[int, _Stream] = {}
        self.reserved = 0  # requests that picked this connection and have no stream id yet
        self.reading = False
        self.waiting: set[_Stream] = set()
        self.outbox: list[bytes] = []
        self.send_lock = trio.Lock()
        self.error: _ConnectionFailed | None = None
        self.closed = False
        self.goaway = False
        self.settings_seen = False
        self.window_opened = trio.Event()  # replaced after each WINDOW_UPDATE

    # ------------------------------------------------------------------ setup

    async def start(self) -> None:
        """Send the preface and our settings; wait for the server's SETTINGS."""
        h2c = self.h2
        h2c.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
            },
        )
        h2c.initiate_connection()
        h2c.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._queue()
        await self._flush()
        while not self.settings_seen:
            await self._read_once()
            if self.error is not None:
                raise self.error

    def available(self) -> bool:
        if self.closed or self.goaway or self.error is not None:
            return False
        limit = self.h2.remote_settings.max_concurrent_streams
        return self.h2.open_outbound_streams + self.reserved < limit

    async def catch_up(self) -> bool:
        """On an idle connection, process what the server sent meanwhile (a GOAWAY, a
        close, a PING); True if the connection may still carry a new stream.

        Nobody reads an idle connection, so a server that closed it would
        otherwise be found out only by the next request.
        """
        if self.streams or self.reading or not _peer_spoke(self.tls):
            return True
        self.reading = True
        try:
            await self._read_once()  # bytes are waiting: returns without blocking
        finally:
            self.reading = False
        return not (self.closed or self.goaway or self.error is not None)

    # ------------------------------------------------------------------ one request

    async def request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on a slot :meth:`available` granted; its response headers."""
        try:
            body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
            if self.error is not None:
                raise httpx.ConnectError(str(self.error))
        finally:
            self.reserved -= 1  # from here the stream itself counts (no await until then)
        url = request.url
        headers = [
            (b":method", request.method.encode()),
            (b":authority", self.origin.authority),
            (b":scheme", b"https"),
            (b":path", url.raw_path),
        ]
        for name, value in request.headers.raw:
            name = name.lower()
            if name not in _DROPPED:
                headers.append((name, value))
        h2c = self.h2
        stream_id = h2c.get_next_available_stream_id()
        stream = self.streams[stream_id] = _Stream(stream_id)
        try:
            h2c.send_headers(stream_id, headers, end_stream=not body)
            self._queue()
            await self._flush()
            if body:
                await self._send_body(stream, body)
            while not stream.has_headers():
                await self._wait(stream)
        except BaseException as exc:
            await self.reset(stream)
            if isinstance(exc, _ConnectionFailed):
                raise httpx.ConnectError(str(exc)) from exc
            if isinstance(exc, h2.exceptions.ProtocolError):
                raise httpx.LocalProtocolError(f"{type(exc).__name__}: {exc}") from exc
            raise
        if stream.headers is None:
            error = stream.error or _ConnectionFailed("the stream ended without response headers")
            await self.reset(stream)
            raise httpx.RemoteProtocolError(str(error))
        status = 0
        response_headers = []
        for name, value in stream.headers:
            if name == b":status":
                status = int(value)
            elif not name.startswith(b":"):
                response_headers.append((name, value))
        reader = _Body(self, stream)
        return httpx.Response(
            status,
            headers=response_headers,
            stream=reader,
            # Reached through httpx's wrappers by http.Exchange.abort.
            extensions={"http_version": b"HTTP/2", RESET_EXTENSION: reader.aclose},
        )

    async def _send_body(self, stream: _Stream, body: bytes) -> None:
        h2c = self.h2
        view = memoryview(body)
        while view:
            window = min(h2c.local_flow_control_window(stream.id), h2c.max_outbound_frame_size)
            if window <= 0:
                opened = self.window_opened
                while opened is self.window_opened and stream.error is None:
                    await self._wait(stream, until=opened.is_set)
                if stream.error is not None:
                    raise stream.error
                continue
            h2c.send_data(stream.id, bytes(view[:window]), end_stream=len(view) <= window)
            view = view[window:]
            self._queue()
            await self._flush()

    async def next_data(self, stream: _Stream) -> bytes:
        """The data that arrived for ``stream`` since the last call (b"" at its end)."""
        while True:
            if stream.chunks:
                chunks, stream.chunks = stream.chunks, []
                acked, stream.unacked = stream.unacked, 0
                if acked:
                    self.h2.acknowledge_received_data(acked, stream.id)
                    if self._queue():
                        await self._flush()
                return joined(chunks)
            if stream.error is not None:
                raise stream.error
            if stream.ended:
                self._forget(stream)
                return b""
            await self._wait(stream)

    async def reset(self, stream: _Stream) -> None:
        """RST_STREAM(CANCEL) unless the stream is over; shielded and bounded."""
        if self.streams.get(stream.id) is not stream:
            return
        self._forget(stream)
        if stream.ended or stream.error is not None or self.error is not None:
            return
        try:
            self.h2.reset_stream(stream.id, error_code=h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.ProtocolError:
            return  # already closed on h2's side
        self._queue()
        await self._flush()

    def _forget(self, stream: _Stream) -> None:
        if self.streams.pop(stream.id, None) is not None:
            if stream.unacked and self.error is None:
                # Data nobody will read: give its share of the connection window back.
                self.h2.acknowledge_received_data(stream.unacked, stream.id)
                stream.unacked = 0
                self._queue()
            self.origin.stream_freed(self)
        if self.goaway and not self.streams:
            self._close_soon()

    # ------------------------------------------------------------------ reading

    async def _wait(self, stream: _Stream, until: Any = None) -> None:
        """Until something arrived for ``stream`` (or ``until()``): read, or let the reader."""
        ready = (
            until
            if until is not None
            else (stream.has_headers if stream.headers is None else stream.has_data)
        )
        if self.error is not None:
            if stream.error is None:
                stream.error = self.error
            return
        if self.reading:
            event = stream.wakeup = trio.Event()
            self.waiting.add(stream)
            try:
                await event.wait()
            except BaseException:
                # Cancelled, perhaps just after being chosen as the next reader:
                # pass that on, or the streams still waiting would wait forever.
                self.waiting.discard(stream)
                if not self.someone_reads():
                    self._hand_over(stream)
                raise
            finally:
                self.waiting.discard(stream)
                stream.wakeup = None
            return
        self.reading = True
        try:
            while not ready() and self.error is None:
                await self._read_once()
        finally:
            self.reading = False
            self._hand_over(stream)
        failure = self.failure()  # (read again: the loop above may have set it)
        if failure is not None and stream.error is None:
            stream.error = failure

    def failure(self) -> _ConnectionFailed | None:
        """Why the connection is unusable, or None."""
        return self.error

    def someone_reads(self) -> bool:
        """A task is reading the socket for every stream (read afresh after an await)."""
        return self.reading

    def _hand_over(self, leaving: _Stream) -> None:
        # Wake one waiting stream that has nothing yet: it becomes the reader.
        # (Streams that got something were woken when it arrived.)
        for other in self.waiting:
            if other is not leaving and other.wakeup is not None and not other.wakeup.is_set():
                other.wakeup.set()
                return

    async def _read_once(self) -> None:
        try:
            data = await self.receive(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._fail(_ConnectionFailed(f"ReadError: {exc or type(exc).__name__}"))
            return
        if not data:
            self._fail(_ConnectionFailed("the server closed the connection"))
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._queue()
            await self._flush()
            self._fail(_ConnectionFailed(f"HTTP/2 protocol error: {type(exc).__name__}: {exc}"))
            return
        streams = self.streams
        woken: set[_Stream] = set()
        event: Any
        for event in events:
            kind = type(event)
            if kind is h2.events.DataReceived:
                stream = streams.get(event.stream_id)
                if stream is None:
                    # A stream we reset or finished: hand its window back at once.
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    continue
                stream.chunks.append(event.data)
                stream.unacked += event.flow_controlled_length
                woken.add(stream)
            elif kind is h2.events.ResponseReceived:
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.headers = event.headers
                    woken.add(stream)
            elif kind is h2.events.StreamEnded:
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.ended = True
                    woken.add(stream)
            elif kind is h2.events.StreamReset:
                stream = streams.get(event.stream_id)
                if stream is not None:
                    code = _error_name(event.error_code)
                    stream.error = httpx.RemoteProtocolError(
                        f"the server reset the stream ({code})"
                    )
                    self._forget(stream)
                    woken.add(stream)
            elif kind is h2.events.RemoteSettingsChanged:
                self.settings_seen = True
                self.origin.stream_freed(self)  # the stream limit may have grown
            elif kind is h2.events.WindowUpdated:
                opened, self.window_opened = self.window_opened, trio.Event()
                opened.set()
                woken.update(self.waiting)  # a request body may be waiting for window
            elif kind is h2.events.ConnectionTerminated:
                self._goaway(event)
        for stream in woken:
            if stream.wakeup is not None:
                stream.wakeup.set()
        if self._queue():
            await self._flush()

    def _goaway(self, event: Any) -> None:
        # No new streams here; the streams the server will not process fail (a
        # retry goes to another connection); the others finish.
        self.goaway = True
        last = event.last_stream_id if event.last_stream_id is not None else 0
        code = _error_name(event.error_code)
        for stream in list(self.streams.values()):
            if stream.id > last:
                stream.error = httpx.RemoteProtocolError(f"the server sent GOAWAY ({code})")
                self._forget(stream)
                if stream.wakeup is not None:
                    stream.wakeup.set()
        self.origin.drop(self)
        if not self.streams:
            self._close_soon()

    def _fail(self, error: _ConnectionFailed) -> None:
        """The connection is unusable: every stream on it fails with ``error``."""
        if self.error is None:
            self.error = error
        self.origin.drop(self)
        for stream in list(self.streams.values()):
            if stream.error is None and not stream.ended:
                stream.error = httpx.ReadError(str(error))
            if stream.wakeup is not None:
                stream.wakeup.set()
        self._close_soon()

    def _close_soon(self) -> None:
        # Closing the socket needs no await: the next read or write on it fails.
        if not self.closed:
            self.closed = True
            self.outbox.clear()
            self.tls.transport_stream.socket.close()

    # ------------------------------------------------------------------ writing

    def _queue(self) -> bool:
        """Take h2's pending bytes into the outbox, in h2's order; True if any."""
        out = self.h2.data_to_send()
        if out:
            self.outbox.append(out)
            return True
        return False

    async def _flush(self) -> None:
        """Send the outbox (shielded, bounded: a cut write would break the TLS stream)."""
        if not self.outbox or self.closed:
            return
        lock = self.send_lock
        with trio.CancelScope(shield=True, deadline=trio.current_time() + _WRITE_GRACE) as scope:
            # A free lock is taken without the scheduling round `async with`
            # costs (send_all checkpoints anyway): a reset leaves sooner.
            try:
                lock.acquire_nowait()
            except trio.WouldBlock:
                await lock.acquire()
            try:
                if self.outbox and not self.closed:
                    data = b"".join(self.outbox)
                    self.outbox.clear()
                    try:
                        await self.send(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        self._fail(_ConnectionFailed(f"WriteError: {exc or type(exc).__name__}"))
            finally:
                lock.release()
        if scope.cancelled_caught:
            self._fail(_ConnectionFailed(f"a write took longer than {_WRITE_GRACE:g} s"))

    async def aclose(self) -> None:
        if not self.closed:
            self._fail(_ConnectionFailed("the transport is closed"))
        await trio.aclose_forcefully(self.tls)


class _Body(httpx.AsyncByteStream):
    """A response body: its stream's data as it arrives; closing it early resets the stream."""

    def __init__(self, conn: _Connection, stream: _Stream) -> None:
        self._conn = conn
        self._stream = stream

    async def __aiter__(self) -> Any:
        conn, stream = self._conn, self._stream
        while True:
            data = await conn.next_data(stream)
            if not data:
                return
            yield data

    async def aclose(self) -> None:
        await self._conn.reset(self._stream)


def _peer_spoke(tls: trio.SSLStream[trio.SocketStream]) -> bool:
    """True when the socket under an idle connection has bytes (or EOF) waiting."""
    try:
        return bool(tls.transport_stream.socket.is_readable())
    except (AttributeError, OSError):
        return True


def _error_name(code: Any) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error code {code}"
