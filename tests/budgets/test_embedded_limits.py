"""The embedded provider's server-side limits, and budgets kept against them, on loopback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

import synapsis_actors as sa
from synapsis_actors.embedded import open_embedded_provider
from synapsis_actors.runtime.budgets import budget_key
from synapsis_actors.wire.ratelimits import parse_rate_limits

KEY = "sk-test-ratelimit-0123456789"


def _request(text: str = "hello") -> sa.Request:
    return sa.Request(model="claude-test", messages=[sa.Message.user(text)], max_tokens=32)


def _config(server: Any, kind: str, **kw: Any) -> sa.ProviderConfig:
    base = server.anthropic_base_url if kind == "anthropic" else server.openai_base_url
    return sa.ProviderConfig(kind=kind, base_url=base, api_key=KEY, **kw)


async def _done(rt: sa.Runtime, name: str, request: sa.Request) -> sa.ProviderDone:
    async with sa.open_stream(rt, name, request) as stream:
        async for message in stream:
            if isinstance(message, sa.ProviderDone):
                return message
    raise AssertionError("no ProviderDone")


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_headers_on_every_response_and_429_beyond_the_limit(kind: str) -> None:
    limits = sa.RateLimits(requests_per_minute=3, input_tokens_per_minute=10_000)
    async with open_embedded_provider(rate_limits=limits) as server, sa.open_runtime() as rt:
        await rt.providers.register("p", _config(server, kind, max_retries=0))
        seen = []
        for _ in range(3):
            done = await _done(rt, "p", _request())
            assert done.error is None
            assert done.rate_limits is not None
            assert done.rate_limits.requests is not None
            seen.append(done.rate_limits.requests.remaining)
            assert done.rate_limits.requests.limit == 3
            assert done.rate_limits.input_tokens is not None or kind == "openai"
            assert done.rate_limits.tokens is not None
        assert seen == [2, 1, 0]
        done = await _done(rt, "p", _request())
        error = done.error
        assert isinstance(error, sa.RateLimited)
        assert not isinstance(error, sa.AdmissionTimedOut)
        assert error.retry_after is not None
        assert 55 < error.retry_after <= 60
        assert error.rate_limits is not None
        assert error.rate_limits.requests is not None
        assert error.rate_limits.requests.remaining == 0
        assert done.rate_limits == error.rate_limits
        with trio.fail_after(10):
            await server.wait_responses(4)
        assert [r.status for r in server.responses] == [200, 200, 200, 429]


async def test_both_header_families_and_retry_after_on_the_wire() -> None:
    limits = sa.RateLimits(
        requests_per_minute=1, input_tokens_per_minute=1000, output_tokens_per_minute=500
    )
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    async with open_embedded_provider(rate_limits=limits) as server, httpx.AsyncClient() as client:
        url = server.openai_base_url + "/chat/completions"
        ok = await client.post(url, json=body)
        refused = await client.post(url, json=body)
    assert ok.status_code == 200
    assert refused.status_code == 429
    for response in (ok, refused):
        for family in ("anthropic-ratelimit-", "x-ratelimit-"):
            assert any(name.startswith(family) for name in response.headers), family
    assert "retry-after" not in ok.headers
    assert 59 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["type"] == "requests"  # as OpenAI types a request limit
    status = parse_rate_limits(refused.headers)
    assert status is not None
    assert status.requests == sa.RateLimitWindow(1, 0, status.requests.reset)
    assert status.output_tokens is not None
    assert status.output_tokens.limit == 500
    assert status.tokens is not None
    assert status.tokens.limit == 1500


async def test_budget_keeps_concurrent_streams_below_the_server_limit() -> None:
    # The client's window is longer than the server's and its requests are
    # paced (burst=1): the margin for the time between admission and arrival.
    server_limits = sa.RateLimits(requests_per_minute=5, window=1.0)
    budget = sa.RateLimits(requests_per_minute=5, window=1.3, burst=1)
    async with open_embedded_provider(rate_limits=server_limits) as server, sa.open_runtime() as rt:
        await rt.providers.register("p", _config(server, "anthropic", rate_limits=budget))
        results: list[sa.ProviderDone] = []

        async def one(i: int) -> None:
            results.append(await _done(rt, "p", _request(f"hello {i}")))

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for i in range(10):
                    nursery.start_soon(one, i)
            await server.wait_responses(10)
        assert [d.error for d in results] == [None] * 10
        assert server.app.limits is not None
        assert server.app.limits.refused == 0
        assert [r.status for r in server.responses] == [200] * 10


async def test_admission_timeout_sends_nothing() -> None:
    budget = sa.RateLimits(requests_per_minute=1)
    async with open_embedded_provider() as server, sa.open_runtime() as rt:
        config = _config(server, "openai", rate_limits=budget, admission_timeout=0.5)
        await rt.providers.register("p", config)
        assert (await _done(rt, "p", _request())).error is None
        done = await _done(rt, "p", _request())
        assert isinstance(done.error, sa.AdmissionTimedOut)
        assert done.error.retry_after is not None
        assert done.error.retry_after > 50
        assert len(server.requests) == 1
        with pytest.raises(sa.AdmissionTimedOut):
            await sa.complete(rt, "p", _request())


async def test_cancelled_while_waiting_gives_back_nothing_it_did_not_take() -> None:
    budget = sa.RateLimits(requests_per_minute=1, input_tokens_per_minute=100_000)
    async with open_embedded_provider() as server, sa.open_runtime() as rt:
        await rt.providers.register("p", _config(server, "anthropic", rate_limits=budget))
        first = await _done(rt, "p", _request())
        assert first.error is None
        async with sa.open_stream(rt, "p", _request()) as stream:
            await trio.sleep(0.2)
            await rt.cancel(stream.ref)
            messages = [m async for m in stream]
        assert isinstance(messages[-1].error, sa.StreamCancelled)
        assert len(server.requests) == 1
        store = rt.budgets
        assert isinstance(store, sa.LocalBudgets)
        key = budget_key(rt.providers.get("p"), "claude-test")
        # One request held; its estimate corrected to the usage the server reported.
        assert store.used(key) == {"requests": 1, "input_tokens": first.usage.input_tokens}
        assert first.usage.input_tokens > 0


async def test_served_from_the_command_line_with_limits() -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "synapsis_actors.embedded", "--port", "0", "--rpm", "1"]
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        with trio.fail_after(30):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive_some(1)
        url = line.decode().strip().removeprefix("serving on ")
        body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient() as client:
            first = await client.post(url + "/v1/messages", json=body)
            second = await client.post(url + "/v1/messages", json=body)
        assert first.status_code == 200
        assert first.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert second.status_code == 429
        assert second.json()["error"]["type"] == "rate_limit_error"
    finally:
        process.kill()
        await process.wait()
