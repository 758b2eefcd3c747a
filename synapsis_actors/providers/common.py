"""What both wire formats share: the decoder skeleton, URLs and auth headers.

``JsonEventDecoder`` implements the ``StreamDecoder`` protocol on top of
``SSEDecoder``: one ``json.loads`` per event, then the wire format's
``_handle``. Error rules common to all formats:

* a payload that is not JSON (or not an object) is ``InvalidStreamData``
  carrying the first 200 characters (P5), never dropped;
* an event with an unexpected shape (a missing key, a wrong type) is
  ``InvalidStreamData`` too: only typed errors leave a decoder;
* when an error event arrives after other events of the same ``feed``
  call, those events are returned first and the error is raised by the next
  ``feed`` or ``close`` (and is visible at once as ``decoder.error``), so a
  caller never loses the deltas that preceded it;
* after the terminal event (``complete``), further bytes are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, InvalidStreamData, ProviderError, StreamInterrupted
from . import errormap
from .accumulate import Accumulator
from .base import ModelInfo
from .config import ProviderConfig
from .profiles import Profile
from .sse import DEFAULT_MAX_SIZE, SSEDecoder
from .types import AssistantMessage, Event, ProviderChunk, lazy_chunk

_PREVIEW = 200
_RAW_DECODE = json.JSONDecoder().raw_decode
_JSON_SPACE = " \t\n\r"
_INVALID = object()


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

    def __init__(self, provider: str, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        """``max_size`` bounds one SSE line and one event's data (P4)."""
        self._provider = provider
        self._sse = SSEDecoder(max_line_size=max_size, max_event_size=max_size)
        self._acc = Accumulator()
        self._complete = False
        self._closed = False
        #: The error that ended the stream, if any (raised by the next feed/close).
        #: A plain attribute, not a property: the stream task reads it per chunk.
        self.error: ProviderError | None = None
        self._message: AssistantMessage | None = None

    # ------------------------------------------------------------ protocol

    @property
    def complete(self) -> bool:
        """True once the terminal event arrived: a transport error after it is harmless."""
        return self._complete

    def feed(self, data: bytes) -> list[tuple[Event, Any]]:
        """The ``(event, raw)`` pairs completed by ``data``."""
        return [(chunk.event, chunk.raw) for chunk in self.feed_chunks(data, None, _decoded=True)]

    def close(self) -> list[tuple[Event, Any]]:
        """End of body: flush, then raise ``StreamInterrupted`` if the end never came."""
        return [(chunk.event, chunk.raw) for chunk in self.close_chunks(None, _decoded=True)]

    def feed_chunks(self, data: bytes, ref: Any, *, _decoded: bool = False) -> list[ProviderChunk]:
        """``feed`` as the ``ProviderChunk``s of stream ``ref`` (raw decoded lazily).

        ``_decoded`` (for ``feed``) gives chunks holding the value parsed here
        instead of the JSON text, so the pair API does not parse it twice.
        """
        if self.error is not None:
            raise self.error
        if self._complete:
            return []
        events = self._sse.feed_one(data)
        if events is None:
            try:
                events = self._sse.feed_raw(data)
            except InvalidStreamData as exc:
                self._fail(exc)
                raise
        return self._run(events, ref, _decoded)

    def close_chunks(self, ref: Any, *, _decoded: bool = False) -> list[ProviderChunk]:
        """``close`` as the ``ProviderChunk``s of stream ``ref``."""
        if self.error is not None:
            raise self.error
        if self._closed:
            return []
        self._closed = True
        out: list[ProviderChunk] = []
        if not self._complete:
            try:
                events = self._sse.close_raw()
            except InvalidStreamData as exc:
                self._fail(exc)
                raise
            out = self._run(events, ref, _decoded)
            if self.error is not None:
                raise self.error
        emitted: list[Event] = []
        self._finish(emitted)
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

    def _fail(self, error: ProviderError) -> None:
        if error.provider is None:
            error.provider = self._provider
        self.error = error

    def _interrupted(self, why: str) -> None:
        self._fail(StreamInterrupted(why, partial=self._acc.message(), provider=self._provider))

    # ------------------------------------------------------------ the loop

    def _run(
        self, events: list[tuple[str, str, str]], ref: Any, decoded: bool
    ) -> list[ProviderChunk]:
        # Handlers append bare events; each becomes a chunk whose raw is the
        # JSON text of the SSE event that produced it (decoded only if read),
        # or, for the pair API (``decoded``), the value already parsed here.
        out: list[ProviderChunk] = []
        emitted: list[Event] = []
        raw_decode = _RAW_DECODE
        handle = self._handle
        sentinel = self.sentinel
        for name, data, _id in events:
            if data == sentinel:
                self._on_sentinel(emitted)
                out.extend(lazy_chunk(ref, event, None) for event in emitted)
                break
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
            if decoded:
                out.extend(ProviderChunk(ref, event, obj) for event in emitted)
            else:
                for event in emitted:
                    out.append(lazy_chunk(ref, event, data))
            emitted.clear()
            if self.error is not None or self._complete:
                break
        if self.error is not None and not out:
            raise self.error
        return out


# ---------------------------------------------------------------- HTTP bits


def base_url(config: ProviderConfig, profile: Profile) -> str:
    """The configured base URL, else the profile's; ``ConfigError`` if neither."""
    url = config.base_url or profile.base_url
    if not url:
        raise ConfigError("base_url", f"kind {profile.kind!r} needs a base_url")
    return url.rstrip("/")


def join_path(base: str, path: str, *, version: str = "/v1", always: bool = False) -> str:
    """``base`` + ``version`` + ``path``, never doubling the version.

    ``path`` is given without the version (``/messages``, ``/chat/completions``).
    A base that already ends with ``path`` is used as is; one that ends with
    ``version`` gets only ``path``. Otherwise ``version`` is added when
    ``always`` (Anthropic: the SDK appends ``/v1/messages`` to any base) or
    when the base has no path at all (OpenAI-compatible: a base like
    ``https://openrouter.ai/api/v1`` or an Azure deployment URL is complete).
    """
    if base.endswith(path):
        return base
    if base.endswith(version):
        return base + path
    if always or urlsplit(base).path in ("", "/"):
        return base + version + path
    return base + path


def auth_headers(config: ProviderConfig, profile: Profile) -> dict[str, str]:
    """The auth header(s) for the profile's style.

    Without a key none is sent (local servers need none; a hosted API answers
    401, reported as ``AuthenticationError``).
    """
    key = config.api_key
    if key is None:
        return {}
    if profile.auth == "anthropic":
        return {"x-api-key": key, "authorization": f"Bearer {key}"}
    if profile.auth == "api-key":
        return {"api-key": key}
    return {"authorization": f"Bearer {key}"}


def version_params(config: ProviderConfig, profile: Profile) -> dict[str, str]:
    if profile.api_version_param is None:
        return {}
    if not config.api_version:
        raise ConfigError("api_version", f"kind {profile.kind!r} needs api_version")
    return {profile.api_version_param: config.api_version}


# ---------------------------------------------------------------- providers


class BaseProvider:
    """What both wire formats' providers share: the profile, errors, model lists."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    @property
    def kind(self) -> str:
        return self.profile.kind

    def error_from_response(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> ProviderError:
        return errormap.error_from_response(status, headers, body, provider)

    def parse_models(self, body: Any) -> list[ModelInfo]:
        return parse_models(body)

    def on_cancel(self, ref: Any) -> None:
        """Nothing to undo: the vendors stop generating when the connection closes."""


def parse_models(body: Any) -> list[ModelInfo]:
    """``{"data": [{"id": ..., ...}]}`` (Anthropic and OpenAI-compatible ``/models``).

    Entries without a string id are skipped; the context window is read from
    the fields vendors use for it (OpenRouter ``context_length``, vLLM
    ``max_model_len``, llama.cpp ``meta.n_ctx_train``).
    """
    data = body.get("data") if isinstance(body, dict) else body
    if not isinstance(data, list):
        return []
    out = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        window = item.get("context_window") or item.get("context_length")
        window = window or item.get("max_model_len") or item.get("max_input_tokens")
        meta = item.get("meta")
        if window is None and isinstance(meta, dict):
            window = meta.get("n_ctx_train")
        owner = item.get("owned_by")
        out.append(
            ModelInfo(
                item["id"],
                owner if isinstance(owner, str) else None,
                window if type(window) is int else None,
                item,
            )
        )
    return out
