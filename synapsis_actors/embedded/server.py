"""Run the embedded provider: hypercorn's trio protocol stack on a loopback socket we own.

Why not ``hypercorn.trio.serve``: it hides the accepted connections, and the
provider must count them (to prove from the server side that a client closed
its connection on cancel) and abort one on demand (``Fault.drop_after``). So
the runner binds the listening socket itself (port 0 gives a free port, read
back from the socket), accepts with ``trio.serve_listeners`` and hands each
connection to hypercorn's own per-connection ``TCPServer`` (HTTP/1.1, and
HTTP/2 when TLS negotiates ``h2`` by ALPN), inside a cancel scope it keeps.

hypercorn is imported when a server starts, never at package import.
"""

from __future__ import annotations

import logging
import socket as _stdlib_socket
import ssl
import struct
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Literal, cast

import attrs
import trio

from ..errors import ConfigError
from ..model.ratelimits import RateLimits
from . import _hypercorn_private
from .app import EmbeddedApp, ReceivedRequest, ServedResponse
from .script import Scriptable

_log = logging.getLogger(__name__)


@attrs.define(eq=False)
class _Connection:
    id: int
    peer: tuple[str, int]
    socket: trio.socket.SocketType
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)


class EmbeddedProvider:
    """A running embedded provider (yielded by :func:`open_embedded_provider`).

    * ``base_url`` (``http://127.0.0.1:PORT``, ``https://`` with TLS),
      ``anthropic_base_url`` (same: the SDKs append ``/v1/messages``) and
      ``openai_base_url`` (``.../v1``: the SDKs append ``/chat/completions``).
    * ``requests``: every request received, credentials redacted;
      ``responses``: how each was answered; ``http_versions``: the versions seen.
    * ``open_connections`` / ``total_connections`` / ``closed_connections``:
      TCP connections as the server sees them (closed = the server's end is
      closed, whichever side started it).
    * ``enqueue`` / ``set_default`` / ``clear_script``: the script, changeable
      live from any task of the same trio run.
    * ``wait_until(predicate)``: wait for a state change that satisfies it.
    """

    def __init__(self, app: EmbeddedApp, base_url: str, port: int, tls: bool) -> None:
        self.app = app
        self.base_url = base_url
        self.port = port
        self.tls = tls
        self._connections: dict[int, _Connection] = {}
        self._by_peer: dict[tuple[str, int], _Connection] = {}
        self.total_connections = 0
        self._next_id = 0

    def __repr__(self) -> str:
        return (
            f"<EmbeddedProvider {self.base_url} open={self.open_connections} "
            f"requests={len(self.requests)}>"
        )

    # ------------------------------------------------------------- addresses

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def default_model(self) -> str:
        """The first model ``GET /v1/models`` lists (any model name is accepted)."""
        return self.app.models[0] if self.app.models else "embedded-echo"

    # ------------------------------------------------------------- observation

    @property
    def requests(self) -> list[ReceivedRequest]:
        return self.app.requests

    @property
    def responses(self) -> list[ServedResponse]:
        return self.app.responses

    @property
    def in_flight(self) -> dict[int, int]:
        """Responses still being sent: request index -> events written so far.

        A write completes when the transport took the bytes, so a client that
        stops reading stalls this count once the socket buffers are full
        (TCP backpressure, visible from the server side)."""
        return dict(self.app.in_flight)

    @property
    def http_versions(self) -> set[str]:
        return {r.http_version for r in self.app.requests}

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    @property
    def closed_connections(self) -> int:
        return self.total_connections - len(self._connections)

    async def wait_until(self, predicate: Callable[[EmbeddedProvider], bool]) -> None:
        """Return once ``predicate(self)`` is true; re-checked after every change
        (request, response, connection opened or closed). No timeout of its
        own: wrap it in ``trio.fail_after`` where a hang must fail a test."""
        while not predicate(self):
            await self.app.wait_changed()

    async def wait_requests(self, count: int) -> None:
        await self.wait_until(lambda s: len(s.requests) >= count)

    async def wait_responses(self, count: int) -> None:
        await self.wait_until(lambda s: len(s.responses) >= count)

    async def wait_connections(self, count: int) -> None:
        """Wait until exactly ``count`` connections are open (0: all closed)."""
        await self.wait_until(lambda s: s.open_connections == count)

    # ------------------------------------------------------------- script

    def enqueue(self, item: Scriptable, *, times: int = 1) -> None:
        """Answer the next ``times`` chat requests with ``item`` (FIFO, after
        what is already queued): a Reply, RawReply, Fault or Step."""
        self.app.enqueue(item, times=times)

    def set_default(self, item: Scriptable | Literal["echo"]) -> None:
        self.app.set_default(item)

    def clear_script(self) -> None:
        self.app.clear_script()

    @property
    def pending(self) -> int:
        return self.app.pending

    # ------------------------------------------------------------- connections

    def _open(self, conn: _Connection) -> None:
        self._connections[conn.id] = conn
        self._by_peer[conn.peer] = conn
        self.total_connections += 1
        self.app._notify()

    def _close(self, conn: _Connection) -> None:
        self._connections.pop(conn.id, None)
        if self._by_peer.get(conn.peer) is conn:
            del self._by_peer[conn.peer]
        self.app._notify()

    def _abort(self, client: tuple[str, int] | None, reset: bool) -> bool:
        conn = self._by_peer.get(client) if client is not None else None
        if conn is None:
            return False
        if reset:
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            try:
                conn.socket.setsockopt(
                    _stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            except OSError:
                pass
        conn.scope.cancel()
        return True


def _peer(stream: trio.abc.Stream) -> trio.socket.SocketType:
    inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
    assert isinstance(inner, trio.SocketStream)
    return inner.socket


async def _bind(host: str, port: int) -> trio.socket.SocketType:
    infos = await trio.socket.getaddrinfo(host, port, type=_stdlib_socket.SOCK_STREAM)
    if not infos:
        raise ConfigError("host", f"cannot resolve {host!r}")
    family, type_, proto, _, address = infos[0]
    sock = trio.socket.socket(family, type_, proto)
    try:
        sock.setsockopt(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_REUSEADDR, 1)
        await sock.bind(address)
        # The kernel's limit (somaxconn), as trio's own listeners use: with 128 a
        # burst of a few hundred connects (the soak's 1,000 concurrent streams)
        # overflowed the accept queue: dropped SYNs, connect timeouts, resets.
        sock.listen(_stdlib_socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def open_embedded_provider(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    http2: bool = True,
    script: Iterable[Scriptable] = (),
    default: Scriptable | Literal["echo"] = "echo",
    expected_key: str | None = None,
    models: Iterable[str] = ("embedded-echo",),
    keep_alive_timeout: float = 5.0,
    shutdown_timeout: float = 0.1,
    logger: logging.Logger | None = None,
    rate_limits: RateLimits | None = None,
) -> AsyncIterator[EmbeddedProvider]:
    """Serve the embedded provider on ``host:port`` for the duration of the block.

    ``port=0`` picks a free port (read it from ``.port`` / ``.base_url``).
    With ``ssl_context`` (a server context holding a certificate, e.g. from
    trustme) it serves HTTPS and offers HTTP/2 (``h2``) and HTTP/1.1 by ALPN
    (``http2=False``: HTTP/1.1 only); the context's ALPN list is set here.
    Without it, plain HTTP/1.1. ``script`` is queued in order; ``default``
    answers when the queue is empty (the echo reply). ``expected_key``: when
    set, requests without that key get the vendor's 401 (by default any key,
    or none, is accepted). hypercorn's errors go to ``logger`` (default the
    ``synapsis_actors.embedded`` logger); there is no access log.
    ``rate_limits`` enforces RPM/TPM server-side like the real APIs: 429 with
    ``retry-after`` beyond them, both rate-limit header families on every
    chat response (``embedded/limits.py``).

    Leaving the block stops accepting, lets open connections finish for
    ``shutdown_timeout`` seconds, then closes whatever is left: it never
    hangs on a stalled stream or an idle keep-alive connection.

    Raises ``ConfigError`` for a bad option, ``OSError`` if the address
    cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise ConfigError("port", f"must be 0..65535, got {port!r}")
    if shutdown_timeout < 0:
        raise ConfigError("shutdown_timeout", f"must be >= 0, got {shutdown_timeout!r}")
    if keep_alive_timeout <= 0:
        raise ConfigError("keep_alive_timeout", f"must be > 0, got {keep_alive_timeout!r}")
    # Lazy: importing synapsis_actors must stay fast and must not need hypercorn.
    ASGIWrapper, Config, TCPServer, WorkerContext, ConnectionState = _hypercorn_private.load()

    config = Config()
    config.accesslog = None
    config.errorlog = logger or _log
    config.keep_alive_timeout = keep_alive_timeout
    config.graceful_timeout = shutdown_timeout
    config.include_server_header = False

    app = EmbeddedApp(
        default=default, expected_key=expected_key, models=tuple(models), rate_limits=rate_limits
    )
    for item in script:
        app.enqueue(item)
    wrapped = ASGIWrapper(cast(Any, app))
    context = WorkerContext(None)

    sock = await _bind(host, port)
    bound = sock.getsockname()
    listener: trio.abc.Listener[Any] = trio.SocketListener(sock)
    if ssl_context is not None:
        ssl_context.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
        listener = trio.SSLListener(listener, ssl_context, https_compatible=True)
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    scheme = "https" if ssl_context is not None else "http"
    server = EmbeddedProvider(
        app, f"{scheme}://{shown}:{bound[1]}", bound[1], ssl_context is not None
    )
    app._abort = server._abort

    async def handle(stream: trio.abc.Stream) -> None:
        raw = _peer(stream)
        server._next_id += 1
        conn = _Connection(server._next_id, tuple(raw.getpeername()[:2]), raw)
        server._open(conn)
        try:
            with conn.scope:
                await TCPServer(wrapped, config, context, ConnectionState({}), cast(Any, stream))
        finally:
            try:
                # Raises Cancelled when the runner is shutting down, after
                # closing the socket: the count must still go down.
                await trio.aclose_forcefully(stream)
            finally:
                server._close(conn)

    error: BaseException | None = None
    try:
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                await accepting.start(
                    partial(trio.serve_listeners, handle, [listener], handler_nursery=connections)
                )
                try:
                    yield server
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    # Re-raised below, outside the nurseries, so the caller gets
                    # its own exception back, not wrapped in an ExceptionGroup.
                    error = exc
                accepting.cancel_scope.cancel()
            await trio.aclose_forcefully(listener)
            if error is None:
                # Idle keep-alive connections close as soon as `terminated` is
                # set; busy ones get shutdown_timeout seconds, then are cancelled.
                await context.terminated.set()
                with trio.move_on_after(shutdown_timeout):
                    await server.wait_connections(0)
            connections.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(listener)
    if error is not None:
        raise error
