"""The decoders' text template (wire/decoder.py) gives what the general path gives.

A decoder learns the JSON around a text delta and then reads the text of
events of that template without ``json.loads``. Each test feeds the same
events to a decoder with templates and to one that never learns one (the
general path) and compares everything observable: the chunks (event and
raw), the message, the error (type, message, what was received) and
completion. The events mix template-shaped text deltas whose raw JSON
strings are anything (escapes valid or not, quotes, control characters,
empty) with other shapes that change the decoders' state in between.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from synapsis_actors.errors import InvalidStreamData
from synapsis_actors.model.events import TextDelta, ToolCallStart
from synapsis_actors.wire.anthropic import AnthropicDecoder
from synapsis_actors.wire.decoder import JsonEventDecoder
from synapsis_actors.wire.openai import OpenAIDecoder

from .streams import Outcome, run

_COMMON = (
    '"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,'
    '"model":"bench","system_fingerprint":"fp_1"'
)


def _openai_text(raw: str, common: str = _COMMON, obfuscation: str | None = None) -> str:
    """A text chunk as OpenAI sends it, the content's JSON string ``raw`` put in
    verbatim (and the random ``obfuscation`` member OpenAI adds, raw too)."""
    tail = "" if obfuscation is None else f',"obfuscation":"{obfuscation}"'
    return (
        "data: {" + common + ',"choices":[{"index":0,"delta":{"content":"' + raw + '"},'
        '"logprobs":null,"finish_reason":null}],"usage":null' + tail + "}\n\n"
    )


def _anthropic_text(raw: str, index: int = 0) -> str:
    return (
        "event: content_block_delta\ndata: "
        f'{{"type":"content_block_delta","index":{index},'
        f'"delta":{{"type":"text_delta","text":"{raw}"}}}}\n\n'
    )


_OPENAI_OTHERS = [
    # The first chunk: role and an empty content.
    "data: {" + _COMMON + ',"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
    '"finish_reason":null}]}\n\n',
    # Another id (the template does not match) and usage on a text chunk.
    _openai_text("other id", _COMMON.replace("chatcmpl-1", "chatcmpl-2")),
    "data: {" + _COMMON + ',"choices":[{"index":0,"delta":{"content":"u"}}],'
    '"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n',
    # A tool call closes the text block: the next text opens a new one.
    "data: {" + _COMMON + ',"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
    '"id":"call_1","function":{"name":"f","arguments":"{}"}}]}}]}\n\n',
    "data: {" + _COMMON + ',"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}\n\n',
    "data: {" + _COMMON + ',"choices":[{"index":1,"delta":{"content":"second choice"}}]}\n\n',
    'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n',
    "data: {not json\n\n",
    "data: {" + _COMMON + ',"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
]

_ANTHROPIC_OTHERS = [
    "event: message_start\ndata: "
    + json.dumps(
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
        }
    )
    + "\n\n",
    "event: content_block_start\ndata: "
    '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
    "event: content_block_start\ndata: "
    '{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}\n\n',
    _anthropic_text("block one", 1),
    'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    'event: ping\ndata: {"type":"ping"}\n\n',
    "event: error\ndata: "
    '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
    "event: content_block_delta\ndata: [1, 2]\n\n",
]

# Raw JSON string contents: valid escapes, broken ones, quotes, controls, nothing.
_RAW_PIECES = st.sampled_from(
    [
        "a",
        " word",
        "bench",
        "chatcmpl-1",
        "content",
        "?",
        "!",
        "é",
        "\U0001f600",
        "\\n",
        '\\"',
        "\\\\",
        "\\u0041",
        "\\ud83d\\ude00",
        "\\ud83d",
        "\\x",
        "\\u12",
        "\\",
        '"',
        '","x":"',
        "\x01",
        "\t",
        "}",
    ]
)
_RAW = st.lists(_RAW_PIECES, max_size=4).map("".join)


# Chunks with OpenAI's per-chunk random padding: text and padding raw.
_OBFUSCATED = st.builds(
    lambda raw, pad: _openai_text(raw, obfuscation=pad),
    _RAW,
    st.one_of(st.sampled_from(["Qup1BsQ3", "dTh", "?", "a b", "", "obfuscation"]), _RAW),
)


def _events(texts: st.SearchStrategy[str], others: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(texts, texts, texts, st.sampled_from(others)), max_size=30)


def _never_learns(decoder: JsonEventDecoder) -> JsonEventDecoder:
    decoder._tpl_tries = 0  # the general path for every event
    return decoder


def _comparable(outcome: Outcome) -> tuple[Any, ...]:
    error = outcome.error
    received = error.received if isinstance(error, InvalidStreamData) else None
    return (outcome.comparable(), [raw for _, raw in outcome.events], received)


def _feeds(events: list[str], together: int) -> list[bytes]:
    """The events, ``together`` of them per feed (the decoder's loop sees several)."""
    step = max(1, together)
    return ["".join(events[i : i + step]).encode() for i in range(0, len(events), step)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=_events(st.one_of(_RAW.map(_openai_text), _OBFUSCATED), _OPENAI_OTHERS),
    together=st.integers(1, 3),
    done=st.booleans(),
)
# A lone backslash escapes the closing quote: the string runs into the suffix.
@example(events=[_openai_text("a"), _openai_text("b\\")], together=1, done=True)
@example(events=[_openai_text("a"), _openai_text('b","x":"')], together=2, done=False)
# A padding value that ends early or runs on: the rest is not the template's.
@example(
    events=[
        _openai_text("a", obfuscation="p"),
        _openai_text("b", obfuscation="q"),
        _openai_text("c", obfuscation='x"'),
    ],
    together=1,
    done=True,
)
@example(
    events=[
        _openai_text("a", obfuscation="p"),
        _openai_text("b", obfuscation="q"),
        _openai_text("c", obfuscation="x\\"),
    ],
    together=2,
    done=False,
)
def test_openai_template_equals_general_path(events: list[str], together: int, done: bool) -> None:
    events = [_OPENAI_OTHERS[0], _openai_text("hi"), *events]
    if done:
        events.append("data: [DONE]\n\n")
    feeds = _feeds(events, together)
    fast = run(OpenAIDecoder(), feeds)
    general = run(_never_learns(OpenAIDecoder()), feeds)
    assert _comparable(fast) == _comparable(general)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=_events(st.builds(_anthropic_text, _RAW, st.sampled_from([0, 0, 1])), _ANTHROPIC_OTHERS),
    together=st.integers(1, 3),
)
@example(events=[_anthropic_text("a"), _anthropic_text("b"), _anthropic_text("b\\")], together=1)
def test_anthropic_template_equals_general_path(events: list[str], together: int) -> None:
    events = [*_ANTHROPIC_OTHERS[:2], *events]
    feeds = _feeds(events, together)
    fast = run(AnthropicDecoder(), feeds)
    general = run(_never_learns(AnthropicDecoder()), feeds)
    assert _comparable(fast) == _comparable(general)


class _CountingOpenAI(OpenAIDecoder):
    """Counts the events that took the general path (``_handle``)."""

    handled = 0

    def _handle(self, name: str, obj: dict[str, Any], out: list[Any]) -> None:
        self.handled += 1
        super()._handle(name, obj, out)


def test_openai_text_chunks_skip_the_general_path() -> None:
    words = [f" w{i}" for i in range(50)]
    events = [_OPENAI_OTHERS[0], *(_openai_text(w) for w in words), "data: [DONE]\n\n"]
    decoder = _CountingOpenAI()
    outcome = run(decoder, [e.encode() for e in events])
    assert [e.text for e in outcome.of_type(TextDelta)] == words
    assert outcome.message.text == "".join(words)
    # The role chunk, the first text (opens the block), the one the template is learned from.
    assert decoder.handled == 3


def test_openai_padded_chunks_skip_the_general_path() -> None:
    """OpenAI pads every chunk with a random ``obfuscation`` string: the template
    leaves it a hole, so padded text chunks take it too (and ``raw`` keeps it)."""
    words = [f" w{i}" for i in range(50)]
    pads = [f"pad{i * 7919 % 1000}" + "x" * (i % 5) for i in range(50)]
    events = [_OPENAI_OTHERS[0], *map(_openai_text, words, [_COMMON] * 50, pads)]
    events.append("data: [DONE]\n\n")
    decoder = _CountingOpenAI()
    outcome = run(decoder, [e.encode() for e in events])
    assert [e.text for e in outcome.of_type(TextDelta)] == words
    raws = [raw for event, raw in outcome.events if isinstance(event, TextDelta)]
    assert [raw["obfuscation"] for raw in raws] == pads
    assert decoder.handled == 3


def test_openai_template_follows_the_block_state() -> None:
    """A text chunk of the template after a tool call opens a new block, as in general."""
    tool = _OPENAI_OTHERS[3]
    events = [_OPENAI_OTHERS[0], _openai_text("a"), _openai_text("b"), tool, _openai_text("c")]
    events.append("data: [DONE]\n\n")
    outcome = run(OpenAIDecoder(), [e.encode() for e in events])
    deltas = outcome.of_type(TextDelta)
    assert [(d.index, d.text) for d in deltas] == [(0, "a"), (0, "b"), (2, "c")]
    assert [s.index for s in outcome.of_type(ToolCallStart)] == [1]


def test_template_is_not_learned_from_a_text_that_also_names_a_field() -> None:
    """The text "bench" is also the model: the cut must be around the content only."""
    events = [_OPENAI_OTHERS[0], _openai_text("bench"), _openai_text("bench"), _openai_text("x")]
    events.append("data: [DONE]\n\n")
    outcome = run(OpenAIDecoder(), [e.encode() for e in events])
    assert [d.text for d in outcome.of_type(TextDelta)] == ["bench", "bench", "x"]
    assert outcome.message.model == "bench"


def test_broken_escape_after_learning_is_the_same_typed_error() -> None:
    events = [_OPENAI_OTHERS[0], _openai_text("a"), _openai_text("b"), _openai_text("\\x")]
    outcome = run(OpenAIDecoder(), [e.encode() for e in events])
    assert isinstance(outcome.error, InvalidStreamData)
    assert "not valid JSON" in str(outcome.error)
    assert outcome.error.received == events[-1][len("data: ") : -2][:200]
    assert outcome.message.text == "ab"
