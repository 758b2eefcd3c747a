"""Anthropic Messages: request format and stream decoding (Q1-Q6, P5), own streams."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapsis_actors.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequest,
    InvalidStreamData,
    Overloaded,
    PermissionDenied,
    ProviderError,
    RateLimited,
    ServerError,
    StreamInterrupted,
)
from synapsis_actors.model.config import ProviderConfig
from synapsis_actors.model.events import (
    MessageStart,
    Ping,
    RawEvent,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from synapsis_actors.model.parts import ImagePart, RawBlockPart, TextPart, ThinkingPart, ToolUsePart
from synapsis_actors.model.reply import Usage
from synapsis_actors.model.request import Message, Request, Tool
from synapsis_actors.wire import get_provider
from synapsis_actors.wire.anthropic import AnthropicDecoder, AnthropicProvider, format_request
from synapsis_actors.wire.errors import request_id

from .streams import anthropic_sse, pairs, run, split_at


def start(usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [],
            "stop_reason": None,
            "usage": usage
            or {
                "input_tokens": 25,
                "output_tokens": 1,
                "cache_read_input_tokens": 7,
                "cache_creation_input_tokens": 3,
            },
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, d: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": d}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(reason: str, output_tokens: int, **usage: int) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens, **usage},
    }


PING = {"type": "ping"}
MESSAGE_STOP = {"type": "message_stop"}


def full_stream() -> list[dict[str, Any]]:
    """Thinking + signature, text, a server tool with its result, a client tool call."""
    return [
        start(),
        PING,
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
        PING,
        delta(0, {"type": "thinking_delta", "thinking": "think."}),
        delta(0, {"type": "signature_delta", "signature": "sig-abc"}),
        stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Héllo "}),
        delta(1, {"type": "text_delta", "text": "wörld 🎉"}),
        stop(1),
        block_start(2, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"query": "x"}'}),
        stop(2),
        block_start(
            3,
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        ),
        stop(3),
        block_start(4, {"type": "text", "text": ""}),
        delta(4, {"type": "citations_delta", "citation": {"type": "web_search_result_location"}}),
        delta(4, {"type": "text_delta", "text": " cited"}),
        stop(4),
        block_start(5, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        delta(5, {"type": "input_json_delta", "partial_json": ""}),
        delta(5, {"type": "input_json_delta", "partial_json": '{"city": '}),
        delta(5, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
        stop(5),
        message_delta("tool_use", 42),
        MESSAGE_STOP,
    ]


def summary(msg: Any) -> tuple[Any, ...]:
    return (msg.text, msg.thinking, msg.tool_calls, msg.usage, msg.stop_reason, msg.id)


def decode(events: list[dict[str, Any]], *, cuts: list[int] | None = None, raw: bytes = b""):
    body = anthropic_sse(events) + raw
    return run(AnthropicDecoder(), split_at(body, cuts or []))


# ------------------------------------------------------------------ Q1


def test_q1_event_order_and_final_message() -> None:
    out = decode(full_stream())
    assert out.error is None
    assert out.complete
    msg = out.message
    assert msg.id == "msg_1"
    assert msg.model == "claude-test"
    assert msg.text == "Héllo wörld 🎉 cited"
    assert msg.thinking == "Let me think."
    assert msg.stop_reason == "tool_use"
    assert msg.raw_stop_reason == "tool_use"
    assert [(c.id, c.name, c.input) for c in msg.tool_calls] == [
        ("toolu_1", "get_weather", {"city": "Paris"})
    ]
    # blocks in order, ready to be sent back (signature kept)
    assert msg.blocks == (
        ThinkingPart("Let me think.", "sig-abc"),
        TextPart("Héllo wörld 🎉"),
        RawBlockPart(
            "anthropic",
            {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "web_search",
                "input": {"query": "x"},
            },
        ),
        RawBlockPart(
            "anthropic",
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        ),
        TextPart(" cited"),
        ToolUsePart("toolu_1", "get_weather", {"city": "Paris"}),
    )
    kinds = [type(e).__name__ for e, _ in out.events]
    assert kinds[:2] == ["MessageStart", "UsageUpdate"]
    assert kinds[-2:] == ["UsageUpdate", "RawEvent"]  # message_delta, message_stop
    assert out.of_type(Ping) == [Ping(), Ping()]
    # every event carries the decoded JSON it came from
    assert out.events[0][1]["type"] == "message_start"


def test_q1_pings_anywhere_do_not_disturb() -> None:
    events = full_stream()
    with_pings = [x for e in events for x in (PING, e, PING)]
    a, b = decode(events), decode(with_pings)
    assert a.message == b.message
    # (the ping after message_stop is not read: the message is complete)
    assert len(b.of_type(Ping)) == len(a.of_type(Ping)) + 2 * len(events) - 1


def test_q1_bytes_after_message_stop_are_ignored_and_complete_holds() -> None:
    dec = AnthropicDecoder()
    body = anthropic_sse(full_stream())
    dec.feed(body)
    assert dec.complete
    # a broken tail after message_stop (a reset mid-body) changes nothing
    assert dec.feed(b"event: content_block_delta\ndata: {garbage") == []
    assert dec.close() == []
    assert dec.message().text == "Héllo wörld 🎉 cited"


def test_q1_body_ending_before_message_stop_is_interrupted_with_partial() -> None:
    events = full_stream()[:12]  # cut inside the text block
    out = decode(events)
    assert isinstance(out.error, StreamInterrupted)
    assert not out.complete
    assert out.error.partial.text == "Héllo wörld 🎉"
    assert out.message.text == "Héllo wörld 🎉"
    assert out.message.stop_reason is None


# ------------------------------------------------------------------ Q2


def test_q2_deltas_map_to_normalized_events() -> None:
    out = decode(full_stream())
    assert out.of_type(ThinkingDelta) == [ThinkingDelta(0, "Let me "), ThinkingDelta(0, "think.")]
    assert out.of_type(ThinkingSignature) == [ThinkingSignature(0, "sig-abc")]
    assert out.of_type(TextDelta) == [
        TextDelta(1, "Héllo "),
        TextDelta(1, "wörld 🎉"),
        TextDelta(4, " cited"),
    ]
    assert out.of_type(ToolCallStart) == [ToolCallStart(5, "toolu_1", "get_weather")]
    assert out.of_type(ToolCallDelta) == [
        ToolCallDelta(5, ""),
        ToolCallDelta(5, '{"city": '),
        ToolCallDelta(5, '"Paris"}'),
    ]
    assert out.of_type(ToolCallEnd) == [ToolCallEnd(5, "toolu_1", "get_weather", {"city": "Paris"})]


def test_q2_server_and_mcp_tool_blocks_are_not_tool_calls() -> None:
    events = [
        start(),
        block_start(0, {"type": "server_tool_use", "id": "srv_1", "name": "web_search"}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"q": 1}'}),
        stop(0),
        block_start(1, {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": []}),
        stop(1),
        block_start(
            2, {"type": "mcp_tool_use", "id": "mcp_1", "name": "fetch", "server_name": "s"}
        ),
        delta(2, {"type": "input_json_delta", "partial_json": "{}"}),
        stop(2),
        block_start(3, {"type": "mcp_tool_result", "tool_use_id": "mcp_1", "content": []}),
        stop(3),
        message_delta("end_turn", 5),
        MESSAGE_STOP,
    ]
    out = decode(events)
    assert out.error is None
    assert out.message.tool_calls == ()
    assert out.of_type(ToolCallStart) == []
    assert out.of_type(ToolCallDelta) == []
    raw_types = [
        r["content_block"]["type"] for e, r in out.events if e == RawEvent("content_block_start")
    ]
    assert raw_types == [
        "server_tool_use",
        "web_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
    ]
    assert out.of_type(RawEvent).count(RawEvent("input_json_delta")) == 2


def test_q2_redacted_thinking_is_kept_for_the_next_turn() -> None:
    events = [
        start(),
        block_start(0, {"type": "redacted_thinking", "data": "EmwKAhgBEgy"}),
        stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "ok"}),
        stop(1),
        message_delta("end_turn", 5),
        MESSAGE_STOP,
    ]
    msg = decode(events).message
    assert msg.blocks == (ThinkingPart("EmwKAhgBEgy", redacted=True), TextPart("ok"))
    body = format_request(Request(model="m", messages=[Message.from_reply(msg)]))
    assert body["messages"][0]["content"] == [
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
        {"type": "text", "text": "ok"},
    ]


def test_q2_server_tool_blocks_are_sent_back_verbatim_for_pause_turn() -> None:
    events = [
        start(),
        block_start(
            0, {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {}}
        ),
        delta(0, {"type": "input_json_delta", "partial_json": '{"query": '}),
        delta(0, {"type": "input_json_delta", "partial_json": '"weather"}'}),
        stop(0),
        block_start(
            1,
            {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": [{"url": "u"}]},
        ),
        stop(1),
        block_start(2, {"type": "compaction", "content": None}),
        delta(2, {"type": "compaction_delta", "content": "summary "}),
        delta(2, {"type": "compaction_delta", "content": "so far"}),
        stop(2),
        message_delta("pause_turn", 5),
        MESSAGE_STOP,
    ]
    msg = decode(events).message
    assert msg.stop_reason == "pause_turn"
    assert msg.tool_calls == ()
    body = format_request(Request(model="m", messages=[Message.user("q"), Message.from_reply(msg)]))
    assert body["messages"][1]["content"] == [
        {
            "type": "server_tool_use",
            "id": "srv_1",
            "name": "web_search",
            "input": {"query": "weather"},
        },
        {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": [{"url": "u"}]},
        {"type": "compaction", "content": "summary so far"},
    ]
    # another wire format leaves them out
    from synapsis_actors.wire.openai import format_request as openai_format

    assert openai_format(Request(model="m", messages=[Message.from_reply(msg)]))["messages"] == [
        {"role": "assistant", "content": None}
    ]


def test_q2_tool_call_with_no_arguments_is_empty_dict() -> None:
    events = [
        start(),
        block_start(0, {"type": "tool_use", "id": "t", "name": "now", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": ""}),
        stop(0),
        message_delta("tool_use", 5),
        MESSAGE_STOP,
    ]
    call = decode(events).message.tool_calls[0]
    assert call.input == {}
    assert call.valid


def test_q2_cut_off_tool_input_is_invalid_never_empty() -> None:
    events = [
        start(),
        block_start(0, {"type": "tool_use", "id": "t", "name": "write", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"text": "a long'}),
        # no content_block_stop: the token limit cut the input
        message_delta("max_tokens", 8192),
        MESSAGE_STOP,
    ]
    out = decode(events)
    assert out.error is None
    call = out.message.tool_calls[0]
    assert call.input is None
    assert not call.valid
    assert "cut off" in (call.error or "")
    assert call.arguments == '{"text": "a long'
    end = out.of_type(ToolCallEnd)[0]
    assert end.input is None
    assert end.error == call.error
    assert out.message.stop_reason == "max_tokens"


def test_q2_tool_input_that_is_not_an_object_is_invalid() -> None:
    events = [
        start(),
        block_start(0, {"type": "tool_use", "id": "t", "name": "x", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": "[1, 2]"}),
        stop(0),
        message_delta("tool_use", 5),
        MESSAGE_STOP,
    ]
    call = decode(events).message.tool_calls[0]
    assert call.input is None
    assert "not an object" in (call.error or "")


# ------------------------------------------------------------------ Q3


def test_q3_usage_from_message_start_then_replaced_not_added() -> None:
    events = full_stream()
    # two message_delta events: cumulative counts, the last one wins
    events[-2:-1] = [
        message_delta("tool_use", 20),
        message_delta("tool_use", 42, input_tokens=30),
    ]
    out = decode(events)
    assert out.message.usage == Usage(
        input_tokens=30, output_tokens=42, cache_read_tokens=7, cache_creation_tokens=3
    )
    updates = [e.usage for e in out.of_type(UsageUpdate)]
    assert updates == [Usage(25, 1, 7, 3), Usage(25, 20, 7, 3), Usage(30, 42, 7, 3)]


# ------------------------------------------------------------------ Q4


@pytest.mark.parametrize(
    ("error_type", "cls", "status"),
    [
        ("overloaded_error", Overloaded, 529),
        ("rate_limit_error", RateLimited, 429),
        ("api_error", ServerError, 500),
        ("invalid_request_error", BadRequest, 400),
        ("authentication_error", AuthenticationError, 401),
        ("permission_error", PermissionDenied, 403),
    ],
)
def test_q4_error_event_after_200_is_typed(
    error_type: str, cls: type[ProviderError], status: int
) -> None:
    events = [
        *full_stream()[:11],
        {"type": "error", "error": {"type": error_type, "message": "Overloaded"}},
    ]
    out = decode(events)
    assert type(out.error) is cls
    assert out.error.status == status
    assert error_type in str(out.error)
    assert out.error.provider == "anthropic"
    # the deltas before the error were delivered, and are in the partial message
    assert out.of_type(TextDelta) == [TextDelta(1, "Héllo "), TextDelta(1, "wörld 🎉")]
    assert out.message.text == "Héllo wörld 🎉"
    assert not out.complete


def test_q4_error_in_the_same_chunk_is_raised_on_the_next_call() -> None:
    dec = AnthropicDecoder()
    body = anthropic_sse(
        [start(), {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}]
    )
    events = pairs(dec.feed(body))
    assert isinstance(events[0][0], MessageStart)
    assert isinstance(dec.error, Overloaded)  # visible at once
    with pytest.raises(Overloaded):
        dec.feed(b"")
    with pytest.raises(Overloaded):
        dec.close()


def test_q4_proxy_error_without_type_is_typed() -> None:
    body = anthropic_sse([start()]) + (
        b'data: {"error": {"type": "rate_limit_error", "message": "slow down"}}\n\n'
    )
    out = run(AnthropicDecoder(), [body])
    assert isinstance(out.error, RateLimited)
    assert "slow down" in str(out.error)


def test_q4_unknown_error_type_is_still_an_api_status_error() -> None:
    out = decode([start(), {"type": "error", "error": {"type": "brand_new_error", "message": "?"}}])
    assert isinstance(out.error, APIStatusError)


# ------------------------------------------------------------------ Q5


def test_q5_unknown_events_blocks_and_deltas_pass_through_as_raw() -> None:
    events = full_stream()
    events[3:3] = [
        {"type": "brand_new_event", "payload": 1},
        block_start(9, {"type": "hologram", "data": "x"}),
        delta(9, {"type": "hologram_delta", "bits": "0101"}),
        stop(9),
    ]
    out = decode(events)
    assert out.error is None
    plain = decode(full_stream()).message
    assert summary(out.message) == summary(plain)
    # the unknown block is kept whole (for sending back), its delta merged in
    hologram = [
        b
        for b in out.message.blocks
        if isinstance(b, RawBlockPart) and b.data["type"] == "hologram"
    ]
    assert hologram == [
        RawBlockPart("anthropic", {"type": "hologram", "data": "x", "bits": "0101"})
    ]
    raws = out.of_type(RawEvent)
    assert RawEvent("brand_new_event") in raws
    assert RawEvent("hologram_delta") in raws


# ------------------------------------------------------------------ Q6


def test_q6_missing_content_block_stop_flushed_at_message_stop() -> None:
    events = [e for e in full_stream() if e.get("type") != "content_block_stop"]
    out = decode(events)
    assert out.error is None
    assert out.message == decode(full_stream()).message  # blocks included
    ends = out.of_type(ToolCallEnd)
    assert ends == [ToolCallEnd(5, "toolu_1", "get_weather", {"city": "Paris"})]


def test_q6_missing_message_stop_after_message_delta_is_complete() -> None:
    events = [
        e for e in full_stream() if e.get("type") not in ("content_block_stop", "message_stop")
    ]
    out = decode(events)
    assert out.error is None
    assert out.complete
    assert out.message.tool_calls[0].input == {"city": "Paris"}
    assert out.message.stop_reason == "tool_use"


# ------------------------------------------------------------------ P5


@pytest.mark.parametrize(
    "payload", [b"{not json", b"[1, 2, 3]", b'"a string"', b'{"type": "content_block_delta"}']
)
def test_p5_bad_payload_is_an_error_carrying_the_bytes(payload: bytes) -> None:
    body = anthropic_sse([start()]) + b"event: content_block_delta\ndata: " + payload + b"\n\n"
    out = run(AnthropicDecoder(), [body])
    assert isinstance(out.error, InvalidStreamData)
    assert out.error.received == payload.decode()[:200]
    assert out.of_type(MessageStart)  # what came before was delivered


@pytest.mark.parametrize(
    "event",
    [
        block_start(0, {"type": "text", "text": [None]}),
        block_start(0, {"type": "thinking", "thinking": "", "signature": 7}),
        delta(0, {"type": "text_delta", "text": 5}),
        delta(0, {"type": "text_delta", "text": None}),
        delta(0, {"type": "thinking_delta", "thinking": ["x"]}),
        delta(0, {"type": "signature_delta", "signature": {}}),
    ],
)
def test_p5_text_that_is_not_a_string_is_invalid_stream_data(event: dict[str, Any]) -> None:
    # Found by the hostile-input fuzzing: a list where text belongs reached the
    # accumulator and failed later, untyped, in message().
    events = [start(), block_start(0, {"type": "text", "text": ""}), event]
    out = decode(events)
    assert isinstance(out.error, InvalidStreamData)
    assert "not a string" in str(out.error)
    assert out.of_type(MessageStart)  # what came before was delivered
    assert out.message.text == ""  # and the message is still readable


def test_p5_received_is_truncated() -> None:
    body = b"data: {" + b"x" * 5000 + b"\n\n"
    out = run(AnthropicDecoder(), [body])
    assert isinstance(out.error, InvalidStreamData)
    assert len(out.error.received) == 200


# ------------------------------------------------------------------ splits, fuzz


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=25),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_any_split_gives_identical_results(cuts: list[int], newline: str) -> None:
    body = anthropic_sse(full_stream(), newline=newline)
    whole = run(AnthropicDecoder(), [body])
    assert run(AnthropicDecoder(), split_at(body, cuts)).comparable() == whole.comparable()


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.integers(min_value=0, max_value=3000),
    noise=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=3500), max_size=8),
)
def test_fuzz_random_bytes_only_typed_errors(prefix: int, noise: bytes, cuts: list[int]) -> None:
    body = anthropic_sse(full_stream())[:prefix] + noise
    out = run(AnthropicDecoder(), split_at(body, cuts))
    assert out.error is None or isinstance(out.error, ProviderError)
    assert out.complete or out.error is not None or out.message is not None


@settings(max_examples=200, deadline=None)
@given(fragments=st.lists(st.text(max_size=20), max_size=20))
def test_fuzz_tool_call_fragments_never_become_empty_input(fragments: list[str]) -> None:
    events = [
        start(),
        block_start(0, {"type": "tool_use", "id": "t", "name": "x", "input": {}}),
        *[delta(0, {"type": "input_json_delta", "partial_json": f}) for f in fragments],
        stop(0),
        message_delta("tool_use", 5),
        MESSAGE_STOP,
    ]
    call = decode(events).message.tool_calls[0]
    text = "".join(fragments)
    assert call.arguments == text
    try:
        expected = json.loads(text) if text.strip() else {}
    except ValueError:
        expected = None
    if isinstance(expected, dict):
        assert call.input == expected
    else:
        assert call.input is None
        assert call.error


# ------------------------------------------------------------------ request side


def test_format_request_shapes_everything() -> None:
    req = Request(
        model="claude-x",
        system="Be brief.",
        messages=[
            Message.user(
                [
                    TextPart("look"),
                    ImagePart("image/png", data="AAA"),
                    ImagePart(url="https://i/x.png"),
                ]
            ),
            Message.assistant(
                [
                    ThinkingPart("hmm", "sig"),
                    ThinkingPart("unsigned from another vendor"),
                    TextPart("calling"),
                    ToolUsePart("toolu_1", "get_weather", {"city": "Paris"}),
                ]
            ),
            Message.tool_result("toolu_1", "18C"),
            Message.tool_result("toolu_2", [TextPart("oops")], is_error=True),
        ],
        tools=[Tool("get_weather", "Weather", {"type": "object", "properties": {}})],
        tool_choice="get_weather",
        thinking_budget=2048,
        temperature=0.5,
        stop=["END"],
        extra={"metadata": {"user_id": "u"}},
    )
    body = format_request(req)
    assert body["model"] == "claude-x"
    assert body["system"] == "Be brief."
    assert body["stream"] is True
    assert body["max_tokens"] == 8192
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": {"type": "object", "properties": {}},
        }
    ]
    assert body["stop_sequences"] == ["END"]
    assert body["temperature"] == 0.5
    assert body["metadata"] == {"user_id": "u"}
    user, assistant, result1, result2 = body["messages"]
    assert user["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://i/x.png"}},
    ]
    assert assistant["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "calling"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert result1 == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}],
    }
    assert result2["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_2",
        "content": [{"type": "text", "text": "oops"}],
        "is_error": True,
    }


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "auto"}),
        ("any", {"type": "any"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
    ],
)
def test_tool_choice_values(choice: str, wire: dict[str, str]) -> None:
    assert (
        format_request(Request(model="m", messages=[], tool_choice=choice))["tool_choice"] == wire
    )


def test_max_tokens_exceeds_a_large_thinking_budget() -> None:
    body = format_request(Request(model="m", messages=[], thinking_budget=10000))
    assert body["max_tokens"] > 10000
    assert format_request(Request(model="m", messages=[], max_tokens=99))["max_tokens"] == 99
    assert "system" not in format_request(Request(model="m", messages=[]))


def test_build_request_headers_and_url() -> None:
    cfg = ProviderConfig(kind="anthropic", api_key="sk-secret", headers={"x-extra": "1"})
    provider = get_provider(cfg)
    assert isinstance(provider, AnthropicProvider)
    assert get_provider(cfg) is provider  # cached per kind
    req = provider.build_request(cfg, Request(model="m", messages=[Message.user("hi")]))
    assert req.method == "POST"
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == "sk-secret"
    assert req.headers["authorization"] == "Bearer sk-secret"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["x-extra"] == "1"
    assert req.json is not None
    assert req.json["messages"][0]["content"] == [{"type": "text", "text": "hi"}]
    proxy = ProviderConfig(kind="anthropic", base_url="http://127.0.0.1:9/v1/")
    assert provider.build_request(proxy, Request(model="m", messages=[])).url == (
        "http://127.0.0.1:9/v1/messages"
    )
    assert "x-api-key" not in provider.build_request(proxy, Request(model="m", messages=[])).headers


def test_error_from_response_maps_status_and_never_leaks_headers() -> None:
    provider = AnthropicProvider()
    body = json.dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ).encode()
    err = provider.error_from_response(529, {"request-id": "req_1"}, body, "local")
    assert type(err) is Overloaded
    assert err.request_id == "req_1"
    assert err.provider == "local"
    assert "Overloaded" in str(err)
    rl = provider.error_from_response(429, {"Retry-After": "3"}, b"{}", "local", retry_after=3.0)
    assert isinstance(rl, RateLimited)
    assert rl.retry_after == 3.0
    auth = provider.error_from_response(401, {"x-api-key": "sk-secret"}, b"nope", "local")
    assert isinstance(auth, AuthenticationError)
    assert "sk-secret" not in str(auth) + repr(auth.body)
    assert isinstance(provider.error_from_response(503, {}, b"<html>", "p"), ServerError)
    assert isinstance(provider.error_from_response(422, {}, b"", "p"), BadRequest)


def test_request_id_is_read_once_for_errors_and_the_runtime() -> None:
    # request-id (Anthropic) wins over x-request-id; names in any case.
    both = {"X-Request-Id": "req_x", "Request-Id": "req_a"}
    assert request_id(both) == "req_a"
    assert request_id(httpx.Headers(both)) == "req_a"
    assert request_id({"X-REQUEST-ID": "req_x"}) == "req_x"
    assert request_id(httpx.Headers({"x-request-id": "req_x"})) == "req_x"
    assert request_id({"request-id": ""}) is None
    assert request_id(httpx.Headers()) is None


def test_models_request_and_parse() -> None:
    provider = AnthropicProvider()
    cfg = ProviderConfig(kind="anthropic", api_key="k")
    req = provider.models_request(cfg)
    assert (req.method, req.url) == ("GET", "https://api.anthropic.com/v1/models")
    models = provider.parse_models({"data": [{"id": "claude-a", "type": "model"}, {"bad": 1}]})
    assert [m.id for m in models] == ["claude-a"]


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, b'{"type":"error","error":{"type":"authentication_error","message":"no"}}',
         AuthenticationError),
        (403, b'{"type":"error","error":{"type":"permission_error","message":"no"}}',
         PermissionDenied),
        (403, b"", PermissionDenied),  # the status alone decides
        (403, b'{"error":{"message":"region","type":"invalid_request_error",'
              b'"code":"unsupported_country_region_territory"}}', PermissionDenied),
    ],
)  # fmt: skip
def test_a_403_is_permission_denied_not_a_refused_key(
    status: int, body: bytes, cls: type[ProviderError]
) -> None:
    from synapsis_actors.wire.errors import error_from_response

    error = error_from_response(status, {"request-id": "req_9"}, body, "p")
    assert type(error) is cls
    assert isinstance(error, AuthenticationError)
    assert (error.status, error.request_id) == (status, "req_9")
