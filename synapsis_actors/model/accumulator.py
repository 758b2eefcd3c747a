"""Normalized events -> ``AssistantMessage``.

``Accumulator`` keeps one reply's content blocks in the order they first
appeared (text, thinking with its signature, redacted thinking, tool calls),
the usage (replaced, never added) and the stop reason. The provider decoders
call its methods directly (no per-event type dispatch) and only those: they
never reach into its blocks or assign its fields. ``add(event)`` is the
same for code that only has the normalized events, e.g. a caller rebuilding
a reply from ``ProviderChunk`` messages.

Tool-call arguments arrive as JSON text fragments: they are appended to a
list and joined and parsed once, when the call ends, so assembling a call is
linear in its size. Arguments that are empty are ``{}``; arguments that do
not parse, or parse to something other than an object (a call cut off by the
token limit), give ``ToolCall(input=None, error=..., arguments=<text>)``,
never ``{}``: such a call must not be run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from .events import (
    Event,
    MessageStart,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from .parts import Part, RawBlockPart, TextPart, ThinkingPart, ToolUsePart
from .reply import AssistantMessage, StopReason, ToolCall, Usage

_PREVIEW = 200
#: Text and thinking deltas kept as separate strings before they are joined.
_JOIN_EVERY = 64
#: A run is joined only if it holds at most this many characters (short deltas,
#: whose ~60 bytes of string object each outweigh their text).
_JOIN_MAX = 64 * _JOIN_EVERY


def parse_arguments(
    text: str, *, cut_off: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a tool call's JSON arguments: ``(input, None)`` or ``(None, error)``.

    Empty (or blank) arguments are ``{}`` (a call with no parameters).
    ``cut_off`` says the reply hit its token limit, which the error mentions.
    """
    if not text or text.isspace():
        return {}, None
    try:
        value = json.loads(text)
    except ValueError as exc:
        why = "cut off by the token limit" if cut_off else "invalid JSON"
        detail = getattr(exc, "msg", str(exc))
        return None, f"tool call arguments are {why}: {detail} (received {len(text)} characters)"
    if not isinstance(value, dict):
        return None, f"tool call arguments are a JSON {type(value).__name__}, not an object"
    return value, None


class _Block:
    """One content block being assembled (mutable, internal)."""

    __slots__ = (
        "call",
        "fields",
        "id",
        "initial",
        "join_at",
        "joined",
        "kind",
        "name",
        "parts",
        "signature",
    )

    def __init__(self, kind: str, id: str = "", name: str = "") -> None:
        self.kind = kind  # "text" | "thinking" | "redacted" | "tool" | "raw"
        self.parts: list[str] = []
        # Text and thinking: parts[:joined] are runs of deltas already joined;
        # past join_at parts the loose ones are joined too (see join_loose).
        self.joined = 0
        self.join_at = _JOIN_EVERY
        # "raw" blocks: string fragments per field, joined once in message().
        self.fields: dict[str, list[str]] | None = None
        self.signature: str | None = None
        self.id = id
        self.name = name
        self.initial: dict[str, Any] | None = None
        self.call: ToolCall | None = None

    def join_loose(self) -> None:
        """Join the deltas appended since the last join into one string, if short.

        A reply is mostly deltas of a few characters, each a string object of
        about 60 bytes held for the whole stream; joined in runs they cost
        their characters (each copied once more, never again). Long deltas
        stay as they are: their objects cost little beside their text, and a
        caller keeping them would hold the text twice.
        """
        parts = self.parts
        joined = self.joined
        loose = parts[joined:]
        if sum(map(len, loose)) <= _JOIN_MAX:
            parts[joined:] = ["".join(loose)]
            joined += 1
        else:
            joined = len(parts)
        self.joined = joined
        self.join_at = joined + _JOIN_EVERY


def _raw_part(block: _Block) -> RawBlockPart:
    data = dict(block.initial or {})
    for field, pieces in (block.fields or {}).items():
        text = "".join(pieces)
        if field == "input":
            value, _error = parse_arguments(text)
            # A server tool's input that does not parse stays as it started.
            data["input"] = value if value is not None else data.get("input", {})
        else:
            previous = data.get(field)
            data[field] = (previous if isinstance(previous, str) else "") + text
    return RawBlockPart(block.name, data)


class Accumulator:
    """Builds one ``AssistantMessage`` from a reply's events. Not thread-safe; cheap."""

    __slots__ = (
        "_blocks",
        "_other_choices",
        "_refusal",
        "id",
        "model",
        "raw_stop_reason",
        "stop_reason",
        "usage",
    )

    def __init__(self) -> None:
        # The blocks being assembled, by index.
        self._blocks: dict[int, _Block] = {}
        #: Read-only for callers: set through ``start``, ``set_usage`` and ``set_stop``.
        self.id: str | None = None
        self.model: str | None = None
        self.usage = Usage()
        self.stop_reason: StopReason | None = None
        self.raw_stop_reason: str | None = None
        self._refusal: list[str] = []
        self._other_choices: list[AssistantMessage] = []

    # ------------------------------------------------------------ generic entry

    def add(self, event: Event) -> None:
        """Apply one normalized event (pings and raw events change nothing).

        Blocks only a wire format understands (``RawBlockPart``) travel as
        ``RawEvent`` chunks and are not rebuilt here; everything else is.
        """
        handler = _ADD.get(type(event))
        if handler is not None:
            handler(self, event)

    # ------------------------------------------------------------ direct API

    def start(self, id: str | None, model: str | None) -> None:
        if id:
            self.id = id
        if model:
            self.model = model

    def _block(self, index: int, kind: str) -> _Block:
        block = self._blocks.get(index)
        if block is None:
            block = self._blocks[index] = _Block(kind)
        return block

    def text(self, index: int, text: str) -> None:
        """Append ``text`` to block ``index`` (a new text block if there is none).

        The hot path of every reply: one dict lookup, one append and one
        comparison.
        """
        block = self._blocks.get(index)
        if block is None:
            block = self._blocks[index] = _Block("text")
        parts = block.parts
        parts.append(text)
        if len(parts) > block.join_at:
            block.join_loose()

    def thinking(self, index: int, text: str) -> None:
        block = self._blocks.get(index)
        if block is None:
            block = self._blocks[index] = _Block("thinking")
        parts = block.parts
        parts.append(text)
        if len(parts) > block.join_at:
            block.join_loose()

    def signature(self, index: int, signature: str) -> None:
        # A signature covers the whole block: the last one sent wins. On a
        # text or tool block (Gemini) it is that part's thought signature.
        self._block(index, "thinking").signature = signature

    def redacted(self, index: int, data: str) -> None:
        self._block(index, "redacted").parts.append(data)

    def raw_block(self, index: int, wire: str, block: dict[str, Any]) -> None:
        """A block only ``wire`` understands (kept to be sent back verbatim)."""
        raw = self._blocks[index] = _Block("raw", name=wire)
        raw.initial = dict(block)
        raw.fields = {}

    def raw_fragment(self, index: int, field: str, text: str) -> None:
        """Text streamed into field ``field`` of raw block ``index`` ("input": JSON text)."""
        block = self._blocks.get(index)
        if block is not None and block.fields is not None:
            block.fields.setdefault(field, []).append(text)

    def tool_start(
        self, index: int, id: str, name: str, initial: dict[str, Any] | None = None
    ) -> None:
        block = self._block(index, "tool")
        block.kind = "tool"
        if id:
            block.id = id
        if name:
            block.name = name
        if initial:
            block.initial = initial

    def tool_delta(self, index: int, fragment: str) -> None:
        block = self._blocks.get(index)
        if block is None:
            block = self._blocks[index] = _Block("tool")
        block.parts.append(fragment)

    def tool_end(self, index: int) -> ToolCall:
        """Close call ``index``: join its fragments and parse them, once."""
        block = self._block(index, "tool")
        if block.call is None:
            block.call = self._finish_call(block)
        return block.call

    def open_tool_calls(self) -> list[int]:
        """Indexes of tool calls started but not ended (to flush at the end)."""
        return [i for i, b in self._blocks.items() if b.kind == "tool" and b.call is None]

    def has_tool_calls(self) -> bool:
        return any(b.kind == "tool" for b in self._blocks.values())

    def set_usage(self, usage: Usage) -> None:
        self.usage = usage

    def set_stop(self, raw: str | None, normalized: StopReason | None) -> None:
        self.raw_stop_reason = raw
        self.stop_reason = normalized

    def refusal(self, text: str) -> None:
        """A piece of the model's refusal message (``AssistantMessage.refusal``)."""
        self._refusal.append(text)

    def set_other_choices(self, messages: list[AssistantMessage]) -> None:
        """The other choices of an ``n > 1`` reply (``AssistantMessage.other_choices``)."""
        self._other_choices = messages

    # ------------------------------------------------------------ result

    def message(self) -> AssistantMessage:
        """The reply so far (open tool calls are parsed, not closed)."""
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        parts: list[Part] = []
        for block in self._blocks.values():
            kind = block.kind
            if kind == "text":
                text = "".join(block.parts)
                if text:
                    texts.append(text)
                if text or block.signature:
                    # A signed empty part (Gemini) must go back as it came.
                    parts.append(TextPart(text, signature=block.signature))
            elif kind == "thinking":
                text = "".join(block.parts)
                thinking.append(text)
                if text or block.signature:
                    parts.append(ThinkingPart(text, block.signature))
            elif kind == "redacted":
                parts.append(ThinkingPart("".join(block.parts), redacted=True))
            elif kind == "raw":
                parts.append(_raw_part(block))
            else:
                call = block.call or self._finish_call(block)
                calls.append(call)
                parts.append(
                    ToolUsePart(call.id, call.name, call.input or {}, signature=call.signature)
                )
        return AssistantMessage(
            text="".join(texts),
            thinking="".join(thinking),
            tool_calls=calls,
            usage=self.usage,
            stop_reason=self.stop_reason,
            raw_stop_reason=self.raw_stop_reason,
            id=self.id,
            model=self.model,
            blocks=parts,
            refusal="".join(self._refusal) if self._refusal else None,
            other_choices=self._other_choices,
        )

    # ------------------------------------------------------------ internals

    def _finish_call(self, block: _Block) -> ToolCall:
        text = "".join(block.parts)
        if not block.parts and block.initial:
            # The whole input came in the start block (some proxies).
            return ToolCall(
                block.id,
                block.name,
                dict(block.initial),
                json.dumps(block.initial),
                signature=block.signature,
            )
        value, error = parse_arguments(text, cut_off=self.stop_reason == "max_tokens")
        return ToolCall(block.id, block.name, value, text, error, block.signature)

    def _tool_end_event(self, event: ToolCallEnd) -> None:
        block = self._block(event.index, "tool")
        block.kind = "tool"
        block.id = event.id or block.id
        block.name = event.name or block.name
        if block.call is None:
            block.call = ToolCall(
                block.id,
                block.name,
                event.input,
                "".join(block.parts),
                event.error,
                block.signature,
            )


# One table for every Accumulator (not per instance: bound methods in an
# instance's own dict would make each accumulator a reference cycle, freed
# only by the cyclic GC).
_ADD: dict[type, Callable[[Accumulator, Any], None]] = {
    MessageStart: lambda a, e: a.start(e.id, e.model),
    TextDelta: lambda a, e: a.text(e.index, e.text),
    ThinkingDelta: lambda a, e: a.thinking(e.index, e.text),
    ThinkingSignature: lambda a, e: a.signature(e.index, e.signature),
    ToolCallStart: lambda a, e: a.tool_start(e.index, e.id, e.name),
    ToolCallDelta: lambda a, e: a.tool_delta(e.index, e.arguments),
    ToolCallEnd: lambda a, e: a._tool_end_event(e),
    UsageUpdate: lambda a, e: a.set_usage(e.usage),
}


#: Characters per output token for an estimate when the server gave no count:
#: the rule of thumb both OpenAI ("1 token ~= 4 chars in English") and
#: Anthropic publish for English text.
CHARS_PER_TOKEN = 4


def with_output_estimate(message: AssistantMessage) -> AssistantMessage:
    """``message`` with its output tokens estimated from the content received.

    For a reply that ended before the server's final count (cancelled,
    interrupted, an error event): OpenAI-compatible servers send usage only
    at the end, and Anthropic's first count is a placeholder. When the
    estimate (``ceil(characters / CHARS_PER_TOKEN)`` over text, thinking,
    refusal and tool-call arguments) exceeds what the server reported,
    ``usage.output_tokens`` becomes the estimate and ``usage.estimated`` is
    True; otherwise ``message`` is returned as it is.
    """
    chars = len(message.text) + len(message.thinking) + len(message.refusal or "")
    for call in message.tool_calls:
        chars += len(call.name) + len(call.arguments or json.dumps(call.input or {}))
    estimate = -(-chars // CHARS_PER_TOKEN)
    if estimate <= message.usage.output_tokens:
        return message
    usage = attrs.evolve(message.usage, output_tokens=estimate, estimated=True)
    return attrs.evolve(message, usage=usage)
