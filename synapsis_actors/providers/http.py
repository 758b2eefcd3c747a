"""The HTTP transport: one pooled ``httpx.AsyncClient`` per registered provider.

The client negotiates HTTP/2 over TLS when the server offers it
(``config.http2``), verifies TLS as ``config.verify`` says, and bounds the
TCP/TLS connect by ``config.connect_timeout`` (httpcore implements it with a
trio deadline, so ``MockClock`` drives it). It sets no read timeout: the body's
time limits (first event, content idle) belong to the runtime, which enforces
them with trio cancel scopes (``streaming.py``), because only the runtime knows
which bytes are content and which are keep-alives.

The registry creates the client when a provider is registered and closes it
when the provider is unregistered or the runtime closes.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import h2.errors
import httpx
import trio

from .config import ProviderConfig

_log = logging.getLogger("synapsis_actors.streaming")

#: Connections kept per provider; streams beyond it wait for a free one.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def _verify(value: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    # httpx 0.28 deprecates a CA bundle path for ``verify``: build the context here.
    if isinstance(value, str):
        return ssl.create_default_context(cafile=value)
    return value


def open_client(config: ProviderConfig) -> httpx.AsyncClient:
    """A new client for ``config``. The caller owns it and must ``aclose()`` it.

    ``trust_env`` stays on so ``HTTPS_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE``
    work as with the vendors' SDKs. Redirects are not followed: a provider
    endpoint that redirects is misconfigured, and following it could send the
    API key to another host.
    """
    timeout = httpx.Timeout(connect=config.connect_timeout, read=None, write=None, pool=None)
    return httpx.AsyncClient(
        http2=config.http2,
        verify=_verify(config.verify),
        timeout=timeout,
        limits=DEFAULT_LIMITS,
        follow_redirects=False,
    )


async def close_response(response: httpx.Response, *, finished: bool) -> None:
    """Close ``response`` promptly, even from a cancelled scope.

    HTTP/1.1: httpcore drops the connection when the body was not fully read,
    so the server sees the socket close. HTTP/2: httpcore only forgets the
    stream and keeps the connection for other streams, so the server would go
    on generating (and billing) the reply; when the body is ``finished=False``
    we send RST_STREAM(CANCEL) for that stream first. That needs httpcore's
    HTTP/2 internals; if they are not where we expect, the stream is left to
    httpcore (logged at debug level), never an error.
    """
    with trio.CancelScope(shield=True, deadline=trio.current_time() + _CLOSE_GRACE):
        if not finished and response.http_version == "HTTP/2":
            await _reset_h2_stream(response)
        await response.aclose()


#: Upper bound on the (shielded) time spent closing one response.
_CLOSE_GRACE = 2.0


async def _reset_h2_stream(response: httpx.Response) -> None:
    # httpx BoundAsyncStream -> AsyncResponseStream -> httpcore PoolByteStream
    # -> HTTP2ConnectionByteStream (holds the connection and the stream id).
    try:
        inner: Any = response.stream
        for attr in ("_stream", "_httpcore_stream", "_stream"):
            inner = getattr(inner, attr)
        connection = inner._connection
        stream_id = inner._stream_id
        request = inner._request
        h2_state = connection._h2_state
    except AttributeError:
        _log.debug("cannot reach the HTTP/2 stream to reset it; httpcore layout changed")
        return
    try:
        h2_state.reset_stream(stream_id, error_code=h2.errors.ErrorCodes.CANCEL)
        await connection._write_outgoing_data(request)
    except Exception as exc:  # the stream or connection is already gone: nothing to reset
        _log.debug("HTTP/2 stream reset skipped: %r", exc)
