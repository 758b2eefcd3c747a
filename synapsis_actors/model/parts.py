"""Content parts: the pieces of a message, sent and received (provider-neutral)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias, get_args

import attrs

from ..errors import ConfigError

#: How long a prompt-cache breakpoint keeps the prefix up to it (Anthropic's TTLs).
CacheTTL: TypeAlias = Literal["5m", "1h"]
CACHE_TTLS: frozenset[str] = frozenset(get_args(CacheTTL))
#: How closely a vision model looks at an image (OpenAI's ``detail``).
ImageDetail: TypeAlias = Literal["auto", "low", "high"]
IMAGE_DETAILS: frozenset[str] = frozenset(get_args(ImageDetail))


def _tuple(value: Iterable[Any] | None) -> tuple[Any, ...]:
    return () if value is None else tuple(value)


def _dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return {} if value is None else dict(value)


def _check_ttl(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and value not in CACHE_TTLS:
        raise ConfigError(
            "cache_ttl", f"must be one of {sorted(CACHE_TTLS)} or None, got {value!r}"
        )


@attrs.frozen
class TextPart:
    """Text. ``signature`` is an opaque token the vendor attached to this very
    part (Gemini's thought signatures), sent back unchanged on later turns;
    ``cache_ttl`` marks a prompt-cache breakpoint after it."""

    text: str
    type: Literal["text"] = "text"
    signature: str | None = None
    cache_ttl: CacheTTL | None = attrs.field(default=None, kw_only=True, validator=_check_ttl)


@attrs.frozen
class ImagePart:
    """An image, either inline (base64 ``data`` + ``media_type``) or by ``url``.

    ``detail`` asks a vision model to look closely or not (OpenAI-compatible
    wires, Gemini's ``mediaResolution``; refused where no field carries it).
    """

    media_type: str = "image/png"
    data: str | None = None
    url: str | None = None
    type: Literal["image"] = "image"
    detail: ImageDetail | None = attrs.field(default=None, kw_only=True)
    cache_ttl: CacheTTL | None = attrs.field(default=None, kw_only=True, validator=_check_ttl)

    @detail.validator
    def _check_detail(self, attribute: Any, value: Any) -> None:
        if value is not None and value not in IMAGE_DETAILS:
            raise ConfigError(
                "detail", f"must be one of {sorted(IMAGE_DETAILS)} or None, got {value!r}"
            )


@attrs.frozen
class DocumentPart:
    """A document (a PDF), either inline (base64 ``data``) or by ``url``.

    ``title`` names it to the model where the wire has a field for it (the
    file name on OpenAI-compatible wires, ``displayName`` on Vertex AI).
    """

    media_type: str = "application/pdf"
    data: str | None = None
    url: str | None = None
    title: str | None = None
    type: Literal["document"] = "document"
    cache_ttl: CacheTTL | None = attrs.field(default=None, kw_only=True, validator=_check_ttl)


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
    """The result of running a tool; ``content`` is text or a list of text/image/document parts."""

    tool_use_id: str
    content: str | tuple[TextPart | ImagePart | DocumentPart, ...] = ""
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"
    cache_ttl: CacheTTL | None = attrs.field(default=None, kw_only=True, validator=_check_ttl)


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


Part: TypeAlias = (
    TextPart | ImagePart | DocumentPart | ToolUsePart | ToolResultPart | ThinkingPart | RawBlockPart
)
#: Every concrete part class (for ``isinstance`` checks).
PART_TYPES: tuple[type, ...] = (
    TextPart,
    ImagePart,
    DocumentPart,
    ToolUsePart,
    ToolResultPart,
    ThinkingPart,
    RawBlockPart,
)
