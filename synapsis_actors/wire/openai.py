"""The OpenAI chat-completions wire format, for OpenAI and every compatible server.

One implementation; the vendor differences are ``Profile`` data
(``profiles.py``): base URL, auth header, output-limit field, whether to ask
for the usage chunk, where usage and reasoning are, which error shapes occur.

Request (``format_request``): the system prompt as the first message, one
``tool`` message per tool result (before the rest of that user turn), images
as ``image_url`` parts, assistant tool calls with JSON-encoded arguments,
``stream_options.include_usage``, and tool names the vendors reject (outside
``^[a-zA-Z0-9_-]{1,64}$``) encoded reversibly and decoded back on the way in.

Stream (``OpenAIDecoder``):

* ``data: [DONE]`` completes the stream; a body ending after a
  finish_reason without it is complete too; ending before any finish_reason
  is ``StreamInterrupted``;
* tool-call deltas are matched by ``index``, else by ``id``, else to the
  latest open call; a whole call in one chunk and indexes starting at 1 work;
  calls end (``ToolCallEnd``) at finish_reason, or at [DONE] / end of body;
* usage from the usage-only final chunk, a choice chunk, or ``x_groq.usage``
  (per profile), each replacing the previous one;
* reasoning from ``delta.reasoning_content`` or ``delta.reasoning``; Mistral's
  content arrays with text and thinking parts;
* errors after the 200: ``{"error": {...}}``, ``{"object": "error", ...}``,
  and ``event: error`` lines, typed like HTTP errors;
* Azure's ``prompt_filter_results`` chunk (``choices: []``) and null deltas;
* ``finish_reason`` normalized (stop -> end_turn, length -> max_tokens,
  tool_calls/function_call -> tool_use, content_filter -> refusal), raw kept;
  with no finish_reason at all the reply is ``tool_use`` if it has tool calls,
  else ``end_turn`` (``raw_stop_reason`` stays None);
* ``n > 1``: choice 0 is the message and produces the events; the others
  are in ``AssistantMessage.other_choices``;
* refusal deltas go to ``AssistantMessage.refusal`` (``RawEvent("refusal")``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from typing import Any

import cattrs

from ..model.accumulator import Accumulator
from ..model.config import ProviderConfig
from ..model.events import (
    Event,
    MessageStart,
    RawEvent,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
    text_delta,
)
from ..model.http import HttpRequest
from ..model.parts import ImagePart, TextPart, ToolResultPart, ToolUsePart
from ..model.reply import AssistantMessage, StopReason, Usage
from ..model.request import Message, Request, Tool
from . import errors as errormap
from .decoder import JsonEventDecoder
from .profiles import PROFILES, Profile
from .protocol import StreamDecoder
from .provider import BaseProvider, auth_headers, base_url, join_path, version_params
from .sse import DEFAULT_MAX_SIZE

# ---------------------------------------------------------------- tool names

_VALID_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_KEEP = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_MARK = "__"
_HASHED = "_g"  # after the mark, "_g" is not a valid escape: hashed long names
_LONG_NAMES: OrderedDict[str, str] = OrderedDict()
_LONG_NAMES_MAX = 4096


def encode_tool_name(name: str) -> str:
    """A name vendors accept (``^[a-zA-Z0-9_-]{1,64}$``), reversible by ``decode_tool_name``.

    Valid names not starting with ``__`` are unchanged. Others become ``__``
    followed by the name with ``_`` doubled and every other byte outside
    ``[a-zA-Z0-9-]`` as ``_`` + two hex digits. If that exceeds 64 characters
    the name is hashed (``___g`` + 40 hex digits) and remembered in a bounded
    process-wide table, so its decoding works in this process.
    """
    if _VALID_NAME.fullmatch(name) and not name.startswith(_MARK):
        return name
    escaped = []
    for ch in name:
        if ch in _KEEP:
            escaped.append(ch)
        elif ch == "_":
            escaped.append("__")
        else:
            escaped.extend(f"_{b:02x}" for b in ch.encode("utf-8"))
    encoded = _MARK + "".join(escaped)
    if len(encoded) <= 64:
        return encoded
    hashed = _MARK + _HASHED + hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]
    _LONG_NAMES[hashed] = name
    _LONG_NAMES.move_to_end(hashed)
    while len(_LONG_NAMES) > _LONG_NAMES_MAX:
        _LONG_NAMES.popitem(last=False)
    return hashed


def decode_tool_name(name: str) -> str:
    """The original of ``encode_tool_name`` (any other name is returned unchanged)."""
    if not name.startswith(_MARK):
        return name
    body = name[len(_MARK) :]
    if body.startswith(_HASHED):
        return _LONG_NAMES.get(name, name)
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "_":
            out += ch.encode("utf-8")
            i += 1
        elif body[i + 1 : i + 2] == "_":
            out += b"_"
            i += 2
        else:
            try:
                out.append(int(body[i + 1 : i + 3], 16))
            except ValueError:
                return name  # not one of ours
            i += 3
    return out.decode("utf-8", "replace")


# ---------------------------------------------------------------- request side

#: The converter for this wire format: normalized parts -> chat-completions content.
converter = cattrs.Converter()


def _image(part: ImagePart) -> dict[str, Any]:
    url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.data or ''}"
    return {"type": "image_url", "image_url": {"url": url}}


converter.register_unstructure_hook(TextPart, lambda p: {"type": "text", "text": p.text})
converter.register_unstructure_hook(ImagePart, _image)
converter.register_unstructure_hook(
    ToolUsePart,
    lambda p: {
        "id": p.id,
        "type": "function",
        "function": {"name": encode_tool_name(p.name), "arguments": json.dumps(p.input)},
    },
)
converter.register_unstructure_hook(
    Tool,
    lambda t: {
        "type": "function",
        "function": {
            "name": encode_tool_name(t.name),
            "description": t.description,
            "parameters": t.input_schema,
        },
    },
)


def _content(parts: list[TextPart | ImagePart]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    return [converter.unstructure(p) for p in parts]


def _tool_messages(part: ToolResultPart) -> list[dict[str, Any]]:
    """One ``tool`` message; images in a result follow as a user message."""
    if isinstance(part.content, str):
        text, images = part.content, []
    else:
        text = "".join(p.text for p in part.content if isinstance(p, TextPart))
        images = [p for p in part.content if isinstance(p, ImagePart)]
    if part.is_error:
        text = f"Error: {text}"
    out: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": part.tool_use_id, "content": text}
    ]
    if images:
        out.append({"role": "user", "content": [converter.unstructure(p) for p in images]})
    return out


def _messages(message: Message) -> list[dict[str, Any]]:
    if message.role == "assistant":
        text = "".join(p.text for p in message.content if isinstance(p, TextPart))
        calls = [converter.unstructure(p) for p in message.content if isinstance(p, ToolUsePart)]
        # Thinking and other vendors' raw blocks are not sent back: no field takes them.
        wire: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            wire["tool_calls"] = calls
        return [wire]
    out: list[dict[str, Any]] = []
    rest: list[TextPart | ImagePart] = []
    for part in message.content:
        if isinstance(part, ToolResultPart):
            out.extend(_tool_messages(part))
        elif isinstance(part, TextPart | ImagePart):
            rest.append(part)
        # ToolUse/Thinking/RawBlock parts in a user turn have no chat-completions form.
    if rest:
        out.append({"role": "user", "content": _content(rest)})
    return out


def _tool_choice(choice: str) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if choice == "any":
        return "required"
    return {"type": "function", "function": {"name": encode_tool_name(choice)}}


def _effort(budget: int) -> str:
    return "low" if budget < 2048 else "medium" if budget < 8192 else "high"


def format_request(request: Request, profile: Profile | None = None) -> dict[str, Any]:
    """The chat-completions body for ``request`` under ``profile`` (streaming)."""
    profile = profile or PROFILES["openai"]
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        messages.extend(_messages(message))
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True}
    if profile.include_usage:
        body["stream_options"] = {"include_usage": True}
    if request.max_tokens is not None:
        body[profile.max_tokens_field] = request.max_tokens
    if request.tools:
        body["tools"] = [converter.unstructure(t) for t in request.tools]
    if request.tool_choice:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.thinking_budget is not None:
        if profile.reasoning_request == "reasoning_effort":
            body["reasoning_effort"] = _effort(request.thinking_budget)
        elif profile.reasoning_request == "openrouter":
            body["reasoning"] = {"max_tokens": request.thinking_budget}
    body.update(request.extra)
    return body


# ---------------------------------------------------------------- stream side

FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "eos": "end_turn",
    "end_turn": "end_turn",
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "model_length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "tool_use": "tool_use",
    "content_filter": "refusal",
    "refusal": "refusal",
    "stop_sequence": "stop_sequence",
}

_RAW_CHUNK = RawEvent("chunk")
_RAW_REFUSAL = RawEvent("refusal")
_RAW_DONE = RawEvent("done")


def _int(value: Any, default: int) -> int:
    return value if type(value) is int else default


class _Call:
    __slots__ = ("block", "id", "name")

    def __init__(self, block: int, id: str, name: str) -> None:
        self.block = block
        self.id = id
        self.name = name


class _Choice:
    """One choice's state: block indexes, open tool calls, its accumulator."""

    __slots__ = (
        "acc",
        "by_id",
        "by_index",
        "calls",
        "cur",
        "cur_index",
        "finished",
        "next_index",
        "reasoning_fields",
    )

    def __init__(self, reasoning_fields: tuple[str, ...]) -> None:
        self.acc = Accumulator()
        self.reasoning_fields = reasoning_fields
        self.cur = ""  # kind of the block being extended: "text" | "thinking" | ""
        self.cur_index = -1
        self.next_index = 0
        # Open tool calls in order, and the keys to find one: index, else id.
        self.calls: list[_Call] = []
        self.by_index: dict[Any, _Call] = {}
        self.by_id: dict[str, _Call] = {}
        self.finished = False

    def apply(self, choice: dict[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta")
        if delta:
            content = delta.get("content")
            if content:
                if type(content) is str:
                    self.text(content, out)
                else:
                    self.parts(content, out)
            # Most deltas hold nothing but content: skip the other lookups.
            if not content or len(delta) > 1:
                self.others(delta, out)
        finish = choice.get("finish_reason")
        if finish:
            self.finish(finish, out)

    def others(self, delta: dict[str, Any], out: list[Event]) -> None:
        """Reasoning, tool calls and refusals of ``delta``."""
        for field in self.reasoning_fields:
            reasoning = delta.get(field)
            if reasoning and type(reasoning) is str:
                self.thinking(reasoning, out)
                break  # servers sending two fields repeat the same text
        calls = delta.get("tool_calls")
        if calls:
            for call in calls:
                self.tool_call(call, out)
        function_call = delta.get("function_call")
        if function_call:
            self.tool_call({"index": "function_call", "function": function_call}, out)
        refusal = delta.get("refusal")
        if refusal:
            self.acc.refusal(refusal)
            out.append(_RAW_REFUSAL)

    def text(self, text: str, out: list[Event]) -> None:
        if self.cur != "text":
            self.cur, self.cur_index = "text", self.next_index
            self.next_index += 1
        index = self.cur_index
        self.acc.text(index, text)
        out.append(text_delta(index, text))

    def thinking(self, text: str, out: list[Event]) -> None:
        if self.cur != "thinking":
            self.cur, self.cur_index = "thinking", self.next_index
            self.next_index += 1
        index = self.cur_index
        self.acc.thinking(index, text)
        out.append(ThinkingDelta(index, text))

    def parts(self, parts: list[Any], out: list[Event]) -> None:
        """Mistral's content arrays: text parts and thinking parts (themselves arrays)."""
        for part in parts:
            kind = part.get("type")
            if kind == "text":
                text = part.get("text")
                if text and type(text) is not str:
                    raise TypeError(f"text part is not a string: {type(text).__name__}")
                if text:
                    self.text(text, out)
            elif kind == "thinking":
                inner = part.get("thinking")
                if isinstance(inner, list):
                    inner = "".join(p.get("text") or "" for p in inner if isinstance(p, dict))
                if inner and isinstance(inner, str):
                    self.thinking(inner, out)

    def tool_call(self, delta: dict[str, Any], out: list[Event]) -> None:
        index = delta.get("index")
        cid = delta.get("id") or ""
        function = delta.get("function") or {}
        if index is not None:
            call = self.by_index.get(index)
        elif cid:
            call = self.by_id.get(cid)
        else:
            call = self.calls[-1] if self.calls else None  # the latest open call
        if call is None or (cid and call.id and cid != call.id):
            name = decode_tool_name(function.get("name") or "")
            call = _Call(self.next_index, cid, name)
            self.next_index += 1
            self.cur = ""
            if index is not None:
                self.by_index[index] = call
            if cid:
                self.by_id[cid] = call
            self.calls.append(call)
            self.acc.tool_start(call.block, cid, name)
            out.append(ToolCallStart(call.block, cid, name))
        elif not call.name and function.get("name"):
            call.name = decode_tool_name(function["name"])
            self.acc.tool_start(call.block, call.id, call.name)
        arguments = function.get("arguments")
        if arguments:
            if type(arguments) is not str:  # some servers send the object itself
                arguments = json.dumps(arguments)
            self.acc.tool_delta(call.block, arguments)
            out.append(ToolCallDelta(call.block, arguments))

    def end_calls(self, out: list[Event]) -> None:
        for call in self.calls:
            tc = self.acc.tool_end(call.block)
            out.append(ToolCallEnd(call.block, tc.id, tc.name, tc.input, tc.error))
        self.calls.clear()
        self.by_index.clear()
        self.by_id.clear()

    def finish(self, raw_reason: str, out: list[Event]) -> None:
        self.acc.set_stop(raw_reason, FINISH_REASONS.get(raw_reason))
        self.finished = True
        self.end_calls(out)


class OpenAIDecoder(JsonEventDecoder):
    """``StreamDecoder`` for chat-completions streams (see the module docstring)."""

    sentinel = "[DONE]"

    def __init__(
        self,
        profile: Profile | None = None,
        provider: str | None = None,
        *,
        ref: Any = None,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        profile = profile or PROFILES["openai"]
        super().__init__(provider or profile.kind, ref=ref, max_size=max_size)
        self._fields = profile.reasoning_fields
        self._top_usage = tuple(p[0] for p in profile.usage_paths if len(p) == 1)
        self._nested_usage = tuple(p for p in profile.usage_paths if len(p) > 1)
        # The text fast path in _handle looks for usage under "usage" only.
        self._plain = self._top_usage == ("usage",) and not self._nested_usage
        self._error_key = "error" in profile.error_shapes
        self._error_object = "object" in profile.error_shapes
        self._started = False
        self._main = _Choice(self._fields)
        self._acc = self._main.acc
        self._choices: dict[Any, _Choice] = {0: self._main}

    def _handle(self, name: str, obj: dict[str, Any], out: list[Event]) -> None:
        if (self._error_key and obj.get("error")) or name == "error":
            self._fail(errormap.error_from_payload(obj, provider=self._provider))
            return
        if self._error_object and obj.get("object") == "error":
            self._fail(errormap.error_from_payload(obj, provider=self._provider))
            return
        choices = obj.get("choices")
        main = self._main
        if main.cur == "text" and type(choices) is list and len(choices) == 1 and self._plain:
            # Most chunks of a reply: choice 0's delta holds only more text of
            # the block being written, with no finish and no usage. Handled
            # here without the general walk (apply, text, the usage lookups).
            choice = choices[0]
            delta = choice.get("delta")
            if (
                type(delta) is dict
                and len(delta) == 1
                and not choice.get("finish_reason")
                and choice.get("index", 0) == 0
                and not obj.get("usage")
            ):
                text = delta.get("content")
                if text and type(text) is str:
                    main.acc.text(main.cur_index, text)
                    out.append(text_delta(main.cur_index, text))
                    return
        before = len(out)
        if not self._started and (choices or obj.get("id")):
            self._started = True
            mid, model = obj.get("id") or None, obj.get("model") or None
            self._acc.start(mid, model)
            out.append(MessageStart(mid, model))
        if choices:
            table = self._choices
            for choice in choices:
                index = choice.get("index", 0)
                state = table.get(index)
                if state is None:
                    state = table[index] = _Choice(self._fields)
                    state.acc.start(obj.get("id") or None, obj.get("model") or None)
                if state is self._main:
                    state.apply(choice, out)
                else:
                    state.apply(choice, [])
        found = None
        for key in self._top_usage:
            found = obj.get(key) or found
        if found is None:
            for path in self._nested_usage:  # e.g. x_groq.usage
                usage: Any = obj
                for key in path:
                    usage = usage.get(key) if isinstance(usage, dict) else None
                found = usage or found
        if found:
            out.append(UsageUpdate(self._usage(found)))
        if len(out) == before:
            out.append(_RAW_CHUNK)

    def _usage(self, usage: dict[str, Any]) -> Usage:
        # Cumulative (vLLM sends it on every chunk): replace, never add.
        cur = self._acc.usage
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        if cached is None:
            cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek
        new = Usage(
            _int(usage.get("prompt_tokens"), cur.input_tokens),
            _int(usage.get("completion_tokens"), cur.output_tokens),
            _int(cached, cur.cache_read_tokens),
            cur.cache_creation_tokens,
        )
        self._acc.set_usage(new)
        for state in self._choices.values():
            state.acc.set_usage(new)
        return new

    def _on_sentinel(self, out: list[Event]) -> None:
        self._end_all(out)
        out.append(_RAW_DONE)
        self._complete = True

    def _end_all(self, out: list[Event]) -> None:
        for state in self._choices.values():
            state.end_calls(out if state is self._main else [])
            acc = state.acc
            if acc.raw_stop_reason is None and acc.stop_reason is None:
                # No finish_reason at all: a reply with tool calls asks for them.
                acc.set_stop(None, "tool_use" if acc.has_tool_calls() else "end_turn")

    def _finish(self, out: list[Event]) -> None:
        if self._complete:
            return
        if self._main.finished:
            # No [DONE] but a finish_reason came: the reply is whole, the stream complete.
            self._end_all(out)
            self._complete = True
            return
        self._interrupted("the stream ended before any finish_reason or [DONE]")

    def message(self) -> AssistantMessage:
        if len(self._choices) > 1:  # n > 1: the other choices ride along
            others = [(i, s) for i, s in self._choices.items() if s is not self._main]
            others.sort(key=lambda item: item[0] if isinstance(item[0], int) else 0)
            self._acc.set_other_choices([s.acc.message() for _, s in others])
        return super().message()


# ---------------------------------------------------------------- the provider


class OpenAIProvider(BaseProvider):
    """Chat completions with one profile (OpenAI or a compatible server)."""

    def __init__(self, profile: Profile | None = None) -> None:
        super().__init__(profile or PROFILES["openai"])

    def format_request(self, request: Request) -> dict[str, Any]:
        return format_request(request, self.profile)

    def build_request(self, config: ProviderConfig, request: Request) -> HttpRequest:
        headers = {
            "accept": "text/event-stream",
            "content-type": "application/json",
            **auth_headers(config, self.profile),
            **config.headers,
        }
        url = join_path(base_url(config, self.profile), "/chat/completions")
        return HttpRequest(
            "POST",
            url,
            headers,
            format_request(request, self.profile),
            version_params(config, self.profile),
        )

    def decoder(self, provider: str | None = None, *, ref: Any = None) -> StreamDecoder:
        return OpenAIDecoder(self.profile, provider, ref=ref)

    def models_request(self, config: ProviderConfig) -> HttpRequest:
        headers = {**auth_headers(config, self.profile), **config.headers}
        url = join_path(base_url(config, self.profile), "/models")
        return HttpRequest("GET", url, headers, None, version_params(config, self.profile))
