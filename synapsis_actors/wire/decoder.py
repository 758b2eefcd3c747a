"""What both wire formats' decoders share: the JSON-event skeleton on top of SSE.

``JsonEventDecoder`` implements the ``StreamDecoder`` protocol on top of
``SSEDecoder``: ``feed`` parses each SSE event's JSON once and hands it to
the wire format's ``_handle``, which appends bare events; each becomes a
``ProviderChunk`` of the stream ``ref`` the decoder was made for, whose
``raw`` keeps the event's JSON text until someone reads it. Error rules
common to all formats:

* a payload that is not JSON (or not an object) is ``InvalidStreamData``
  carrying the first 200 characters, never dropped;
* an event with an unexpected shape (a missing key, a wrong type) is
  ``InvalidStreamData`` too: only typed errors leave a decoder;
* when an error event arrives after other events of the same ``feed``
  call, those events are returned first and the error is raised by the next
  ``feed`` or ``close`` (and is visible at once as ``decoder.error``), so a
  caller never loses the deltas that preceded it;
* after the terminal event (``complete``), further bytes are ignored.

Text template: most events of a reply are the same JSON but for the text
of one delta (OpenAI repeats id, model, created and more in every chunk).
When a subclass's handler took its text fast path it sets ``_fast`` to the
text (and what else the template implies, such as the block index); the
event's JSON is then cut around that text into a prefix and a suffix, kept
only once proven: the same JSON with another text in that place parses to
the same object but for the string at ``_text_path``. A later event of the
same name made of that prefix, one valid JSON string and that suffix is then
the same event with that string: its text goes to ``_template_text`` without
``json.loads`` (which would build the whole object again). Anything else (an
escape that does not decode, a different id, another shape) takes the
general path, so the result and the errors are those of the general path.
A subclass may name one top-level string member its handler never reads
(``_free_member``: OpenAI's per-chunk random ``obfuscation``); when it closes
the object, its value is a second hole of the template, proven the same way.
"""

import json
from typing import Any

from ..errors import InvalidStreamData, ProviderError, StreamInterrupted
from ..model.accumulator import Accumulator
from ..model.events import Event, ProviderChunk, lazy_chunk
from ..model.reply import AssistantMessage
from .sse import DEFAULT_MAX_SIZE, ServerSentEvent, SSEDecoder

_PREVIEW = 200
_RAW_DECODE = json.JSONDecoder().raw_decode
_JSON_SPACE = " \t\n\r"
_INVALID = object()
# json's own (C) string scanner, strict (no control characters), as json.loads uses.
_SCANSTRING: Any = json.decoder.scanstring  # type: ignore[attr-defined]
# Templates learned in a row without one being used: then the stream's
# events differ in more than the text (usage on every chunk, say) and
# learning stops costing a second parse per event.
_TEMPLATE_TRIES = 4


def _loads_strict(data: str) -> Any:
    """``json.loads`` (leading whitespace allowed), or ``_INVALID``."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return _INVALID


class JsonEventDecoder:
    """Base of the wire formats' decoders (see the module docstring)."""

    #: A data payload that ends the stream without being JSON (OpenAI "[DONE]").
    sentinel: str | None = None

    def __init__(self, provider: str, *, ref: Any = None, max_size: int = DEFAULT_MAX_SIZE) -> None:
        """``ref`` names the stream in every chunk; ``max_size`` bounds one SSE
        line and one event's data (a longer one is ``InvalidStreamData``)."""
        self._provider = provider
        #: The stream's reference, the ``ref`` of every chunk this decoder returns.
        self.ref = ref
        self._sse = SSEDecoder(max_line_size=max_size, max_event_size=max_size)
        self._acc = Accumulator()
        self._complete = False
        self._closed = False
        #: The error that ended the stream, if any (raised by the next feed/close).
        #: A plain attribute, not a property: the stream task reads it per chunk.
        self.error: ProviderError | None = None
        self._message: AssistantMessage | None = None
        # The text template (see the module docstring): the SSE event name, the
        # JSON up to and including the text's opening quote, from its closing
        # quote on (to the free member's opening quote if there is one), what
        # follows the free member's value (None: no free member), and the
        # subclass's context. ``_handle`` sets ``_fast`` to (text, context)
        # when it took its text fast path.
        self._tpl: tuple[str, str, str, str | None, Any] | None = None
        self._tpl_tries = _TEMPLATE_TRIES
        self._fast: tuple[str, Any] | None = None

    # ------------------------------------------------------------ protocol

    @property
    def complete(self) -> bool:
        """True once the terminal event arrived: a transport error after it is harmless."""
        return self._complete

    def feed(self, data: bytes) -> list[ProviderChunk]:
        """The ``ProviderChunk``s completed by ``data`` (of stream ``ref``, ``raw`` lazy)."""
        if self.error is not None:
            raise self.error
        if self._complete:
            return []
        try:
            events = self._sse.feed(data)
        except InvalidStreamData as exc:
            self._fail(exc)
            raise
        return self._run(events)

    def close(self) -> list[ProviderChunk]:
        """End of body: flush, then raise ``StreamInterrupted`` if the end never came."""
        if self.error is not None:
            raise self.error
        if self._closed:
            return []
        self._closed = True
        out: list[ProviderChunk] = []
        if not self._complete:
            try:
                events = self._sse.close()
            except InvalidStreamData as exc:
                self._fail(exc)
                raise
            out = self._run(events)
            if self.error is not None:
                raise self.error
        emitted: list[Event] = []
        self._finish(emitted)
        ref = self.ref
        out.extend(lazy_chunk(ref, event, None) for event in emitted)
        if self.error is not None:
            raise self.error
        return out

    def message(self) -> AssistantMessage:
        """The reply so far; final (and cached) once the stream completed or closed."""
        if self._message is not None:
            return self._message
        message = self._acc.message()
        if self._complete or self._closed:
            self._message = message
        return message

    # ------------------------------------------------------------ for subclasses

    def _handle(self, name: str, obj: dict[str, Any], out: list[Event]) -> None:
        raise NotImplementedError

    def _on_sentinel(self, out: list[Event]) -> None:
        raise NotImplementedError

    def _finish(self, out: list[Event]) -> None:
        """End of body without a terminal event: flush or set an error."""
        raise NotImplementedError

    #: Where ``_handle``'s text fast path reads the text it sets ``_fast`` to
    #: (None: the subclass has no text template).
    _text_path: tuple[str | int, ...] | None = None
    #: A top-level string member ``_handle`` never reads (see the module docstring).
    _free_member: str | None = None

    def _template_text(self, text: str, context: Any, out: list[Event]) -> bool:
        """Handle an event of the learned template with ``text`` as ``_handle``'s text
        fast path would; False (nothing done) when the decoder's state rules that out."""
        raise NotImplementedError

    def _learn(self, name: str, data: str, obj: dict[str, Any], fast: tuple[str, Any]) -> None:
        """Keep ``data`` cut around ``text`` as the template, if proven (module docstring)."""
        path = self._text_path
        if path is None:
            return
        self._tpl_tries -= 1
        text, context = fast
        quoted = f'"{text}"'
        at = data.rfind(quoted)
        if at < 0:
            return  # the text is escaped in the JSON: learn from another event
        prefix, suffix = data[: at + 1], data[at + len(quoted) - 1 :]
        probe = "?" if text != "?" else "!"
        expected = _with(obj, path, probe)
        close = None
        free = self._free_member
        value = obj.get(free) if free is not None else None
        if type(value) is str:
            # The free member's value is the second hole: cut around it too.
            member = f'"{free}":"{value}"'
            cut = suffix.rfind(member)
            if cut > 0:
                close = suffix[cut + len(member) - 1 :]
                suffix = suffix[: cut + len(member) - len(value) - 1]
                free_probe = "?" if value != "?" else "!"
                if expected is not _INVALID:
                    expected = {**expected, free: free_probe}
                probe_text = prefix + probe + suffix + free_probe + close
        if close is None:
            probe_text = prefix + probe + suffix
        if expected is not _INVALID and _loads_strict(probe_text) == expected:
            self._tpl = (name, prefix, suffix, close, context)

    def _fail(self, error: ProviderError) -> None:
        if error.provider is None:
            error.provider = self._provider
        self.error = error

    def _interrupted(self, why: str) -> None:
        self._fail(StreamInterrupted(why, partial=self._acc.message(), provider=self._provider))

    # ------------------------------------------------------------ the loop

    def _run(self, events: list[ServerSentEvent]) -> list[ProviderChunk]:
        # Handlers append bare events; each becomes a chunk whose raw is the
        # JSON text of the SSE event that produced it (decoded only if read).
        out: list[ProviderChunk] = []
        ref = self.ref
        emitted: list[Event] = []
        raw_decode = _RAW_DECODE
        handle = self._handle
        sentinel = self.sentinel
        tpl = self._tpl
        for name, data, _id, _retry in events:
            if data == sentinel:
                self._on_sentinel(emitted)
                out.extend(lazy_chunk(ref, event, None) for event in emitted)
                break
            if tpl is not None and name == tpl[0] and data.startswith(tpl[1]):
                text = _template_match(data, tpl)
                if text and self._template_text(text, tpl[4], emitted):
                    self._tpl_tries = _TEMPLATE_TRIES
                    for event in emitted:
                        out.append(lazy_chunk(ref, event, data))
                    emitted.clear()
                    continue
            # raw_decode skips json.loads' two whitespace regex matches; only
            # padding after the value (Anthropic pads its JSON) is checked here.
            try:
                obj, end = raw_decode(data)
                if end != len(data) and data[end:].strip(_JSON_SPACE):
                    raise ValueError("extra data")
            except (ValueError, RecursionError):
                obj = _loads_strict(data)
            if obj is _INVALID:
                self._fail(
                    InvalidStreamData(
                        f"SSE {name!r} event data is not valid JSON",
                        received=data[:_PREVIEW],
                    )
                )
                break
            if type(obj) is not dict:
                self._fail(
                    InvalidStreamData(
                        f"SSE {name!r} event data is not a JSON object",
                        received=data[:_PREVIEW],
                    )
                )
                break
            try:
                handle(name, obj, emitted)
            except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
                self._fail(
                    InvalidStreamData(
                        f"unexpected shape of SSE {name!r} event: {type(exc).__name__} {exc}",
                        received=data[:_PREVIEW],
                    )
                )
            for event in emitted:
                out.append(lazy_chunk(ref, event, data))
            emitted.clear()
            if self._fast is not None:
                if self._tpl_tries > 0 and self.error is None:
                    self._learn(name, data, obj, self._fast)
                    tpl = self._tpl
                self._fast = None
            if self.error is not None or self._complete:
                break
        if self.error is not None and not out:
            raise self.error
        return out


def _template_match(data: str, tpl: tuple[str, str, str, str | None, Any]) -> str | None:
    """The text of ``data`` if it is an event of template ``tpl`` (it starts with
    the prefix), else None: one valid JSON string in each hole, the rest as cut."""
    _name, prefix, suffix, close, _context = tpl
    try:
        text, end = _SCANSTRING(data, len(prefix))
        if close is None:
            return text if end == len(data) - len(suffix) + 1 and data.endswith(suffix) else None
        if not data.startswith(suffix, end - 1):
            return None
        _value, end = _SCANSTRING(data, end - 1 + len(suffix))
    except ValueError:  # no valid string there: the general path says why
        return None
    return text if end == len(data) - len(close) + 1 and data.endswith(close) else None


def _with(obj: Any, path: tuple[str | int, ...], value: str) -> Any:
    """A copy of ``obj`` with ``value`` at ``path`` (containers on the path copied),
    or ``_INVALID`` where the path does not lead to a string."""
    if not path:
        return value if type(obj) is str else _INVALID
    key, rest = path[0], path[1:]
    if type(obj) is dict and type(key) is str and key in obj:
        inner = _with(obj[key], rest, value)
        return _INVALID if inner is _INVALID else {**obj, key: inner}
    if type(obj) is list and type(key) is int and 0 <= key < len(obj):
        inner = _with(obj[key], rest, value)
        return _INVALID if inner is _INVALID else [*obj[:key], inner, *obj[key + 1 :]]
    return _INVALID
