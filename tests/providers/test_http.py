"""``RequestBuilder`` builds exactly the request ``client.build_request`` would."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import synapsis_actors as sa
from synapsis_actors.providers.http import RequestBuilder, open_client

BODY = {"model": "m", "messages": [{"role": "user", "content": "hé"}], "stream": True}

CASES: list[dict[str, Any]] = [
    # the usual stream request: JSON body, auth, a default the provider did not name
    {
        "method": "POST",
        "url": "https://api.example.com/v1/messages",
        "headers": {"accept": "text/event-stream", "x-api-key": "sk-secret"},
        "json": BODY,
        "defaults": {"accept-encoding": "identity"},
    },
    # the provider names the default itself, in another case: its value wins
    {
        "method": "POST",
        "url": "http://127.0.0.1:8000/v1/chat/completions",
        "headers": {"Accept-Encoding": "gzip", "Authorization": "Bearer x"},
        "json": BODY,
        "defaults": {"accept-encoding": "identity"},
    },
    # Azure: query parameters, on a URL that already has a query
    {
        "method": "POST",
        "url": "https://r.openai.azure.com/openai/deployments/d/chat/completions?x=1",
        "headers": {"api-key": "k"},
        "json": BODY,
        "params": {"api-version": "2024-10-21"},
    },
    # no body, no defaults
    {"method": "GET", "url": "https://api.example.com/v1/models", "headers": {}},
]


def _reference(client: httpx.AsyncClient, case: dict[str, Any]) -> httpx.Request:
    headers = dict(case["headers"])
    for name, value in (case.get("defaults") or {}).items():
        if name.lower() not in {k.lower() for k in headers}:
            headers[name] = value
    return client.build_request(
        case["method"],
        case["url"],
        headers=headers,
        json=case.get("json"),
        params=case.get("params") or None,
    )


def _facts(request: httpx.Request) -> tuple[Any, ...]:
    return (
        request.method,
        str(request.url),
        request.headers.raw,
        request.content,
        request.extensions,
    )


def _build(builder: RequestBuilder, case: dict[str, Any]) -> httpx.Request:
    return builder.build(
        case["method"],
        case["url"],
        case["headers"],
        case.get("json"),
        case.get("params"),
        defaults=case.get("defaults"),
    )


@pytest.mark.parametrize("case", CASES, ids=["stream", "named-default", "params", "get"])
async def test_same_request_as_client_build_request(case: dict[str, Any]) -> None:
    config = sa.ProviderConfig(kind="anthropic", base_url="http://x", connect_timeout=3.5)
    async with open_client(config) as client:
        builder = RequestBuilder(client)
        first = _build(builder, case)
        assert _facts(first) == _facts(_reference(client, case))
        # The cached merge gives the same request again, and each request owns
        # its headers and extensions (the stream task adds a trace hook).
        second = _build(builder, case)
        assert _facts(second) == _facts(first)
        second.headers["x-extra"] = "1"
        second.extensions["trace"] = object()
        assert _facts(_build(builder, case)) == _facts(first)
        assert first.extensions["timeout"]["connect"] == 3.5


async def test_cookies_set_by_a_server_are_sent() -> None:
    config = sa.ProviderConfig(kind="anthropic", base_url="http://x")
    async with open_client(config) as client:
        builder = RequestBuilder(client)
        case = CASES[0]
        assert "cookie" not in _build(builder, case).headers
        client.cookies.set("session", "abc", domain="api.example.com")
        built = _build(builder, case)
        assert built.headers["cookie"] == "session=abc"
        assert _facts(built) == _facts(_reference(client, case))


async def test_cache_is_bounded() -> None:
    config = sa.ProviderConfig(kind="anthropic", base_url="http://x")
    async with open_client(config) as client:
        builder = RequestBuilder(client)
        for i in range(RequestBuilder.MAX_CACHED * 3):
            url = f"https://api.example.com/v1/r{i}"
            request = builder.build("POST", url, {"a": str(i)}, {"i": i})
            assert str(request.url) == url
            assert request.headers["a"] == str(i)
            assert len(builder._cache) <= RequestBuilder.MAX_CACHED
