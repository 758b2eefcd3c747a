"""The event-stream decoder: P1-P4, checked with streams written here.

httpx-sse's line decoder is used as an independent oracle for well-formed
streams (it implements the same WHATWG rules, one line at a time).
"""

from __future__ import annotations

import codecs

import httpx_sse._decoders as httpx_sse_decoders
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapsis_actors.errors import InvalidStreamData
from synapsis_actors.wire.sse import ServerSentEvent, SSEDecoder

from .streams import split_at


def decode_all(chunks: list[bytes], **kw: int) -> list[ServerSentEvent]:
    dec = SSEDecoder(**kw)
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(dec.feed(chunk))
    out.extend(dec.close())
    return out


def oracle(body: bytes) -> list[tuple[str, str, str]]:
    """httpx-sse's reading of a body (it must end with a blank line)."""
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(body, final=True)
    lines = httpx_sse_decoders.SSELineDecoder()
    dec = httpx_sse_decoders.SSEDecoder()
    out = []
    for line in [*lines.decode(text), *lines.flush()]:
        # httpx-sse also dispatches events that had no data line; the spec
        # (and we) do not: look at its buffer before the blank line.
        had_data = bool(dec._data)
        sse = dec.decode(line)
        if sse is not None and had_data:
            out.append((sse.event or "message", sse.data, sse.id))
    return out


UNICODE_BODY = (
    "event: message_start\n"
    'data: {"text": "héllo wörld — 日本語 🎉"}\n'
    "\n"
    ": keep-alive comment\n"
    "id: 42\n"
    "data: first line\n"
    "data: second line ✓\n"
    "\n"
).encode()


# ------------------------------------------------------------------ P1


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_p1_line_endings_lf_crlf_cr(newline: bytes) -> None:
    body = UNICODE_BODY.replace(b"\n", newline)
    events = decode_all([body])
    assert [(e.event, e.data, e.id) for e in events] == [
        ("message_start", '{"text": "héllo wörld — 日本語 🎉"}', ""),
        ("message", "first line\nsecond line ✓", "42"),
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_p1_every_split_point_gives_the_same_events(newline: bytes) -> None:
    """Cut the body at every byte (inside UTF-8 characters, between CR and LF)."""
    body = UNICODE_BODY.replace(b"\n", newline)
    expected = decode_all([body])
    for i in range(len(body) + 1):
        assert decode_all([body[:i], body[i:]]) == expected, i
    # and one byte at a time
    assert decode_all([body[i : i + 1] for i in range(len(body))]) == expected


def test_p1_cr_then_lf_in_next_chunk_is_one_line_break() -> None:
    # "data: a\r" | "\n\r\n": the LF completes the CRLF, then a blank line dispatches.
    assert [e.data for e in decode_all([b"data: a\r", b"\n\r\n"])] == ["a"]
    # "data: a\r" | "\r": CR CR is two line breaks: the second is the blank line.
    assert [e.data for e in decode_all([b"data: a\r", b"\r", b"data: b\n\n"])] == ["a", "b"]


def test_p1_utf8_character_split_across_chunks() -> None:
    body = "data: 🎉\n\n".encode()
    # the emoji is 4 bytes at offsets 6..9
    assert decode_all([body[:7], body[7:8], body[8:]])[0].data == "🎉"


def test_p1_invalid_utf8_becomes_replacement_char() -> None:
    assert decode_all([b"data: \xff\xfe ok\n\n"])[0].data == "\ufffd\ufffd ok"


def test_p1_bom_at_stream_start_is_dropped() -> None:
    assert decode_all([b"\xef\xbb", b"\xbfdata: x\n\n"])[0].data == "x"


# ------------------------------------------------------------------ P2


def test_p2_multiline_data_event_id_retry_comments() -> None:
    dec = SSEDecoder()
    body = (
        b": comment one\n"
        b"retry: 1500\n"
        b"id: e1\n"
        b"event: update\n"
        b"data\n"  # field with no colon: empty data line
        b"data:no-space\n"
        b"data:  two spaces\n"
        b"unknown: ignored\n"
        b":another comment\n"
        b"\n"
        b"data: after\n"
        b"\n"
    )
    events = dec.feed(body)
    assert events == [
        ServerSentEvent("update", "\nno-space\n two spaces", "e1", 1500),
        # the id persists, the event type does not
        ServerSentEvent("message", "after", "e1", 1500),
    ]
    assert dec.comments == 2
    assert dec.retry == 1500
    assert dec.last_event_id == "e1"


def test_p2_an_event_carries_the_retry_in_force_when_dispatched() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n\nretry: 5\ndata: b\n\n") == [
        ServerSentEvent("message", "a", "", None),
        ServerSentEvent("message", "b", "", 5),
    ]
    assert dec.feed(b"data: c\n\n") == [ServerSentEvent("message", "c", "", 5)]


def test_p2_invalid_retry_and_nul_id_are_ignored() -> None:
    dec = SSEDecoder()
    dec.feed(b"retry: 12a\nid: a\x00b\ndata: x\n\n")
    assert dec.retry is None
    assert dec.last_event_id == ""


def test_p2_event_without_data_is_not_dispatched() -> None:
    events = decode_all([b"event: ping\n\n", b"event: real\ndata: 1\n\n"])
    assert [(e.event, e.data) for e in events] == [("real", "1")]


def test_p2_empty_data_line_dispatches_an_empty_event() -> None:
    assert decode_all([b"data:\n\n"]) == [ServerSentEvent("message", "", "", None)]


# ------------------------------------------------------------------ P3


@pytest.mark.parametrize(
    "body",
    [b"data: last\n", b"data: last", b"data: last\r", b"data: last\r\n", b"event: x\ndata: last"],
)
def test_p3_last_event_flushed_at_end_of_body(body: bytes) -> None:
    events = decode_all([body])
    assert [e.data for e in events] == ["last"]


def test_p3_close_with_nothing_pending_returns_nothing() -> None:
    assert decode_all([b"data: a\n\n"]) == [ServerSentEvent("message", "a")]
    assert SSEDecoder().close() == []


# ------------------------------------------------------------------ P4


def test_p4_line_over_limit_in_one_chunk() -> None:
    with pytest.raises(InvalidStreamData) as info:
        decode_all([b"data: " + b"x" * 100 + b"\n\n"], max_line_size=64)
    assert "longer than 64" in str(info.value)
    assert len(info.value.received) <= 200


def test_p4_pending_line_over_limit_across_chunks_fails_before_the_newline() -> None:
    dec = SSEDecoder(max_line_size=64)
    dec.feed(b"data: " + b"x" * 50)
    with pytest.raises(InvalidStreamData):
        dec.feed(b"x" * 50)  # no newline yet: still refused, memory stays bounded


def test_p4_event_over_limit_from_many_small_lines() -> None:
    dec = SSEDecoder(max_event_size=100)
    with pytest.raises(InvalidStreamData) as info:
        dec.feed(b"data: 0123456789\n" * 20)
    assert "larger than 100" in str(info.value)


def test_p4_default_limit_is_16_mib() -> None:
    dec = SSEDecoder()
    chunk = b"x" * (1024 * 1024)
    dec.feed(b"data: ")
    with pytest.raises(InvalidStreamData):
        for _ in range(17):
            dec.feed(chunk)


def test_p4_within_limit_is_fine() -> None:
    body = b"data: " + b"y" * 1000 + b"\n\n"
    assert decode_all([body[:500], body[500:]], max_line_size=1006)[0].data == "y" * 1000


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SSEDecoder(max_line_size=0)


# ------------------------------------------------------------------ properties

field_line = st.one_of(
    st.builds(
        lambda s: f"data: {s}",
        st.text(alphabet=st.characters(exclude_characters="\r\n\x00", exclude_categories=("Cs",))),
    ),
    st.builds(lambda s: f"event: {s}", st.text(alphabet="abcxyz_", min_size=1)),
    st.builds(lambda s: f"id: {s}", st.text(alphabet="0123456789abc")),
    st.builds(
        lambda s: f": {s}",
        st.text(alphabet=st.characters(exclude_characters="\r\n", exclude_categories=("Cs",))),
    ),
    st.just(""),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    lines=st.lists(field_line, max_size=30),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
def test_any_split_matches_unsplit_and_the_httpx_sse_oracle(
    lines: list[str], newline: str, cuts: list[int]
) -> None:
    body = (newline.join(lines) + newline + newline).encode()
    whole = decode_all([body])
    assert decode_all(split_at(body, cuts)) == whole
    assert [(e.event, e.data, e.id) for e in whole] == oracle(body)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=2000),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_fuzz_random_bytes_only_typed_errors(body: bytes, cuts: list[int]) -> None:
    # Limits count bytes for a pending line and characters for a complete
    # one, so a split body may trip a limit the whole one does not: compare
    # only when both decode.
    results, errors = [], []
    for chunks in (split_at(body, cuts), [body]):
        try:
            results.append(decode_all(chunks, max_line_size=512, max_event_size=512))
        except InvalidStreamData as exc:
            errors.append(exc)
    assert all(len(exc.received) <= 200 for exc in errors)
    assert all(isinstance(e.data, str) for r in results for e in r)
    if len(results) == 2:
        assert results[0] == results[1]


# ------------------------------------------------------------ the one-event fast path of feed


class _GeneralOnly(SSEDecoder):
    """An SSEDecoder whose ``feed`` always takes the general line path."""

    __slots__ = ()

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        return self._feed_lines(data)


_fast_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(
    event=st.one_of(st.none(), _fast_text),
    lines=st.lists(_fast_text, min_size=1, max_size=3),
    field_sep=st.sampled_from([": ", ":"]),
    tail=st.sampled_from([b"\n\n", b"\n", b"\r\n\r\n", b"\n\n\n", b"\n\ndata: x\n\n"]),
    previous=st.sampled_from([b"", b"data: partial", b": comment\n\n", b"event: x\n"]),
)
def test_feed_fast_path_agrees_with_the_general_path(
    event: str | None, lines: list[str], field_sep: str, tail: bytes, previous: bytes
) -> None:
    """Whatever the chunk and the state before it, ``feed`` (which takes the
    fast path when the chunk is one whole event) returns exactly what the
    general line path returns, and leaves the decoder in the same state."""
    head = "" if event is None else f"event{field_sep}{event}\n"
    body = "\n".join(f"data{field_sep}{line}" for line in lines)
    chunk = (head + body).encode() + tail
    fast, slow = SSEDecoder(), _GeneralOnly()
    for dec in (fast, slow):
        dec.feed(b"\xef\xbb\xbf" + previous if previous else b": start\n\n")
    assert fast.feed(chunk) == slow.feed(chunk)
    assert fast.close() == slow.close()


def test_feed_takes_the_usual_chunks_by_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    general: list[bytes] = []
    feed_lines = SSEDecoder._feed_lines

    def spy(self: SSEDecoder, data: bytes) -> list[ServerSentEvent]:
        general.append(data)
        return feed_lines(self, data)

    monkeypatch.setattr(SSEDecoder, "_feed_lines", spy)
    dec = SSEDecoder()
    dec.feed(b"retry: 10\n: hello\n\n")  # past the BOM check (the general path)
    general.clear()
    assert dec.feed(b'event: content_block_delta\ndata: {"a": 1}\n\n') == [
        ServerSentEvent("content_block_delta", '{"a": 1}', "", 10)
    ]
    assert dec.feed(b"data: [DONE]\n\n") == [ServerSentEvent("message", "[DONE]", "", 10)]
    assert general == []
    # Anything else takes the general path: two events, CRLF, a comment, a partial event.
    others = (b"data: a\n\ndata: b\n\n", b"data: a\r\n\r\n", b": c\n\n", b"data: a\n")
    for chunk in others:
        dec.feed(chunk)
    assert general == list(others)
