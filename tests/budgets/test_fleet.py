"""The proof: worker processes sharing one Redis budget against the rate-limited
embedded provider (``scripts/budget_demo.py`` runs the same fleets and plots them).

The server admits LIMIT requests per WINDOW seconds (a window scaled down from
a minute so a run takes seconds); each worker's budget is the same count per
1.1 x WINDOW (the margin for the time between admission and arrival), paced
with a burst of LIMIT / 10.
"""

from __future__ import annotations

import signal

import trio
from budget_demo import Fleet, run_fleet, throughput

from .conftest import RedisProcess

LIMIT = 60
WINDOW = 3.0


async def test_shared_budget_zero_429s_and_near_limit_throughput(
    redis_server: RedisProcess,
) -> None:
    with trio.fail_after(100):
        shared = await run_fleet(
            workers=4, streams=50, limit=LIMIT, window=WINDOW, redis_url=redis_server.url
        )
    assert {i: s["ok"] for i, s in shared.summaries.items()} == {i: 50 for i in range(4)}
    assert shared.refused == 0
    assert len(shared.admitted) == 200
    rate = throughput(shared.admitted, LIMIT)
    assert rate >= 0.85 * LIMIT / WINDOW, rate
    assert rate <= LIMIT / WINDOW * 1.02, rate

    with trio.fail_after(100):
        alone = await run_fleet(
            workers=4,
            streams=50,
            limit=LIMIT,
            window=WINDOW,
            redis_url=None,
            budget=False,
        )
    # For contrast: without a budget each worker retries its own 429s.
    print(f"shared: 0 server 429s, {rate:.1f}/s; no budget: {alone.refused} 429s")
    assert alone.refused > 0


async def test_kill_9_one_worker_the_others_keep_the_budget(redis_server: RedisProcess) -> None:
    async def kill_one(fleet: Fleet) -> None:
        await fleet.server.wait_until(lambda s: len(s.requests) >= 60)
        fleet.processes[0].send_signal(signal.SIGKILL)

    with trio.fail_after(100):
        fleet = await run_fleet(
            workers=4,
            streams=50,
            limit=LIMIT,
            window=WINDOW,
            redis_url=redis_server.url,
            namespace="kill",
            during=kill_one,
            # Throughput is not the point here: a wider margin keeps the
            # admission-to-arrival time of a loaded machine inside it.
            margin=1.3,
        )
    assert fleet.processes[0].returncode == -signal.SIGKILL
    assert 0 not in fleet.summaries
    assert {i: s["ok"] for i, s in fleet.summaries.items()} == {1: 50, 2: 50, 3: 50}
    assert fleet.refused == 0
    # What the dead worker held ages out with the window: nothing is left in Redis.
    with trio.fail_after(10):
        while redis_server.keys("kill:*"):
            await trio.sleep(0.1)


async def test_redis_outage_streams_end_normally_fallback_logged_once(
    redis_server: RedisProcess,
) -> None:
    async def outage(fleet: Fleet) -> None:
        await fleet.server.wait_until(lambda s: len(s.requests) >= 15)
        redis_server.stop()
        await trio.sleep(1.5)
        await trio.to_thread.run_sync(redis_server.start)

    with trio.fail_after(100):
        fleet = await run_fleet(
            workers=2,
            streams=40,
            limit=LIMIT,
            window=WINDOW,
            redis_url=redis_server.url,
            namespace="outage",
            max_retries=8,
            during=outage,
        )
    assert [r["error"] for r in fleet.done] == [None] * 80
    assert {i: s["ok"] for i, s in fleet.summaries.items()} == {0: 40, 1: 40}
    for summary in fleet.summaries.values():
        assert summary["unreachable_logged"] == 1
        assert summary["reachable_again_logged"] == 1
    # Back on Redis after the outage: the budget lives there again.
    assert redis_server.keys("outage:*")
