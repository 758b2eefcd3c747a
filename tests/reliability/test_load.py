"""Load: waves of concurrent streams with early leavers and server drops.

Runs ``scripts/soak.py``'s own wave (so the soak script is tested too):
three embedded providers on loopback answer with the echo (``ok``), the
echo cut by a TCP abort (``drop``), or an ``overloaded_error`` after the 200
(``error``), each under both wire formats; every stream picks one at random
(seeded) and a fifth of the callers leave at a random point.

Proven: every stream read to the end got exactly one ``ProviderDone`` with
the right content (the echo quotes the stream's own prompt, so cross-talk
would show) or the right typed error; after each wave no stream task is
left and the server holds only the idle keep-alive connections of the
clients' pools; memory is flat from wave 2 to wave 3 (tracemalloc, a
generous bound); when the runtime closes, the servers see every connection
closed. Each wave holds 1,000 streams open at once, as the issue asks;
the soak (``scripts/soak.py --concurrency 1000``, see docs/reliability.md)
runs the same waves for minutes.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import random
import select
import socket
import sys
import tracemalloc
from pathlib import Path
from types import ModuleType

import pytest
import trio

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"
CONCURRENCY = 1000  # x 3 waves: 3,000 streams
WAVES = 3
#: Allowed growth of live traced memory from the end of wave 2 to the end of
#: wave 3. Generous: pooled connections, trio's lazily pruned deadline heap and
#: allocator free lists move by a few hundred KB between waves, while keeping
#: each finished stream (its job, channel, message and error: several KB) would
#: add well over this across 1,000 streams.
FLAT = 2_000_000


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("soak", module)
    spec.loader.exec_module(module)
    return module


# tracemalloc slows every allocation: alone on this machine the test takes
# about a minute, beside other CPU-bound work two to three; the suite-wide
# 120 s limit is for hangs, not for this.
@pytest.mark.timeout(400)
async def test_waves_of_concurrent_streams_with_leavers_and_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # pytest keeps every captured log record (and what its arguments hold, e.g.
    # a failed stream's partial message) until the test ends: that would be
    # measured as growth. The library's warnings are tested elsewhere.
    caplog.set_level(logging.ERROR, logger="synapsis_actors")
    soak = load_soak()
    rng = random.Random(20251125)
    results = []
    traced: list[int] = []
    async with soak.open_env() as env:
        servers = list(env.servers.values())
        try:
            for wave in range(1, WAVES + 1):
                if wave == 2:
                    tracemalloc.start()  # wave 1 warmed the pools, caches and code paths
                results.append(await soak.run_wave(env, wave, CONCURRENCY, rng))
                if wave >= 2:
                    gc.collect()  # live memory: cycles (exceptions and their frames) go first
                    traced.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
    for result in results:
        assert result.violations == [], result.violations[:5]
        assert result.stream_tasks == 0
        assert result.open_connections == result.pooled_connections
        # every kind of outcome happened in every wave
        assert result.outcomes["ok"] > 0
        assert result.outcomes["left early"] > 0
        assert result.errors["StreamInterrupted"] > 0
        assert result.errors["Overloaded"] > 0
        read_to_end = sum(n for k, n in result.outcomes.items() if k != "left early")
        assert read_to_end + result.outcomes["left early"] == CONCURRENCY
    assert traced[1] - traced[0] < FLAT, traced
    # the runtime closed: the servers saw every connection go
    for _ in range(2000):
        if all(s.open_connections == 0 for s in servers):
            break
        await trio.sleep(0.001)
    assert [s.open_connections for s in servers] == [0, 0, 0]
    assert sum(s.total_connections for s in servers) > 0


BURST = 400


async def test_the_embedded_server_queues_a_burst_of_connects() -> None:
    """A burst of connects while the server's loop is busy must all be queued.

    The kernel completes a TCP handshake for the server as long as the
    listen backlog has room; past it, SYNs are dropped and the client waits
    for a retransmit (1 s, 3 s, ...), then times out or is reset. Here the
    test holds the trio loop (plain non-blocking stdlib sockets, no
    checkpoint), so the server cannot accept: every one of ``BURST`` connects
    must complete from the backlog alone. With a backlog of 128 the soak at
    1,000 concurrent streams saw connection resets and connect timeouts.
    """
    from synapsis_actors.embedded import open_embedded_provider

    async with open_embedded_provider() as server:
        sockets = []
        try:
            for _ in range(BURST):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", server.port))
                sockets.append(sock)
            pending = {sock.fileno(): sock for sock in sockets}
            poller = select.poll()
            for fd in pending:
                poller.register(fd, select.POLLOUT)
            connected = 0
            # bounded: 10 polls of 50 ms; a dropped SYN is retransmitted only after 1 s
            for _ in range(10):
                for fd, _event in poller.poll(50):
                    poller.unregister(fd)
                    connected += pending[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                if connected == BURST:
                    break
            assert connected == BURST
        finally:
            for sock in sockets:
                sock.close()
        # the server then accepts every one of them
        for _ in range(5000):
            if server.total_connections >= BURST:
                break
            await trio.sleep(0)
        assert server.total_connections >= BURST
