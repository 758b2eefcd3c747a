"""Shared helpers of the runtime tests (imported by conftest and the tests)."""

from __future__ import annotations

import ssl
from typing import Any

import attrs
import trio

import synapsis_actors as sa
from synapsis_actors.embedded import EmbeddedProvider

API_KEY = "sk-ant-secret-key-DO-NOT-LEAK-0123456789"


@attrs.frozen
class Served:
    """A running embedded provider and how to reach it."""

    server: EmbeddedProvider
    transport: str  # "http1" or "h2"
    verify: bool | ssl.SSLContext

    @property
    def http_version(self) -> str:
        return "2" if self.transport == "h2" else "1.1"

    def config(self, kind: str = "anthropic", **kw: Any) -> sa.ProviderConfig:
        base = (
            self.server.anthropic_base_url if kind == "anthropic" else self.server.openai_base_url
        )
        kw.setdefault("api_key", API_KEY)
        return sa.ProviderConfig(kind=kind, base_url=base, verify=self.verify, **kw)


def hello(text: str = "Say hello", **kw: Any) -> sa.Request:
    return sa.Request(model="claude-test", messages=[sa.Message.user(text)], max_tokens=64, **kw)


async def collect(stream: Any) -> list[Any]:
    return [message async for message in stream]


async def server_saw_close(served: Served) -> None:
    """Wait until the server saw the client go: over HTTP/1.1 its TCP connection
    closed; over HTTP/2 the stream was reset (the connection may stay pooled),
    i.e. the last response's outcome is "disconnected"."""
    with trio.fail_after(30):
        if served.transport == "h2":
            await served.server.wait_until(
                lambda s: bool(s.responses) and s.responses[-1].outcome == "disconnected"
            )
        else:
            await served.server.wait_connections(0)
            await served.server.wait_until(lambda s: bool(s.responses))
    assert served.server.responses[-1].outcome == "disconnected"


def assert_nothing_left(rt: sa.Runtime) -> None:
    """No stream task under the task supervisor, no live stream in the runtime."""
    assert rt.statistics().open_streams == 0
    assert rt.supervisor.child("stream_tasks").value.children() == []
