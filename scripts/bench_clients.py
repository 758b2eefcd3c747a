"""The benchmark clients, each run in a fresh subprocess by ``scripts/bench.py``.

``python scripts/bench_clients.py '<job json>'`` pins itself to a core, runs
one scenario with one client against the bench server, and prints one JSON
line (the result) on stdout. Nothing heavy is imported before the client's
own imports, so the ``import`` scenario measures exactly the library.

Every client does the same work per SSE event: parse the event, pick out the
text delta, count it (and hand it to ``on_text`` in the scenarios that need
the text), and recognise the end of the stream. Clients:

* ``synapsis``: this library's ``open_runtime`` / ``open_stream`` (typed
  events, the accumulated message in the final ``ProviderDone``); trio.
* ``httpx_trio``: bare httpx on trio: ``aiter_raw`` + split lines +
  ``json.loads`` per event. The floor for anything built on httpx.
* ``trio_socket``: a hand-written HTTP/1.1 + chunked + SSE client on trio
  sockets. The floor for Python on trio.
* ``anthropic_raw`` / ``anthropic_stream``: the official SDK's raw events
  (``messages.create(stream=True)``) and its accumulating
  ``messages.stream()``; asyncio. Anthropic shape only.
* ``openai_raw`` / ``openai_stream``: the official SDK's
  ``chat.completions.create(stream=True)`` and its accumulating
  ``chat.completions.stream()``; asyncio. OpenAI shape only.
* ``litellm``: ``litellm.acompletion(stream=True)``; asyncio.
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

OnText = Callable[[str], None] | None
# One request: (model spec, on_text) -> (text deltas received, stream ended with its done).
OneStream = Callable[[str, OnText], Awaitable[tuple[int, bool]]]

HOST = "127.0.0.1"
PROMPT = "Write a long story."


def _anthropic_body(model: str) -> bytes:
    return json.dumps(
        {
            "model": model,
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
        }
    ).encode()


def _openai_body(model: str) -> bytes:
    return json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()


def scan(lines: list[bytes], anthropic: bool, on_text: OnText) -> tuple[int, bool]:
    """The floors' per-event work on complete SSE lines: ``json.loads`` each data line,
    pick out the text delta, spot the end. Returns (text deltas, end seen)."""
    n = 0
    done = False
    loads = json.loads
    for line in lines:
        if not line.startswith(b"data: "):
            continue
        payload = line[6:]
        if payload == b"[DONE]":
            done = True
            continue
        obj = loads(payload)
        if anthropic:
            kind = obj["type"]
            if kind == "content_block_delta":
                n += 1
                if on_text is not None:
                    on_text(obj["delta"]["text"])
            elif kind == "message_stop":
                done = True
        else:
            choices = obj["choices"]
            if choices:
                text = choices[0]["delta"].get("content")
                if text:
                    n += 1
                    if on_text is not None:
                        on_text(text)
    return n, done


# ====================================================================== clients


class Client:
    """A client: ``load()`` imports its library, ``session()`` yields a ``OneStream``."""

    loop = "trio"
    shapes: tuple[str, ...] = ("anthropic", "openai")

    def __init__(self, shape: str, port: int, transport: str = "plain", ca: str = "") -> None:
        self.shape = shape
        self.port = port
        self.transport = transport
        self.ca = ca
        self.http2 = transport == "h2"
        self.origin = f"{'http' if transport == 'plain' else 'https'}://{HOST}:{port}"

    def ssl_context(self, alpn: list[str] | None = None) -> Any:
        """A context trusting the bench CA (None over plaintext)."""
        if self.transport == "plain":
            return None
        import ssl

        context = ssl.create_default_context(cafile=self.ca)
        if alpn:
            context.set_alpn_protocols(alpn)
        return context

    def load(self) -> None:
        raise NotImplementedError

    def session(self) -> Any:  # an async context manager yielding a OneStream
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        return {}


class Synapsis(Client):
    def load(self) -> None:
        import synapsis_actors

        self.sa = synapsis_actors

    @asynccontextmanager
    async def session(self) -> AsyncIterator[OneStream]:
        from synapsis_actors import (
            Message,
            ProviderChunk,
            ProviderConfig,
            Request,
            TextDelta,
            open_runtime,
            open_stream,
        )

        base = self.origin if self.shape == "anthropic" else self.origin + "/v1"
        async with open_runtime() as rt:
            config = ProviderConfig(
                kind=self.shape,
                base_url=base,
                api_key="x",
                http2=self.http2,
                **({"verify": self.ca} if self.ca else {}),
            )
            await rt.providers.register("bench", config)

            async def one(model: str, on_text: OnText) -> tuple[int, bool]:
                request = Request(model=model, messages=[Message.user(PROMPT)], max_tokens=4096)
                n = 0
                done = False
                async with open_stream(rt, "bench", request) as stream:
                    async for msg in stream:
                        if isinstance(msg, ProviderChunk):
                            event = msg.event
                            if isinstance(event, TextDelta):
                                n += 1
                                if on_text is not None:
                                    on_text(event.text)
                        else:
                            done = msg.error is None and bool(msg.message.text)
                return n, done

            yield one

    def versions(self) -> dict[str, str]:
        return {"synapsis-actors": self.sa.__version__}


def _httpx_limits() -> Any:
    import httpx

    # No pool cap: the scenarios open up to a few thousand streams at once.
    return httpx.Limits(max_connections=None, max_keepalive_connections=None)


class HttpxTrio(Client):
    def load(self) -> None:
        import httpx
        import trio

        self.httpx = httpx
        self.trio = trio

    @asynccontextmanager
    async def session(self) -> AsyncIterator[OneStream]:
        httpx = self.httpx
        anthropic = self.shape == "anthropic"
        if anthropic:
            url = self.origin + "/v1/messages"
            make_body = _anthropic_body
            headers = {
                "content-type": "application/json",
                "x-api-key": "x",
                "anthropic-version": "2023-06-01",
            }
        else:
            url = self.origin + "/v1/chat/completions"
            make_body = _openai_body
            headers = {"content-type": "application/json", "authorization": "Bearer x"}
        async with httpx.AsyncClient(
            limits=_httpx_limits(),
            timeout=httpx.Timeout(120.0),
            http2=self.http2,
            verify=self.ssl_context() or True,
        ) as client:

            async def one(model: str, on_text: OnText) -> tuple[int, bool]:
                n = 0
                done = False
                async with client.stream(
                    "POST", url, content=make_body(model), headers=headers
                ) as response:
                    response.raise_for_status()
                    buf = b""
                    async for raw in response.aiter_raw():
                        buf += raw
                        lines = buf.split(b"\n")
                        buf = lines.pop()
                        got, end = scan(lines, anthropic, on_text)
                        n += got
                        done = done or end
                return n, done

            yield one

    def versions(self) -> dict[str, str]:
        return {"httpx": self.httpx.__version__, "trio": self.trio.__version__}


class TrioSocket(Client):
    """HTTP/1.1 by hand on trio sockets: keep-alive pool, chunked decoding, SSE lines."""

    def load(self) -> None:
        import trio

        self.trio = trio

    @asynccontextmanager
    async def session(self) -> AsyncIterator[OneStream]:
        trio = self.trio
        anthropic = self.shape == "anthropic"
        path = "/v1/messages" if anthropic else "/v1/chat/completions"
        make_body = _anthropic_body if anthropic else _openai_body
        auth = (
            "x-api-key: x\r\nanthropic-version: 2023-06-01"
            if anthropic
            else "authorization: Bearer x"
        )
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {HOST}:{self.port}\r\n{auth}\r\n"
            "content-type: application/json\r\naccept: text/event-stream\r\ncontent-length: "
        ).encode()
        idle: list[Any] = []

        async def one(model: str, on_text: OnText) -> tuple[int, bool]:
            body = make_body(model)
            stream = idle.pop() if idle else await self.connect()
            n = 0
            done = False
            finished = False
            try:
                await stream.send_all(head + b"%d\r\n\r\n" % len(body) + body)
                raw = bytearray()
                while (end := raw.find(b"\r\n\r\n")) < 0:
                    data = await stream.receive_some(65536)
                    if not data:
                        raise ConnectionError("server closed before the response head")
                    raw += data
                status = raw[9:12]
                if status != b"200":
                    raise ConnectionError(f"status {status.decode()}")
                del raw[: end + 4]
                text_buf = b""  # the decoded body not yet split into lines
                while not finished:
                    # decode every complete chunk in raw
                    pos = 0
                    parts = []
                    while True:
                        eol = raw.find(b"\r\n", pos)
                        if eol < 0:
                            break
                        size = int(raw[pos:eol], 16)
                        if size == 0:
                            finished = True
                            pos = eol + 4
                            break
                        stop = eol + 2 + size
                        if stop + 2 > len(raw):
                            break
                        parts.append(bytes(raw[eol + 2 : stop]))
                        pos = stop + 2
                    del raw[:pos]
                    if parts:
                        lines = (text_buf + b"".join(parts)).split(b"\n")
                        text_buf = lines.pop()
                        got, end = scan(lines, anthropic, on_text)
                        n += got
                        done = done or end
                    if not finished:
                        data = await stream.receive_some(65536)
                        if not data:
                            raise ConnectionError("server closed mid-stream")
                        raw += data
            finally:
                if finished:
                    idle.append(stream)
                else:  # cancelled or failed: the connection is in an unknown state
                    await trio.aclose_forcefully(stream)
            return n, done

        try:
            yield one
        finally:
            for stream in idle:
                await trio.aclose_forcefully(stream)

    async def connect(self) -> Any:
        """A new connection: TCP, or trio's SSLStream over it (one TLS record per read)."""
        trio = self.trio
        if self.transport == "plain":
            return await trio.open_tcp_stream(HOST, self.port)
        return await trio.open_ssl_over_tcp_stream(
            HOST, self.port, ssl_context=self.ssl_context(["http/1.1"]), https_compatible=True
        )

    def versions(self) -> dict[str, str]:
        return {"trio": self.trio.__version__}


class TrioTLSDrain(TrioSocket):
    """The TLS floor: the hand-written client over TLS done by hand, where each read
    decrypts every TLS record the socket returned (trio's SSLStream returns one
    record per ``receive_some``)."""

    async def connect(self) -> Any:
        tcp = await self.trio.open_tcp_stream(HOST, self.port)
        stream = _DrainingTLS(tcp, self.ssl_context(["http/1.1"]))
        await stream.handshake()
        return stream


class _DrainingTLS:
    """TLS over a trio TCP stream with ``ssl.MemoryBIO``: one socket read, every record decoded."""

    def __init__(self, tcp: Any, context: Any) -> None:
        import ssl

        self.ssl = ssl
        self.tcp = tcp
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=HOST)

    async def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except self.ssl.SSLWantReadError:
                await self._flush()
                data = await self.tcp.receive_some(65536)
                if not data:
                    raise ConnectionError("server closed during the TLS handshake") from None
                self.incoming.write(data)
        await self._flush()

    async def _flush(self) -> None:
        out = self.outgoing.read()
        if out:
            await self.tcp.send_all(out)

    async def send_all(self, data: bytes) -> None:
        self.tls.write(data)
        await self._flush()

    async def receive_some(self, _max: int) -> bytes:
        ssl = self.ssl
        while True:
            data = await self.tcp.receive_some(65536)
            if not data:
                return b""
            self.incoming.write(data)
            parts = []
            while True:
                try:
                    parts.append(self.tls.read(65536))
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    break
            if self.outgoing.pending:
                await self._flush()
            if parts:
                return b"".join(parts)

    async def aclose(self) -> None:
        await self.tcp.aclose()


class SDKClient(Client):
    """An official SDK (asyncio): its async client with an uncapped httpx pool, no retries.

    ``accumulate`` picks the SDK's accumulating helper over its raw event stream.
    """

    loop = "asyncio"
    module = ""
    accumulate = False

    def load(self) -> None:
        self.sdk = importlib.import_module(self.module)

    def make_client(self, cls: str, base_url: str) -> Any:
        return getattr(self.sdk, cls)(
            base_url=base_url,
            api_key="x",
            max_retries=0,
            http_client=self.sdk.DefaultAsyncHttpxClient(
                limits=_httpx_limits(), http2=self.http2, verify=self.ssl_context() or True
            ),
        )

    def versions(self) -> dict[str, str]:
        return {self.module: self.sdk.__version__}


class AnthropicRaw(SDKClient):
    shapes = ("anthropic",)
    module = "anthropic"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[OneStream]:
        client = self.make_client("AsyncAnthropic", self.origin)
        messages = [{"role": "user", "content": PROMPT}]

        async def raw(model: str, on_text: OnText) -> tuple[int, bool]:
            n = 0
            done = False
            stream = await client.messages.create(
                model=model, max_tokens=4096, messages=messages, stream=True
            )
            async with stream:
                async for event in stream:
                    kind = event.type
                    if kind == "content_block_delta":
                        n += 1
                        if on_text is not None:
                            on_text(event.delta.text)
                    elif kind == "message_stop":
                        done = True
            return n, done

        async def accumulating(model: str, on_text: OnText) -> tuple[int, bool]:
            n = 0
            async with client.messages.stream(
                model=model, max_tokens=4096, messages=messages
            ) as stream:
                async for event in stream:
                    if event.type == "text":
                        n += 1
                        if on_text is not None:
                            on_text(event.text)
                final = await stream.get_final_message()
            return n, final.stop_reason == "end_turn" and bool(final.content)

        async with client:
            yield accumulating if self.accumulate else raw


class AnthropicStream(AnthropicRaw):
    accumulate = True


class OpenAIRaw(SDKClient):
    shapes = ("openai",)
    module = "openai"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[OneStream]:
        client = self.make_client("AsyncOpenAI", self.origin + "/v1")
        messages = [{"role": "user", "content": PROMPT}]
        options = {"include_usage": True}

        async def raw(model: str, on_text: OnText) -> tuple[int, bool]:
            n = 0
            done = False
            stream = await client.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options=options
            )
            async with stream:
                async for chunk in stream:
                    if chunk.choices:
                        choice = chunk.choices[0]
                        text = choice.delta.content
                        if text:
                            n += 1
                            if on_text is not None:
                                on_text(text)
                        if choice.finish_reason:
                            done = True
            return n, done

        async def accumulating(model: str, on_text: OnText) -> tuple[int, bool]:
            n = 0
            async with client.chat.completions.stream(
                model=model, messages=messages, stream_options=options
            ) as stream:
                async for event in stream:
                    if event.type == "content.delta" and event.delta:
                        n += 1
                        if on_text is not None:
                            on_text(event.delta)
                final = await stream.get_final_completion()
            choice = final.choices[0]
            return n, choice.finish_reason == "stop" and bool(choice.message.content)

        async with client:
            yield accumulating if self.accumulate else raw


class OpenAIStream(OpenAIRaw):
    accumulate = True


class LiteLLM(Client):
    loop = "asyncio"

    def load(self) -> None:
        # Keep LiteLLM off the network: bundled cost map and headers, and any
        # URL it would fetch by itself pointed at a closed loopback port.
        for key in (
            "LITELLM_OFFLINE_MODE",
            "LITELLM_LOCAL_MODEL_COST_MAP",
            "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
        ):
            os.environ[key] = "True"
        for key in (
            "LITELLM_MODEL_COST_MAP_URL",
            "LITELLM_BLOG_POSTS_URL",
            "LITELLM_ANTHROPIC_BETA_HEADERS_URL",
            "LITELLM_AUTOROUTER_PRESETS_URL",
        ):
            os.environ[key] = "http://127.0.0.1:9/"
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        self.litellm = litellm

    @asynccontextmanager
    async def session(self) -> AsyncIterator[OneStream]:
        litellm = self.litellm
        base = self.origin if self.shape == "anthropic" else self.origin + "/v1"
        messages = [{"role": "user", "content": PROMPT}]

        async def one(model: str, on_text: OnText) -> tuple[int, bool]:
            n = 0
            done = False
            response = await litellm.acompletion(
                model=f"{self.shape}/{model}",
                messages=messages,
                stream=True,
                api_base=base,
                api_key="x",
                max_tokens=4096,
                max_retries=0,
            )
            try:
                async for chunk in response:
                    choice = chunk.choices[0]
                    text = choice.delta.content
                    if text:
                        n += 1
                        if on_text is not None:
                            on_text(text)
                    if choice.finish_reason:
                        done = True
            finally:
                close = getattr(response, "aclose", None)
                if close is not None:
                    await close()
            return n, done

        yield one

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"litellm": version("litellm")}


CLIENTS: dict[str, type[Client]] = {
    "synapsis": Synapsis,
    "httpx_trio": HttpxTrio,
    "trio_socket": TrioSocket,
    "trio_tls_drain": TrioTLSDrain,
    "anthropic_raw": AnthropicRaw,
    "anthropic_stream": AnthropicStream,
    "openai_raw": OpenAIRaw,
    "openai_stream": OpenAIStream,
    "litellm": LiteLLM,
}


# ====================================================================== scenarios


def spec(n: int, *, pace: float = 0, stamp: bool = False, id: str = "") -> str:
    # The same encoding as bench_server.make_spec, repeated so the client
    # process imports nothing of the server's.
    model = f"bench:n={n}:pace={pace:g}:stamp={int(stamp)}"
    return f"{model}:id={id}" if id else model


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class Meter:
    """CPU and wall time of a measured section, and the process's peak RSS."""

    def __enter__(self) -> Meter:
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self.cpu0
        self.wall = time.perf_counter() - self.wall0


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Ladder:
    """The sustained scenario's stream counts: step up until a step fails, then bisect.

    Iterate for the next count, then ``record(step)``; ``max_streams`` is the
    largest count that passed (0 if none). After the first failure, up to
    ``refine`` more steps bisect between the last pass and the failure.
    """

    def __init__(self, p: dict[str, Any]) -> None:
        self.steps_up = list(p["steps"])
        self.limit_ms = p["limit_ms"]
        self.refine = p.get("refine", 2)
        self.steps: list[dict[str, Any]] = []
        self.max_streams = 0
        self.failed: int | None = None

    def __iter__(self) -> Iterator[int]:
        for k in self.steps_up:
            yield k
            if self.failed is not None:
                break
        for _ in range(self.refine):
            if self.failed is None or self.failed - self.max_streams <= max(
                2, self.max_streams // 10
            ):
                return
            yield (self.max_streams + self.failed) // 2

    def record(self, step: dict[str, Any]) -> None:
        self.steps.append(step)
        if step["p99_ms"] <= self.limit_ms:
            self.max_streams = max(self.max_streams, step["streams"])
        else:
            self.failed = (
                step["streams"] if self.failed is None else min(self.failed, step["streams"])
            )


class GcWatch:
    """The garbage collector's pauses during a section: (generation, start, ms) each.

    A full (generation 2) collection traverses every tracked object of the
    process, the imported packages' included: tens of ms here, long enough to
    fail a sustained step by itself when it lands in the counted window. The
    ladder reports them so a failed step says whether one did.
    """

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float, float]] = []
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._start = now
        else:
            self.pauses.append((info["generation"], self._start, (now - self._start) * 1000))

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


class Rung:
    """One step of the sustained ladder: ``k`` stamped streams and their delivery delays."""

    def __init__(self, k: int, n: int) -> None:
        self.k = k
        self.n = n  # deltas per stream
        self.ready = 0
        self.t_ready = 0.0  # when the last of the k streams got its first delta
        self.t_first_end = math.inf  # when the first stream got its last delta
        self.samples: list[tuple[float, float]] = []  # (server stamp, delay)
        self.gc = GcWatch()

    def on_text(self) -> Callable[[str], None]:
        """A fresh per-stream callback: records each delta's delay."""
        count = 0
        samples = self.samples

        def on_text(text: str) -> None:
            nonlocal count
            now = time.monotonic()
            stamp = float(text)
            samples.append((stamp, now - stamp))
            count += 1
            if count == 1:
                self.ready += 1
                if self.ready == self.k:
                    self.t_ready = now
            if count == self.n and now < self.t_first_end:
                self.t_first_end = now

        return on_text

    def summary(self, m: Meter, p: dict[str, Any]) -> dict[str, Any]:
        """Delay percentiles of the deltas sent while all k streams were open.

        From the warm-up after the last stream started until the first stream
        got its last delta: the ramp-up (k requests and handshakes at once)
        and the wind-down (k streams finishing at once, then fewer than k
        open) are not k streams *sustained*. ``p99_all_ms`` counts every
        delta after the warm-up, the wind-down included.
        """
        start = self.t_ready + p["warmup"]
        window = [d * 1000 for s, d in self.samples if start <= s < self.t_first_end]
        after = [d * 1000 for s, d in self.samples if s >= start]
        full = [ms for gen, t, ms in self.gc.pauses if gen == 2 and start <= t < self.t_first_end]
        return {
            "streams": self.k,
            "p50_ms": _percentile(window, 50),
            "p90_ms": _percentile(window, 90),
            "p99_ms": _percentile(window, 99),
            "max_ms": max(window, default=float("nan")),
            "p99_all_ms": _percentile(after, 99),
            "samples": len(window),
            "gc_full": len(full),
            "gc_full_max_ms": max(full, default=0.0),
            "cpu_s": m.cpu,
            "wall_s": m.wall,
        }


def settle() -> None:
    """Collect the garbage that imports and client setup left, then freeze what is left.

    A large import leaves many objects waiting for a full collection; which
    client's measured section that collection falls in is luck of the phase
    (one of 12.6 ms landed in our 300 sequential requests and none in bare
    httpx's: 0.04 ms per request). Collecting first charges it to no one.

    What survives (the imported packages, the client) is then frozen
    (``gc.freeze()``, what a latency-minded service does after start-up):
    full collections during the measured work still happen, as often as that
    work makes them, but walk only the objects it created, not the import
    heap. Unfrozen, every full collection walks the whole heap, 20 ms here
    for this library's ~46,000 objects and ~90 ms for the anthropic SDK's
    ~170,000, long enough alone to fail a sustained step's 20 ms p99 in the
    2-s window it lands in: in a paired A/B (3 runs each, HTTP/2) every one
    of this library's ladders stopped at 137 streams, the step of 150 failed
    by a 29-36 ms full collection, against 162-200 frozen; the SDK's went
    from 43-50 to 50-62 streams.
    """
    gc.collect()
    gc.freeze()


async def trio_scenario(one: OneStream, scenario: str, p: dict[str, Any]) -> dict[str, Any]:
    """Run ``scenario`` with params ``p`` under trio; returns the measured numbers."""
    import trio

    settle()

    results: list[tuple[int, bool]] = []

    async def run_one(model: str, on_text: OnText = None) -> None:
        results.append(await one(model, on_text))

    if scenario in ("burst", "concurrent", "paced"):
        model = spec(p["n"], pace=p.get("pace", 0))
        with Meter() as m:
            async with trio.open_nursery() as nursery:
                for _ in range(p["streams"]):
                    nursery.start_soon(run_one, model)
        return _summary(results, m, p)
    if scenario == "sequential":
        model = spec(p["n"])
        with Meter() as m:
            for _ in range(p["requests"]):
                await run_one(model)
        return _summary(results, m, p, per_request=p["requests"])
    if scenario == "cancel":
        count = p["streams"]
        ready = [trio.Event() for _ in range(count)]
        scopes = [trio.CancelScope() for _ in range(count)]
        leaves: dict[str, float] = {}

        async def held(i: int) -> None:
            def on_text(_text: str) -> None:
                ready[i].set()

            with scopes[i]:
                await one(spec(10**7, pace=1, id=f"{p['run']}-{i}"), on_text)

        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(held, i)
            with trio.move_on_after(p["timeout"]):
                for event in ready:
                    await event.wait()
            started = sum(event.is_set() for event in ready)
            if started < count:
                raise TimeoutError(f"{started} of {count} streams started in {p['timeout']:g} s")
            for i in range(count):
                leaves[f"{p['run']}-{i}"] = time.monotonic()
                scopes[i].cancel()
                await trio.sleep(p["gap"])
        return {"leaves": leaves, "streams": count, "maxrss_kib": _maxrss_kib()}
    if scenario == "recancel":
        # What a cancel costs the next request: over HTTP/1.1 the cancelled
        # stream's connection is closed, so the next request opens (TCP, TLS)
        # a new one; over HTTP/2 the stream is reset and the connection reused.
        await run_one(spec(p["n"]))  # warm: one connection open and idle
        after_ms: list[float] = []
        for i in range(p["rounds"]):
            got_first = trio.Event()

            def on_text(_text: str, got_first: Any = got_first) -> None:
                got_first.set()

            async with trio.open_nursery() as nursery:
                scope = trio.CancelScope()

                async def held(scope: Any = scope, on_text: Any = on_text, i: int = i) -> None:
                    with scope:
                        await one(spec(10**7, pace=10, id=f"{p['run']}-{i}"), on_text)

                nursery.start_soon(held)
                await got_first.wait()
                scope.cancel()
            t0 = time.perf_counter()
            await run_one(spec(p["n"]))
            after_ms.append((time.perf_counter() - t0) * 1000)
        return {
            "streams": len(results),
            "done": sum(1 for _, ok in results if ok),
            "next_request_ms": _percentile(after_ms, 50),
            "next_request_p90_ms": _percentile(after_ms, 90),
            "maxrss_kib": _maxrss_kib(),
        }
    if scenario == "sustained":
        ladder = Ladder(p)
        model = spec(p["n"], pace=p["pace"], stamp=True)
        for k in ladder:
            rung = Rung(k, p["n"])
            with Meter() as m, rung.gc:
                async with trio.open_nursery() as nursery:
                    for _ in range(k):
                        nursery.start_soon(run_one, model, rung.on_text())
            ladder.record(rung.summary(m, p))
        return _sustained_summary(ladder, results)
    raise ValueError(f"unknown scenario {scenario!r}")


async def asyncio_scenario(one: OneStream, scenario: str, p: dict[str, Any]) -> dict[str, Any]:
    """The same scenarios as ``trio_scenario``, under asyncio."""
    import asyncio

    settle()

    results: list[tuple[int, bool]] = []

    if scenario in ("burst", "concurrent", "paced"):
        model = spec(p["n"], pace=p.get("pace", 0))
        with Meter() as m:
            results = list(await asyncio.gather(*(one(model, None) for _ in range(p["streams"]))))
        return _summary(results, m, p)
    if scenario == "sequential":
        model = spec(p["n"])
        with Meter() as m:
            for _ in range(p["requests"]):
                results.append(await one(model, None))
        return _summary(results, m, p, per_request=p["requests"])
    if scenario == "cancel":
        count = p["streams"]
        ready = [asyncio.Event() for _ in range(count)]
        leaves: dict[str, float] = {}

        def starter(i: int) -> Awaitable[tuple[int, bool]]:
            return one(spec(10**7, pace=1, id=f"{p['run']}-{i}"), lambda _t: ready[i].set())

        tasks = [asyncio.ensure_future(starter(i)) for i in range(count)]
        try:
            async with asyncio.timeout(p["timeout"]):
                for event in ready:
                    await event.wait()
        except TimeoutError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            started = sum(event.is_set() for event in ready)
            raise TimeoutError(
                f"{started} of {count} streams started in {p['timeout']:g} s"
            ) from None
        for i, task in enumerate(tasks):
            leaves[f"{p['run']}-{i}"] = time.monotonic()
            task.cancel()
            await asyncio.sleep(p["gap"])
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"leaves": leaves, "streams": count, "maxrss_kib": _maxrss_kib()}
    if scenario == "sustained":
        ladder = Ladder(p)
        model = spec(p["n"], pace=p["pace"], stamp=True)
        for k in ladder:
            rung = Rung(k, p["n"])
            with Meter() as m, rung.gc:
                results += await asyncio.gather(*(one(model, rung.on_text()) for _ in range(k)))
            ladder.record(rung.summary(m, p))
        return _sustained_summary(ladder, results)
    raise ValueError(f"unknown scenario {scenario!r}")


def _summary(
    results: list[tuple[int, bool]], m: Meter, p: dict[str, Any], per_request: int = 0
) -> dict[str, Any]:
    events = sum(n for n, _ in results)
    out: dict[str, Any] = {
        "streams": len(results),
        "done": sum(1 for _, ok in results if ok),
        "events": events,
        "expected_events": p["n"] * len(results),
        "cpu_s": m.cpu,
        "wall_s": m.wall,
        "cpu_us_per_event": m.cpu / events * 1e6 if events else float("nan"),
        "maxrss_kib": _maxrss_kib(),
    }
    if per_request:
        out["ms_per_request"] = m.wall / per_request * 1000
        out["cpu_ms_per_request"] = m.cpu / per_request * 1000
    return out


def _sustained_summary(ladder: Ladder, results: list[tuple[int, bool]]) -> dict[str, Any]:
    return {
        "steps": ladder.steps,
        "max_streams": ladder.max_streams,
        "streams": len(results),
        "done": sum(1 for _, ok in results if ok),
        "maxrss_kib": _maxrss_kib(),
    }


# ====================================================================== entry point


def run_task(
    client: Client, scenario: str, params: dict[str, Any], import_s: float
) -> dict[str, Any]:
    """Run one scenario with one (loaded) client in this process."""

    async def body() -> dict[str, Any]:
        t0 = time.perf_counter()
        async with client.session() as one:
            if scenario == "import":
                first: list[float] = []

                def on_text(_text: str) -> None:
                    if not first:
                        first.append(time.perf_counter())

                n, done = await one(spec(params["n"]), on_text)
                t_done = time.perf_counter()
                return {
                    "import_s": import_s,
                    "first_event_ms": (first[0] - t0) * 1000 if first else float("nan"),
                    "first_done_ms": (t_done - t0) * 1000,
                    "streams": 1,
                    "done": int(done),
                    "events": n,
                    "expected_events": params["n"],
                    "maxrss_kib": _maxrss_kib(),
                }
            if client.loop == "trio":
                return await trio_scenario(one, scenario, params)
            return await asyncio_scenario(one, scenario, params)

    if client.loop == "trio":
        import trio

        return trio.run(body)
    import asyncio

    return asyncio.run(body())


def run_job(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a job's tasks (scenario, shape, params) in order, one client, this process.

    The client's library is imported once, first, and timed: that is the
    ``import`` scenario's number, so ``import`` must be the first task.
    """
    kind = CLIENTS[job["client"]]
    t_start = time.perf_counter()
    transport, ca = job.get("transport", "plain"), job.get("ca") or ""
    kind("anthropic", job["port"], transport, ca).load()
    import_s = time.perf_counter() - t_start
    results = []
    for task in job["tasks"]:
        client = kind(task["shape"], job["port"], transport, ca)
        client.load()  # already imported: binds the modules
        try:
            result = run_task(client, task["scenario"], task["params"], import_s)
            result["ok"] = True
        except Exception as exc:  # report it; the other tasks still run
            import traceback

            traceback.print_exc()
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        result["versions"] = client.versions()
        results.append(result)
    return results


def main() -> None:
    job = json.loads(sys.argv[1])
    if job.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {job["cpu"]})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 65536):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    try:
        out: dict[str, Any] = {"ok": True, "results": run_job(job)}
    except BaseException as exc:  # report, never only a bare traceback
        import traceback

        traceback.print_exc()
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
