"""ProviderChunk: an immutable value whose ``raw`` the decoders decode lazily."""

from __future__ import annotations

import gc
import json
import pickle
from typing import Any

import attrs
import pytest

from synapsis_actors import ProviderChunk, RawEvent, TextDelta, UsageUpdate
from synapsis_actors.model.events import MessageStart, lazy_chunk, text_delta
from synapsis_actors.wire.anthropic import AnthropicDecoder
from synapsis_actors.wire.openai import OpenAIDecoder

from .streams import anthropic_sse, openai_sse


def test_value_semantics() -> None:
    a = ProviderChunk("r", TextDelta(0, "hi"), {"k": [1]})
    assert a == ProviderChunk("r", TextDelta(0, "hi"), {"k": [1]})
    assert a != ProviderChunk("r", TextDelta(0, "hi"), {"k": [2]})
    assert a != ProviderChunk("s", TextDelta(0, "hi"), {"k": [1]})
    assert a != ("r", TextDelta(0, "hi"), {"k": [1]})
    assert repr(a) == "ProviderChunk(ref='r', event=TextDelta(index=0, text='hi'), raw={'k': [1]})"
    hashable = ProviderChunk("r", TextDelta(0, "hi"), None)
    assert hash(hashable) == hash(ProviderChunk("r", TextDelta(0, "hi"), None))
    with pytest.raises(TypeError):
        hash(a)  # like an attrs frozen class holding a dict
    assert pickle.loads(pickle.dumps(a)) == a
    match a:
        case ProviderChunk(ref="r", event=TextDelta(text=text)):
            assert text == "hi"
        case _:
            pytest.fail("the match did not bind")


def test_immutable() -> None:
    chunk = ProviderChunk("r", TextDelta(0, "hi"), None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        chunk.ref = "other"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        chunk.raw = {}  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del chunk.event  # type: ignore[misc]
    assert chunk.ref == "r"


def test_lazy_raw_is_decoded_once_and_compares_by_value() -> None:
    chunk = lazy_chunk("r", RawEvent("x"), '{"type": "x", "n": [1, 2]}')
    # Nothing but the text until raw is read: no container for the GC to walk.
    assert not any(isinstance(o, dict | list) for o in gc.get_referents(chunk))
    raw = chunk.raw
    assert raw == {"type": "x", "n": [1, 2]}
    assert chunk.raw is raw  # decoded once, then kept
    assert chunk == ProviderChunk("r", RawEvent("x"), {"type": "x", "n": [1, 2]})
    assert lazy_chunk("r", RawEvent("x"), None).raw is None


def _anthropic_events() -> list[dict[str, Any]]:
    return [
        {
            "type": "message_start",
            "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 3}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 1},
        },
        {"type": "message_stop"},
    ]


def test_anthropic_chunks_carry_the_json_of_their_sse_event() -> None:
    wire = _anthropic_events()
    decoder = AnthropicDecoder(ref="ref-1")
    chunks = decoder.feed(anthropic_sse(wire))
    # ... kept as the text of one SSE event: the two chunks of message_start
    # share the one string, not a serialization each.
    assert chunks[0]._text is not None
    assert chunks[0]._text is chunks[1]._text
    assert decoder.close() == []
    assert all(c.ref == "ref-1" for c in chunks)
    # message_start gives two events (MessageStart, UsageUpdate): both carry it.
    assert [type(c.event) for c in chunks[:2]] == [MessageStart, UsageUpdate]
    assert chunks[0].raw == chunks[1].raw == wire[0]
    assert [c.raw for c in chunks[1:]] == wire
    # Another decoder (default ref None) gives the same events and raws.
    again = AnthropicDecoder().feed(anthropic_sse(wire))
    assert [(c.event, c.raw) for c in again] == [(c.event, c.raw) for c in chunks]
    assert all(c.ref is None for c in again)


def test_openai_chunks_and_the_done_sentinel() -> None:
    wire = [
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    decoder = OpenAIDecoder(ref=7)
    chunks = decoder.feed(openai_sse(wire))
    assert all(c.ref == 7 for c in chunks)
    texts = [c for c in chunks if isinstance(c.event, TextDelta)]
    assert [c.event.text for c in texts] == ["Hi"]
    assert texts[0].raw == wire[0]
    assert json.dumps(texts[0].raw) == json.dumps(wire[0])
    # "[DONE]" is not JSON: the chunk it produces has raw None.
    assert chunks[-1].event == RawEvent("done")
    assert chunks[-1].raw is None
    assert decoder.complete


def test_events_made_at_the_end_of_the_body_have_no_raw() -> None:
    # A tool call left open by a proxy is closed by close(): no SSE event made it.
    wire = [
        {"type": "message_start", "message": {"id": "m", "model": "m"}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "{}"},
        },
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}},
    ]
    decoder = AnthropicDecoder(ref="r")
    decoder.feed(anthropic_sse(wire))
    last = decoder.close()
    assert [type(c.event).__name__ for c in last] == ["ToolCallEnd"]
    assert last[0].raw is None
    assert last[0].ref == "r"


def test_text_delta_fast_constructor_makes_the_same_value() -> None:
    fast = text_delta(3, "héllo")
    slow = TextDelta(3, "héllo")
    assert type(fast) is TextDelta
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert attrs.asdict(fast) == {"index": 3, "text": "héllo"}
    assert pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.text = "x"  # type: ignore[misc]
    match fast:
        case TextDelta(index, text):
            assert (index, text) == (3, "héllo")
        case _:
            pytest.fail("TextDelta pattern did not match")
