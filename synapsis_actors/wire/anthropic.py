"""The Anthropic Messages wire format: request JSON out, SSE events in.

Request (``format_request``): ``system`` apart from the messages (a string
or text blocks), ``max_tokens`` defaulting to 8192 (raised above a larger
thinking budget), tools (names encoded as in ``toolnames.py``),
``tool_choice`` with ``disable_parallel_tool_use``, ``thinking`` (a token
budget, or adaptive), ``output_config`` (effort, JSON schema format),
``metadata.user_id``, ``cache_control`` breakpoints with their TTL, images
and PDF documents (base64 or URL), tool results first in their user turn,
and the assistant's thinking blocks sent back with their signatures
(redacted thinking verbatim; unsigned thinking from another vendor is left
out, since the API rejects it). What the API cannot take (image detail, a
cache key, metadata other than the user id, a turn left empty) is refused
with ``ConfigError``. Headers: ``x-api-key`` and
``Authorization: Bearer`` (compatible proxies read either) and
``anthropic-version: 2023-06-01``; URL ``base_url + /v1/messages``.

Stream (``AnthropicDecoder``): message_start, content_block_start / delta /
stop, message_delta, message_stop, ping, error:

* text, thinking, signature deltas become ``TextDelta``, ``ThinkingDelta``,
  ``ThinkingSignature``; ``tool_use`` blocks become ``ToolCallStart`` /
  ``ToolCallDelta`` / ``ToolCallEnd`` and tool calls of the reply;
* server_tool_use, mcp_tool_use and ``*_tool_result`` blocks (run by the
  provider), citations deltas and any unknown event, block or delta are
  ``RawEvent`` chunks and never tool calls;
* usage: message_start's, then each message_delta's fields replace it;
* ``event: error`` ends the stream with its typed error (overloaded ->
  ``Overloaded``, rate_limit -> ``RateLimited``, api_error -> ``ServerError``,
  ...);
* blocks still open at message_stop or at the end of the body are closed
  (some proxies omit the last content_block_stop); a body that ends before
  message_delta/message_stop is ``StreamInterrupted``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..model.config import ProviderConfig
from ..model.events import (
    Event,
    MessageStart,
    Ping,
    RawEvent,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
    text_delta,
)
from ..model.http import HttpRequest
from ..model.parts import (
    DocumentPart,
    ImagePart,
    RawBlockPart,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
)
from ..model.reply import STOP_REASONS, StopReason, Usage
from ..model.request import Message, Request, Tool, check_sendable
from . import errors as errormap
from .decoder import JsonEventDecoder
from .profiles import PROFILES, Profile
from .protocol import StreamDecoder
from .provider import BaseProvider, auth_headers, base_url, join_path
from .sse import DEFAULT_MAX_SIZE
from .toolnames import decode_tool_name, encode_tool_name

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 8192

# ---------------------------------------------------------------- request side

#: The image types the Messages API takes inline.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def _refuse(field: str, what: str) -> ConfigError:
    return ConfigError(field, f"the Anthropic Messages API {what}")


def _cached(block: dict[str, Any], ttl: str | None) -> dict[str, Any]:
    if ttl is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": ttl}
    return block


def _text(part: TextPart) -> dict[str, Any]:
    if not part.text:
        raise _refuse("content", "refuses empty text blocks")
    return _cached({"type": "text", "text": part.text}, part.cache_ttl)


def _image(part: ImagePart) -> dict[str, Any]:
    if part.detail is not None:
        raise _refuse("detail", "has no image detail setting")
    if part.url is not None:
        source: dict[str, Any] = {"type": "url", "url": part.url}
    elif part.media_type not in IMAGE_TYPES:
        raise _refuse(
            "media_type", f"takes images of {sorted(IMAGE_TYPES)}, not {part.media_type!r}"
        )
    else:
        source = {"type": "base64", "media_type": part.media_type, "data": part.data}
    return _cached({"type": "image", "source": source}, part.cache_ttl)


def _document(part: DocumentPart) -> dict[str, Any]:
    if part.url is not None:
        source: dict[str, Any] = {"type": "url", "url": part.url}
    elif part.media_type != "application/pdf":
        raise _refuse("media_type", f"takes base64 documents as PDF only, not {part.media_type!r}")
    else:
        source = {"type": "base64", "media_type": part.media_type, "data": part.data}
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.title is not None:
        block["title"] = part.title
    return _cached(block, part.cache_ttl)


def _tool_result(part: ToolResultPart) -> dict[str, Any]:
    content: Any = part.content
    if not isinstance(content, str):
        content = [_block(p) for p in content]
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.tool_use_id}
    block["content"] = content
    if part.is_error:
        block["is_error"] = True
    return _cached(block, part.cache_ttl)


def _thinking(part: ThinkingPart) -> dict[str, Any] | None:
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.text}
    if not part.signature:
        return None  # unsigned thinking (another vendor's reasoning): the API rejects it
    return {"type": "thinking", "thinking": part.text, "signature": part.signature}


def _tool_use(part: ToolUsePart) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": part.id,
        "name": encode_tool_name(part.name),
        "input": part.input,
    }


def _raw(part: RawBlockPart) -> dict[str, Any] | None:
    return dict(part.data) if part.wire == "anthropic" else None


#: Part type -> Messages API block (None: a part this wire leaves out, see the module docstring).
_BLOCKS: dict[type, Callable[[Any], dict[str, Any] | None]] = {
    TextPart: _text,
    ImagePart: _image,
    DocumentPart: _document,
    ToolUsePart: _tool_use,
    ToolResultPart: _tool_result,
    ThinkingPart: _thinking,
    RawBlockPart: _raw,
}


def _block(part: Any) -> dict[str, Any] | None:
    convert = _BLOCKS.get(type(part))
    if convert is None:  # a subclass of a part
        convert = next(f for kind, f in _BLOCKS.items() if isinstance(part, kind))
    return convert(part)


def _tool(tool: Tool) -> dict[str, Any]:
    block = {
        "name": encode_tool_name(tool.name),
        "description": tool.description,
        "input_schema": tool.input_schema,
    }
    return _cached(block, tool.cache_ttl)


def _message(index: int, message: Message) -> dict[str, Any]:
    parts = message.content
    if message.role == "user":
        # tool_result blocks first: the API wants them before any other block.
        results = [p for p in parts if type(p) is ToolResultPart]
        if results and len(results) < len(parts):
            parts = (*results, *(p for p in parts if type(p) is not ToolResultPart))
    blocks = []
    for part in parts:
        try:
            convert = _BLOCKS.get(type(part))
            block = convert(part) if convert is not None else _block(part)
        except ConfigError as exc:
            raise ConfigError(
                f"messages[{index}].{exc.field}", str(exc).split(": ", 1)[1]
            ) from None
        if block is not None:
            blocks.append(block)
    if not blocks:
        raise _refuse(
            f"messages[{index}]",
            "refuses a turn with no content: this one holds nothing it takes (unsigned "
            "reasoning or another vendor's blocks only)",
        )
    return {"role": message.role, "content": blocks}


def _tool_choice(request: Request) -> dict[str, Any] | None:
    choice = request.tool_choice
    parallel = request.parallel_tool_calls
    if choice is None and parallel is None:
        return None
    if choice is None or choice == "auto":
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "none":
        if parallel is not None:
            raise _refuse("parallel_tool_calls", "takes no parallel setting with tool_choice none")
        return {"type": "none"}
    elif choice in ("any", "required"):
        out = {"type": "any"}
    else:
        out = {"type": "tool", "name": encode_tool_name(choice)}
    if parallel is not None:
        out["disable_parallel_tool_use"] = not parallel
    return out


def _output_config(request: Request) -> dict[str, Any]:
    config: dict[str, Any] = {}
    effort = request.reasoning_effort
    if effort is not None:
        if effort not in PROFILES["anthropic"].reasoning_efforts:
            takes = sorted(PROFILES["anthropic"].reasoning_efforts)
            raise _refuse("reasoning_effort", f"takes effort {takes}, not {effort!r}")
        config["effort"] = effort
    if request.output_schema is not None:
        # Always enforced: the name and description have no field here.
        config["format"] = {"type": "json_schema", "schema": request.output_schema.schema}
    return config


def format_request(request: Request) -> dict[str, Any]:
    """The Messages API body for ``request`` (streaming)."""
    check_sendable(request)
    max_tokens = request.max_tokens
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
        if request.thinking_budget is not None and request.thinking_budget >= max_tokens:
            # max_tokens must exceed the thinking budget; leave room for the answer.
            max_tokens = request.thinking_budget + DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": max_tokens,
        "messages": [_message(i, m) for i, m in enumerate(request.messages)],
        "stream": True,
    }
    system = request.system
    if isinstance(system, tuple):
        body["system"] = [_text(p) for p in system]
    elif system:
        body["system"] = system
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    choice = _tool_choice(request)
    if choice is not None:
        body["tool_choice"] = choice
    if request.thinking_budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
    elif request.adaptive_thinking:
        body["thinking"] = {"type": "adaptive"}
    if request.reasoning_effort is not None or request.output_schema is not None:
        body["output_config"] = _output_config(request)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user_id is not None:
        body["metadata"] = {"user_id": request.user_id}
    if request.metadata:
        raise _refuse("metadata", "takes no metadata but user_id (Request.user_id)")
    if request.cache_key is not None:
        raise _refuse("cache_key", "takes no cache key: mark breakpoints with cache_ttl")
    body.update(request.extra)
    return body


# ---------------------------------------------------------------- stream side

_PING = Ping()
_RAW_BLOCK_START = RawEvent("content_block_start")
_RAW_BLOCK_STOP = RawEvent("content_block_stop")
_RAW_MESSAGE_DELTA = RawEvent("message_delta")
_RAW_MESSAGE_STOP = RawEvent("message_stop")
_RAW_INPUT_JSON = RawEvent("input_json_delta")
_RAW_CITATIONS = RawEvent("citations_delta")
_RAW_REDACTED = RawEvent("redacted_thinking")

#: Stop reasons outside the normalized set that still have a normalized meaning.
_STOP_ALIASES: dict[str, StopReason] = {"model_context_window_exceeded": "max_tokens"}


def normalize_stop_reason(raw: str | None) -> StopReason | None:
    if raw is None:
        return None
    if raw in STOP_REASONS:
        return raw  # type: ignore[return-value]
    return _STOP_ALIASES.get(raw)


def _str(value: Any, field: str) -> str:
    """``value`` if it is a string; a TypeError (-> InvalidStreamData) otherwise."""
    if type(value) is str:
        return value
    raise TypeError(f"{field} is not a string: {type(value).__name__}")


def _opt_str(value: Any, field: str) -> str | None:
    return None if value is None else _str(value, field)


def _int(value: Any, default: int) -> int:
    return value if type(value) is int else default


class AnthropicDecoder(JsonEventDecoder):
    """``StreamDecoder`` for the Messages API stream (see the module docstring)."""

    def __init__(
        self, provider: str = "anthropic", *, ref: Any = None, max_size: int = DEFAULT_MAX_SIZE
    ) -> None:
        super().__init__(provider, ref=ref, max_size=max_size)
        # index -> "text" | "thinking" | "redacted" | "tool" | "other"
        self._kinds: dict[int, str] = {}
        self._stopped = False  # message_delta with a stop_reason arrived
        # The dispatch tables are per class (_HANDLERS, _DELTAS below): bound
        # methods kept on the instance would make every decoder a reference
        # cycle that only the cyclic GC frees.

    def _handle(self, name: str, obj: dict[str, Any], out: list[Event]) -> None:
        kind = obj.get("type", name)
        if kind == "content_block_delta":
            # Most events of a reply: a text delta, handled here in one call
            # instead of two (_block_delta, _text_delta); the same result.
            delta = obj["delta"]
            if delta.get("type") == "text_delta":
                index = obj["index"]
                text = delta["text"]
                if type(text) is str:
                    self._acc.text(index, text)
                    out.append(text_delta(index, text))
                    self._fast = (text, index)
                    return
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, obj, out)
        elif "type" not in obj and isinstance(obj.get("error"), dict):
            # An OpenAI-style {"error": {...}} from an Anthropic-compatible proxy.
            self._error_event(obj, out)
        else:
            out.append(RawEvent(kind if isinstance(kind, str) else name))

    # The text template (decoder.py): the deltas the fast path above takes,
    # of one block (the index is part of the template).
    _text_path = ("delta", "text")

    def _template_text(self, text: str, context: Any, out: list[Event]) -> bool:
        self._acc.text(context, text)
        out.append(text_delta(context, text))
        return True

    # -------------------------------------------------------- message events

    def _message_start(self, obj: dict[str, Any], out: list[Event]) -> None:
        message = obj["message"]
        mid, model = message.get("id"), message.get("model")
        self._acc.start(mid, model)
        out.append(MessageStart(mid, model))
        usage = message.get("usage")
        if usage:
            out.append(UsageUpdate(self._usage(usage)))

    def _usage(self, usage: dict[str, Any]) -> Usage:
        # Cumulative: every field present replaces the previous value.
        cur = self._acc.usage
        new = Usage(
            _int(usage.get("input_tokens"), cur.input_tokens),
            _int(usage.get("output_tokens"), cur.output_tokens),
            _int(usage.get("cache_read_input_tokens"), cur.cache_read_tokens),
            _int(usage.get("cache_creation_input_tokens"), cur.cache_creation_tokens),
        )
        self._acc.set_usage(new)
        return new

    def _message_delta(self, obj: dict[str, Any], out: list[Event]) -> None:
        delta = obj.get("delta") or {}
        raw = delta.get("stop_reason")
        if raw is not None:
            self._acc.set_stop(raw, normalize_stop_reason(raw))
            self._stopped = True
        usage = obj.get("usage")
        if usage:
            out.append(UsageUpdate(self._usage(usage)))
        else:
            out.append(_RAW_MESSAGE_DELTA)

    def _message_stop(self, obj: dict[str, Any], out: list[Event]) -> None:
        self._flush(out)
        out.append(_RAW_MESSAGE_STOP)
        self._complete = True

    def _ping(self, obj: dict[str, Any], out: list[Event]) -> None:
        out.append(_PING)

    def _error_event(self, obj: dict[str, Any], out: list[Event]) -> None:
        self._fail(errormap.error_from_payload(obj, provider=self._provider))

    # -------------------------------------------------------- blocks

    def _block_start(self, obj: dict[str, Any], out: list[Event]) -> None:
        index = obj["index"]
        block = obj["content_block"]
        kind = block.get("type")
        acc = self._acc
        if kind == "text":
            self._kinds[index] = "text"
            acc.text(index, "")
            text = _opt_str(block.get("text"), "text")
            if text:
                acc.text(index, text)
                out.append(text_delta(index, text))
                return
        elif kind == "tool_use":
            self._kinds[index] = "tool"
            tid, tname = block.get("id") or "", decode_tool_name(block.get("name") or "")
            initial = block.get("input")
            acc.tool_start(index, tid, tname, initial if type(initial) is dict else None)
            out.append(ToolCallStart(index, tid, tname))
            return
        elif kind == "thinking":
            self._kinds[index] = "thinking"
            acc.thinking(index, "")
            text = _opt_str(block.get("thinking"), "thinking")
            signature = _opt_str(block.get("signature"), "signature")
            if signature:
                acc.signature(index, signature)
            if text:
                acc.thinking(index, text)
                out.append(ThinkingDelta(index, text))
                return
        elif kind == "redacted_thinking":
            self._kinds[index] = "redacted"
            acc.redacted(index, block.get("data") or "")
            out.append(_RAW_REDACTED)
            return
        else:
            # server_tool_use, mcp_tool_use, *_tool_result, compaction, unknown:
            # run by the provider or not ours to interpret; kept whole so a
            # pause_turn reply can be sent back verbatim.
            self._kinds[index] = "other"
            acc.raw_block(index, "anthropic", block)
        out.append(_RAW_BLOCK_START)

    def _block_delta(self, obj: dict[str, Any], out: list[Event]) -> None:
        delta = obj["delta"]
        handler = _DELTAS.get(delta.get("type"))
        if handler is None:
            kind = delta.get("type")
            index = obj["index"]
            if self._kinds.get(index) == "other":
                # e.g. compaction_delta: its text fields extend the raw block's
                for field, value in delta.items():
                    if field != "type" and type(value) is str:
                        self._acc.raw_fragment(index, field, value)
            out.append(RawEvent(kind if isinstance(kind, str) else "content_block_delta"))
        else:
            handler(self, obj["index"], delta, out)

    def _text_delta(self, index: int, delta: dict[str, Any], out: list[Event]) -> None:
        text = _str(delta["text"], "text")
        self._acc.text(index, text)
        out.append(text_delta(index, text))

    def _thinking_delta(self, index: int, delta: dict[str, Any], out: list[Event]) -> None:
        text = _str(delta["thinking"], "thinking")
        self._acc.thinking(index, text)
        out.append(ThinkingDelta(index, text))

    def _signature_delta(self, index: int, delta: dict[str, Any], out: list[Event]) -> None:
        signature = _str(delta["signature"], "signature")
        self._acc.signature(index, signature)
        out.append(ThinkingSignature(index, signature))

    def _input_json_delta(self, index: int, delta: dict[str, Any], out: list[Event]) -> None:
        if self._kinds.get(index) != "tool":
            # A server or MCP tool's input: the provider runs it, not the caller.
            if self._kinds.get(index) == "other":
                self._acc.raw_fragment(index, "input", delta["partial_json"])
            out.append(_RAW_INPUT_JSON)
            return
        fragment = delta["partial_json"]
        if type(fragment) is not str:
            raise TypeError("partial_json is not a string")
        self._acc.tool_delta(index, fragment)
        out.append(ToolCallDelta(index, fragment))

    def _citations_delta(self, index: int, delta: dict[str, Any], out: list[Event]) -> None:
        out.append(_RAW_CITATIONS)

    def _block_stop(self, obj: dict[str, Any], out: list[Event]) -> None:
        index = obj["index"]
        if self._kinds.get(index) == "tool":
            self._end_tool(index, out)
        else:
            out.append(_RAW_BLOCK_STOP)

    def _end_tool(self, index: int, out: list[Event]) -> None:
        self._kinds[index] = "tool-done"
        call = self._acc.tool_end(index)
        out.append(ToolCallEnd(index, call.id, call.name, call.input, call.error))

    def _flush(self, out: list[Event]) -> None:
        """Close tool blocks a proxy left open (no content_block_stop)."""
        for index, kind in list(self._kinds.items()):
            if kind == "tool":
                self._end_tool(index, out)

    # -------------------------------------------------------- end of body

    def _on_sentinel(self, out: list[Event]) -> None:  # pragma: no cover
        raise AssertionError("the Messages API has no sentinel")

    def _finish(self, out: list[Event]) -> None:
        if self._complete:
            return
        self._flush(out)
        if self._stopped:
            # message_delta carried the stop reason: only message_stop is
            # missing (some proxies); the reply is whole.
            self._complete = True
            return
        self._interrupted("the stream ended before message_stop")


# ---------------------------------------------------------------- the provider


_HANDLERS: dict[str, Callable[..., None]] = {
    "content_block_delta": AnthropicDecoder._block_delta,
    "content_block_start": AnthropicDecoder._block_start,
    "content_block_stop": AnthropicDecoder._block_stop,
    "message_start": AnthropicDecoder._message_start,
    "message_delta": AnthropicDecoder._message_delta,
    "message_stop": AnthropicDecoder._message_stop,
    "ping": AnthropicDecoder._ping,
    "error": AnthropicDecoder._error_event,
}
_DELTAS: dict[str, Callable[..., None]] = {
    "text_delta": AnthropicDecoder._text_delta,
    "input_json_delta": AnthropicDecoder._input_json_delta,
    "thinking_delta": AnthropicDecoder._thinking_delta,
    "signature_delta": AnthropicDecoder._signature_delta,
    "citations_delta": AnthropicDecoder._citations_delta,
}


class AnthropicProvider(BaseProvider):
    """The Messages API with one profile (Anthropic itself, or a compatible server)."""

    def __init__(self, profile: Profile | None = None) -> None:
        super().__init__(profile or PROFILES["anthropic"])

    def format_request(self, request: Request) -> dict[str, Any]:
        return format_request(request)

    def build_request(self, config: ProviderConfig, request: Request) -> HttpRequest:
        headers = {
            "accept": "text/event-stream",
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            **auth_headers(config, self.profile),
            **config.headers,
            **request.headers,
        }
        url = join_path(base_url(config, self.profile), "/messages", always=True)
        return HttpRequest("POST", url, headers, format_request(request))

    def decoder(self, provider: str | None = None, *, ref: Any = None) -> StreamDecoder:
        return AnthropicDecoder(provider or self.profile.kind, ref=ref)

    def models_request(self, config: ProviderConfig) -> HttpRequest:
        headers = {
            "anthropic-version": ANTHROPIC_VERSION,
            **auth_headers(config, self.profile),
            **config.headers,
        }
        url = join_path(base_url(config, self.profile), "/models", always=True)
        return HttpRequest("GET", url, headers, None, {"limit": "1000"})
