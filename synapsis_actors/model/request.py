"""The request side: Message, Tool and Request (provider-neutral, checked at construction).

Two kinds of checks. Values that are wrong whatever the vendor (a role that
is neither user nor assistant, a NaN temperature, a dict part that has no
neutral form) fail at construction with ``ConfigError`` naming the field.
Parts no wire can write where they stand (a tool result in an assistant
turn, an image with no source, a ``tool_choice`` naming no tool) are
refused by ``check_sendable``, which every wire converter calls first: such
a conversation can still be built step by step, and is refused before it is
sent rather than answered with a 400. The pairing of tool calls and results
is ``Request.continued``'s to keep, and the server's to enforce (the
embedded provider checks it as the real APIs do).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, get_args

import attrs

from ..errors import ConfigError
from .config import _check_headers
from .parts import (
    PART_TYPES,
    CacheTTL,
    DocumentPart,
    ImagePart,
    Part,
    RawBlockPart,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
    _check_ttl,
    _dict,
    _tuple,
)
from .reply import AssistantMessage

Role: TypeAlias = Literal["user", "assistant"]
ROLES: frozenset[str] = frozenset(get_args(Role))
#: How hard a reasoning model thinks: the union of the vendors' levels (each
#: wire refuses the ones it has no word for).
ReasoningEffort: TypeAlias = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
REASONING_EFFORTS: frozenset[str] = frozenset(get_args(ReasoningEffort))
#: ``tool_choice`` values other than a tool's name.
TOOL_CHOICE_MODES: frozenset[str] = frozenset({"auto", "none", "any", "required"})


def _text_dict(item: Mapping[str, Any], index: int) -> TextPart:
    """An SDK-style ``{"type": "text", "text": ...}`` dict as a ``TextPart``.

    Only this shape is converted: it has one exact neutral form. Any other dict
    (images, tool blocks, vendor keys such as ``cache_control``) is refused:
    guessing would send something other than what was written.
    """
    if item.get("type") == "text" and set(item) == {"type", "text"}:
        text = item["text"]
        if isinstance(text, str):
            return TextPart(text)
    kind = item.get("type")
    raise ConfigError(
        "content",
        f"item {index} is a dict of type {kind!r} with keys {sorted(map(str, item))}: only "
        "{'type': 'text', 'text': str} dicts are converted; build the part "
        "(TextPart, ImagePart, DocumentPart, ToolResultPart, ...) instead",
    )


def _parts(value: str | Iterable[Part | Mapping[str, Any]]) -> tuple[Part, ...]:
    if isinstance(value, str):
        return (TextPart(value),)
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        kind = type(value).__name__
        raise ConfigError("content", f"must be a string or a sequence of parts, got {kind}")
    out: list[Part] = []
    for index, item in enumerate(value):
        if isinstance(item, PART_TYPES):
            out.append(item)  # type: ignore[arg-type]  # PART_TYPES is Part's members
        elif isinstance(item, Mapping):
            out.append(_text_dict(item, index))
        else:
            raise ConfigError("content", f"item {index} is not a part: {type(item).__name__}")
    return tuple(out)


def _check_role(instance: Any, attribute: Any, value: Any) -> None:
    if value not in ROLES:
        raise ConfigError(
            "role",
            f"must be 'user' or 'assistant', got {value!r} (the system prompt is "
            "Request.system; tool results are ToolResultPart in a user turn)",
        )


@attrs.frozen
class Message:
    """One conversation turn. Build with ``Message.user``, ``.assistant``, ``.tool_result``.

    ``content`` is a string or a sequence of parts; an SDK-style
    ``{"type": "text", "text": ...}`` dict is converted to a ``TextPart``,
    any other dict is refused (``ConfigError`` naming ``content``).
    """

    role: Role = attrs.field(validator=_check_role)
    content: tuple[Part, ...] = attrs.field(converter=_parts)

    @classmethod
    def user(cls, content: str | Iterable[Part | Mapping[str, Any]]) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str | Iterable[Part | Mapping[str, Any]]) -> Message:
        return cls("assistant", content)

    @classmethod
    def tool_result(
        cls,
        tool_use_id: str,
        content: str | Sequence[TextPart | ImagePart | DocumentPart],
        *,
        is_error: bool = False,
    ) -> Message:
        body = content if isinstance(content, str) else tuple(content)
        return cls("user", (ToolResultPart(tool_use_id, body, is_error),))

    @classmethod
    def from_reply(cls, reply: AssistantMessage) -> Message:
        """The assistant turn to send back next time: thinking (signed), text, tool calls."""
        return cls("assistant", reply.parts())

    @classmethod
    def tool_results(
        cls,
        results: Mapping[str, str | Sequence[TextPart | ImagePart | DocumentPart] | ToolResultPart]
        | Iterable[ToolResultPart],
    ) -> Message:
        """One user turn answering tool calls: ``{call_id: content}`` or ``ToolResultPart``s.

        A value may itself be a ``ToolResultPart`` (to set ``is_error``).
        """
        parts: list[Part] = []
        if isinstance(results, Mapping):
            for call_id, content in results.items():
                if isinstance(content, ToolResultPart):
                    if content.tool_use_id != call_id:
                        raise ConfigError(
                            "results",
                            f"the result under {call_id!r} answers {content.tool_use_id!r}",
                        )
                    parts.append(content)
                else:
                    body = content if isinstance(content, str) else tuple(content)
                    parts.append(ToolResultPart(call_id, body))
        else:
            for index, part in enumerate(results):
                if not isinstance(part, ToolResultPart):
                    raise ConfigError(
                        "results", f"item {index} is not a ToolResultPart: {type(part).__name__}"
                    )
                parts.append(part)
        return cls("user", parts)


@attrs.frozen
class Tool:
    """A tool offered to the model; ``cache_ttl`` marks a cache breakpoint after it."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}, converter=_dict
    )
    cache_ttl: CacheTTL | None = attrs.field(default=None, kw_only=True, validator=_check_ttl)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("name", f"must be a non-empty string, got {self.name!r}")


@attrs.frozen
class JsonSchema:
    """Structured output: the reply is JSON matching ``schema`` (see ``AssistantMessage.parsed``).

    ``name`` and ``description`` tell the model what it is writing (OpenAI's
    ``json_schema.name``: ``^[a-zA-Z0-9_-]{1,64}$``); ``strict`` asks the
    vendor to enforce the schema exactly (OpenAI's strict mode; Anthropic's
    structured outputs are always strict).
    """

    schema: dict[str, Any] = attrs.field(converter=_dict)
    name: str = "output"
    description: str | None = None
    strict: bool = True

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", self.name):
            raise ConfigError(
                "output_schema", f"name must match ^[a-zA-Z0-9_-]{{1,64}}$, got {self.name!r}"
            )


def _stop(value: str | Iterable[str] | None) -> tuple[str, ...]:
    # A lone string is one stop sequence, not one per character.
    if isinstance(value, str):
        return (value,)
    return () if value is None else tuple(value)


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
    system = request.system
    if system is not None and type(system) is not str and isinstance(system, Iterable):
        # TextParts given as any sequence: kept as a tuple. Set here rather than
        # by a converter, which would cost a call on every request.
        system = tuple(system)
        object.__setattr__(request, "system", system)
    if (
        system is not None
        and not isinstance(system, str)
        and not (isinstance(system, tuple) and all(isinstance(p, TextPart) for p in system))
    ):
        kind = type(system).__name__
        raise ConfigError("system", f"must be a string, TextParts or None, got {kind}")
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
    _check_options(request)
    if not all(isinstance(key, str) for key in request.extra):
        raise ConfigError("extra", "keys must be strings")


def _check_options(request: Any) -> None:
    """The request features beyond the basics (structured output, reasoning, metadata)."""
    if (
        request.parallel_tool_calls is None
        and request.output_schema is None
        and request.reasoning_effort is None
        and request.adaptive_thinking is False
        and request.cache_key is None
        and request.user_id is None
        and not request.metadata
        and not request.headers
    ):
        return  # none used: the common case, checked once per request
    if request.parallel_tool_calls is not None and not isinstance(
        request.parallel_tool_calls, bool
    ):
        raise ConfigError("parallel_tool_calls", "must be a bool or None")
    if request.output_schema is not None and not isinstance(request.output_schema, JsonSchema):
        kind = type(request.output_schema).__name__
        raise ConfigError("output_schema", f"must be a JsonSchema or None, got {kind}")
    effort = request.reasoning_effort
    if effort is not None and effort not in REASONING_EFFORTS:
        raise ConfigError(
            "reasoning_effort",
            f"must be one of {sorted(REASONING_EFFORTS)} or None, got {effort!r}",
        )
    if not isinstance(request.adaptive_thinking, bool):
        raise ConfigError("adaptive_thinking", "must be a bool")
    if request.adaptive_thinking and request.thinking_budget is not None:
        raise ConfigError(
            "adaptive_thinking", "the model picks its own budget: leave thinking_budget None"
        )
    for name in ("cache_key", "user_id"):
        value = getattr(request, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(name, f"must be a non-empty string or None, got {value!r}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in request.metadata.items()):
        raise ConfigError("metadata", "keys and values must be strings")
    _check_headers(None, None, request.headers)


@attrs.frozen
class Request:
    """A provider-neutral chat request.

    ``max_tokens=None`` lets each provider apply its default (Anthropic: 8192).
    ``thinking_budget`` enables extended thinking / reasoning where supported.
    ``extra`` is merged into the wire JSON last (vendor-specific knobs).
    Every value is checked at construction: a bad one raises ``ConfigError``
    naming the field. The keyword-only fields are the features agents use;
    docs/providers.md has the table of how each wire sends them, and a wire
    that cannot carry one refuses it (``ConfigError``) rather than dropping it.
    """

    model: str
    messages: tuple[Message, ...] = attrs.field(converter=_tuple)
    system: str | tuple[TextPart, ...] | None = None
    tools: tuple[Tool, ...] = attrs.field(default=(), converter=_tuple)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = attrs.field(default=(), converter=_stop)
    tool_choice: str | None = None
    thinking_budget: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: False: at most one tool call per reply; None: the vendor's default.
    parallel_tool_calls: bool | None = attrs.field(default=None, kw_only=True)
    output_schema: JsonSchema | None = attrs.field(default=None, kw_only=True)
    reasoning_effort: ReasoningEffort | None = attrs.field(default=None, kw_only=True)
    #: Let the model decide how long to think (Anthropic's adaptive thinking).
    adaptive_thinking: bool = attrs.field(default=False, kw_only=True)
    #: Groups requests sharing a prompt prefix for the vendor's prompt cache.
    cache_key: str | None = attrs.field(default=None, kw_only=True)
    #: An opaque id of the end user (abuse detection); never a name or an email.
    user_id: str | None = attrs.field(default=None, kw_only=True)
    metadata: dict[str, str] = attrs.field(default=None, converter=_dict, kw_only=True)
    #: Extra HTTP headers for this request only (after ProviderConfig.headers);
    #: left out of repr, as they may carry credentials.
    headers: dict[str, str] = attrs.field(default=None, converter=_dict, kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_request(self)

    def continued(
        self,
        reply: AssistantMessage,
        results: Mapping[str, str | Sequence[TextPart | ImagePart | DocumentPart] | ToolResultPart]
        | Iterable[ToolResultPart] = (),
    ) -> Request:
        """This request with the reply and the tool results appended: the next turn.

        Every tool call of ``reply`` must be answered (a vendor refuses an
        unanswered call): by ``{call.id: content}`` or ``ToolResultPart``s.
        A call that is not ``valid`` (cut-off arguments) must be answered too,
        e.g. ``ToolResultPart(call.id, call.error, is_error=True)``.
        """
        answer = Message.tool_results(results)
        answered = {p.tool_use_id for p in answer.content if isinstance(p, ToolResultPart)}
        missing = [c.id for c in reply.tool_calls if c.id not in answered]
        if missing:
            raise ConfigError("results", f"no result for tool call(s) {missing}")
        extra = [c for c in answered if c not in {call.id for call in reply.tool_calls}]
        if extra:
            raise ConfigError("results", f"results for calls the reply did not make: {extra}")
        messages = [*self.messages, Message.from_reply(reply)]
        if answer.content:
            messages.append(answer)
        return attrs.evolve(self, messages=messages)


# ---------------------------------------------------------------- sendable


def check_sendable(request: Request) -> None:
    """Refuse parts no wire can write where they are (``ConfigError`` naming the field).

    Called by each wire converter before it writes a body: tool results and
    documents and images belong in user turns, tool calls and thinking in
    assistant turns; an image or a document has exactly one source; a named
    ``tool_choice`` is one of the tools. The conversation's own rules (every
    tool call answered in the next turn, ...) are the server's to enforce:
    the embedded provider checks them as the real APIs do.
    """
    for index, message in enumerate(request.messages):
        assistant = message.role == "assistant"
        for part in message.content:
            # The common parts in their place, by type alone (this runs per request).
            kind = type(part)
            if (
                kind is TextPart
                or kind is RawBlockPart
                or (assistant and (kind is ToolUsePart or kind is ThinkingPart))
                or (not assistant and type(part) is ToolResultPart and type(part.content) is str)
            ):
                continue
            _check_part(part, assistant, f"messages[{index}]")
    choice = request.tool_choice
    named = choice is not None and choice not in TOOL_CHOICE_MODES
    if named and choice not in {t.name for t in request.tools}:
        raise ConfigError("tool_choice", f"{choice!r} is not the name of one of the tools")


def _check_part(part: Part, assistant: bool, field: str) -> None:
    if isinstance(part, ToolResultPart):
        if assistant:
            raise ConfigError(field, "a tool result belongs in a user turn")
        # Not checked at construction: the type says parts, the caller may not.
        items: tuple[object, ...] = () if isinstance(part.content, str) else part.content
        for item in items:
            if not isinstance(item, TextPart | ImagePart | DocumentPart):
                kind = type(item).__name__
                raise ConfigError(field, f"a tool result cannot hold a {kind}")
            _check_source(item, field)
    elif isinstance(part, ToolUsePart | ThinkingPart):
        if not assistant:
            raise ConfigError(field, f"a {type(part).__name__} belongs in an assistant turn")
    elif isinstance(part, ImagePart | DocumentPart):
        if assistant:
            raise ConfigError(field, f"a {type(part).__name__} belongs in a user turn")
        _check_source(part, field)


def _check_source(part: Part, field: str) -> None:
    if isinstance(part, ImagePart | DocumentPart) and (part.data is None) == (part.url is None):
        kind = type(part).__name__
        raise ConfigError(field, f"{kind} needs exactly one of data (base64) and url")
