"""The normalized data model: requests going out, events and messages coming back.

Provider-neutral: no vendor field name appears here. Wire formats live in the
provider modules (``anthropic.py``, ``openai.py``), each with its own converter.
All classes are attrs frozen classes with slots.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import attrs

from ..errors import ConfigError, ProviderError

StopReason: TypeAlias = Literal[
    "end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "pause_turn"
]
STOP_REASONS: frozenset[str] = frozenset(
    ("end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "pause_turn")
)


def _tuple(value: Iterable[Any] | None) -> tuple[Any, ...]:
    return () if value is None else tuple(value)


def _dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return {} if value is None else dict(value)


# ------------------------------------------------------------------ request side


@attrs.frozen
class TextPart:
    text: str
    type: Literal["text"] = "text"


@attrs.frozen
class ImagePart:
    """An image, either inline (base64 ``data`` + ``media_type``) or by ``url``."""

    media_type: str = "image/png"
    data: str | None = None
    url: str | None = None
    type: Literal["image"] = "image"


@attrs.frozen
class ToolUsePart:
    """A tool call the assistant made (sent back on later turns)."""

    id: str
    name: str
    input: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    type: Literal["tool_use"] = "tool_use"


@attrs.frozen
class ToolResultPart:
    """The result of running a tool; ``content`` is text or a list of text/image parts."""

    tool_use_id: str
    content: str | tuple[TextPart | ImagePart, ...] = ""
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"


@attrs.frozen
class ThinkingPart:
    """Reasoning the assistant produced; ``signature`` must be sent back unchanged.

    ``redacted`` thinking carries its opaque payload in ``text``.
    """

    text: str
    signature: str | None = None
    redacted: bool = False
    type: Literal["thinking"] = "thinking"


@attrs.frozen
class RawBlockPart:
    """A content block only one wire format understands, kept to be sent back verbatim.

    Anthropic's server and MCP tool blocks (``server_tool_use``,
    ``web_search_tool_result``, ...) and ``compaction`` blocks: a ``pause_turn``
    reply must be resent with them to continue. ``wire`` names the format
    ("anthropic"); other formats leave the part out.
    """

    wire: str
    data: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    type: Literal["raw_block"] = "raw_block"


Part: TypeAlias = TextPart | ImagePart | ToolUsePart | ToolResultPart | ThinkingPart | RawBlockPart


def _parts(value: str | Iterable[Part]) -> tuple[Part, ...]:
    if isinstance(value, str):
        return (TextPart(value),)
    return tuple(value)


@attrs.frozen
class Message:
    """One conversation turn. Build with ``Message.user``, ``.assistant``, ``.tool_result``."""

    role: Literal["user", "assistant"]
    content: tuple[Part, ...] = attrs.field(converter=_parts)

    @classmethod
    def user(cls, content: str | Iterable[Part]) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str | Iterable[Part]) -> Message:
        return cls("assistant", content)

    @classmethod
    def tool_result(
        cls,
        tool_use_id: str,
        content: str | Sequence[TextPart | ImagePart],
        *,
        is_error: bool = False,
    ) -> Message:
        body = content if isinstance(content, str) else tuple(content)
        return cls("user", (ToolResultPart(tool_use_id, body, is_error),))

    @classmethod
    def from_reply(cls, reply: AssistantMessage) -> Message:
        """The assistant turn to send back next time: thinking (signed), text, tool calls."""
        return cls("assistant", reply.parts())


@attrs.frozen
class Tool:
    name: str
    description: str = ""
    input_schema: dict[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}, converter=_dict
    )


def _check_request(request: Any) -> None:
    """Reject a request no provider could send (raises ``ConfigError`` naming the field).

    Checked at construction so a bad value fails where it was written, not as a
    ``ProviderDone`` error from inside a stream task (NaN is not JSON; a
    non-Message in ``messages`` would crash the wire converter).
    """
    if not isinstance(request.model, str) or not request.model:
        raise ConfigError("model", f"must be a non-empty string, got {request.model!r}")
    for index, message in enumerate(request.messages):
        if not isinstance(message, Message):
            kind = type(message).__name__
            raise ConfigError("messages", f"item {index} is not a Message: {kind}")
    if request.system is not None and not isinstance(request.system, str):
        kind = type(request.system).__name__
        raise ConfigError("system", f"must be a string or None, got {kind}")
    for index, tool in enumerate(request.tools):
        if not isinstance(tool, Tool):
            raise ConfigError("tools", f"item {index} is not a Tool: {type(tool).__name__}")
    for name in ("max_tokens", "thinking_budget"):
        value = getattr(request, name)
        bad = isinstance(value, bool) or not isinstance(value, int) or value < 1
        if value is not None and bad:
            raise ConfigError(name, f"must be an int >= 1 or None, got {value!r}")
    for name, top in (("temperature", None), ("top_p", 1.0)):
        value = getattr(request, name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
            or (top is not None and value > top)
        ):
            limit = f"between 0 and {top}" if top is not None else "a finite number >= 0"
            raise ConfigError(name, f"must be {limit} or None, got {value!r}")
    if not all(isinstance(item, str) for item in request.stop):
        raise ConfigError("stop", f"must be strings, got {request.stop!r}")
    if request.tool_choice is not None and not isinstance(request.tool_choice, str):
        raise ConfigError("tool_choice", f"must be a string or None, got {request.tool_choice!r}")
    if not all(isinstance(key, str) for key in request.extra):
        raise ConfigError("extra", "keys must be strings")


@attrs.frozen
class Request:
    """A provider-neutral chat request.

    ``max_tokens=None`` lets each provider apply its default (Anthropic: 8192).
    ``thinking_budget`` enables extended thinking / reasoning where supported.
    ``extra`` is merged into the wire JSON last (vendor-specific knobs).
    Every value is checked at construction: a bad one raises ``ConfigError``
    naming the field.
    """

    model: str
    messages: tuple[Message, ...] = attrs.field(converter=_tuple)
    system: str | None = None
    tools: tuple[Tool, ...] = attrs.field(default=(), converter=_tuple)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    tool_choice: str | None = None
    thinking_budget: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_dict)

    def __attrs_post_init__(self) -> None:
        _check_request(self)


# ------------------------------------------------------------------ response side


@attrs.frozen
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0


@attrs.frozen
class ToolCall:
    """A tool call for the caller to run.

    ``input`` is the parsed arguments. When the arguments were cut off or are
    not a JSON object, ``input`` is None, ``error`` says why and ``arguments``
    keeps the text received: such a call must not be run.
    """

    id: str
    name: str
    input: dict[str, Any] | None
    arguments: str = ""
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None


@attrs.frozen
class AssistantMessage:
    """The accumulated reply: also delivered (partial) when the stream failed."""

    text: str = ""
    thinking: str = ""
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tuple)
    usage: Usage = Usage()
    stop_reason: StopReason | None = None
    raw_stop_reason: str | None = None
    id: str | None = None
    model: str | None = None
    # Ordered content blocks, kept so the turn can be sent back verbatim
    # (thinking signatures, redacted thinking, text, tool calls).
    blocks: tuple[Part, ...] = attrs.field(default=(), converter=_tuple)
    refusal: str | None = None
    # n > 1: choice 0 is this message; the others are here, index order.
    other_choices: tuple[AssistantMessage, ...] = attrs.field(default=(), converter=_tuple)

    def parts(self) -> tuple[Part, ...]:
        if self.blocks:
            return self.blocks
        out: list[Part] = []
        if self.thinking:
            out.append(ThinkingPart(self.thinking))
        if self.text:
            out.append(TextPart(self.text))
        out.extend(ToolUsePart(c.id, c.name, c.input or {}) for c in self.tool_calls)
        return tuple(out)


# ------------------------------------------------------------------ events


@attrs.frozen
class MessageStart:
    id: str | None
    model: str | None


@attrs.frozen
class TextDelta:
    index: int
    text: str


@attrs.frozen
class ThinkingDelta:
    index: int
    text: str


@attrs.frozen
class ThinkingSignature:
    index: int
    signature: str


@attrs.frozen
class ToolCallStart:
    index: int
    id: str
    name: str


@attrs.frozen
class ToolCallDelta:
    index: int
    arguments: str


@attrs.frozen
class ToolCallEnd:
    """A tool call is complete. ``input`` is None (and ``error`` set) if its JSON is invalid."""

    index: int
    id: str
    name: str
    input: dict[str, Any] | None
    error: str | None = None


@attrs.frozen
class UsageUpdate:
    """Cumulative usage so far (replaces, never adds to, the previous one)."""

    usage: Usage


@attrs.frozen
class Ping:
    """A keep-alive from the server. It does not reset the content-idle timer."""


@attrs.frozen
class RawEvent:
    """An event with no normalized meaning (unknown types, block stops, ...): see ``raw``."""

    type: str


Event: TypeAlias = (
    MessageStart
    | TextDelta
    | ThinkingDelta
    | ThinkingSignature
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | UsageUpdate
    | Ping
    | RawEvent
)


class ProviderChunk:
    """One normalized event of stream ``ref``; ``raw`` is the provider's decoded JSON.

    Immutable like the attrs frozen classes (``FrozenInstanceError`` on
    assignment; equality and hash over ``ref``, ``event``, ``raw``), but
    written by hand: it is the one object made per event on the hot path, and
    the stream keeps its ``raw`` as the SSE event's JSON text, decoded on first
    access and then kept. A decoded dict per buffered event would be several
    more objects for the cyclic GC to walk, for a field most callers never
    read.
    """

    # ``_text`` is the undecoded JSON (then ``_raw`` is unset), or None once
    # ``_raw`` holds the value.
    __slots__ = ("_raw", "_text", "event", "ref")
    __match_args__ = ("ref", "event", "raw")

    ref: Any
    event: Event
    _raw: Any
    _text: str | None

    def __init__(self, ref: Any, event: Event, raw: Any) -> None:
        _set_ref(self, ref)
        _set_event(self, event)
        _set_raw(self, raw)
        _set_text(self, None)

    @property
    def raw(self) -> Any:
        text = self._text
        if text is None:
            return self._raw
        raw = json.loads(text)
        _set_raw(self, raw)
        _set_text(self, None)
        return raw

    def __setattr__(self, name: str, value: Any) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, ProviderChunk)
        return (self.ref, self.event, self.raw) == (other.ref, other.event, other.raw)

    def __hash__(self) -> int:
        return hash((self.__class__, self.ref, self.event, self.raw))

    def __repr__(self) -> str:
        return f"ProviderChunk(ref={self.ref!r}, event={self.event!r}, raw={self.raw!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (ProviderChunk, (self.ref, self.event, self.raw))


_set_ref = ProviderChunk.__dict__["ref"].__set__
_set_event = ProviderChunk.__dict__["event"].__set__
_set_raw = ProviderChunk.__dict__["_raw"].__set__
_set_text = ProviderChunk.__dict__["_text"].__set__
_new = object.__new__


def lazy_chunk(ref: Any, event: Event, text: str | None) -> ProviderChunk:
    """A chunk whose ``raw`` is ``json.loads(text)``, decoded when first read.

    ``text`` must be valid JSON (the decoders only pass text they parsed);
    None gives ``raw=None`` (events no SSE event carried, such as those made
    at the end of the body).
    """
    chunk = _new(ProviderChunk)
    _set_ref(chunk, ref)
    _set_event(chunk, event)
    if text is None:
        _set_raw(chunk, None)
    # else ``_raw`` stays unset until ``raw`` is read: ``_text`` is not None.
    _set_text(chunk, text)
    return chunk


_set_delta_index = TextDelta.__dict__["index"].__set__
_set_delta_text = TextDelta.__dict__["text"].__set__


def text_delta(index: int, text: str) -> TextDelta:
    """``TextDelta(index, text)`` for the decoders' hot path.

    The attrs frozen ``__init__`` sets each field through
    ``object.__setattr__``; setting the slots directly costs about a third
    less, and a text delta is made for nearly every event of a reply.
    """
    delta = _new(TextDelta)
    _set_delta_index(delta, index)
    _set_delta_text(delta, text)
    return delta


@attrs.frozen
class ProviderDone:
    """The one terminal message of stream ``ref``: sent on success, error and cancel."""

    ref: Any
    stop_reason: StopReason | None
    raw_stop_reason: str | None
    usage: Usage
    message: AssistantMessage
    error: ProviderError | None = None


StreamMessage: TypeAlias = ProviderChunk | ProviderDone
