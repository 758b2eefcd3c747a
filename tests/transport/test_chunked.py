"""The chunked body fast path (``transport/chunked.py``).

Two halves: the framing parser against h11 itself as the oracle (every body
split every way, and mutated bodies: both must agree on what is data, what is
an error and what is incomplete); and the takeover over real loopback
sockets, a hand-written HTTP/1.1 server that writes exactly the bytes a test
gives it, with pauses so that they arrive in separate reads: the data, the
handing back of the connection to httpcore (the next request reuses it), and
every way a body can go wrong.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import struct
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import h11
import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synapsis_actors as sa
from synapsis_actors.transport.chunked import (
    MAX_SIZE_LINE,
    READ_SIZE,
    ChunkedBody,
    ChunkParser,
    open_chunked_body,
)
from tests.wire.streams import anthropic_sse

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"

# ------------------------------------------------------------ parser vs h11


def encode(
    chunks: Sequence[bytes],
    *,
    sizes: Sequence[str] | None = None,
    last: str = "0",
    trailers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A chunked body; ``sizes[i]`` spells chunk i's size line (default: lower hex)."""
    out = []
    for i, chunk in enumerate(chunks):
        line = sizes[i] if sizes is not None else f"{len(chunk):x}"
        out.append(line.encode() + b"\r\n" + chunk + b"\r\n")
    out.append(last.encode() + b"\r\n")
    out.extend(f"{name}: {value}\r\n".encode() for name, value in trailers)
    out.append(b"\r\n")
    return b"".join(out)


def h11_client() -> h11.Connection:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(HEAD)
    assert type(conn.next_event()) is h11.Response
    return conn


def h11_outcome(conn: h11.Connection, body: bytes, data: bytes = b"") -> tuple[str, bytes, Any]:
    """("ok", data, trailers) | ("error", ...) | ("incomplete", ...) for h11 reading ``body``."""
    conn.receive_data(body)
    out = [data]
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return "error", b"", None
        if type(event) is h11.Data:
            out.append(bytes(event.data))
        elif type(event) is h11.EndOfMessage:
            return "ok", b"".join(out), list(event.headers)
        else:
            assert event is h11.NEED_DATA
            return "incomplete", b"", None


def ours_outcome(pieces: Sequence[bytes]) -> tuple[str, bytes, Any]:
    """The same, for the parser fed ``pieces`` and h11 finishing from its tail."""
    parser = ChunkParser()
    out = []
    rest: list[bytes] = []
    try:
        for i, piece in enumerate(pieces):
            out.append(parser.feed(piece))
            if parser.tail is not None:
                rest = [parser.tail, *pieces[i + 1 :]]
                break
    except httpx.RemoteProtocolError:
        return "error", b"", None
    if parser.tail is None:
        return "incomplete", b"", None
    return h11_outcome(h11_client(), b"".join(rest), b"".join(out))


def split(body: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    edges = [0, *points, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


size_spelling = st.tuples(
    st.sampled_from(["x", "X"]),
    st.integers(0, 3),  # leading zeros
    st.sampled_from(["", ";ext", ";a=b;c", ';q="v"']),
    st.sampled_from(["", " ", "\t "]),
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    chunks = draw(st.lists(st.binary(min_size=1, max_size=300), max_size=12))
    sizes = []
    for chunk in chunks:
        case, zeros, ext, ows = draw(size_spelling)
        sizes.append("0" * zeros + format(len(chunk), case) + ext + ows)
    trailers = draw(
        st.lists(st.tuples(st.sampled_from(["x-a", "x-trailer"]), st.text("abc123", max_size=8)))
    )
    last = draw(st.sampled_from(["0", "000", "0;end"]))
    body = encode(chunks, sizes=sizes, last=last, trailers=trailers)
    expected = [(k.encode(), v.encode()) for k, v in trailers]
    return body, b"".join(chunks), expected


@settings(max_examples=400, deadline=None)
@given(bodies(), st.lists(st.integers(0, 10_000), max_size=40))
def test_parser_returns_h11s_data_for_any_split(
    case: tuple[bytes, bytes, list[tuple[bytes, bytes]]], cuts: list[int]
) -> None:
    body, data, trailers = case
    assert h11_outcome(h11_client(), body) == ("ok", data, trailers)
    assert ours_outcome(split(body, cuts)) == ("ok", data, trailers)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bodies(),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3),
    st.lists(st.integers(0, 10_000), max_size=10),
)
def test_parser_agrees_with_h11_on_mutated_bodies(
    case: tuple[bytes, bytes, list[tuple[bytes, bytes]]],
    edits: list[tuple[int, int]],
    cuts: list[int],
) -> None:
    body = bytearray(case[0])
    for at, byte in edits:
        body[at % len(body)] = byte
    mutated = bytes(body)
    assert ours_outcome(split(mutated, cuts)) == h11_outcome(h11_client(), mutated)


def test_a_body_that_stops_short_is_incomplete_not_an_error() -> None:
    body = encode([b"hello", b"world"])
    for end in range(len(body)):
        assert ours_outcome([body[:end]])[0] == "incomplete", body[:end]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"zz\r\nhello\r\n", "illegal chunk header: b'zz\\r\\n'"),
        (b"5\r\nhelloXY", "malformed chunk footer: b'XY'"),
        (b"5\r\nhelloX", "malformed chunk footer: b'X'"),
        (b"-1\r\n", "illegal chunk header"),
        (b"0x5\r\nhello\r\n", "illegal chunk header"),
    ],
)
def test_bad_framing_is_an_error_that_quotes_the_bytes(body: bytes, says: str) -> None:
    parser = ChunkParser()
    with pytest.raises(httpx.RemoteProtocolError, match="chunk") as caught:
        parser.feed(body)
    assert says in str(caught.value)


def test_size_lines_seen_before_are_still_checked_as_h11_would() -> None:
    # Sizes are remembered per size line once validated; an invalid line is
    # never remembered, so it fails every time, and a line that only looks
    # like a remembered one (another case, an extension, a sign) is parsed anew.
    for _ in range(2):
        assert ChunkParser().feed(b"5\r\nhello\r\nA\r\n0123456789\r\n") == (b"hello0123456789")
        assert ChunkParser().feed(b"a;x=1\r\n0123456789\r\n") == b"0123456789"
        for bad in (b"+5\r\nhello\r\n", b"5 x\r\nhello\r\n", b"0x5\r\nhello\r\n"):
            with pytest.raises(httpx.RemoteProtocolError, match="illegal chunk header"):
                ChunkParser().feed(bad)


def test_an_endless_size_line_is_refused() -> None:
    parser = ChunkParser()
    assert parser.feed(b"1" * MAX_SIZE_LINE) == b""  # still could be a size line
    with pytest.raises(httpx.RemoteProtocolError, match="too long"):
        parser.feed(b"1")


def test_nothing_may_be_fed_after_the_last_chunk() -> None:
    parser = ChunkParser()
    assert parser.feed(b"3\r\nabc\r\n0\r\n\r\n") == b"abc"
    assert parser.tail == b"0\r\n\r\n"
    with pytest.raises(RuntimeError):
        parser.feed(b"x")


def test_a_chunk_bigger_than_a_read_comes_out_as_it_arrives() -> None:
    parser = ChunkParser()
    assert parser.feed(b"a\r\n0123") == b"0123"
    assert parser.feed(b"45") == b"45"  # the no-parse path: all of it is data
    assert parser.feed(b"6789") == b"6789"
    assert parser.pending == b""
    assert parser.feed(b"\r") == b""
    assert parser.pending == b"\r"
    assert parser.feed(b"\n2\r\nxy\r\n0\r\n\r\n") == b"xy"
    assert parser.tail == b"0\r\n\r\n"


# ------------------------------------------------------------- real sockets


Step = bytes | float | str  # bytes to write, seconds to pause, "close" or "reset"


@attrs.define
class RawServer:
    """An HTTP/1.1 server on loopback that answers each request with the next script."""

    port: int = 0
    scripts: list[list[Step]] = attrs.Factory(list)
    connections: int = 0
    requests: list[bytes] = attrs.Factory(list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = await stream.receive_some()
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += await stream.receive_some()
                self.requests.append(buf[:length])
                buf = buf[length:]
                for step in self.scripts.pop(0):
                    if isinstance(step, bytes):
                        await stream.send_all(step)
                    elif isinstance(step, float):
                        await trio.sleep(step)
                    elif step == "reset":  # RST instead of FIN: SO_LINGER 0
                        stream.socket.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        return
                    else:
                        return
        except trio.BrokenResourceError:
            return
        finally:
            await stream.aclose()


@asynccontextmanager
async def raw_server(*scripts: list[Step]) -> AsyncIterator[RawServer]:
    server = RawServer(scripts=list(scripts))
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, host="127.0.0.1"), server.handle, 0)
        server.port = listeners[0].socket.getsockname()[1]
        yield server
        nursery.cancel_scope.cancel()


def client(**timeout: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(5.0, **{"read": None, **timeout}))


PAUSE = 0.02  # long enough on loopback that the next bytes come in a read of their own


async def read_all(response: httpx.Response) -> tuple[ChunkedBody, bytes]:
    body = open_chunked_body(response)
    assert body is not None
    parts = [part async for part in body]
    assert all(parts), "never an empty piece"
    return body, b"".join(parts)


async def test_the_body_is_read_past_h11_and_the_connection_is_reused() -> None:
    first = [HEAD + b"5\r\nhel", PAUSE, b"lo\r", PAUSE, b"\n3;x=1\r\n, w\r\n", PAUSE]
    first += [b"4", PAUSE, b"\r\norld\r\n0\r\n", PAUSE, b"x-done: yes\r\n", PAUSE, b"\r\n"]
    second = [HEAD + b"2\r\nok\r\n0\r\n\r\n"]
    async with raw_server(first, second) as server, client() as http:
        async with http.stream("GET", server.url) as response:
            body, data = await read_all(response)
            assert data == b"hello, world"
            assert body.done
        async with http.stream("GET", server.url) as response:
            assert (await read_all(response))[1] == b"ok"
        assert server.connections == 1  # h11 reached DONE: httpcore kept the connection


async def test_bytes_that_came_with_the_headers_are_not_lost() -> None:
    async with (
        raw_server([HEAD + encode([b"a" * 10, b"b" * 3])]) as server,
        client() as http,
        http.stream("GET", server.url) as response,
    ):
        assert (await read_all(response))[1] == b"a" * 10 + b"b" * 3


async def test_what_came_with_the_headers_is_parsed_a_read_at_a_time() -> None:
    """httpcore's first read (64 KiB) may hold much of the body: it is handed on in
    READ_SIZE pieces, as reads of the socket are, so a stream never decodes (and
    holds) all of it at once. Here (the whole body comes in that first read on
    loopback) the last chunk ends the second piece and its trailer is in the
    third: h11 still gets both and the connection is reused."""
    chunks = [bytes([65 + i % 26]) * 100 for i in range(309)] + [b"tail!!"]
    body = encode(chunks, trailers=[("x-done", "yes")])
    assert body.index(b"0\r\nx-done") == 2 * READ_SIZE - 3  # the layout described
    async with raw_server([HEAD + body], [HEAD + b"2\r\nok\r\n0\r\n\r\n"]) as server:
        async with client() as http:
            async with http.stream("GET", server.url) as response:
                chunked = open_chunked_body(response)
                assert chunked is not None
                parts = [part async for part in chunked]
                assert b"".join(parts) == b"".join(chunks)
                assert max(len(p) for p in parts) <= READ_SIZE
                assert chunked.done
            async with http.stream("GET", server.url) as response:
                assert (await read_all(response))[1] == b"ok"
        assert server.connections == 1


@pytest.mark.parametrize(
    ("head", "timeout"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", {}),  # not chunked
        (HEAD, {"read": 5.0}),  # a read timeout only httpcore enforces
        (HEAD[:-2] + b"content-encoding: identity\r\n\r\n", {}),  # httpx decodes it
    ],
    ids=["content-length", "read-timeout", "content-encoding"],
)
async def test_other_bodies_stay_with_httpx_and_lose_nothing(
    head: bytes, timeout: dict[str, float]
) -> None:
    chunked = b"chunked" in head
    body = encode([b"hel", b"lo"]) if chunked else b"hello"
    async with (
        raw_server([head + body]) as server,
        client(**timeout) as http,
        http.stream("GET", server.url) as response,
    ):
        assert open_chunked_body(response) is None
        assert b"".join([part async for part in response.aiter_bytes()]) == b"hello"


async def test_a_body_read_by_httpx_is_not_taken_over() -> None:
    async with (
        raw_server([HEAD + encode([b"hello"])]) as server,
        client() as http,
        http.stream("GET", server.url) as response,
    ):
        await response.aread()
        assert open_chunked_body(response) is None


async def test_a_taken_body_cannot_be_read_again_through_httpx() -> None:
    async with (
        raw_server([HEAD + encode([b"hello"])]) as server,
        client() as http,
        http.stream("GET", server.url) as response,
    ):
        assert open_chunked_body(response) is not None
        with pytest.raises(httpx.StreamConsumed):
            await response.aread()


@pytest.mark.parametrize(
    ("steps", "error", "says"),
    [
        ([b"5\r\nhello\r\n", PAUSE, "close"], httpx.RemoteProtocolError, "incomplete chunked read"),
        ([b"5\r\nhello\r\n0\r\n", PAUSE, "close"], httpx.RemoteProtocolError, "incomplete"),
        ([b"5\r\nhello\r\n", PAUSE, b"q\r\n"], httpx.RemoteProtocolError, "b'q\\r\\n'"),
        ([b"5\r\nhello\r\n", PAUSE, "reset"], httpx.ReadError, ""),
    ],
    ids=["eof-mid-body", "eof-in-trailers", "bad-size-line", "reset"],
)
async def test_a_broken_body_raises_httpx_errors_and_drops_the_connection(
    steps: list[Step], error: type[Exception], says: str
) -> None:
    async with raw_server([HEAD, *steps], [HEAD + encode([b"ok"])]) as server, client() as http:
        async with http.stream("GET", server.url) as response:
            body = open_chunked_body(response)
            assert body is not None
            got = []
            with pytest.raises(error, match=re.escape(says) if says else None):
                async for part in body:
                    got.append(part)
            assert b"".join(got) == b"hello"  # what arrived before the break was delivered
        async with http.stream("GET", server.url) as response:
            assert (await read_all(response))[1] == b"ok"
        assert server.connections == 2  # the broken connection was not reused


async def test_leaving_mid_body_closes_the_connection() -> None:
    script = [HEAD + b"5\r\nhello\r\n", 10.0]
    async with raw_server(script, [HEAD + encode([b"ok"])]) as server, client() as http:
        async with http.stream("GET", server.url) as response:
            body = open_chunked_body(response)
            assert body is not None
            assert await body.__anext__() == b"hello"
            with trio.move_on_after(PAUSE):
                await body.__anext__()
        async with http.stream("GET", server.url) as response:
            assert (await read_all(response))[1] == b"ok"
        assert server.connections == 2


# ------------------------------------------------------------ through open_stream


def anthropic_events(words: Sequence[str]) -> list[dict[str, Any]]:
    usage = {"input_tokens": 3, "output_tokens": len(words)}
    return [
        {"type": "message_start", "message": {"id": "m", "model": "x", "usage": usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}
            for w in words
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage},
        {"type": "message_stop"},
    ]


def chunk_steps(body: bytes, size: int) -> list[Step]:
    """``body`` as chunks of ``size`` bytes (cutting SSE events anywhere), one write each."""
    steps: list[Step] = [HEAD]
    for at in range(0, len(body), size):
        piece = body[at : at + size]
        steps += [f"{len(piece):X};n={at}\r\n".encode() + piece + b"\r\n", 0.001]
    return [*steps, b"0\r\nx-t: 1\r\n\r\n"]


async def last(stream: sa.Stream) -> sa.ProviderDone:
    messages = [message async for message in stream]
    assert isinstance(messages[-1], sa.ProviderDone)
    return messages[-1]


async def _stream(server: RawServer) -> sa.ProviderDone:
    request = sa.Request(model="x", messages=[sa.Message.user("hi")], max_tokens=64)
    async with sa.open_runtime() as rt:
        config = sa.ProviderConfig(kind="anthropic", base_url=server.url, api_key="sk-test")
        await rt.providers.register("raw", config)
        dones = []
        for _ in range(2):
            async with sa.open_stream(rt, "raw", request) as stream:
                dones.append(await last(stream))
        assert dones[0].message.text == dones[1].message.text
        return dones[0]


async def test_open_stream_over_odd_chunking_gets_every_word_and_reuses_the_connection() -> None:
    words = [f"w{i} " for i in range(60)]
    body = anthropic_sse(anthropic_events(words))
    async with raw_server(chunk_steps(body, 37), chunk_steps(body, 1000)) as server:
        done = await _stream(server)
        assert done.error is None
        assert done.message.text == "".join(words)
        assert server.connections == 1
        assert json.loads(server.requests[0])["model"] == "x"


async def test_open_stream_reports_bad_framing_with_the_bytes_and_the_partial_text() -> None:
    events = anthropic_events(["one ", "two "])
    body = anthropic_sse(events[:3])
    steps = [*chunk_steps(body, 10_000)[:-1], b"nope\r\n"]
    async with raw_server(steps) as server:
        request = sa.Request(model="x", messages=[sa.Message.user("hi")], max_tokens=64)
        async with sa.open_runtime() as rt:
            config = sa.ProviderConfig(kind="anthropic", base_url=server.url, api_key="sk-test")
            await rt.providers.register("raw", config)
            async with sa.open_stream(rt, "raw", request) as stream:
                done = await last(stream)
    assert isinstance(done.error, sa.StreamInterrupted)
    assert "illegal chunk header: b'nope\\r\\n'" in str(done.error)
    assert done.error.partial is not None
    assert done.error.partial.text == "one "
