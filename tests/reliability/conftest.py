"""Fixtures of the reliability suite: the embedded provider over HTTP/1.1 or TLS+HTTP/2."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import attrs
import pytest
import trustme

from synapsis_actors.embedded import EmbeddedProvider, open_embedded_provider


@attrs.frozen
class Server:
    """A running embedded provider, the transport it speaks, and the client's TLS setting."""

    provider: EmbeddedProvider
    transport: str  # "http1" | "h2"
    verify: bool | ssl.SSLContext


@pytest.fixture(scope="session")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) from one throwaway trustme CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.fixture(params=["http1", "h2"])
async def server(
    request: pytest.FixtureRequest, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> AsyncIterator[Server]:
    if request.param == "h2":
        async with open_embedded_provider(ssl_context=tls[0]) as provider:
            yield Server(provider, "h2", tls[1])
    else:
        async with open_embedded_provider() as provider:
            yield Server(provider, "http1", True)
