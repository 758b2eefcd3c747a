"""Stream builders and a driver for the decoder tests (streams written by the project)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from synapsis_actors.errors import ProviderError
from synapsis_actors.model.events import Event, ProviderChunk
from synapsis_actors.model.reply import AssistantMessage
from synapsis_actors.wire.protocol import StreamDecoder


def anthropic_sse(events: Iterable[dict[str, Any]], *, newline: str = "\n") -> bytes:
    """``event: <type>`` + ``data: <json>`` per event, as the Messages API sends."""
    out = []
    for ev in events:
        out.append(f"event: {ev['type']}{newline}data: {json.dumps(ev)}{newline}{newline}")
    return "".join(out).encode()


def openai_sse(chunks: Iterable[dict[str, Any] | str], *, done: bool = True) -> bytes:
    """``data: <json>`` per chunk (a str is sent verbatim as a line), then [DONE]."""
    out = []
    for chunk in chunks:
        out.append(chunk if isinstance(chunk, str) else f"data: {json.dumps(chunk)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


@attrs.define
class Outcome:
    events: list[tuple[Event, Any]]
    message: AssistantMessage
    error: ProviderError | None
    complete: bool

    def of_type(self, cls: type) -> list[Any]:
        return [e for e, _ in self.events if isinstance(e, cls)]

    def comparable(self) -> tuple[Any, ...]:
        """What must not depend on how the body was split."""
        err = None if self.error is None else (type(self.error), str(self.error))
        return (
            [e for e, _ in self.events],
            self.message,
            err,
            self.complete,
        )


def run(decoder: StreamDecoder, chunks: Sequence[bytes], *, close: bool = True) -> Outcome:
    """Feed ``chunks`` then close; a raised ProviderError is captured, not raised.

    The events are kept as ``(event, raw)`` pairs of the returned chunks.
    """
    events: list[tuple[Event, Any]] = []
    error: ProviderError | None = None
    try:
        for chunk in chunks:
            events.extend(pairs(decoder.feed(chunk)))
        if close:
            events.extend(pairs(decoder.close()))
    except ProviderError as exc:
        error = exc
    return Outcome(events, decoder.message(), error, decoder.complete)


def pairs(chunks: Iterable[ProviderChunk]) -> list[tuple[Event, Any]]:
    """``(event, raw)`` of each chunk."""
    return [(c.event, c.raw) for c in chunks]


def split_at(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(body)) for c in cuts})
    pieces, start = [], 0
    for p in points:
        pieces.append(body[start:p])
        start = p
    pieces.append(body[start:])
    return pieces


def gemini_sse(chunks: Iterable[dict[str, Any] | str], *, newline: str = "\r\n") -> bytes:
    """``data: <json>`` per ``GenerateContentResponse`` (a str is sent verbatim), CRLF
    framing as Google's servers send; no end sentinel."""
    out = []
    for chunk in chunks:
        out.append(
            chunk if isinstance(chunk, str) else f"data: {json.dumps(chunk)}{newline}{newline}"
        )
    return "".join(out).encode()
