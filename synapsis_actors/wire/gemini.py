"""The Google Gemini wire format (Gemini API and Vertex AI): request JSON out, SSE in.

Request (``format_request``): ``contents`` with roles ``user`` / ``model``,
``systemInstruction``, ``tools[].functionDeclarations`` (the schema as
``parametersJsonSchema``, full JSON Schema), ``toolConfig.
functionCallingConfig`` from ``tool_choice``, ``generationConfig``
(``maxOutputTokens``, ``temperature``, ``topP``, ``stopSequences``,
``thinkingConfig`` with ``thinkingBudget`` -- ``-1``, dynamic, for
``adaptive_thinking`` -- or ``thinkingLevel`` from ``reasoning_effort``, and
``includeThoughts``; ``responseMimeType`` + ``responseJsonSchema`` from
``output_schema``), ``labels`` from ``metadata``. Images and documents are
``inlineData`` (base64) or ``fileData`` (a URL); an image's ``detail`` is
the part's ``mediaResolution``, a document's ``title`` its ``displayName``
(Vertex only). What Gemini has no field for is refused with ``ConfigError``
naming it: ``user_id``, ``cache_key``, ``cache_ttl`` (Gemini caches
implicitly or through ``cachedContent`` resources, not breakpoints),
``parallel_tool_calls=False``, a signature that is not base64 (another
vendor's). Tool results become
``functionResponse`` parts (``{"output": ...}``, or ``{"error": ...}`` when
``is_error``) matched to their call: by id where Gemini gave the call one,
else to the unanswered calls of the latest assistant turn in order; the
call's name is taken from it. The assistant's parts go back as they came:
text and function calls with their ``thoughtSignature`` byte for byte,
signed empty text parts included, thoughts as ``thought: true`` parts,
server-side parts (code execution, server tool calls) verbatim. The model is
in the URL; the body has no ``model`` and no ``stream`` field.

Stream (``GeminiDecoder``): each SSE event is a whole ``GenerateContentResponse``.

* text parts become ``TextDelta``, ``thought: true`` parts ``ThinkingDelta``;
  consecutive ones form one block, except that a part carrying a
  ``thoughtSignature`` is a block of its own (the signature belongs to that
  part, and Gemini rejects signed parts merged with others): the signature is
  a ``ThinkingSignature`` event for that block's index and lands on the
  ``TextPart`` / ``ThinkingPart``; a signed empty text part is kept;
* every ``functionCall`` part is its own ``ToolCall`` (parallel calls, two
  calls of one function), arriving whole: ``ToolCallStart``, a
  ``ToolCallDelta`` with its ``args`` as JSON, ``ToolCallEnd``; its
  signature is on the ``ToolCall`` and its ``ToolUsePart``. Gemini 2.x gives
  no ids: the call gets a generated one (``gemini_<hex>_<n>``) that is never
  sent back to Gemini. Vertex's streamed arguments (``willContinue`` and
  ``partialArgs`` by JSON path, ended by an empty ``functionCall``) are
  assembled into one call;
* ``executableCode``, ``codeExecutionResult``, ``toolCall``,
  ``toolResponse`` and any other part are run by the provider or not ours to
  read: a ``RawEvent`` named after the part and a ``RawBlockPart("gemini")``
  sent back verbatim; ``groundingMetadata`` (and citation / URL-context
  metadata) are ``RawEvent`` chunks whose ``raw`` is the whole response;
* usage (``usageMetadata``) is cumulative: each report carrying token counts
  replaces the previous one (Vertex's ``trafficType``-only reports are
  skipped). ``input_tokens`` is ``promptTokenCount + toolUsePromptTokenCount``,
  ``output_tokens`` is ``candidatesTokenCount + thoughtsTokenCount`` (both
  billed as output), ``cache_read_tokens`` is ``cachedContentTokenCount``;
* ``finishReason``: STOP is ``end_turn``, or ``tool_use`` when the reply has
  function calls; MAX_TOKENS is ``max_tokens``; SAFETY, RECITATION,
  PROHIBITED_CONTENT, BLOCKLIST, SPII, the image-safety reasons and a
  ``promptFeedback.blockReason`` are ``refusal``; MALFORMED_FUNCTION_CALL and
  UNEXPECTED_TOOL_CALL end the stream with ``MalformedToolCall`` carrying the
  partial reply; other reasons keep only the raw value. The raw value is
  always ``raw_stop_reason``;
* there is no end event: a body that ends after a ``finishReason`` is
  complete (a finishReason can arrive mid-stream with more chunks after it,
  so the stream is complete only at the end of the body); one that ends
  before any is ``StreamInterrupted``; an in-stream ``{"error": {...}}`` is
  the typed error of its code and status; a body that holds a JSON error and
  no SSE event (a server labelling a JSON body ``text/event-stream``) is the
  typed error of that JSON.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import cattrs

from ..errors import APIStatusError, ConfigError, MalformedToolCall, ProviderError
from ..model.catalog import ModelInfo
from ..model.config import ProviderConfig
from ..model.events import (
    Event,
    MessageStart,
    ProviderChunk,
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
from ..model.reply import StopReason, Usage
from ..model.request import Message, Request, Tool, check_sendable
from . import errors as errormap
from .decoder import JsonEventDecoder
from .openai import decode_tool_name, encode_tool_name
from .profiles import PROFILES, Profile
from .protocol import StreamDecoder
from .provider import BaseProvider, auth_headers, base_url, join_path
from .sse import DEFAULT_MAX_SIZE

API_VERSION = "/v1beta"

# ---------------------------------------------------------------- tool-call ids

#: Ids this library made up for calls Gemini gave none (Gemini 2.x). They name
#: the call for the caller's tool result and are never sent to Gemini.
_MADE_UP_ID = re.compile(r"gemini_[0-9a-f]{8}_[0-9]+")


def _wire_id(call_id: str) -> str | None:
    """The id to send back for a call: Gemini's own, never one made up here."""
    if not call_id or _MADE_UP_ID.fullmatch(call_id):
        return None
    return call_id


# ---------------------------------------------------------------- request side


#: A thought signature as Gemini writes it: base64 (the API's type is bytes).
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}==|[A-Za-z0-9+/_-]{3}=)?")


def _signed(part: dict[str, Any], signature: str | None) -> dict[str, Any]:
    if signature is not None:
        if not _BASE64.fullmatch(signature):
            # Another vendor's signature (Anthropic's thinking): Gemini answers 400.
            raise _refuse("signature", "takes base64 thought signatures only (its own)")
        part["thoughtSignature"] = signature
    return part


def _refuse(field: str, what: str) -> ConfigError:
    return ConfigError(field, f"the Gemini API {what}")


def _uncached(part: Any, field: str) -> None:
    if part.cache_ttl is not None:
        raise _refuse(
            f"{field}.cache_ttl",
            "caches implicitly or through cachedContent resources: it has no breakpoints",
        )


#: ``ImagePart.detail`` -> the per-part ``mediaResolution`` level ("auto": the
#: model's default, so nothing is sent).
_MEDIA_RESOLUTION = {"low": "MEDIA_RESOLUTION_LOW", "high": "MEDIA_RESOLUTION_HIGH"}


def _media(part: ImagePart | DocumentPart, display_name: str | None = None) -> dict[str, Any]:
    if part.url is not None:
        source: dict[str, Any] = {"mimeType": part.media_type, "fileUri": part.url}
        key = "fileData"
    else:
        source = {"mimeType": part.media_type, "data": part.data or ""}
        key = "inlineData"
    if display_name is not None:
        source["displayName"] = display_name
    return {key: source}


def _image(part: ImagePart) -> dict[str, Any]:
    _uncached(part, "image")
    wire = _media(part)
    level = _MEDIA_RESOLUTION.get(part.detail) if part.detail is not None else None
    if level is not None:
        wire["mediaResolution"] = {"level": level}
    return wire


def _document(part: DocumentPart, vertex: bool) -> dict[str, Any]:
    _uncached(part, "document")
    if part.title is not None and not vertex:
        # Vertex takes a displayName on inline and file data; the Gemini API does not.
        raise _refuse("title", "has no field for a document's title (Vertex AI has)")
    return _media(part, part.title)


def _function_call(part: ToolUsePart) -> dict[str, Any]:
    call: dict[str, Any] = {"name": encode_tool_name(part.name), "args": part.input}
    wire_id = _wire_id(part.id)
    if wire_id is not None:
        call["id"] = wire_id
    return _signed({"functionCall": call}, part.signature)


def _thought(part: ThinkingPart) -> dict[str, Any] | None:
    if part.redacted:
        return None  # Anthropic's encrypted reasoning: no Gemini form
    return _signed({"text": part.text, "thought": True}, part.signature)


#: The converter for this wire format: the parts of an assistant (``model``)
#: turn, as Gemini sent them, and tools. Tool results need their call, so
#: ``_contents`` writes them.
converter = cattrs.Converter()


def _text(part: TextPart) -> dict[str, Any]:
    _uncached(part, "text")
    return _signed({"text": part.text}, part.signature)


converter.register_unstructure_hook(TextPart, _text)
converter.register_unstructure_hook(ImagePart, _image)
converter.register_unstructure_hook(ToolUsePart, _function_call)
converter.register_unstructure_hook(ThinkingPart, _thought)
converter.register_unstructure_hook(
    RawBlockPart, lambda p: dict(p.data) if p.wire == "gemini" else None
)
# A tool result in an assistant turn has no Gemini form.
converter.register_unstructure_hook(ToolResultPart, lambda p: None)


def _tool(tool: Tool) -> dict[str, Any]:
    _uncached(tool, "tools")
    return {
        "name": encode_tool_name(tool.name),
        "description": tool.description,
        "parametersJsonSchema": tool.input_schema,
    }


converter.register_unstructure_hook(Tool, _tool)


class _Call:
    """A function call of an earlier assistant turn, as a tool result refers to it."""

    __slots__ = ("answered", "id", "name")

    def __init__(self, id: str, name: str) -> None:
        self.id = id
        self.name = name
        self.answered = False


def _function_response(result: ToolResultPart, call: _Call, vertex: bool) -> list[dict[str, Any]]:
    """The ``functionResponse`` part; images and documents in the result follow it."""
    _uncached(result, "tool_result")
    media: list[dict[str, Any]] = []
    if isinstance(result.content, str):
        text = result.content
    else:
        text = "".join(_text(p)["text"] for p in result.content if isinstance(p, TextPart))
        for item in result.content:
            if isinstance(item, ImagePart):
                media.append(_image(item))
            elif isinstance(item, DocumentPart):
                media.append(_document(item, vertex))
    response: dict[str, Any] = {"name": encode_tool_name(call.name)}
    wire_id = _wire_id(call.id)
    if wire_id is not None:
        response["id"] = wire_id
    response["response"] = {"error" if result.is_error else "output": text}
    return [{"functionResponse": response}, *media]


def _contents(messages: tuple[Message, ...], vertex: bool) -> list[dict[str, Any]]:
    by_id: dict[str, _Call] = {}
    latest: list[_Call] = []  # the calls of the latest assistant turn, in order
    contents: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        try:
            if message.role == "assistant":
                calls = [_Call(p.id, p.name) for p in message.content if isinstance(p, ToolUsePart)]
                if calls:
                    latest = calls
                    by_id.update((c.id, c) for c in calls if c.id)
                parts = [w for w in map(converter.unstructure, message.content) if w is not None]
                role = "model"
            else:
                parts = _user_parts(message, by_id, latest, vertex)
                role = "user"
        except ConfigError as exc:
            if exc.field.startswith("messages"):
                raise
            raise ConfigError(
                f"messages[{index}].{exc.field}", str(exc).split(": ", 1)[1]
            ) from None
        if not parts:
            raise _refuse(
                f"messages[{index}]",
                "refuses a content with no parts: this turn holds nothing it takes "
                "(redacted reasoning or another vendor's blocks only)",
            )
        contents.append({"role": role, "parts": parts})
    return contents


def _user_parts(
    message: Message, by_id: dict[str, _Call], latest: list[_Call], vertex: bool
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ToolResultPart):
            call = by_id.get(part.tool_use_id) if part.tool_use_id else None
            if call is None:
                # No such id (Gemini 2.x calls had none): the next unanswered call.
                call = next((c for c in latest if not c.answered), None)
            if call is None:
                raise ConfigError(
                    "messages",
                    f"tool result {part.tool_use_id!r} answers no function call of an "
                    "earlier assistant turn (Gemini needs the call's name)",
                )
            call.answered = True
            parts.extend(_function_response(part, call, vertex))
        elif isinstance(part, TextPart):
            parts.append({"text": _text(part)["text"]})
        elif isinstance(part, ImagePart):
            parts.append(_image(part))
        elif isinstance(part, DocumentPart):
            parts.append(_document(part, vertex))
        elif isinstance(part, RawBlockPart) and part.wire == "gemini":
            parts.append(dict(part.data))
        # check_sendable refused tool calls and thinking in a user turn.
    return parts


def _tool_config(choice: str) -> dict[str, Any]:
    if choice in ("auto", "none"):
        return {"functionCallingConfig": {"mode": choice.upper()}}
    if choice in ("any", "required"):
        return {"functionCallingConfig": {"mode": "ANY"}}
    return {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [encode_tool_name(choice)]}
    }


#: Label keys and values as Google's APIs take them (a bad one is a 400).
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def _labels(metadata: Mapping[str, str]) -> dict[str, str]:
    bad = [
        k
        for k, v in metadata.items()
        if not _LABEL_KEY.fullmatch(k) or not _LABEL_VALUE.fullmatch(v)
    ]
    if bad or len(metadata) > 64:
        raise _refuse(
            "metadata",
            "takes metadata as labels: at most 64, keys ^[a-z][a-z0-9_-]{0,62}$, values "
            f"^[a-z0-9_-]{{0,63}}$; not so: {bad}",
        )
    return dict(metadata)


def _thinking(request: Request, profile: Profile) -> dict[str, Any] | None:
    effort = request.reasoning_effort
    if effort is not None:
        if effort not in profile.reasoning_efforts:
            takes = sorted(profile.reasoning_efforts)
            raise _refuse("reasoning_effort", f"takes thinkingLevel {takes}, not {effort!r}")
        if request.thinking_budget is not None:
            # Gemini answers 400 to a thinkingLevel with a thinkingBudget.
            raise _refuse("reasoning_effort", "takes a thinkingLevel or a thinkingBudget, not both")
        return {"thinkingLevel": effort.upper(), "includeThoughts": True}
    if request.thinking_budget is not None:
        return {"thinkingBudget": request.thinking_budget, "includeThoughts": True}
    if request.adaptive_thinking:
        return {"thinkingBudget": -1, "includeThoughts": True}  # dynamic thinking
    return None


def format_request(request: Request, profile: Profile | None = None) -> dict[str, Any]:
    """The ``streamGenerateContent`` body for ``request`` (the model goes in the URL).

    ``profile`` is the kind's (the Gemini API's by default): Vertex AI also
    takes a document's title.
    """
    profile = profile or PROFILES["gemini"]
    check_sendable(request)
    if request.parallel_tool_calls is False:
        raise _refuse("parallel_tool_calls", "has no setting to forbid parallel function calls")
    if request.user_id is not None:
        raise _refuse("user_id", "has no end-user id field (metadata goes to labels)")
    if request.cache_key is not None:
        raise _refuse(
            "cache_key", "caches implicitly or through cachedContent resources: it takes no key"
        )
    body: dict[str, Any] = {"contents": _contents(request.messages, profile.kind == "vertex")}
    system = request.system
    if isinstance(system, tuple):
        body["systemInstruction"] = {"parts": [{"text": _text(p)["text"]} for p in system]}
    elif system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if request.tools:
        declarations = [converter.unstructure(t) for t in request.tools]
        body["tools"] = [{"functionDeclarations": declarations}]
    if request.tool_choice:
        body["toolConfig"] = _tool_config(request.tool_choice)
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    thinking = _thinking(request, profile)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    if request.output_schema is not None:
        # Always enforced; the schema's name and description have no field here.
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = request.output_schema.schema
    if config:
        body["generationConfig"] = config
    if request.metadata:
        body["labels"] = _labels(request.metadata)
    body.update(request.extra)
    return body


# ---------------------------------------------------------------- stream side

FINISH_REASONS: dict[str, StopReason] = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "BLOCKLIST": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "IMAGE_PROHIBITED_CONTENT": "refusal",
    "IMAGE_RECITATION": "refusal",
}
#: Finish reasons saying the model's function call could not be used.
MALFORMED_REASONS = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"})
#: Candidate fields with no normalized meaning, surfaced as raw chunks.
_CANDIDATE_RAW = ("groundingMetadata", "citationMetadata", "urlContextMetadata")
_USAGE_COUNTS = ("promptTokenCount", "totalTokenCount", "candidatesTokenCount")

_RAW_CHUNK = RawEvent("chunk")
_RAW_PARTIAL_ARGS = RawEvent("partialArgs")
_RAW_FINISH = RawEvent("finishReason")
_HEAD_LIMIT = 4096
_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[(['\"])(.*?)\3\]")


def _str(value: Any, field: str) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"{field} is not a string: {type(value).__name__}")


def usage_of(usage: dict[str, Any]) -> Usage:
    """One ``usageMetadata`` report as ``Usage`` (see the module docstring)."""
    get = usage.get
    prompt, tools = get("promptTokenCount", 0), get("toolUsePromptTokenCount", 0)
    output, thoughts = get("candidatesTokenCount", 0), get("thoughtsTokenCount", 0)
    cached = get("cachedContentTokenCount", 0)
    return Usage(
        (prompt if type(prompt) is int else 0) + (tools if type(tools) is int else 0),
        (output if type(output) is int else 0) + (thoughts if type(thoughts) is int else 0),
        cached if type(cached) is int else 0,
        0,
    )


def _path(json_path: str) -> list[str | int]:
    """``$.a.b[0]['c d']`` -> ``["a", "b", 0, "c d"]`` (``ValueError`` otherwise)."""
    if not json_path.startswith("$"):
        raise ValueError(f"partialArgs jsonPath {json_path!r} does not start with $")
    steps: list[str | int] = []
    pos = 1
    while pos < len(json_path):
        match = _PATH_STEP.match(json_path, pos)
        if match is None:
            raise ValueError(f"partialArgs jsonPath {json_path!r} is not understood")
        name, index, _quote, quoted = match.groups()
        steps.append(int(index) if index is not None else (name if name is not None else quoted))
        pos = match.end()
    if not steps:
        raise ValueError("partialArgs jsonPath names no argument")
    return steps


def _scalar(arg: dict[str, Any]) -> Any:
    if "stringValue" in arg:
        return _str(arg["stringValue"], "stringValue")
    if "numberValue" in arg:
        number = arg["numberValue"]
        if type(number) is float and number.is_integer():
            return int(number)  # a protobuf double; whole args carry JSON integers
        return number
    if "boolValue" in arg:
        return bool(arg["boolValue"])
    if "nullValue" in arg:
        return None
    for key in ("structValue", "listValue"):
        if key in arg:
            return arg[key]
    raise ValueError(f"partialArgs entry without a value: {sorted(arg)}")


class _StreamedCall:
    """A Vertex call whose arguments arrive as ``partialArgs`` (mutable, internal)."""

    __slots__ = ("args", "continuing", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.args: dict[str, Any] = {}
        self.continuing: str | None = None  # the jsonPath whose string goes on

    def apply(self, arg: dict[str, Any]) -> None:
        json_path = _str(arg["jsonPath"], "jsonPath")
        steps = _path(json_path)
        value = _scalar(arg)
        node: Any = self.args
        for step, following in zip(steps, [*steps[1:], None], strict=True):
            if following is None:
                break
            child = node[step] if _has(node, step) else None
            if child is None:
                child = [] if isinstance(following, int) else {}
                _put(node, step, child)
            node = child
        last = steps[-1]
        if (
            self.continuing == json_path
            and isinstance(value, str)
            and _has(node, last)
            and isinstance(node[last], str)
        ):
            value = node[last] + value
        _put(node, last, value)
        self.continuing = json_path if arg.get("willContinue") else None


def _has(node: Any, step: str | int) -> bool:
    if isinstance(node, list):
        return isinstance(step, int) and step < len(node)
    return step in node


def _put(node: Any, step: str | int, value: Any) -> None:
    if isinstance(node, list):
        if not isinstance(step, int):
            raise TypeError("a name step into a list")
        while len(node) <= step:
            node.append(None)
    elif not isinstance(node, dict):
        raise TypeError(f"partialArgs path goes through a {type(node).__name__}")
    node[step] = value


class GeminiDecoder(JsonEventDecoder):
    """``StreamDecoder`` for ``streamGenerateContent?alt=sse`` (see the module docstring)."""

    def __init__(
        self, provider: str = "gemini", *, ref: Any = None, max_size: int = DEFAULT_MAX_SIZE
    ) -> None:
        super().__init__(provider, ref=ref, max_size=max_size)
        self._started = False
        self._seen = False  # an SSE event arrived (else the body may be a JSON error)
        self._head = b""  # the first bytes while no event arrived
        self._cur = ""  # kind of the block being extended: "text" | "thinking" | ""
        self._cur_index = -1
        self._next_index = 0
        self._calls = 0
        self._id_prefix = f"gemini_{secrets.token_hex(4)}_"
        self._streamed: _StreamedCall | None = None
        self._finished = False
        self._usage_raw: Any = None  # the last usageMetadata seen

    def feed(self, data: bytes) -> list[ProviderChunk]:
        if not self._seen and len(self._head) < _HEAD_LIMIT:
            self._head += data[: _HEAD_LIMIT - len(self._head)]
        return super().feed(data)

    def _handle(self, name: str, obj: dict[str, Any], out: list[Event]) -> None:
        self._seen = True
        if "error" in obj:
            self._fail(error_from_payload(obj, self._provider))
            return
        before = len(out)
        if not self._started:
            self._started = True
            mid, model = obj.get("responseId"), obj.get("modelVersion")
            mid = mid if isinstance(mid, str) else None
            model = model if isinstance(model, str) else None
            self._acc.start(mid, model)
            out.append(MessageStart(mid, model))
        # Usage first: a chunk that ends the stream with an error still counts.
        usage = obj.get("usageMetadata")
        changed: Usage | None = None
        # Most chunks repeat the previous report: one dict comparison skips them.
        if usage and usage != self._usage_raw:
            self._usage_raw = usage
            if any(field in usage for field in _USAGE_COUNTS):
                new = usage_of(usage)
                if new != self._acc.usage:
                    self._acc.set_usage(new)
                    changed = new
        candidates = obj.get("candidates")
        if candidates:
            for candidate in candidates:
                if candidate.get("index", 0) != 0:
                    out.append(RawEvent("candidate"))  # candidateCount > 1: in raw only
                    continue
                self._candidate(candidate, out)
                if self.error is not None:
                    return
        feedback = obj.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self._stop(_str(feedback["blockReason"], "blockReason"), "refusal", out)
        if changed is not None:
            out.append(UsageUpdate(changed))
        if len(out) == before:
            out.append(_RAW_CHUNK)

    # -------------------------------------------------------- candidate

    def _candidate(self, candidate: dict[str, Any], out: list[Event]) -> None:
        content = candidate.get("content")
        if content:
            parts = content.get("parts")
            if parts:
                for part in parts:
                    self._part(part, out)
        for field in _CANDIDATE_RAW:
            if candidate.get(field):
                out.append(RawEvent(field))
        reason = candidate.get("finishReason")
        if reason and reason != "FINISH_REASON_UNSPECIFIED":
            reason = _str(reason, "finishReason")
            if reason in MALFORMED_REASONS:
                self._malformed(reason, candidate.get("finishMessage"), out)
            else:
                self._stop(reason, FINISH_REASONS.get(reason), out)

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        signature = part.get("thoughtSignature")
        if signature is not None:
            signature = _str(signature, "thoughtSignature")
        if "text" in part:
            text = _str(part["text"], "text")
            if not text and signature is None:
                return  # an empty unsigned part carries nothing
            self._text(text, "thinking" if part.get("thought") is True else "text", signature, out)
        elif "functionCall" in part:
            self._function_call(part["functionCall"], signature, out)
        else:
            # Run by the provider (code execution, server tools) or unknown:
            # kept whole, to be sent back as it came.
            self._cur = ""
            index = self._next_index
            self._next_index += 1
            self._acc.raw_block(index, "gemini", part)
            kind = next((k for k in part if k not in ("thought", "thoughtSignature")), "part")
            out.append(RawEvent(kind))

    def _text(self, text: str, kind: str, signature: str | None, out: list[Event]) -> None:
        if self._cur != kind or signature is not None:
            self._cur_index = self._next_index
            self._next_index += 1
            # A signed part is a block of its own: nothing is appended to it later.
            self._cur = "" if signature is not None else kind
        index = self._cur_index
        if kind == "text":
            self._acc.text(index, text)
            out.append(text_delta(index, text))
        else:
            self._acc.thinking(index, text)
            out.append(ThinkingDelta(index, text))
        if signature is not None:
            self._acc.signature(index, signature)
            out.append(ThinkingSignature(index, signature))

    # -------------------------------------------------------- function calls

    def _function_call(self, call: dict[str, Any], signature: str | None, out: list[Event]) -> None:
        if type(call) is not dict:
            raise TypeError(f"functionCall is not an object: {type(call).__name__}")
        self._cur = ""
        name = call.get("name")
        streamed = self._streamed
        if streamed is not None and not name:
            partial = call.get("partialArgs")
            if partial:
                for arg in partial:
                    streamed.apply(arg)
                out.append(_RAW_PARTIAL_ARGS)
            if not call.get("willContinue"):
                self._end_streamed(out)  # the empty functionCall that ends the call
            return
        if streamed is not None:
            self._end_streamed(out)  # a new call begins: the previous one is whole
        if not name:
            out.append(RawEvent("functionCall"))  # an empty call with nothing open
            return
        name = decode_tool_name(_str(name, "functionCall.name"))
        call_id = call.get("id")
        if call_id is None:
            call_id = f"{self._id_prefix}{self._calls}"
        call_id = _str(call_id, "functionCall.id")
        self._calls += 1
        index = self._next_index
        self._next_index += 1
        acc = self._acc
        acc.tool_start(index, call_id, name)
        out.append(ToolCallStart(index, call_id, name))
        if signature is not None:
            acc.signature(index, signature)
            out.append(ThinkingSignature(index, signature))
        args = call.get("args")
        if args is None and call.get("willContinue"):
            self._streamed = _StreamedCall(index)
            for arg in call.get("partialArgs") or ():
                self._streamed.apply(arg)
            return
        if args is None:
            args = {}
        if type(args) is not dict:
            raise TypeError(f"functionCall.args is not an object: {type(args).__name__}")
        self._end_call(index, json.dumps(args, ensure_ascii=False), out)

    def _end_streamed(self, out: list[Event]) -> None:
        streamed = self._streamed
        if streamed is not None:
            self._streamed = None
            self._end_call(streamed.index, json.dumps(streamed.args, ensure_ascii=False), out)

    def _end_call(self, index: int, arguments: str, out: list[Event]) -> None:
        acc = self._acc
        acc.tool_delta(index, arguments)
        out.append(ToolCallDelta(index, arguments))
        call = acc.tool_end(index)
        out.append(ToolCallEnd(index, call.id, call.name, call.input, call.error))

    # -------------------------------------------------------- the end

    def _stop(self, raw: str, normalized: StopReason | None, out: list[Event]) -> None:
        self._end_streamed(out)
        if normalized == "end_turn" and self._calls:
            normalized = "tool_use"  # Gemini says STOP after function calls
        self._acc.set_stop(raw, normalized)
        self._finished = True
        out.append(_RAW_FINISH)

    def _malformed(self, reason: str, message: Any, out: list[Event]) -> None:
        self._end_streamed(out)
        self._acc.set_stop(reason, None)
        detail = message if isinstance(message, str) and message else "no detail given"
        self._fail(
            MalformedToolCall(
                f"{reason}: {detail}",
                partial=self._acc.message(),
                reason=reason,
                provider=self._provider,
            )
        )

    def _on_sentinel(self, out: list[Event]) -> None:  # pragma: no cover
        raise AssertionError("Gemini streams have no sentinel")

    def _finish(self, out: list[Event]) -> None:
        if self._complete:
            return
        if not self._seen:
            error = _json_error(self._head, self._provider)
            if error is not None:
                self._fail(error)
                return
        self._end_streamed(out)
        if self._finished:
            if self._acc.raw_stop_reason == "STOP" and self._calls:
                self._acc.set_stop("STOP", "tool_use")  # calls after a mid-stream STOP
            self._complete = True
            return
        self._interrupted("the stream ended before any finishReason")


def _json_error(head: bytes, provider: str) -> ProviderError | None:
    """The typed error of a body that is a JSON error object instead of SSE, else None."""
    try:
        payload = json.loads(head)
    except ValueError:
        return None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return error_from_payload(payload, provider)
    return None


# ---------------------------------------------------------------- errors


def retry_delay(payload: Any) -> float | None:
    """Seconds from a Google error's ``RetryInfo.retryDelay`` (``"17s"``, ``"0.5s"``), else None."""
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return None
    for detail in details:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                seconds = float(delay[:-1])
            except ValueError:
                continue
            if seconds >= 0:
                return seconds
    return None


def error_from_payload(payload: dict[str, Any], provider: str) -> ProviderError:
    """An in-stream ``{"error": {...}}`` as its typed error (with ``retryDelay``)."""
    error = errormap.error_from_payload(payload, provider=provider)
    delay = retry_delay(payload)
    if delay is not None and isinstance(error, APIStatusError):
        error.retry_after = delay
    return error


def parse_models(body: Any) -> list[ModelInfo]:
    """``{"models": [{"name": "models/x", "inputTokenLimit": ...}]}`` (Vertex:
    ``publisherModels`` with ``publishers/google/models/x`` names)."""
    data = body.get("models") or body.get("publisherModels") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return []
    out = []
    for item in data:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            continue
        window = item.get("inputTokenLimit")
        out.append(
            ModelInfo(
                name.rsplit("/", 1)[-1],
                "google",
                window if type(window) is int else None,
                item,
            )
        )
    return out


# ---------------------------------------------------------------- the provider


class GeminiProvider(BaseProvider):
    """``streamGenerateContent`` with one profile: the Gemini API or Vertex AI.

    Gemini API: ``{base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse``,
    the key in ``x-goog-api-key`` (never in the URL). Vertex AI: ``base_url`` is
    the project's location, ``https://{region}-aiplatform.googleapis.com/v1/
    projects/{project}/locations/{region}`` (``/publishers/google`` is added
    unless present), ``api_key`` an OAuth access token sent as a bearer token.
    """

    def __init__(self, profile: Profile | None = None) -> None:
        super().__init__(profile or PROFILES["gemini"])

    def format_request(self, request: Request) -> dict[str, Any]:
        return format_request(request, self.profile)

    def _model_path(self, config: ProviderConfig, model: str) -> str:
        base = base_url(config, self.profile)
        model = quote(model, safe="/-._~")
        if self.profile.kind == "vertex":
            if not base.endswith("/publishers/google"):
                base += "/publishers/google"
            return f"{base}/models/{model}"
        path = f"/{model}" if "/" in model else f"/models/{model}"
        return join_path(base, path, version=API_VERSION, always=True)

    def build_request(self, config: ProviderConfig, request: Request) -> HttpRequest:
        headers = {
            "accept": "text/event-stream",
            "content-type": "application/json",
            **auth_headers(config, self.profile),
            **config.headers,
            **request.headers,
        }
        url = self._model_path(config, request.model) + ":streamGenerateContent"
        body = format_request(request, self.profile)
        return HttpRequest("POST", url, headers, body, {"alt": "sse"})

    def decoder(self, provider: str | None = None, *, ref: Any = None) -> StreamDecoder:
        return GeminiDecoder(provider or self.profile.kind, ref=ref)

    def retry_headers(self, headers: Mapping[str, str], body: bytes) -> Mapping[str, str]:
        """The headers, plus ``retry-after`` from the body's ``retryDelay`` when none says it."""
        if headers.get("retry-after") is not None or headers.get("retry-after-ms") is not None:
            return headers
        try:
            delay = retry_delay(json.loads(body)) if body else None
        except ValueError:
            delay = None
        if delay is None:
            return headers
        merged = {k.lower(): v for k, v in headers.items()}
        merged["retry-after"] = repr(delay)
        return merged

    def models_request(self, config: ProviderConfig) -> HttpRequest:
        headers = {**auth_headers(config, self.profile), **config.headers}
        base = base_url(config, self.profile)
        if self.profile.kind == "vertex":
            # Google's published models are listed outside any project.
            parts = urlsplit(base)
            url = f"{parts.scheme}://{parts.netloc}/v1beta1/publishers/google/models"
            return HttpRequest("GET", url, headers, None, {"pageSize": "1000"})
        url = join_path(base, "/models", version=API_VERSION, always=True)
        return HttpRequest("GET", url, headers, None, {"pageSize": "1000"})

    def parse_models(self, body: Any) -> list[ModelInfo]:
        return parse_models(body)
