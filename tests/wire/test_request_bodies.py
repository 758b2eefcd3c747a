"""Request bodies on every kind, held against the vendors' own request types and rules.

For a matrix of conversations (multi-turn tool loops with several calls and
results, errors and images in results, signed and redacted thinking, server
tool blocks, MCP-style tool names, documents) and every request option,
each kind's body is:

* validated strictly against the official SDK's request TypedDict
  (``sdk_types.validate_body``: no unknown key, every lazily validated list
  consumed, nothing changed by validation);
* checked for the rules a type cannot state, by the same code the embedded
  provider answers 400 with (``synapsis_actors.embedded.validate``): tool
  calls and results paired and in order, names the vendor accepts, no empty
  turn, system placement; plus signatures sent back byte-identical and no
  API key anywhere in the body;
* or refused with a ``ConfigError`` naming the field, exactly where the
  kind has no way to carry the option (the table in docs/providers.md).

Round trips through the embedded provider close the loop: a streamed reply,
``Request.continued`` with the tool results, the next body valid again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest
import trio

import synapsis_actors as sa
from synapsis_actors import ConfigError, get_provider
from synapsis_actors.embedded import validate
from synapsis_actors.model.config import KINDS
from synapsis_actors.wire.profiles import PROFILES
from synapsis_actors.wire.toolnames import encode_tool_name

from .sdk_types import validate_body

SECRET = "sk-matrix-secret-0123456789"
PNG = "iVBORw0KGgo="
PDF = "JVBERi0xLjQK"
WEATHER = sa.Tool(
    "get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}
)
MCP = sa.Tool("github.create_issue", "MCP tool", {"type": "object", "properties": {}})
ODD = sa.Tool("Suche nach Wörtern / v2", "non-ASCII, spaces, a slash")
SIGNATURE = "EqQBCkYIBxgCKkBzQ+/==\n exact bytes \u00e9"
#: Gemini's thought signatures are base64 (google-genai types them as bytes).
GEMINI_SIGNATURE = "CiQBcsjafE+/9Tk0aW5n/w=="


def _config(kind: str) -> sa.ProviderConfig:
    extra: dict[str, Any] = {}
    if kind == "azure":
        extra = {"base_url": "https://x.openai.azure.com/openai/deployments/d", "api_version": "v"}
    if kind == "vertex":
        extra = {
            "base_url": "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l"
        }
    return sa.ProviderConfig(kind=kind, api_key=SECRET, **extra)


def _loop(signature: str = SIGNATURE) -> list[sa.Message]:
    """Two rounds of tools: several calls, an error, an image and a document in results."""
    return [
        sa.Message.user("Weather in Paris and Rome? Also file an issue."),
        sa.Message.assistant(
            [
                sa.ThinkingPart("Two cities, one issue.", signature),
                sa.TextPart("Checking."),
                sa.ToolUsePart("call_1", "get_weather", {"city": "Paris"}),
                sa.ToolUsePart("call_2", "get_weather", {"city": "Rome"}),
                sa.ToolUsePart("call_3", "github.create_issue", {"title": "x"}),
            ]
        ),
        sa.Message.user(
            [
                # text first on purpose: the Anthropic wire must put results first
                sa.TextPart("Here you go."),
                sa.ToolResultPart("call_1", "18C"),
                sa.ToolResultPart(
                    "call_2", (sa.TextPart("radar:"), sa.ImagePart("image/png", data=PNG))
                ),
                sa.ToolResultPart("call_3", "permission denied", is_error=True),
            ]
        ),
        sa.Message.assistant(
            [
                sa.ThinkingPart("opaque", redacted=True),
                sa.ToolUsePart("call_4", "Suche nach Wörtern / v2", {}),
            ]
        ),
        sa.Message.tool_result("call_4", "nothing found"),
    ]


def _with_server_blocks() -> list[sa.Message]:
    """A pause_turn reply with Anthropic server-tool blocks, sent back to continue."""
    return [
        sa.Message.user("Search the web."),
        sa.Message.assistant(
            [
                sa.RawBlockPart(
                    "anthropic",
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "q"},
                    },
                ),
                sa.RawBlockPart(
                    "anthropic",
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": [
                            {
                                "type": "web_search_result",
                                "url": "https://e.x",
                                "title": "t",
                                "encrypted_content": "e",
                            }
                        ],
                    },
                ),
                sa.TextPart("Found it."),
            ]
        ),
        sa.Message.user("Thanks."),
    ]


def _media() -> list[sa.Message]:
    return [
        sa.Message.user(
            [
                sa.TextPart("Compare these."),
                sa.ImagePart("image/jpeg", data=PNG),
                sa.ImagePart(url="https://e.x/cat.png"),
                sa.DocumentPart(data=PDF, title="report.pdf"),
            ]
        )
    ]


def test_documents_by_url_go_to_anthropic_and_are_refused_by_chat_completions() -> None:
    request = sa.Request(
        model="m", messages=[sa.Message.user([sa.DocumentPart(url="https://e.x/r.pdf")])]
    )
    body = get_provider(_config("anthropic")).format_request(request)
    validate_body("anthropic", "anthropic", body)
    assert body["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "url", "url": "https://e.x/r.pdf"}}
    ]
    with pytest.raises(ConfigError) as info:
        get_provider(_config("openai")).format_request(request)
    assert info.value.field == "url"


def _reasoning_only(signature: str = SIGNATURE) -> list[sa.Message]:
    """A reply cut off while reasoning, sent back (signed, as Anthropic gives it)."""
    reply = sa.AssistantMessage(
        thinking="Let me think",
        blocks=(sa.ThinkingPart("Let me think", signature),),
        stop_reason="max_tokens",
    )
    return [
        sa.Message.user("Hard question"),
        sa.Message.from_reply(reply),
        sa.Message.user("Go on"),
    ]


#: name -> the conversation, given the thought signature the kind's vendor writes.
CONVERSATIONS: dict[str, Callable[[str], list[sa.Message]]] = {
    "one_turn": lambda _: [sa.Message.user("Hi")],
    "dict_text_part": lambda _: [sa.Message.user([{"type": "text", "text": "Hi"}])],
    "tool_loop": _loop,
    "server_blocks": lambda _: _with_server_blocks(),
    "media": lambda _: _media(),
    "reasoning_only": _reasoning_only,
}

#: Every kind: bodies validated against the anthropic, openai and google-genai SDK types.
MATRIX_KINDS = KINDS
ALL = frozenset(MATRIX_KINDS)
OPENAI_WIRE = frozenset(k for k in KINDS if PROFILES[k].wire == "openai")
GEMINI_WIRE = frozenset(k for k in KINDS if PROFILES[k].wire == "gemini")


def _kinds(predicate: Callable[[str], bool]) -> frozenset[str]:
    return frozenset(k for k in MATRIX_KINDS if predicate(k))


#: option -> (Request keyword arguments, the kinds that can carry it)
OPTIONS: dict[str, tuple[dict[str, Any], frozenset[str]]] = {
    "plain": ({}, ALL),
    "system_text": ({"system": "Be brief.", "stop": "END"}, ALL),
    "system_cached": (
        {"system": (sa.TextPart("Long policy", cache_ttl="1h"),)},
        _kinds(lambda k: k == "anthropic" or PROFILES[k].cache_control),
    ),
    "tools_cached": (
        {"tools": (sa.Tool("t", cache_ttl="5m"),)},
        frozenset({"anthropic"}),
    ),
    # Gemini has no setting to forbid parallel calls (True is its default).
    "tool_choice_any_serial": (
        {"tool_choice": "any", "parallel_tool_calls": False},
        ALL - GEMINI_WIRE,
    ),
    "tool_choice_named": ({"tool_choice": "github.create_issue"}, ALL),
    "tool_choice_none": ({"tool_choice": "none"}, ALL),
    "tool_choice_auto_parallel": ({"tool_choice": "auto", "parallel_tool_calls": True}, ALL),
    "structured_output": (
        {
            "output_schema": sa.JsonSchema(
                {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "required": ["a"],
                    "additionalProperties": False,
                },
                name="answer",
            )
        },
        _kinds(lambda k: k == "anthropic" or PROFILES[k].json_schema),
    ),
    "thinking_budget": ({"thinking_budget": 2048, "max_tokens": 4096}, ALL),
    "effort_high": (
        {"reasoning_effort": "high"},
        _kinds(lambda k: "high" in PROFILES[k].reasoning_efforts),
    ),
    "effort_minimal": (
        {"reasoning_effort": "minimal"},
        _kinds(lambda k: "minimal" in PROFILES[k].reasoning_efforts),
    ),
    **{
        f"effort_{level}": (
            {"reasoning_effort": level},
            _kinds(lambda k, level=level: level in PROFILES[k].reasoning_efforts),
        )
        for level in ("none", "low", "medium", "xhigh", "max")
    },
    "adaptive_thinking": ({"adaptive_thinking": True}, frozenset({"anthropic"}) | GEMINI_WIRE),
    "user_id": (
        {"user_id": "user-7f3a"},
        _kinds(lambda k: k == "anthropic" or PROFILES[k].user_field),
    ),
    "metadata": ({"metadata": {"run": "42"}}, _kinds(lambda k: PROFILES[k].metadata)),
    "cache_key": ({"cache_key": "tenant-1"}, _kinds(lambda k: PROFILES[k].cache_key_field)),
    "sampling": ({"temperature": 0.2, "top_p": 0.9, "max_tokens": 300}, ALL),
}

#: Conversations a kind refuses whatever the options (the field the refusal names).
#: The Gemini API has no field for a document's title (Vertex AI has).
REFUSED_CONVERSATIONS: dict[tuple[str, str], str] = {("gemini", "media"): "title"}


def _request(conversation: str, option: str, kind: str) -> sa.Request:
    kwargs = dict(OPTIONS[option][0])
    kwargs.setdefault("tools", (WEATHER, MCP, ODD))
    if option == "tools_cached":
        kwargs["tools"] = (WEATHER, MCP, sa.Tool("t", cache_ttl="5m"))
    signature = GEMINI_SIGNATURE if kind in GEMINI_WIRE else SIGNATURE
    return sa.Request(model="m", messages=CONVERSATIONS[conversation](signature), **kwargs)


def _cases() -> list[tuple[str, str, str]]:
    return [(k, c, o) for k in MATRIX_KINDS for c in CONVERSATIONS for o in OPTIONS]


def _check_rules(kind: str, request: sa.Request, body: dict[str, Any]) -> None:
    wire = PROFILES[kind].wire
    found = validate.problem(wire, body)
    assert found is None, found
    text = json.dumps(body)
    assert SECRET not in text
    if wire == "anthropic":
        assert all(m["role"] in ("user", "assistant") for m in body["messages"])
        assert ("system" in body) == bool(request.system)
        signatures = [
            b["signature"]
            for m in body["messages"]
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "thinking"
        ]
        sent = [
            p.signature
            for m in request.messages
            for p in m.content
            if isinstance(p, sa.ThinkingPart) and p.signature and not p.redacted
        ]
        assert signatures == sent  # byte-identical, in order
    elif wire == "gemini":
        _check_gemini_rules(request, body)
    else:
        roles = [m["role"] for m in body["messages"]]
        assert "system" not in roles[1:]
        assert (roles[:1] == ["system"]) == bool(request.system)
        if PROFILES[kind].reasoning_echo:
            echoed = [
                m.get("reasoning_content") for m in body["messages"] if m["role"] == "assistant"
            ]
            assert any(echoed) or not any(
                isinstance(p, sa.ThinkingPart) and not p.redacted
                for m in request.messages
                for p in m.content
            )


def _check_gemini_rules(request: sa.Request, body: dict[str, Any]) -> None:
    """systemInstruction apart, the signatures back byte-identical and in order."""
    assert ("systemInstruction" in body) == bool(request.system)
    assert all(c["role"] in ("user", "model") for c in body["contents"])
    sent = [p.get("thoughtSignature") for c in body["contents"] for p in c["parts"]]
    signed = [
        p.signature
        for m in request.messages
        for p in m.content
        if isinstance(p, sa.TextPart | sa.ToolUsePart | sa.ThinkingPart)
        and not (isinstance(p, sa.ThinkingPart) and p.redacted)
        and p.signature
    ]
    assert [s for s in sent if s is not None] == signed


@pytest.mark.parametrize(("kind", "conversation", "option"), _cases())
def test_body_is_what_the_vendor_accepts(kind: str, conversation: str, option: str) -> None:
    request = _request(conversation, option, kind)
    config = _config(kind)
    provider = get_provider(config)
    supported = kind in OPTIONS[option][1]
    refused_as = REFUSED_CONVERSATIONS.get((kind, conversation))
    if not supported or refused_as:
        with pytest.raises(ConfigError) as info:
            provider.build_request(config, request)
        expected = refused_as or next(iter(_option_fields(option)))
        assert info.value.field.split(".")[-1] in (_option_fields(option) | {expected}), info.value
        return
    http = provider.build_request(config, request)
    assert http.json is not None
    validate_body(kind, PROFILES[kind].wire, http.json)
    _check_rules(kind, request, http.json)


def _option_fields(option: str) -> set[str]:
    """The field names a refusal of ``option`` may name."""
    kwargs = OPTIONS[option][0]
    fields = set(kwargs)
    if any(
        isinstance(v, tuple) and any(getattr(p, "cache_ttl", None) for p in v)
        for v in kwargs.values()
    ):
        fields.add("cache_ttl")
    return fields


@pytest.mark.parametrize("kind", sorted(OPENAI_WIRE))
def test_inline_documents_and_image_detail_on_chat_completions(kind: str) -> None:
    request = sa.Request(
        model="m",
        messages=[
            sa.Message.user(
                [
                    sa.TextPart("Read this."),
                    sa.DocumentPart(data=PDF, title="r.pdf"),
                    sa.ImagePart("image/png", data=PNG, detail="high"),
                ]
            )
        ],
    )
    body = get_provider(_config(kind)).format_request(request)
    validate_body(kind, "openai", body)
    content = body["messages"][0]["content"]
    assert content[1] == {
        "type": "file",
        "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "r.pdf"},
    }
    assert content[2]["image_url"] == {"url": f"data:image/png;base64,{PNG}", "detail": "high"}


def test_image_detail_is_refused_where_no_field_carries_it() -> None:
    request = sa.Request(
        model="m", messages=[sa.Message.user([sa.ImagePart(url="https://e.x/a.png", detail="low")])]
    )
    with pytest.raises(ConfigError) as info:
        get_provider(_config("anthropic")).format_request(request)
    assert info.value.field == "messages[0].detail"


@pytest.mark.parametrize("kind", sorted(GEMINI_WIRE))
def test_gemini_documents_image_detail_and_structured_output(kind: str) -> None:
    request = sa.Request(
        model="m",
        messages=[
            sa.Message.user(
                [
                    sa.TextPart("Read these."),
                    sa.DocumentPart(data=PDF),
                    sa.DocumentPart(url="gs://b/r.pdf"),
                    sa.ImagePart("image/png", data=PNG, detail="high"),
                    sa.ImagePart(url="https://e.x/a.png", detail="low"),
                    sa.ImagePart(url="https://e.x/b.png", detail="auto"),
                ]
            )
        ],
        output_schema=sa.JsonSchema({"type": "object"}),
        reasoning_effort="low",
        metadata={"team": "search", "run": "42"},
    )
    body = get_provider(_config(kind)).format_request(request)
    validate_body(kind, "gemini", body)
    assert body["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/r.pdf"}},
        {
            "inlineData": {"mimeType": "image/png", "data": PNG},
            "mediaResolution": {"level": "MEDIA_RESOLUTION_HIGH"},
        },
        {
            "fileData": {"mimeType": "image/png", "fileUri": "https://e.x/a.png"},
            "mediaResolution": {"level": "MEDIA_RESOLUTION_LOW"},
        },
        {"fileData": {"mimeType": "image/png", "fileUri": "https://e.x/b.png"}},
    ]
    assert body["generationConfig"] == {
        "thinkingConfig": {"thinkingLevel": "LOW", "includeThoughts": True},
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
    }
    assert body["labels"] == {"team": "search", "run": "42"}


def test_gemini_tool_choice_modes_and_adaptive_thinking() -> None:
    provider = get_provider(_config("gemini"))

    def body(**kwargs: Any) -> dict[str, Any]:
        request = sa.Request(model="m", messages=[sa.Message.user("q")], tools=(WEATHER, MCP))
        return provider.format_request(attrs.evolve(request, **kwargs))

    modes = {
        choice: body(tool_choice=choice)["toolConfig"]["functionCallingConfig"]
        for choice in ("auto", "any", "required", "none", MCP.name)
    }
    assert modes == {
        "auto": {"mode": "AUTO"},
        "any": {"mode": "ANY"},
        "required": {"mode": "ANY"},
        "none": {"mode": "NONE"},
        MCP.name: {"mode": "ANY", "allowedFunctionNames": [encode_tool_name(MCP.name)]},
    }
    # parallel calls are Gemini's default: True asks for nothing more
    assert "toolConfig" not in body(parallel_tool_calls=True)
    thinking = body(adaptive_thinking=True)["generationConfig"]["thinkingConfig"]
    assert thinking == {"thinkingBudget": -1, "includeThoughts": True}  # dynamic thinking


def test_a_document_title_goes_to_vertex_and_is_refused_by_the_gemini_api() -> None:
    request = sa.Request(
        model="m", messages=[sa.Message.user([sa.DocumentPart(data=PDF, title="r.pdf")])]
    )
    body = get_provider(_config("vertex")).format_request(request)
    validate_body("vertex", "gemini", body)
    assert body["contents"][0]["parts"][0]["inlineData"]["displayName"] == "r.pdf"
    with pytest.raises(ConfigError) as info:
        get_provider(_config("gemini")).format_request(request)
    assert info.value.field == "messages[0].title"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"user_id": "u-1"}, "user_id"),
        ({"cache_key": "tenant"}, "cache_key"),
        ({"metadata": {"Run": "42"}}, "metadata"),
        ({"reasoning_effort": "none"}, "reasoning_effort"),
        ({"reasoning_effort": "high", "thinking_budget": 1024}, "reasoning_effort"),
        ({"system": (sa.TextPart("p", cache_ttl="5m"),)}, "text.cache_ttl"),
        ({"tools": (sa.Tool("t", cache_ttl="1h"),)}, "tools.cache_ttl"),
        (
            {"messages": [sa.Message.user([sa.ImagePart(data=PNG, cache_ttl="5m")])]},
            "messages[0].image.cache_ttl",
        ),
        (
            {
                "messages": [
                    sa.Message.user("q"),
                    sa.Message.assistant([sa.ThinkingPart("t", SIGNATURE)]),
                ]
            },
            "messages[1].signature",
        ),
        (
            {
                "messages": [
                    sa.Message.user("q"),
                    sa.Message.assistant([sa.ThinkingPart("t", redacted=True)]),
                ]
            },
            "messages[1]",
        ),
        ({"messages": [sa.Message.user([sa.ToolUsePart("x", "t")])]}, "messages[0]"),
    ],
)
def test_gemini_refuses_what_it_cannot_carry_naming_the_field(
    kwargs: dict[str, Any], field: str
) -> None:
    kwargs.setdefault("messages", [sa.Message.user("q")])
    for kind in sorted(GEMINI_WIRE):
        with pytest.raises(ConfigError) as info:
            get_provider(_config(kind)).format_request(sa.Request(model="m", **kwargs))
        assert info.value.field == field, info.value


def test_gemini_per_request_headers_follow_the_config_headers() -> None:
    config = _config("gemini")
    request = sa.Request(model="m", messages=[sa.Message.user("q")], headers={"x-trace": "t-1"})
    http = get_provider(config).build_request(config, request)
    assert http.headers["x-trace"] == "t-1"
    assert http.headers["x-goog-api-key"] == SECRET


# ------------------------------------------------------------ the listed bugs, one by one


def test_tool_results_stay_consecutive_with_images_after_the_run() -> None:
    body = get_provider(_config("openai")).format_request(sa.Request(model="m", messages=_loop()))
    roles = [m["role"] for m in body["messages"]]
    assert roles == [
        "user",
        "assistant",
        "tool",
        "tool",
        "tool",
        "user",
        "user",
        "assistant",
        "tool",
    ]
    assert body["messages"][5]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    ]
    assert body["messages"][6]["content"] == "Here you go."


def test_mcp_tool_names_are_encoded_for_anthropic_and_decoded_back() -> None:
    from synapsis_actors.wire.anthropic import AnthropicDecoder
    from synapsis_actors.wire.toolnames import encode_tool_name

    body = get_provider(_config("anthropic")).format_request(
        sa.Request(model="m", messages=_loop(), tools=(WEATHER, MCP, ODD), tool_choice=MCP.name)
    )
    names = [t["name"] for t in body["tools"]]
    assert names == ["get_weather", encode_tool_name(MCP.name), encode_tool_name(ODD.name)]
    assert body["tool_choice"] == {"type": "tool", "name": encode_tool_name(MCP.name)}
    decoder = AnthropicDecoder()
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "t1", "name": names[1], "input": {}},
    }
    decoder.feed(f"event: content_block_start\ndata: {json.dumps(start)}\n\n".encode())
    assert decoder.message().tool_calls[0].name == "github.create_issue"


def test_anthropic_user_turn_puts_tool_results_first() -> None:
    body = get_provider(_config("anthropic")).format_request(
        sa.Request(model="m", messages=_loop())
    )
    kinds = [b["type"] for b in body["messages"][2]["content"]]
    assert kinds == ["tool_result", "tool_result", "tool_result", "text"]


def test_deepseek_gets_its_reasoning_back_in_a_tool_loop() -> None:
    reply = sa.AssistantMessage(
        thinking="Need the weather.",
        blocks=(
            sa.ThinkingPart("Need the weather."),
            sa.ToolUsePart("call_1", "get_weather", {"city": "Paris"}),
        ),
        tool_calls=(sa.ToolCall("call_1", "get_weather", {"city": "Paris"}),),
    )
    request = sa.Request(model="deepseek-chat", messages=[sa.Message.user("Paris?")]).continued(
        reply, {"call_1": "18C"}
    )
    for kind, echoed in (("deepseek", True), ("openai", False)):
        body = get_provider(_config(kind)).format_request(request)
        assistant = body["messages"][1]
        assert ("reasoning_content" in assistant) is echoed
        if echoed:
            assert assistant["reasoning_content"] == "Need the weather."


def test_a_reasoning_only_reply_is_sent_back_as_a_valid_turn() -> None:
    unsigned = sa.AssistantMessage(thinking="hmm", blocks=(sa.ThinkingPart("hmm"),))
    request = sa.Request(
        model="m",
        messages=[sa.Message.user("q"), sa.Message.from_reply(unsigned), sa.Message.user("go on")],
    )
    body = get_provider(_config("openai")).format_request(request)
    assert body["messages"][1] == {"role": "assistant", "content": ""}
    validate_body("openai", "openai", body)
    assert validate.problem("openai", body) is None
    # Anthropic takes no unsigned reasoning: the turn would be empty, which it refuses
    with pytest.raises(ConfigError) as info:
        get_provider(_config("anthropic")).format_request(request)
    assert info.value.field == "messages[1]"


def test_stop_string_is_one_sequence() -> None:
    request = sa.Request(model="m", messages=[sa.Message.user("q")], stop="END")
    assert request.stop == ("END",)
    assert get_provider(_config("anthropic")).format_request(request)["stop_sequences"] == ["END"]
    assert get_provider(_config("groq")).format_request(request)["stop"] == ["END"]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: sa.Message("system", "x"), "role"),  # type: ignore[arg-type]
        (lambda: sa.Message("tool", "x"), "role"),  # type: ignore[arg-type]
        (lambda: sa.Message.user([{"type": "image", "source": {}}]), "content"),
        (lambda: sa.Message.user([{"type": "text", "text": "x", "cache_control": {}}]), "content"),
        (lambda: sa.Message.user([42]), "content"),  # type: ignore[list-item]
        (lambda: sa.Message.user({"type": "text", "text": "x"}), "content"),  # type: ignore[arg-type]
        (lambda: sa.TextPart("x", cache_ttl="2h"), "cache_ttl"),  # type: ignore[arg-type]
        (lambda: sa.ImagePart(url="u", detail="max"), "detail"),  # type: ignore[arg-type]
        (lambda: sa.Request(model="m", messages=[], reasoning_effort="huge"), "reasoning_effort"),  # type: ignore[arg-type]
        (
            lambda: sa.Request(
                model="m", messages=[], adaptive_thinking=True, thinking_budget=1024
            ),
            "adaptive_thinking",
        ),
        (lambda: sa.Request(model="m", messages=[], user_id=""), "user_id"),
        (lambda: sa.Request(model="m", messages=[], metadata={"a": 1}), "metadata"),  # type: ignore[dict-item]
        (lambda: sa.Request(model="m", messages=[], headers={"x": "a\nb"}), "headers"),
        (lambda: sa.JsonSchema({}, name="my answer"), "output_schema"),
        (
            lambda: sa.Request(model="m", messages=[], output_schema={"type": "object"}),
            "output_schema",
        ),  # type: ignore[arg-type]
        (
            lambda: sa.Request(model="m", messages=[], parallel_tool_calls="yes"),
            "parallel_tool_calls",
        ),  # type: ignore[arg-type]
    ],
)
def test_bad_input_fails_at_construction_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([sa.Message.assistant([sa.ToolResultPart("x", "y")])], "messages[0]"),
        ([sa.Message.user([sa.ToolUsePart("x", "t")])], "messages[0]"),
        ([sa.Message.user([sa.ImagePart()])], "messages[0]"),
        ([sa.Message.user([sa.ImagePart(data="A", url="u")])], "messages[0]"),
    ],
)
@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_parts_in_the_wrong_place_are_refused_on_every_wire(
    kind: str, messages: list[sa.Message], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        get_provider(_config(kind)).format_request(sa.Request(model="m", messages=messages))
    assert info.value.field == field


def test_continued_pairs_every_call_with_a_result() -> None:
    reply = sa.AssistantMessage(
        text="x",
        tool_calls=(sa.ToolCall("a", "t", {}), sa.ToolCall("b", "t", None, "{", "cut off")),
    )
    base = sa.Request(model="m", messages=[sa.Message.user("q")])
    with pytest.raises(ConfigError, match="no result for tool call"):
        base.continued(reply, {"a": "ok"})
    with pytest.raises(ConfigError, match="did not make"):
        base.continued(reply, {"a": "ok", "b": "x", "c": "y"})
    nxt = base.continued(reply, {"a": "ok", "b": sa.ToolResultPart("b", "cut off", is_error=True)})
    assert [m.role for m in nxt.messages] == ["user", "assistant", "user"]
    assert nxt.messages[2].content == (
        sa.ToolResultPart("a", "ok"),
        sa.ToolResultPart("b", "cut off", is_error=True),
    )


def test_per_request_headers_follow_the_config_headers_and_stay_out_of_repr() -> None:
    config = sa.ProviderConfig(kind="openai", api_key=SECRET, headers={"x-team": "a"})
    request = sa.Request(model="m", messages=[], headers={"x-trace": "t-1", "x-team": "b"})
    http = get_provider(config).build_request(config, request)
    assert http.headers["x-trace"] == "t-1"
    assert http.headers["x-team"] == "b"
    assert "t-1" not in repr(request)


def test_usage_adds_up() -> None:
    a, b = sa.Usage(1, 2, 3, 4), sa.Usage(10, 20, 30, 40)
    assert a + b == sa.Usage(11, 22, 33, 44)
    assert sum([a, b, a]) == sa.Usage(12, 24, 36, 48)
    assert sum([], sa.Usage()) == sa.Usage()
    guess = sa.Usage(0, 5, estimated=True)
    assert a + guess == sa.Usage(1, 7, 3, 4, estimated=True)
    assert sum([guess, a]).estimated
    assert not (a + b).estimated
    with pytest.raises(TypeError):
        a + 1  # type: ignore[operator]


def test_parsed_reads_the_structured_output_or_says_why_not() -> None:
    assert sa.AssistantMessage(text='{"a": "b"}').parsed() == {"a": "b"}
    with pytest.raises(sa.InvalidStreamData, match="cut off") as info:
        sa.AssistantMessage(text='{"a": "b', stop_reason="max_tokens").parsed()
    assert info.value.received == '{"a": "b'


# ------------------------------------------------------------ round trips


@contextlib.asynccontextmanager
async def _local(kind: str) -> AsyncIterator[tuple[sa.EmbeddedProvider, sa.Runtime]]:
    """The embedded provider and a runtime with it registered as "p" under ``kind``."""
    async with sa.open_embedded_provider(expected_key=SECRET) as local, sa.open_runtime() as rt:
        wire = PROFILES[kind].wire
        base = local.anthropic_base_url if wire == "anthropic" else local.openai_base_url
        if wire == "gemini":
            base = local.base_url
            if kind == "vertex":
                base += "/v1/projects/p/locations/us-central1"
        await rt.providers.register(
            "p", sa.ProviderConfig(kind=kind, base_url=base, api_key=SECRET)
        )
        yield local, rt


@pytest.mark.parametrize(
    "kind", ["anthropic", "openai", "deepseek", "groq", "openrouter", "gemini", "vertex"]
)
async def test_round_trip_through_the_embedded_provider(kind: str) -> None:
    """Stream a reply with thinking and two tool calls, send it back, twice, all valid."""
    wire = PROFILES[kind].wire
    async with _local(kind) as (local, rt):
        local.enqueue(
            sa.Reply(
                thinking="Two lookups.",
                text="Checking.",
                tool_calls=[
                    sa.ToolCallReply("get_weather", {"city": "Paris"}),
                    sa.ToolCallReply("github.create_issue", {"title": "t"}),
                ],
            )
        )
        local.enqueue(sa.Reply(text="Done."))
        request = sa.Request(model="m", messages=[sa.Message.user("Go")], tools=(WEATHER, MCP))
        reply = await sa.complete(rt, "p", request)
        assert [c.name for c in reply.tool_calls] == ["get_weather", "github.create_issue"]
        following = request.continued(
            reply,
            {
                reply.tool_calls[0].id: (sa.TextPart("18C"), sa.ImagePart("image/png", data=PNG)),
                reply.tool_calls[1].id: sa.ToolResultPart(
                    reply.tool_calls[1].id, "no", is_error=True
                ),
            },
        )
        final = await sa.complete(rt, "p", following)
        assert final.text == "Done."
        with trio.fail_after(10):
            await local.wait_until(lambda s: len(s.responses) >= 2)
        assert [r.status for r in local.responses] == [200, 200]
        for received in local.requests:
            validate_body(kind, wire, received.body)
            assert validate.problem(wire, received.body) is None
        second = local.requests[1].body
        if wire == "anthropic":
            thinking = second["messages"][1]["content"][0]
            assert thinking["signature"] == reply.blocks[0].signature  # type: ignore[union-attr]
        elif wire == "gemini":
            model_turn, answers = second["contents"][1]["parts"], second["contents"][2]["parts"]
            signatures = [p["thoughtSignature"] for p in model_turn if "thoughtSignature" in p]
            kept = [getattr(b, "signature", None) for b in reply.blocks]
            assert signatures == [s for s in kept if s is not None] != []  # byte-identical
            calls = [p["functionCall"]["name"] for p in model_turn if "functionCall" in p]
            named = [p["functionResponse"]["name"] for p in answers if "functionResponse" in p]
            assert named == calls == [encode_tool_name(WEATHER.name), encode_tool_name(MCP.name)]
        elif PROFILES[kind].reasoning_echo:
            assert second["messages"][1]["reasoning_content"] == "Two lookups."


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_embedded_provider_refuses_a_bad_body_like_the_real_api(kind: str) -> None:
    """A body built by hand that breaks the pairing rule gets the vendor's 400 shape."""
    wire = PROFILES[kind].wire
    async with _local(kind) as (_, rt):
        bad = sa.Request(
            model="m",
            messages=[
                sa.Message.user("q"),
                sa.Message.assistant([sa.ToolUsePart("call_9", "get_weather", {})]),
                sa.Message.user("I never answered the call."),
            ],
            tools=(WEATHER,),
        )
        with pytest.raises(sa.BadRequest) as info:
            await sa.complete(rt, "p", bad)
        assert info.value.status == 400
        body = info.value.body
        if wire == "anthropic":
            assert body["type"] == "error"
            assert body["error"]["type"] == "invalid_request_error"
            assert "tool_result" in body["error"]["message"]
        else:
            assert body["error"]["type"] == "invalid_request_error"
            assert body["error"]["param"] == "messages.[2].role"
            assert "call_9" in body["error"]["message"]


async def test_wire_refusals_are_raised_by_open_stream_before_any_io() -> None:
    async with sa.open_embedded_provider(expected_key=SECRET) as local, sa.open_runtime() as rt:
        await rt.providers.register(
            "p", sa.ProviderConfig(kind="mistral", base_url=local.openai_base_url, api_key=SECRET)
        )
        request = sa.Request(model="m", messages=[sa.Message.user("q")], user_id="u-1")
        with pytest.raises(ConfigError) as info:
            async with sa.open_stream(rt, "p", request):
                pass  # pragma: no cover
        assert info.value.field == "user_id"
        await trio.lowlevel.checkpoint()
        assert local.requests == []


# ------------------------------------------------------------ the docs table stays true

DOC_ROWS = {
    "`cache_ttl` on system parts, text": "system_cached",
    "`cache_ttl` on tools, images, documents, tool results": "tools_cached",
    "`cache_key`": "cache_key",
    "`output_schema`": "structured_output",
    "`reasoning_effort`": "effort_high",
    "`adaptive_thinking`": "adaptive_thinking",
    "`user_id`": "user_id",
    "`metadata`": "metadata",
    "`parallel_tool_calls`": "tool_choice_auto_parallel",
    "`headers`": "plain",
}


def test_the_feature_table_in_providers_md_says_what_the_wires_do() -> None:
    """A cell starting with "refused" exactly where the matrix above expects a refusal."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "providers.md").read_text("utf-8")
    section = doc.split("### Request features by kind", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    columns = [re.findall(r"`([a-z]+)`", cell) for cell in header[1:]]
    assert sorted(k for group in columns for k in group) == sorted(MATRIX_KINDS)
    seen = set()
    for line in rows[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        option = DOC_ROWS.get(cells[0])
        if option is None:
            continue
        seen.add(cells[0])
        for kinds, cell in zip(columns, cells[1:], strict=True):
            for kind in kinds:
                refused = cell.startswith("refused")
                assert refused == (kind not in OPTIONS[option][1]), (cells[0], kind, cell)
    assert seen == set(DOC_ROWS)
