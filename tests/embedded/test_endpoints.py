"""Routes, auth like the real services, the request log (credentials redacted),
non-streaming JSON, models listing, and the echo default."""

from __future__ import annotations

import json

import httpx
import pytest

from synapsis_actors.embedded import Reply, ToolCallReply, open_embedded_provider

from ._helpers import ANTHROPIC_HEADERS, OPENAI_HEADERS, chat_body, json_events

KEY = "sk-the-expected-secret-key"


async def test_expected_key_rejects_wrong_or_missing_keys_with_the_vendor_401() -> None:
    async with (
        open_embedded_provider(expected_key=KEY) as server,
        httpx.AsyncClient() as client,
    ):
        url_a = server.anthropic_base_url + "/v1/messages"
        url_o = server.openai_base_url + "/chat/completions"
        wrong_a = await client.post(url_a, json=chat_body(), headers={"x-api-key": "sk-wrong"})
        wrong_o = await client.post(url_o, json=chat_body(), headers={"authorization": "Bearer no"})
        missing = await client.post(url_o, json=chat_body())
        ok_a = await client.post(url_a, json=chat_body(), headers={"x-api-key": KEY})
        ok_bearer = await client.post(
            url_a, json=chat_body(), headers={"authorization": f"Bearer {KEY}"}
        )
        ok_o = await client.post(
            url_o, json=chat_body(), headers={"authorization": f"Bearer {KEY}"}
        )
        ok_azure = await client.post(url_o, json=chat_body(), headers={"api-key": KEY})
        models = await client.get(server.openai_base_url + "/models")
    assert wrong_a.status_code == 401
    assert wrong_a.json()["error"]["type"] == "authentication_error"
    assert wrong_o.status_code == 401
    assert wrong_o.json()["error"]["code"] == "invalid_api_key"
    assert missing.status_code == 401
    assert models.status_code == 401
    assert [r.status_code for r in (ok_a, ok_bearer, ok_o, ok_azure)] == [200] * 4
    assert [r.key_accepted for r in server.requests] == [
        False,
        False,
        False,
        True,
        True,
        True,
        True,
        False,
    ]
    assert [r.credential for r in server.requests[3:7]] == [
        "x-api-key",
        "bearer",
        "bearer",
        "api-key",
    ]
    # No key anywhere: not in the log, not in a response, not in a repr.
    everything = repr(server.requests) + repr(server) + repr(server.app)
    everything += "".join(r.text for r in (wrong_a, wrong_o, missing, ok_a, ok_o))
    assert KEY not in everything
    assert "sk-wrong" not in everything
    assert server.requests[0].header("x-api-key") == "[redacted]"


async def test_by_default_any_key_or_none_is_accepted() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        none = await client.post(server.base_url + "/v1/messages", json=chat_body())
        some = await client.post(
            server.base_url + "/v1/messages", json=chat_body(), headers=ANTHROPIC_HEADERS
        )
    assert (none.status_code, some.status_code) == (200, 200)
    assert [r.key_accepted for r in server.requests] == [None, None]
    assert server.requests[1].header("anthropic-version") == "2023-06-01"
    assert server.requests[1].body["messages"][0]["content"] == "Hello there"


async def test_models_listing_in_both_shapes() -> None:
    models = ("alpha", "beta")
    async with open_embedded_provider(models=models) as server, httpx.AsyncClient() as client:
        anthropic = await client.get(server.base_url + "/v1/models", headers=ANTHROPIC_HEADERS)
        openai = await client.get(server.openai_base_url + "/models", headers=OPENAI_HEADERS)
    assert [m["id"] for m in anthropic.json()["data"]] == ["alpha", "beta"]
    assert anthropic.json()["data"][0]["type"] == "model"
    assert anthropic.json()["has_more"] is False
    assert openai.json()["object"] == "list"
    assert [m["id"] for m in openai.json()["data"]] == ["alpha", "beta"]
    assert openai.json()["data"][0]["object"] == "model"


async def test_bad_requests_get_vendor_errors_and_consume_no_script() -> None:
    async with (
        open_embedded_provider(script=[Reply(text="kept")]) as server,
        httpx.AsyncClient() as client,
    ):
        unknown = await client.get(server.base_url + "/v2/nothing")
        wrong_method = await client.get(server.base_url + "/v1/messages")
        not_json = await client.post(server.base_url + "/v1/messages", content=b"{oops")
        no_messages = await client.post(
            server.openai_base_url + "/chat/completions", json={"model": "m"}
        )
        assert server.pending == 1
        kept = await client.post(server.base_url + "/v1/messages", json=chat_body(stream=False))
    assert unknown.status_code == 404
    assert wrong_method.status_code == 405
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    assert no_messages.status_code == 400
    assert "error" in no_messages.json()
    assert kept.json()["content"] == [{"type": "text", "text": "kept"}]


async def test_non_streaming_json_in_both_formats() -> None:
    reply = Reply(
        text="Sure.",
        thinking="Quick.",
        signature="sig-1",
        tool_calls=[ToolCallReply("lookup", {"q": "x"}, id="id-1")],
        input_tokens=7,
        output_tokens=9,
    )
    async with (
        open_embedded_provider(script=[reply, reply]) as server,
        httpx.AsyncClient() as client,
    ):
        a = await client.post(server.base_url + "/v1/messages", json=chat_body(stream=False))
        o = await client.post(
            server.openai_base_url + "/chat/completions", json=chat_body(stream=False)
        )
    assert a.headers["content-type"] == "application/json"
    message = a.json()
    assert message["type"] == "message"
    assert message["content"] == [
        {"type": "thinking", "thinking": "Quick.", "signature": "sig-1"},
        {"type": "text", "text": "Sure."},
        {"type": "tool_use", "id": "id-1", "name": "lookup", "input": {"q": "x"}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"]["output_tokens"] == 9
    completion = o.json()
    assert completion["object"] == "chat.completion"
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Sure."
    assert choice["message"]["reasoning_content"] == "Quick."
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "id-1"
    assert json.loads(call["function"]["arguments"]) == {"q": "x"}
    assert completion["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 9,
        "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }


def _text(events: list[dict[str, object]]) -> str:
    out = []
    for e in events:
        delta = e.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "text_delta":
            out.append(str(delta["text"]))
    return "".join(out)


async def test_echo_quotes_the_prompt_word_by_word() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        response = await client.post(
            server.base_url + "/v1/messages", json=chat_body("Tell me a joke about trio")
        )
    events = json_events(response.content)
    deltas = [e for e in events if e["type"] == "content_block_delta"]
    text = _text(events)
    assert 'You said: "Tell me a joke about trio".' in text
    assert len(deltas) == len(text.split())  # one delta per word
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


@pytest.mark.parametrize("flavor", ["anthropic", "openai"])
async def test_echo_calls_a_matching_tool_then_summarises_its_result(flavor: str) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    }
    if flavor == "anthropic":
        tools = [{"name": "get_weather", "description": "Weather", "input_schema": schema}]
        path = "/v1/messages"
    else:
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": schema}}]
        path = "/v1/chat/completions"
    first = chat_body("What is the weather in Paris?", tools=tools, stream=False)
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        one = (await client.post(server.base_url + path, json=first)).json()
        if flavor == "anthropic":
            call = one["content"][-1]
            assert call["type"] == "tool_use"
            assert (call["name"], call["input"]) == ("get_weather", {"city": "Paris"})
            assert one["stop_reason"] == "tool_use"
            result = {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call["id"], "content": "22C sunny"}
                ],
            }
            assistant = {"role": "assistant", "content": one["content"]}
        else:
            call = one["choices"][0]["message"]["tool_calls"][0]
            assert call["function"]["name"] == "get_weather"
            assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
            assert one["choices"][0]["finish_reason"] == "tool_calls"
            result = {"role": "tool", "tool_call_id": call["id"], "content": "22C sunny"}
            assistant = one["choices"][0]["message"]
        second = dict(first, messages=[*first["messages"], assistant, result])
        two = (await client.post(server.base_url + path, json=second)).json()
    if flavor == "anthropic":
        assert two["stop_reason"] == "end_turn"
        assert "22C sunny" in two["content"][0]["text"]
    else:
        assert two["choices"][0]["finish_reason"] == "stop"
        assert "22C sunny" in two["choices"][0]["message"]["content"]


async def test_echo_offers_no_tool_call_when_nothing_matches() -> None:
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        reply = await client.post(
            server.base_url + "/v1/messages", json=chat_body("Hi!", tools=tools, stream=False)
        )
    assert [b["type"] for b in reply.json()["content"]] == ["text"]


async def test_echo_thinks_when_the_request_enables_thinking() -> None:
    anthropic = chat_body("Why?", thinking={"type": "enabled", "budget_tokens": 1024})
    openai = chat_body("Why?", reasoning_effort="low")
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        a = json_events(
            (await client.post(server.base_url + "/v1/messages", json=anthropic)).content
        )
        o = json_events(
            (await client.post(server.openai_base_url + "/chat/completions", json=openai)).content
        )
    blocks = [e["content_block"]["type"] for e in a if e["type"] == "content_block_start"]
    assert blocks == ["thinking", "text"]
    signatures = [e for e in a if e.get("delta", {}).get("type") == "signature_delta"]
    assert len(signatures) == 1
    reasoning = [c["choices"][0]["delta"].get("reasoning_content") for c in o if c["choices"]]
    assert any(reasoning)


async def test_echo_respects_max_tokens_like_a_model() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        body = chat_body("Tell me everything", stream=False, max_tokens=3)
        message = (await client.post(server.base_url + "/v1/messages", json=body)).json()
    assert message["stop_reason"] == "max_tokens"
    assert len(message["content"][0]["text"].split()) == 3
    assert message["usage"]["output_tokens"] == 3


async def test_azure_deployment_path_and_query_keys_are_redacted_in_the_log() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        response = await client.post(
            server.base_url + "/openai/deployments/gpt/chat/completions",
            params={"api-version": "2024-10-21", "key": "sk-in-query"},
            json=chat_body(stream=False),
            headers={"api-key": "sk-azure"},
        )
    assert response.status_code == 200
    assert response.json()["object"] == "chat.completion"
    request = server.requests[0]
    assert request.query == "api-version=2024-10-21&key=[redacted]"
    assert request.credential == "api-key"
    assert "sk-in-query" not in repr(server.requests)
    assert "sk-azure" not in repr(server.requests)
