"""Connections seen from the server: HTTP/1.1 and TLS + HTTP/2 (ALPN), client
disconnects stopping the handler, and a shutdown that never hangs."""

from __future__ import annotations

import json
import logging
import ssl

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
import trio
import trio.testing
import trustme

from synapsis_actors.embedded import Fault, Reply, Step, open_embedded_provider

from ._helpers import chat_body, json_events

STALL = Step(Reply(text="a b c"), Fault(stall_after=2))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.mark.parametrize(
    ("server_h2", "client_h2", "expected"),
    [(True, True, "2"), (True, False, "1.1"), (False, True, "1.1")],
)
async def test_tls_negotiates_the_http_version_by_alpn(
    server_ssl: ssl.SSLContext,
    client_ssl: ssl.SSLContext,
    server_h2: bool,
    client_h2: bool,
    expected: str,
) -> None:
    async with (
        open_embedded_provider(ssl_context=server_ssl, http2=server_h2) as server,
        httpx.AsyncClient(verify=client_ssl, http2=client_h2) as client,
    ):
        assert server.base_url.startswith("https://127.0.0.1:")
        response = await client.post(server.base_url + "/v1/messages", json=chat_body())
        assert response.http_version == ("HTTP/2" if expected == "2" else "HTTP/1.1")
        assert response.status_code == 200
        assert json_events(response.content)[-1] == {"type": "message_stop"}
    assert server.http_versions == {expected}
    assert server.requests[0].http_version == expected


async def test_http2_multiplexes_concurrent_streams_on_one_connection(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    results: list[int] = []
    async with (
        open_embedded_provider(ssl_context=server_ssl) as server,
        httpx.AsyncClient(verify=client_ssl, http2=True) as client,
    ):
        # One request first: the connection (and its ALPN) is settled before
        # the concurrent ones, so the pool cannot race into opening several.
        assert (await client.get(server.openai_base_url + "/models")).http_version == "HTTP/2"
        server.enqueue(Step(Reply(text="x y z"), delay=0.01), times=4)

        async def one() -> None:
            response = await client.post(
                server.openai_base_url + "/chat/completions", json=chat_body()
            )
            results.append(len(json_events(response.content)))

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(one)
        assert server.total_connections == 1
    assert results == [5] * 4


async def test_http2_drop_aborts_the_connection(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with (
        open_embedded_provider(ssl_context=server_ssl) as server,
        httpx.AsyncClient(verify=client_ssl, http2=True) as client,
    ):
        server.enqueue(Step(Reply(text="a b c d"), Fault(drop_after=2)))
        with pytest.raises(httpx.TransportError):
            async with client.stream(
                "POST", server.base_url + "/v1/messages", json=chat_body()
            ) as r:
                async for _ in r.aiter_bytes():
                    pass
        with trio.fail_after(5):
            await server.wait_connections(0)
    assert server.responses[0].outcome == "dropped"


@pytest.mark.parametrize("tls", [False, True], ids=["http1", "tls-h2"])
async def test_client_leaving_mid_stream_stops_the_handler_and_closes_the_connection(
    tls: bool, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with open_embedded_provider(
        script=[STALL], ssl_context=server_ssl if tls else None
    ) as server:
        async with httpx.AsyncClient(verify=client_ssl, http2=tls) as client:
            async with client.stream(
                "POST", server.base_url + "/v1/messages", json=chat_body()
            ) as r:
                lines = 0
                async for line in r.aiter_lines():
                    lines += line.startswith("data: ")
                    if lines == 2:
                        break
            if not tls:
                # HTTP/1.1: closing an unfinished response closes its socket.
                with trio.fail_after(5):
                    await server.wait_responses(1)
        # HTTP/2 (httpx keeps the connection for other streams): closing the client.
        with trio.fail_after(5):
            await server.wait_responses(1)
            await server.wait_connections(0)
        assert server.responses[0].outcome == "disconnected"
        assert server.responses[0].events_sent == 2
        assert server.closed_connections == server.total_connections == 1


async def test_http2_stream_reset_stops_the_handler_and_keeps_the_connection(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    client_ssl.set_alpn_protocols(["h2"])
    async with open_embedded_provider(script=[STALL], ssl_context=server_ssl) as server:
        tcp = await trio.open_ssl_over_tcp_stream("127.0.0.1", server.port, ssl_context=client_ssl)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        body = json.dumps(chat_body()).encode()
        conn.send_headers(
            1,
            [
                (":method", "POST"),
                (":path", "/v1/messages"),
                (":scheme", "https"),
                (":authority", f"127.0.0.1:{server.port}"),
                ("content-type", "application/json"),
                ("content-length", str(len(body))),
            ],
        )
        conn.send_data(1, body, end_stream=True)
        await tcp.send_all(conn.data_to_send())
        received = b""
        with trio.fail_after(5):
            while received.count(b"\n\n") < 2:
                for event in conn.receive_data(await tcp.receive_some()):
                    if isinstance(event, h2.events.DataReceived):
                        received += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, 1)
                await tcp.send_all(conn.data_to_send())
            conn.reset_stream(1)
            await tcp.send_all(conn.data_to_send())
            await server.wait_responses(1)
        assert server.responses[0].outcome == "disconnected"
        assert server.open_connections == 1  # only the stream ended
        assert server.http_versions == {"2"}
        await tcp.aclose()
        with trio.fail_after(5):
            await server.wait_connections(0)


async def test_shutdown_does_not_hang_on_a_stalled_stream_or_an_idle_connection() -> None:
    received = trio.Event()
    outcome: list[BaseException] = []

    async def reader(url: str, client: httpx.AsyncClient) -> None:
        try:
            async with client.stream("POST", url, json=chat_body()) as r:
                async for _ in r.aiter_lines():
                    received.set()
        except httpx.TransportError as exc:
            outcome.append(exc)

    with trio.fail_after(10):
        async with httpx.AsyncClient(timeout=None) as client, trio.open_nursery() as nursery:
            async with open_embedded_provider(script=[STALL], shutdown_timeout=0.05) as server:
                idle = httpx.AsyncClient()
                assert (await idle.get(server.openai_base_url + "/models")).status_code == 200
                nursery.start_soon(reader, server.base_url + "/v1/messages", client)
                await received.wait()
                assert server.open_connections == 2
            # Left the block with a stream stalled forever and an idle keep-alive.
            assert server.open_connections == 0
            await idle.aclose()
    # The stalled client saw its connection end.
    assert len(outcome) == 1


async def test_port_is_free_and_reported(client_ssl: ssl.SSLContext) -> None:
    async with open_embedded_provider() as one, open_embedded_provider() as two:
        assert one.port != two.port
        assert one.port > 0
        assert one.base_url == f"http://127.0.0.1:{one.port}"
        assert one.anthropic_base_url == one.base_url
        assert one.openai_base_url == one.base_url + "/v1"


async def test_ipv6_loopback_url_has_brackets() -> None:
    async with open_embedded_provider(host="::1") as server, httpx.AsyncClient() as client:
        assert server.base_url == f"http://[::1]:{server.port}"
        response = await client.get(server.openai_base_url + "/models")
    assert response.status_code == 200


async def test_faults_and_disconnects_leave_no_log_noise(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    script = [
        Step(Reply(text="a b c"), Fault(drop_after=2)),
        Step(Reply(text="a b c"), Fault(drop_after=1, reset=True)),
        STALL,
    ]
    async with open_embedded_provider(script=script) as server, httpx.AsyncClient() as client:
        for _ in range(2):
            with pytest.raises(httpx.TransportError):
                await client.post(server.base_url + "/v1/messages", json=chat_body())
        async with client.stream("POST", server.base_url + "/v1/messages", json=chat_body()) as r:
            async for _ in r.aiter_lines():
                break
        with trio.fail_after(5):
            await server.wait_responses(3)
    assert [r.outcome for r in server.responses] == ["dropped", "dropped", "disconnected"]
    noisy = [
        r for r in caplog.records if r.name.startswith(("hypercorn", "synapsis_actors.embedded"))
    ]
    assert noisy == []
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


async def test_an_error_in_the_block_propagates_and_closes_everything() -> None:
    class Boom(Exception):
        pass

    async with httpx.AsyncClient() as client:
        with pytest.raises(Boom):
            async with (
                open_embedded_provider(script=[STALL]) as server,
                client.stream("POST", server.base_url + "/v1/messages", json=chat_body()) as r,
            ):
                async for _ in r.aiter_lines():
                    raise Boom
        assert server.open_connections == 0
        with pytest.raises(httpx.ConnectError):
            await client.get(server.openai_base_url + "/models")


async def test_cancelling_the_block_from_outside_exits_cleanly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.move_on_after(10) as scope:
        async with open_embedded_provider() as server:
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert server.open_connections == 0


async def test_a_client_that_stops_reading_stalls_the_server_by_backpressure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    total = 500
    reply = Reply(text=tuple(f" w{i:06d}" + "x" * 4000 for i in range(total)))
    url = "/chat/completions"
    async with (
        open_embedded_provider(script=[reply]) as server,
        httpx.AsyncClient(timeout=None) as client,
        client.stream("POST", server.openai_base_url + url, json=chat_body()) as r,
    ):
        # Keep the iterator referenced: a dropped async generator would close the response.
        pieces = r.aiter_raw()
        await pieces.__anext__()
        samples = []
        for _ in range(3):
            await trio.sleep(5)  # virtual time passes only while everything is blocked
            samples.append(server.in_flight[0])
        assert samples[0] == samples[1] == samples[2]
        assert 0 < samples[0] < total
        async for _ in pieces:  # reading again lets the server finish
            pass
    assert server.responses[0].outcome == "complete"
    assert server.responses[0].events_sent == total + 3  # role, finish, [DONE]
    assert server.in_flight == {}


def test_installed_hypercorn_is_the_one_the_embedded_server_was_written_for() -> None:
    from synapsis_actors.embedded import _hypercorn_private

    problem = _hypercorn_private.version_problem()
    assert problem is None, problem


def test_hypercorn_outside_the_supported_range_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    from synapsis_actors.embedded import _hypercorn_private

    monkeypatch.setattr(_hypercorn_private, "SUPPORTED", ("0.1", "0.2"))
    found = metadata.version("hypercorn")
    assert _hypercorn_private.version_problem() == (
        f"hypercorn {found} is outside the versions the embedded server was written for "
        "(>=0.1,<0.2)"
    )
