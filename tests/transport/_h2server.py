"""A small real HTTP/2 server for the transport tests: trio + TLS + the h2 library.

What a request gets is said by its path:

* ``/events?n=N``: N DATA frames ``data: i\\n\\n``, then the end of the stream;
* ``/hold``: one event, then one more each time :meth:`H2Server.tick` is called,
  until the client resets the stream;
* ``/flood``: 16 KiB DATA frames as fast as the flow-control window allows,
  ``size`` bytes in all (counted in ``sent``);
* ``/slow-headers``: no response until the client gives up;
* ``/drop``: one event, then the TCP connection is closed;
* ``/then-goaway``: one event, the end of the stream, then GOAWAY;
* ``/digest``: one event ``data: <bytes> <sha256>`` of the request body received.

The server records what a test needs to check from outside: connections,
streams open at once per connection (its high-water mark), RST_STREAM frames
received, bytes sent per stream, and whether a stream waited for window.
"""

from __future__ import annotations

import hashlib
import ssl
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import trio


@dataclass
class _Conn:
    tls: trio.SSLStream[trio.SocketStream]
    h2: h2.connection.H2Connection
    lock: trio.Lock = field(default_factory=trio.Lock)
    window: trio.Event = field(default_factory=trio.Event)
    open: set[int] = field(default_factory=set)
    reset: dict[int, trio.Event] = field(default_factory=dict)


class H2Server:
    def __init__(self, ssl_context: ssl.SSLContext, max_streams: int = 100) -> None:
        ssl_context.set_alpn_protocols(["h2"])
        self.ssl_context = ssl_context
        self.max_streams = max_streams
        self.port = 0
        self.connections = 0
        self.max_open = 0  # the most streams open at once on one connection
        self.resets: list[tuple[int, str]] = []  # (stream id, path) of each RST_STREAM
        self.reset_seen = trio.Event()
        self.sent: dict[int, int] = defaultdict(int)  # stream id -> DATA bytes sent
        self.blocked = trio.Event()  # a /flood stream waits for window
        self.paths: dict[int, str] = {}
        self.bodies: dict[int, bytearray] = defaultdict(bytearray)  # request bodies received
        self.completed: list[int] = []
        self.ticks = 0
        self._ticked = trio.Event()

    async def __aenter__(self) -> H2Server:
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        listeners = await nursery.start(trio.serve_tcp, self._serve, 0)
        self.port = listeners[0].socket.getsockname()[1]
        self._nursery = nursery
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._nursery.cancel_scope.cancel()
        await self._nursery_cm.__aexit__(*exc)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def tick(self) -> None:
        """One more event on every /hold stream."""
        self.ticks += 1
        ticked, self._ticked = self._ticked, trio.Event()
        ticked.set()

    async def _serve(self, tcp: trio.SocketStream) -> None:
        tls = trio.SSLStream(tcp, self.ssl_context, server_side=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError:
            return
        self.connections += 1
        conn = _Conn(
            tls,
            h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=False, header_encoding=None)
            ),
        )
        # Before the preface, as initial values: a plain assignment would only
        # take effect once acknowledged, after the client had read the old limit.
        conn.h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams},
        )
        conn.h2.initiate_connection()
        async with trio.open_nursery() as nursery:
            await self._flush(conn)
            try:
                while True:
                    data = await tls.receive_some(65536)
                    if not data:
                        break
                    for event in conn.h2.receive_data(data):
                        self._on_event(conn, event, nursery)
                    await self._flush(conn)
            except (
                trio.BrokenResourceError,
                trio.ClosedResourceError,
                h2.exceptions.ProtocolError,
            ):
                pass
            nursery.cancel_scope.cancel()

    def _on_event(self, conn: _Conn, event: Any, nursery: trio.Nursery) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = dict(event.headers)
            self.paths[event.stream_id] = headers[b":path"].decode()
            conn.open.add(event.stream_id)
            conn.reset[event.stream_id] = trio.Event()
            self.max_open = max(self.max_open, len(conn.open))
        elif isinstance(event, h2.events.DataReceived):
            self.bodies[event.stream_id] += event.data
            conn.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            nursery.start_soon(self._respond, conn, event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            conn.open.discard(event.stream_id)
            self.resets.append((event.stream_id, self.paths.get(event.stream_id, "")))
            self.reset_seen.set()
            conn.reset[event.stream_id].set()
        elif isinstance(event, h2.events.WindowUpdated):
            window, conn.window = conn.window, trio.Event()
            window.set()

    async def _flush(self, conn: _Conn) -> None:
        # Shielded: a write cut by a stream's cancel would break the whole connection.
        with trio.CancelScope(shield=True):
            async with conn.lock:
                out = conn.h2.data_to_send()
                if out:
                    await conn.tls.send_all(out)

    async def _send(self, conn: _Conn, stream_id: int, data: bytes) -> None:
        """One DATA frame (or more, at the window's edge), waiting for window as needed."""
        while data:
            window = min(
                conn.h2.local_flow_control_window(stream_id),
                conn.h2.max_outbound_frame_size,
                len(data),
            )
            if window == 0:
                self.blocked.set()
                await conn.window.wait()
                continue
            conn.h2.send_data(stream_id, data[:window])
            self.sent[stream_id] += window
            data = data[window:]
            await self._flush(conn)

    async def _respond(self, conn: _Conn, stream_id: int) -> None:
        url = urlsplit(self.paths[stream_id])
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with trio.CancelScope() as scope:
            watch = conn.reset[stream_id]

            async def cancel_on_reset() -> None:
                await watch.wait()
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel_on_reset)
                try:
                    await self._reply(conn, stream_id, url.path, query)
                except h2.exceptions.StreamClosedError:
                    pass
                nursery.cancel_scope.cancel()
        conn.open.discard(stream_id)

    async def _reply(self, conn: _Conn, stream_id: int, path: str, query: dict[str, str]) -> None:
        if path == "/slow-headers":
            await trio.sleep_forever()
        conn.h2.send_headers(
            stream_id, [(b":status", b"200"), (b"content-type", b"text/event-stream")]
        )
        if path in ("/events", "/then-goaway"):
            for i in range(int(query.get("n", "3"))):
                await self._send(conn, stream_id, b"data: %d\n\n" % i)
        elif path == "/hold":
            i = 0
            while True:
                await self._send(conn, stream_id, b"data: %d\n\n" % i)
                i += 1
                while self.ticks < i:  # event i goes out once tick() was called i times
                    await self._ticked.wait()
        elif path == "/flood":
            size = int(query["size"])
            while self.sent[stream_id] < size:
                await self._send(conn, stream_id, b"x" * min(65536, size - self.sent[stream_id]))
        elif path == "/digest":
            body = bytes(self.bodies[stream_id])
            digest = hashlib.sha256(body).hexdigest().encode()
            await self._send(conn, stream_id, b"data: %d %s\n\n" % (len(body), digest))
        elif path == "/drop":
            await self._send(conn, stream_id, b"data: 0\n\n")
            conn.tls.transport_stream.socket.close()
            return
        conn.h2.end_stream(stream_id)
        if path == "/then-goaway":
            conn.h2.close_connection(last_stream_id=stream_id)
        await self._flush(conn)
        self.completed.append(stream_id)
