"""The sustained ladder's bookkeeping: which full collections a step counts, and how it says so."""

from __future__ import annotations

import gc
import sys
import time
import weakref
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import bench_clients  # noqa: E402
import bench_report  # noqa: E402

PARAMS = {"warmup": 0.0}


def test_gc_watch_records_the_collections_inside_it_only() -> None:
    watch = bench_clients.GcWatch()
    gc.collect()  # outside: not recorded
    with watch:
        gc.collect()
    gc.collect()
    assert [gen for gen, _t, _ms in watch.pauses] == [2]
    assert watch.pauses[0][2] >= 0
    assert watch._callback not in gc.callbacks


def _rung_with_window(start: float, end: float) -> bench_clients.Rung:
    rung = bench_clients.Rung(1, 2)
    rung.t_ready = start
    rung.t_first_end = end
    rung.samples = [(start, 0.001), (end - 0.5, 0.002)]
    return rung


def test_a_step_counts_the_full_collections_in_its_window() -> None:
    now = time.monotonic()
    rung = _rung_with_window(now, now + 2.0)
    rung.gc.pauses = [
        (2, now - 0.1, 40.0),  # before the window (the ramp-up): not counted
        (2, now + 0.5, 31.0),
        (1, now + 0.6, 99.0),  # a younger generation: not a full collection
        (2, now + 1.0, 44.0),
        (2, now + 2.5, 50.0),  # after the first stream ended: not counted
    ]
    meter = bench_clients.Meter()
    meter.cpu, meter.wall = 1.0, 2.0
    step = rung.summary(meter, PARAMS)
    assert step["gc_full"] == 2
    assert step["gc_full_max_ms"] == 44.0


def test_a_step_without_a_full_collection_says_none() -> None:
    now = time.monotonic()
    rung = _rung_with_window(now, now + 2.0)
    meter = bench_clients.Meter()
    meter.cpu, meter.wall = 1.0, 2.0
    step = rung.summary(meter, PARAMS)
    assert (step["gc_full"], step["gc_full_max_ms"]) == (0, 0.0)


def test_the_ladder_line_names_a_full_collection_only_where_there_was_one() -> None:
    base = {"streams": 150, "p99_ms": 33.84, "p99_all_ms": 35.0}
    assert bench_report._ladder_step(base | {"gc_full": 0, "gc_full_max_ms": 0.0}) == (
        "150: 33.8 ms (35.0)"
    )
    assert bench_report._ladder_step(base | {"gc_full": 1, "gc_full_max_ms": 44.4}) == (
        "150: 33.8 ms (35.0), gc 44 ms"
    )
    # A run written before the ladder recorded collections still renders.
    assert bench_report._ladder_step({"streams": 10, "p99_ms": 1.0}) == "10: 1.0 ms"


class _Node:
    other: object = None


def test_settle_collects_then_freezes_what_is_left() -> None:
    # The methodology the report states: the garbage set-up left is collected
    # (charged to no one), and what lives on is frozen, so the measured
    # section's full collections walk only what the work made.
    assert gc.get_freeze_count() == 0
    garbage, survivor = _Node(), _Node()
    garbage.other = garbage  # a cycle: only a collection frees it
    dead, alive = weakref.ref(garbage), weakref.ref(survivor)
    del garbage
    try:
        bench_clients.settle()
        assert dead() is None  # collected, not frozen
        assert alive() is survivor
        assert gc.get_freeze_count() > 0
        assert gc.is_tracked(survivor)
        for generation in range(3):  # frozen: in none of the generations a collection walks
            assert not any(o is survivor for o in gc.get_objects(generation=generation))
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
