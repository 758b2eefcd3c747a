"""Captured real streams (shared fixtures, absent in a fresh clone) replayed byte for byte.

The same property is proven on streams the project writes itself in
test_faults.py (``RawReply`` with chunk sizes); this adds the real captures.
"""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from synapsis_actors.embedded import RawReply, open_embedded_provider

from ._helpers import chat_body


@pytest.mark.fixtures
async def test_every_captured_stream_replays_exactly_in_random_chunks(
    sse_fixtures_dir: Path,
) -> None:
    files = sorted(sse_fixtures_dir.rglob("*.sse"))
    assert files
    rng = random.Random(1234)
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        for path in files:
            body = path.read_bytes()
            sizes = tuple(rng.randint(1, 700) for _ in range(rng.randint(0, 12)))
            server.enqueue(RawReply(body, chunk_sizes=sizes))
            response = await client.post(server.base_url + "/v1/messages", json=chat_body())
            assert response.content == body, path.name
    assert [r.outcome for r in server.responses] == ["complete"] * len(files)
