"""CPU per SSE event: our SSEDecoder vs httpx-sse's decoders.

Usage: python scripts/bench_sse.py [FIXTURES_DIR]

Both decoders get the same bodies cut in the same chunks (the sizes a TCP
read typically returns: 64 B .. 4 KiB). httpx-sse works on text lines, so its
path here is what ``aiter_sse`` does: an incremental UTF-8 decoder,
``SSELineDecoder`` to split lines, ``SSEDecoder.decode`` per line. Without
the shared captured streams a synthetic Anthropic-like body is used.
"""

from __future__ import annotations

import codecs
import json
import random
import sys
import time
from pathlib import Path

from httpx_sse._decoders import SSEDecoder as HxDecoder
from httpx_sse._decoders import SSELineDecoder

from synapsis_actors.wire.sse import SSEDecoder


def synthetic() -> list[bytes]:
    events = []
    for i in range(2000):
        payload = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": f"token {i} ünïcode "},
        }
        events.append(f"event: content_block_delta\ndata: {json.dumps(payload)}\n\n")
    return ["".join(events).encode()]


def bodies(folder: Path | None) -> list[bytes]:
    if folder is None or not folder.is_dir():
        return synthetic()
    return [p.read_bytes() for p in sorted(folder.rglob("*.sse"))]


def chunked(body: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(body):
        n = rng.choice((64, 256, 1024, 4096))
        out.append(body[i : i + n])
        i += n
    return out


def ours(chunks: list[bytes]) -> int:
    dec = SSEDecoder()
    n = 0
    for c in chunks:
        n += len(dec.feed(c))
    return n + len(dec.close())


def httpx_sse(chunks: list[bytes]) -> int:
    text = codecs.getincrementaldecoder("utf-8")("replace")
    lines = SSELineDecoder()
    dec = HxDecoder()
    n = 0
    for c in chunks:
        for line in lines.decode(text.decode(c)):
            if dec.decode(line) is not None:
                n += 1
    for line in lines.flush():
        if dec.decode(line) is not None:
            n += 1
    return n


def measure(fn: object, streams: list[list[bytes]], repeat: int) -> tuple[float, int]:
    best = float("inf")
    events = 0
    for _ in range(repeat):
        t0 = time.process_time()
        events = sum(fn(s) for s in streams)  # type: ignore[operator]
        best = min(best, time.process_time() - t0)
    return best, events


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    rng = random.Random(7)
    streams = [chunked(b, rng) for b in bodies(folder)] * 5
    size = sum(len(c) for s in streams for c in s)
    print(f"{len(streams)} streams, {size / 1e6:.1f} MB")
    results = {}
    for name, fn in (
        ("synapsis feed", ours),
        ("httpx-sse", httpx_sse),
    ):
        secs, events = measure(fn, streams, repeat=7)
        results[name] = secs / events
        print(
            f"{name:18s} {events:6d} events  {secs * 1e3:7.1f} ms"
            f"  {secs / events * 1e6:6.2f} us/event"
        )
    ratio = results["httpx-sse"] / results["synapsis feed"]
    print(f"httpx-sse / synapsis feed = {ratio:.2f}x")


if __name__ == "__main__":
    main()
