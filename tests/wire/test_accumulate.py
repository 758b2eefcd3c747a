"""Accumulator: a reply rebuilt from the normalized events equals the decoder's own."""

from __future__ import annotations

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapsis_actors.model.accumulator import Accumulator, parse_arguments
from synapsis_actors.model.events import (
    Ping,
    RawEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from synapsis_actors.model.parts import RawBlockPart
from synapsis_actors.model.reply import Usage
from synapsis_actors.wire.anthropic import AnthropicDecoder
from synapsis_actors.wire.openai import OpenAIDecoder

from .streams import anthropic_sse, openai_sse, run
from .test_anthropic import full_stream
from .test_openai import tools_stream


def rebuild(events: list[object]) -> Accumulator:
    acc = Accumulator()
    for event in events:
        acc.add(event)  # type: ignore[arg-type]
    return acc


def test_events_rebuild_the_anthropic_reply() -> None:
    out = run(AnthropicDecoder(), [anthropic_sse(full_stream())])
    acc = rebuild([e for e, _ in out.events])
    acc.set_stop(out.message.raw_stop_reason, out.message.stop_reason)
    # Server tool blocks are RawEvent chunks (their JSON is in ``raw``): the
    # normalized events alone rebuild everything else.
    kept = [b for b in out.message.blocks if not isinstance(b, RawBlockPart)]
    assert len(kept) < len(out.message.blocks)
    assert acc.message() == attrs.evolve(out.message, blocks=kept)


def test_events_rebuild_the_openai_reply() -> None:
    out = run(OpenAIDecoder(), [openai_sse(tools_stream())])
    acc = rebuild([e for e, _ in out.events])
    acc.set_stop(out.message.raw_stop_reason, out.message.stop_reason)
    assert acc.message() == out.message


def test_tool_call_end_event_carries_its_verdict() -> None:
    acc = rebuild(
        [
            ToolCallStart(0, "c", "f"),
            ToolCallDelta(0, '{"a": '),
            ToolCallEnd(0, "c", "f", None, "cut off"),
            Ping(),
            RawEvent("x"),
            UsageUpdate(Usage(1, 2)),
            TextDelta(1, "after"),
        ]
    )
    msg = acc.message()
    assert msg.tool_calls[0].input is None
    assert msg.tool_calls[0].error == "cut off"
    assert msg.tool_calls[0].arguments == '{"a": '
    assert msg.text == "after"
    assert msg.usage == Usage(1, 2)


def test_open_tool_call_is_parsed_in_the_partial_message() -> None:
    acc = Accumulator()
    acc.tool_start(0, "c", "f")
    acc.tool_delta(0, '{"a": 1}')
    assert acc.open_tool_calls() == [0]
    assert acc.message().tool_calls[0].input == {"a": 1}
    assert acc.open_tool_calls() == [0]  # message() does not close it
    assert acc.tool_end(0) is acc.tool_end(0)  # parsed once


def test_parse_arguments() -> None:
    assert parse_arguments("") == ({}, None)
    assert parse_arguments("  \n") == ({}, None)
    assert parse_arguments('{"x": [1]}') == ({"x": [1]}, None)
    value, error = parse_arguments('{"x": ', cut_off=True)
    assert value is None
    assert error is not None
    assert "cut off" in error
    value, error = parse_arguments("null")
    assert value is None
    assert "not an object" in (error or "")


def test_linear_assembly_of_a_large_call() -> None:
    # 200k fragments: appending and joining once stays linear.
    acc = Accumulator()
    acc.tool_start(0, "c", "f")
    acc.tool_delta(0, '{"items": [')
    for i in range(200_000):
        acc.tool_delta(0, f"{i},")
    acc.tool_delta(0, "0]}")
    call = acc.tool_end(0)
    assert call.input is not None
    assert len(call.input["items"]) == 200_001


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["text", "thinking"]), st.integers(0, 2), st.text(max_size=3)),
        min_size=200,
        max_size=600,
    )
)
def test_long_runs_of_deltas_are_joined_without_changing_the_reply(
    deltas: list[tuple[str, int, str]],
) -> None:
    """Deltas are joined in runs as they come (to hold characters, not one string
    object each): the reply is the one of each block's text in one delta, and a
    block never holds more than a run of loose deltas."""
    acc = Accumulator()
    kinds: dict[int, str] = {}
    texts: dict[int, list[str]] = {}
    for kind, index, text in deltas:
        kind = kinds.setdefault(index, kind)  # a block keeps the kind it started with
        getattr(acc, kind)(index, text)
        texts.setdefault(index, []).append(text)
    whole = Accumulator()
    for index, kind in kinds.items():
        getattr(whole, kind)(index, "".join(texts[index]))
    assert acc.message() == whole.message()
    for index, parts in texts.items():
        held = len(acc._blocks[index].parts)  # the accumulator's own list
        assert held <= len(parts) // 64 + 65


def test_long_deltas_are_kept_as_they_came() -> None:
    """Joining copies: deltas of 4 KiB are held as the very objects the caller got."""
    acc = Accumulator()
    deltas = [f"{i:04d}" + "x" * 4096 for i in range(200)]
    for delta in deltas:
        acc.text(0, delta)
    assert acc.message().text == "".join(deltas)
    held = acc._blocks[0].parts  # the accumulator's own list
    assert len(held) == len(deltas)
    assert all(a is b for a, b in zip(held, deltas, strict=True))
