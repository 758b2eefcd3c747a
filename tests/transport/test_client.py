"""``RequestBuilder`` builds the request ``client.build_request`` would, header list and all."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import synapsis_actors as sa
from synapsis_actors.transport.client import RequestBuilder, encode_json, open_client

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
    """What httpx builds from the same inputs (defaults merged as documented)."""
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
        reference = _reference(client, case)
        # The body is httpx's own encoding of json= (compact, UTF-8), so the
        # two requests are the same, byte for byte, header list in order.
        if case.get("json") is not None:
            assert first.content == encode_json(case["json"])
            assert json.loads(first.content) == case["json"]
        assert _facts(first) == _facts(reference)
        # The cached merge gives the same request again, and each request owns
        # its headers and extensions (the stream task adds a trace hook).
        second = _build(builder, case)
        assert _facts(second) == _facts(first)
        second.headers["x-extra"] = "1"
        second.extensions["trace"] = object()
        assert _facts(_build(builder, case)) == _facts(first)
        assert first.extensions["timeout"]["connect"] == 3.5


async def test_body_sizes_and_retries() -> None:
    """Content-Length follows each body; a request's stream can be sent again (T1)."""
    config = sa.ProviderConfig(kind="openai", base_url="http://x")
    async with open_client(config) as client:
        builder = RequestBuilder(client)
        for text in ("a", "é" * 50, "x" * 5000):
            body = {"model": "m", "messages": [{"role": "user", "content": text}]}
            request = builder.build("POST", "https://h/v1/chat/completions", {}, body)
            assert request.headers["content-length"] == str(len(request.content))
            assert json.loads(request.content) == body
            sent = [b"".join([part async for part in request.stream]) for _ in range(2)]  # type: ignore[union-attr]
            assert sent == [request.content, request.content]
        with pytest.raises(ValueError, match="JSON compliant"):
            builder.build("POST", "https://h/v1/x", {}, {"temperature": float("nan")})


async def test_cookies_set_by_a_server_are_sent() -> None:
    config = sa.ProviderConfig(kind="anthropic", base_url="http://x")
    async with open_client(config) as client:
        builder = RequestBuilder(client)
        case = CASES[0]
        assert "cookie" not in _build(builder, case).headers
        client.cookies.set("session", "abc", domain="api.example.com")
        built = _build(builder, case)
        reference = _reference(client, case)
        assert built.headers["cookie"] == "session=abc"
        assert dict(built.headers) == dict(reference.headers)
        assert (built.url, built.content) == (reference.url, reference.content)


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
