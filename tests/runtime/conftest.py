"""Fixtures for the runtime tests: the real embedded provider on loopback, a runtime.

``served`` is parametrized over two transports, so each test that uses it
runs twice: plain HTTP/1.1, and TLS (trustme certificates) where ALPN
negotiates HTTP/2. Every request goes over a real socket to hypercorn.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

import synapsis_actors as sa
from synapsis_actors.embedded import open_embedded_provider

from ._helpers import Served


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(params=["http1", "h2"])
async def served(
    request: pytest.FixtureRequest, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> AsyncIterator[Served]:
    if request.param == "h2":
        async with open_embedded_provider(ssl_context=server_ssl) as server:
            yield Served(server, "h2", client_ssl)
    else:
        async with open_embedded_provider() as server:
            yield Served(server, "http1", True)


@pytest.fixture
async def http1() -> AsyncIterator[Served]:
    """Plain HTTP/1.1 only (tests where one transport is enough)."""
    async with open_embedded_provider() as server:
        yield Served(server, "http1", True)


@pytest.fixture
async def h2(server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext) -> AsyncIterator[Served]:
    """TLS with HTTP/2 only (tests about multiplexing)."""
    async with open_embedded_provider(ssl_context=server_ssl) as server:
        yield Served(server, "h2", client_ssl)


@pytest.fixture
async def rt() -> AsyncIterator[sa.Runtime]:
    async with sa.open_runtime() as runtime:
        yield runtime
