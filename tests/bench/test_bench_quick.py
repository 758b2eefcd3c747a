"""The benchmark script runs end to end and reports well-formed numbers.

``scripts/bench.py --quick`` is run as a subprocess for this library's client
and bare httpx on trio (a real loopback SSE server process, real client
processes). Only the shape of the output is checked: numbers present and
positive, every stream got its done and all its deltas, every cancelled
stream seen closing by the server. No timing and no ratio is ever asserted:
those depend on the machine.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
CLIENTS = ("synapsis", "httpx_trio")
SCENARIOS = ("burst", "concurrent", "cancel")
# (scenario, shape) -> the numbers each result must carry, all > 0
EXPECTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("burst", "anthropic"): ("cpu_us_per_event", "cpu_s", "wall_s", "maxrss_mib"),
    ("burst", "openai"): ("cpu_us_per_event", "cpu_s", "wall_s", "maxrss_mib"),
    ("concurrent", "anthropic"): ("cpu_us_per_event", "cpu_s", "wall_s", "maxrss_mib"),
    ("concurrent", "openai"): ("cpu_us_per_event", "cpu_s", "wall_s", "maxrss_mib"),
    ("cancel", "anthropic"): ("p50_ms", "p99_ms", "max_ms", "maxrss_mib"),
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    report = out / "benchmarks.md"
    raw = out / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--quick",
            "--scenarios",
            ",".join(SCENARIOS),
            "--clients",
            ",".join(CLIENTS),
            "--out",
            str(report),
            "--json",
            str(raw),
            "--no-plot",
            "--nice",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(raw.read_text()), report.read_text()


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and value > 0


def test_every_client_ran_every_scenario_and_shape(quick_run: tuple[dict[str, Any], str]) -> None:
    data, _ = quick_run
    seen = {(r["client"], r["scenario"], r["shape"]) for r in data["records"]}
    wanted = {(c, s, shape) for c in CLIENTS for (s, shape) in EXPECTED}
    assert seen == wanted
    assert data["meta"]["notes"] == {}, "a client was skipped"


def test_numbers_present_and_positive(quick_run: tuple[dict[str, Any], str]) -> None:
    data, _ = quick_run
    for rec in data["records"]:
        res = rec["result"]
        where = f"{rec['client']} {rec['scenario']}/{rec['shape']}"
        assert res["ok"] is True, f"{where}: {res.get('error')}"
        for key in EXPECTED[(rec["scenario"], rec["shape"])]:
            assert _positive(res.get(key)), f"{where}: {key} = {res.get(key)!r}"


def test_every_stream_got_its_done_and_every_delta(quick_run: tuple[dict[str, Any], str]) -> None:
    data, _ = quick_run
    params = data["meta"]["params"]
    for rec in data["records"]:
        res = rec["result"]
        where = f"{rec['client']} {rec['scenario']}/{rec['shape']}"
        wanted_streams = params[rec["scenario"]]["streams"]
        assert res["streams"] == wanted_streams, where
        assert res["done"] == wanted_streams, where
        if rec["scenario"] == "cancel":
            # the server saw every one of the cancelled streams close
            assert res["closed"] == wanted_streams, where
        else:
            assert (
                res["events"]
                == res["expected_events"]
                == params[rec["scenario"]]["n"] * (wanted_streams)
            ), where


def test_report_is_written_with_targets_and_tables(quick_run: tuple[dict[str, Any], str]) -> None:
    _, report = quick_run
    assert report.startswith("# Benchmarks against peers")
    assert "quick mode" in report
    assert "## Targets" in report
    for heading in ("### burst", "### concurrent", "### cancel", "## Machine", "## Versions"):
        assert heading in report, heading
    for client in CLIENTS:
        assert f"`{client}`" in report
    assert "How to rerun" in report
    assert "failed or were incomplete" not in report
