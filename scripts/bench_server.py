"""A lean loopback SSE server for ``scripts/bench.py``: Anthropic and OpenAI shapes.

Runs in its own process (``python scripts/bench_server.py --port 0``) on raw
asyncio protocols: HTTP/1.1 keep-alive, chunked transfer encoding, one
``transport.write`` (one chunk, one ``send``) per SSE event, so every client
sees the small reads a real provider produces. Nothing is parsed that does
not have to be: the request body is only searched for its ``"model"`` string.

What a request streams is said by its model name, so every client (our
library, bare httpx, the SDKs, LiteLLM) can drive it without custom headers::

    bench:n=20000:pace=0:stamp=0:id=r1-17

``n`` text deltas; ``pace`` events per second per stream (0: as fast as the
socket takes them); ``stamp=1`` makes each delta's text the server's
``time.monotonic()`` at send time (so the client can measure delivery delay;
CLOCK_MONOTONIC is system-wide on Linux); ``id`` names the stream for the
close log. The shape follows the path: ``.../v1/messages`` is Anthropic,
``.../chat/completions`` is OpenAI.

Control endpoints (GET): ``/_ping``; ``/_closes`` returns ``{id: monotonic
time the server saw the client close the connection mid-stream}`` for every
stream that carried an ``id`` and was closed before its end; ``/_reset``
clears that log; ``/_stats`` returns counters. On start the server prints
``READY <port>`` on stdout.

Flow control is honoured (``pause_writing``/``resume_writing``): a slow
client slows the server, it never buffers a whole burst in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

#: The server's SETTINGS_MAX_CONCURRENT_STREAMS over HTTP/2 (h2's default, and
#: what large HTTPS front ends commonly announce): more streams need more
#: connections.
H2_MAX_STREAMS = 100
_MODEL_RE = re.compile(rb'"model"\s*:\s*"([^"]*)"')
# A delta's text when not stamped: about as long as a stamp, a typical token or two.
# Several different ones in turn: LiteLLM aborts a stream that repeats one chunk 100 times.
_TOKENS = [f" word{i:02d}, " for i in range(16)]


def parse_spec(model: str) -> dict[str, Any]:
    """``bench:n=...:pace=...`` -> dict; a provider prefix (``anthropic/``) is ignored."""
    model = model.rsplit("/", 1)[-1]
    spec: dict[str, Any] = {"n": 10, "pace": 0.0, "stamp": False, "id": ""}
    for part in model.split(":")[1:]:
        key, _, value = part.partition("=")
        if key == "n":
            spec["n"] = int(value)
        elif key == "pace":
            spec["pace"] = float(value)
        elif key == "stamp":
            spec["stamp"] = value == "1"
        elif key == "id":
            spec["id"] = value
    return spec


def make_spec(n: int, *, pace: float = 0, stamp: bool = False, id: str = "") -> str:
    """The model name that asks the server for this stream (see the module docstring)."""
    spec = f"bench:n={n}:pace={pace:g}:stamp={int(stamp)}"
    return f"{spec}:id={id}" if id else spec


def _framed(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _raw(payload: bytes) -> bytes:
    return payload


def _event(name: str | None, data: dict[str, Any] | str) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {body}\n\n".encode()


class Shape:
    """Pre-rendered events of one wire format; only deltas are built per event.

    ``chunked``: each event is framed as one HTTP/1.1 chunk; else (HTTP/2,
    where each event goes in its own DATA frame) the bare SSE bytes.
    """

    def __init__(self, kind: str, chunked: bool = True) -> None:
        self.kind = kind
        _chunk = _framed if chunked else _raw
        self._frame = _chunk
        if kind == "anthropic":
            self.head = [
                _event(
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            "id": "msg_bench",
                            "type": "message",
                            "role": "assistant",
                            "model": "bench",
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {
                                "input_tokens": 12,
                                "cache_creation_input_tokens": 0,
                                "cache_read_input_tokens": 0,
                                "output_tokens": 1,
                            },
                        },
                    },
                ),
                _event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                _event("ping", {"type": "ping"}),
            ]
            self.head = [_chunk(event) for event in self.head]
            self._delta_pre = (
                b"event: content_block_delta\ndata: "
                b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'
            )
            self._delta_post = b'"}}\n\n'
        else:
            common = (
                '"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,'
                '"model":"bench","system_fingerprint":"fp_bench"'
            )
            self.head = [
                _chunk(
                    (
                        "data: {" + common + ',"choices":[{"index":0,"delta":{"role":"assistant",'
                        '"content":""},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
                    ).encode()
                )
            ]
            self._delta_pre = (
                "data: {" + common + ',"choices":[{"index":0,"delta":{"content":"'
            ).encode()
            self._delta_post = b'"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
            self._common = common
        self.plain = [self.delta(token) for token in _TOKENS]

    def delta(self, text: str) -> bytes:
        return self._frame(self._delta_pre + text.encode() + self._delta_post)

    def tail(self, n: int) -> list[bytes]:
        """The closing events (and, chunked, the last chunk)."""
        _chunk = self._frame
        last = [b"0\r\n\r\n"] if _chunk is _framed else []
        if self.kind == "anthropic":
            return [
                _chunk(event)
                for event in (
                    _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    _event(
                        "message_delta",
                        {
                            "type": "message_delta",
                            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                            "usage": {"output_tokens": n},
                        },
                    ),
                    _event("message_stop", {"type": "message_stop"}),
                )
            ] + last
        common = self._common
        return [
            _chunk(
                (
                    "data: {" + common + ',"choices":[{"index":0,"delta":{},"logprobs":null,'
                    '"finish_reason":"stop"}],"usage":null}\n\n'
                ).encode()
            ),
            _chunk(
                (
                    "data: {" + common + ',"choices":[],"usage":{"prompt_tokens":12,'
                    f'"completion_tokens":{n},"total_tokens":{n + 12}}}}}\n\n'
                ).encode()
            ),
            _chunk(b"data: [DONE]\n\n"),
            *last,
        ]


SHAPES = {"anthropic": Shape("anthropic"), "openai": Shape("openai")}
#: The same shapes for HTTP/2: no chunk framing.
H2_SHAPES = {kind: Shape(kind, chunked=False) for kind in SHAPES}

_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\nrequest-id: req_bench\r\nx-request-id: req_bench\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


class Stats:
    def __init__(self) -> None:
        self.closes: dict[str, float] = {}
        self.connections = 0
        self.requests = 0
        self.completed = 0
        self.events = 0
        #: Connections that carried at least one stream, by protocol: the bench
        #: checks every client used the protocol it was asked for.
        self.h1_connections = 0
        self.h2_connections = 0

    def as_dict(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "connections": self.connections,
            "requests": self.requests,
            "completed": self.completed,
            "events": self.events,
            "h1_connections": self.h1_connections,
            "h2_connections": self.h2_connections,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "maxrss_kib": usage.ru_maxrss,
        }


class Pacer:
    """Sends one event per stream every ``1/pace`` s, streams spread over 1 ms slots.

    One timer for all streams of a rate (not one per stream): with thousands of
    paced streams the server stays cheap. Streams are spread over the period so
    the client is not handed every stream's event in the same instant. A late
    tick catches up at once; the stamp is taken at the actual write, so server
    lateness never counts as client delivery delay.
    """

    def __init__(self, pace: float) -> None:
        self.period = 1.0 / pace
        self.nslots = max(1, round(self.period / 0.001))
        self.slots: list[set[Conn]] = [set() for _ in range(self.nslots)]
        self.next_slot = 0
        self.rr = 0
        self.task: asyncio.Task[None] | None = None

    def add(self, conn: Conn) -> None:
        # Round-robin: a batch of streams opened together ends up spread over the period.
        slot = self.rr
        self.rr = (slot + 1) % self.nslots
        self.slots[slot].add(conn)
        conn.slot = slot
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, conn: Conn) -> None:
        if conn.slot is not None:
            self.slots[conn.slot].discard(conn)
            conn.slot = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        step = self.period / self.nslots
        due = loop.time()
        while any(self.slots):
            slot = self.next_slot
            self.next_slot = (slot + 1) % self.nslots
            for conn in list(self.slots[slot]):
                conn.paced_tick()
            due += step
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                due = loop.time()  # hopelessly behind: do not burst to catch up
            else:
                await asyncio.sleep(0)


class Conn(asyncio.Protocol):
    """One client connection: parse requests, stream responses, keep alive."""

    def __init__(self, stats: Stats, pacers: dict[float, Pacer]) -> None:
        self.stats = stats
        self.pacers = pacers
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.paused = False
        self.closed = False
        self.keep_alive = True
        self.slot: int | None = None
        # the stream being served
        self.shape = SHAPES["anthropic"]
        self.n = 0
        self.sent = 0
        self.stamp = False
        self.stream_id = ""
        self.pacer: Pacer | None = None
        self.tail: list[bytes] = []
        self.counted = False

    # -------------------------------------------------------------- transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = transport.get_extra_info("ssl_object")
        if tls is not None and tls.selected_alpn_protocol() == "h2":
            # asyncio calls connection_made after the TLS handshake: hand over.
            h2_conn = H2Conn(self.stats, self.pacers)
            transport.set_protocol(h2_conn)
            h2_conn.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._next_request()

    def eof_received(self) -> bool | None:
        self._client_closed()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._client_closed()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.busy and self.pacer is None:
            self._burst()

    def _client_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        now = time.monotonic()
        if self.busy and self.stream_id:
            self.stats.closes.setdefault(self.stream_id, now)
        if self.pacer is not None:
            self.pacer.remove(self)
            self.pacer = None
        self.busy = False
        if self.transport is not None:
            self.transport.close()

    # -------------------------------------------------------------- requests

    def _next_request(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).decode("latin-1")
        lines = head.split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            self._reply(400, b"bad request line")
            return
        length = 0
        chunked = False
        self.keep_alive = True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                self.keep_alive = False
        body_start = end + 4
        if chunked:
            body = self._dechunk(body_start)
            if body is None:
                return  # wait for the rest
        else:
            if len(self.buf) < body_start + length:
                return
            body = bytes(self.buf[body_start : body_start + length])
            del self.buf[: body_start + length]
        self.stats.requests += 1
        self._dispatch(method, target, body)

    def _dechunk(self, pos: int) -> bytes | None:
        out = bytearray()
        while True:
            eol = self.buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(self.buf[pos:eol]).split(b";")[0], 16)
            if size == 0:
                trailer_end = self.buf.find(b"\r\n\r\n", eol)
                if trailer_end < 0:
                    return None
                del self.buf[: trailer_end + 4]
                return bytes(out)
            if len(self.buf) < eol + 2 + size + 2:
                return None
            out += self.buf[eol + 2 : eol + 2 + size]
            pos = eol + 2 + size + 2

    def _dispatch(self, method: str, target: str, body: bytes) -> None:
        path = target.split("?", 1)[0]
        if method == "POST" and path.endswith("/messages"):
            self._start_stream("anthropic", body)
        elif method == "POST" and path.endswith("/chat/completions"):
            self._start_stream("openai", body)
        elif path == "/_ping":
            self._reply(200, b"pong")
        elif path == "/_closes":
            self._reply(200, json.dumps(self.stats.closes).encode(), "application/json")
        elif path == "/_reset":
            self.stats.closes.clear()
            self._reply(200, b"ok")
        elif path == "/_stats":
            self._reply(200, json.dumps(self.stats.as_dict()).encode(), "application/json")
        else:
            self._reply(404, b"not found: " + path.encode())

    def _reply(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
        assert self.transport is not None
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n"
            f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        self._finished()

    def _start_stream(self, kind: str, body: bytes) -> None:
        assert self.transport is not None
        match = _MODEL_RE.search(body)
        spec = parse_spec(match.group(1).decode() if match else "bench")
        self.shape = SHAPES[kind]
        self.n = spec["n"]
        self.stamp = spec["stamp"]
        self.stream_id = spec["id"]
        self.sent = 0
        self.tail = self.shape.tail(self.n)
        self.busy = True
        if not self.counted:
            self.counted = True
            self.stats.h1_connections += 1
        self.transport.write(_SSE_HEAD)
        for event in self.shape.head:
            self.transport.write(event)
        if spec["pace"] > 0:
            pacer = self.pacers.get(spec["pace"])
            if pacer is None:
                pacer = self.pacers[spec["pace"]] = Pacer(spec["pace"])
            self.pacer = pacer
            pacer.add(self)
        else:
            self.pacer = None
            self._burst()

    # -------------------------------------------------------------- streaming

    def _burst(self) -> None:
        transport = self.transport
        assert transport is not None
        write = transport.write
        n = self.n
        sent = self.sent
        plain = self.shape.plain
        nplain = len(plain)
        delta: Callable[[str], bytes] = self.shape.delta
        stamp = self.stamp
        # Each event its own write (its own chunk and send), until the socket pushes back.
        while sent < n and not self.paused and not self.closed:
            write(delta(f"{time.monotonic():.6f}") if stamp else plain[sent % nplain])
            sent += 1
        self.stats.events += sent - self.sent
        self.sent = sent
        if sent >= n and not self.closed:
            self._end_stream()

    def paced_tick(self) -> None:
        if self.closed or self.transport is None:
            return
        if self.sent < self.n:
            if self.stamp:
                self.transport.write(self.shape.delta(f"{time.monotonic():.6f}"))
            else:
                self.transport.write(self.shape.plain[self.sent % len(self.shape.plain)])
            self.sent += 1
            self.stats.events += 1
        if self.sent >= self.n:
            if self.pacer is not None:
                self.pacer.remove(self)
                self.pacer = None
            self._end_stream()

    def _end_stream(self) -> None:
        assert self.transport is not None
        for event in self.tail:
            self.transport.write(event)
        self.stats.completed += 1
        self._finished()

    def _finished(self) -> None:
        self.busy = False
        self.stream_id = ""
        if not self.keep_alive:
            assert self.transport is not None
            self.transport.close()
            self.closed = True
        elif self.buf:
            self._next_request()


class H2Stream:
    """One HTTP/2 stream being served: the same burst and pacing as :class:`Conn`."""

    def __init__(self, conn: H2Conn, stream_id: int) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.headers: dict[bytes, bytes] = {}
        self.body = bytearray()
        self.slot: int | None = None
        self.pacer: Pacer | None = None
        self.shape = H2_SHAPES["anthropic"]
        self.n = 0
        self.sent = 0
        self.stamp = False
        self.name = ""
        self.pending: list[bytes] = []  # events waiting for flow-control window
        self.closed = False

    def start(self, kind: str) -> None:
        match = _MODEL_RE.search(self.body)
        spec = parse_spec(match.group(1).decode() if match else "bench")
        self.shape = H2_SHAPES[kind]
        self.n, self.stamp, self.name = spec["n"], spec["stamp"], spec["id"]
        self.conn.h2.send_headers(
            self.stream_id,
            [
                (b":status", b"200"),
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"request-id", b"req_bench"),
                (b"x-request-id", b"req_bench"),
            ],
        )
        self.pending = list(self.shape.head)
        self.flush()
        if spec["pace"] > 0:
            pacer = self.conn.pacers.get(spec["pace"])
            if pacer is None:
                pacer = self.conn.pacers[spec["pace"]] = Pacer(spec["pace"])
            self.pacer = pacer
            pacer.add(self)  # type: ignore[arg-type]
        else:
            self.burst()

    def flush(self) -> bool:
        """Send the waiting events, each in its own DATA frame, as far as the window allows."""
        conn = self.conn
        h2 = conn.h2
        pending = self.pending
        sid = self.stream_id
        while pending and not conn.paused and not self.closed:
            event = pending[0]
            if h2.local_flow_control_window(sid) < len(event):
                conn.blocked.add(self)
                return False
            h2.send_data(sid, event)
            conn.transport.write(h2.data_to_send())  # one frame, one TLS record
            del pending[0]
        return not pending

    def burst(self) -> None:
        plain = self.shape.plain
        nplain = len(plain)
        stamp = self.stamp
        delta = self.shape.delta
        while self.sent < self.n and not self.closed and self.flush():
            self.pending.append(
                delta(f"{time.monotonic():.6f}") if stamp else plain[self.sent % nplain]
            )
            self.sent += 1
            self.conn.stats.events += 1
        if self.sent >= self.n and not self.closed and self.flush():
            self.end()

    def paced_tick(self) -> None:
        if self.closed:
            return
        if self.sent < self.n:
            shape = self.shape
            self.pending.append(
                shape.delta(f"{time.monotonic():.6f}")
                if self.stamp
                else shape.plain[self.sent % len(shape.plain)]
            )
            self.sent += 1
            self.conn.stats.events += 1
            self.flush()
        if self.sent >= self.n:
            self.unpace()
            if self.flush():
                self.end()

    def resume(self) -> None:
        if self.pacer is not None:
            self.flush()
        else:
            self.burst()

    def end(self) -> None:
        if self.closed:
            return
        self.pending = self.shape.tail(self.n)
        if not self.flush():
            self.n = -1  # the tail is queued: end once it is out
            return
        self.finish()

    def finish(self) -> None:
        self.conn.h2.end_stream(self.stream_id)
        self.conn.transport.write(self.conn.h2.data_to_send())
        self.conn.stats.completed += 1
        self.close()

    def unpace(self) -> None:
        if self.pacer is not None:
            self.pacer.remove(self)  # type: ignore[arg-type]
            self.pacer = None

    def close(self) -> None:
        self.closed = True
        self.unpace()
        self.conn.blocked.discard(self)
        self.conn.streams.pop(self.stream_id, None)


class H2Conn(asyncio.Protocol):
    """One HTTP/2 connection (h2 library, server side): each SSE event in its own DATA frame.

    Flow control is honoured: a stream whose window is spent waits for the
    client's WINDOW_UPDATE. A stream the client resets is logged in the
    close log like a closed HTTP/1.1 connection.
    """

    def __init__(self, stats: Stats, pacers: dict[float, Pacer]) -> None:
        import h2.config
        import h2.connection
        import h2.settings

        self.stats = stats
        self.pacers = pacers
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        # Initial values, sent in the preface (an assignment would wait for an ACK).
        self.h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: H2_MAX_STREAMS},
        )
        self.streams: dict[int, H2Stream] = {}
        self.blocked: set[H2Stream] = set()
        self.paused = False
        self.counted = False
        self.transport: asyncio.Transport = None  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.h2.initiate_connection()
        transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.h2.data_to_send())
            self.transport.close()
            return
        for event in events:
            kind = type(event)
            if kind is h2.events.RequestReceived:
                stream = self.streams[event.stream_id] = H2Stream(self, event.stream_id)
                stream.headers = dict(event.headers)
            elif kind is h2.events.DataReceived:
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif kind is h2.events.StreamEnded:
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    self._dispatch(stream)
            elif kind is h2.events.StreamReset:
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    if stream.name:
                        self.stats.closes.setdefault(stream.name, time.monotonic())
                    stream.close()
            elif kind is h2.events.WindowUpdated or kind is h2.events.RemoteSettingsChanged:
                self._resume()
            elif kind is h2.events.ConnectionTerminated:
                self.transport.close()
        out = self.h2.data_to_send()
        if out:
            self.transport.write(out)

    def _dispatch(self, stream: H2Stream) -> None:
        self.stats.requests += 1
        method = stream.headers.get(b":method", b"")
        path = stream.headers.get(b":path", b"").split(b"?", 1)[0]
        if method == b"POST" and path.endswith(b"/messages"):
            kind = "anthropic"
        elif method == b"POST" and path.endswith(b"/chat/completions"):
            kind = "openai"
        else:
            self.h2.send_headers(stream.stream_id, [(b":status", b"404")], end_stream=True)
            stream.close()
            return
        if not self.counted:
            self.counted = True
            self.stats.h2_connections += 1
        stream.start(kind)

    def _resume(self) -> None:
        blocked, self.blocked = self.blocked, set()
        for stream in blocked:
            if stream.n == -1:  # only the tail was waiting
                if stream.flush():
                    stream.finish()
            else:
                stream.resume()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        for stream in list(self.streams.values()):
            if stream.pacer is None and not stream.closed:
                self.blocked.add(stream)
        self._resume()

    def connection_lost(self, exc: Exception | None) -> None:
        now = time.monotonic()
        for stream in list(self.streams.values()):
            if stream.name:
                self.stats.closes.setdefault(stream.name, now)
            stream.close()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def tls_context(transport: str, cert: str, key: str) -> ssl.SSLContext:
    """The server's TLS: ``tls`` offers HTTP/1.1 only, ``h2`` offers HTTP/2 then HTTP/1.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2", "http/1.1"] if transport == "h2" else ["http/1.1"])
    return context


async def serve(host: str, port: int, context: ssl.SSLContext | None = None) -> None:
    stats = Stats()
    pacers: dict[float, Pacer] = {}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Conn(stats, pacers), host, port, backlog=4096, reuse_address=True, ssl=context
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--transport", choices=("plain", "tls", "h2"), default="plain")
    parser.add_argument("--cert", default=None, help="certificate chain (PEM), for tls and h2")
    parser.add_argument("--key", default=None, help="private key (PEM), for tls and h2")
    parser.add_argument("--h2-max-streams", type=int, default=100)
    args = parser.parse_args(argv)
    global H2_MAX_STREAMS
    H2_MAX_STREAMS = args.h2_max_streams
    context = None
    if args.transport != "plain":
        if not (args.cert and args.key):
            parser.error("--transport tls/h2 needs --cert and --key")
        context = tls_context(args.transport, args.cert, args.key)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    raise_fd_limit()
    try:
        asyncio.run(serve(args.host, args.port, context))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
