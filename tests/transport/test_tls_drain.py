"""Over TLS, one read decodes every TLS record already received.

trio's ``SSLStream.receive_some`` returns one TLS record per call; a
provider sends each SSE event in its own record, so without draining each
event costs a wakeup and a parse. These tests use real TLS over loopback.
"""

from __future__ import annotations

import socket as socket_module
import ssl
import struct
from collections.abc import Awaitable, Callable

import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import open_embedded_provider
from synapsis_actors.transport import _trio_private
from synapsis_actors.transport.chunked import ChunkedBody
from synapsis_actors.transport.http import HttpTransport

from ._specs import messages_request

RECORDS = [b"event %03d\n" % i for i in range(40)]


async def _tls_pair(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> tuple[trio.SSLStream[trio.SocketStream], trio.SSLStream[trio.SocketStream]]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        accepted: list[trio.SocketStream] = []

        async def accept() -> None:
            accepted.append(await listener.accept())

        nursery.start_soon(accept)
        client_tcp = await trio.open_tcp_stream("127.0.0.1", port)
    await listener.aclose()
    server = trio.SSLStream(accepted[0], server_ssl, server_side=True)
    client = trio.SSLStream(client_tcp, client_ssl, server_hostname="127.0.0.1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.do_handshake)
        nursery.start_soon(client.do_handshake)
    return server, client


def _draining(stream: object) -> Callable[[int], Awaitable[bytes]]:
    receive = _trio_private.draining_receive(stream)
    assert receive is not None
    return receive


async def _all_sent(server: trio.SSLStream[trio.SocketStream], then_close: bool) -> None:
    for record in RECORDS:
        await server.send_all(record)  # one TLS record each
    if then_close:
        await server.aclose()  # close_notify


async def _records_received(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext, *, then_close: bool = False
) -> tuple[
    trio.SSLStream[trio.SocketStream],
    trio.SSLStream[trio.SocketStream],
    Callable[[int], Awaitable[bytes]],
]:
    """A TLS pair whose client has received every record of RECORDS, unread; and its
    draining read."""
    server, client = await _tls_pair(server_ssl, client_ssl)
    receive = _draining(client)
    await _all_sent(server, then_close=then_close)
    await trio.sleep(0.05)  # let loopback deliver every record (no timing asserted)
    return server, client, receive


async def _read_until_eof(receive: Callable[[int], Awaitable[bytes]]) -> list[bytes]:
    reads = []
    while data := await receive(65536):
        reads.append(data)
    return reads


async def test_trio_alone_returns_one_record_per_read(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # The problem the draining read solves: every record sent, one record back.
    server, client, _receive = await _records_received(server_ssl, client_ssl)
    assert await client.receive_some(65536) == RECORDS[0]
    await server.aclose()
    await client.aclose()


async def test_one_draining_read_returns_every_record_received(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    server, client, receive = await _records_received(server_ssl, client_ssl)
    first = await receive(65536)
    assert first == b"".join(RECORDS)
    await server.aclose()
    assert await receive(65536) == b""  # close_notify: end of stream, as trio reports it
    await client.aclose()


async def test_close_notify_behind_the_data_still_ends_the_stream(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # The close_notify arrives in the same read as the last records: the data
    # comes first, then the end of the stream, never an error or a hang.
    _server, client, receive = await _records_received(server_ssl, client_ssl, then_close=True)
    with trio.fail_after(5):
        reads = await _read_until_eof(receive)
    assert b"".join(reads) == b"".join(RECORDS)
    assert len(reads) == 1
    await client.aclose()


async def test_a_plain_stream_keeps_its_own_receive() -> None:
    left, right = trio.testing.memory_stream_pair()
    assert _trio_private.draining_receive(left) == left.receive_some
    await left.aclose()
    await right.aclose()


async def test_https_http11_body_is_read_past_h11_with_the_draining_read(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with open_embedded_provider(ssl_context=server_ssl, http2=False) as server:
        config = sa.ProviderConfig(
            kind="anthropic", base_url=server.anthropic_base_url, api_key="sk", verify=client_ssl
        )
        transport = HttpTransport(config)
        try:
            spec = messages_request(
                server.anthropic_base_url, key="sk", max_tokens=64, content="hi " * 50
            )
            exchange = await transport.send(transport.prepare(spec))
            assert exchange.http_version == "HTTP/1.1"
            body = exchange.body()
            assert type(body) is ChunkedBody
            assert body._receive.__qualname__.startswith("draining_receive")
            data = b"".join([chunk async for chunk in body])
            await exchange.close(finished=True)
            assert data.endswith(b'data: {"type":"message_stop"}\n\n')
        finally:
            await transport.aclose()


class _RawTLSServer:
    """The server side of a TLS connection run by hand, to cut its bytes anywhere."""

    def __init__(self, sock: trio.SocketStream, context: ssl.SSLContext) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    async def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self.outgoing.pending:
                    await self.sock.send_all(self.outgoing.read())
                self.incoming.write(await self.sock.receive_some(65536))
        if self.outgoing.pending:
            await self.sock.send_all(self.outgoing.read())

    def records(self, payloads: list[bytes]) -> bytes:
        """The encrypted bytes of one TLS record per payload."""
        for payload in payloads:
            self.tls.write(payload)
        return self.outgoing.read()


async def _raw_pair(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> tuple[_RawTLSServer, trio.SSLStream[trio.SocketStream]]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        accepted: list[trio.SocketStream] = []

        async def accept() -> None:
            accepted.append(await listener.accept())

        nursery.start_soon(accept)
        client_tcp = await trio.open_tcp_stream("127.0.0.1", port)
    await listener.aclose()
    server = _RawTLSServer(accepted[0], server_ssl)
    client = trio.SSLStream(client_tcp, client_ssl, server_hostname="127.0.0.1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.handshake)
        nursery.start_soon(client.do_handshake)
    return server, client


async def test_records_cut_anywhere_across_socket_reads_arrive_whole_and_in_order(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # The draining read reads the socket itself: a record whose bytes come in
    # several reads (cut inside its header, its body, between records) is
    # decoded once it is complete, never lost or reordered.
    payloads = [b"x" * size + b"|%d" % i for i, size in enumerate((1, 5000, 16000, 3, 700))]
    server, client = await _raw_pair(server_ssl, client_ssl)
    receive = _draining(client)
    wire = server.records(payloads)
    cuts = [2, 7, 5006, 5040, 9000, 21000, len(wire) - 1, len(wire)]
    got = b""
    start = 0
    with trio.fail_after(10):
        for cut in cuts:
            await server.sock.send_all(wire[start:cut])
            start = cut
            await trio.sleep(0.01)  # each piece its own socket read
        while len(got) < len(b"".join(payloads)):
            got += await receive(65536)
    assert got == b"".join(payloads)
    await server.sock.aclose()
    await client.aclose()


async def test_a_connection_dropped_without_close_notify_ends_as_trio_reports_it(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # Records, then the TCP connection closes without close_notify: the data
    # first, then exactly what trio's own receive_some says of such an end.
    outcomes = []
    for drain in (False, True):
        server, client = await _raw_pair(server_ssl, client_ssl)
        receive = _trio_private.draining_receive(client) if drain else client.receive_some
        assert receive is not None
        await server.sock.send_all(server.records([b"one", b"two"]))
        await trio.sleep(0.05)
        await server.sock.aclose()
        got = b""
        try:
            with trio.fail_after(5):
                while data := await receive(65536):
                    got += data
            outcome: object = "end"
        except trio.BrokenResourceError as exc:
            outcome = type(exc.__cause__)
        outcomes.append((got, outcome))
        await client.aclose()
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] == b"onetwo"


async def _tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        accepted: list[trio.SocketStream] = []

        async def accept() -> None:
            accepted.append(await listener.accept())

        nursery.start_soon(accept)
        client = await trio.open_tcp_stream("127.0.0.1", port)
    await listener.aclose()
    return accepted[0], client


async def test_a_socket_read_waits_first_and_gets_what_arrives() -> None:
    server, client = await _tcp_pair()
    receive = _draining(client)
    assert receive != client.receive_some
    async with trio.open_nursery() as nursery:
        got: list[bytes] = []

        async def read() -> None:
            got.append(await receive(65536))

        nursery.start_soon(read)
        await trio.sleep(0.05)  # the reader is waiting: nothing has been sent
        assert got == []
        await server.send_all(b"hello")
    assert got == [b"hello"]
    await server.aclose()
    assert await receive(65536) == b""  # the end of the stream
    await client.aclose()


def _reader(stream: trio.SocketStream, fast: bool) -> Callable[[int], Awaitable[bytes]]:
    receive = _trio_private.draining_receive(stream) if fast else stream.receive_some
    assert receive is not None
    return receive


async def _read_errors(fast: bool) -> list[str]:
    seen = []
    server, client = await _tcp_pair()
    receive = _reader(client, fast)
    linger_0 = struct.pack("ii", 1, 0)
    server.socket.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_LINGER, linger_0)
    await server.aclose()  # linger 0: the peer sees RST, not FIN
    await trio.sleep(0.05)
    try:
        await receive(65536)
    except trio.BrokenResourceError as exc:
        seen.append(f"broken: {exc}")
    await client.aclose()

    server, client = await _tcp_pair()
    receive = _reader(client, fast)

    async def read() -> None:
        try:
            await receive(65536)
        except trio.ClosedResourceError as exc:
            seen.append(f"closed while waiting: {exc}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.sleep(0.05)
        await client.aclose()
    try:
        await receive(65536)
    except trio.ClosedResourceError as exc:
        seen.append(f"closed before: {exc}")
    await server.aclose()
    return seen


async def test_socket_read_errors_are_trios_own() -> None:
    # A connection reset by the peer, a socket another task closes while the
    # read waits, a socket closed before the read: the same typed errors
    # trio's own receive_some raises.
    trios, ours = await _read_errors(fast=False), await _read_errors(fast=True)
    assert ours == trios
    assert [e.split(":")[0] for e in ours] == ["broken", "closed while waiting", "closed before"]


async def test_tls_send_and_trios_send_all_interleave_into_one_stream(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # Before the handshake trio's send_all serves it (and handshakes); after,
    # the direct send; mixed with trio's own sends, the peer reads every byte
    # in order.
    server, client = await _tls_pair_unshaken(server_ssl, client_ssl)
    send = _trio_private.tls_send(client)
    assert send != client.send_all
    received = bytearray()
    expected = b"".join(b"%05d|" % i for i in range(300))

    async def read_all() -> None:
        while len(received) < len(expected):
            received.extend(await server.receive_some(65536))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        for i in range(300):
            await (send if i % 3 else client.send_all)(b"%05d|" % i)
    assert bytes(received) == expected
    await client.aclose()
    await server.aclose()


async def _tls_pair_unshaken(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> tuple[trio.SSLStream[trio.SocketStream], trio.SSLStream[trio.SocketStream]]:
    server_tcp, client_tcp = await _tcp_pair()
    server = trio.SSLStream(server_tcp, server_ssl, server_side=True)
    client = trio.SSLStream(client_tcp, client_ssl, server_hostname="127.0.0.1")
    return server, client


async def _send_until_broken(
    fast: bool, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> list[str]:
    server, client = await _tls_pair(server_ssl, client_ssl)
    send = _trio_private.tls_send(client) if fast else client.send_all
    linger_0 = struct.pack("ii", 1, 0)
    server.transport_stream.socket.setsockopt(
        socket_module.SOL_SOCKET, socket_module.SO_LINGER, linger_0
    )
    await server.transport_stream.aclose()  # RST: the client's sends start failing
    await trio.sleep(0.05)
    seen = []
    for _ in range(50):
        try:
            await send(b"x" * 4096)
        except trio.BrokenResourceError as exc:
            seen.append(type(exc).__name__)
            break
    try:
        await send(b"after")
    except trio.BrokenResourceError as exc:
        seen.append(f"then {type(exc).__name__}")
    await client.aclose()
    return seen


async def test_a_failed_tls_send_breaks_the_stream_as_trios_does(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    trios = await _send_until_broken(False, server_ssl, client_ssl)
    ours = await _send_until_broken(True, server_ssl, client_ssl)
    assert ours == trios == ["BrokenResourceError", "then BrokenResourceError"]


async def test_records_trio_left_buffered_come_first_without_waiting_for_the_socket(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # httpcore reads the response head through trio's own receive_some, which
    # decrypts one record and leaves the rest in the incoming buffer. When the
    # server has sent the whole response, nothing more will arrive: the draining
    # read must return what is buffered, not wait on the socket for more.
    server, client, receive = await _records_received(server_ssl, client_ssl)
    assert await client.receive_some(65536) == RECORDS[0]  # trio's own: one record
    with trio.fail_after(5):
        rest = await receive(65536)
    assert rest == b"".join(RECORDS[1:])
    await server.aclose()
    await client.aclose()


async def test_plaintext_larger_than_one_read_is_all_returned_without_the_socket(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # One record holds more than the reader asks for: OpenSSL keeps the rest
    # decrypted inside the SSL object (the incoming buffer is then empty), and
    # the next read returns it without waiting for the socket.
    server, client = await _tls_pair(server_ssl, client_ssl)
    receive = _draining(client)
    record = bytes(range(256)) * 40  # 10,240 bytes: one TLS record
    await server.send_all(record)
    await trio.sleep(0.05)
    got = [await receive(4096)]
    with trio.fail_after(5):
        while sum(map(len, got)) < len(record):
            got.append(await receive(4096))
    assert b"".join(got) == record
    assert all(len(part) <= 4096 for part in got)
    await server.aclose()
    await client.aclose()
