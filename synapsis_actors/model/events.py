"""The stream side: normalized events, ProviderChunk and the terminal ProviderDone."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import attrs

from ..errors import ProviderError
from .ratelimits import RateLimitStatus
from .reply import AssistantMessage, StopReason, Usage


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
    """The signature of block ``index``: a thinking block's (Anthropic), or Gemini's
    thought signature on a text, thought or function-call part."""

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
    """The one terminal message of stream ``ref``: sent on success, error and cancel.

    ``rate_limits`` is what the server's rate-limit headers said on the
    response that was streamed (None when it sent none, or no response came).
    """

    ref: Any
    stop_reason: StopReason | None
    raw_stop_reason: str | None
    usage: Usage
    message: AssistantMessage
    error: ProviderError | None = None
    rate_limits: RateLimitStatus | None = None


StreamMessage: TypeAlias = ProviderChunk | ProviderDone
