"""The embedded provider's Gemini side: request view, SSE rendering, thought signatures.

``POST .../models/{model}:streamGenerateContent?alt=sse`` (the Gemini API's
``/v1beta/models/...`` and Vertex's ``.../publishers/google/models/...``) and
``:generateContent`` (one JSON response). Shapes follow the real service:
each event is a whole ``GenerateContentResponse`` with cumulative
``usageMetadata``; thoughts come first as ``thought: true`` parts; function
calls come one per chunk, the first carrying a ``thoughtSignature``
(Gemini 3), with ids unless the model name starts with ``gemini-2`` (which
gives none, as Gemini 2.x does); a reply without calls ends with an empty
text part carrying the signature; the last chunk has the ``finishReason``
(STOP even after function calls).

Like Gemini 3, the server checks the signatures sent back: the first
function call of every model turn must carry the signature the server made
for it, byte for byte, else the request is answered 400 INVALID_ARGUMENT.
Signatures are derived from the call itself, so the check needs no state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from .echo import ChatView, OfferedTool
from .script import Fault, Reply
from .wire import EventKind, RenderContext, WireEvent, dumps, signature_for, sse

#: ``.../models/{model}:streamGenerateContent`` or ``:generateContent``.
ROUTE = re.compile(r"/models/([^/:]+):(streamGenerateContent|generateContent)$")

_FINISH = {
    "end_turn": "STOP",
    "tool_use": "STOP",
    "stop_sequence": "STOP",
    "pause_turn": "STOP",
    "max_tokens": "MAX_TOKENS",
    "refusal": "SAFETY",
}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def call_signature(name: str, args: Mapping[str, Any]) -> str:
    """The signature the server puts on (and expects back with) a function call."""
    return signature_for("functionCall:" + name + ":" + json.dumps(args, sort_keys=True))


def _text_of(parts: list[Any]) -> str:
    return "".join(
        p["text"]
        for p in parts
        if isinstance(p, Mapping) and isinstance(p.get("text"), str) and not p.get("thought")
    )


def _result_of(parts: list[Any]) -> str | None:
    pieces = []
    for part in parts:
        response = part.get("functionResponse") if isinstance(part, Mapping) else None
        if not isinstance(response, Mapping):
            continue
        body = response.get("response")
        if isinstance(body, Mapping) and len(body) == 1:
            (value,) = body.values()
            pieces.append(value if isinstance(value, str) else dumps(value))
        else:
            pieces.append(dumps(body))
    return "".join(pieces) if pieces else None


def view_request(body: Mapping[str, Any], model: str, stream: bool, size: int) -> ChatView:
    """Read a Gemini request body; tolerant of missing or odd fields (never raises)."""
    contents = body.get("contents")
    prompt: str | None = None
    tool_result: str | None = None
    for content in reversed(contents if isinstance(contents, list) else []):
        if not isinstance(content, Mapping) or content.get("role", "user") != "user":
            continue
        parts = content.get("parts")
        parts = parts if isinstance(parts, list) else []
        tool_result = _result_of(parts)
        if tool_result is None:
            prompt = _text_of(parts)
        break
    tools: list[OfferedTool] = []
    groups = body.get("tools")
    for group in groups if isinstance(groups, list) else []:
        declarations = group.get("functionDeclarations") if isinstance(group, Mapping) else None
        for spec in declarations if isinstance(declarations, list) else []:
            if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
                continue
            schema = spec.get("parametersJsonSchema", spec.get("parameters"))
            tools.append(
                OfferedTool(
                    spec["name"],
                    str(spec.get("description") or ""),
                    schema if isinstance(schema, Mapping) else {},
                )
            )
    config = body.get("generationConfig")
    config = config if isinstance(config, Mapping) else {}
    thinking_config = config.get("thinkingConfig")
    thinking = isinstance(thinking_config, Mapping) and (
        thinking_config.get("includeThoughts") is True
    )
    max_tokens = config.get("maxOutputTokens")
    return ChatView(
        model=model,
        stream=stream,
        prompt=prompt,
        tool_result=tool_result,
        tools=tuple(tools),
        thinking=thinking,
        max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
        include_usage=False,
        size=size,
    )


def signature_problem(body: Mapping[str, Any]) -> str | None:
    """Why the signatures sent back are wrong (Gemini 3's 400), or None when they are right."""
    contents = body.get("contents")
    for position, content in enumerate(contents if isinstance(contents, list) else []):
        if not isinstance(content, Mapping) or content.get("role") != "model":
            continue
        parts = content.get("parts")
        calls = [
            p
            for p in (parts if isinstance(parts, list) else [])
            if isinstance(p, Mapping) and isinstance(p.get("functionCall"), Mapping)
        ]
        if not calls:
            continue
        call = calls[0]["functionCall"]
        args = call.get("args") if isinstance(call.get("args"), Mapping) else {}
        expected = call_signature(str(call.get("name")), args)
        if calls[0].get("thoughtSignature") != expected:
            return (
                f"Function call is missing a thought_signature in functionCall parts "
                f"(or it was changed). Position: contents[{position}]."
            )
    return None


# ------------------------------------------------------------------ rendering


def _usage(reply: Reply, ctx: RenderContext, candidates: int, thoughts: int) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": ctx.input_tokens}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = ctx.input_tokens + candidates + thoughts
    if reply.cache_read_tokens:
        usage["cachedContentTokenCount"] = reply.cache_read_tokens
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _call_id(reply: Reply, index: int, ctx: RenderContext) -> str | None:
    explicit = reply.tool_calls[index].id
    if explicit is not None:
        return explicit
    if ctx.model.startswith("gemini-2"):
        return None  # Gemini 2.x gives its calls no id
    return f"{ctx.tool_id_prefix}_{index:02d}"


def _finish(reply: Reply) -> str:
    if reply.raw_stop_reason is not None:
        return reply.raw_stop_reason
    return _FINISH[reply.effective_stop_reason()]


def _calls(reply: Reply, ctx: RenderContext) -> list[dict[str, Any]]:
    parts = []
    for i, call in enumerate(reply.tool_calls):
        wire: dict[str, Any] = {"name": call.name, "args": dict(call.input)}
        call_id = _call_id(reply, i, ctx)
        if call_id is not None:
            wire["id"] = call_id
        part: dict[str, Any] = {"functionCall": wire}
        if i == 0:
            part["thoughtSignature"] = call_signature(call.name, call.input)
        parts.append(part)
    return parts


def _answer_signature(reply: Reply) -> str:
    if reply.signature is not None:
        return reply.signature
    return signature_for((reply.full_thinking() or "") + reply.full_text())


def events(reply: Reply, ctx: RenderContext) -> list[WireEvent]:
    """The ``streamGenerateContent?alt=sse`` body for ``reply`` (CRLF framing, as Google's)."""
    out: list[WireEvent] = []
    candidates = thoughts = 0

    def chunk(kind: EventKind, parts: list[dict[str, Any]], finish: str | None = None) -> None:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        payload = {
            "candidates": [candidate],
            "usageMetadata": _usage(reply, ctx, candidates, thoughts),
            "modelVersion": ctx.model,
            "responseId": ctx.message_id,
        }
        out.append(WireEvent(f"data: {dumps(payload)}\r\n\r\n".encode(), kind))

    for thoughts, piece in enumerate(reply.thinking_deltas(), 1):  # noqa: B007 (read by chunk)
        chunk("head" if not out else "content", [{"text": piece, "thought": True}])
    for piece in reply.text_deltas():
        candidates += 1
        chunk("head" if not out else "content", [{"text": piece}])
    for part in _calls(reply, ctx):
        candidates += 1
        chunk("head" if not out else "content", [part])
    if reply.output_tokens is not None:
        candidates, thoughts = reply.output_tokens, 0
    final: dict[str, Any] = {"text": ""}
    if not reply.tool_calls:
        final["thoughtSignature"] = _answer_signature(reply)
    chunk("final", [final], _finish(reply))
    return out


def response_body(reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    """The ``:generateContent`` JSON body for ``reply``."""
    parts: list[dict[str, Any]] = []
    if reply.thinking is not None:
        parts.append({"text": reply.full_thinking(), "thought": True})
    text = reply.full_text()
    if text or not reply.tool_calls:
        parts.append({"text": text, "thoughtSignature": _answer_signature(reply)})
    parts.extend(_calls(reply, ctx))
    output = reply.estimated_output_tokens()
    return {
        "candidates": [
            {
                "content": {"parts": parts, "role": "model"},
                "finishReason": _finish(reply),
                "index": 0,
            }
        ],
        "usageMetadata": _usage(reply, ctx, output, 0),
        "modelVersion": ctx.model,
        "responseId": ctx.message_id,
    }


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Google's error body: ``{"error": {"code", "message", "status"}}``."""
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = f"HTTP {status}"
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"),
        }
    }


def error_event(fault: Fault) -> bytes:
    status = 429 if "rate" in fault.error_type else 503
    return sse(error_body(status, fault.error_message))


def keepalive() -> bytes:
    return b": keep-alive\r\n\r\n"


def oversized_event(size: int, ctx: RenderContext) -> bytes:
    base: dict[str, Any] = {"candidates": [], "modelVersion": ctx.model, "padding": ""}
    empty = len(b"data: " + dumps(base).encode())
    base["padding"] = "x" * max(size - empty, 0)
    return b"data: " + dumps(base).encode() + b"\r\n\r\n"


def models_body(models: tuple[str, ...], *, vertex: bool = False) -> dict[str, Any]:
    """``GET /v1beta/models`` in Google's shape (Vertex: ``publisherModels``)."""
    if vertex:
        return {"publisherModels": [{"name": f"publishers/google/models/{m}"} for m in models]}
    return {
        "models": [
            {
                "name": f"models/{m}",
                "displayName": m,
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
            }
            for m in models
        ]
    }
