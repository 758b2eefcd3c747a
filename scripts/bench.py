"""Benchmarks against peers: this library's streams vs bare httpx, raw trio sockets,
the official SDKs and LiteLLM, on a loopback SSE server.

Usage::

    pip install -e '.[bench]'          # the peers: anthropic, openai, litellm, matplotlib
    python scripts/bench.py          # full run (several minutes): docs/benchmarks.md + .png
    python scripts/bench.py --quick  # small N, one repetition: a smoke run, well under a minute

How it measures (see ``docs/benchmarks.md`` for the numbers):

* The SSE server (``bench_server.py``) runs in its own process, pinned to one
  core; every client run is a fresh subprocess (``bench_clients.py``) pinned
  to the other core (``os.sched_setaffinity``, where the OS allows).
* Clients are interleaved (A B C A B C ...) over ``--reps`` repetitions and
  the median is reported, with ratios against bare httpx on trio and against
  the SDKs measured in the same run.
* CPU is ``time.process_time()`` of the client process around the measured
  section; peak RSS is ``ru_maxrss``. Cancel latency and delivery delay use
  ``time.monotonic()`` in both processes (CLOCK_MONOTONIC is system-wide on
  Linux).

A peer that is not installed is skipped with a note, never faked. The
output JSON (``--json``) holds every raw measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_report import CLIENTS, complete, write_report

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"

SHAPES_OF = {
    "anthropic_raw": ("anthropic",),
    "anthropic_stream": ("anthropic",),
    "openai_raw": ("openai",),
    "openai_stream": ("openai",),
}
#: The Python module each client needs; a missing one skips the client with a note.
MODULE_OF = {
    "httpx_trio": "httpx",
    "trio_socket": "trio",
    "trio_tls_drain": "trio",
    "anthropic_raw": "anthropic",
    "anthropic_stream": "anthropic",
    "openai_raw": "openai",
    "openai_stream": "openai",
    "litellm": "litellm",
}
#: The transports a client speaks (the others: all three).
TRANSPORTS_OF = {
    "trio_socket": ("plain", "tls"),
    "trio_tls_drain": ("tls",),
    "litellm": ("plain",),
}
SCENARIOS = (
    "burst",
    "concurrent",
    "sequential",
    "paced",
    "import",
    "cancel",
    "recancel",
    "sustained",
)
#: Scenarios only some clients run (the others: every client).
SCENARIO_CLIENTS = {"recancel": ("synapsis", "httpx_trio")}
SCENARIO_SHAPES = {
    "burst": ("anthropic", "openai"),
    "concurrent": ("anthropic", "openai"),
    "sequential": ("anthropic", "openai"),
    "paced": ("anthropic",),
    "import": ("any",),  # each client's own first shape
    "cancel": ("anthropic",),
    "recancel": ("anthropic",),
    "sustained": ("anthropic",),
}
FULL: dict[str, dict[str, Any]] = {
    "burst": {"n": 20_000, "streams": 1},
    "concurrent": {"n": 1_000, "streams": 100},
    "sequential": {"n": 5, "requests": 300},
    "paced": {"n": 250, "streams": 20, "pace": 50},
    "import": {"n": 5},
    "cancel": {"streams": 1_000, "gap": 0.002, "timeout": 120},
    "recancel": {"rounds": 30, "n": 5},
    "sustained": {
        # up to 1,000: our default httpx pool (and the SDKs') holds 1,000 connections
        "steps": [10, 25, 50, 100, 150, 200, 300, 400, 600, 800, 1000],
        "refine": 2,  # after the first failing step, bisect twice
        "n": 150,
        "pace": 50,
        "warmup": 0.5,
        "limit_ms": 20,
    },
}
QUICK: dict[str, dict[str, Any]] = {
    "burst": {"n": 1_000, "streams": 1},
    "concurrent": {"n": 50, "streams": 10},
    "sequential": {"n": 5, "requests": 10},
    "paced": {"n": 10, "streams": 5, "pace": 50},
    "import": {"n": 5},
    "cancel": {"streams": 20, "gap": 0.002, "timeout": 30},
    "recancel": {"rounds": 3, "n": 5},
    "sustained": {"steps": [5], "n": 25, "pace": 50, "warmup": 0.1, "limit_ms": 20},
}
#: Peers whose CPU per event is so high that full-size runs would take many
#: minutes: they stream n/scale deltas per stream (same number of streams) in
#: the burst and concurrent scenarios. Their cost per event does not depend on
#: n (checked: openai SDK 349 us/event at n=2,000, 324 at n=20,000), so the
#: per-event numbers stay comparable; the table marks these rows.
SCALE_FULL = {"openai_raw": 4, "openai_stream": 4, "litellm": 10}
SCALED_SCENARIOS = ("burst", "concurrent")


# ====================================================================== running


#: The protocol each transport must have used (the server counts connections by protocol).
PROTOCOL = {"plain": "h1", "tls": "h1", "h2": "h2"}


class Certs:
    """A throwaway CA (trustme) and a certificate for 127.0.0.1, as PEM files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca = str(folder / "ca.pem")
        self.chain = str(folder / "server.pem")
        self.key = str(folder / "server.key")
        ca.cert_pem.write_to_path(self.ca)
        cert.private_key_pem.write_to_path(self.key)
        for i, blob in enumerate(cert.cert_chain_pems):
            blob.write_to_path(self.chain, append=i > 0)


class Server:
    """The SSE server subprocess, pinned to ``cpu``, speaking ``transport``."""

    def __init__(
        self, cpu: int | None, nice: int, transport: str = "plain", certs: Certs | None = None
    ) -> None:
        cmd = [sys.executable, str(SCRIPTS / "bench_server.py"), "--port", "0"]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        self.context = None
        if transport != "plain":
            assert certs is not None
            cmd += ["--transport", transport, "--cert", certs.chain, "--key", certs.key]
            import ssl

            self.context = ssl.create_default_context(cafile=certs.ca)
        self.scheme = "http" if transport == "plain" else "https"
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, preexec_fn=_child_setup(nice)
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"bench server did not start: {line!r}")
        self.port = int(line.split()[1])

    def get(self, path: str) -> Any:
        url = f"{self.scheme}://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=30, context=self.context) as r:
            body = r.read()
        return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _child_setup(nice: int) -> Any:
    """``preexec_fn`` for the server and the clients: die with us, and priority.

    The child gets SIGTERM when this process dies (Linux), so an interrupted
    run leaves no server behind. With ``nice`` != 0 it also starts its own
    session and sets that session's autogroup niceness: with autogroups (the
    Linux default), a plain nice value only ranks processes within their own
    session, and the other work on a shared machine would still get an equal
    share of the client's core. Both are best effort (root, Linux); silently
    skipped elsewhere.
    """

    def apply() -> None:
        with contextlib.suppress(Exception):
            import ctypes
            import signal

            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if nice:
            with contextlib.suppress(OSError):
                os.setsid()
            with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as f:
                f.write(str(nice))
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, nice)

    return apply


def available(client: str, transport: str = "plain") -> str | None:
    """None when ``client`` can run here over ``transport``, else why not (the report's note)."""
    if transport not in TRANSPORTS_OF.get(client, ("plain", "tls", "h2")):
        return f"runs over {', '.join(TRANSPORTS_OF[client])} only"
    if client == "synapsis":
        probe = "import synapsis_actors as sa; sa.open_runtime, sa.open_stream"
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
        )
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            return f"synapsis_actors streaming is not importable: {last}"
        return None
    module = MODULE_OF[client]
    if importlib.util.find_spec(module) is None:
        return f"`{module}` is not installed (pip install -e '.[bench]')"
    return None


def run_job(job: dict[str, Any], timeout: float, nice: int) -> list[dict[str, Any]]:
    """One client subprocess; its last stdout line is the JSON result of each task."""
    cmd = [sys.executable, str(SCRIPTS / "bench_clients.py"), json.dumps(job)]
    count = len(job["tasks"])
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=_child_setup(nice)
        )
    except subprocess.TimeoutExpired:
        return [{"ok": False, "error": f"timed out after {timeout:g} s"}] * count
    lines = done.stdout.strip().splitlines()
    try:
        out: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = done.stderr.strip().splitlines()[-3:]
        error = f"exit {done.returncode}: {' | '.join(tail)}"[:500]
        return [{"ok": False, "error": error}] * count
    if not out.get("ok"):
        return [{"ok": False, "error": out.get("error"), "stderr": done.stderr[-2000:]}] * count
    results: list[dict[str, Any]] = out["results"]
    for result in results:
        if not result.get("ok"):
            result.setdefault("stderr", done.stderr[-2000:])
    return results


def check_server_side(
    results: list[dict[str, Any]],
    before: dict[str, Any],
    after: dict[str, Any],
    transport: str,
) -> None:
    """Fail the job's results unless the server saw the protocol asked for; add the server's CPU.

    The server counts the connections that carried a stream, by protocol: a
    client that fell back to HTTP/1.1 when HTTP/2 was asked (or the reverse)
    fails the run instead of being measured as something it is not. The
    server's CPU per event shows it is not the bottleneck.
    """
    want = PROTOCOL[transport]
    got = {p: after[f"{p}_connections"] - before[f"{p}_connections"] for p in ("h1", "h2")}
    other = "h2" if want == "h1" else "h1"
    events = after["events"] - before["events"]
    server_cpu = after["cpu_s"] - before["cpu_s"]
    for result in results:
        result["server_connections"] = got
        if events:
            result["server_cpu_us_per_event"] = server_cpu / events * 1e6
        if got[other] or not got[want]:
            result["ok"] = False
            result["error"] = (
                f"asked {transport} ({want}) but the server saw {got['h1']} HTTP/1.1 and "
                f"{got['h2']} HTTP/2 connections carrying streams"
            )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def finish_cancel(result: dict[str, Any], closes: dict[str, float]) -> None:
    """Cancel latency per stream: the server's close time minus the client's leave time."""
    leaves: dict[str, float] = result.pop("leaves", {})
    lat = [(closes[k] - t) * 1000 for k, t in leaves.items() if k in closes]
    result["closed"] = len(lat)
    result["done"] = len(lat)  # every stream must have been seen closing
    if lat:
        result["p50_ms"] = percentile(lat, 50)
        result["p99_ms"] = percentile(lat, 99)
        result["max_ms"] = max(lat)
    else:
        result["ok"] = False
        result["error"] = "the server saw no stream close"


def plan(
    scenarios: list[str], clients: list[str], reps: int, sustained_reps: int, batch: bool
) -> Iterator[tuple[int, str, list[tuple[str, str]]]]:
    """Jobs (rep, client, [(scenario, shape), ...]), clients interleaved in every repetition.

    Unbatched, every (scenario, shape) is its own job (its own process); batched
    (quick mode), a client runs all its tasks in one process, ``import`` first.
    """
    for rep in range(reps):
        pending: dict[str, list[tuple[str, str]]] = {}
        for scenario in scenarios:
            if scenario == "sustained" and rep >= sustained_reps:
                continue
            for shape in SCENARIO_SHAPES[scenario]:
                for client in clients:
                    if client not in SCENARIO_CLIENTS.get(scenario, (client,)):
                        continue
                    shapes = SHAPES_OF.get(client, ("anthropic", "openai"))
                    task = (scenario, shapes[0] if shape == "any" else shape)
                    if task[1] not in shapes:
                        continue
                    if batch:
                        pending.setdefault(client, []).append(task)
                    else:
                        yield rep, client, [task]
        for client, tasks in pending.items():
            tasks.sort(key=lambda t: t[0] != "import")
            yield rep, client, tasks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmarks against peers on a loopback SSE server"
    )
    parser.add_argument("--quick", action="store_true", help="small N, 1 repetition")
    parser.add_argument(
        "--transport",
        default="plain",
        help="plain (HTTP/1.1), tls (HTTP/1.1 over TLS), h2 (HTTP/2 over TLS), or a comma list",
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; quick 1)")
    parser.add_argument(
        "--sustained-reps", type=int, default=3, help="repetitions of the (long) sustained ladder"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument(
        "--out", default=str(ROOT / "docs" / "benchmarks.md"), help="markdown report"
    )
    parser.add_argument("--png", default=None, help="plot (default: the report's name with .png)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--json", default=None, help="also write every raw measurement here")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument(
        "--nice", type=int, default=-10, help="priority (autogroup niceness) of server and clients"
    )
    parser.add_argument("--timeout", type=float, default=None, help="per client run, seconds")
    parser.add_argument(
        "--report-from",
        default=None,
        metavar="JSON",
        help="measure nothing: rewrite the report (and plot) from a --json file of a run",
    )
    args = parser.parse_args(argv)

    if args.report_from:
        saved = json.loads(Path(args.report_from).read_text())
        out = Path(args.out)
        png = None if args.no_plot else Path(args.png) if args.png else out.with_suffix(".png")
        write_report(saved["records"], saved["meta"], out, png)
        print(f"wrote {out}" + (f" and {png}" if png else ""), file=sys.stderr)
        return 0

    scenarios = [s for s in args.scenarios.split(",") if s]
    clients = [c for c in args.clients.split(",") if c]
    for name in scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}; expected some of {', '.join(SCENARIOS)}")
    for name in clients:
        if name not in CLIENTS:
            parser.error(f"unknown client {name!r}; expected some of {', '.join(CLIENTS)}")
    reps = args.reps or (1 if args.quick else 3)
    params = QUICK if args.quick else FULL
    scale = {} if args.quick else SCALE_FULL
    timeout = args.timeout or (60.0 if args.quick else 600.0)
    server_cpu, client_cpu = args.server_cpu, args.client_cpu
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        server_cpu = client_cpu = None  # nothing to pin apart

    transports = [t for t in args.transport.split(",") if t]
    for name in transports:
        if name not in PROTOCOL:
            parser.error(f"unknown transport {name!r}; expected some of plain, tls, h2")
    notes: dict[tuple[str, str], str] = {}
    for transport in transports:
        for client in clients:
            why = available(client, transport)
            if why is not None:
                notes[(transport, client)] = why
                print(f"skip {client} ({transport}): {why}", file=sys.stderr)

    started = time.time()
    load_before = os.getloadavg()
    records: list[dict[str, Any]] = []
    server_stats: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        certs = Certs(Path(folder)) if set(transports) - {"plain"} else None
        for transport in transports:
            runnable = [c for c in clients if (transport, c) not in notes]
            server = Server(server_cpu, args.nice, transport, certs)
            try:
                jobs = list(plan(scenarios, runnable, reps, args.sustained_reps, batch=args.quick))
                for i, (rep, client, tasks) in enumerate(jobs, 1):
                    job_tasks = []
                    for scenario, shape in tasks:
                        p = dict(params[scenario])
                        factor = scale.get(client, 1) if scenario in SCALED_SCENARIOS else 1
                        if factor > 1:
                            p["n"] = max(1, p["n"] // factor)
                        if scenario in ("cancel", "recancel"):
                            p["run"] = f"r{rep}{client}"
                        job_tasks.append({"scenario": scenario, "shape": shape, "params": p})
                    if any(t["scenario"] == "cancel" for t in job_tasks):
                        server.get("/_reset")
                    job = {
                        "client": client,
                        "port": server.port,
                        "cpu": client_cpu,
                        "tasks": job_tasks,
                        "transport": transport,
                        "ca": certs.ca if certs else None,
                    }
                    before = server.get("/_stats")
                    t0 = time.perf_counter()
                    results = run_job(job, timeout, args.nice)
                    closes: dict[str, float] | None = None
                    for task, result in zip(job_tasks, results, strict=True):
                        if task["scenario"] == "cancel" and "leaves" in result:
                            if closes is None:
                                time.sleep(0.2)  # let the last closes reach the server's log
                                closes = server.get("/_closes")
                            finish_cancel(result, closes or {})
                        if "maxrss_kib" in result:
                            result["maxrss_mib"] = result["maxrss_kib"] / 1024
                    check_server_side(results, before, server.get("/_stats"), transport)
                    for task, result in zip(job_tasks, results, strict=True):
                        records.append(
                            {"rep": rep, "client": client, "transport": transport, **task}
                            | {"result": result}
                        )
                    failed = [
                        f"{t['scenario']}/{t['shape']}: {r.get('error')}"
                        for t, r in zip(job_tasks, results, strict=True)
                        if not r.get("ok")
                    ]
                    what = ", ".join(f"{t['scenario']}/{t['shape']}" for t in job_tasks)
                    print(
                        f"[{transport} {i}/{len(jobs)}] rep {rep + 1} {client:<16} {what:<28} "
                        f"{time.perf_counter() - t0:6.1f} s  " + ("; ".join(failed) or "ok"),
                        file=sys.stderr,
                        flush=True,
                    )
            finally:
                server_stats[transport] = _safe(lambda s=server: s.get("/_stats"))  # type: ignore[misc]
                server.close()

    meta = {
        "quick": args.quick,
        "reps": reps,
        "sustained_reps": args.sustained_reps,
        "params": params,
        "scale": scale,
        "notes": {f"{t}/{c}": why for (t, c), why in notes.items()},
        "transports": transports,
        "clients": [c for c in clients if any((t, c) not in notes for t in transports)],
        "scenarios": scenarios,
        "started": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": time.time() - started,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "pinning": (
            f"server on core {server_cpu}, clients on core {client_cpu}"
            if server_cpu is not None
            else "not pinned (fewer than 2 cores or no sched_setaffinity)"
        ),
        "nice": args.nice,
        "server_stats": server_stats,
        "machine": machine(),
        "argv": sys.argv[1:] if argv is None else argv,
    }
    out = Path(args.out)
    png = None if args.no_plot else Path(args.png) if args.png else out.with_suffix(".png")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "records": records}, indent=1))
    write_report(records, meta, out, png)
    print(f"wrote {out}" + (f" and {png}" if png else ""), file=sys.stderr)
    broken = [r for r in records if not complete(r["result"])]
    return 1 if broken else 0


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # the report is still written
        return {"error": str(exc)}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


if __name__ == "__main__":
    sys.exit(main())
