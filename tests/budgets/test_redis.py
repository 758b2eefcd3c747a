"""RedisBudgets against a real redis-server: the same algorithm, shared, expiring, falling back."""

from __future__ import annotations

import logging

import pytest
import trio

import synapsis_actors as sa
from synapsis_actors.model.reply import Usage
from synapsis_actors.runtime.budgets import admit, learn

from .conftest import RedisProcess

KEY = "http://127.0.0.1:1|abc|model"


async def test_two_stores_share_one_sliding_window(redis_server: RedisProcess) -> None:
    one = sa.RedisBudgets(redis_server.url, namespace="t1")
    two = sa.RedisBudgets(redis_server.url, namespace="t1")
    other = sa.RedisBudgets(redis_server.url, namespace="t2")
    limits = sa.RateLimits(requests_per_minute=3, window=2.0)
    try:
        assert await one.acquire(KEY, limits, "a", 1) == 0.0
        assert await two.acquire(KEY, limits, "b", 1) == 0.0
        assert await one.acquire(KEY, limits, "c", 1) == 0.0
        wait = await two.acquire(KEY, limits, "d", 1)
        assert 1.5 < wait <= 2.0
        assert await other.acquire(KEY, limits, "a", 1) == 0.0  # another namespace
        await one.release(KEY, limits, "c")  # given back: room again
        assert await two.acquire(KEY, limits, "d", 1) == 0.0
    finally:
        for store in (one, two, other):
            await store.aclose()


async def test_tokens_corrected_and_output_charged(redis_server: RedisProcess) -> None:
    store = sa.RedisBudgets(redis_server.url, namespace="tok")
    limits = sa.RateLimits(input_tokens_per_minute=1000, output_tokens_per_minute=100)
    try:
        a = await admit(store, KEY, limits, 900, None)
        assert await store.acquire(KEY, limits, "x", 200) > 0
        await a.settle(Usage(input_tokens=50, output_tokens=120))
        # Input corrected 900 -> 50: room for 200; output 120 >= 100: none.
        wait = await store.acquire(KEY, limits, "x", 200)
        assert 50 < wait <= 60
        client = redis_server.client()
        [amounts_key] = client.keys("tok:*:ia")
        assert {k: int(v) for k, v in client.hgetall(amounts_key).items()} == {a.lease.encode(): 50}
    finally:
        await store.aclose()


async def test_a_pause_reaches_every_process(redis_server: RedisProcess) -> None:
    one = sa.RedisBudgets(redis_server.url, namespace="p")
    two = sa.RedisBudgets(redis_server.url, namespace="p")
    limits = sa.RateLimits(requests_per_minute=100)
    try:
        await learn(one, KEY, limits, 429, 0.5, None)
        wait = await two.acquire(KEY, limits, "a", 1)
        assert 0.3 < wait <= 0.5
        start = trio.current_time()
        await admit(two, KEY, limits, 1, 5.0)
        assert trio.current_time() - start >= 0.3
    finally:
        await one.aclose()
        await two.aclose()


async def test_every_key_expires_after_its_window(redis_server: RedisProcess) -> None:
    store = sa.RedisBudgets(redis_server.url, namespace="exp")
    limits = sa.RateLimits(requests_per_minute=5, input_tokens_per_minute=50, window=0.5)
    try:
        a = await admit(store, KEY, limits, 10, None)  # never settled: a worker that died
        assert a.lease
        assert redis_server.keys("exp:*")
        await trio.sleep(1.7)  # window + the keys' one-second grace
        assert redis_server.keys("exp:*") == []
    finally:
        await store.aclose()


async def test_unreachable_falls_back_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    from budget_demo import free_port

    store = sa.RedisBudgets(
        f"redis://:hunter2@127.0.0.1:{free_port()}/0", namespace="x", retry_interval=0.05
    )
    limits = sa.RateLimits(requests_per_minute=2, window=60)
    with caplog.at_level(logging.WARNING, logger="synapsis_actors.runtime.budgets"):
        await admit(store, KEY, limits, 1, 1.0)
        await trio.sleep(0.1)
        await admit(store, KEY, limits, 1, 1.0)
        # The in-process fallback keeps the limit.
        with pytest.raises(sa.AdmissionTimedOut):
            await admit(store, KEY, limits, 1, 1.0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "falling back" in warnings[0].getMessage()
    assert "hunter2" not in warnings[0].getMessage()
    refusing = sa.RedisBudgets(store.url, on_unavailable="refuse")
    with pytest.raises(sa.BudgetUnavailable):
        await admit(refusing, KEY, limits, 1, 1.0)
    await store.aclose()
    await refusing.aclose()


async def test_burst_pacing_is_shared(redis_server: RedisProcess) -> None:
    one = sa.RedisBudgets(redis_server.url, namespace="g")
    two = sa.RedisBudgets(redis_server.url, namespace="g")
    limits = sa.RateLimits(requests_per_minute=600, burst=2)  # one per 100 ms, two at once
    try:
        assert await one.acquire(KEY, limits, "a", 1) == 0.0
        assert await two.acquire(KEY, limits, "b", 1) == 0.0
        wait = await one.acquire(KEY, limits, "c", 1)
        assert 0.05 < wait <= 0.1
        await trio.sleep(wait)
        assert await two.acquire(KEY, limits, "c", 1) == 0.0
    finally:
        await one.aclose()
        await two.aclose()
