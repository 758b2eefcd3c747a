"""What a failed, cancelled or retried stream tells its caller: the usage known
so far (output tokens estimated, and flagged, where the server gave no count),
how many attempts were made over how long, the cause of a connection failure,
and a 403 told apart from a refused key."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step
from synapsis_actors.model.accumulator import CHARS_PER_TOKEN, with_output_estimate

from ._helpers import Served, collect, hello

LONG = Step(reply=Reply(text="word " * 400, input_tokens=21), delay=0.005)


async def _cancel_after_deltas(rt: sa.Runtime, name: str, deltas: int) -> sa.ProviderDone:
    async with sa.open_stream(rt, name, hello()) as stream:
        seen = 0
        async for msg in stream:
            if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
                seen += 1
                if seen == deltas:
                    break
        await rt.cancel(stream.ref)
        messages = await collect(stream)
    done = messages[-1]
    assert isinstance(done, sa.ProviderDone)
    return done


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_usage_after_a_cancel_is_an_estimate_that_says_so(
    http1: Served, rt: sa.Runtime, kind: str
) -> None:
    http1.server.enqueue(LONG)
    await rt.providers.register("local", http1.config(kind))
    done = await _cancel_after_deltas(rt, "local", 20)
    assert isinstance(done.error, sa.StreamCancelled)
    text = done.message.text
    assert text
    assert done.usage.estimated is True
    assert done.usage.output_tokens == math.ceil(len(text) / CHARS_PER_TOKEN)
    assert done.usage.output_tokens > 1  # never Anthropic's placeholder, never a silent 0
    assert done.message.usage == done.usage
    if kind == "anthropic":  # its input count arrives first, and is kept
        assert done.usage.input_tokens == 21


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_usage_of_a_finished_stream_is_the_servers(
    http1: Served, rt: sa.Runtime, kind: str
) -> None:
    http1.server.enqueue(Reply(text="word " * 40, input_tokens=9, output_tokens=3))
    await rt.providers.register("local", http1.config(kind))
    reply = await sa.complete(rt, "local", hello())
    assert reply.usage.output_tokens == 3  # the server's count, lower than any estimate
    assert reply.usage.estimated is False


async def test_an_interrupted_streams_partial_carries_the_estimate(
    http1: Served, rt: sa.Runtime
) -> None:
    http1.server.enqueue(Step(Reply(text="one two three four five six"), Fault(drop_after=6)))
    await rt.providers.register("local", http1.config("openai"))
    with pytest.raises(sa.StreamInterrupted) as info:
        await sa.complete(rt, "local", hello())
    partial = info.value.partial
    assert isinstance(partial, sa.AssistantMessage)
    assert partial.text
    assert partial.usage.estimated is True
    assert partial.usage.output_tokens == math.ceil(len(partial.text) / CHARS_PER_TOKEN)


def test_the_estimate_never_lowers_a_server_count() -> None:
    counted = sa.AssistantMessage(text="abcdefgh", usage=sa.Usage(output_tokens=7))
    assert with_output_estimate(counted) is counted
    call = sa.ToolCall("t1", "get_weather", None, arguments='{"city": "Par')
    short = sa.AssistantMessage(text="abcd", tool_calls=[call], usage=sa.Usage(output_tokens=1))
    estimated = with_output_estimate(short)
    chars = len("abcd") + len("get_weather") + len('{"city": "Par')
    assert estimated.usage == sa.Usage(output_tokens=math.ceil(chars / 4), estimated=True)
    assert with_output_estimate(sa.AssistantMessage()).usage == sa.Usage()


async def test_a_stall_after_retries_says_the_attempts_and_the_time(
    http1: Served, rt: sa.Runtime
) -> None:
    http1.server.enqueue(Fault(header_delay=5.0), times=3)
    await rt.providers.register("local", http1.config(first_event_timeout=0.2, max_retries=2))
    async with sa.open_stream(rt, "local", hello()) as stream:
        done = (await collect(stream))[-1]
    error = done.error
    assert isinstance(error, sa.StreamStalled)
    assert (error.limit, error.seconds, error.attempts) == ("first_event", 0.2, 3)
    assert error.elapsed is not None
    assert error.elapsed >= 3 * 0.2  # three limits ran out, plus the backoff between them
    assert "attempts=3" in str(error)
    assert f"elapsed={error.elapsed:.3g}s" in str(error)


async def test_a_refused_connection_says_so_and_keeps_its_cause(rt: sa.Runtime) -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = sa.ProviderConfig(
        kind="anthropic", base_url=f"http://127.0.0.1:{port}", api_key="k", max_retries=1
    )
    await rt.providers.register("gone", config)
    async with sa.open_stream(rt, "gone", hello()) as stream:
        done = (await collect(stream))[-1]
    error = done.error
    assert isinstance(error, sa.APIConnectionError)
    assert error.reason == "connection refused"
    assert error.message.startswith("connection refused: ConnectError: ")
    assert error.attempts == 2
    assert error.__cause__ is not None  # the HTTP stack's own error, for tracebacks


async def test_a_403_is_permission_denied_with_the_servers_words(
    http1: Served, rt: sa.Runtime
) -> None:
    words = "Your organization does not have access to claude-opus-9"
    body = {"type": "error", "error": {"type": "permission_error", "message": words}}
    http1.server.enqueue(Fault(status=403, body=body))
    await rt.providers.register("local", http1.config())
    with pytest.raises(sa.PermissionDenied) as info:
        await sa.complete(rt, "local", hello())
    error = info.value
    assert isinstance(error, sa.AuthenticationError)  # old `except AuthenticationError` still works
    assert error.status == 403
    assert words in error.message
    assert error.request_id is not None
    assert error.attempts == 1  # a 403 is not retried


@pytest.mark.parametrize(
    ("status", "ours", "sdk_name"),
    [
        (401, sa.AuthenticationError, "AuthenticationError"),
        (403, sa.PermissionDenied, "PermissionDeniedError"),
    ],
)
@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_401_and_403_are_told_apart_as_the_official_sdks_do(
    http1: Served, rt: sa.Runtime, kind: str, status: int, ours: type[Exception], sdk_name: str
) -> None:
    import anthropic
    import openai

    from synapsis_actors.cli.failures import server_message

    sdk = anthropic if kind == "anthropic" else openai
    words = "Your organization does not have access to this model"
    body = (
        {"type": "error", "error": {"type": "permission_error", "message": words}}
        if kind == "anthropic"
        else {"error": {"message": words, "type": "invalid_request_error", "code": None}}
    )
    http1.server.enqueue(Fault(status=status, body=body), times=2)
    client: Any = (
        anthropic.AsyncAnthropic(
            base_url=http1.server.anthropic_base_url, api_key="k", max_retries=0
        )
        if kind == "anthropic"
        else openai.AsyncOpenAI(base_url=http1.server.openai_base_url, api_key="k", max_retries=0)
    )
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(sdk.APIStatusError) as theirs:
        if kind == "anthropic":
            await client.messages.create(model="m", max_tokens=8, messages=messages)
        else:
            await client.chat.completions.create(model="m", messages=messages)
    await client.close()
    await rt.providers.register("local", http1.config(kind))
    with pytest.raises(sa.APIStatusError) as mine:
        await sa.complete(rt, "local", hello())
    assert type(theirs.value).__name__ == sdk_name
    assert type(mine.value) is ours
    assert mine.value.status == theirs.value.status_code == status
    assert server_message(mine.value) == words
    assert words in str(theirs.value)
