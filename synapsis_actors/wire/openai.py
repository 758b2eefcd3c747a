"""The OpenAI chat-completions wire format, for OpenAI and every compatible server.

One implementation; the vendor differences are ``Profile`` data
(``profiles.py``): base URL, auth header, output-limit field, whether to ask
for the usage chunk, where usage and reasoning are, which error shapes occur.

Request (``format_request``): the system prompt as the first message, one
``tool`` message per tool result, consecutive (the results' images and
documents follow the run as one user message, then the rest of that user
turn), images as ``image_url`` parts (with ``detail``), PDFs as ``file``
parts, assistant tool calls with JSON-encoded arguments (and the reasoning
where the profile wants it back), ``stream_options.include_usage``,
``parallel_tool_calls``, ``response_format`` json_schema, reasoning,
cache key, end-user id and metadata as the profile names them (refused with
``ConfigError`` where it has none), and tool names the vendors reject
(outside ``^[a-zA-Z0-9_-]{1,64}$``) encoded reversibly and decoded back on
the way in.

Stream (``OpenAIDecoder``):

* ``data: [DONE]`` completes the stream; a body ending after a
  finish_reason without it is complete too; ending before any finish_reason
  is ``StreamInterrupted``;
* tool-call deltas are matched by ``index``, else by ``id``, else to the
  latest open call; a whole call in one chunk and indexes starting at 1 work;
  calls end (``ToolCallEnd``) at finish_reason, or at [DONE] / end of body;
* usage from the usage-only final chunk, a choice chunk, or ``x_groq.usage``
  (on every kind: a gateway may forward Groq's chunks), each replacing the
  previous one;
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

import json
import logging
from typing import Any

from ..errors import ConfigError
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
from ..model.parts import (
    DocumentPart,
    ImagePart,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
)
from ..model.reply import AssistantMessage, StopReason, Usage
from ..model.request import JsonSchema, Message, Request, Tool, check_sendable
from . import errors as errormap
from .decoder import JsonEventDecoder
from .profiles import DEFAULT_USAGE_PATHS, PROFILES, Profile
from .protocol import StreamDecoder
from .provider import BaseProvider, auth_headers, base_url, join_path, version_params
from .sse import DEFAULT_MAX_SIZE
from .toolnames import decode_tool_name, encode_tool_name

_log = logging.getLogger(__name__)

__all__ = [
    "FINISH_REASONS",
    "OpenAIDecoder",
    "OpenAIProvider",
    "decode_tool_name",
    "encode_tool_name",
    "format_request",
]

# ---------------------------------------------------------------- request side


def _refuse(field: str, kind: str, what: str) -> ConfigError:
    return ConfigError(field, f"kind {kind!r} (chat completions) {what}")


class _Writer:
    """Writes one request's messages for one profile (the refusals name the profile)."""

    __slots__ = ("profile",)

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def text(self, part: TextPart) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "text", "text": part.text}
        if part.cache_ttl is not None:
            block["cache_control"] = self.cache(part.cache_ttl)
        return block

    def cache(self, ttl: str) -> dict[str, Any]:
        if not self.profile.cache_control:
            raise _refuse(
                "cache_ttl",
                self.profile.kind,
                "has no cache breakpoints (the vendor caches prefixes by itself; "
                "Request.cache_key groups requests where the vendor takes one)",
            )
        return {"type": "ephemeral", "ttl": ttl}

    def image(self, part: ImagePart) -> dict[str, Any]:
        if part.cache_ttl is not None:
            raise _refuse("cache_ttl", self.profile.kind, "takes cache breakpoints on text only")
        url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.data}"
        image: dict[str, Any] = {"url": url}
        if part.detail is not None:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}

    def document(self, part: DocumentPart) -> dict[str, Any]:
        kind = self.profile.kind
        if part.url is not None:
            raise _refuse("url", kind, "takes documents inline only (DocumentPart(data=...))")
        if part.cache_ttl is not None:
            raise _refuse("cache_ttl", kind, "takes cache breakpoints on text only")
        file = {
            "file_data": f"data:{part.media_type};base64,{part.data}",
            "filename": part.title or "document.pdf",
        }
        return {"type": "file", "file": file}

    def part(self, part: TextPart | ImagePart | DocumentPart) -> dict[str, Any]:
        if type(part) is TextPart:
            return self.text(part)
        if type(part) is ImagePart:
            return self.image(part)
        return self.document(part)  # type: ignore[arg-type]

    def content(self, parts: list[TextPart | ImagePart | DocumentPart]) -> Any:
        # Plain text as a string: every compatible server reads that form.
        if all(type(p) is TextPart and p.cache_ttl is None for p in parts):
            return "".join(p.text for p in parts)  # type: ignore[union-attr]
        return [self.part(p) for p in parts]

    def assistant(self, message: Message) -> dict[str, Any]:
        text: list[str] = []
        reasoning: list[str] = []
        thought = False
        calls: list[dict[str, Any]] = []
        for part in message.content:
            if type(part) is TextPart:
                if part.cache_ttl is not None:
                    self.cache(part.cache_ttl)
                text.append(part.text)
            elif type(part) is ToolUsePart:
                function = {
                    "name": encode_tool_name(part.name),
                    "arguments": json.dumps(part.input),
                }
                calls.append({"id": part.id, "type": "function", "function": function})
            elif type(part) is ThinkingPart:
                thought = True
                if not part.redacted:
                    reasoning.append(part.text)
            # Other reasoning and other vendors' raw blocks: no field takes them.
        wire: dict[str, Any] = {"role": "assistant"}
        # A reply cut off while reasoning has neither text nor calls: "" keeps
        # it a valid assistant message (with its reasoning where echoed).
        wire["content"] = "".join(text) or ("" if thought and not calls else None)
        if calls:
            wire["tool_calls"] = calls
        echo = self.profile.reasoning_echo
        if echo is not None and reasoning:
            wire[echo] = "".join(reasoning)
        return wire

    def user(self, message: Message, out: list[dict[str, Any]]) -> None:
        """Tool results first, one ``tool`` message each and consecutive (the API
        wants every call answered before anything else); the images and documents
        of the results follow in one user message, then the rest of the turn."""
        attached: list[TextPart | ImagePart | DocumentPart] = []
        rest: list[TextPart | ImagePart | DocumentPart] = []
        for part in message.content:
            if type(part) is ToolResultPart:
                out.append(self.tool(part, attached))
            elif type(part) in (TextPart, ImagePart, DocumentPart):
                rest.append(part)  # type: ignore[arg-type]
            # RawBlockPart of another wire: no chat-completions form.
        if attached:
            out.append({"role": "user", "content": [self.part(p) for p in attached]})
        if rest:
            out.append({"role": "user", "content": self.content(rest)})

    def tool(
        self, part: ToolResultPart, attached: list[TextPart | ImagePart | DocumentPart]
    ) -> dict[str, Any]:
        if part.cache_ttl is not None:
            raise _refuse("cache_ttl", self.profile.kind, "takes cache breakpoints on text only")
        if isinstance(part.content, str):
            text = part.content
        else:
            text = "".join(p.text for p in part.content if type(p) is TextPart)
            attached.extend(p for p in part.content if type(p) is not TextPart)
        if part.is_error:
            text = f"Error: {text}"  # no is_error field: the model reads it in the text
        return {"role": "tool", "tool_call_id": part.tool_use_id, "content": text}

    def system(self, system: str | tuple[TextPart, ...]) -> dict[str, Any]:
        if isinstance(system, str):
            return {"role": "system", "content": system}
        return {"role": "system", "content": [self.text(p) for p in system]}

    def tool_def(self, tool: Tool) -> dict[str, Any]:
        if tool.cache_ttl is not None:
            raise _refuse("cache_ttl", self.profile.kind, "takes no cache breakpoint on tools")
        function = {
            "name": encode_tool_name(tool.name),
            "description": tool.description,
            "parameters": tool.input_schema,
        }
        return {"type": "function", "function": function}


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
    check_sendable(request)
    writer = _Writer(profile)
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append(writer.system(request.system))
    for message in request.messages:
        if message.role == "assistant":
            messages.append(writer.assistant(message))
        else:
            writer.user(message, messages)
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True}
    if profile.include_usage:
        body["stream_options"] = {"include_usage": True}
    if request.max_tokens is not None:
        body[profile.max_tokens_field] = request.max_tokens
    if request.tools:
        body["tools"] = [writer.tool_def(t) for t in request.tools]
    if request.tool_choice:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.thinking_budget is not None or request.reasoning_effort or request.adaptive_thinking:
        _reasoning(request, profile, body)
    if request.output_schema is not None:
        body["response_format"] = _response_format(request.output_schema, profile)
    if request.cache_key is not None or request.user_id is not None or request.metadata:
        _identity(request, profile, body)
    body.update(request.extra)
    return body


def _reasoning(request: Request, profile: Profile, body: dict[str, Any]) -> None:
    kind = profile.kind
    if request.adaptive_thinking:
        raise _refuse(
            "adaptive_thinking", kind, "has no adaptive thinking (reasoning models choose anyway)"
        )
    effort = request.reasoning_effort
    if effort is not None and effort not in profile.reasoning_efforts:
        takes = sorted(profile.reasoning_efforts) or "no reasoning_effort"
        raise _refuse("reasoning_effort", kind, f"takes {takes}, not {effort!r}")
    if profile.reasoning_request == "openrouter":
        reasoning: dict[str, Any] = {}
        if request.thinking_budget is not None:
            reasoning["max_tokens"] = request.thinking_budget
        if effort is not None:
            reasoning["effort"] = effort
        body["reasoning"] = reasoning
    elif effort is not None:
        body["reasoning_effort"] = effort
    elif request.thinking_budget is not None and profile.reasoning_request == "reasoning_effort":
        body["reasoning_effort"] = _effort(request.thinking_budget)
    elif request.thinking_budget is not None and kind not in _UNSENT_BUDGET_WARNED:
        # These kinds take no budget (their models reason, or not, by
        # themselves). Refusing would break loops that set one budget for
        # every provider; dropping it unsaid would hide it: say so, once.
        _UNSENT_BUDGET_WARNED.add(kind)
        _log.warning(
            "thinking_budget is not sent to kind %r: it has no thinking budget field%s",
            kind,
            f"; use reasoning_effort ({', '.join(sorted(profile.reasoning_efforts))})"
            if profile.reasoning_efforts
            else "",
        )


#: The kinds already warned that ``thinking_budget`` is not sent to them.
_UNSENT_BUDGET_WARNED: set[str] = set()


def _response_format(schema: JsonSchema, profile: Profile) -> dict[str, Any]:
    if not profile.json_schema:
        raise _refuse("output_schema", profile.kind, "takes no JSON schema for the reply")
    spec: dict[str, Any] = {"name": schema.name, "schema": schema.schema, "strict": schema.strict}
    if schema.description is not None:
        spec["description"] = schema.description
    return {"type": "json_schema", "json_schema": spec}


def _identity(request: Request, profile: Profile, body: dict[str, Any]) -> None:
    kind = profile.kind
    if request.cache_key is not None:
        if profile.cache_key_field is None:
            raise _refuse("cache_key", kind, "takes no prompt cache key")
        body[profile.cache_key_field] = request.cache_key
    if request.user_id is not None:
        if profile.user_field is None:
            raise _refuse("user_id", kind, "takes no end-user id")
        body[profile.user_field] = request.user_id
    if request.metadata:
        if not profile.metadata:
            raise _refuse("metadata", kind, "takes no metadata")
        body["metadata"] = dict(request.metadata)


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
        # The text fast path in _handle looks for usage under "usage" only: Groq
        # sends x_groq.usage on its finish chunk (an empty delta), which never
        # takes the fast path.
        self._plain = profile.usage_paths == DEFAULT_USAGE_PATHS
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
                    self._fast = (text, None)
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

    # The text template (decoder.py): the chunks the fast path above takes.
    _text_path = ("choices", 0, "delta", "content")
    # Random padding OpenAI adds to every chunk; nothing here reads it.
    _free_member = "obfuscation"

    def _template_text(self, text: str, context: Any, out: list[Event]) -> bool:
        main = self._main
        if main.cur != "text":  # the fast path above needs a text block open
            return False
        main.acc.text(main.cur_index, text)
        out.append(text_delta(main.cur_index, text))
        return True

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
            **request.headers,
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
