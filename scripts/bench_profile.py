"""Where a client's CPU goes per SSE event: py-spy on the burst scenario, by category.

Usage::

    pip install py-spy
    python scripts/bench_profile.py                       # ours, Anthropic shape
    python scripts/bench_profile.py --shape openai --client httpx_trio --n 100000

Starts the bench server (``bench_server.py``), runs one burst stream of ``--n``
deltas (or ``--scenario concurrent``: 100 streams of n/100; ``sequential``:
n/50 requests of 5 deltas; ``sustained``: ``--streams`` paced streams at 50
deltas/s, one rung of the ladder) over ``--transport`` in a
``bench_clients.py`` subprocess under
``py-spy record``, keeps the
samples taken inside the measured section, and attributes each sample to the
category of its innermost frame (self time): SSE decoding, JSON, provider
normalization, accumulation, event objects, the channel, HTTP, trio; a frame
of a file in no category (contextlib, ssl, ...) counts for the nearest caller
that is in one (httpcore's ``map_exceptions`` is HTTP time). Prints a
table of shares and microseconds per event (share x CPU per event measured by
the run itself), and the hottest lines.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import FULL, SCRIPTS, Certs, Server

# Innermost-frame file patterns -> category, first match wins.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("wire/sse.py", "SSE decode (sse.py)"),
    ("json/", "JSON (json.loads)"),
    ("wire/anthropic.py", "normalize (anthropic.py)"),
    ("wire/openai.py", "normalize (openai.py)"),
    ("wire/decoder.py", "normalize (decoder.py)"),
    ("model/accumulator.py", "accumulate (accumulator.py)"),
    ("attrs generated", "event objects (attrs __init__)"),
    ("runtime/job.py", "stream task (job.py)"),
    ("transport/", "stream task (transport/)"),
    ("runtime/telemetry.py", "telemetry (telemetry.py)"),
    ("runtime/runtime.py", "reader (runtime.py: Stream.__anext__)"),
    ("trio/_channel.py", "channel send/receive (trio/_channel.py)"),
    ("h11/", "HTTP/1.1 parsing (h11)"),
    ("httpcore/", "HTTP transport (httpcore)"),
    ("httpx/", "HTTP client (httpx)"),
    ("anyio/", "anyio (httpcore's backend)"),
    ("trio/_socket.py", "socket I/O (trio)"),
    ("trio/_highlevel", "socket I/O (trio)"),
    ("trio/_core/_io_epoll.py", "trio I/O wait"),
    ("trio/", "trio scheduler/other"),
    ("bench_clients.py", "benchmark loop (bench_clients.py)"),
    ("anthropic/", "anthropic SDK"),
    ("openai/", "openai SDK"),
    ("pydantic", "pydantic"),
    ("asyncio/", "asyncio"),
)
# Inside the event loop (trio's or asyncio's): the run minus imports and start-up.
# With a long burst, session set-up and tear-down are a negligible share.
MEASURED = re.compile(r"(unrolled_run|_run_once|run_task) \(")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def category(frames: list[str]) -> str:
    """The category of the innermost frame that has one (see the module docstring)."""
    for frame in reversed(frames):
        match = FRAME.match(frame)
        file = match.group("file") if match else frame
        for pattern, name in CATEGORIES:
            if pattern in file:
                return name
    leaf = FRAME.match(frames[-1])
    return "other: " + (leaf.group("file") if leaf else frames[-1]).rsplit("/", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="synapsis")
    parser.add_argument("--shape", default="anthropic", choices=("anthropic", "openai"))
    parser.add_argument(
        "--scenario",
        default="burst",
        choices=("burst", "concurrent", "sequential", "sustained"),
    )
    parser.add_argument("--transport", default="plain", choices=("plain", "tls", "h2"))
    parser.add_argument("--streams", type=int, default=100, help="paced streams (sustained)")
    parser.add_argument("--n", type=int, default=100_000, help="deltas in the one stream")
    parser.add_argument("--rate", type=int, default=2000, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=15, help="hottest lines to list")
    parser.add_argument("--raw", default=None, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        print("py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 2

    folder = tempfile.TemporaryDirectory()
    certs = Certs(Path(folder.name)) if args.transport != "plain" else None
    server = Server(0, 0, args.transport, certs)
    sustained = FULL["sustained"] | {"steps": [args.streams], "refine": 0, "limit_ms": 1e9}
    try:
        job = {
            "client": args.client,
            "port": server.port,
            "cpu": 1,
            "tasks": [
                {
                    "scenario": args.scenario,
                    "shape": args.shape,
                    "params": {
                        "burst": {"n": args.n, "streams": 1},
                        "concurrent": {"n": max(1, args.n // 100), "streams": 100},
                        "sequential": {"n": 5, "requests": max(1, args.n // 50)},
                        "sustained": sustained,
                    }[args.scenario],
                }
            ],
            "transport": args.transport,
            "ca": certs.ca if certs else None,
        }
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(args.raw or Path(tmp) / "stacks.txt")
            cmd = [pyspy, "record", "--format", "raw", "--full-filenames"]
            cmd += ["-r", str(args.rate), "-o", str(raw)]
            cmd += ["--", sys.executable, str(SCRIPTS / "bench_clients.py"), json.dumps(job)]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            # py-spy prints its own lines too: the client's is the JSON one
            line = [t for t in done.stdout.splitlines() if t.startswith("{")][-1]
            result = json.loads(line)["results"][0]
            stacks = raw.read_text().splitlines()
    finally:
        server.close()
        folder.cleanup()

    by_category: Counter[str] = Counter()
    by_line: Counter[str] = Counter()
    total = 0
    for entry in stacks:
        stack, _, count_text = entry.rpartition(" ")
        frames = stack.split(";")
        if not any(MEASURED.match(f) for f in frames) or "_find_and_load" in stack:
            continue  # imports, start-up, shutdown
        count = int(count_text)
        total += count
        by_category[category(frames)] += count
        by_line[re.sub(r"\(/\S*/(site-packages|lib/python3\.\d+)/", "(", frames[-1])] += count
    if not total:
        print("no samples in the measured section", file=sys.stderr)
        return 1
    if args.scenario == "sequential":
        per_event, unit = result["cpu_ms_per_request"] * 1000, "us/request"
    elif args.scenario == "sustained":
        step = result["steps"][0]
        per_event, unit = step["cpu_s"] * 1e6 / (args.streams * FULL["sustained"]["n"]), "us/event"
        print(f"p50 {step['p50_ms']:.2f} ms, p99 {step['p99_ms']:.2f} ms delivery delay")
    else:
        per_event, unit = result["cpu_us_per_event"], "us/event"
    print(
        f"{args.client}, {args.shape} shape, {args.scenario}: "
        f"{per_event:.1f} {unit} CPU; {total} samples in the measured section\n"
    )
    print(f"{'category (innermost frame)':<48} {'share':>6} {unit:>10}")
    for name, count in by_category.most_common():
        share = count / total
        print(f"{name:<48} {share:6.1%} {share * per_event:10.2f}")
    print(f"\nhottest lines (self time), top {args.top}:")
    for frame, count in by_line.most_common(args.top):
        print(f"{count / total:6.1%}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
