"""Strict validation of request bodies against the official SDKs' request types.

``anthropic.types.message_create_params.MessageCreateParamsStreaming`` and
``openai.types.chat.completion_create_params.CompletionCreateParamsStreaming``
are TypedDicts; pydantic's ``TypeAdapter`` validates a body against them
(Gemini bodies: ``validate_gemini``, field by field against google-genai).
Made strict three ways:

* ``extra="forbid"``, set on a ``list[...]`` wrapper (pydantic refuses a
  config on a TypedDict itself, and passes it down to TypedDicts that have
  none of their own);
* the SDKs type lists as ``Iterable[...]``, which pydantic validates lazily
  (a generator that checks items only when consumed): every such value is
  consumed here, so each item is checked;
* some unions also take the SDKs' response models (pydantic models that
  accept any extra key): a value that validated as one must have no extra
  key, and the validated body, turned back into plain data, must equal the
  body sent (nothing dropped or coerced on the way).

A few keys are documented vendor extensions the SDK types do not name
(DeepSeek's ``reasoning_content``, OpenRouter's ``reasoning`` and
``cache_control``); ``EXTENSIONS`` lists each with where it may occur, and
``strip_extensions`` removes exactly those before validation.
"""

from __future__ import annotations

import copy
import functools
import warnings
from typing import Any

import pydantic

#: (kind or "*", path) of keys the vendor documents and the SDK type lacks.
#: A path is a tuple of keys; "*" matches any list index.
EXTENSIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    # anthropic 2.17 no longer types the sampling knobs; the API takes them.
    "anthropic": (("temperature",), ("top_p",)),
    # DeepSeek's thinking mode wants the reasoning back on the assistant turn.
    "deepseek": (("messages", "*", "reasoning_content"),),
    # OpenRouter: reasoning settings, and Anthropic-style cache breakpoints on text parts.
    "openrouter": (
        ("reasoning",),
        ("messages", "*", "content", "*", "cache_control"),
    ),
}


@functools.cache
def _adapter(wire: str) -> pydantic.TypeAdapter[Any]:
    if wire == "anthropic":
        from anthropic.types.message_create_params import MessageCreateParamsStreaming

        body_type: Any = MessageCreateParamsStreaming
    else:
        from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming

        body_type = CompletionCreateParamsStreaming
    return pydantic.TypeAdapter(list[body_type], config=pydantic.ConfigDict(extra="forbid"))


def _plain(value: Any, where: str = "body") -> Any:
    """Consume lazy validators and turn models back into data; refuse extra keys."""
    if isinstance(value, pydantic.BaseModel):
        extra = value.model_extra
        if extra:
            raise AssertionError(f"{where}: keys the SDK type does not know: {sorted(extra)}")
        data = {k: getattr(value, k) for k in value.model_fields_set}
        return {k: _plain(v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ValidatorIterator":
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _strip(node: Any, path: tuple[str, ...]) -> None:
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node if isinstance(node, list) else []:
            _strip(item, rest)
    elif isinstance(node, dict) and head in node:
        if rest:
            _strip(node[head], rest)
        else:
            del node[head]


def strip_extensions(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for path in EXTENSIONS.get(kind, ()):
        _strip(body, path)
    return body


def validate_gemini(body: dict[str, Any]) -> None:
    """Each field of a Gemini body through google-genai's own (extra-forbidding) types.

    The SDK has no type for the REST body as a whole: its fields are checked
    one by one, and no other field is allowed. The SDK's enums take an
    unknown value with a warning ("... is not a valid ..."): made an error.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".* is not a valid ", category=UserWarning)
        _validate_gemini(body)


def _validate_gemini(body: dict[str, Any]) -> None:
    from google.genai import types

    allowed = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "labels"}
    assert set(body) <= allowed, sorted(set(body) - allowed)
    for content in body["contents"]:
        types.Content.model_validate(content)
        assert content["parts"], "Gemini rejects a content without parts"
    if "systemInstruction" in body:
        types.Content.model_validate(body["systemInstruction"])
    for tool in body.get("tools", []):
        types.Tool.model_validate(tool)
    if "toolConfig" in body:
        types.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        types.GenerationConfig.model_validate(body["generationConfig"])
    if "labels" in body:
        labels = types.GenerateContentConfig.model_validate({"labels": body["labels"]}).labels
        assert labels == body["labels"]


def validate_body(kind: str, wire: str, body: dict[str, Any]) -> None:
    """Raise ``AssertionError`` / ``pydantic.ValidationError`` unless ``body`` is exactly typed."""
    if wire == "gemini":
        validate_gemini(body)
        return
    sent = strip_extensions(kind, body)
    validated = _plain(_adapter(wire).validate_python([sent])[0])
    assert validated == sent, f"the SDK type changed the body:\n{validated}\n!=\n{sent}"
