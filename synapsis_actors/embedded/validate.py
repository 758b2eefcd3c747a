"""The request rules the real APIs enforce that a JSON type cannot state.

The embedded provider answers a body that breaks one with the vendor's 400
(``invalid_request_error``), so an agent loop tested against it fails the
way it would against the real service. Checked here, on the wire JSON:

* roles: Anthropic takes ``user`` / ``assistant`` (the system prompt is a
  top-level field); chat completions also ``system``, ``developer``,
  ``tool``;
* pairing and order of tool calls and results: every call of an assistant
  turn is answered before anything else (Anthropic: by ``tool_result``
  blocks at the start of the next user turn; chat completions: by
  consecutive ``tool`` messages), and every result answers a call of the
  turn just before;
* tool names (``^[a-zA-Z0-9_-]{1,128}$`` / ``{1,64}``), unique call ids,
  a named ``tool_choice`` among the tools;
* no empty turn and no empty text block (Anthropic), an assistant message
  with content or tool calls (chat completions), thinking sent back with
  its signature (Anthropic), blocks in a role that can hold them.

Gemini (answered in Google's shape, ``INVALID_ARGUMENT``): roles ``user`` /
``model`` only, no content without parts, a ``functionCall`` only in a
``model`` turn, and the ``functionResponse`` parts of the next ``user`` turn
answering that turn's calls one for one, in order (the name, and the id
where the call had one). Thought signatures are checked in ``gemini.py``.

Tests use ``problem`` directly to check bodies the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from .wire import Flavor

_ANTHROPIC_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_OPENAI_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
_ASSISTANT_ONLY = frozenset({"tool_use", "thinking", "redacted_thinking", "server_tool_use"})
_OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@attrs.frozen
class Problem:
    """Why the body would be refused; ``param`` names the offending field (OpenAI style)."""

    message: str
    param: str | None = None


def problem(flavor: Flavor, body: Mapping[str, Any]) -> Problem | None:
    """The first rule ``body`` breaks, or None."""
    if flavor == "anthropic":
        return _anthropic(body)
    if flavor == "gemini":
        return _gemini(body)
    return _openai(body)


# ------------------------------------------------------------------ Anthropic


def _anthropic(body: Mapping[str, Any]) -> Problem | None:
    names: set[str] = set()
    tools = body.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, Mapping):
            return Problem(f"tools.{i}: Input should be an object")
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web_search_..., bash_...) have fixed names
        name = tool.get("name")
        if not isinstance(name, str) or not _ANTHROPIC_NAME.fullmatch(name):
            return Problem(
                f"tools.{i}.custom.name: String should match pattern "
                f"'^[a-zA-Z0-9_-]{{1,128}}$' (got {name!r})"
            )
        names.add(name)
    choice = body.get("tool_choice")
    if (
        isinstance(choice, Mapping)
        and choice.get("type") == "tool"
        and choice.get("name") not in names
    ):
        return Problem(f"tool_choice.name: tool {choice.get('name')!r} not found in tools")
    messages = body["messages"]
    pending: list[str] = []  # the tool_use ids of the turn before
    seen_ids: set[str] = set()
    last = len(messages) - 1
    for n, message in enumerate(messages):
        if not isinstance(message, Mapping):
            return Problem(f"messages.{n}: Input should be an object")
        role = message.get("role")
        if role not in ("user", "assistant"):
            return Problem(
                f'messages.{n}.role: Unexpected role "{role}". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}] if content else []
        if not isinstance(content, list):
            return Problem(f"messages.{n}.content: Input should be a string or a list")
        if not content and not (n == last and role == "assistant"):
            return Problem(
                f"messages.{n}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        results: list[str] = []
        calls: list[str] = []
        leading = True  # still in the run of tool_result blocks that opens the turn
        for k, block in enumerate(content):
            where = f"messages.{n}.content.{k}"
            kind = block.get("type") if isinstance(block, Mapping) else None
            if not isinstance(kind, str):
                return Problem(f"{where}: a content block needs a type")
            if role == "assistant" and kind in _USER_BLOCKS - {"text"}:
                return Problem(f"{where}: a {kind} block is not allowed in an assistant turn")
            if role == "user" and kind in _ASSISTANT_ONLY:
                return Problem(f"{where}: a {kind} block is not allowed in a user turn")
            if kind == "text" and not block.get("text"):
                return Problem(f"{where}.text: text content blocks must be non-empty")
            if kind == "thinking" and not isinstance(block.get("signature"), str):
                return Problem(f"{where}.thinking.signature: Field required")
            if kind == "tool_use":
                tid, name = block.get("id"), block.get("name")
                if not isinstance(name, str) or not _ANTHROPIC_NAME.fullmatch(name):
                    return Problem(
                        f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
                    )
                if not isinstance(tid, str) or tid in seen_ids:
                    return Problem(f"{where}: `tool_use` ids must be unique (got {tid!r})")
                seen_ids.add(tid)
                calls.append(tid)
            if kind == "tool_result":
                if not leading:
                    return Problem(
                        f"{where}: `tool_result` blocks must come first in the user message, "
                        "before any other content"
                    )
                results.append(str(block.get("tool_use_id")))
            else:
                leading = False
        unexpected = [r for r in results if r not in pending]
        if unexpected:
            return Problem(
                f"messages.{n}.content: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {', '.join(unexpected)}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message."
            )
        missing = [p for p in pending if p not in results]
        if missing:
            return Problem(
                f"messages.{n - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        pending = calls
    if pending:
        return Problem(
            f"messages.{last}: `tool_use` ids were found without `tool_result` blocks "
            f"immediately after: {', '.join(pending)}."
        )
    return None


# ------------------------------------------------------------------ chat completions


def _function_name(item: Any, where: str) -> tuple[str, Problem | None]:
    """The ``function.name`` of a tool or a tool call, or the problem with it."""
    function = item.get("function") if isinstance(item, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if isinstance(name, str) and _OPENAI_NAME.fullmatch(name):
        return name, None
    return "", Problem(
        f"Invalid '{where}.function.name': string does not match pattern. Expected a "
        "string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
        f"{where}.function.name",
    )


def _openai(body: Mapping[str, Any]) -> Problem | None:
    names: set[str] = set()
    tools = body.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        name, bad = _function_name(tool, f"tools[{i}]")
        if bad is not None:
            return bad
        names.add(name)
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        function = choice.get("function")
        chosen = function.get("name") if isinstance(function, Mapping) else None
        if chosen not in names:
            return Problem(
                f"Invalid value for 'tool_choice': tool {chosen!r} not in tools.", "tool_choice"
            )
    pending: list[str] = []  # tool_call ids still to be answered
    answering = False  # inside the run of tool messages after an assistant's calls
    for n, message in enumerate(body["messages"]):
        param = f"messages.[{n}]"
        if not isinstance(message, Mapping):
            return Problem(f"Invalid type for '{param}': expected an object.", param)
        role = message.get("role")
        if role not in _OPENAI_ROLES:
            return Problem(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                "'user', 'tool', and 'developer'.",
                f"{param}.role",
            )
        if role == "tool":
            tid = message.get("tool_call_id")
            if not answering or tid not in pending:
                return Problem(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"{param}.role",
                )
            pending.remove(tid)
            if not isinstance(message.get("content"), str | list):
                return Problem(
                    f"Invalid value for '{param}.content': expected a string.", f"{param}.content"
                )
            continue
        if pending:
            return Problem(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                f"{param}.role",
            )
        answering = False
        content = message.get("content")
        if role == "assistant":
            calls = message.get("tool_calls") or []
            if content is None and not calls:
                return Problem(
                    f"Invalid value for '{param}.content': expected a string, got null.",
                    f"{param}.content",
                )
            for k, call in enumerate(calls):
                _name, bad = _function_name(call, f"{param}.tool_calls[{k}]")
                if bad is not None:
                    return bad
                function = call["function"]
                arguments = function.get("arguments")
                if not isinstance(arguments, str):
                    return Problem(
                        f"Invalid type for '{param}.tool_calls[{k}].function.arguments': "
                        "expected a string.",
                        f"{param}.tool_calls[{k}].function.arguments",
                    )
                pending.append(str(call.get("id")))
            answering = bool(calls)
        elif content is None:
            return Problem(
                f"Invalid value for '{param}.content': expected a string, got null.",
                f"{param}.content",
            )
        if isinstance(content, list) and role != "user":
            for k, part in enumerate(content):
                if isinstance(part, Mapping) and part.get("type") not in ("text", "refusal"):
                    return Problem(
                        f"Invalid '{param}.content[{k}].type': a {role} message takes text "
                        "parts only.",
                        f"{param}.content[{k}].type",
                    )
    if pending:
        return Problem(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(pending)}",
            "messages",
        )
    return None


# ------------------------------------------------------------------ Gemini


def _gemini_key(part: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = part.get(key)
    return value if isinstance(value, Mapping) else None


def _gemini(body: Mapping[str, Any]) -> Problem | None:
    calls: list[Mapping[str, Any]] = []  # the function calls of the model turn just before
    contents = body.get("contents")
    for n, content in enumerate(contents if isinstance(contents, list) else []):
        where = f"GenerateContentRequest.contents[{n}]"
        if not isinstance(content, Mapping):
            return Problem(f"Invalid value at 'contents[{n}]': expected an object.")
        role = content.get("role")
        if role not in ("user", "model"):
            return Problem(f"Please use a valid role: user, model. Got {role!r} at {where}.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return Problem(f"* {where}.parts: contents.parts must not be empty.")
        parts = [p for p in parts if isinstance(p, Mapping)]
        made = [c for p in parts if (c := _gemini_key(p, "functionCall")) is not None]
        answers = [r for p in parts if (r := _gemini_key(p, "functionResponse")) is not None]
        if role == "user" and made:
            return Problem(f"* {where}: a functionCall part belongs in a model turn.")
        if role == "model" and answers:
            return Problem(f"* {where}: a functionResponse part belongs in a user turn.")
        if role == "user" and (answers or calls):
            if len(answers) != len(calls):
                return Problem(
                    "Please ensure that the number of function response parts is equal to "
                    "the number of function call parts of the function call turn. "
                    f"({where}: {len(answers)} responses to {len(calls)} calls)"
                )
            for k, (call, answer) in enumerate(zip(calls, answers, strict=True)):
                same_id = "id" not in call or answer.get("id") == call["id"]
                if answer.get("name") != call.get("name") or not same_id:
                    return Problem(
                        f"* {where}: functionResponse {k} ({answer.get('name')!r}, id "
                        f"{answer.get('id')!r}) does not answer functionCall {k} "
                        f"({call.get('name')!r}, id {call.get('id')!r})."
                    )
        calls = made if role == "model" else []
    return None
