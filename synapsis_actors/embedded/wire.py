"""Render normalized replies to the vendors' bytes: Anthropic Messages and OpenAI chat
(Gemini's rendering is in ``gemini.py``; ``app.py`` picks it for the "gemini" flavor).

Shapes follow what the real services send (field order, ``null`` fields,
``ping`` after the first block, cumulative usage in ``message_delta``, the
usage-only chunk with ``choices: []`` before ``[DONE]``). Everything here is
pure: data in, bytes out.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal, TypeAlias

import attrs

from .script import Fault, Reply

Flavor: TypeAlias = Literal["anthropic", "openai", "gemini"]
EventKind: TypeAlias = Literal["head", "content", "ping", "final"]

_OPENAI_FINISH = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


@attrs.frozen
class WireEvent:
    """One SSE event as written on the wire. ``final`` events are the ones a
    truncated body leaves out (message_delta/message_stop; finish/usage/[DONE])."""

    data: bytes
    kind: EventKind


@attrs.frozen
class RenderContext:
    """Per-request values the renderers need besides the reply."""

    model: str
    message_id: str
    input_tokens: int
    include_usage: bool = False
    created: int = 1_700_000_000
    tool_id_prefix: str = "emb"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sse(data: Any, event: str | None = None) -> bytes:
    """One SSE event: optional ``event:`` line, one ``data:`` line, blank line."""
    text = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {text}\n\n".encode()


def signature_for(thinking: str) -> str:
    """A deterministic opaque signature for a thinking block (base64, like the real ones)."""
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest() * 2).decode()


def _tool_id(reply: Reply, index: int, ctx: RenderContext, flavor: Flavor) -> str:
    explicit = reply.tool_calls[index].id
    if explicit is not None:
        return explicit
    prefix = "toolu" if flavor == "anthropic" else "call"
    return f"{prefix}_{ctx.tool_id_prefix}_{index:02d}"


def _raw_stop(reply: Reply, flavor: Flavor) -> str:
    if reply.raw_stop_reason is not None:
        return reply.raw_stop_reason
    stop = reply.effective_stop_reason()
    return stop if flavor == "anthropic" else _OPENAI_FINISH[stop]


def _signature(reply: Reply) -> str:
    if reply.signature is not None:
        return reply.signature
    return signature_for(reply.full_thinking() or "")


# ------------------------------------------------------------------ Anthropic


def _anthropic_usage(reply: Reply, ctx: RenderContext, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": ctx.input_tokens,
        "cache_creation_input_tokens": reply.cache_creation_tokens,
        "cache_read_input_tokens": reply.cache_read_tokens,
        "output_tokens": output_tokens,
    }


def anthropic_events(reply: Reply, ctx: RenderContext) -> list[WireEvent]:
    """The full Anthropic Messages stream for ``reply``."""
    events: list[WireEvent] = []

    def add(kind: EventKind, name: str, payload: dict[str, Any]) -> None:
        events.append(WireEvent(sse(payload, name), kind))

    add(
        "head",
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": ctx.message_id,
                "type": "message",
                "role": "assistant",
                "model": ctx.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": _anthropic_usage(reply, ctx, 1),
            },
        },
    )
    index = 0
    pinged = False

    def block(start: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal index, pinged
        add(
            "content",
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": start,
            },
        )
        if not pinged:
            # The real service sends one ping right after the first block opens.
            add("ping", "ping", {"type": "ping"})
            pinged = True
        for delta in deltas:
            add(
                "content",
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": delta,
                },
            )
        add("content", "content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1

    if reply.thinking is not None:
        deltas = [{"type": "thinking_delta", "thinking": t} for t in reply.thinking_deltas()]
        deltas.append({"type": "signature_delta", "signature": _signature(reply)})
        block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
    text = reply.text_deltas()
    if text or not reply.tool_calls:
        block(
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": t} for t in text],
        )
    for i, call in enumerate(reply.tool_calls):
        fragments = ["", *call.argument_fragments()]
        block(
            {
                "type": "tool_use",
                "id": _tool_id(reply, i, ctx, "anthropic"),
                "name": call.name,
                "input": {},
            },
            [{"type": "input_json_delta", "partial_json": f} for f in fragments],
        )
    add(
        "final",
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": _raw_stop(reply, "anthropic"), "stop_sequence": None},
            "usage": _anthropic_usage(reply, ctx, reply.estimated_output_tokens()),
        },
    )
    add("final", "message_stop", {"type": "message_stop"})
    return events


def anthropic_message(reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    """The non-streaming Anthropic Messages response body."""
    content: list[dict[str, Any]] = []
    if reply.thinking is not None:
        content.append(
            {
                "type": "thinking",
                "thinking": reply.full_thinking(),
                "signature": _signature(reply),
            }
        )
    if reply.text_deltas() or not reply.tool_calls:
        content.append({"type": "text", "text": reply.full_text()})
    for i, call in enumerate(reply.tool_calls):
        content.append(
            {
                "type": "tool_use",
                "id": _tool_id(reply, i, ctx, "anthropic"),
                "name": call.name,
                "input": dict(call.input),
            }
        )
    return {
        "id": ctx.message_id,
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": _raw_stop(reply, "anthropic"),
        "stop_sequence": None,
        "usage": _anthropic_usage(reply, ctx, reply.estimated_output_tokens()),
    }


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error(
    status: int, message: str | None = None, type_: str | None = None
) -> dict[str, Any]:
    """Anthropic's error body: ``{"type": "error", "error": {"type", "message"}}``."""
    kind = type_ or _ANTHROPIC_ERROR_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return {"type": "error", "error": {"type": kind, "message": message or _reason(status)}}


def anthropic_error_event(fault: Fault) -> bytes:
    return sse(
        {"type": "error", "error": {"type": fault.error_type, "message": fault.error_message}},
        "error",
    )


def anthropic_keepalive() -> bytes:
    return sse({"type": "ping"}, "ping")


# ------------------------------------------------------------------ OpenAI


def _openai_usage(reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    completion = reply.estimated_output_tokens()
    return {
        "prompt_tokens": ctx.input_tokens,
        "completion_tokens": completion,
        "total_tokens": ctx.input_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": reply.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": len(reply.thinking_deltas())},
    }


def openai_events(reply: Reply, ctx: RenderContext) -> list[WireEvent]:
    """The full OpenAI chat-completions stream for ``reply``, ``[DONE]`` included."""
    events: list[WireEvent] = []

    def chunk(kind: EventKind, delta: dict[str, Any], finish: str | None = None) -> None:
        body: dict[str, Any] = {
            "id": ctx.message_id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "system_fingerprint": "fp_embedded",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if ctx.include_usage:
            body["usage"] = None
        events.append(WireEvent(sse(body), kind))

    chunk("head", {"role": "assistant", "content": "", "refusal": None})
    for piece in reply.thinking_deltas():
        chunk("content", {"reasoning_content": piece})
    for piece in reply.text_deltas():
        chunk("content", {"content": piece})
    for i, call in enumerate(reply.tool_calls):
        chunk(
            "content",
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": _tool_id(reply, i, ctx, "openai"),
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            },
        )
        for fragment in call.argument_fragments():
            chunk("content", {"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
    chunk("final", {}, _raw_stop(reply, "openai"))
    if ctx.include_usage:
        events.append(
            WireEvent(
                sse(
                    {
                        "id": ctx.message_id,
                        "object": "chat.completion.chunk",
                        "created": ctx.created,
                        "model": ctx.model,
                        "system_fingerprint": "fp_embedded",
                        "choices": [],
                        "usage": _openai_usage(reply, ctx),
                    }
                ),
                "final",
            )
        )
    events.append(WireEvent(b"data: [DONE]\n\n", "final"))
    return events


def openai_completion(reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` body."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.full_text() if reply.text_deltas() or not reply.tool_calls else None,
        "refusal": None,
    }
    if reply.thinking is not None:
        message["reasoning_content"] = reply.full_thinking()
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _tool_id(reply, i, ctx, "openai"),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments()},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    return {
        "id": ctx.message_id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "system_fingerprint": "fp_embedded",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _raw_stop(reply, "openai"),
            }
        ],
        "usage": _openai_usage(reply, ctx),
    }


_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def openai_error(
    status: int, message: str | None = None, type_: str | None = None, *, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    kind, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", None))
    return {
        "error": {
            "message": message or _reason(status),
            "type": type_ or kind,
            "param": param,
            "code": code,
        }
    }


def openai_error_event(fault: Fault) -> bytes:
    if fault.error_style == "vllm":
        return sse(
            {
                "object": "error",
                "message": fault.error_message,
                "type": fault.error_type,
                "param": None,
                "code": 500,
            }
        )
    return sse(
        {
            "error": {
                "message": fault.error_message,
                "type": fault.error_type,
                "param": None,
                "code": None,
            }
        }
    )


def openai_keepalive() -> bytes:
    return b": keep-alive\n\n"


# ------------------------------------------------------------------ both


def events_for(flavor: Flavor, reply: Reply, ctx: RenderContext) -> list[WireEvent]:
    return anthropic_events(reply, ctx) if flavor == "anthropic" else openai_events(reply, ctx)


def body_for(flavor: Flavor, reply: Reply, ctx: RenderContext) -> dict[str, Any]:
    return anthropic_message(reply, ctx) if flavor == "anthropic" else openai_completion(reply, ctx)


def error_body(
    flavor: Flavor, status: int, message: str | None = None, *, param: str | None = None
) -> dict[str, Any]:
    """The vendor's error body; ``param`` names the offending field (OpenAI's ``param``)."""
    if flavor == "anthropic":
        return anthropic_error(status, message)
    return openai_error(status, message, param=param)


def error_event(flavor: Flavor, fault: Fault) -> bytes:
    return anthropic_error_event(fault) if flavor == "anthropic" else openai_error_event(fault)


def keepalive(flavor: Flavor) -> bytes:
    return anthropic_keepalive() if flavor == "anthropic" else openai_keepalive()


def oversized_event(flavor: Flavor, size: int, ctx: RenderContext) -> bytes:
    """A valid-JSON ``data:`` line of ``size`` bytes (or the least possible), then a blank line."""
    if flavor == "anthropic":
        base: dict[str, Any] = {"type": "ping", "padding": ""}
        head = b"event: ping\n"
    else:
        base = {
            "id": ctx.message_id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [],
            "padding": "",
        }
        head = b""
    empty = len(b"data: " + dumps(base).encode())
    base["padding"] = "x" * max(size - empty, 0)
    return head + b"data: " + dumps(base).encode() + b"\n\n"


def models_body(flavor: Flavor, models: tuple[str, ...]) -> dict[str, Any]:
    """``GET /v1/models`` in the vendor's shape."""
    if flavor == "anthropic":
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "embedded"}
            for m in models
        ],
    }


def json_bytes(value: Mapping[str, Any] | list[Any]) -> bytes:
    return dumps(value).encode()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Overloaded" if status == 529 else f"HTTP {status}"
