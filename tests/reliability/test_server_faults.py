"""Every server fault, for both wire formats: a typed error or a clean retry, in time.

One table, parametrized over wire format (``anthropic``, ``openai``) x fault.
Each case runs a fresh embedded provider (real hypercorn on loopback) and a
fresh runtime, on ``trio.testing.MockClock`` (autojump): the server's stalls,
header delays and the client's retry backoff and time limits all sleep on
the same virtual clock, so "within its time limit" is asserted in virtual
seconds, never wall-clock time.

For every case, beyond the outcome:

* exactly one ``ProviderDone``, last, carrying the registered provider name;
* no leak: the client's trio tasks are back to what they were before the
  stream, and the server holds no connection except the idle keep-alive
  ones in the client's pool; 0 once the runtime has closed;
* K1: the canary key was sent (the server saw a credential) but appears in
  no log record (caplog at DEBUG, library and embedded server loggers), no
  telemetry event (provider and OTP), no error text, repr or attribute, and
  not in the server's request log.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import attrs
import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step, open_embedded_provider

from ._support import (
    CANARY,
    KINDS,
    Outcome,
    assert_no_leaks,
    client_tasks,
    config,
    leaked_texts,
    recording,
    request,
    run_stream,
    settle,
)

TEXT = "alpha beta gamma delta epsilon zeta eta theta"
OVERSIZED = 16 * 1024 * 1024 + 4096  # just over the decoder's 16 MiB line limit (P4)


@attrs.frozen
class Case:
    """One fault: what the server is told to do, what the caller must see.

    ``expect`` None means success (a clean retry, or no fault at all);
    ``requests`` how many requests the server must have received (None: do
    not check); ``max_seconds`` the virtual time the stream may take at most.
    """

    id: str
    script: tuple[tuple[Any, int], ...] = ()
    settings: tuple[tuple[str, Any], ...] = ()
    expect: type[sa.ProviderError] | None = None
    requests: int | None = None
    max_seconds: float = 30.0
    min_seconds: float = 0.0
    refused: bool = False
    kinds: tuple[str, ...] = KINDS
    limit: str | None = None  # StreamStalled.limit
    partial: bool = False  # the error carries the text received so far
    status: int | None = None


def _reply(fault: Fault, **kw: Any) -> Step:
    return Step(reply=Reply(text=TEXT), fault=fault, **kw)


def _storms() -> list[Case]:
    """429/503/529, with and without Retry-After: a storm longer than the
    retries is the typed error; one the retries outlast is a clean success."""
    cases = []
    for status, error in ((429, sa.RateLimited), (503, sa.ServerError), (529, sa.Overloaded)):
        for retry_after in (None, 2):
            tag = f"{status}-retry-after-{retry_after}" if retry_after else f"{status}-backoff"
            fault = Fault(status=status, retry_after=retry_after)
            cases.append(
                Case(
                    f"storm-{tag}-exhausts-retries",
                    script=((fault, 3),),
                    expect=error,
                    requests=3,
                    status=status,
                    min_seconds=2 * retry_after if retry_after else 0.0,
                )
            )
            cases.append(
                Case(
                    f"storm-{tag}-then-clean-retry",
                    script=((fault, 2), (Reply(text=TEXT), 1)),
                    requests=3,
                    min_seconds=2 * retry_after if retry_after else 0.0,
                )
            )
    return cases


CASES = [
    Case("no-fault", script=((Reply(text=TEXT), 1),), requests=1),
    Case("connection-refused", refused=True, expect=sa.APIConnectionError, requests=0),
    Case(
        "headers-never-sent",
        script=((Fault(header_delay=3600), 2),),
        settings=(("first_event_timeout", 5.0), ("max_retries", 1)),
        expect=sa.StreamStalled,
        limit="first_event",
        requests=2,
        min_seconds=10.0,
        max_seconds=11.0,
    ),
    Case(
        "drop-before-first-byte-then-clean-retry",
        script=((Fault(drop_after=0), 1), (Reply(text=TEXT), 1)),
        requests=2,
    ),
    Case(
        "drop-mid-stream",
        script=((_reply(Fault(drop_after=5)), 1),),
        expect=sa.StreamInterrupted,
        partial=True,
        requests=1,
    ),
    Case(
        "tcp-reset-mid-stream",
        script=((_reply(Fault(drop_after=5, reset=True)), 1),),
        expect=sa.StreamInterrupted,
        partial=True,
        requests=1,
    ),
    Case(
        "stall-idle-limit",
        script=((_reply(Fault(stall_after=5)), 1),),
        settings=(("idle_timeout", 3.0),),
        expect=sa.StreamStalled,
        limit="idle",
        partial=False,
        requests=1,
        min_seconds=3.0,
        max_seconds=4.0,
    ),
    Case(
        "stall-with-keepalives-idle-limit",
        script=((_reply(Fault(stall_after=5, stall_for=600, keepalive_every=0.5)), 1),),
        settings=(("idle_timeout", 3.0),),
        expect=sa.StreamStalled,
        limit="idle",
        requests=1,
        min_seconds=3.0,
        max_seconds=4.0,
    ),
    Case(
        "malformed-event",
        script=((_reply(Fault(malformed_at=4)), 1),),
        expect=sa.InvalidStreamData,
        requests=1,
    ),
    Case(
        "error-event-after-200-overloaded",
        script=((_reply(Fault(error_event_at=4)), 1),),
        expect=sa.Overloaded,
        requests=1,
    ),
    Case(
        "error-event-after-200-api-error",
        script=((_reply(Fault(error_event_at=4, error_type="api_error", error_message="x")), 1),),
        expect=sa.ServerError,
        requests=1,
    ),
    Case(
        "error-object-after-200-vllm-style",
        script=((_reply(Fault(error_event_at=4, error_style="vllm")), 1),),
        expect=sa.Overloaded,
        requests=1,
        kinds=("openai",),
    ),
    *_storms(),
    Case(
        "body-ends-without-final-event",
        script=((_reply(Fault(truncate=True)), 1),),
        expect=sa.StreamInterrupted,
        partial=True,
        requests=1,
    ),
    Case(
        "oversized-line",
        script=((_reply(Fault(oversized_line=OVERSIZED, oversized_at=3)), 1),),
        expect=sa.InvalidStreamData,
        requests=1,
    ),
]

PARAMS = [
    pytest.param(kind, case, id=f"{kind}-{case.id}")
    for case in CASES
    for kind in KINDS
    if kind in case.kinds
]


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, read back, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _check_outcome(case: Case, out: Outcome) -> None:
    assert out.dones == 1
    done = out.done
    if case.expect is None:
        assert done.error is None, done.error
        assert done.stop_reason == "end_turn"
        assert done.message.text == TEXT
        assert out.text == TEXT
        return
    error = done.error
    assert isinstance(error, case.expect), repr(error)
    assert error.provider == "p"
    assert done.stop_reason is None
    if case.limit is not None:
        assert isinstance(error, sa.StreamStalled)
        assert error.limit == case.limit
    if case.status is not None:
        assert error.status == case.status
    if isinstance(error, sa.StreamInterrupted):
        assert error.partial is not None
        # what arrived is kept, and it is exactly what the caller was given
        assert error.partial.text == out.text == done.message.text
        if case.partial:
            assert out.text
            assert TEXT.startswith(out.text)
    else:
        assert done.message.text == out.text


@pytest.mark.parametrize(("kind", "case"), PARAMS)
async def test_fault(
    kind: str,
    case: Case,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = dict(case.settings)
    with recording() as rec:
        async with open_embedded_provider() as server:
            async with sa.open_runtime() as rt:
                if case.refused:
                    settings["base_url"] = f"http://127.0.0.1:{_closed_port()}"
                cfg = config(server, kind, **settings)
                await rt.providers.register("p", cfg)
                for item, times in case.script:
                    server.enqueue(item, times=times)
                before = client_tasks()
                start = trio.current_time()
                out = await run_stream(rt, "p", request(TEXT))
                elapsed = trio.current_time() - start
                await assert_no_leaks(rt, server, before)
                texts = [cfg, rt, rt.providers.entry("p"), out.done, out.error]
            assert await settle(lambda: server.open_connections == 0)
            assert server.open_connections == 0
    _check_outcome(case, out)
    assert case.min_seconds <= elapsed <= case.max_seconds, elapsed
    if case.requests is not None:
        assert len(server.requests) == case.requests
    # K1: the key really went out (so there was something to leak) ...
    assert all(r.credential is not None for r in server.requests)
    # ... and shows nowhere else.
    assert leaked_texts(records=caplog.records, rec=rec, server=server, extra=texts) == []
    assert any(name == "provider.request.start" for name, _ in rec.events)
    assert CANARY not in caplog.text
