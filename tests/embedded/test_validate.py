"""The embedded provider refuses, with the vendor's 400, each body the real API refuses.

One bad body per rule of ``synapsis_actors.embedded.validate``, sent over
loopback with plain httpx (as the other embedded tests do): the answer is
the vendor's error JSON, and a good body of the same shape is served.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import synapsis_actors as sa
from synapsis_actors.embedded import validate

from ._helpers import ANTHROPIC_HEADERS, OPENAI_HEADERS

USE = {"type": "tool_use", "id": "t1", "name": "get", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
TOOL = {"name": "get", "input_schema": {"type": "object"}}


def _a(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 10, "messages": list(messages), **extra}


ANTHROPIC_BAD = {
    "system_role": (_a({"role": "system", "content": "x"}), "Unexpected role"),
    "unanswered_call": (
        _a(
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [USE]},
            {"role": "user", "content": "no result"},
        ),
        "without `tool_result`",
    ),
    "result_not_first": (
        _a(
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [USE]},
            {"role": "user", "content": [{"type": "text", "text": "x"}, RESULT]},
        ),
        "must come first",
    ),
    "result_for_no_call": (
        _a({"role": "user", "content": [RESULT]}),
        "unexpected `tool_use_id`",
    ),
    "empty_turn": (
        _a({"role": "user", "content": []}, {"role": "user", "content": "x"}),
        "non-empty",
    ),
    "empty_text": (_a({"role": "user", "content": [{"type": "text", "text": ""}]}), "non-empty"),
    "unsigned_thinking": (
        _a(
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]},
            {"role": "user", "content": "go"},
        ),
        "signature",
    ),
    "bad_tool_name": (
        _a({"role": "user", "content": "q"}, tools=[{**TOOL, "name": "github.create_issue"}]),
        "pattern",
    ),
    "duplicate_call_ids": (
        _a(
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [USE, USE]},
            {"role": "user", "content": [RESULT]},
        ),
        "unique",
    ),
    "tool_choice_unknown": (
        _a(
            {"role": "user", "content": "q"},
            tools=[TOOL],
            tool_choice={"type": "tool", "name": "x"},
        ),
        "not found",
    ),
}

CALL = {"id": "c1", "type": "function", "function": {"name": "get", "arguments": "{}"}}
FUNCTION = {"type": "function", "function": {"name": "get", "parameters": {"type": "object"}}}


def _o(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages), **extra}


OPENAI_BAD = {
    "unknown_role": (_o({"role": "robot", "content": "x"}), "messages.[0].role"),
    "tool_without_call": (
        _o(
            {"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "c1", "content": "x"}
        ),
        "messages.[1].role",
    ),
    "user_between_tool_messages": (
        _o(
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [CALL, {**CALL, "id": "c2"}]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"},
            {"role": "user", "content": "image here"},
            {"role": "tool", "tool_call_id": "c2", "content": "y"},
        ),
        "messages.[3].role",
    ),
    "assistant_with_nothing": (
        _o({"role": "user", "content": "q"}, {"role": "assistant", "content": None}),
        "messages.[1].content",
    ),
    "bad_tool_name": (
        _o(
            {"role": "user", "content": "q"},
            tools=[{"type": "function", "function": {"name": "a.b"}}],
        ),
        "tools[0].function.name",
    ),
    "arguments_not_a_string": (
        _o(
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{**CALL, "function": {"name": "get", "arguments": {}}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "x"},
        ),
        "messages.[1].tool_calls[0].function.arguments",
    ),
    "tool_choice_unknown": (
        _o(
            {"role": "user", "content": "q"},
            tools=[FUNCTION],
            tool_choice={"type": "function", "function": {"name": "x"}},
        ),
        "tool_choice",
    ),
}


@pytest.mark.parametrize("case", sorted(ANTHROPIC_BAD))
async def test_anthropic_rules_answer_the_messages_api_400(case: str) -> None:
    body, words = ANTHROPIC_BAD[case]
    async with sa.open_embedded_provider() as local, httpx.AsyncClient() as client:
        response = await client.post(
            local.anthropic_base_url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS
        )
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert words in error["error"]["message"]


@pytest.mark.parametrize("case", sorted(OPENAI_BAD))
async def test_openai_rules_answer_the_chat_completions_400(case: str) -> None:
    body, param = OPENAI_BAD[case]
    async with sa.open_embedded_provider() as local, httpx.AsyncClient() as client:
        response = await client.post(
            local.openai_base_url + "/chat/completions", json=body, headers=OPENAI_HEADERS
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert set(error) == {"message", "type", "param", "code"}


def test_the_same_shapes_done_right_pass() -> None:
    good_anthropic = _a(
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "x", "signature": "s"}, USE],
        },
        {"role": "user", "content": [RESULT, {"type": "text", "text": "and?"}]},
        tools=[TOOL],
        tool_choice={"type": "tool", "name": "get"},
    )
    assert validate.problem("anthropic", good_anthropic) is None
    good_openai = _o(
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [CALL, {**CALL, "id": "c2"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "x"},
        {"role": "tool", "tool_call_id": "c2", "content": "y"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
        tools=[FUNCTION],
        tool_choice={"type": "function", "function": {"name": "get"}},
    )
    assert validate.problem("openai", good_openai) is None
