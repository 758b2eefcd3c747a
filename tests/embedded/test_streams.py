"""The embedded provider speaks both wire formats over real loopback HTTP/1.1."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from synapsis_actors.embedded import Reply, ToolCallReply, open_embedded_provider

from ._helpers import ANTHROPIC_HEADERS, OPENAI_HEADERS, chat_body, json_events, sse_events


async def test_anthropic_stream_has_the_real_event_order_and_shapes() -> None:
    reply = Reply(
        text=("Hello", " world"),
        thinking="Let me think.",
        tool_calls=[ToolCallReply("get_weather", {"city": "Paris"}, id="toolu_1", fragment_size=5)],
        input_tokens=42,
        output_tokens=17,
        cache_read_tokens=3,
    )
    async with open_embedded_provider(script=[reply]) as server, httpx.AsyncClient() as client:
        response = await client.post(
            server.anthropic_base_url + "/v1/messages", json=chat_body(), headers=ANTHROPIC_HEADERS
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    pairs = sse_events(response.content)
    names = [name for name, _ in pairs]
    # Each event's `event:` line names its JSON `type`.
    assert all(json.loads(data)["type"] == name for name, data in pairs)
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("ping") == 1
    assert names.index("ping") == 2
    events = json_events(response.content)
    start = events[0]["message"]
    assert start["usage"]["input_tokens"] == 42
    assert start["usage"]["cache_read_input_tokens"] == 3
    blocks = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert [b["type"] for b in blocks] == ["thinking", "text", "tool_use"]
    assert blocks[2] == {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    thinking = "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta")
    assert thinking == "Let me think."
    assert [d["type"] for d in deltas].count("signature_delta") == 1
    assert [d["text"] for d in deltas if d["type"] == "text_delta"] == ["Hello", " world"]
    fragments = [d["partial_json"] for d in deltas if d["type"] == "input_json_delta"]
    assert len(fragments) > 2
    assert json.loads("".join(fragments)) == {"city": "Paris"}
    stops = [e["index"] for e in events if e["type"] == "content_block_stop"]
    assert stops == [0, 1, 2]
    final = events[-2]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"]["output_tokens"] == 17
    assert final["usage"]["input_tokens"] == 42


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
@pytest.mark.parametrize("include_usage", [True, False])
async def test_openai_stream_chunks_usage_and_done(path: str, include_usage: bool) -> None:
    reply = Reply(
        text="Checking now.",
        thinking=("hmm",),
        tool_calls=[
            ToolCallReply("get_weather", {"city": "Paris"}, fragment_size=4),
            ToolCallReply("get_time", {"tz": "CET"}, id="call_b"),
        ],
        input_tokens=10,
        output_tokens=20,
    )
    body = chat_body(stream_options={"include_usage": include_usage})
    async with open_embedded_provider(script=[reply]) as server, httpx.AsyncClient() as client:
        assert server.openai_base_url == server.base_url + "/v1"
        response = await client.post(server.base_url + path, json=body, headers=OPENAI_HEADERS)
    assert response.status_code == 200
    raw = [data for _, data in sse_events(response.content)]
    assert raw[-1] == "[DONE]"
    assert raw.count("[DONE]") == 1
    chunks = [json.loads(d) for d in raw[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    with_choices = [c for c in chunks if c["choices"]]
    deltas = [c["choices"][0]["delta"] for c in with_choices]
    assert "".join(d.get("content", "") for d in deltas) == "Checking now."
    assert [d["reasoning_content"] for d in deltas if "reasoning_content" in d] == ["hmm"]
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    firsts = [tc for tc in calls if "id" in tc]
    assert [(tc["index"], tc["function"]["name"]) for tc in firsts] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    assert firsts[1]["id"] == "call_b"
    args0 = "".join(tc["function"]["arguments"] for tc in calls if tc["index"] == 0)
    assert json.loads(args0) == {"city": "Paris"}
    assert len([tc for tc in calls if tc["index"] == 0]) > 2
    finishes = [c["choices"][0]["finish_reason"] for c in with_choices]
    assert finishes[-1] == "tool_calls"
    assert set(finishes[:-1]) == {None}
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["prompt_tokens"] == 10
        assert chunks[-1]["usage"]["completion_tokens"] == 20
        assert all(c["usage"] is None for c in chunks[:-1])
    else:
        assert all("usage" not in c for c in chunks)


async def test_connections_are_counted_and_drop_to_zero_after_the_client_closes() -> None:
    async with open_embedded_provider() as server:
        assert server.open_connections == 0
        async with httpx.AsyncClient() as client:
            for _ in range(2):
                response = await client.post(
                    server.openai_base_url + "/chat/completions", json=chat_body(stream=False)
                )
                assert response.status_code == 200
            await server.wait_connections(1)
            assert server.total_connections == 1  # keep-alive: one connection reused
        with trio.fail_after(5):
            await server.wait_connections(0)
        assert server.closed_connections == 1
        assert server.http_versions == {"1.1"}
        assert [r.outcome for r in server.responses] == ["complete", "complete"]
