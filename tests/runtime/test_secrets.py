"""K1: the API key never shows in repr, str, errors, logs or telemetry."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step, open_embedded_provider
from synapsis_actors.model.secrets import REDACTED, scrub
from synapsis_actors.runtime import telemetry
from synapsis_actors.transport.client import protect_secret, release_secret

from ._helpers import API_KEY, Served, collect, hello

FAULTS = [
    None,
    Fault(status=500),
    Fault(status=429, retry_after=300),
    Fault(drop_after=3),
    Fault(error_event_at=3),
    Fault(malformed_at=3),
    Fault(stall_after=3, stall_for=60, keepalive_every=1),
]


async def test_k1_key_never_leaks(
    served: Served,
    rt: sa.Runtime,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[tuple[str, Mapping[str, Any]]] = []
    texts: list[str] = []
    config = served.config(idle_timeout=5.0, max_retries=1)
    assert API_KEY not in repr(config)
    with telemetry.subscribed(lambda name, data: seen.append((name, data))):
        await rt.providers.register("local", config)
        texts.append(repr(rt.providers.get("local")))
        texts.append(repr(rt.providers.entry("local")))
        texts.append(repr(rt))
        for fault in FAULTS:
            if fault is not None:
                served.server.enqueue(Step(reply=Reply(text="a b c d"), fault=fault))
            async with sa.open_stream(rt, "local", hello()) as stream:
                messages = await collect(stream)
            done = messages[-1]
            assert isinstance(done, sa.ProviderDone)
            texts += [repr(done), str(done.error), repr(done.error)]
            if done.error is not None:
                texts += [str(arg) for arg in done.error.args]
                texts.append(repr(vars(done.error)))
    # the key really was sent (so there was something to leak)
    assert all(r.credential == "x-api-key" for r in served.server.requests)
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(data) for _, data in seen]
    assert len(texts) > 20
    for text in texts:
        assert API_KEY not in text
    starts = [data for name, data in seen if name == "provider.request.start"]
    assert starts
    for data in starts:
        assert data["headers"]["x-api-key"] == "[redacted]"
        assert data["headers"]["anthropic-version"] == "2023-06-01"  # allow-listed


async def test_k1_authentication_error_does_not_echo_the_key(rt: sa.Runtime) -> None:
    async with open_embedded_provider(expected_key="the-right-key") as server:
        await rt.providers.register(
            "local",
            sa.ProviderConfig(kind="openai", base_url=server.openai_base_url, api_key=API_KEY),
        )
        with pytest.raises(sa.AuthenticationError) as info:
            await sa.complete(rt, "local", hello())
    error = info.value
    assert error.status == 401
    for text in (str(error), repr(error), repr(error.body), repr(vars(error))):
        assert API_KEY not in text


@pytest.mark.parametrize("kind", ["anthropic", "openai", "gemini"])
async def test_k1_a_key_the_server_echoes_is_redacted_from_the_error(
    rt: sa.Runtime, kind: str
) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {API_KEY}", "code": 401}}
    async with open_embedded_provider() as server:
        server.enqueue(Step(fault=Fault(status=401, body=echo)))
        server.enqueue(Step(fault=Fault(status=401, body=f"bad key {API_KEY}".encode())))
        base = server.openai_base_url if kind == "openai" else server.base_url
        config = sa.ProviderConfig(kind=kind, base_url=base, api_key=API_KEY)
        await rt.providers.register("local", config)
        errors = []
        for _ in range(2):
            with pytest.raises(sa.AuthenticationError) as info:
                await sa.complete(rt, "local", hello())
            errors.append(info.value)
    # the server's own words survive, only the key is replaced
    assert errors[0].message.endswith(f"Incorrect API key provided: {REDACTED}")
    assert errors[1].message == f"HTTP 401: bad key {REDACTED}"
    for error in errors:
        for text in (str(error), repr(error), repr(error.body), repr(vars(error))):
            assert API_KEY not in text


def test_k1_one_scrubber_one_placeholder() -> None:
    assert scrub("key sk-abc and sk-abcdef", "sk-abc", None, "", "sk-abcdef") == (
        f"key {REDACTED} and {REDACTED}"  # the longer secret is redacted whole
    )
    text = "nothing secret"
    assert scrub(text, "sk-abc") is text
    # the HTTP stack's log filter redacts with the same function and placeholder
    protect_secret("sk-filter-secret")
    try:
        record = logging.LogRecord(
            "hpack.hpack", logging.DEBUG, "", 0, "x: %s", ("sk-filter-secret",), None
        )
        assert logging.getLogger("hpack.hpack").filter(record)
        assert record.getMessage() == f"x: {REDACTED}"
    finally:
        release_secret("sk-filter-secret")
    assert telemetry.redact_headers({"X-Api-Key": "sk-abc"}) == {"x-api-key": REDACTED}
