"""CPU per SSE event: our provider decoders vs the official SDKs' stream helpers.

Usage: python scripts/bench_decoders.py [FIXTURES_DIR]

Each side reads the same bodies through an ``httpx`` client over an
in-memory transport (``httpx.MockTransport``, 4 KiB pieces), so both pay the
same HTTP client cost (httpx for us; httpx2, the fork the SDKs
now ship with, for them) and no network: ours = ``client.stream`` +
``decoder.feed`` + ``decoder.message()``; Anthropic = ``messages.stream()`` +
``get_final_message()``; OpenAI = ``chat.completions.stream()`` consumed to
the end (its ``ChatCompletionStreamState`` snapshot). Without the shared
captured streams, synthetic streams are used.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2  # type: ignore[import-not-found]
import openai

from synapsis_actors.model.config import ProviderConfig
from synapsis_actors.model.request import Message, Request
from synapsis_actors.wire import get_provider


def synthetic_anthropic() -> bytes:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "x",
                "content": [],
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": f"w{i} "},
            }
            for i in range(500)
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 500},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def synthetic_openai() -> bytes:
    chunks = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "x",
            "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}],
        }
        for i in range(500)
    ]
    chunks[-1]["choices"][0]["finish_reason"] = "stop"
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()


def bodies(folder: Path | None, kind: str) -> list[bytes]:
    if folder is None or not folder.is_dir():
        return [synthetic_anthropic() if kind == "anthropic" else synthetic_openai()]
    sub = "anthropic" if kind == "anthropic" else "openai"
    return [p.read_bytes() for p in sorted((folder / sub).glob("*.sse"))]


def count_events(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line.startswith(b"data:"))


def transport(body: bytes, http: Any = httpx) -> Any:
    """An in-memory transport of ``http`` (httpx, or httpx2 which the SDKs now use)."""

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "text/event-stream"}, content=pieces())

    return http.MockTransport(handler)


def ours(kind: str) -> Callable[[bytes], None]:
    config = ProviderConfig(kind=kind, base_url="http://bench.invalid", api_key="k")
    provider = get_provider(config)
    request = provider.build_request(config, Request(model="m", messages=[Message.user("hi")]))

    def run(body: bytes) -> None:
        with (
            httpx.Client(transport=transport(body)) as client,
            client.stream(
                request.method, request.url, headers=request.headers, json=request.json
            ) as response,
        ):
            decoder = provider.decoder(ref=1)
            for data in response.iter_raw():
                decoder.feed(data)
            decoder.close()
            decoder.message()

    return run


def sdk_anthropic(body: bytes) -> None:
    with httpx2.Client(transport=transport(body, httpx2)) as http:
        client = anthropic.Anthropic(base_url="http://bench.invalid", api_key="k", http_client=http)
        with client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            s.get_final_message()


def sdk_openai(body: bytes) -> None:
    with httpx2.Client(transport=transport(body, httpx2)) as http:
        client = openai.OpenAI(base_url="http://bench.invalid/v1", api_key="k", http_client=http)
        with client.chat.completions.stream(
            model="m", messages=[{"role": "user", "content": "hi"}]
        ) as s:
            for _ in s:
                pass


def measure(fn: Callable[[bytes], None], streams: list[bytes], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for body in streams:
            fn(body)
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    for kind, sdk in (("anthropic", sdk_anthropic), ("openai", sdk_openai)):
        streams = bodies(folder, kind)
        events = sum(count_events(b) for b in streams)
        t_ours = measure(ours(kind), streams)
        t_sdk = measure(sdk, streams)
        print(
            f"{kind:9s} {events:6d} events  ours {t_ours / events * 1e6:6.2f} us/event"
            f"  sdk {t_sdk / events * 1e6:6.2f} us/event  ratio {t_ours / t_sdk:.3f}"
        )


if __name__ == "__main__":
    main()
