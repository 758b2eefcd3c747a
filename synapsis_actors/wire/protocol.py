"""The provider behaviour: what every wire format implements.

A provider is stateless and shared; a ``StreamDecoder`` is made per response.
The runtime (``runtime/runtime.py``) drives them: it asks ``build_request`` for the
HTTP request, makes a decoder for the stream (``decoder(name, ref=ref)``),
feeds it body bytes as they arrive, forwards the returned ``ProviderChunk``s
to the caller, and at the end reads ``decoder.message()``. Nothing here does
I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import ProviderError
from ..model.catalog import ModelInfo
from ..model.config import ProviderConfig
from ..model.events import ProviderChunk
from ..model.http import HttpRequest
from ..model.reply import AssistantMessage
from ..model.request import Request


class StreamDecoder(Protocol):
    """Turns one response body into the ``ProviderChunk``s of one stream, incrementally.

    A decoder is made for one stream (``Provider.decoder(name, ref=ref)``):
    every chunk it returns carries that ``ref``. ``feed`` accepts any split
    of the body (even inside a UTF-8 character) and returns the chunks
    completed so far; a chunk's ``raw`` is the decoded JSON of the SSE event
    that produced its event (decoded when first read; several chunks may
    share one SSE event, and events made at the end of the body have
    ``raw=None``). ``feed`` raises a ``ProviderError`` subclass for an error
    event after the 200 (typed: ``Overloaded``, ``RateLimited``, ...) and
    ``InvalidStreamData`` for bytes that break the protocol. ``close`` is
    called at the end of the body: it flushes what is pending (returning its
    chunks) and raises ``StreamInterrupted`` if the stream ended before its
    final event. ``message()`` is the accumulated reply so far (partial
    after an error). ``complete`` turns true once the terminal event
    arrived; a transport error after that does not fail the stream.

    When an error event arrives in a ``feed`` call that also completed other
    events, ``feed`` returns those events' chunks and ``error`` holds the
    error at once; the next ``feed`` or ``close`` raises it (so no delta is
    lost).
    """

    @property
    def complete(self) -> bool: ...

    @property
    def error(self) -> ProviderError | None: ...

    def feed(self, data: bytes) -> list[ProviderChunk]: ...

    def close(self) -> list[ProviderChunk]: ...

    def message(self) -> AssistantMessage: ...


class Provider(Protocol):
    """One wire format with one profile (base URL, auth, quirks)."""

    @property
    def kind(self) -> str: ...

    def format_request(self, request: Request) -> dict[str, Any]:
        """The vendor JSON body for ``request`` (with ``stream: true``)."""
        ...

    def build_request(self, config: ProviderConfig, request: Request) -> HttpRequest:
        """URL, headers (auth included) and body for a streaming call."""
        ...

    def decoder(self, provider: str | None = None, *, ref: Any = None) -> StreamDecoder:
        """A fresh decoder for one response of stream ``ref`` (the ``ref`` of its chunks);
        ``provider`` names it in errors (default: kind)."""
        ...

    def error_from_response(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        provider: str,
        *,
        retry_after: float | None = None,
    ) -> ProviderError:
        """The typed error for a non-2xx response (never echoing request headers).

        ``retry_after`` (the server's delay, from ``transport.retry.server_delay``)
        becomes ``RateLimited.retry_after``.
        """
        ...

    def retry_headers(self, headers: Mapping[str, str], body: bytes) -> Mapping[str, str]:
        """The headers ``transport.retry`` reads for a non-2xx response with ``body``.

        A vendor that puts the delay in the body (Google's ``retryDelay``)
        adds it here as ``retry-after``, so the one parser
        (``transport.retry.server_delay``) decides both the wait and
        ``RateLimited.retry_after``.
        """
        ...

    def models_request(self, config: ProviderConfig) -> HttpRequest: ...

    def parse_models(self, body: Any) -> list[ModelInfo]: ...

    def on_cancel(self, ref: Any) -> None:
        """Called by the runtime when stream ``ref`` is cancelled (after the response closed)."""
        ...
