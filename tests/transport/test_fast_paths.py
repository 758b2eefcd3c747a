"""The fast paths and their one switch: versions checked loudly, stepping aside when off.

``transport/fast_paths.py`` lists the httpx, httpcore, h11 and h2 versions
whose private attributes the fast paths were written for. A release outside
that range must fail here, naming itself, instead of silently slowing every
stream down.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from importlib import metadata

import httpx
import pytest

import synapsis_actors as sa
from synapsis_actors.embedded import open_embedded_provider
from synapsis_actors.model.http import HttpRequest
from synapsis_actors.transport import _h11_private, _httpcore_private, fast_paths
from synapsis_actors.transport.chunked import ChunkedBody
from synapsis_actors.transport.http import HttpTransport


def test_installed_versions_are_the_ones_the_fast_paths_were_written_for() -> None:
    installed = {name: metadata.version(name) for name in fast_paths.SUPPORTED}
    problems = fast_paths.version_problems()
    assert problems == [], f"installed {installed}: " + "; ".join(problems)
    # The private classes the takeover checks for are where they were.
    assert _h11_private._CHUNKED_READER is not None, f"h11 {installed['h11']}: no ChunkedReader"
    assert _httpcore_private._HTTP11 is not None, f"httpcore {installed['httpcore']} layout"


def test_the_versions_checked_are_the_installed_distributions() -> None:
    """The check reads each module's ``__version__`` (no importlib.metadata at run
    time): it must be what the installed distribution says."""
    for name in fast_paths.SUPPORTED:
        module = importlib.import_module(name)
        assert module.__version__ == metadata.version(name), name


def test_a_version_outside_the_range_is_named_and_turns_the_fast_paths_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    found = metadata.version("httpcore")
    monkeypatch.setitem(fast_paths.SUPPORTED, "httpcore", ("0.1", "0.2"))
    fast_paths._versions_ok.cache_clear()
    try:
        assert fast_paths.version_problems() == [
            f"httpcore {found} is outside the versions the fast paths were written for (>=0.1,<0.2)"
        ]
        assert fast_paths.enabled() is False
        assert f"fast paths off: httpcore {found}" in caplog.text
    finally:
        fast_paths._versions_ok.cache_clear()
    monkeypatch.undo()
    assert fast_paths.enabled() is True


@pytest.mark.parametrize("value", ["0", "false", "OFF", "no"])
def test_the_environment_switch_turns_them_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(fast_paths.ENV_VAR, value)
    assert fast_paths.enabled() is False
    monkeypatch.setenv(fast_paths.ENV_VAR, "1")
    assert fast_paths.enabled() is True


async def _first_body(
    transport: HttpTransport, base_url: str
) -> tuple[AsyncIterator[bytes], bytes]:
    spec = HttpRequest(
        "POST",
        base_url + "/v1/messages",
        {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"},
        {
            "model": "m",
            "max_tokens": 16,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    exchange = await transport.send(transport.prepare(spec))
    assert exchange.status == 200
    body = exchange.body()
    data = b"".join([chunk async for chunk in body])
    await exchange.close(finished=True)
    return body, data


async def test_own_client_reads_chunked_bodies_past_h11_and_steps_aside_when_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with open_embedded_provider() as server:
        config = sa.ProviderConfig(kind="anthropic", base_url=server.base_url, api_key="sk-test")
        fast = HttpTransport(config)
        try:
            assert fast.fast
            body, fast_data = await _first_body(fast, server.base_url)
            assert type(body) is ChunkedBody
        finally:
            await fast.aclose()

        monkeypatch.setenv(fast_paths.ENV_VAR, "0")
        slow = HttpTransport(config)
        try:
            assert not slow.fast
            body, slow_data = await _first_body(slow, server.base_url)
            assert type(body) is not ChunkedBody
        finally:
            await slow.aclose()

        # The same events either way (ids differ per reply).
        def kinds(data: bytes) -> list[bytes]:
            return [line for line in data.splitlines() if line.startswith(b"event:")]

        assert kinds(fast_data) == kinds(slow_data)
        assert len(kinds(fast_data)) > 3
        assert b"message_stop" in fast_data


async def test_a_user_client_never_gets_the_fast_paths() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        config = sa.ProviderConfig(kind="anthropic", base_url=server.base_url, api_key="sk-test")
        transport = HttpTransport(config, client)
        assert not transport.fast
        assert not transport.owns_client
        body, data = await _first_body(transport, server.base_url)
        assert type(body) is not ChunkedBody
        assert b"message_stop" in data
        await transport.aclose()
        assert not client.is_closed
