"""The reply side: Usage, ToolCall and the accumulated AssistantMessage."""

from __future__ import annotations

import json
from typing import Any, Literal, TypeAlias, get_args

import attrs

from ..errors import InvalidStreamData
from .parts import Part, TextPart, ThinkingPart, ToolUsePart, _tuple

StopReason: TypeAlias = Literal[
    "end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "pause_turn"
]
#: The values of :data:`StopReason`, derived from it.
STOP_REASONS: frozenset[str] = frozenset(get_args(StopReason))


@attrs.frozen
class Usage:
    """Token counts of one reply; ``a + b`` and ``sum(usages)`` add them up field by field."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    #: True when ``output_tokens`` is the library's estimate from the content
    #: received (a stream cancelled or failed before the server's count).
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_creation_tokens + other.cache_creation_tokens,
            self.estimated or other.estimated,  # a total with an estimate in it is one
        )

    def __radd__(self, other: object) -> Usage:
        # sum() starts from 0
        if other == 0 and not isinstance(other, bool):
            return self
        return NotImplemented


@attrs.frozen
class ToolCall:
    """A tool call for the caller to run.

    ``input`` is the parsed arguments. When the arguments were cut off or are
    not a JSON object, ``input`` is None, ``error`` says why and ``arguments``
    keeps the text received: such a call must not be run. ``signature`` is
    the vendor's opaque token on the call (Gemini's thought signature).
    """

    id: str
    name: str
    input: dict[str, Any] | None
    arguments: str = ""
    error: str | None = None
    signature: str | None = None

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

    def parsed(self) -> Any:
        """The text parsed as JSON: the structured output asked for by ``Request.output_schema``.

        Raises ``InvalidStreamData`` (``received`` holds the text, truncated)
        when the text is not one JSON value, e.g. a reply cut off by
        ``max_tokens`` or a refusal.
        """
        try:
            return json.loads(self.text)
        except ValueError as exc:
            why = "cut off by the token limit" if self.stop_reason == "max_tokens" else "not JSON"
            raise InvalidStreamData(
                f"the reply text is {why}: {exc}", received=self.text[:200]
            ) from None

    def parts(self) -> tuple[Part, ...]:
        if self.blocks:
            return self.blocks
        out: list[Part] = []
        if self.thinking:
            out.append(ThinkingPart(self.thinking))
        if self.text:
            out.append(TextPart(self.text))
        out.extend(
            ToolUsePart(c.id, c.name, c.input or {}, signature=c.signature) for c in self.tool_calls
        )
        return tuple(out)
