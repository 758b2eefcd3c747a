"""The request side: Message, Tool and Request (provider-neutral, checked at construction)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import attrs

from ..errors import ConfigError
from .parts import ImagePart, Part, TextPart, ToolResultPart, _dict, _tuple
from .reply import AssistantMessage


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
