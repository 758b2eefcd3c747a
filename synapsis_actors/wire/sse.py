"""An incremental ``text/event-stream`` decoder (the WHATWG "event stream" rules).

``SSEDecoder.feed`` takes the body as it arrives, split anywhere (inside a
UTF-8 character, between the CR and the LF of a CRLF), and returns the events
completed so far; ``close`` at the end of the body dispatches an event still
buffered without its blank line (the spec would drop it: real servers and
proxies do cut the last blank line, and dropping the final event loses the
stop reason or the usage).

Rules honoured: lines end in LF, CRLF or CR; ``data:`` lines of one event are
joined with ``"\\n"``; ``event:`` sets the type (``"message"`` when absent);
``id:`` sets the last event id (ignored if it contains NUL) which persists
across events; ``retry:`` (ASCII digits only) sets the reconnection time;
lines starting with ``:`` are comments (keep-alives, counted in
``comments``); a field name without a colon has an empty value; unknown
fields are ignored; one space after the colon is dropped; a UTF-8 BOM at the
start of the stream is dropped; invalid UTF-8 becomes U+FFFD.

Failure modes: a line longer than ``max_line_size`` bytes, or an event whose
data exceeds ``max_event_size`` characters, raises ``InvalidStreamData``
(memory stays bounded whatever the server sends). The decoder does no I/O
and never blocks.

Speed: lines are found with ``bytes.rfind`` once per chunk and the complete
part is decoded and split in one C call each; a partial line is kept as a
list of chunks and joined once, so a long line arriving in small pieces costs
linear, not quadratic, time.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import InvalidStreamData

#: Default limit for one line and for one event's data: 16 MiB.
DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_LF = 10
_CR = 13
_PREVIEW = 200


class ServerSentEvent(NamedTuple):
    """One dispatched event. ``id`` is the last event id in force when it was dispatched.

    A named tuple rather than an attrs class: it is made once per event on
    the hot path, and a tuple costs a third of a frozen attrs instance.
    """

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


# ``ServerSentEvent(...)`` without the generated ``__new__``'s extra call.
_new = tuple.__new__


def _preview(raw: bytes | str) -> bytes | str:
    return raw[:_PREVIEW]


class SSEDecoder:
    """Incremental event-stream decoder; one instance per response body.

    ``feed(data)`` returns the ``ServerSentEvent`` objects completed by
    ``data``; ``close()`` flushes the last line and event at the end of the
    body. Raises ``InvalidStreamData`` when a size limit is exceeded; after
    that the decoder must not be used again.
    """

    __slots__ = (
        "_bom",
        "_data",
        "_event",
        "_max_event",
        "_max_line",
        "_pending",
        "_pending_size",
        "_size",
        "_skip_lf",
        "comments",
        "last_event_id",
        "retry",
    )

    def __init__(
        self,
        *,
        max_line_size: int = DEFAULT_MAX_SIZE,
        max_event_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        if max_line_size <= 0 or max_event_size <= 0:
            raise ValueError("max_line_size and max_event_size must be positive")
        self._max_line = max_line_size
        self._max_event = max_event_size
        # Chunks of the current, not yet terminated line (no CR or LF inside).
        self._pending: list[bytes] = []
        self._pending_size = 0
        # The last byte seen was a CR that ended a line: a LF right after it
        # (possibly in the next chunk) is the second half of a CRLF.
        self._skip_lf = False
        self._bom = True
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self.last_event_id = ""
        self.retry: int | None = None
        #: Number of comment lines seen (keep-alives such as ": OPENROUTER PROCESSING").
        self.comments = 0

    # ------------------------------------------------------------ public API

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Decode ``data``; return the events it completed (possibly none).

        The usual network chunk is exactly one whole event: an optional
        ``event: <type>`` line, one ``data: <value>`` line and the blank line,
        LF only, with nothing pending from earlier chunks (servers write one
        event per chunk). That shape is recognised here by positions, without
        the general line machinery; any other chunk takes the general path.
        """
        if not (
            self._pending
            or self._skip_lf
            or self._bom
            or self._data
            or self._event
            or len(data) > self._max_line
        ):
            # Positions instead of a split: no list and no per-line strings.
            text = data.decode("utf-8", "replace")
            end = len(text) - 2  # where the blank line's two LFs start
            first = text.find("\n")
            if first == end:  # "data: <value>\n\n"
                start, event = 6, "message"
            elif text.find("\n", first + 1) == end and text.startswith("event: "):
                start, event = first + 7, text[7:first] or "message"
            else:
                start = -1
            if (
                start > 0
                and text[end + 1] == "\n"
                and text.startswith("data: ", start - 6)
                and "\r" not in text
                and end - start + 6 <= self._max_event
            ):
                return [
                    _new(ServerSentEvent, (event, text[start:end], self.last_event_id, self.retry))
                ]
        return self._feed_lines(data)

    def close(self) -> list[ServerSentEvent]:
        """End of body: dispatch a pending line and event. The decoder is reset."""
        lines: list[str] = []
        if self._pending:
            text = b"".join(self._pending).decode("utf-8", "replace")
            self._pending = []
            self._pending_size = 0
            if self._bom:
                self._bom = False
                if text[:1] == "\ufeff":
                    text = text[1:]
            lines.append(text)
        # The blank line the body did not send: dispatch what is buffered.
        lines.append("")
        self._skip_lf = False
        return self._process(lines)

    # ------------------------------------------------------------ internals

    def _feed_lines(self, data: bytes) -> list[ServerSentEvent]:
        """``feed`` for any chunk: split into lines, then ``_process``."""
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == _LF:
                data = data[1:]
                if not data:
                    return []
        end = data.rfind(b"\n")
        cr = data.rfind(b"\r")
        if cr > end:
            end = cr
        if end < 0:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size > self._max_line:
                self._too_long_line()
            return []
        # Cut before the final terminator (and the CR of a final CRLF), so
        # the split below yields exactly the complete lines.
        cut = end
        if data[end] == _LF:
            if end and data[end - 1] == _CR:
                cut = end - 1
        elif end == len(data) - 1:
            self._skip_lf = True
        head = data[:cut]
        if self._pending:
            self._pending.append(head)
            head = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
        rest = data[end + 1 :]
        if rest:
            self._pending.append(rest)
            self._pending_size = len(rest)
            if self._pending_size > self._max_line:
                self._too_long_line()
        text = head.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if self._bom:
            self._bom = False
            if text[:1] == "\ufeff":
                text = text[1:]
        lines = text.split("\n")
        if len(head) > self._max_line:
            for line in lines:
                if len(line) > self._max_line:
                    self._too_long_line(line)
        return self._process(lines)

    def _process(self, lines: list[str]) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        data = self._data
        event = self._event
        size = self._size
        max_event = self._max_event
        for line in lines:
            if not line:
                if data:
                    out.append(
                        _new(
                            ServerSentEvent,
                            (
                                event or "message",
                                data[0] if len(data) == 1 else "\n".join(data),
                                self.last_event_id,
                                self.retry,
                            ),
                        )
                    )
                    data = []
                    size = 0
                event = ""
                continue
            if line.startswith("data:"):
                value = line[6:] if line.startswith("data: ") else line[5:]
                data.append(value)
                size += len(value) + 1
                if size > max_event:
                    self._data, self._event, self._size = data, event, size
                    raise InvalidStreamData(
                        f"SSE event larger than {max_event} characters",
                        received=_preview(data[0]),
                    )
                continue
            colon = line.find(":")
            if colon == 0:
                self.comments += 1
                continue
            if colon < 0:
                field, value = line, ""
            else:
                field = line[:colon]
                value = (
                    line[colon + 2 :] if line[colon + 1 : colon + 2] == " " else line[colon + 1 :]
                )
            if field == "event":
                event = value
            elif field == "data":  # "data" with no colon: an empty data line
                data.append(value)
                size += 1
            elif field == "id":
                if "\0" not in value:
                    self.last_event_id = value
            elif field == "retry" and value.isascii() and value.isdigit():
                self.retry = int(value)
            # Any other field is ignored (spec).
        self._data = data
        self._event = event
        self._size = size
        return out

    def _too_long_line(self, line: str | None = None) -> None:
        sample = b"".join(self._pending)[:_PREVIEW] if line is None else line[:_PREVIEW]
        raise InvalidStreamData(f"SSE line longer than {self._max_line} bytes", received=sample)
