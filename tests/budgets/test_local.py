"""The in-process budget and admission, timed by trio's MockClock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.model.ratelimits import WindowLog
from synapsis_actors.model.reply import Usage
from synapsis_actors.runtime.budgets import LocalBudgets, admit, budget_key, learn

KEY = "http://x|k|m"


def test_config_validation() -> None:
    with pytest.raises(sa.ConfigError, match="requests_per_minute"):
        sa.RateLimits(requests_per_minute=0)
    with pytest.raises(sa.ConfigError, match="window"):
        sa.RateLimits(requests_per_minute=1, window=0)
    with pytest.raises(sa.ConfigError, match="rate_limits"):
        sa.ProviderConfig(kind="openai", rate_limits={"requests_per_minute": 3})  # type: ignore[arg-type]
    with pytest.raises(sa.ConfigError, match="admission_timeout"):
        sa.ProviderConfig(kind="openai", admission_timeout=-1)
    assert not sa.RateLimits().limited
    with pytest.raises(sa.ConfigError, match="url"):
        sa.RedisBudgets("http://localhost:6379")
    with pytest.raises(sa.ConfigError, match="on_unavailable"):
        sa.RedisBudgets("redis://localhost:6379", on_unavailable="ignore")  # type: ignore[arg-type]


def test_budget_key_hides_the_key_and_separates_identities() -> None:
    one = sa.ProviderConfig(kind="anthropic", api_key="sk-secret-1")
    two = sa.ProviderConfig(kind="anthropic", api_key="sk-secret-2")
    key = budget_key(one, "claude")
    assert "sk-secret" not in key
    assert key.startswith("https://api.anthropic.com|")
    assert key.endswith("|claude")
    assert key == budget_key(sa.ProviderConfig(kind="anthropic", api_key="sk-secret-1"), "claude")
    assert key != budget_key(two, "claude")
    assert key != budget_key(one, "other-model")
    assert "secret" not in repr(sa.RedisBudgets("redis://:secret@localhost:6379/0"))
    with_userinfo = sa.ProviderConfig(kind="openai", base_url="https://u:pw@h.example/v1")
    assert budget_key(with_userinfo, "m").startswith("https://h.example/v1|")


def test_window_log_never_holds_more_than_the_limit() -> None:
    log = WindowLog(3, 10.0)
    for t in (0.0, 1.0, 2.0):
        assert log.wait(t, 1) == 0.0
        log.charge(t, t, 1)
    assert log.wait(5.0, 1) == 5.0  # the charge at 0 ages out at 10
    assert log.wait(10.0, 1) == 0.0
    big = WindowLog(100, 10.0)
    assert big.wait(0.0, 500) == 0.0  # larger than the limit: admitted into an empty window
    big.charge("a", 0.0, 60)
    assert big.wait(1.0, 50) == 9.0
    big.set("a", 10)  # corrected to the reported usage
    assert big.wait(1.0, 50) == 0.0


async def test_requests_are_admitted_at_the_limit_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = LocalBudgets()
    limits = sa.RateLimits(requests_per_minute=5)
    started: list[float] = []

    async def one() -> None:
        await admit(store, KEY, limits, 10, None)
        started.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(12):
            nursery.start_soon(one)
    assert len(started) == 12
    started.sort()
    # At most 5 in any 60-second window, and no later than needed.
    for i in range(len(started) - 5):
        assert started[i + 5] - started[i] >= 60.0
    assert started[-1] == pytest.approx(120.0)


async def test_admission_timeout_says_when(autojump_clock: trio.testing.MockClock) -> None:
    store = LocalBudgets()
    limits = sa.RateLimits(requests_per_minute=1)
    await admit(store, KEY, limits, 1, 5.0)
    await trio.sleep(20)
    with pytest.raises(sa.AdmissionTimedOut) as info:
        await admit(store, KEY, limits, 1, 5.0)
    assert isinstance(info.value, sa.RateLimited)
    assert info.value.retry_after == pytest.approx(40.0)


async def test_waiting_is_cancellable_and_holds_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = LocalBudgets()
    limits = sa.RateLimits(requests_per_minute=1, input_tokens_per_minute=100)
    await admit(store, KEY, limits, 10, None)
    with trio.move_on_after(5) as scope:
        await admit(store, KEY, limits, 10, None)
    assert scope.cancelled_caught
    assert store.used(KEY) == {"requests": 1, "input_tokens": 10}


async def test_settle_release_and_refused(autojump_clock: trio.testing.MockClock) -> None:
    store = LocalBudgets()
    limits = sa.RateLimits(
        requests_per_minute=10, input_tokens_per_minute=1000, output_tokens_per_minute=50
    )
    a = await admit(store, KEY, limits, 400, None)
    await a.settle(Usage(input_tokens=120, output_tokens=60))
    assert store.used(KEY) == {"requests": 1, "input_tokens": 120, "output_tokens": 60}
    # Output over its limit: the next request waits until it ages out.
    with pytest.raises(sa.AdmissionTimedOut):
        await admit(store, KEY, limits, 1, 1.0)
    await trio.sleep(60)
    b = await admit(store, KEY, limits, 300, None)
    await b.release()  # never reached the server: everything goes back
    c = await admit(store, KEY, limits, 300, None)
    await c.refused()  # refused by the server: the request counts, its tokens do not
    assert store.used(KEY) == {"requests": 1, "input_tokens": 0, "output_tokens": 0}
    await c.settle(Usage(input_tokens=5))  # already settled: no effect
    assert store.used(KEY)["input_tokens"] == 0


async def test_server_pause_stops_everyone(autojump_clock: trio.testing.MockClock) -> None:
    store = LocalBudgets()
    limits = sa.RateLimits(requests_per_minute=100)
    await learn(store, KEY, limits, 429, 7.0, None)
    start = trio.current_time()
    await admit(store, KEY, limits, 1, None)
    assert trio.current_time() - start == pytest.approx(7.0)
    status = sa.RateLimitStatus(requests=sa.RateLimitWindow(10, 0, 30.0))  # 1 back in 3 s
    await learn(store, KEY, limits, 200, None, status)
    start = trio.current_time()
    await admit(store, KEY, limits, 1, None)
    assert trio.current_time() - start == pytest.approx(3.0)
    await learn(store, KEY, limits, 429, None, None)  # a 429 with nothing said: 1 s
    start = trio.current_time()
    await admit(store, KEY, limits, 1, None)
    assert trio.current_time() - start == pytest.approx(1.0)


async def test_burst_paces_requests(autojump_clock: trio.testing.MockClock) -> None:
    with pytest.raises(sa.ConfigError, match="burst"):
        sa.RateLimits(input_tokens_per_minute=10, burst=2)
    with pytest.raises(sa.ConfigError, match="burst"):
        sa.RateLimits(requests_per_minute=2, burst=3)
    store = LocalBudgets()
    limits = sa.RateLimits(requests_per_minute=60, burst=3)  # one a second, three at once
    started = []
    for _ in range(6):
        await admit(store, KEY, limits, 1, None)
        started.append(trio.current_time())
    assert [round(t - started[0], 6) for t in started] == [0, 0, 0, 1, 2, 3]
    # Idle time earns back the burst, never more.
    await trio.sleep(30)
    start = trio.current_time()
    for _ in range(4):
        await admit(store, KEY, limits, 1, None)
    assert trio.current_time() - start == pytest.approx(1.0)
