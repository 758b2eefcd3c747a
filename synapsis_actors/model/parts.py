"""Content parts: the pieces of a message, sent and received (provider-neutral)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias

import attrs


def _tuple(value: Iterable[Any] | None) -> tuple[Any, ...]:
    return () if value is None else tuple(value)


def _dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return {} if value is None else dict(value)


@attrs.frozen
class TextPart:
    """Text. ``signature`` is an opaque token the vendor attached to this very
    part (Gemini's thought signatures), sent back unchanged on later turns."""

    text: str
    type: Literal["text"] = "text"
    signature: str | None = None


@attrs.frozen
class ImagePart:
    """An image, either inline (base64 ``data`` + ``media_type``) or by ``url``."""

    media_type: str = "image/png"
    data: str | None = None
    url: str | None = None
    type: Literal["image"] = "image"


@attrs.frozen
class ToolUsePart:
    """A tool call the assistant made (sent back on later turns).

    ``signature``: the vendor's opaque token on this call (Gemini's thought
    signature), sent back unchanged.
    """

    id: str
    name: str
    input: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    type: Literal["tool_use"] = "tool_use"
    signature: str | None = None


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
    ("anthropic"); other formats leave the part out. Gemini's server-side
    parts (``executableCode``, ``codeExecutionResult``, ``toolCall``, ...) are
    kept the same way, with ``wire="gemini"``.
    """

    wire: str
    data: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    type: Literal["raw_block"] = "raw_block"


Part: TypeAlias = TextPart | ImagePart | ToolUsePart | ToolResultPart | ThinkingPart | RawBlockPart
