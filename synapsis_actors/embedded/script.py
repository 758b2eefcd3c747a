"""What the embedded provider answers, and how it misbehaves: plain frozen data.

A :class:`Reply` is a normalized answer (text, thinking with its signature,
tool calls, stop reason, usage). ``wire.py`` renders it to Anthropic Messages
or OpenAI chat-completions bytes. A :class:`RawReply` is exact bytes replayed
as given. A :class:`Fault` says how the delivery goes wrong (an error status,
slow headers, a dropped connection, a stall, bad data...). A :class:`Step`
binds one reply to one fault and a pacing; the server consumes one step per
chat request, first from its FIFO queue, then from its default.

Event positions (``drop_after``, ``stall_after``, ``malformed_at``,
``error_event_at``, ``oversized_at``) count the SSE events of the rendered
stream from 0, pings included: ``drop_after=2`` sends events 0 and 1, then
aborts the connection. A position equal to the number of events means after
the last one (a complete stream, then the abort); past that, never. Each
event is written (and flushed) separately.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias

import attrs

from ..errors import ConfigError
from ..model.reply import StopReason

#: The normalized stop reasons a reply may name (the library's own ``StopReason``).
StopReasonName: TypeAlias = StopReason
ErrorStyle: TypeAlias = Literal["vendor", "vllm"]

_WORD = re.compile(r"\s*\S+")


def split_words(text: str) -> tuple[str, ...]:
    """Split text into word deltas the way tokenizers stream it (leading spaces kept).

    ``"".join(split_words(t)) == t`` for every ``t``.
    """
    parts = _WORD.findall(text)
    if not parts:
        return (text,) if text else ()
    tail = text[len("".join(parts)) :]
    if tail:
        parts[-1] += tail
    return tuple(parts)


def split_fixed(text: str, size: int) -> tuple[str, ...]:
    """Split text into pieces of ``size`` characters (the last may be shorter)."""
    if not text:
        return ()
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def _deltas(value: str | Iterable[str] | None) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    return tuple(value)


def _opt_fragments(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _calls(value: Iterable[ToolCallReply]) -> tuple[ToolCallReply, ...]:
    return tuple(value)


def _sizes(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


def _non_negative(name: str) -> Any:
    def check(_inst: Any, _attr: Any, value: float | int | None) -> None:
        if value is not None and value < 0:
            raise ConfigError(name, f"must be >= 0, got {value!r}")

    return check


@attrs.frozen
class ToolCallReply:
    """A tool call in a reply.

    ``input`` is the tool's arguments; they are sent as ``json.dumps(input)``
    split into pieces of ``fragment_size`` characters, unless ``fragments``
    gives the exact pieces (their concatenation is sent verbatim, so it may be
    invalid JSON on purpose). ``id=None`` gets a deterministic id.
    """

    name: str
    input: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    id: str | None = None
    fragments: tuple[str, ...] | None = attrs.field(default=None, converter=_opt_fragments)
    fragment_size: int = attrs.field(default=12)

    @input.validator
    def _check_input(self, _attr: Any, value: Mapping[str, Any]) -> None:
        try:
            json.dumps(dict(value))
        except (TypeError, ValueError) as exc:
            raise ConfigError("ToolCallReply.input", f"must be JSON-serializable: {exc}") from None

    @fragment_size.validator
    def _check_size(self, _attr: Any, value: int) -> None:
        if value < 1:
            raise ConfigError("ToolCallReply.fragment_size", f"must be >= 1, got {value!r}")

    def argument_fragments(self) -> tuple[str, ...]:
        if self.fragments is not None:
            return self.fragments
        return split_fixed(json.dumps(dict(self.input), ensure_ascii=False), self.fragment_size)

    def arguments(self) -> str:
        return "".join(self.argument_fragments())


@attrs.frozen
class Reply:
    """A normalized assistant reply, rendered to either wire format.

    ``text`` and ``thinking`` are either a string (streamed word by word) or
    the exact sequence of deltas. ``thinking`` is sent before the text, with
    ``signature`` (a deterministic one when None). ``stop_reason=None`` means
    ``"tool_use"`` when there are tool calls, else ``"end_turn"``;
    ``raw_stop_reason`` overrides the value written on the wire. Token counts
    left as None are estimated (input from the request size, output from the
    number of deltas); ``model=None`` repeats the request's model.
    """

    text: str | tuple[str, ...] = attrs.field(default="", converter=_deltas)
    thinking: str | tuple[str, ...] | None = attrs.field(default=None, converter=_deltas)
    signature: str | None = None
    tool_calls: tuple[ToolCallReply, ...] = attrs.field(default=(), converter=_calls)
    stop_reason: StopReasonName | None = None
    raw_stop_reason: str | None = None
    input_tokens: int | None = attrs.field(default=None, validator=_non_negative("input_tokens"))
    output_tokens: int | None = attrs.field(default=None, validator=_non_negative("output_tokens"))
    cache_read_tokens: int = attrs.field(default=0, validator=_non_negative("cache_read_tokens"))
    cache_creation_tokens: int = attrs.field(
        default=0, validator=_non_negative("cache_creation_tokens")
    )
    model: str | None = None
    id: str | None = None

    def text_deltas(self) -> tuple[str, ...]:
        return split_words(self.text) if isinstance(self.text, str) else self.text

    def thinking_deltas(self) -> tuple[str, ...]:
        if self.thinking is None:
            return ()
        return split_words(self.thinking) if isinstance(self.thinking, str) else self.thinking

    def full_text(self) -> str:
        return "".join(self.text_deltas())

    def full_thinking(self) -> str | None:
        return None if self.thinking is None else "".join(self.thinking_deltas())

    def effective_stop_reason(self) -> StopReasonName:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if self.tool_calls else "end_turn"

    def estimated_output_tokens(self) -> int:
        if self.output_tokens is not None:
            return self.output_tokens
        count = len(self.text_deltas()) + len(self.thinking_deltas())
        count += sum(len(call.argument_fragments()) for call in self.tool_calls)
        return max(count, 1)


@attrs.frozen
class RawReply:
    """Exact bytes replayed as the response body, byte for byte.

    ``chunk_sizes`` splits the body: each piece is written (and flushed)
    separately, in order; bytes left over after the listed sizes go in one
    last piece. ``status``, ``content_type`` and ``headers`` make the response
    head. A Fault's ``drop_after`` / ``stall_after`` count pieces here.
    """

    body: bytes
    chunk_sizes: tuple[int, ...] = attrs.field(default=(), converter=_sizes)
    status: int = 200
    content_type: str = "text/event-stream; charset=utf-8"
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=dict)

    @chunk_sizes.validator
    def _check_sizes(self, _attr: Any, value: tuple[int, ...]) -> None:
        for size in value:
            if size < 1:
                raise ConfigError("RawReply.chunk_sizes", f"sizes must be >= 1, got {size!r}")

    def chunks(self) -> tuple[bytes, ...]:
        pieces: list[bytes] = []
        offset = 0
        for size in self.chunk_sizes:
            if offset >= len(self.body):
                break
            pieces.append(self.body[offset : offset + size])
            offset += size
        if offset < len(self.body):
            pieces.append(self.body[offset:])
        return tuple(pieces)


@attrs.frozen
class Fault:
    """How one response goes wrong. Every field is optional and they compose.

    * ``status``: answer with this HTTP status and the vendor's error JSON
      (or ``body``) instead of a stream. ``status=200`` with ``body`` sends
      that body as a plain 200.
    * ``retry_after`` (seconds, an HTTP-date string, or a datetime),
      ``retry_after_ms``, ``should_retry`` (``x-should-retry``), ``headers``:
      response headers, sent with errors and successes alike.
    * ``header_delay``: seconds before the response head is sent (slow headers).
    * ``drop_after=N``: send N events, then abort the TCP connection (the
      client sees the body end without its terminator). ``reset=True`` makes
      the abort a TCP RST instead of a FIN.
    * ``stall_after=N``: send N events, then send nothing more, keeping the
      connection open, for ``stall_for`` seconds (None: until the client
      leaves); ``keepalive_every`` sends pings (Anthropic) or SSE comments
      (OpenAI) at that interval during the stall; they carry no content.
    * ``malformed_at=N``: a non-JSON ``data:`` line inserted before event N.
    * ``error_event_at=N``: after N events, an in-stream error (Anthropic
      ``event: error``; OpenAI ``{"error": ...}`` chunk, or vLLM's
      ``{"object": "error"}`` with ``error_style="vllm"``); the body then ends.
    * ``truncate``: the body ends cleanly (valid HTTP) but without the final
      events: no message_delta / message_stop (Anthropic), no finish_reason
      chunk, usage chunk or ``[DONE]`` (OpenAI). A non-streaming JSON body
      is cut in half (it is written in two halves, which count as 2 events).
    * ``oversized_line=N``: a valid JSON ``data:`` line of N bytes (padding
      included) inserted before event ``oversized_at``.
    """

    status: int | None = attrs.field(default=None)
    body: bytes | Mapping[str, Any] | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    retry_after: float | str | _dt.datetime | None = attrs.field(default=None)
    retry_after_ms: float | None = attrs.field(
        default=None, validator=_non_negative("retry_after_ms")
    )
    should_retry: bool | None = None
    header_delay: float = attrs.field(default=0.0, validator=_non_negative("header_delay"))
    drop_after: int | None = attrs.field(default=None, validator=_non_negative("drop_after"))
    reset: bool = False
    stall_after: int | None = attrs.field(default=None, validator=_non_negative("stall_after"))
    stall_for: float | None = attrs.field(default=None, validator=_non_negative("stall_for"))
    keepalive_every: float | None = attrs.field(default=None)
    malformed_at: int | None = attrs.field(default=None, validator=_non_negative("malformed_at"))
    malformed_data: bytes = b"data: {not json at all\n\n"
    error_event_at: int | None = attrs.field(
        default=None, validator=_non_negative("error_event_at")
    )
    error_type: str = "overloaded_error"
    error_message: str = "Overloaded"
    error_style: ErrorStyle = "vendor"
    truncate: bool = False
    oversized_line: int | None = attrs.field(
        default=None, validator=_non_negative("oversized_line")
    )
    oversized_at: int = attrs.field(default=1, validator=_non_negative("oversized_at"))

    @status.validator
    def _check_status(self, _attr: Any, value: int | None) -> None:
        if value is not None and not 100 <= value <= 599:
            raise ConfigError("Fault.status", f"must be an HTTP status 100..599, got {value!r}")

    @keepalive_every.validator
    def _check_keepalive(self, _attr: Any, value: float | None) -> None:
        if value is not None and value <= 0:
            raise ConfigError("Fault.keepalive_every", f"must be > 0, got {value!r}")

    @retry_after.validator
    def _check_retry_after(self, _attr: Any, value: object) -> None:
        if isinstance(value, int | float) and value < 0:
            raise ConfigError("Fault.retry_after", f"must be >= 0, got {value!r}")

    def response_headers(self) -> list[tuple[str, str]]:
        """The extra headers this fault adds to the response head."""
        out: list[tuple[str, str]] = []
        if self.retry_after is not None:
            out.append(("retry-after", format_retry_after(self.retry_after)))
        if self.retry_after_ms is not None:
            out.append(("retry-after-ms", _number(self.retry_after_ms)))
        if self.should_retry is not None:
            out.append(("x-should-retry", "true" if self.should_retry else "false"))
        out.extend((name.lower(), value) for name, value in self.headers.items())
        return out


def format_retry_after(value: float | str | _dt.datetime) -> str:
    """``Retry-After`` as sent: seconds as a number, a datetime as an HTTP-date."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value.astimezone(_dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    if isinstance(value, str):
        return value
    return _number(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@attrs.frozen
class Step:
    """One scripted response: a reply (None: the server's default, e.g. echo),
    a fault, and ``delay`` seconds of ``trio.sleep`` before each event after
    the first (pacing; use ``trio.testing.MockClock`` in tests)."""

    reply: Reply | RawReply | None = None
    fault: Fault = attrs.field(factory=Fault)
    delay: float = attrs.field(default=0.0, validator=_non_negative("delay"))


Scriptable: TypeAlias = Reply | RawReply | Fault | Step


def as_step(item: Scriptable) -> Step:
    """Normalize what ``enqueue`` accepts to a :class:`Step`."""
    if isinstance(item, Step):
        return item
    if isinstance(item, Fault):
        return Step(fault=item)
    if isinstance(item, Reply | RawReply):
        return Step(reply=item)
    raise ConfigError("script", f"expected Reply, RawReply, Fault or Step, got {type(item)!r}")
