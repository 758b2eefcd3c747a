"""The Gemini wire format on streams and requests written here (a fresh clone tests them all).

Request bodies are validated against the official ``google-genai`` SDK's
pydantic types, which forbid unknown fields (``extra="forbid"``): a field
name Gemini does not know fails the test.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from synapsis_actors.errors import (
    BadRequest,
    ConfigError,
    InvalidStreamData,
    MalformedToolCall,
    RateLimited,
    ServerError,
    StreamInterrupted,
)
from synapsis_actors.model.accumulator import Accumulator
from synapsis_actors.model.config import ProviderConfig
from synapsis_actors.model.events import (
    RawEvent,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from synapsis_actors.model.parts import (
    ImagePart,
    RawBlockPart,
    TextPart,
    ThinkingPart,
    ToolUsePart,
)
from synapsis_actors.model.reply import Usage
from synapsis_actors.model.request import Message, Request, Tool
from synapsis_actors.wire import get_provider
from synapsis_actors.wire.gemini import GeminiDecoder, format_request, retry_delay

from .sdk_types import validate_gemini
from .streams import Outcome, gemini_sse, run, split_at

KEY = "AIza-secret-key-DO-NOT-LEAK-0123456789"
MADE_UP = re.compile(r"gemini_[0-9a-f]{8}_[0-9]+")


def chunk(
    *parts: dict[str, Any],
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    **candidate: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, **candidate}
    if finish is not None:
        body["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [body], "modelVersion": "gemini-3-pro", "responseId": "r1"}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def usage(prompt: int, candidates: int | None, thoughts: int = 0, **more: int) -> dict[str, Any]:
    out = {"promptTokenCount": prompt, "totalTokenCount": prompt + (candidates or 0) + thoughts}
    if candidates is not None:
        out["candidatesTokenCount"] = candidates
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    out.update(more)
    return out


def decode(body: bytes, pieces: list[bytes] | None = None) -> Outcome:
    return run(GeminiDecoder(), pieces if pieces is not None else [body])


def ids_normalized(outcome: Outcome) -> tuple[Any, ...]:
    """``comparable()`` with made-up call ids (random per decoder) replaced by a mark."""
    return tuple(json.loads(MADE_UP.sub("<made-up>", json.dumps(repr(outcome.comparable())))))


# Opaque base64, as Gemini's (the SDK's types check that they decode).
SIG_CALL = base64.b64encode(b"\x12\x9c\x08signature of the call\xff").decode()
SIG_TEXT = base64.b64encode(b"\x0a\x23signature of the text\xfe").decode()
SIG_END = base64.b64encode(b"\x0a\x2fsignature of the end").decode()

#: A Gemini 2.5-style reply: thoughts, signed first answer text, more text,
#: two parallel calls of one function (no ids, the first signed), STOP.
THINK_TEXT_CALLS = [
    chunk({"text": "Let me think", "thought": True}, usage=usage(10, None, 5)),
    chunk({"text": " about it.", "thought": True}, usage=usage(10, None, 9)),
    chunk({"text": "Checking both", "thoughtSignature": SIG_TEXT}, usage=usage(10, 2, 9)),
    chunk({"text": " cities."}, usage=usage(10, 4, 9)),
    chunk(
        {
            "functionCall": {"name": "weather", "args": {"city": "Paris"}},
            "thoughtSignature": SIG_CALL,
        },
        {"functionCall": {"name": "weather", "args": {"city": "Rome", "days": 2}}},
        finish="STOP",
        usage=usage(11, 20, 9),
    ),
]


# ---------------------------------------------------------------- the stream


def test_text_thoughts_signatures_and_parallel_calls() -> None:
    out = decode(gemini_sse(THINK_TEXT_CALLS))
    assert out.error is None
    assert out.complete
    m = out.message
    assert m.thinking == "Let me think about it."
    assert m.text == "Checking both cities."
    assert [(c.name, c.input) for c in m.tool_calls] == [
        ("weather", {"city": "Paris"}),
        ("weather", {"city": "Rome", "days": 2}),
    ]
    first, second = m.tool_calls
    assert first.id != second.id
    assert MADE_UP.fullmatch(first.id)
    assert MADE_UP.fullmatch(second.id)
    assert (first.signature, second.signature) == (SIG_CALL, None)
    assert m.stop_reason == "tool_use"
    assert m.raw_stop_reason == "STOP"
    # The last report, never a sum: input 11, output 20 + 9 thoughts.
    assert m.usage == Usage(11, 29, 0, 0)
    assert (m.id, m.model) == ("r1", "gemini-3-pro")
    # The signed text part stands alone: the signature belongs to it, not to the later text.
    assert m.blocks == (
        ThinkingPart("Let me think about it."),
        TextPart("Checking both", signature=SIG_TEXT),
        TextPart(" cities."),
        ToolUsePart(first.id, "weather", {"city": "Paris"}, signature=SIG_CALL),
        ToolUsePart(second.id, "weather", {"city": "Rome", "days": 2}),
    )
    assert [type(e) for e in out.of_type(ToolCallStart)] == [ToolCallStart, ToolCallStart]
    assert [e.index for e in out.of_type(ThinkingSignature)] == [1, 3]


def test_events_rebuild_the_same_message() -> None:
    out = decode(gemini_sse(THINK_TEXT_CALLS))
    acc = Accumulator()
    for event, _raw in out.events:
        acc.add(event)
    rebuilt = acc.message()
    assert rebuilt.blocks == out.message.blocks
    assert rebuilt.tool_calls == out.message.tool_calls
    assert rebuilt.usage == out.message.usage


def test_every_split_gives_the_same_outcome() -> None:
    body = gemini_sse(
        [
            *THINK_TEXT_CALLS[:-1],
            chunk({"text": "é€😀 unicode"}, usage=usage(10, 5, 9)),
            THINK_TEXT_CALLS[-1],
        ]
    )
    whole = ids_normalized(decode(body))
    for cut in range(1, len(body)):
        assert ids_normalized(decode(body, split_at(body, [cut]))) == whole, cut
    for start in range(0, len(body), 7):
        pieces = split_at(body, range(start, len(body), 13))
        assert ids_normalized(decode(body, pieces)) == whole


def test_gemini3_ids_and_the_signed_empty_final_part_are_kept() -> None:
    body = gemini_sse(
        [
            chunk(
                {
                    "functionCall": {"name": "add", "args": {"a": 2}, "id": "8hd01vsf"},
                    "thoughtSignature": SIG_CALL,
                },
                usage=usage(5, 3, 7),
            ),
            chunk({"functionCall": {"name": "multiply", "args": {"b": 3}, "id": "k0srpqrc"}}),
            chunk({"text": "", "thoughtSignature": SIG_END}, finish="STOP", usage=usage(5, 4, 7)),
        ]
    )
    m = decode(body).message
    assert [c.id for c in m.tool_calls] == ["8hd01vsf", "k0srpqrc"]
    assert m.blocks[-1] == TextPart("", signature=SIG_END)
    assert m.text == ""
    assert m.stop_reason == "tool_use"


def test_unsigned_empty_text_parts_add_nothing() -> None:
    body = gemini_sse([chunk({"text": "Hi"}), chunk({"text": ""}, finish="STOP")])
    assert decode(body).message.blocks == (TextPart("Hi"),)


def test_vertex_streamed_arguments_are_assembled() -> None:
    def call(fc: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return chunk({"functionCall": fc}, usage={"trafficType": "ON_DEMAND"}, **kw)

    body = gemini_sse(
        [
            chunk(
                {
                    "functionCall": {"name": "book", "willContinue": True},
                    "thoughtSignature": SIG_CALL,
                }
            ),
            call(
                {
                    "partialArgs": [
                        {"jsonPath": "$.city", "stringValue": "San ", "willContinue": True}
                    ],
                    "willContinue": True,
                }
            ),
            call(
                {
                    "partialArgs": [{"jsonPath": "$.city", "stringValue": "Francisco"}],
                    "willContinue": True,
                }
            ),
            call(
                {
                    "partialArgs": [
                        {"jsonPath": "$.nights", "numberValue": 3.0},
                        {"jsonPath": "$.price", "numberValue": 99.5},
                        {"jsonPath": "$.breakfast", "boolValue": True},
                        {"jsonPath": "$.notes", "nullValue": "NULL_VALUE"},
                        {"jsonPath": "$.guests[0].name", "stringValue": "Ada"},
                        {"jsonPath": "$.guests[1]['full name']", "stringValue": "Alan T"},
                    ],
                    "willContinue": True,
                }
            ),
            call({}),  # the empty call that ends it
            call({"name": "book", "willContinue": True}),
            call(
                {
                    "partialArgs": [{"jsonPath": "$.city", "stringValue": "Rome"}],
                    "willContinue": True,
                }
            ),
            chunk({"functionCall": {}}, finish="STOP", usage=usage(26, 23, 132, trafficType=1)),
        ]
    )
    out = decode(body)
    assert out.error is None
    first, second = out.message.tool_calls
    assert first.input == {
        "city": "San Francisco",
        "nights": 3,
        "price": 99.5,
        "breakfast": True,
        "notes": None,
        "guests": [{"name": "Ada"}, {"full name": "Alan T"}],
    }
    assert first.signature == SIG_CALL
    assert second.input == {"city": "Rome"}
    assert out.message.usage == Usage(26, 155, 0, 0)  # trafficType-only reports skipped
    assert out.message.stop_reason == "tool_use"
    assert len(out.of_type(ToolCallEnd)) == 2


def test_a_streamed_call_open_at_the_end_of_the_body_is_closed() -> None:
    body = gemini_sse(
        [
            chunk({"functionCall": {"name": "f", "willContinue": True}}),
            chunk(
                {
                    "functionCall": {
                        "partialArgs": [{"jsonPath": "$.x", "stringValue": "1"}],
                        "willContinue": True,
                    }
                },
                finish="STOP",
            ),
        ]
    )
    (call,) = decode(body).message.tool_calls
    assert call.input == {"x": "1"}


def test_usage_is_replaced_never_added() -> None:
    body = gemini_sse(
        [
            chunk({"text": "a"}, usage=usage(7, 1)),
            chunk({"text": "b"}, usage=usage(7, 2)),
            chunk(
                {"text": "c"},
                usage=usage(8, 3, 4, toolUsePromptTokenCount=5, cachedContentTokenCount=6),
            ),
            chunk({"text": ""}, finish="STOP", usage={"trafficType": "ON_DEMAND"}),
        ]
    )
    out = decode(body)
    assert out.message.usage == Usage(8 + 5, 3 + 4, 6, 0)
    assert [e.usage.output_tokens for e in out.of_type(UsageUpdate)] == [1, 2, 7]


@pytest.mark.parametrize(
    ("raw", "stop"),
    [
        ("STOP", "end_turn"),
        ("MAX_TOKENS", "max_tokens"),
        ("SAFETY", "refusal"),
        ("RECITATION", "refusal"),
        ("PROHIBITED_CONTENT", "refusal"),
        ("BLOCKLIST", "refusal"),
        ("SPII", "refusal"),
        ("IMAGE_SAFETY", "refusal"),
        ("OTHER", None),
        ("LANGUAGE", None),
    ],
)
def test_finish_reasons(raw: str, stop: str | None) -> None:
    out = decode(gemini_sse([chunk({"text": "x"}, finish=raw)]))
    assert out.error is None
    assert out.complete
    assert (out.message.stop_reason, out.message.raw_stop_reason) == (stop, raw)


def test_a_blocked_prompt_is_a_refusal() -> None:
    body = gemini_sse(
        [{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage(9, None)}]
    )
    out = decode(body)
    assert out.complete
    assert (out.message.stop_reason, out.message.raw_stop_reason) == (
        "refusal",
        "PROHIBITED_CONTENT",
    )


@pytest.mark.parametrize("reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"])
def test_malformed_function_call_is_a_typed_error_with_the_partial_reply(reason: str) -> None:
    body = gemini_sse(
        [
            chunk({"text": "I will archive"}, usage=usage(61, 3)),
            {
                "candidates": [
                    {"finishReason": reason, "finishMessage": "Malformed function call: print(x"}
                ],
                "usageMetadata": usage(61, None),
            },
        ]
    )
    out = decode(body)
    assert isinstance(out.error, MalformedToolCall)
    assert out.error.reason == reason
    assert "Malformed function call: print(x" in str(out.error)
    assert out.error.partial.text == "I will archive"
    assert out.error.partial.usage == Usage(61, 0, 0, 0)
    assert out.error.provider == "gemini"
    assert out.of_type(TextDelta)  # the text before it was delivered
    assert not out.complete


def test_a_finish_reason_mid_stream_does_not_end_the_stream() -> None:
    body = gemini_sse(
        [
            chunk(
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}, "thought": True},
                finish="STOP",
            ),
            chunk({"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}}),
            chunk({"text": "The answer is 1."}, finish="STOP"),
        ]
    )
    out = decode(body)
    assert out.complete
    assert out.message.text == "The answer is 1."
    raw = [b for b in out.message.blocks if isinstance(b, RawBlockPart)]
    assert [b.wire for b in raw] == ["gemini", "gemini"]
    assert raw[0].data == {
        "executableCode": {"language": "PYTHON", "code": "print(1)"},
        "thought": True,
    }
    assert [e.type for e in out.of_type(RawEvent) if e.type != "finishReason"] == [
        "executableCode",
        "codeExecutionResult",
    ]


def test_grounding_is_a_raw_chunk_with_its_json() -> None:
    grounding = {"webSearchQueries": ["weather sf"], "groundingChunks": [{"web": {"uri": "u"}}]}
    body = gemini_sse([chunk({"text": "Mild."}, finish="STOP", groundingMetadata=grounding)])
    out = decode(body)
    ((_event, raw),) = [(e, r) for e, r in out.events if e == RawEvent("groundingMetadata")]
    assert raw["candidates"][0]["groundingMetadata"] == grounding


def test_a_body_ending_before_any_finish_reason_is_interrupted() -> None:
    out = decode(gemini_sse([chunk({"text": "Hello"}), chunk({"text": " wor"})]))
    assert isinstance(out.error, StreamInterrupted)
    assert out.error.partial.text == "Hello wor"


def test_an_in_stream_rate_limit_carries_retry_delay() -> None:
    error = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17.5s"},
            ],
        }
    }
    body = gemini_sse([chunk({"text": "Hi"}), error])
    decoder = GeminiDecoder()
    chunks = decoder.feed(body)
    assert [c.event for c in chunks if isinstance(c.event, TextDelta)] == [TextDelta(0, "Hi")]
    assert isinstance(decoder.error, RateLimited)
    assert decoder.error.retry_after == 17.5
    assert decoder.error.status == 429
    assert "RESOURCE_EXHAUSTED" in str(decoder.error)
    with pytest.raises(RateLimited):
        decoder.close()


def test_an_in_stream_unavailable_is_a_server_error() -> None:
    body = gemini_sse(
        [{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]
    )
    out = decode(body)
    assert isinstance(out.error, ServerError)
    assert out.error.status == 503


def test_a_json_error_body_labelled_as_sse_is_the_typed_error() -> None:
    error = {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}
    body = json.dumps({"error": error}, indent=2).encode()  # pretty-printed, as Google's
    out = decode(body, [body[:10], body[10:]])
    assert isinstance(out.error, BadRequest)
    assert out.error.status == 404
    assert "models/x is not found" in str(out.error)


def test_junk_that_is_neither_sse_nor_json_is_interrupted() -> None:
    out = decode(b"<html>502 Bad Gateway</html>\n")
    assert isinstance(out.error, StreamInterrupted)


@pytest.mark.parametrize(
    "part",
    [
        {"text": 5},
        {"functionCall": {"name": "f", "args": [1, 2]}},
        {"functionCall": "f"},
        {"functionCall": {"name": 3}},
        {"text": "x", "thoughtSignature": 7},
        {
            "functionCall": {
                "name": "f",
                "willContinue": True,
                "partialArgs": [{"jsonPath": "city", "stringValue": "x"}],
            }
        },
    ],
)
def test_unexpected_shapes_are_invalid_stream_data(part: dict[str, Any]) -> None:
    out = decode(gemini_sse([chunk(part, finish="STOP")]))
    assert isinstance(out.error, InvalidStreamData)
    assert out.error.received


def test_candidates_other_than_the_first_are_raw_only() -> None:
    body = gemini_sse(
        [
            {
                "candidates": [
                    {"content": {"parts": [{"text": "one"}]}, "index": 0, "finishReason": "STOP"},
                    {"content": {"parts": [{"text": "two"}]}, "index": 1, "finishReason": "STOP"},
                ]
            }
        ]
    )
    out = decode(body)
    assert out.message.text == "one"
    assert RawEvent("candidate") in [e for e, _ in out.events]


# ---------------------------------------------------------------- the request


WEATHER = Tool(
    "get_weather",
    "Weather of a city",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)


def test_a_full_request_is_valid_for_the_sdk() -> None:
    reply = decode(gemini_sse(THINK_TEXT_CALLS)).message
    first, second = reply.tool_calls
    request = Request(
        model="gemini-2.5-flash",
        system="Be brief.",
        messages=[
            Message.user(
                [
                    TextPart("What is in this picture, and the weather?"),
                    ImagePart("image/png", data="iVBORw0KGgo="),
                    ImagePart("image/jpeg", url="gs://bucket/cat.jpg"),
                ]
            ),
            Message.from_reply(reply),
            Message(
                "user",
                [
                    *Message.tool_result(first.id, "18C").content,
                    *Message.tool_result(
                        second.id,
                        [TextPart("no data"), ImagePart("image/png", data="AAAA")],
                        is_error=True,
                    ).content,
                ],
            ),
        ],
        tools=[WEATHER],
        tool_choice="get_weather",
        max_tokens=256,
        temperature=0.5,
        top_p=0.9,
        stop=["END"],
        thinking_budget=1024,
    )
    body = format_request(request)
    validate_gemini(body)
    assert "model" not in body
    assert "stream" not in body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {
        "maxOutputTokens": 256,
        "temperature": 0.5,
        "topP": 0.9,
        "stopSequences": ["END"],
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather of a city",
                    "parametersJsonSchema": WEATHER.input_schema,
                }
            ]
        }
    ]
    user, model, results = body["contents"]
    assert user["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cat.jpg"}},
    ]
    # The reply's parts as they came, signatures in place, made-up ids not sent.
    assert model == {
        "role": "model",
        "parts": [
            {"text": "Let me think about it.", "thought": True},
            {"text": "Checking both", "thoughtSignature": SIG_TEXT},
            {"text": " cities."},
            {
                "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                "thoughtSignature": SIG_CALL,
            },
            {"functionCall": {"name": "weather", "args": {"city": "Rome", "days": 2}}},
        ],
    }
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "weather", "response": {"output": "18C"}}},
            {"functionResponse": {"name": "weather", "response": {"error": "no data"}}},
            {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
        ],
    }


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("any", {"mode": "ANY"}),
        ("required", {"mode": "ANY"}),
    ],
)
def test_tool_choice(choice: str, config: dict[str, Any]) -> None:
    body = format_request(
        Request(model="m", messages=[Message.user("hi")], tools=[WEATHER], tool_choice=choice)
    )
    validate_gemini(body)
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_results_match_calls_by_gemini_id_in_any_order() -> None:
    calls = Message.assistant(
        [
            ToolUsePart("id-a", "add", {"a": 1}, signature=SIG_CALL),
            ToolUsePart("id-b", "mul", {"b": 2}),
        ]
    )
    results = Message(
        "user",
        [*Message.tool_result("id-b", "4").content, *Message.tool_result("id-a", "2").content],
    )
    body = format_request(Request(model="m", messages=[Message.user("go"), calls, results]))
    validate_gemini(body)
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "mul", "id": "id-b", "response": {"output": "4"}}},
        {"functionResponse": {"name": "add", "id": "id-a", "response": {"output": "2"}}},
    ]


def test_results_without_known_ids_match_the_latest_calls_in_order() -> None:
    calls = Message.assistant(
        [ToolUsePart("", "weather", {"city": "A"}), ToolUsePart("", "time", {})]
    )
    results = Message(
        "user",
        [*Message.tool_result("", "sunny").content, *Message.tool_result("x", "noon").content],
    )
    body = format_request(Request(model="m", messages=[Message.user("go"), calls, results]))
    assert [p["functionResponse"]["name"] for p in body["contents"][2]["parts"]] == [
        "weather",
        "time",
    ]


def test_a_result_for_no_call_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="messages") as info:
        format_request(Request(model="m", messages=[Message.tool_result("nope", "x")]))
    assert "nope" in str(info.value)


def test_tool_names_gemini_rejects_are_encoded_and_decoded_back() -> None:
    tool = Tool("web search (beta)")
    body = format_request(Request(model="m", messages=[Message.user("hi")], tools=[tool]))
    name = body["tools"][0]["functionDeclarations"][0]["name"]
    assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_-]{0,63}", name)
    stream = gemini_sse([chunk({"functionCall": {"name": name, "args": {}}}, finish="STOP")])
    assert decode(stream).message.tool_calls[0].name == "web search (beta)"


def test_redacted_and_foreign_raw_blocks_are_left_out() -> None:
    turn = Message.assistant(
        [
            ThinkingPart("opaque", redacted=True),
            RawBlockPart("anthropic", {"type": "server_tool_use"}),
            TextPart("ok"),
        ]
    )
    body = format_request(Request(model="m", messages=[Message.user("hi"), turn]))
    assert body["contents"][1]["parts"] == [{"text": "ok"}]


def test_extra_is_merged_last() -> None:
    extra = {
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    }
    body = format_request(Request(model="m", messages=[Message.user("hi")], extra=extra))
    assert body["safetySettings"] == extra["safetySettings"]


# ---------------------------------------------------------------- provider


def test_the_key_goes_in_a_header_never_in_the_url() -> None:
    config = ProviderConfig(kind="gemini", api_key=KEY)
    http = get_provider(config).build_request(
        config, Request(model="gemini-2.5-flash", messages=[Message.user("hi")])
    )
    assert (
        http.url
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    )
    assert http.params == {"alt": "sse"}
    assert http.headers["x-goog-api-key"] == KEY
    assert "authorization" not in http.headers
    assert KEY not in http.url + json.dumps(http.params) + json.dumps(http.json)
    assert KEY not in repr(config)


@pytest.mark.parametrize(
    ("base", "model", "url"),
    [
        ("http://h:1", "m", "http://h:1/v1beta/models/m:streamGenerateContent"),
        ("http://h:1/v1beta", "m", "http://h:1/v1beta/models/m:streamGenerateContent"),
        ("http://h:1/", "models/m", "http://h:1/v1beta/models/m:streamGenerateContent"),
        (
            "http://h:1",
            "tunedModels/t-1",
            "http://h:1/v1beta/tunedModels/t-1:streamGenerateContent",
        ),
    ],
)
def test_gemini_urls(base: str, model: str, url: str) -> None:
    config = ProviderConfig(kind="gemini", base_url=base)
    http = get_provider(config).build_request(
        config, Request(model=model, messages=[Message.user("hi")])
    )
    assert http.url == url
    assert "x-goog-api-key" not in http.headers  # no key configured, none sent


def test_vertex_uses_the_project_location_and_a_bearer_token() -> None:
    base = "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1"
    config = ProviderConfig(kind="vertex", base_url=base, api_key="ya29.token")
    provider = get_provider(config)
    http = provider.build_request(
        config, Request(model="gemini-2.5-pro", messages=[Message.user("hi")])
    )
    assert http.url == base + "/publishers/google/models/gemini-2.5-pro:streamGenerateContent"
    assert http.params == {"alt": "sse"}
    assert http.headers["authorization"] == "Bearer ya29.token"
    assert "x-goog-api-key" not in http.headers
    listing = provider.models_request(config)
    assert (
        listing.url
        == "https://us-central1-aiplatform.googleapis.com/v1beta1/publishers/google/models"
    )
    with pytest.raises(ConfigError, match="base_url"):
        unset = ProviderConfig(kind="vertex")
        provider.build_request(unset, Request(model="m", messages=[Message.user("hi")]))


def test_model_listing() -> None:
    config = ProviderConfig(kind="gemini", api_key=KEY)
    provider = get_provider(config)
    listing = provider.models_request(config)
    assert listing.url == "https://generativelanguage.googleapis.com/v1beta/models"
    assert listing.headers["x-goog-api-key"] == KEY
    models = provider.parse_models(
        {
            "models": [
                {"name": "models/gemini-2.5-flash", "inputTokenLimit": 1048576},
                {"displayName": "no name"},
            ]
        }
    )
    assert [(m.id, m.context_window) for m in models] == [("gemini-2.5-flash", 1048576)]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, {"error": {"details": [{"retryDelay": "17s"}]}}, "17.0"),
        ({}, {"error": {"details": [{"retryDelay": "0.25s"}]}}, "0.25"),
        ({"retry-after": "3"}, {"error": {"details": [{"retryDelay": "17s"}]}}, "3"),
        ({}, {"error": {"details": [{"retryDelay": "soon"}]}}, None),
        ({}, {"error": {"details": "x"}}, None),
    ],
)
def test_retry_delay_in_the_body_becomes_retry_after(
    headers: dict[str, str], body: dict[str, Any], expected: str | None
) -> None:
    provider = get_provider(ProviderConfig(kind="gemini"))
    out = provider.retry_headers(headers, json.dumps(body).encode())
    assert out.get("retry-after") == expected
    assert provider.retry_headers({}, b"not json") == {}


def test_retry_delay_parser() -> None:
    assert retry_delay({"error": {"details": [{"retryDelay": "1.5s"}]}}) == 1.5
    assert retry_delay({"error": {"details": [{"retryDelay": "-1s"}]}}) is None
    assert retry_delay({"error": "x"}) is None


def test_made_up_ids_are_never_sent_back() -> None:
    out = decode(gemini_sse([chunk({"functionCall": {"name": "f", "args": {}}}, finish="STOP")]))
    (call,) = out.message.tool_calls
    body = format_request(
        Request(
            model="m",
            messages=[
                Message.user("x"),
                Message.from_reply(out.message),
                Message.tool_result(call.id, "done"),
            ],
        )
    )
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "f", "args": {}}}]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"output": "done"}}}
    ]


def test_thinking_deltas_are_typed() -> None:
    out = decode(gemini_sse([chunk({"text": "hm", "thought": True}, finish="STOP")]))
    assert out.of_type(ThinkingDelta) == [ThinkingDelta(0, "hm")]
