"""A minimal real HTTP server on loopback for the provider tests.

``open_loopback(app)`` runs an ASGI app with hypercorn's trio worker on
127.0.0.1, port 0 (the OS picks a free one), and yields its base URL; the
server shuts down gracefully when the block ends. ``ReplayApp`` answers
every request with a scripted body, sent in chunks of the given sizes, so a
stream crosses real sockets cut at chosen byte boundaries. (The full
fault-injecting provider lives in ``synapsis_actors.embedded``; this is only
what the decoder tests need.)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


@attrs.define
class Seen:
    """One request the app received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.define
class ReplayApp:
    """Answers each request with ``body_for(path)`` (status 200, event stream).

    ``chunk_sizes`` cycles over the sizes of the body pieces sent (each with
    ``more_body=True``): the client sees the stream split at those points.
    """

    body_for: Callable[[str], bytes]
    chunk_sizes: Sequence[int] = (4096,)
    status: int = 200
    content_type: str = "text/event-stream"
    seen: list[Seen] = attrs.Factory(list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(Seen(scope["method"], scope["path"], headers, body))
        payload = self.body_for(scope["path"])
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", self.content_type.encode())],
            }
        )
        i, n = 0, 0
        sizes = list(self.chunk_sizes) or [len(payload) or 1]
        while i < len(payload):
            size = sizes[n % len(sizes)]
            await send(
                {"type": "http.response.body", "body": payload[i : i + size], "more_body": True}
            )
            i += size
            n += 1
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@asynccontextmanager
async def open_loopback(app: Callable[..., Any]) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port>; yield ``http://127.0.0.1:<port>``."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown.wait))
        try:
            yield binds[0]
        finally:
            shutdown.set()
