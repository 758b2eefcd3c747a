"""Helpers for the embedded provider's tests: a plain httpx client and an SSE splitter.

The tests talk to the real server over real loopback sockets with plain
httpx (on trio through anyio); nothing of the library's client side is used,
so these tests prove the server alone.
"""

from __future__ import annotations

import json
from typing import Any

ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test-secret", "anthropic-version": "2023-06-01"}
OPENAI_HEADERS = {"authorization": "Bearer sk-openai-test-secret"}


def chat_body(prompt: str = "Hello there", *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "model": "test-model",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
        **extra,
    }


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """Split an SSE body (LF line endings, as the server writes) into (event, data) pairs."""
    out: list[tuple[str | None, str]] = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        if data:
            out.append((name, "\n".join(data)))
    return out


def json_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an SSE body, ``[DONE]`` left out."""
    return [json.loads(data) for _, data in sse_events(raw) if data != "[DONE]"]
