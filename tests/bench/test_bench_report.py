"""The report's target arithmetic: per-repetition (paired) ratios beside the ratio of medians."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import bench_report  # noqa: E402


def _record(rep: int, client: str, cpu: float) -> dict[str, Any]:
    return {
        "rep": rep,
        "client": client,
        "scenario": "concurrent",
        "shape": "openai",
        "result": {
            "ok": True,
            "done": 1,
            "streams": 1,
            "events": 1,
            "expected_events": 1,
            "cpu_us_per_event": cpu,
        },
    }


def _target(rows: list[tuple[str, str, str, bool | None]]) -> tuple[str, bool | None]:
    for name, measured, _limit, ok in rows:
        if name == "concurrent, openai shape: CPU/event vs bare httpx":
            return measured, ok
    raise AssertionError("target row missing")


def test_paired_ratio_is_the_ratio_within_each_repetition() -> None:
    # The machine ran at three speeds, one per repetition; ours is 1.4x theirs
    # in each of them.
    records = [
        _record(0, "synapsis", 14.0),
        _record(0, "httpx_trio", 10.0),
        _record(1, "synapsis", 28.0),
        _record(1, "httpx_trio", 20.0),
        _record(2, "synapsis", 16.8),
        _record(2, "httpx_trio", 12.0),
    ]
    values, by_rep, problems = bench_report.aggregate(records)
    assert problems == []
    key = ("concurrent", "openai", "synapsis", "cpu_us_per_event")
    assert by_rep[key] == {0: 14.0, 1: 28.0, 2: 16.8}
    ref = ("concurrent", "openai", "httpx_trio", "cpu_us_per_event")
    assert bench_report.paired_ratio(by_rep, key, ref) == 1.4
    measured, ok = _target(bench_report.targets(values, by_rep))
    assert measured == "1.40x (1.40x)"
    assert ok is True
    # Without the pairs the verdict falls back to the ratio of the medians.
    measured, ok = _target(bench_report.targets(values))
    assert measured == "1.40x"


def test_paired_ratio_uses_only_repetitions_where_both_clients_have_a_value() -> None:
    records = [
        _record(0, "synapsis", 20.0),
        _record(0, "httpx_trio", 10.0),
        _record(1, "synapsis", 12.0),  # its partner failed in rep 1
        _record(2, "synapsis", 30.0),
        _record(2, "httpx_trio", 20.0),
    ]
    values, by_rep, _ = bench_report.aggregate(records)
    key = ("concurrent", "openai", "synapsis", "cpu_us_per_event")
    ref = ("concurrent", "openai", "httpx_trio", "cpu_us_per_event")
    assert bench_report.paired_ratio(by_rep, key, ref) == 1.75  # median of 2.0 and 1.5
    measured, ok = _target(bench_report.targets(values, by_rep))
    # medians: ours 20.0, theirs 15.0 -> 1.33x; the verdict uses the paired 1.75x
    assert measured == "1.75x (1.33x)"
    assert ok is False
    assert bench_report.paired_ratio(by_rep, key, ("x", "y", "z", "w")) is None


def _https_record(transport: str, scenario: str, result: dict[str, Any]) -> dict[str, Any]:
    base = {"ok": True, "done": 1, "streams": 1, "events": 1, "expected_events": 1}
    return {
        "rep": 0,
        "client": "synapsis",
        "transport": transport,
        "scenario": scenario,
        "shape": "anthropic",
        "result": base | result,
    }


def _https_records(cancel_h1: float, cancel_h2: float) -> list[dict[str, Any]]:
    return [
        _https_record("tls", "burst", {"cpu_us_per_event": 10.0}),
        _https_record("h2", "burst", {"cpu_us_per_event": 40.0}),
        _https_record("tls", "sustained", {"max_streams": 150}),
        _https_record("h2", "sustained", {"max_streams": 100}),
        _https_record("tls", "cancel", {"p99_ms": cancel_h1}),
        _https_record("h2", "cancel", {"p99_ms": cancel_h2}),
    ]


def test_the_https_decision_words_follow_this_runs_numbers() -> None:
    # The decision's sentence is a template: its comparing words must say what
    # the numbers beside them say, whichever way a run came out.
    later = "\n".join(bench_report._https_default(_https_records(1.0, 2.0)))
    assert "costs more CPU per event (40.0 us against 10.0 us in the burst" in later
    assert "one core sustains fewer paced streams (100 against 150)" in later
    assert "the server sees a cancel later (p99 2.00 ms against 1.00 ms)" in later
    sooner = "\n".join(bench_report._https_default(_https_records(2.0, 1.0)))
    assert "the server sees a cancel sooner (p99 1.00 ms against 2.00 ms)" in sooner
    same = "\n".join(bench_report._https_default(_https_records(2.0, 2.04)))
    assert "the server sees a cancel as soon (p99" in same
