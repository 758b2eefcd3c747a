"""The default reply: a friendly, deterministic echo of the last user message.

It reads either wire format's request JSON into a small :class:`ChatView`,
then answers:

* with a tool call when tools are offered, the last user turn is plain text
  and a word of a tool's name appears in it ("weather" for ``get_weather``);
  string arguments are taken from the prompt ("... in Paris" -> "Paris");
* with a summary of the tool's output when the last user turn is a tool
  result (so an agent loop ends after one round trip);
* otherwise with a few sentences quoting what was asked.

Thinking is added when the request enables it (Anthropic ``thinking``,
OpenAI-compatible ``reasoning_effort`` / ``reasoning`` / ``thinking``). When
``max_tokens`` is smaller than the answer, the answer is cut to that many
word deltas and stops with ``"max_tokens"``, as a real model would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from .script import Reply, StopReasonName, ToolCallReply, split_words
from .wire import Flavor

_GENERIC = frozenset(
    [
        "get",
        "set",
        "list",
        "run",
        "do",
        "the",
        "and",
        "for",
        "fetch",
        "read",
        "make",
        "create",
        "tool",
        "call",
        "find",
        "query",
        "search",
        "use",
        "with",
        "from",
        "into",
        "current",
    ]
)
_ARG = re.compile(r"\b(?:in|for|of|about|at|on|to)\s+([^?.!,;:\n]+)", re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@attrs.frozen
class OfferedTool:
    name: str
    description: str
    schema: Mapping[str, Any]


@attrs.frozen
class ChatView:
    """What the echo (and the request log) needs from a chat request, in either format."""

    model: str
    stream: bool
    prompt: str | None
    tool_result: str | None
    tools: tuple[OfferedTool, ...]
    thinking: bool
    max_tokens: int | None
    include_usage: bool
    size: int


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces: list[str] = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                pieces.append(part["text"])
            elif isinstance(part, Mapping) and part.get("type") == "tool_result":
                pieces.append(_text_of(part.get("content")))
        return "".join(pieces)
    return ""


def _is_tool_result(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(p, Mapping) and p.get("type") == "tool_result" for p in content
    )


def view_request(flavor: Flavor, body: Mapping[str, Any], size: int) -> ChatView:
    """Read a chat request body; tolerant of missing or odd fields (never raises)."""
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    prompt: str | None = None
    tool_result: str | None = None
    for message in reversed(messages):
        if not isinstance(message, Mapping):
            continue
        role, content = message.get("role"), message.get("content")
        if role == "tool" or (role == "user" and _is_tool_result(content)):
            tool_result = _text_of(content)
            break
        if role == "user":
            prompt = _text_of(content)
            break
    tools: list[OfferedTool] = []
    raw_tools = body.get("tools")
    for tool in raw_tools if isinstance(raw_tools, list) else []:
        if not isinstance(tool, Mapping):
            continue
        spec = tool.get("function") if flavor == "openai" else tool
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            continue
        schema = spec.get("input_schema" if flavor == "anthropic" else "parameters")
        tools.append(
            OfferedTool(
                spec["name"],
                str(spec.get("description") or ""),
                schema if isinstance(schema, Mapping) else {},
            )
        )
    if flavor == "anthropic":
        thinking_field = body.get("thinking")
        thinking = isinstance(thinking_field, Mapping) and thinking_field.get("type") in (
            "enabled",
            "adaptive",
        )
    else:
        thinking = any(
            body.get(k) not in (None, False) for k in ("reasoning_effort", "reasoning", "thinking")
        )
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    options = body.get("stream_options")
    return ChatView(
        model=str(body.get("model") or "embedded-echo"),
        stream=body.get("stream") is True,
        prompt=prompt,
        tool_result=tool_result,
        tools=tuple(tools),
        thinking=thinking,
        max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
        include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
        size=size,
    )


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _keywords(name: str) -> set[str]:
    words = re.split(r"[_\-\s.]+", _CAMEL.sub("_", name))
    return {w.lower() for w in words if len(w) >= 3 and w.lower() not in _GENERIC}


def match_tool(prompt: str, tools: tuple[OfferedTool, ...]) -> OfferedTool | None:
    """The first offered tool whose name (or a word of it) the prompt mentions."""
    lowered = prompt.lower()
    words = set(re.findall(r"[a-z0-9]+", lowered))
    for tool in tools:
        if tool.name.lower() in lowered:
            return tool
        for key in _keywords(tool.name):
            if key in words or any(w.startswith(key) for w in words):
                return tool
    return None


def _argument_value(prompt: str) -> str:
    matches = _ARG.findall(prompt)
    value = matches[-1].strip() if matches else prompt.strip()
    return _short(value, 60)


def tool_input(prompt: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments for a tool call, filled from the schema's (required) properties."""
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = schema.get("required")
    names = (
        [n for n in required if n in props]
        if isinstance(required, list) and required
        else list(props)
    )
    out: dict[str, Any] = {}
    for name in names:
        prop = props[name] if isinstance(props[name], Mapping) else {}
        enum = prop.get("enum")
        kind = prop.get("type")
        if isinstance(enum, list) and enum:
            out[name] = enum[0]
        elif kind in ("integer", "number"):
            out[name] = 1
        elif kind == "boolean":
            out[name] = True
        elif kind == "array":
            out[name] = []
        elif kind == "object":
            out[name] = {}
        else:
            out[name] = _argument_value(prompt)
    return out


def echo_reply(view: ChatView) -> Reply:
    """The deterministic default answer to ``view`` (see the module docstring)."""
    thinking: str | None = None
    calls: tuple[ToolCallReply, ...] = ()
    if view.tool_result is not None:
        text = (
            f"The tool returned: {_short(view.tool_result)}. "
            "That is the whole answer from the embedded local provider."
        )
        topic = "the tool result"
    elif view.prompt:
        asked = _short(view.prompt)
        tool = match_tool(view.prompt, view.tools)
        if tool is not None:
            calls = (ToolCallReply(tool.name, tool_input(view.prompt, tool.schema)),)
            text = f"I will call {tool.name} to answer that."
        else:
            text = (
                f'You said: "{asked}". This is the embedded local provider of synapsis_actors, '
                "answering on loopback with no API key and no network. "
                "Configure a real provider to get real answers."
            )
        topic = f'"{asked}"'
    else:
        text = "Hello! This is the embedded local provider of synapsis_actors."
        topic = "an empty conversation"
    if view.thinking:
        thinking = f"The user sent {topic}. I am the embedded provider, so I answer it plainly."
    words = split_words(text)
    stop: StopReasonName | None = None
    if view.max_tokens is not None and len(words) > view.max_tokens:
        # As a real model would: the answer is cut and no tool call survives.
        words, calls, stop = words[: view.max_tokens], (), "max_tokens"
    return Reply(text=words, thinking=thinking, tool_calls=calls, stop_reason=stop)
