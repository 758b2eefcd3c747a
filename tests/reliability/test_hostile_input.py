"""Hostile input: random bytes and random structures into every parser and converter.

Hypothesis drives:

* the SSE decoder with random field lines, line endings and split points,
  and the provider decoders with *structured* garbage: real event shapes
  (Anthropic events, OpenAI chunks, Gemini responses) whose fields are replaced, at a random
  depth, by random JSON values (wrong types, huge or negative numbers,
  nested junk), framed as valid SSE and split at random points;
* the tool-call JSON assembly (``parse_arguments`` and the ``Accumulator``)
  with random fragments and random, out-of-order event sequences;
* the request converters (``format_request`` of both wire formats, every
  OpenAI-compatible preset, and ``build_request``) with random requests.

The only exceptions allowed are the typed ones of ``synapsis_actors.errors``;
every run is bounded (``deadline``) so a hang or a quadratic blow-up fails,
and sizes are capped so memory stays bounded. Bad configuration values
(ProviderConfig, Request, ChildSpec, Supervisor) fail at construction with a
``ConfigError`` naming the field.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synapsis_actors as sa
from synapsis_actors.errors import ConfigError, InvalidStreamData, SynapsisError
from synapsis_actors.model.accumulator import Accumulator, parse_arguments
from synapsis_actors.model.config import KINDS
from synapsis_actors.wire import get_provider
from synapsis_actors.wire.anthropic import AnthropicDecoder, AnthropicProvider
from synapsis_actors.wire.gemini import GeminiDecoder, GeminiProvider
from synapsis_actors.wire.openai import OpenAIDecoder
from synapsis_actors.wire.profiles import PROFILES
from synapsis_actors.wire.sse import SSEDecoder

FAST = settings(
    max_examples=150,
    deadline=2000,  # ms per example: a hang or a blow-up fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text a JSON request can carry (lone surrogates cannot be encoded as UTF-8).
text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)

# ----------------------------------------------------------------- event shapes

ANTHROPIC_EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "model": "m",
            "role": "assistant",
            "content": [],
            "usage": {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": 0},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "t1", "name": "get", "input": {}},
    },
    {"type": "content_block_start", "index": 2, "content_block": {"type": "thinking"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"a": '},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "thinking_delta", "thinking": "h"},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "signature_delta", "signature": "s"},
    },
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
    {"type": "message_stop"},
    {"type": "ping"},
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
]

OPENAI_CHUNKS: list[dict[str, Any]] = [
    {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}],
    },
    {"choices": [{"index": 0, "delta": {"reasoning_content": "hmm", "reasoning": "h"}}]},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get", "arguments": '{"a"'},
                        }
                    ]
                },
            }
        ]
    },
    {
        "choices": [
            {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}
        ]
    },
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
    {"error": {"message": "boom", "type": "server_error", "code": 500}},
    {"object": "error", "message": "bad", "type": "BadRequestError", "code": 400},
    {"choices": [{"index": 1, "delta": {"content": "second choice"}}]},
]


GEMINI_CHUNKS: list[dict[str, Any]] = [
    {
        "candidates": [{"content": {"parts": [{"text": "hm", "thought": True}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 3, "thoughtsTokenCount": 2},
        "responseId": "r",
        "modelVersion": "m",
    },
    {"candidates": [{"content": {"parts": [{"text": "hi", "thoughtSignature": "c2ln"}]}}]},
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "functionCall": {"name": "f", "args": {"a": 1}},
                            "thoughtSignature": "c2ln",
                        },
                        {"functionCall": {"name": "f", "args": {}, "id": "x"}},
                    ]
                }
            }
        ]
    },
    {
        "candidates": [
            {"content": {"parts": [{"functionCall": {"name": "g", "willContinue": True}}]}}
        ]
    },
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "functionCall": {
                                "partialArgs": [
                                    {
                                        "jsonPath": "$.a[1].b",
                                        "stringValue": "v",
                                        "willContinue": True,
                                    }
                                ],
                                "willContinue": True,
                            }
                        }
                    ]
                }
            }
        ]
    },
    {"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]},
    {"candidates": [{"content": {"parts": [{"executableCode": {"code": "1"}}]}}]},
    {"candidates": [{"finishReason": "STOP", "groundingMetadata": {"x": 1}}]},
    {"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": "bad"}]},
    {"promptFeedback": {"blockReason": "SAFETY"}},
    {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [{"retryDelay": "1s"}]}},
]


@st.composite
def mutated(draw: st.DrawFn, templates: list[dict[str, Any]]) -> dict[str, Any]:
    """A real event shape with one value, at a random depth, replaced by random JSON."""
    event = copy.deepcopy(draw(st.sampled_from(templates)))
    node: Any = event
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        node[key] = draw(json_value)
        break
    return event


def anthropic_body(events: list[dict[str, Any]], newline: str) -> bytes:
    out = []
    for event in events:
        name = event.get("type") if isinstance(event.get("type"), str) else "message"
        name = name.replace("\r", "").replace("\n", "")
        out.append(f"event: {name}{newline}data: {json.dumps(event)}{newline}{newline}")
    return "".join(out).encode("utf-8", "surrogatepass")


def openai_body(chunks: list[Any], newline: str, done: bool) -> bytes:
    out = [f"data: {json.dumps(chunk)}{newline}{newline}" for chunk in chunks]
    if done:
        out.append(f"data: [DONE]{newline}{newline}")
    return "".join(out).encode("utf-8", "surrogatepass")


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(body)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(body[start:point])
        start = point
    pieces.append(body[start:])
    return pieces


def drive(decoder: Any, chunks: list[bytes]) -> None:
    """Feed, close, read the message: only typed errors may come out."""
    try:
        for chunk in chunks:
            for c in decoder.feed(chunk):
                assert c.raw is None or isinstance(c.raw, dict)  # a lazy raw decodes
            if decoder.error is not None:
                break
        else:
            for c in decoder.close():
                assert c.raw is None or isinstance(c.raw, dict)
    except SynapsisError:
        pass
    message = decoder.message()  # always available, also after an error
    assert isinstance(message, sa.AssistantMessage)
    for call in message.tool_calls:
        assert call.input is None or isinstance(call.input, dict)
    assert decoder.error is None or isinstance(decoder.error, SynapsisError)


newlines = st.sampled_from(["\n", "\r\n", "\r"])
cut_points = st.lists(st.integers(min_value=0, max_value=4000), max_size=10)


@FAST
@given(
    events=st.lists(st.sampled_from(ANTHROPIC_EVENTS) | mutated(ANTHROPIC_EVENTS), max_size=14),
    newline=newlines,
    cuts=cut_points,
)
def test_anthropic_decoder_random_structures_only_typed_errors(
    events: list[dict[str, Any]], newline: str, cuts: list[int]
) -> None:
    drive(AnthropicDecoder("fuzz"), split(anthropic_body(events, newline), cuts))


@FAST
@given(
    chunks=st.lists(
        st.sampled_from(OPENAI_CHUNKS) | mutated(OPENAI_CHUNKS) | json_value, max_size=14
    ),
    newline=newlines,
    done=st.booleans(),
    cuts=cut_points,
    kind=st.sampled_from([k for k in KINDS if PROFILES[k].wire == "openai"]),
)
def test_openai_decoder_random_structures_only_typed_errors(
    chunks: list[Any], newline: str, done: bool, cuts: list[int], kind: str
) -> None:
    decoder = get_provider(sa.ProviderConfig(kind=kind)).decoder("fuzz")
    assert isinstance(decoder, OpenAIDecoder)
    drive(decoder, split(openai_body(chunks, newline, done), cuts))


@FAST
@given(
    chunks=st.lists(
        st.sampled_from(GEMINI_CHUNKS) | mutated(GEMINI_CHUNKS) | json_value, max_size=14
    ),
    newline=newlines,
    cuts=cut_points,
)
def test_gemini_decoder_random_structures_only_typed_errors(
    chunks: list[Any], newline: str, cuts: list[int]
) -> None:
    drive(GeminiDecoder("fuzz"), split(openai_body(chunks, newline, False), cuts))


field_line = st.one_of(
    st.builds(lambda v: f"data:{v}", text),
    st.builds(lambda v: f"event:{v}", text),
    st.builds(lambda v: f"id:{v}", text),
    st.builds(lambda v: f"retry:{v}", st.integers(-5, 10**12).map(str) | text),
    st.builds(lambda v: f":{v}", text),
    st.builds(lambda k, v: f"{k}:{v}", text, text),
    text,
    st.just(""),
)


@FAST
@given(
    lines=st.lists(field_line, max_size=40),
    newline=newlines,
    cuts=cut_points,
    limit=st.integers(min_value=1, max_value=300),
)
def test_sse_decoder_random_field_lines_bounded(
    lines: list[str], newline: str, cuts: list[int], limit: int
) -> None:
    body = newline.join(lines).encode("utf-8", "surrogatepass")
    decoder = SSEDecoder(max_line_size=limit, max_event_size=limit)
    events = []
    failure: InvalidStreamData | None = None
    try:
        for chunk in split(body, cuts):
            events += decoder.feed(chunk)
        events += decoder.close()
    except InvalidStreamData as exc:
        failure = exc
    if failure is not None:
        assert len(failure.received) <= 200  # the error carries a preview, not the line
        return
    # within the limits every event fits them: memory is bounded by the limits
    for event in events:
        assert len(event.data) <= limit
        assert "\r" not in event.event
        assert "\n" not in event.event


# ------------------------------------------------------------ tool-call assembly


@FAST
@given(fragments=st.lists(text | json_value.map(json.dumps), max_size=8), cut=st.integers(0, 200))
def test_tool_arguments_parse_to_an_object_or_a_reason(fragments: list[str], cut: int) -> None:
    joined = "".join(fragments)
    for candidate in (joined, joined[:cut]):
        value, error = parse_arguments(candidate, cut_off=bool(cut % 2))
        assert (value is None) != (error is None)
        if value is not None:
            assert isinstance(value, dict)
        else:
            assert isinstance(error, str)
            assert len(error) < 300  # the reason, not the payload


indices = st.integers(min_value=-3, max_value=5)
normalized_events = st.one_of(
    st.builds(sa.MessageStart, id=text, model=text),
    st.builds(sa.TextDelta, index=indices, text=text),
    st.builds(sa.ThinkingDelta, index=indices, text=text),
    st.builds(sa.ThinkingSignature, index=indices, signature=text),
    st.builds(sa.ToolCallStart, index=indices, id=text, name=text),
    st.builds(sa.ToolCallDelta, index=indices, arguments=text | json_value.map(json.dumps)),
    # as the decoders make them: input None exactly when error says why
    st.builds(
        sa.ToolCallEnd,
        index=indices,
        id=text,
        name=text,
        input=st.dictionaries(text, json_value, max_size=3),
    ),
    st.builds(sa.ToolCallEnd, index=indices, id=text, name=text, input=st.none(), error=text),
    st.builds(sa.UsageUpdate, usage=st.builds(sa.Usage)),
)


@FAST
@given(events=st.lists(normalized_events, max_size=30))
def test_accumulator_any_event_order_builds_a_message(events: list[Any]) -> None:
    acc = Accumulator()
    for event in events:
        acc.add(event)
    message = acc.message()
    assert isinstance(message, sa.AssistantMessage)
    # nothing is invented: the text only comes from the deltas that were sent
    # (a block keeps the kind of its first event, so a misplaced delta joins it)
    sent = sum(len(e.text) for e in events if type(e) in (sa.TextDelta, sa.ThinkingDelta))
    sent += sum(len(e.arguments) for e in events if type(e) is sa.ToolCallDelta)
    assert len(message.text) + len(message.thinking or "") <= sent
    for call in message.tool_calls:
        assert call.input is None or isinstance(call.input, dict)
        if call.input is None:
            assert call.error is not None


# ------------------------------------------------------------ request converters

parts = st.one_of(
    st.builds(sa.TextPart, text),
    st.builds(sa.ImagePart, media_type=text, data=st.none() | text, url=st.none() | text),
    st.builds(
        sa.ToolUsePart, id=text, name=text, input=st.dictionaries(text, json_value, max_size=3)
    ),
    st.builds(
        sa.ToolResultPart,
        tool_use_id=text,
        content=text | st.lists(st.builds(sa.TextPart, text), max_size=3).map(tuple),
        is_error=st.booleans(),
    ),
    st.builds(sa.ThinkingPart, text, signature=st.none() | text, redacted=st.booleans()),
)
messages = st.builds(
    sa.Message, role=st.sampled_from(["user", "assistant"]), content=st.lists(parts, max_size=4)
)
tools = st.builds(
    sa.Tool,
    name=text.filter(bool),
    description=text,
    input_schema=st.dictionaries(text, json_value, max_size=4),
)
requests = st.builds(
    sa.Request,
    model=text.filter(bool),
    messages=st.lists(messages, max_size=4),
    system=st.none() | text,
    tools=st.lists(tools, max_size=3),
    max_tokens=st.none() | st.integers(min_value=1, max_value=10**6),
    temperature=st.none() | st.floats(min_value=0, max_value=2),
    top_p=st.none() | st.floats(min_value=0, max_value=1),
    stop=st.lists(text, max_size=3),
    tool_choice=st.none() | st.sampled_from(["auto", "any", "none"]) | text,
    thinking_budget=st.none() | st.integers(min_value=1, max_value=10**6),
    extra=st.dictionaries(text, json_value, max_size=3),
)


def wire_json(body: Any) -> bytes:
    # exactly what httpx does with ``json=``: a request it cannot send is a bug
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@FAST
@given(request=requests, kind=st.sampled_from(KINDS))
def test_request_converters_take_any_request(request: sa.Request, kind: str) -> None:
    config = sa.ProviderConfig(kind=kind, api_key="k-fuzz", base_url="http://127.0.0.1:9")
    provider = get_provider(config)
    refusal: ConfigError | None = None
    try:
        body = provider.format_request(request)
        spec = provider.build_request(config, request)
    except ConfigError as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.field  # a refusal names what it refuses
        return
    assert isinstance(body, dict)
    assert wire_json(body)
    assert wire_json(spec.json)
    assert spec.url.startswith("http://127.0.0.1:9")
    if isinstance(provider, AnthropicProvider):
        assert body["model"] == request.model
    elif isinstance(provider, GeminiProvider):
        assert all(isinstance(c, dict) for c in body["contents"])
        assert spec.params == {"alt": "sse"}
    else:
        assert all(isinstance(m, dict) for m in body["messages"])


# ------------------------------------------------------------ bad configuration

BAD_CONFIGS = [
    (lambda: sa.ProviderConfig(kind="nope"), "kind"),
    (lambda: sa.ProviderConfig(kind="openai", base_url="ftp://x"), "base_url"),
    (lambda: sa.ProviderConfig(kind="openai", api_key=""), "api_key"),
    (lambda: sa.ProviderConfig(kind="openai", api_key="a\nb"), "api_key"),
    (lambda: sa.ProviderConfig(kind="openai", api_key=123), "api_key"),  # type: ignore[arg-type]
    (lambda: sa.ProviderConfig(kind="openai", headers={"x": "a\r\nb"}), "headers"),
    (lambda: sa.ProviderConfig(kind="openai", verify=3), "verify"),  # type: ignore[arg-type]
    (lambda: sa.ProviderConfig(kind="openai", connect_timeout=0), "connect_timeout"),
    (lambda: sa.ProviderConfig(kind="openai", first_event_timeout=-1), "first_event_timeout"),
    (lambda: sa.ProviderConfig(kind="openai", idle_timeout=math.nan), "idle_timeout"),
    (lambda: sa.ProviderConfig(kind="openai", max_retries=-1), "max_retries"),
    (lambda: sa.ProviderConfig(kind="openai", max_retries=True), "max_retries"),
    (lambda: sa.ProviderConfig(kind="openai", max_retry_delay=0), "max_retry_delay"),
    (lambda: sa.ChildSpec("w", "not callable"), "start"),  # type: ignore[arg-type]
    (lambda: sa.ChildSpec("w", _noop, restart="sometimes"), "restart"),  # type: ignore[arg-type]
    (lambda: sa.ChildSpec("w", _noop, shutdown=-1), "shutdown"),
    (lambda: sa.ChildSpec("w", _noop, args=[1]), "args"),  # type: ignore[arg-type]
    (lambda: sa.ChildSpec([], _noop), "id"),
    (lambda: sa.Supervisor([], strategy="random"), "strategy"),  # type: ignore[arg-type]
    (lambda: sa.Supervisor([], max_restarts=-1), "max_restarts"),
    (lambda: sa.Supervisor([], max_seconds=0), "max_seconds"),
    (lambda: sa.Supervisor([sa.ChildSpec("a", _noop), sa.ChildSpec("a", _noop)]), "id"),
    (lambda: sa.Supervisor(["x"]), "children[0]"),  # type: ignore[list-item]
    (lambda: sa.Request(model="", messages=[]), "model"),
    (lambda: sa.Request(model=5, messages=[]), "model"),  # type: ignore[arg-type]
    (lambda: sa.Request(model="m", messages=["hi"]), "messages"),  # type: ignore[list-item]
    (lambda: sa.Request(model="m", messages=[], max_tokens=0), "max_tokens"),
    (lambda: sa.Request(model="m", messages=[], max_tokens=1.5), "max_tokens"),  # type: ignore[arg-type]
    (lambda: sa.Request(model="m", messages=[], temperature=math.nan), "temperature"),
    (lambda: sa.Request(model="m", messages=[], temperature=-0.1), "temperature"),
    (lambda: sa.Request(model="m", messages=[], top_p=1.5), "top_p"),
    (lambda: sa.Request(model="m", messages=[], tools=[{"name": "t"}]), "tools"),  # type: ignore[list-item]
    (lambda: sa.Request(model="m", messages=[], stop=[1]), "stop"),  # type: ignore[list-item]
    (lambda: sa.Request(model="m", messages=[], system=["x"]), "system"),  # type: ignore[arg-type]
    (lambda: sa.Request(model="m", messages=[], thinking_budget=-5), "thinking_budget"),
    (lambda: sa.Request(model="m", messages=[], extra={1: 2}), "extra"),  # type: ignore[dict-item]
]


async def _noop(task_status: Any = None) -> None:
    return None


@pytest.mark.parametrize(("build", "field"), BAD_CONFIGS, ids=[f for _, f in BAD_CONFIGS])
def test_bad_values_fail_at_construction_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
