"""The benchmark over TLS and HTTP/2: each run uses the protocol asked for, or fails.

``scripts/bench.py --quick --transport tls,h2`` runs as a subprocess (real
server and client processes, a trustme CA). No timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def _load_bench() -> Any:
    # by path: ``import bench`` would find this test package (tests/bench)
    sys.path.insert(0, str(ROOT / "scripts"))  # bench.py imports bench_report
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "scripts" / "bench.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    report, raw = out / "benchmarks.md", out / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--quick",
            "--transport",
            "tls,h2",
            "--scenarios",
            "burst,cancel",
            "--clients",
            "synapsis,httpx_trio,trio_tls_drain",
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
        timeout=150,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(raw.read_text()), report.read_text()


def test_every_run_used_the_protocol_asked_for(run: tuple[dict[str, Any], str]) -> None:
    data, _ = run
    seen = set()
    for rec in data["records"]:
        res = rec["result"]
        where = f"{rec['transport']} {rec['client']} {rec['scenario']}/{rec['shape']}"
        assert res["ok"] is True, f"{where}: {res.get('error')}"
        connections = res["server_connections"]
        if rec["transport"] == "h2":
            assert connections["h1"] == 0, where
            assert connections["h2"] > 0, where
        else:
            assert connections["h2"] == 0, where
            assert connections["h1"] > 0, where
        assert res["server_cpu_us_per_event"] > 0, where
        seen.add((rec["transport"], rec["client"]))
    assert seen == {
        ("tls", "synapsis"),
        ("tls", "httpx_trio"),
        ("tls", "trio_tls_drain"),
        ("h2", "synapsis"),
        ("h2", "httpx_trio"),
    }
    # the draining client speaks TLS HTTP/1.1 only: skipped over HTTP/2, with a note
    assert "h2/trio_tls_drain" in data["meta"]["notes"]


def test_the_cancelled_streams_were_seen_closing_on_both_transports(
    run: tuple[dict[str, Any], str],
) -> None:
    data, _ = run
    cancels = [r for r in data["records"] if r["scenario"] == "cancel"]
    assert {r["transport"] for r in cancels} == {"tls", "h2"}
    for rec in cancels:
        assert rec["result"]["closed"] == data["meta"]["params"]["cancel"]["streams"]


def test_the_report_has_a_section_per_transport(run: tuple[dict[str, Any], str]) -> None:
    _, report = run
    assert "## HTTP/1.1 over TLS" in report
    assert "## HTTP/2 over TLS" in report
    assert "CPU/event vs the draining raw trio TLS client" in report
    assert "CPU/event vs bare httpx over HTTP/2" in report
    assert "failed or were incomplete" not in report


def test_a_run_on_the_wrong_protocol_fails() -> None:
    bench = _load_bench()
    before = {"h1_connections": 3, "h2_connections": 0, "events": 0, "cpu_s": 1.0}
    after = {"h1_connections": 4, "h2_connections": 0, "events": 10, "cpu_s": 1.001}
    results: list[dict[str, Any]] = [{"ok": True}]
    bench.check_server_side(results, before, after, "h2")
    assert results[0]["ok"] is False
    assert "asked h2 (h2) but the server saw 1 HTTP/1.1 and 0 HTTP/2" in results[0]["error"]
    results = [{"ok": True}]
    bench.check_server_side(results, before, after, "tls")
    assert results[0]["ok"] is True
    assert results[0]["server_cpu_us_per_event"] == pytest.approx(100.0)
