"""Every fault shape produces the status, headers and bytes it promises, on the wire."""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import json

import httpx
import pytest
import trio
import trio.testing

from synapsis_actors.embedded import Fault, RawReply, Reply, Step, open_embedded_provider

from ._helpers import ANTHROPIC_HEADERS, OPENAI_HEADERS, chat_body, json_events, sse_events

ANTHROPIC = ("/v1/messages", ANTHROPIC_HEADERS)
OPENAI = ("/v1/chat/completions", OPENAI_HEADERS)
BOTH = pytest.mark.parametrize(
    ("path", "headers"), [ANTHROPIC, OPENAI], ids=["anthropic", "openai"]
)
REPLY = Reply(text=("one", " two", " three"), input_tokens=5, output_tokens=3)


def _count(raw: bytes) -> int:
    return len(sse_events(raw))


@BOTH
async def test_status_fault_sends_the_vendor_error_json_and_retry_headers(
    path: str, headers: dict[str, str]
) -> None:
    fault = Fault(status=429, retry_after=2, retry_after_ms=1500, should_retry=True)
    async with open_embedded_provider(script=[fault]) as server, httpx.AsyncClient() as client:
        response = await client.post(server.base_url + path, json=chat_body(), headers=headers)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.headers["retry-after-ms"] == "1500"
    assert response.headers["x-should-retry"] == "true"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if path == "/v1/messages":
        assert body["type"] == "error"
        assert body["error"]["type"] == "rate_limit_error"
    else:
        assert body["error"]["code"] == "rate_limit_exceeded"
        assert set(body["error"]) == {"message", "type", "param", "code"}
    assert server.responses[0].status == 429


async def test_retry_after_as_http_date_and_fractional_seconds() -> None:
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    script = [Fault(status=503, retry_after=when), Fault(status=503, retry_after=0.25)]
    async with open_embedded_provider(script=script) as server, httpx.AsyncClient() as client:
        first = await client.post(server.openai_base_url + "/chat/completions", json=chat_body())
        second = await client.post(server.openai_base_url + "/chat/completions", json=chat_body())
    assert first.headers["retry-after"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert email.utils.parsedate_to_datetime(first.headers["retry-after"]) == when
    assert second.headers["retry-after"] == "0.25"
    assert "x-should-retry" not in first.headers


async def test_overloaded_529_and_should_retry_false() -> None:
    async with (
        open_embedded_provider(script=[Fault(status=529, should_retry=False)]) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(server.base_url + "/v1/messages", json=chat_body())
    assert response.status_code == 529
    assert response.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert response.headers["x-should-retry"] == "false"


async def test_times_applies_a_fault_n_times_then_the_default_answers() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        server.enqueue(Fault(status=429, retry_after=1), times=2)
        assert server.pending == 2
        statuses = [
            (await client.post(server.base_url + "/v1/messages", json=chat_body())).status_code
            for _ in range(3)
        ]
        assert server.pending == 0
    assert statuses == [429, 429, 200]


async def test_custom_error_body_bytes_are_sent_verbatim() -> None:
    fault = Fault(status=500, body=b"<html>upstream down</html>", headers={"X-Extra": "1"})
    async with open_embedded_provider(script=[fault]) as server, httpx.AsyncClient() as client:
        response = await client.post(server.base_url + "/v1/messages", json=chat_body())
    assert response.status_code == 500
    assert response.content == b"<html>upstream down</html>"
    assert response.headers["x-extra"] == "1"


@BOTH
async def test_drop_after_aborts_the_connection_after_n_events(
    path: str, headers: dict[str, str]
) -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        server.enqueue(Step(REPLY, Fault(drop_after=3)))
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream(
                "POST", server.base_url + path, json=chat_body(), headers=headers
            ) as response:
                assert response.status_code == 200
                async for piece in response.aiter_bytes():
                    received += piece
        with trio.fail_after(5):
            await server.wait_connections(0)
    assert _count(bytes(received)) == 3
    assert received.endswith(b"\n\n")  # whole events, then nothing
    assert server.responses[0].outcome == "dropped"
    assert server.responses[0].events_sent == 3


async def test_drop_with_reset_is_a_read_error_for_the_client() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        server.enqueue(Step(REPLY, Fault(drop_after=1, reset=True)))
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            async with client.stream(
                "POST", server.base_url + "/v1/messages", json=chat_body()
            ) as response:
                async for _ in response.aiter_bytes():
                    pass
        with trio.fail_after(5):
            await server.wait_connections(0)
    assert server.responses[0].outcome == "dropped"


async def test_drop_after_zero_on_a_json_reply_sends_only_the_head() -> None:
    async with (
        open_embedded_provider(script=[Fault(drop_after=0)]) as server,
        httpx.AsyncClient() as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(server.base_url + "/v1/messages", json=chat_body(stream=False))
    assert server.responses[0].events_sent == 0


@BOTH
async def test_stall_keeps_the_connection_open_with_keepalives_and_no_content(
    path: str, headers: dict[str, str], autojump_clock: trio.testing.MockClock
) -> None:
    fault = Fault(stall_after=2, keepalive_every=10.0)
    async with (
        open_embedded_provider(script=[Step(REPLY, fault)]) as server,
        httpx.AsyncClient(timeout=None) as client,
    ):
        received = bytearray()
        async with client.stream(
            "POST", server.base_url + path, json=chat_body(), headers=headers
        ) as response:
            with trio.move_on_after(35):
                async for piece in response.aiter_bytes():
                    received += piece
        # Leaving the block closed the response: the server saw the client go.
        with trio.fail_after(60):
            await server.wait_responses(1)
            await server.wait_connections(0)
    text = bytes(received)
    if path == "/v1/messages":
        names = [name for name, _ in sse_events(text)]
        assert names == ["message_start", "content_block_start", "ping", "ping", "ping"]
    else:
        assert text.count(b": keep-alive\n\n") == 3
        assert _count(text) == 2
    assert server.responses[0].outcome == "disconnected"
    assert server.responses[0].events_sent == 2


async def test_stall_for_resumes_and_completes(autojump_clock: trio.testing.MockClock) -> None:
    fault = Fault(stall_after=1, stall_for=30.0)
    async with (
        open_embedded_provider(script=[Step(REPLY, fault)]) as server,
        httpx.AsyncClient(timeout=None) as client,
    ):
        stamps: list[float] = []
        async with client.stream(
            "POST", server.openai_base_url + "/chat/completions", json=chat_body()
        ) as response:
            async for _line in response.aiter_lines():
                if _line:
                    stamps.append(trio.current_time())
    assert stamps[1] - stamps[0] >= 30.0
    assert server.responses[0].outcome == "complete"


@BOTH
async def test_malformed_line_is_inserted_before_event_n(
    path: str, headers: dict[str, str]
) -> None:
    script = [Step(REPLY, Fault(malformed_at=2)), REPLY]
    async with open_embedded_provider(script=script) as server, httpx.AsyncClient() as client:
        faulty = await client.post(server.base_url + path, json=chat_body(), headers=headers)
        clean = await client.post(server.base_url + path, json=chat_body(), headers=headers)
    blocks = [b for b in faulty.content.split(b"\n\n") if b]
    assert blocks[2] == b"data: {not json at all"
    with pytest.raises(json.JSONDecodeError):
        json.loads(blocks[2][len(b"data: ") :])
    # Otherwise the stream is intact (ids differ by request number only).
    others = blocks[:2] + blocks[3:]
    assert others == [b.replace(b"0001", b"0000") for b in clean.content.split(b"\n\n") if b]


async def test_anthropic_error_event_after_200_ends_the_body() -> None:
    async with (
        open_embedded_provider(script=[Step(REPLY, Fault(error_event_at=3))]) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(server.base_url + "/v1/messages", json=chat_body())
    assert response.status_code == 200
    pairs = sse_events(response.content)
    assert len(pairs) == 4
    assert pairs[-1][0] == "error"
    assert json.loads(pairs[-1][1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


@pytest.mark.parametrize("style", ["vendor", "vllm"])
async def test_openai_error_chunk_after_200(style: str) -> None:
    fault = Fault(error_event_at=2, error_style=style, error_type="server_error")  # type: ignore[arg-type]
    async with (
        open_embedded_provider(script=[Step(REPLY, fault)]) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(server.openai_base_url + "/chat/completions", json=chat_body())
    events = json_events(response.content)
    assert len(events) == 3
    assert b"[DONE]" not in response.content
    if style == "vllm":
        assert events[-1]["object"] == "error"
        assert events[-1]["type"] == "server_error"
    else:
        assert events[-1]["error"]["type"] == "server_error"


@BOTH
async def test_truncate_ends_the_body_cleanly_without_the_final_events(
    path: str, headers: dict[str, str]
) -> None:
    body = chat_body(stream_options={"include_usage": True})
    async with (
        open_embedded_provider(script=[Step(REPLY, Fault(truncate=True))]) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(server.base_url + path, json=body, headers=headers)
    assert response.status_code == 200  # a complete HTTP message...
    raw = response.content
    # ...whose stream lacks its end.
    assert b"message_stop" not in raw
    assert b"message_delta" not in raw
    assert b"[DONE]" not in raw
    assert b'"finish_reason":"stop"' not in raw
    assert b'"usage":{' not in raw or path == "/v1/messages"
    texts = [
        e.get("delta", {}).get("text")
        or (e.get("choices") or [{}])[0].get("delta", {}).get("content")
        for e in json_events(raw)
    ]
    assert "".join(t for t in texts if t) == "one two three"
    assert server.responses[0].outcome == "complete"


@BOTH
async def test_oversized_line_is_valid_json_of_the_given_size(
    path: str, headers: dict[str, str]
) -> None:
    size = 300_000
    fault = Fault(oversized_line=size, oversized_at=1)
    async with (
        open_embedded_provider(script=[Step(REPLY, fault)]) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(server.base_url + path, json=chat_body(), headers=headers)
    lines = response.content.split(b"\n")
    big = [line for line in lines if len(line) > 1000]
    assert len(big) == 1
    assert len(big[0]) == size
    assert json.loads(big[0][len(b"data: ") :])["padding"].startswith("xxx")
    assert json.loads(sse_events(response.content)[1][1])["padding"]


async def test_header_delay_holds_the_response_head(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        open_embedded_provider(script=[Fault(header_delay=12.5)]) as server,
        httpx.AsyncClient(timeout=None) as client,
    ):
        start = trio.current_time()
        async with client.stream(
            "POST", server.base_url + "/v1/messages", json=chat_body()
        ) as response:
            headed = trio.current_time()
            await response.aread()
    assert headed - start >= 12.5
    assert response.status_code == 200


async def test_delay_paces_events_in_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        open_embedded_provider(script=[Step(REPLY, delay=2.0)]) as server,
        httpx.AsyncClient(timeout=None) as client,
    ):
        stamps: list[float] = []
        async with client.stream(
            "POST", server.openai_base_url + "/chat/completions", json=chat_body()
        ) as response:
            async for line in response.aiter_lines():
                if line:
                    stamps.append(trio.current_time())
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(stamps)]
    assert gaps == [2.0] * (len(stamps) - 1)
    assert len(stamps) == 6  # role, three words, finish, [DONE]


async def test_raw_reply_replays_exact_bytes_in_the_given_chunks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    body = b'data: {"a":1}\r\n\r\nda' + "ta: é\n\n".encode()
    raw = RawReply(body, chunk_sizes=(3, 7, 12), headers={"x-raw": "yes"})
    async with (
        open_embedded_provider(script=[Step(raw, delay=1.0)]) as server,
        httpx.AsyncClient(timeout=None) as client,
    ):
        pieces: list[bytes] = []
        async with client.stream(
            "POST", server.base_url + "/v1/messages", json=chat_body()
        ) as response:
            async for piece in response.aiter_raw():
                pieces.append(piece)
    assert b"".join(pieces) == body
    assert pieces == [body[:3], body[3:10], body[10:22], body[22:]]
    assert response.headers["x-raw"] == "yes"
    assert server.responses[0].events_sent == 4


async def test_raw_reply_status_and_drop_count_chunks() -> None:
    raw = RawReply(b"abcdefghij", chunk_sizes=(2, 2, 2), status=200)
    async with (
        open_embedded_provider(script=[Step(raw, Fault(drop_after=2))]) as server,
        httpx.AsyncClient() as client,
    ):
        got = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream(
                "POST", server.base_url + "/v1/messages", json=chat_body()
            ) as r:
                async for piece in r.aiter_raw():
                    got += piece
    assert bytes(got) == b"abcd"


async def test_client_timing_out_on_slow_headers_is_seen_as_a_disconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_embedded_provider(script=[Fault(header_delay=30)]) as server,
        httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.post(server.base_url + "/v1/messages", json=chat_body())
        with trio.fail_after(1):
            await server.wait_responses(1)
            await server.wait_connections(0)
    assert server.responses[0].outcome == "disconnected"
    assert server.responses[0].status == 0  # no head was ever sent


async def test_drop_after_the_last_event_leaves_a_complete_stream_without_its_http_end() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        server.enqueue(Step(REPLY, Fault(drop_after=9)))  # REPLY is 9 Anthropic events
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream(
                "POST", server.base_url + "/v1/messages", json=chat_body()
            ) as r:
                async for piece in r.aiter_bytes():
                    received += piece
    events = json_events(bytes(received))
    assert len(events) == 9
    assert events[-1] == {"type": "message_stop"}
