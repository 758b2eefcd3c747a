"""One provider's HTTP: :class:`HttpTransport`, the seam between the runtime and httpx.

The runtime hands a transport an :class:`~synapsis_actors.model.http.HttpRequest`
(plain data built by a wire format) and gets back an :class:`Exchange`: the
status, the headers and the body as an async iterator of bytes. Nothing
above this module sees an httpx object or exception: failures arrive as
:class:`TransportFailure` subclasses whose text is safe to show (it never
holds request headers).

A transport either builds its own client (:func:`open_client`) and closes it
with :meth:`HttpTransport.aclose`, or drives a client the user handed in
(proxies, custom TLS, event hooks, ``httpx.MockTransport``), which it never
closes. The fast paths (a cached request builder, the chunked body read past
h11, see ``fast_paths.py``) serve the library's own client only; a user's
client goes through httpx's public API, so everything it configures applies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx
import trio

from ..errors import ConfigError
from ..model.config import ProviderConfig
from ..model.http import HttpRequest
from . import fast_paths
from ._httpx_private import default_transport, pool_size
from .chunked import open_chunked_body
from .client import (
    RequestBuilder,
    build_request,
    encode_json,
    open_client,
    protect_secret,
    release_secret,
)
from .failures import (
    BodyFailed,
    ConnectFailed,
    ConnectTimedOut,
    TransportFailure,
    body_failure,
)
from .http2 import RESET_EXTENSION, Http2Transport

__all__ = [
    "BodyFailed",
    "ConnectFailed",
    "ConnectTimedOut",
    "Exchange",
    "HttpClient",
    "HttpTransport",
    "Outgoing",
    "TransportFailure",
    "check_client",
]

#: The client type a user may hand in (``register(..., http_client=...)``).
HttpClient = httpx.AsyncClient

#: Upper bound on the (shielded) time spent closing one response.
_CLOSE_GRACE = 2.0


class Outgoing:
    """A request ready to send (built once, sent by every attempt)."""

    __slots__ = ("_request",)

    def __init__(self, request: httpx.Request) -> None:
        self._request = request

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def url(self) -> str:
        return str(self._request.url)

    @property
    def path(self) -> str:
        return self._request.url.path

    @property
    def headers(self) -> Mapping[str, str]:
        return self._request.headers

    async def abandon(self) -> None:
        """Give up on an attempt cut off before its response headers.

        Nothing left to do here: on the library's own client, the HTTP/2
        transport resets the stream of a request cancelled before its headers
        itself (``http2.py``); httpcore (a user's client, or the fast paths
        off) only forgets it.
        """


class Exchange:
    """One response in flight: ``status``, ``headers``, then :meth:`body` or :meth:`error_body`.

    :meth:`close` must be called in every case (it is idempotent, shielded and
    bounded).
    """

    __slots__ = ("_fast", "_response", "headers", "http_version", "status")

    def __init__(self, response: httpx.Response, fast: bool) -> None:
        self._response = response
        self._fast = fast
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self.http_version = response.http_version

    def body(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; raises :class:`BodyFailed`.

        On the library's own client a chunked HTTP/1.1 body is read past h11
        (``chunked.py``), and any other body with ``aiter_raw``, which skips
        httpx's decoder stack; a server that compresses anyway (ignoring
        ``accept-encoding: identity``) and a user's client get httpx's
        ``aiter_bytes``.
        """
        response = self._response
        if self._fast:
            chunked = open_chunked_body(response)
            if chunked is not None:
                return chunked  # raises BodyFailed itself: no wrapper per chunk
            if "content-encoding" not in response.headers:
                return _converted(response.aiter_raw())
        # A user's client: aiter_bytes also serves a body its transport already
        # read (httpx.MockTransport, a caching transport).
        return _converted(response.aiter_bytes())

    async def error_body(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of a non-2xx body (what arrived, if the connection broke)."""
        body = bytearray()
        try:
            parts = self._response.aiter_raw() if self._fast else self._response.aiter_bytes()
            async for part in parts:
                body += part
                if len(body) >= limit:
                    break
        except httpx.TransportError:
            pass  # keep what arrived; the status is what matters
        await self.close(finished=True)
        return bytes(body[:limit])

    async def close(self, *, finished: bool) -> None:
        """Close the response promptly, even from a cancelled scope.

        HTTP/1.1: httpcore drops the connection when the body was not fully
        read, so the server sees the socket close. HTTP/2 on the library's own
        client: the stream is reset (RST_STREAM(CANCEL)) unless the server had
        ended it, and the connection goes on serving the others
        (``http2.py``). HTTP/2 through httpcore (a user's client, or the fast
        paths off) only forgets the stream: the server goes on generating.
        ``finished`` is kept for callers; the transport knows whether the
        stream ended.
        """
        del finished
        response = self._response
        if response.is_closed:
            # httpx closed it when the body ended (the usual end of a stream), or
            # it was closed before: the connection is back in the pool or gone.
            return
        with trio.CancelScope(shield=True, deadline=trio.current_time() + _CLOSE_GRACE):
            await response.aclose()

    async def abort(self) -> None:
        """Tell the server now that the body will not be read, from any task.

        For the caller that leaves a stream while another task reads it: an
        HTTP/2 stream of the library's own transport is reset at once
        (RST_STREAM(CANCEL), shielded and bounded), without waiting for the
        reading task to unwind; the reader's :meth:`close` then finds it
        done. Elsewhere nothing happens here: :meth:`close` does it (closing
        an HTTP/1.1 socket under the task reading it would race that task).
        """
        reset = self._response.extensions.get(RESET_EXTENSION)
        if reset is not None and not self._response.is_closed:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + _CLOSE_GRACE):
                await reset()


async def _converted(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # httpx's errors become BodyFailed here, so the runtime knows no httpx type.
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.TransportError as exc:
        raise body_failure(exc) from exc


def check_client(client: object) -> None:
    """``ConfigError("http_client", ...)`` unless ``client`` is an open ``httpx.AsyncClient``."""
    if not isinstance(client, httpx.AsyncClient):
        raise ConfigError(
            "http_client", f"expected an httpx.AsyncClient, got {type(client).__name__}"
        )
    if client.is_closed:
        raise ConfigError("http_client", "the client is closed")


class HttpTransport:
    """The HTTP side of one registered provider.

    ``HttpTransport(config)`` builds its own client from ``config`` (TLS,
    HTTP/2, connect limit) and closes it in :meth:`aclose`.
    ``HttpTransport(config, client)`` drives the user's ``httpx.AsyncClient``
    and never closes it. In both cases the API key is scrubbed from the HTTP
    stack's log records until :meth:`aclose`.
    """

    __slots__ = ("_builder", "_secret", "client", "fast", "owns_client")

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        if client is not None:
            check_client(client)
        self.owns_client = client is None
        #: The fast paths run for the library's own client while the switch is on.
        self.fast = self.owns_client and fast_paths.enabled()
        self.client = open_client(config, own_http2=self.fast) if client is None else client
        self._builder = RequestBuilder(self.client) if self.fast else None
        self._secret = config.api_key
        protect_secret(self._secret)

    def __repr__(self) -> str:
        owner = "own client" if self.owns_client else "user's client"
        return f"<HttpTransport {owner}, fast paths {'on' if self.fast else 'off'}>"

    def prepare(
        self, spec: HttpRequest, *, defaults: dict[str, str] | None = None, http2: bool = False
    ) -> Outgoing:
        """The request for ``spec``; ``defaults`` are headers sent unless ``spec`` names them.

        ``http2`` is accepted for callers and unused: the client decides the protocol.
        """
        del http2
        if self._builder is not None:
            request = self._builder.build(
                spec.method, spec.url, spec.headers, spec.json, spec.params, defaults=defaults
            )
        else:
            request = build_request(
                self.client,
                spec.method,
                spec.url,
                spec.headers,
                spec.json,
                spec.params,
                defaults=defaults,
            )
        return Outgoing(request)

    async def send(self, outgoing: Outgoing) -> Exchange:
        """Send ``outgoing`` and read the response headers.

        Raises :class:`ConnectTimedOut` or :class:`ConnectFailed`; a cancel
        while waiting abandons the attempt (the caller calls
        :meth:`Outgoing.abandon`).
        """
        try:
            response = await self.client.send(outgoing._request, stream=True)
        except httpx.TimeoutException as exc:
            raise ConnectTimedOut(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        return Exchange(response, self.fast)

    async def fetch(self, spec: HttpRequest) -> tuple[int, Mapping[str, str], bytes]:
        """A small non-streaming request (a model list): status, headers and body.

        Raises :class:`ConnectTimedOut` or :class:`ConnectFailed`.
        """
        try:
            response = await self.client.request(
                spec.method,
                spec.url,
                headers=spec.headers,
                params=spec.params or None,
                content=None if spec.json is None else encode_json(spec.json),
            )
        except httpx.TimeoutException as exc:
            raise ConnectTimedOut(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        return response.status_code, response.headers, response.content

    def open_connections(self) -> int:
        """Connections the client holds open, idle keep-alive ones included (tests, soak runs)."""
        transport = default_transport(self.client)
        count = 0
        if isinstance(transport, Http2Transport):
            count = len(transport.connections())
            transport = transport.fallback
        return count + pool_size(transport)

    async def aclose(self) -> None:
        """Close the client if this transport built it (never a user's); shielded."""
        try:
            if self.owns_client:
                with trio.CancelScope(shield=True):
                    await self.client.aclose()
        finally:
            release_secret(self._secret)
            self._secret = None
