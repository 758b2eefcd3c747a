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
import sys
import time
from collections.abc import Callable
from typing import Any

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


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _event(name: str | None, data: dict[str, Any] | str) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return _chunk(f"{head}data: {body}\n\n".encode())


class Shape:
    """Pre-rendered events of one wire format; only deltas are built per event."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
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
        return _chunk(self._delta_pre + text.encode() + self._delta_post)

    def tail(self, n: int) -> list[bytes]:
        if self.kind == "anthropic":
            return [
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
                b"0\r\n\r\n",
            ]
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
            b"0\r\n\r\n",
        ]


SHAPES = {"anthropic": Shape("anthropic"), "openai": Shape("openai")}

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

    # -------------------------------------------------------------- transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
            stats = {
                "connections": self.stats.connections,
                "requests": self.stats.requests,
                "completed": self.stats.completed,
                "events": self.stats.events,
                "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
            self._reply(200, json.dumps(stats).encode(), "application/json")
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


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def serve(host: str, port: int) -> None:
    stats = Stats()
    pacers: dict[float, Pacer] = {}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Conn(stats, pacers), host, port, backlog=4096, reuse_address=True
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
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    raise_fd_limit()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
