"""The HTTP transport: one pooled ``httpx.AsyncClient`` per registered provider.

The client negotiates HTTP/2 over TLS when the server offers it
(``config.http2``), verifies TLS as ``config.verify`` says, and bounds the
TCP/TLS connect by ``config.connect_timeout`` (httpcore implements it with a
trio deadline, so ``MockClock`` drives it). It sets no read timeout: the body's
time limits (first event, content idle) belong to the runtime, which enforces
them with trio cancel scopes (``runtime/runtime.py``), because only the runtime knows
which bytes are content and which are keep-alives.

The registry creates the client when a provider is registered and closes it
when the provider is unregistered or the runtime closes.
"""

from __future__ import annotations

import logging
import ssl
from json import dumps as _json_dumps
from typing import Any

import httpx

from ..model.config import ProviderConfig
from ..model.secrets import scrub
from ._httpx_private import environment_proxies
from .http2 import Http2Transport

_log = logging.getLogger(__name__)

#: Connections per provider: over HTTP/1.1 each
#: open stream holds one, so this bounds concurrent streams per provider;
#: streams beyond it wait for a free connection.
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=20)


class _SecretFilter(logging.Filter):
    """Scrubs registered API keys from the records of the HTTP stack's loggers.

    hpack logs every header it encodes at DEBUG level, the API key included,
    and httpx/httpcore may log URLs: no log record may show a key.
    The filter only runs for records those loggers actually emit (DEBUG
    enabled), so it costs nothing otherwise.
    """

    def __init__(self) -> None:
        super().__init__("synapsis_actors.secrets")
        self.secrets: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            scrubbed = scrub(message, *self.secrets)
            if scrubbed is not message:
                record.msg, record.args = scrubbed, None
        return True


_SECRETS = _SecretFilter()
#: Loggers of the HTTP stack that may print header values or URLs.
_HTTP_LOGGERS = (
    "hpack.hpack",
    "hpack.table",
    "h2.connection",
    "httpcore.connection",
    "httpcore.connection_pool",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpx",
)


def protect_secret(secret: str | None) -> None:
    """Scrub ``secret`` from the HTTP stack's log records until :func:`release_secret`."""
    if not secret:
        return
    if not _SECRETS.secrets:
        for name in _HTTP_LOGGERS:
            logger = logging.getLogger(name)
            if _SECRETS not in logger.filters:
                logger.addFilter(_SECRETS)
    _SECRETS.secrets[secret] = _SECRETS.secrets.get(secret, 0) + 1


def release_secret(secret: str | None) -> None:
    """Undo one :func:`protect_secret` (the filter stays installed, empty, when unused)."""
    if not secret or secret not in _SECRETS.secrets:
        return
    _SECRETS.secrets[secret] -= 1
    if _SECRETS.secrets[secret] <= 0:
        del _SECRETS.secrets[secret]


def _verify(value: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    # httpx 0.28 deprecates a CA bundle path for ``verify``: build the context here.
    if isinstance(value, str):
        return ssl.create_default_context(cafile=value)
    return value


def open_client(config: ProviderConfig, *, own_http2: bool = False) -> httpx.AsyncClient:
    """A new client for ``config``. The caller owns it and must ``aclose()`` it,
    then call ``release_secret(config.api_key)``.

    ``own_http2`` (with ``config.http2``): HTTP/2 goes through this package's
    transport (``http2.py``) instead of httpcore's; plain http and HTTP/1.1
    servers still go through httpx's transport.

    ``trust_env`` stays on so ``HTTPS_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE``
    work as with the vendors' SDKs. Redirects are not followed: a provider
    endpoint that redirects is misconfigured, and following it could send the
    API key to another host.
    """
    timeout = httpx.Timeout(connect=config.connect_timeout, read=None, write=None, pool=None)
    protect_secret(config.api_key)
    if own_http2 and config.http2:
        context = httpx.create_ssl_context(verify=_verify(config.verify))
        fallback = httpx.AsyncHTTPTransport(verify=context, limits=DEFAULT_LIMITS)
        transport = Http2Transport(context, fallback, connect_timeout=config.connect_timeout)
        # httpx ignores proxies from the environment when given a transport:
        # mount them as it would have, on its own transports with these settings.
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {
            pattern: None
            if proxy is None
            else httpx.AsyncHTTPTransport(
                verify=context, http2=True, limits=DEFAULT_LIMITS, proxy=httpx.Proxy(proxy)
            )
            for pattern, proxy in environment_proxies().items()
        }
        return httpx.AsyncClient(
            http2=True,
            verify=context,
            limits=DEFAULT_LIMITS,
            transport=transport,
            mounts=mounts,
            timeout=timeout,
            follow_redirects=False,
        )
    return httpx.AsyncClient(
        http2=config.http2,
        verify=_verify(config.verify),
        timeout=timeout,
        limits=DEFAULT_LIMITS,
        follow_redirects=False,
    )


class RequestBuilder:
    """Builds one client's provider requests: ``client.build_request(...)``, with the merge cached.

    httpx merges the client's headers, URL, query parameters and cookies on
    every ``build_request``, then normalizes every header again while adding
    Host and the body's headers: about 25 us per request, spent on the same
    few header sets. Here the header list (Host, the client's defaults, the
    provider's headers, the body's Content-Type) and the URL are computed once
    per request shape, and a request costs a copy of that list plus its
    Content-Length. The body is JSON encoded here, as httpx encodes ``json=``
    (UTF-8, compact, no NaN), so the bytes on the wire do not depend on the
    httpx version. A client holding cookies (a server set one) goes through
    ``client.build_request``: cookies are the one merge that changes between
    requests. The builder relies on what :func:`open_client` sets: no
    ``base_url`` and no client ``params``.
    """

    __slots__ = ("_cache", "_client")

    #: Distinct request shapes kept (a provider has a handful of endpoints).
    MAX_CACHED = 64

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._cache: dict[tuple[Any, ...], tuple[httpx.URL, httpx.Headers, bool]] = {}

    def build(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        json: Any = None,
        params: dict[str, str] | None = None,
        *,
        defaults: dict[str, str] | None = None,
    ) -> httpx.Request:
        """The request; ``defaults`` are headers sent unless ``headers`` names them."""
        client = self._client
        if client.cookies:
            return build_request(client, method, url, headers, json, params, defaults=defaults)
        body = None if json is None else encode_json(json)
        key = (
            method,
            url,
            tuple(params.items()) if params else (),
            tuple(headers.items()),
            tuple(defaults.items()) if defaults else (),
            body is None,
        )
        shape = self._cache.get(key)
        if shape is None:
            shape = self._shape(key, method, url, headers, params, defaults, body)
        full, template, typed = shape
        merged = httpx.Headers(template)  # a copy of the list: no normalizing
        if body is not None:
            merged["Content-Length"] = str(len(body))
            if not typed:
                merged["Content-Type"] = "application/json"
        request = httpx.Request(
            method,
            full,
            headers=merged,
            stream=httpx.ByteStream(b"" if body is None else body),
            extensions={"timeout": client.timeout.as_dict()},
        )
        request.read()  # ``request.content`` works, as after build_request
        return request

    def _shape(
        self,
        key: tuple[Any, ...],
        method: str,
        url: str,
        headers: dict[str, str],
        params: dict[str, str] | None,
        defaults: dict[str, str] | None,
        body: bytes | None,
    ) -> tuple[httpx.URL, httpx.Headers, bool]:
        # What build_request does, once: the client's headers, then the given
        # ones, then (as httpx's Request) Host first and the body's headers last
        # (added per request: Content-Length, then Content-Type unless given).
        full = httpx.URL(url, params=params) if params else httpx.URL(url)
        merged = httpx.Headers(self._client.headers)
        merged.update(_with_defaults(headers, defaults))
        if body is None and method.upper() in ("POST", "PUT", "PATCH"):
            merged.setdefault("Content-Length", "0")
        raw = merged.raw
        if "host" not in merged and full.host:
            raw = [(b"Host", full.netloc), *raw]
        shape = (full, httpx.Headers(raw), "content-type" in merged)
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[key] = shape
        return shape


def build_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    json: Any = None,
    params: dict[str, str] | None = None,
    *,
    defaults: dict[str, str] | None = None,
) -> httpx.Request:
    """``client.build_request`` with the body encoded here (the path without the cache).

    Everything the client configures (base URL, params, cookies, headers)
    applies; ``defaults`` are headers sent unless ``headers`` names them.
    """
    body = None if json is None else encode_json(json)
    return client.build_request(
        method,
        url,
        headers=_body_headers(_with_defaults(headers, defaults), body),
        content=body,
        params=params or None,
    )


def encode_json(value: Any) -> bytes:
    """A request body as httpx encodes ``json=`` (ValueError for NaN or infinity)."""
    return _json_dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _body_headers(headers: dict[str, str], body: bytes | None) -> dict[str, str]:
    if body is None or any(name.lower() == "content-type" for name in headers):
        return headers
    return {**headers, "Content-Type": "application/json"}


def _with_defaults(headers: dict[str, str], defaults: dict[str, str] | None) -> dict[str, str]:
    if not defaults:
        return headers
    given = {name.lower() for name in headers}
    extra = {k: v for k, v in defaults.items() if k.lower() not in given}
    return {**headers, **extra} if extra else headers
