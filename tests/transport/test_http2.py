"""HTTP/2 on the library's own client: ``transport/http2.py`` against real servers.

A small trio + h2 server with trustme certificates (``_h2server.py``) shows
from the outside what the client did: the protocol, RST_STREAM frames, how
many streams were open at once, how many bytes a stream was sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from typing import Any

import httpx
import pytest
import trio

import synapsis_actors as sa
from synapsis_actors.embedded import open_embedded_provider
from synapsis_actors.model.http import HttpRequest
from synapsis_actors.transport import http2
from synapsis_actors.transport.client import encode_json
from synapsis_actors.transport.failures import BodyFailed, ConnectFailed, ConnectTimedOut
from synapsis_actors.transport.http import Exchange, HttpTransport

from ._h2server import H2Server
from ._specs import messages_request


def _transport(url: str, verify: Any, **kw: Any) -> HttpTransport:
    config = sa.ProviderConfig(
        kind="anthropic", base_url=url, api_key="sk-test", verify=verify, **kw
    )
    return HttpTransport(config)


async def _open(transport: HttpTransport, url: str) -> Exchange:
    spec = HttpRequest("POST", url, {"x-api-key": "sk-test"}, {"model": "m", "stream": True})
    return await transport.send(transport.prepare(spec))


async def _read_all(exchange: Exchange) -> bytes:
    data = b"".join([chunk async for chunk in exchange.body()])
    await exchange.close(finished=True)
    return data


async def test_https_goes_over_our_http2_and_the_body_arrives_whole(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            assert isinstance(transport.client._transport, http2.Http2Transport)
            exchange = await _open(transport, server.url + "/events?n=500")
            assert exchange.http_version == "HTTP/2"
            assert exchange.status == 200
            assert exchange.headers["content-type"] == "text/event-stream"
            data = await _read_all(exchange)
            assert data == b"".join(b"data: %d\n\n" % i for i in range(500))
            # a second request reuses the connection
            assert await _read_all(await _open(transport, server.url + "/events?n=2"))
            assert server.connections == 1
            assert server.resets == []  # a stream read to its end is never reset
        finally:
            await transport.aclose()


async def test_a_server_that_only_speaks_http11_is_served_over_http11(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with open_embedded_provider(ssl_context=server_ssl, http2=False) as server:
        transport = _transport(server.anthropic_base_url, client_ssl)
        try:
            for _ in range(2):  # the second request goes straight to HTTP/1.1
                spec = messages_request(server.anthropic_base_url)
                exchange = await transport.send(transport.prepare(spec))
                assert exchange.http_version == "HTTP/1.1"
                assert b"message_stop" in await _read_all(exchange)
        finally:
            await transport.aclose()


async def test_concurrent_first_requests_to_an_http11_server_find_out_once(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with open_embedded_provider(ssl_context=server_ssl, http2=False) as server:
        transport = _transport(server.anthropic_base_url, client_ssl)
        versions: list[str] = []

        async def one() -> None:
            spec = HttpRequest("GET", server.anthropic_base_url + "/v1/models", {"x-api-key": "k"})
            exchange = await transport.send(transport.prepare(spec))
            versions.append(exchange.http_version)
            await _read_all(exchange)

        try:
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(one)
            assert versions == ["HTTP/1.1"] * 5
            # one TLS handshake found out; the others waited for it
            assert server.total_connections <= 1 + 5
            assert isinstance(transport.client._transport, http2.Http2Transport)
            assert transport.client._transport.connections() == []
        finally:
            await transport.aclose()


async def test_with_the_fast_paths_off_http2_goes_through_httpcore(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNAPSIS_ACTORS_FAST_PATHS", "0")
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            assert not isinstance(transport.client._transport, http2.Http2Transport)
            exchange = await _open(transport, server.url + "/events?n=3")
            assert exchange.http_version == "HTTP/2"
            assert await _read_all(exchange) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        finally:
            await transport.aclose()


async def test_closing_a_stream_early_resets_only_that_stream(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            left = await _open(transport, server.url + "/hold")
            right = await _open(transport, server.url + "/hold")
            left_body, right_body = left.body(), right.body()
            assert await left_body.__anext__() == b"data: 0\n\n"
            assert await right_body.__anext__() == b"data: 0\n\n"
            await left.close(finished=False)
            with trio.fail_after(5):
                await server.reset_seen.wait()
            assert [path for _, path in server.resets] == ["/hold"]
            (reset_id, _) = server.resets[0]
            # the other stream on the same connection goes on
            server.tick()
            assert await right_body.__anext__() == b"data: 1\n\n"
            server.tick()
            assert await right_body.__anext__() == b"data: 2\n\n"
            await right.close(finished=False)
            assert server.connections == 1
            assert reset_id == 1  # the first stream of the connection: the one closed
        finally:
            await transport.aclose()


async def test_a_request_body_larger_than_the_send_windows_arrives_whole(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # A long conversation: the body outgrows the stream's and the connection's
    # initial send windows (64 KiB each), so it goes out as the server's
    # WINDOW_UPDATEs come in, and arrives byte for byte.
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            payload = {"model": "m", "stream": True, "messages": ["é" * 100_000, "x" * 150_000]}
            spec = HttpRequest("POST", server.url + "/digest", {"x-api-key": "sk-test"}, payload)
            exchange = await transport.send(transport.prepare(spec))
            assert exchange.http_version == "HTTP/2"
            sent = encode_json(payload)
            assert len(sent) > 4 * 65535
            digest = hashlib.sha256(sent).hexdigest()
            assert await _read_all(exchange) == b"data: %d %s\n\n" % (len(sent), digest.encode())
        finally:
            await transport.aclose()


async def _connect_proxy(
    tunnels: list[bytes], task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """An HTTP CONNECT proxy on loopback: records each request line, then pipes bytes."""

    async def pipe(src: trio.SocketStream, dst: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while data := await src.receive_some(65536):
                await dst.send_all(data)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await dst.send_eof()

    async def handle(client: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await client.receive_some(4096)
        line = head.split(b"\r\n", 1)[0]
        tunnels.append(line)
        host, port = line.split()[1].rsplit(b":", 1)
        upstream = await trio.open_tcp_stream(host.decode(), int(port))
        await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pipe, client, upstream)
            nursery.start_soon(pipe, upstream, client)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


async def test_a_proxy_from_the_environment_carries_the_library_clients_requests(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTPS_PROXY, as with the vendors' SDKs: the library's own client sends
    # through the proxy (httpx's proxy transport, HTTP/2 inside the tunnel).
    # httpx itself ignores the environment when given a transport of ours.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    tunnels: list[bytes] = []
    async with H2Server(server_ssl) as server, trio.open_nursery() as nursery:
        port = await nursery.start(_connect_proxy, tunnels)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        transport = _transport(server.url, client_ssl)
        try:
            exchange = await _open(transport, server.url + "/events?n=3")
            assert exchange.http_version == "HTTP/2"
            assert await _read_all(exchange) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        finally:
            await transport.aclose()
        assert tunnels == [b"CONNECT 127.0.0.1:%d HTTP/1.1" % server.port]
        assert server.connections == 1
        # NO_PROXY exempts the host: straight to it, on the library's transport
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        transport = _transport(server.url, client_ssl)
        try:
            assert await _read_all(await _open(transport, server.url + "/events?n=1"))
            assert transport.client._transport_for_url(httpx.URL(server.url)) is (
                transport.client._transport
            )
        finally:
            await transport.aclose()
        assert len(tunnels) == 1
        assert server.connections == 2
        nursery.cancel_scope.cancel()


async def test_abort_resets_the_stream_from_another_task_while_one_reads_it(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # What open_stream does when its caller leaves: the reset goes out from the
    # caller's task while the reading task is still blocked on the stream.
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            held = await _open(transport, server.url + "/hold")
            other = await _open(transport, server.url + "/hold")
            other_body = other.body()
            assert await other_body.__anext__() == b"data: 0\n\n"
            got: list[bytes] = []
            async with trio.open_nursery() as nursery:

                async def reader() -> None:
                    async for chunk in held.body():
                        got.append(chunk)

                nursery.start_soon(reader)
                with trio.fail_after(5):
                    while not got:
                        await trio.sleep(0.01)
                await held.abort()
                with trio.fail_after(5):
                    await server.reset_seen.wait()
                assert [path for _, path in server.resets] == ["/hold"]
                assert got == [b"data: 0\n\n"]  # the reader is still in the body
                nursery.cancel_scope.cancel()
            await held.close(finished=False)  # the reader's close: already done
            assert len(server.resets) == 1
            server.tick()
            assert await other_body.__anext__() == b"data: 1\n\n"
            await other.close(finished=False)
            assert server.connections == 1
        finally:
            await transport.aclose()


async def test_abort_leaves_an_http11_response_to_close(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # Over HTTP/1.1 closing the socket under the reading task would race it:
    # abort does nothing there, and the body still reads to its end.
    async with open_embedded_provider(ssl_context=server_ssl, http2=False) as server:
        transport = _transport(server.anthropic_base_url, client_ssl)
        try:
            spec = messages_request(server.anthropic_base_url)
            exchange = await transport.send(transport.prepare(spec))
            assert exchange.http_version == "HTTP/1.1"
            await exchange.abort()
            assert b"message_stop" in await _read_all(exchange)
        finally:
            await transport.aclose()


async def test_a_request_cancelled_before_its_headers_resets_its_stream(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            with trio.move_on_after(0.2) as scope:
                await _open(transport, server.url + "/slow-headers")
            assert scope.cancelled_caught
            with trio.fail_after(5):
                await server.reset_seen.wait()
            assert [path for _, path in server.resets] == ["/slow-headers"]
            # the connection still serves the next request
            assert await _read_all(await _open(transport, server.url + "/events?n=3"))
            assert server.connections == 1
        finally:
            await transport.aclose()


async def test_more_streams_than_the_server_allows_open_another_connection(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with H2Server(server_ssl, max_streams=2) as server:
        transport = _transport(server.url, client_ssl)
        exchanges: list[Exchange] = []
        try:

            async def hold() -> None:
                exchange = await _open(transport, server.url + "/hold")
                exchanges.append(exchange)
                assert await exchange.body().__anext__() == b"data: 0\n\n"

            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    for _ in range(5):
                        nursery.start_soon(hold)
            assert len(exchanges) == 5  # none failed
            assert server.max_open == 2  # never more than the server's limit on one connection
            assert server.connections == 3
        finally:
            for exchange in exchanges:
                await exchange.close(finished=False)
            await transport.aclose()


async def test_a_slow_reader_holds_its_stream_to_the_window_while_others_flow(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    size = 4 * http2.STREAM_WINDOW
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            slow = await _open(transport, server.url + f"/flood?size={size}")
            slow_body = slow.body()
            got = len(await slow_body.__anext__())
            # Other streams on the connection flow: their reads drain the socket
            # and hand the slow stream its data, until the server runs out of
            # that stream's window.
            with trio.fail_after(20):
                while not server.blocked.is_set():
                    assert await _read_all(await _open(transport, server.url + "/events?n=50"))
            for _ in range(3):  # and they go on flowing while it is blocked
                assert await _read_all(await _open(transport, server.url + "/events?n=50"))
            (slow_id,) = (sid for sid, path in server.paths.items() if path.startswith("/flood"))
            # what the client holds unread never exceeds the stream's window
            assert server.sent[slow_id] - got <= http2.STREAM_WINDOW
            assert server.sent[slow_id] < size
            assert server.connections == 1
            # reading again lets the rest through, and all of it arrives
            async for chunk in slow_body:
                got += len(chunk)
            assert got == size
            assert server.sent[slow_id] == size
            await slow.close(finished=True)
        finally:
            await transport.aclose()


async def test_a_dropped_connection_fails_the_body_with_the_typed_failure(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            exchange = await _open(transport, server.url + "/drop")
            with pytest.raises(BodyFailed):
                await _read_all(exchange)
            await exchange.close(finished=False)
            # the next request opens a new connection
            assert await _read_all(await _open(transport, server.url + "/events?n=1"))
            assert server.connections == 2
        finally:
            await transport.aclose()


async def test_an_idle_connection_the_server_sent_goaway_on_is_not_reused(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        try:
            first = await _open(transport, server.url + "/then-goaway?n=1")
            assert await _read_all(first) == b"data: 0\n\n"
            await trio.sleep(0.05)  # the GOAWAY reaches the idle connection
            assert await _read_all(await _open(transport, server.url + "/events?n=2"))
            assert server.connections == 2
        finally:
            await transport.aclose()


async def test_connect_failures_are_the_typed_failures(client_ssl: ssl.SSLContext) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    # accepts TCP, never answers the TLS handshake: the connect limit trips
    transport = _transport(f"https://127.0.0.1:{port}", client_ssl, connect_timeout=0.2)
    try:
        with pytest.raises(ConnectTimedOut):
            await _open(transport, f"https://127.0.0.1:{port}/events")
    finally:
        await transport.aclose()
        await listener.aclose()
    transport = _transport(f"https://127.0.0.1:{port}", client_ssl)  # nothing listens now
    try:
        with pytest.raises(ConnectFailed):
            await _open(transport, f"https://127.0.0.1:{port}/events")
    finally:
        await transport.aclose()


async def test_a_users_client_is_driven_as_given(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with (
        H2Server(server_ssl) as server,
        httpx.AsyncClient(verify=client_ssl, http2=True) as client,
    ):
        config = sa.ProviderConfig(kind="anthropic", base_url=server.url, api_key="sk-test")
        transport = HttpTransport(config, client)
        try:
            assert not isinstance(client._transport, http2.Http2Transport)
            exchange = await _open(transport, server.url + "/events?n=3")
            assert exchange.http_version == "HTTP/2"  # httpcore's HTTP/2, as the user set up
            assert await _read_all(exchange) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        finally:
            await transport.aclose()
        assert not client.is_closed


async def test_streams_cancelled_while_waiting_never_stall_the_others(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    # Twenty streams read one connection; every other one is cancelled after
    # a few reads, whether it was reading the socket for everyone, waiting,
    # or just chosen to read next. The survivors get every byte.
    n = 400
    whole = b"".join(b"data: %d\n\n" % i for i in range(n))
    async with H2Server(server_ssl) as server:
        transport = _transport(server.url, client_ssl)
        got: dict[int, bytes] = {}
        try:

            async def one(i: int) -> None:
                exchange = await _open(transport, server.url + f"/events?n={n}")
                data = b""
                try:
                    with trio.CancelScope() as scope:
                        async for chunk in exchange.body():
                            data += chunk
                            if i % 2 and len(data) > 50 * (i + 1):
                                scope.cancel()
                            await trio.lowlevel.checkpoint()
                finally:
                    await exchange.close(finished=False)
                if not i % 2:
                    got[i] = data

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    for i in range(20):
                        nursery.start_soon(one, i)
            assert got == {i: whole for i in range(0, 20, 2)}
            assert server.connections == 1
        finally:
            await transport.aclose()
