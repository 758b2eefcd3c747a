"""Soak: waves of concurrent streams against the embedded provider, for N minutes.

    python scripts/soak.py --minutes 10 [--concurrency 1000] [--seed 7] [--json out.json]

Everything runs in this process on loopback: three embedded providers (real
hypercorn servers) answer with the echo reply (``ok``), the echo cut by a
TCP abort after a few events (``drop``), or an ``overloaded_error`` event
after the 200 (``error``); each is registered twice, once per wire format
(Anthropic Messages and OpenAI chat completions), so one runtime holds six
providers. Each wave starts ``--concurrency`` streams at once; each stream
picks a provider at random, and some callers leave early at a random point.

Every stream read to the end must end with exactly one ``ProviderDone``:
the right text (the echo quotes the stream's own prompt, so cross-talk
between streams would show) for ``ok``, ``StreamInterrupted`` carrying a
prefix of that text for ``drop``, ``Overloaded`` for ``error``. Anything
else is a violation, counted and reported. After each wave no stream task
may be left and the servers may hold only the idle keep-alive connections
of the clients' pools; after the runtime closes, none at all.

Reported per wave and in total: streams/s, outcomes and errors by type,
RSS (``/proc/self/status``), open file descriptors (``/proc/self/fd``) and
server-side open connections. The randomness is seeded. The loop is bounded
by ``--minutes`` (and ``--waves``), and stops by itself.

The same ``run_wave`` is what ``tests/reliability/test_load.py`` runs (three
waves of 1,000), so the script is tested in CI.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

import synapsis_actors as sa
from synapsis_actors.embedded import EmbeddedProvider, Fault, Step, open_embedded_provider

#: Provider behaviours and their weights in a wave.
BEHAVIOURS = (("ok", 70), ("drop", 20), ("error", 10))
KINDS = ("anthropic", "openai")
#: Share of callers that leave at a random point before the end.
LEAVE_RATE = 0.2
#: Prompts all have this length, so one reference reply gives every expected text.
_PROMPT = "soak-w{wave:05d}-s{index:05d}"
_REFERENCE = _PROMPT.format(wave=0, index=0)
KEY = "sk-soak-not-a-real-key"
#: Words of each reply (the echo stops there with ``max_tokens``).
WORDS = 3


@attrs.define
class Env:
    """The servers, the runtime and the reference reply of one load run."""

    rt: sa.Runtime
    servers: dict[str, EmbeddedProvider]
    reference: str = ""

    def expected(self, prompt: str) -> str:
        return self.reference.replace(_REFERENCE, prompt)

    def forget(self) -> None:
        """Drop the servers' request logs (a test server keeps every request;
        a long run would otherwise measure the log's growth, not the client's)."""
        for server in self.servers.values():
            server.requests.clear()
            server.responses.clear()

    def open_connections(self) -> int:
        return sum(s.open_connections for s in self.servers.values())

    def pooled_connections(self) -> int:
        total = 0
        for name in self.rt.providers.list():
            total += self.rt.providers.entry(name).transport.open_connections()
        return total


@asynccontextmanager
async def open_env() -> AsyncIterator[Env]:
    """Three embedded providers, a runtime with six providers, the reference reply."""
    async with AsyncExitStack() as stack:
        servers: dict[str, EmbeddedProvider] = {}
        for behaviour, _ in BEHAVIOURS:
            servers[behaviour] = await stack.enter_async_context(
                open_embedded_provider(keep_alive_timeout=60.0)
            )
        servers["drop"].set_default(Step(fault=Fault(drop_after=4)))
        servers["error"].set_default(Step(fault=Fault(error_event_at=4)))
        rt = await stack.enter_async_context(sa.open_runtime())
        for behaviour, server in servers.items():
            for kind in KINDS:
                base = server.anthropic_base_url if kind == "anthropic" else server.openai_base_url
                config = sa.ProviderConfig(kind=kind, base_url=base, api_key=KEY, max_retries=0)
                await rt.providers.register(f"{behaviour}-{kind}", config)
        env = Env(rt, servers)
        reply = await sa.complete(rt, "ok-anthropic", _request(_REFERENCE))
        env.reference = reply.text
        assert _REFERENCE in env.reference
        yield env


def _request(prompt: str) -> sa.Request:
    # The echo's first three words quote the prompt ('You said: "<prompt>".'):
    # a short stream (9 events) whose text is still unique to the stream.
    return sa.Request(model="embedded-echo", messages=[sa.Message.user(prompt)], max_tokens=WORDS)


@attrs.define
class WaveResult:
    """What one wave did. ``violations`` lists every broken promise (empty when all is well)."""

    wave: int
    streams: int = 0
    seconds: float = 0.0
    outcomes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    errors: collections.Counter[str] = attrs.field(factory=collections.Counter)
    violations: list[str] = attrs.field(factory=list)
    open_connections: int = 0
    pooled_connections: int = 0
    stream_tasks: int = 0

    @property
    def streams_per_second(self) -> float:
        return self.streams / self.seconds if self.seconds else 0.0


def _check(env: Env, behaviour: str, prompt: str, done: sa.ProviderDone, n_done: int) -> str | None:
    """None if ``done`` is what ``behaviour`` must give, else what is wrong."""
    expected = env.expected(prompt)
    error = done.error
    if n_done != 1:
        return f"{n_done} ProviderDone messages"
    if behaviour == "ok":
        if error is not None:
            return f"ok stream failed: {error!r}"
        if done.message.text != expected or done.stop_reason != "max_tokens":
            return f"ok stream got {done.message.text!r} / {done.stop_reason}"
    elif behaviour == "drop":
        if not isinstance(error, sa.StreamInterrupted):
            return f"drop stream ended with {error!r}"
        if not expected.startswith(done.message.text):
            return f"drop stream partial {done.message.text!r} is not a prefix"
    elif not isinstance(error, sa.Overloaded):
        return f"error stream ended with {error!r}"
    return None


async def _one(
    env: Env, result: WaveResult, behaviour: str, kind: str, prompt: str, leave: int | None
) -> None:
    name = f"{behaviour}-{kind}"
    dones: list[sa.ProviderDone] = []
    seen = 0
    async with sa.open_stream(env.rt, name, _request(prompt)) as stream:
        async for message in stream:
            if leave is not None and seen == leave:
                break
            seen += 1
            if isinstance(message, sa.ProviderDone):
                dones.append(message)
    if not dones:
        result.outcomes["left early"] += 1
        return
    done = dones[-1]
    result.outcomes[behaviour] += 1
    if done.error is not None:
        result.errors[type(done.error).__name__] += 1
    problem = _check(env, behaviour, prompt, done, len(dones))
    if problem is not None:
        result.violations.append(f"{name} {prompt}: {problem}")


def _stream_tasks() -> int:
    count = 0
    root = trio.lowlevel.current_root_task()
    stack = [] if root is None else [root]
    while stack:
        task = stack.pop()
        count += task.name == "synapsis_actors.runtime.job.StreamJob.run"
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return count


async def _settle(predicate: Any, rounds: int = 2000) -> bool:
    for _ in range(rounds):
        if predicate():
            return True
        await trio.sleep(0.001)
    return bool(predicate())


async def run_wave(env: Env, wave: int, concurrency: int, rng: random.Random) -> WaveResult:
    """Start ``concurrency`` streams at once and wait for all; check each, then check for leaks."""
    result = WaveResult(wave)
    names = [b for b, _ in BEHAVIOURS]
    weights = [w for _, w in BEHAVIOURS]
    plan = []
    for index in range(concurrency):
        behaviour = rng.choices(names, weights)[0]
        leave = rng.randrange(0, 10) if rng.random() < LEAVE_RATE else None
        plan.append((behaviour, rng.choice(KINDS), _PROMPT.format(wave=wave, index=index), leave))
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for behaviour, kind, prompt, leave in plan:
            nursery.start_soon(_one, env, result, behaviour, kind, prompt, leave)
    result.seconds = time.perf_counter() - start
    result.streams = concurrency
    await _settle(lambda: env.open_connections() == env.pooled_connections())
    result.open_connections = env.open_connections()
    result.pooled_connections = env.pooled_connections()
    result.stream_tasks = _stream_tasks()
    if result.open_connections != result.pooled_connections:
        result.violations.append(
            f"server holds {result.open_connections} connections, pools {result.pooled_connections}"
        )
    if result.stream_tasks or env.rt.statistics().open_streams:
        result.violations.append(f"{result.stream_tasks} stream tasks left after the wave")
    env.forget()
    return result


# ---------------------------------------------------------------- process probes


def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux ``/proc``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed while listing
    return count


# ---------------------------------------------------------------- the run


async def soak(
    minutes: float, concurrency: int, seed: int, max_waves: int | None
) -> dict[str, Any]:
    rng = random.Random(seed)
    deadline = time.monotonic() + minutes * 60
    waves: list[dict[str, Any]] = []
    outcomes: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    violations: list[str] = []
    started = time.perf_counter()
    async with open_env() as env:
        wave = 0
        while time.monotonic() < deadline and (max_waves is None or wave < max_waves):
            wave += 1
            result = await run_wave(env, wave, concurrency, rng)
            outcomes.update(result.outcomes)
            errors.update(result.errors)
            violations += result.violations
            row = {
                "wave": wave,
                "elapsed_s": round(time.perf_counter() - started, 1),
                "streams": result.streams,
                "streams_per_s": round(result.streams_per_second, 1),
                "errors": dict(result.errors),
                "violations": len(result.violations),
                "rss_mib": round(rss_mib(), 1),
                "open_fds": open_fds(),
                "open_sockets": open_sockets(),
                "server_open_connections": result.open_connections,
                "pooled_connections": result.pooled_connections,
            }
            waves.append(row)
            print(json.dumps(row), flush=True)
        servers = list(env.servers.values())
    # the runtime has closed: every connection must be gone, server side
    await _settle(lambda: sum(s.open_connections for s in servers) == 0)
    after_close = sum(s.open_connections for s in servers)
    if after_close:
        violations.append(f"{after_close} connections still open after the runtime closed")
    total_streams = sum(w["streams"] for w in waves)
    seconds = time.perf_counter() - started
    return {
        "seed": seed,
        "minutes": minutes,
        "concurrency": concurrency,
        "waves": len(waves),
        "streams": total_streams,
        "seconds": round(seconds, 1),
        "streams_per_s": round(total_streams / seconds, 1) if seconds else 0.0,
        "outcomes": dict(outcomes),
        "errors": dict(errors),
        "violations": violations[:50],
        "violation_count": len(violations),
        "rss_mib_first": waves[0]["rss_mib"] if waves else None,
        "rss_mib_last": waves[-1]["rss_mib"] if waves else None,
        "rss_mib_max": max((w["rss_mib"] for w in waves), default=None),
        "open_fds_last": waves[-1]["open_fds"] if waves else None,
        "server_connections_after_close": after_close,
        "per_wave": waves,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to run (default 1)")
    parser.add_argument("--concurrency", type=int, default=1000, help="streams per wave")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--waves", type=int, default=None, help="stop after this many waves")
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.concurrency <= 0:
        parser.error("--minutes and --concurrency must be positive")
    summary = trio.run(soak, args.minutes, args.concurrency, args.seed, args.waves)
    text = json.dumps({k: v for k, v in summary.items() if k != "per_wave"}, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    return 1 if summary["violation_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
