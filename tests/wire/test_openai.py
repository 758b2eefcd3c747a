"""OpenAI-compatible chat completions: request format and decoding (O1-O9, P5), own streams."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapsis_actors.errors import (
    BadRequest,
    ConfigError,
    InvalidStreamData,
    ProviderError,
    RateLimited,
    ServerError,
    StreamInterrupted,
)
from synapsis_actors.model.config import KINDS, ProviderConfig
from synapsis_actors.model.events import (
    MessageStart,
    RawEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from synapsis_actors.model.parts import ImagePart, TextPart, ThinkingPart, ToolUsePart
from synapsis_actors.model.reply import Usage
from synapsis_actors.model.request import Message, Request, Tool
from synapsis_actors.wire import get_provider
from synapsis_actors.wire.openai import (
    OpenAIDecoder,
    OpenAIProvider,
    decode_tool_name,
    encode_tool_name,
    format_request,
)
from synapsis_actors.wire.profiles import PROFILES

from .streams import openai_sse, pairs, run, split_at


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "delta": delta if delta is not None else {},
        "finish_reason": finish,
    }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": [choice],
        "usage": None,
        **extra,
    }


def usage_chunk(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-test",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def tool_delta(
    index: int | None, id: str | None = None, name: str | None = None, args: str | None = None
):
    call: dict[str, Any] = {"type": "function", "function": {}}
    if index is not None:
        call["index"] = index
    if id is not None:
        call["id"] = id
    if name is not None:
        call["function"]["name"] = name
    if args is not None:
        call["function"]["arguments"] = args
    return call


def text_stream() -> list[dict[str, Any]]:
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Héllo"}),
        chunk({"content": " wörld 🎉"}),
        chunk({}, "stop"),
        usage_chunk(10, 3, cached=4),
    ]


def tools_stream() -> list[dict[str, Any]]:
    return [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [tool_delta(0, "call_a", "get_weather", "")]}),
        chunk({"tool_calls": [tool_delta(0, args='{"city":')]}),
        chunk({"tool_calls": [tool_delta(1, "call_b", "get_time", '{"tz": "CET"}')]}),
        chunk({"tool_calls": [tool_delta(0, args=' "Paris"}')]}),
        chunk({}, "tool_calls"),
        usage_chunk(20, 9),
    ]


def decode(
    chunks: list[Any], *, done: bool = True, profile: str = "openai", cuts: list[int] | None = None
):
    body = openai_sse(chunks, done=done)
    return run(OpenAIDecoder(PROFILES[profile]), split_at(body, cuts or []))


# ------------------------------------------------------------------ O1


def test_o1_done_ends_the_stream_and_later_bytes_are_ignored() -> None:
    dec = OpenAIDecoder()
    events = pairs(dec.feed(openai_sse(text_stream())))
    assert dec.complete
    assert events[-1][0] == RawEvent("done")
    assert dec.feed(b"data: {broken after done\n\n") == []  # a reset after [DONE] is harmless
    assert dec.close() == []
    msg = dec.message()
    assert msg.text == "Héllo wörld 🎉"
    assert (msg.stop_reason, msg.raw_stop_reason) == ("end_turn", "stop")
    assert msg.usage == Usage(10, 3, 4, 0)
    assert (msg.id, msg.model) == ("chatcmpl-1", "gpt-test")


def test_o1_no_done_after_finish_reason_is_complete() -> None:
    out = decode(text_stream(), done=False)
    assert out.error is None
    assert out.complete
    assert out.message.text == "Héllo wörld 🎉"
    assert out.message.usage.output_tokens == 3


def test_o1_no_done_and_no_finish_reason_is_interrupted() -> None:
    out = decode(text_stream()[:3], done=False)
    assert isinstance(out.error, StreamInterrupted)
    assert out.error.partial.text == "Héllo wörld 🎉"
    assert not out.complete
    assert out.message.stop_reason is None


def test_o1_done_is_signalled_once() -> None:
    out = decode(text_stream(), done=False, cuts=[])
    body = openai_sse(text_stream()) + b"data: [DONE]\n\n"
    twice = run(OpenAIDecoder(), [body])
    assert twice.events.count((RawEvent("done"), None)) == 1
    assert out.message.text == twice.message.text


# ------------------------------------------------------------------ O2


def test_o2_tool_calls_by_index_interleaved() -> None:
    out = decode(tools_stream())
    assert out.error is None
    calls = out.message.tool_calls
    assert [(c.id, c.name, c.input) for c in calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {"tz": "CET"}),
    ]
    assert out.of_type(ToolCallStart) == [
        ToolCallStart(0, "call_a", "get_weather"),
        ToolCallStart(1, "call_b", "get_time"),
    ]
    assert [e.index for e in out.of_type(ToolCallDelta)] == [0, 1, 0]
    assert out.of_type(ToolCallEnd) == [
        ToolCallEnd(0, "call_a", "get_weather", {"city": "Paris"}),
        ToolCallEnd(1, "call_b", "get_time", {"tz": "CET"}),
    ]
    assert out.message.stop_reason == "tool_use"


def test_o2_without_index_match_by_id_then_latest_open_call() -> None:
    stream = [
        chunk({"tool_calls": [tool_delta(None, "c1", "a", '{"x"')]}),
        chunk({"tool_calls": [tool_delta(None, args=": 1}")]}),  # no index, no id: latest open
        chunk({"tool_calls": [tool_delta(None, "c2", "b", "{}")]}),  # a new id: a new call
        chunk({"tool_calls": [tool_delta(None, "c1", None, "")]}),  # known id: same call
        chunk({}, "tool_calls"),
    ]
    calls = decode(stream).message.tool_calls
    assert [(c.id, c.name, c.input) for c in calls] == [("c1", "a", {"x": 1}), ("c2", "b", {})]


def test_o2_whole_call_in_one_chunk_and_index_starting_at_1() -> None:
    stream = [
        chunk({"tool_calls": [tool_delta(1, "c1", "a", '{"k": "v"}')]}, "tool_calls"),
    ]
    out = decode(stream)
    assert [(c.id, c.input) for c in out.message.tool_calls] == [("c1", {"k": "v"})]
    assert len(out.of_type(ToolCallEnd)) == 1


def test_o2_repeated_id_and_no_finish_reason() -> None:
    # Novita via OpenRouter: the same call repeated with its id, no finish_reason.
    stream = [
        chunk({"tool_calls": [tool_delta(0, "0", "llm_version", "")]}),
        chunk({"tool_calls": [tool_delta(0, "0", "llm_version", "{}")]}),
    ]
    out = decode(stream)
    assert [(c.id, c.name, c.input) for c in out.message.tool_calls] == [("0", "llm_version", {})]
    assert out.message.stop_reason == "tool_use"  # inferred, nothing was sent
    assert out.message.raw_stop_reason is None


def test_o2_cut_off_arguments_are_invalid_never_empty() -> None:
    stream = [
        chunk({"tool_calls": [tool_delta(0, "c", "write", '{"text": "lo')]}),
        chunk({}, "length"),
    ]
    out = decode(stream)
    call = out.message.tool_calls[0]
    assert call.input is None
    assert "cut off" in (call.error or "")
    assert out.message.stop_reason == "max_tokens"


def test_o2_text_then_tools_keep_block_order() -> None:
    stream = [
        chunk({"content": "Let me check."}),
        chunk({"tool_calls": [tool_delta(0, "c", "a", "{}")]}),
        chunk({}, "tool_calls"),
    ]
    msg = decode(stream).message
    assert msg.blocks == (TextPart("Let me check."), ToolUsePart("c", "a", {}))


# ------------------------------------------------------------------ O3


def test_o3_usage_only_final_chunk_and_null_usage_elsewhere() -> None:
    out = decode(text_stream())
    assert out.of_type(UsageUpdate) == [UsageUpdate(Usage(10, 3, 4, 0))]


def test_o3_cumulative_usage_on_every_chunk_replaces() -> None:
    stream = [
        chunk({"content": "a"}, usage={"prompt_tokens": 5, "completion_tokens": 1}),
        chunk({"content": "b"}, usage={"prompt_tokens": 5, "completion_tokens": 2}),
        chunk({}, "stop", usage={"prompt_tokens": 5, "completion_tokens": 3}),
    ]
    assert decode(stream).message.usage == Usage(5, 3, 0, 0)


def test_o3_groq_x_groq_usage() -> None:
    stream = [
        chunk({"content": "hi"}),
        chunk(
            {},
            "stop",
            x_groq={"id": "req_1", "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
        ),
    ]
    assert decode(stream, profile="groq").message.usage == Usage(7, 2, 0, 0)
    # every kind looks there: a gateway may forward Groq's chunks under kind "openai"
    # (this assertion said the opposite before issue #17 asked for it)
    for kind in ("openai", "openrouter", "vllm"):
        assert decode(stream, profile=kind).message.usage == Usage(7, 2, 0, 0)


# ------------------------------------------------------------------ O4


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_o4_reasoning_fields(field: str) -> None:
    stream = [
        chunk({field: "Thinking "}),
        chunk({field: "hard."}),
        chunk({"content": "42"}),
        chunk({}, "stop"),
    ]
    out = decode(stream)
    assert out.message.thinking == "Thinking hard."
    assert out.message.text == "42"
    assert out.of_type(ThinkingDelta) == [ThinkingDelta(0, "Thinking "), ThinkingDelta(0, "hard.")]
    assert out.of_type(TextDelta) == [TextDelta(1, "42")]
    assert out.message.blocks == (ThinkingPart("Thinking hard."), TextPart("42"))


def test_o4_both_fields_with_the_same_text_are_not_doubled() -> None:
    stream = [chunk({"reasoning_content": "x", "reasoning": "x"}), chunk({}, "stop")]
    assert decode(stream).message.thinking == "x"


def test_o4_mistral_content_parts_with_thinking() -> None:
    stream = [
        chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Okay"}]}]}),
        chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": ", so"}]}]}),
        chunk({"content": [{"type": "text", "text": "Answer"}]}),
        chunk({"content": " done"}),
        chunk({}, "stop"),
    ]
    msg = decode(stream, profile="mistral").message
    assert msg.thinking == "Okay, so"
    assert msg.text == "Answer done"


# ------------------------------------------------------------------ O5


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        ({"error": {"message": "Token limit reached", "code": 400}}, BadRequest),
        ({"error": {"message": "boom", "type": "server_error"}}, ServerError),
        ({"error": {"message": "slow down", "type": "rate_limit_exceeded"}}, RateLimited),
        ({"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}, BadRequest),
        ({"object": "error", "message": "oops", "code": 500}, ServerError),
        ({"error": {"message": "unclassified"}}, ServerError),
    ],
)
def test_o5_in_stream_errors_are_typed(payload: dict[str, Any], cls: type[ProviderError]) -> None:
    out = decode([chunk({"content": "partial"}), payload], done=False)
    assert type(out.error) is cls
    assert out.error.provider == "openai"
    assert out.of_type(TextDelta) == [TextDelta(0, "partial")]
    assert out.message.text == "partial"
    assert not out.complete


def test_o5_groq_event_error_line() -> None:
    err = {
        "error": {
            "message": "Tool call validation failed",
            "type": "invalid_request_error",
            "code": "tool_use_failed",
        }
    }
    body = openai_sse(
        [chunk({"reasoning": "We"}), f"event: error\ndata: {json.dumps(err)}\n\n"], done=False
    )
    out = run(OpenAIDecoder(PROFILES["groq"]), [body])
    assert isinstance(out.error, BadRequest)
    assert "Tool call validation failed" in str(out.error)
    assert out.message.thinking == "We"


def test_o5_error_chunk_that_also_has_choices_still_fails() -> None:
    # OpenRouter: the error rides on a normal-looking chunk
    bad = chunk({"content": ""}, error={"code": 400, "message": "Token limit reached"})
    out = decode([chunk({"content": "a"}), bad])
    assert isinstance(out.error, BadRequest)


# ------------------------------------------------------------------ O6


def test_o6_openrouter_comments_are_keepalives_not_content() -> None:
    stream: list[Any] = [
        ": OPENROUTER PROCESSING\n\n",
        *text_stream()[:2],
        ": OPENROUTER PROCESSING\n\n",
        *text_stream()[2:],
    ]
    out = decode(stream, profile="openrouter")
    plain = decode(text_stream(), profile="openrouter")
    assert out.comparable() == plain.comparable()


# ------------------------------------------------------------------ O7


def test_o7_azure_prompt_filter_first_chunk_and_null_delta() -> None:
    first = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0}],
    }
    stream = [
        first,
        chunk({"content": "", "role": "assistant"}),
        chunk({"content": "ok"}),
        {**chunk(None, "stop"), "choices": [{"index": 0, "delta": None, "finish_reason": "stop"}]},
        usage_chunk(3, 1),
    ]
    out = decode(stream, profile="azure")
    assert out.error is None
    assert out.message.text == "ok"
    assert out.message.id == "chatcmpl-1"
    assert out.events[0] == (RawEvent("chunk"), first)
    assert isinstance(out.events[1][0], MessageStart)


def test_o7_azure_request_uses_api_key_header_and_api_version() -> None:
    cfg = ProviderConfig(
        kind="azure",
        base_url="https://x.openai.azure.com/openai/deployments/gpt-4o",
        api_key="az-secret",
        api_version="2024-10-21",
    )
    req = get_provider(cfg).build_request(
        cfg, Request(model="gpt-4o", messages=[Message.user("hi")], max_tokens=5)
    )
    assert req.url == "https://x.openai.azure.com/openai/deployments/gpt-4o/chat/completions"
    assert req.params == {"api-version": "2024-10-21"}
    assert req.headers["api-key"] == "az-secret"
    assert "authorization" not in req.headers
    assert req.json is not None
    assert req.json["max_completion_tokens"] == 5
    with pytest.raises(ConfigError, match="api_version"):
        get_provider(cfg).build_request(
            ProviderConfig(kind="azure", base_url=cfg.base_url), Request(model="m", messages=[])
        )
    with pytest.raises(ConfigError, match="base_url"):
        get_provider(cfg).build_request(
            ProviderConfig(kind="azure", api_version="v"), Request(model="m", messages=[])
        )


# ------------------------------------------------------------------ O8


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        ("something_new", None),
    ],
)
def test_o8_finish_reason_mapping_keeps_raw(raw: str, normalized: str | None) -> None:
    msg = decode([chunk({"content": "x"}), chunk({}, raw)]).message
    assert msg.stop_reason == normalized
    assert msg.raw_stop_reason == raw


# ------------------------------------------------------------------ O9


def test_o9_several_choices() -> None:
    def c(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "x",
            "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
        }

    stream = [
        c(0, {"content": "A"}),
        c(1, {"content": "B"}),
        c(2, {"content": "C"}),
        c(1, {"content": "b"}, "stop"),
        c(0, {"content": "a"}, "stop"),
        c(2, {"content": "c"}, "length"),
    ]
    out = decode(stream)
    msg = out.message
    assert msg.text == "Aa"
    assert [(o.text, o.stop_reason) for o in msg.other_choices] == [
        ("Bb", "end_turn"),
        ("Cc", "max_tokens"),
    ]
    # only choice 0 produces text events
    assert out.of_type(TextDelta) == [TextDelta(0, "A"), TextDelta(0, "a")]


# ------------------------------------------------------------------ refusal, legacy, P5


def test_refusal_deltas() -> None:
    stream = [chunk({"refusal": "I can't "}), chunk({"refusal": "help."}), chunk({}, "stop")]
    out = decode(stream)
    assert out.message.refusal == "I can't help."
    assert out.message.text == ""
    assert out.of_type(RawEvent).count(RawEvent("refusal")) == 2


def test_legacy_function_call_delta() -> None:
    stream = [
        chunk({"function_call": {"name": "f", "arguments": '{"a"'}}),
        chunk({"function_call": {"arguments": ": 1}"}}),
        chunk({}, "function_call"),
    ]
    msg = decode(stream).message
    assert [(c.name, c.input) for c in msg.tool_calls] == [("f", {"a": 1})]
    assert msg.stop_reason == "tool_use"


@pytest.mark.parametrize("payload", ["{oops", "[]", "null", "12"])
def test_p5_non_json_payload_is_an_error_with_its_bytes(payload: str) -> None:
    body = openai_sse([chunk({"content": "a"}), f"data: {payload}\n\n"])
    out = run(OpenAIDecoder(), [body])
    assert isinstance(out.error, InvalidStreamData)
    assert out.error.received == payload
    assert out.message.text == "a"


def test_oversized_event_at_end_of_body_is_typed_and_named() -> None:
    dec = OpenAIDecoder(provider="local", max_size=100)  # instead of 16 MiB
    dec.feed(b"data: " + b"x" * 60 + b"\ndata: " + b"y" * 60)  # no newline at the end
    with pytest.raises(InvalidStreamData) as info:
        dec.close()
    assert info.value.provider == "local"
    assert dec.error is info.value


def test_unexpected_shape_is_invalid_stream_data() -> None:
    out = decode(
        [{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": "nope"}]}}]}]
    )
    assert isinstance(out.error, InvalidStreamData)


def test_a_content_part_whose_text_is_not_a_string_is_invalid_stream_data() -> None:
    out = decode(
        [
            {"choices": [{"index": 0, "delta": {"content": "ok "}}]},
            {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": [1]}]}}]},
        ]
    )
    assert isinstance(out.error, InvalidStreamData)
    assert out.message.text == "ok "


# ------------------------------------------------------------------ properties


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=25),
    which=st.sampled_from(["text", "tools"]),
)
def test_any_split_gives_identical_results(cuts: list[int], which: str) -> None:
    stream = text_stream() if which == "text" else tools_stream()
    body = openai_sse(stream)
    whole = run(OpenAIDecoder(), [body])
    assert run(OpenAIDecoder(), split_at(body, cuts)).comparable() == whole.comparable()


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.integers(min_value=0, max_value=2500),
    noise=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=8),
)
def test_fuzz_random_bytes_only_typed_errors(prefix: int, noise: bytes, cuts: list[int]) -> None:
    body = openai_sse(tools_stream())[:prefix] + noise
    out = run(OpenAIDecoder(PROFILES["groq"]), split_at(body, cuts))
    assert out.error is None or isinstance(out.error, ProviderError)


@settings(max_examples=200, deadline=None)
@given(fragments=st.lists(st.text(max_size=15), max_size=15))
def test_fuzz_tool_arguments_never_become_empty_input(fragments: list[str]) -> None:
    stream = [
        chunk({"tool_calls": [tool_delta(0, "c", "f", "")]}),
        *[chunk({"tool_calls": [tool_delta(0, args=f)]}) for f in fragments],
        chunk({}, "tool_calls"),
    ]
    call = decode(stream).message.tool_calls[0]
    text = "".join(fragments)
    assert call.arguments == text
    try:
        expected = json.loads(text) if text.strip() else {}
    except ValueError:
        expected = None
    assert call.input == (expected if isinstance(expected, dict) else None)
    assert (call.error is None) == isinstance(expected, dict)


# ------------------------------------------------------------------ tool names


@pytest.mark.parametrize(
    "name",
    [
        "get_weather",
        "mcp.server/tool",
        "__dunder",
        "naïve tool ✓",
        "x" * 64,
        "a.b" * 40,
        "",
        "_",
        "__",
    ],
)
def test_tool_names_encoded_reversibly(name: str) -> None:
    encoded = encode_tool_name(name)
    assert decode_tool_name(encoded) == name
    if name:
        assert 1 <= len(encoded) <= 64
        assert all(c.isascii() and (c.isalnum() or c in "_-") for c in encoded)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_tool_name_roundtrip_property(name: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates are not names a JSON request can carry
    encoded = encode_tool_name(name)
    assert decode_tool_name(encoded) == name
    assert len(encoded) <= 64


def test_tool_names_round_trip_through_request_and_stream() -> None:
    name = "files.read"
    body = format_request(Request(model="m", messages=[], tools=[Tool(name)], tool_choice=name))
    wire_name = body["tools"][0]["function"]["name"]
    assert wire_name != name
    assert body["tool_choice"] == {"type": "function", "function": {"name": wire_name}}
    out = decode(
        [chunk({"tool_calls": [tool_delta(0, "c", wire_name, "{}")]}), chunk({}, "tool_calls")]
    )
    assert out.message.tool_calls[0].name == name
    assert out.of_type(ToolCallStart)[0].name == name


# ------------------------------------------------------------------ request side


def test_format_request_messages_and_options() -> None:
    req = Request(
        model="gpt-x",
        system="Be brief.",
        messages=[
            Message.user([TextPart("look"), ImagePart("image/png", data="AAA")]),
            Message.assistant(
                [
                    ThinkingPart("hidden", "sig"),
                    TextPart("calling"),
                    ToolUsePart("c1", "get", {"a": 1}),
                    ToolUsePart("c2", "get", {}),
                ]
            ),
            Message(
                "user",
                [
                    *Message.tool_result("c1", "one").content,
                    *Message.tool_result(
                        "c2", [TextPart("two"), ImagePart(url="https://i/p.png")], is_error=True
                    ).content,
                    TextPart("and now?"),
                ],
            ),
        ],
        tools=[Tool("get", "Get", {"type": "object"})],
        tool_choice="any",
        max_tokens=100,
        temperature=0.1,
        stop=["\n\n"],
        thinking_budget=4000,
        extra={"n": 2},
    )
    body = format_request(req)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 100
    assert body["tool_choice"] == "required"
    assert body["reasoning_effort"] == "medium"
    assert body["n"] == 2
    assert body["stop"] == ["\n\n"]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "get", "description": "Get", "parameters": {"type": "object"}},
        }
    ]
    m = body["messages"]
    assert m[0] == {"role": "system", "content": "Be brief."}
    assert m[1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
        ],
    }
    assert m[2] == {
        "role": "assistant",
        "content": "calling",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get", "arguments": '{"a": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "get", "arguments": "{}"}},
        ],
    }
    assert m[3] == {"role": "tool", "tool_call_id": "c1", "content": "one"}
    assert m[4] == {"role": "tool", "tool_call_id": "c2", "content": "Error: two"}
    assert m[5] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "https://i/p.png"}}],
    }
    assert m[6] == {"role": "user", "content": "and now?"}


def test_profiles_shape_the_request() -> None:
    req = Request(model="m", messages=[Message.user("hi")], max_tokens=10, thinking_budget=1000)
    groq = format_request(req, PROFILES["groq"])
    assert groq["max_tokens"] == 10
    assert "reasoning_effort" not in groq
    assert format_request(req, PROFILES["openrouter"])["reasoning"] == {"max_tokens": 1000}
    assert "stream_options" not in format_request(req, PROFILES["mistral"])


def test_a_budget_a_kind_cannot_send_is_said_once_in_the_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synapsis_actors.wire import openai as wire

    monkeypatch.setattr(wire, "_UNSENT_BUDGET_WARNED", set())
    req = Request(model="m", messages=[Message.user("hi")], thinking_budget=1000)
    with caplog.at_level(logging.WARNING, logger="synapsis_actors.wire.openai"):
        for _ in range(3):
            assert "reasoning_effort" not in format_request(req, PROFILES["groq"])
        format_request(req, PROFILES["openai"])  # sent (as reasoning_effort): nothing to say
    (record,) = caplog.records
    assert record.getMessage() == (
        "thinking_budget is not sent to kind 'groq': it has no thinking budget field; "
        "use reasoning_effort (high, low, medium, none)"
    )


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("openai", "https://api.openai.com/v1/chat/completions"),
        ("ollama", "http://localhost:11434/v1/chat/completions"),
        ("lmstudio", "http://localhost:1234/v1/chat/completions"),
        ("llamacpp", "http://localhost:8080/v1/chat/completions"),
        ("vllm", "http://localhost:8000/v1/chat/completions"),
        ("openrouter", "https://openrouter.ai/api/v1/chat/completions"),
        ("groq", "https://api.groq.com/openai/v1/chat/completions"),
        ("deepseek", "https://api.deepseek.com/v1/chat/completions"),
        ("mistral", "https://api.mistral.ai/v1/chat/completions"),
        ("together", "https://api.together.xyz/v1/chat/completions"),
    ],
)
def test_preset_default_urls_and_bearer_auth(kind: str, url: str) -> None:
    cfg = ProviderConfig(kind=kind, api_key="sk-k")
    provider = get_provider(cfg)
    assert isinstance(provider, OpenAIProvider)
    assert provider.kind == kind
    req = provider.build_request(cfg, Request(model="m", messages=[]))
    assert req.url == url
    assert req.headers["authorization"] == "Bearer sk-k"
    assert provider.models_request(cfg).url == url.replace("/chat/completions", "/models")


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://127.0.0.1:9", "http://127.0.0.1:9/v1/chat/completions"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9/v1/chat/completions"),
        ("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/chat/completions"),
        ("http://127.0.0.1:9/v1/", "http://127.0.0.1:9/v1/chat/completions"),
        ("http://h/api/v1", "http://h/api/v1/chat/completions"),
        ("http://h/v1/chat/completions", "http://h/v1/chat/completions"),
    ],
)
def test_base_url_never_doubles_v1(base: str, url: str) -> None:
    cfg = ProviderConfig(kind="openai", base_url=base)
    req = get_provider(cfg).build_request(cfg, Request(model="m", messages=[]))
    assert req.url == url
    assert "authorization" not in req.headers  # no key, no header


def test_every_kind_has_a_provider() -> None:
    for kind in KINDS:
        assert get_provider(ProviderConfig(kind=kind)).kind == kind


def test_parse_models_reads_context_windows() -> None:
    provider = OpenAIProvider()
    models = provider.parse_models(
        {
            "object": "list",
            "data": [
                {"id": "a", "owned_by": "me", "context_length": 8192},
                {"id": "b", "max_model_len": 4096},
                {"id": "c", "meta": {"n_ctx_train": 2048}},
                {"id": 5},
            ],
        }
    )
    assert [(m.id, m.owned_by, m.context_window) for m in models] == [
        ("a", "me", 8192),
        ("b", None, 4096),
        ("c", None, 2048),
    ]
    assert provider.parse_models("garbage") == []
