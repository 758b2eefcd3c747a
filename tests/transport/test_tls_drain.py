"""Over TLS, one read decodes every TLS record already received.

trio's ``SSLStream.receive_some`` returns one TLS record per call; a
provider sends each SSE event in its own record, so without draining each
event costs a wakeup and a parse. These tests use real TLS over loopback.
"""

from __future__ import annotations

import ssl
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


async def _all_sent(server: trio.SSLStream[trio.SocketStream], then_close: bool) -> None:
    for record in RECORDS:
        await server.send_all(record)  # one TLS record each
    if then_close:
        await server.aclose()  # close_notify


async def _read_until_eof(receive: Callable[[int], Awaitable[bytes]]) -> list[bytes]:
    reads = []
    while data := await receive(65536):
        reads.append(data)
    return reads


async def test_trio_alone_returns_one_record_per_read(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # The problem the draining read solves: every record sent, one record back.
    server, client = await _tls_pair(server_ssl, client_ssl)
    await _all_sent(server, then_close=False)
    await trio.sleep(0.05)  # let loopback deliver every record (no timing asserted)
    assert await client.receive_some(65536) == RECORDS[0]
    await server.aclose()
    await client.aclose()


async def test_one_draining_read_returns_every_record_received(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    server, client = await _tls_pair(server_ssl, client_ssl)
    receive = _trio_private.draining_receive(client)
    assert receive is not None
    await _all_sent(server, then_close=False)
    await trio.sleep(0.05)
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
    server, client = await _tls_pair(server_ssl, client_ssl)
    receive = _trio_private.draining_receive(client)
    assert receive is not None
    await _all_sent(server, then_close=True)
    await trio.sleep(0.05)
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
