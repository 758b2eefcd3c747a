"""open_runtime / open_stream / complete end to end against the embedded provider.

Every test here runs twice (``served``): HTTP/1.1, and TLS with HTTP/2.
"""

from __future__ import annotations

import pytest

import synapsis_actors as sa
from synapsis_actors.embedded import Reply, ToolCallReply

from ._helpers import Served, collect, hello


async def test_contract_example(served: Served, rt: sa.Runtime) -> None:
    # The api-contract's example, pointed at the embedded provider.
    served.server.enqueue(
        Reply(
            text="Let me check.",
            tool_calls=[ToolCallReply("get_weather", {"city": "Paris"}, id="toolu_1")],
        ),
        times=2,
    )
    await rt.providers.register("local", served.config())
    cfg = rt.providers.get("local")
    assert cfg.kind == "anthropic"
    request = sa.Request(
        model="claude-sonnet-4-5",
        messages=[sa.Message.user("What is the weather in Paris?")],
        system="Be brief.",
        tools=[
            sa.Tool(
                name="get_weather",
                description="Current weather",
                input_schema={"type": "object", "properties": {"city": {"type": "string"}}},
            )
        ],
        max_tokens=1024,
    )
    text: list[str] = []
    dones: list[sa.ProviderDone] = []
    async with sa.open_stream(rt, "local", request) as stream:
        async for msg in stream:
            assert msg.ref == stream.ref
            if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
                text.append(msg.event.text)
            elif isinstance(msg, sa.ProviderDone):
                dones.append(msg)
    assert len(dones) == 1
    done = dones[0]
    assert done.error is None
    assert done.stop_reason == "tool_use"
    assert "".join(text) == "Let me check." == done.message.text
    assert done.message.tool_calls == (
        sa.ToolCall(
            id="toolu_1", name="get_weather", input={"city": "Paris"}, arguments='{"city": "Paris"}'
        ),
    )
    assert done.usage.output_tokens > 0

    reply = await sa.complete(rt, "local", request)
    assert reply.text == "Let me check."
    assert reply.tool_calls[0].input == {"city": "Paris"}
    assert served.server.http_versions == {served.http_version}


async def test_openai_compatible_stream(served: Served, rt: sa.Runtime) -> None:
    served.server.enqueue(Reply(text="Bonjour tout le monde", stop_reason="max_tokens"))
    await rt.providers.register("oa", served.config("openai"))
    messages = await collect_stream(rt, "oa", hello())
    done = messages[-1]
    assert isinstance(done, sa.ProviderDone)
    assert done.error is None
    assert done.stop_reason == "max_tokens"
    assert done.message.text == "Bonjour tout le monde"
    assert served.server.requests[-1].path == "/v1/chat/completions"
    assert served.server.http_versions == {served.http_version}


async def test_each_chunk_carries_the_json_its_event_came_from(
    served: Served, rt: sa.Runtime
) -> None:
    served.server.enqueue(Reply(text="one two three"), times=2)
    await rt.providers.register("an", served.config())
    await rt.providers.register("oa", served.config("openai"))
    for name in ("an", "oa"):
        messages = await collect_stream(rt, name, hello())
        texts = [m for m in messages if isinstance(m, sa.ProviderChunk)]
        deltas = [m for m in texts if isinstance(m.event, sa.TextDelta)]
        assert "".join(m.event.text for m in deltas) == "one two three"
        for chunk in deltas:
            raw = chunk.raw
            wire_text = (
                raw["delta"]["text"] if name == "an" else raw["choices"][0]["delta"]["content"]
            )
            assert wire_text == chunk.event.text
        starts = [m for m in texts if isinstance(m.event, sa.MessageStart)]
        assert len(starts) == 1
        assert isinstance(starts[0].raw, dict)


async def collect_stream(rt: sa.Runtime, name: str, request: sa.Request) -> list[object]:
    async with sa.open_stream(rt, name, request) as stream:
        return await collect(stream)


async def test_one_connection_is_reused_across_streams(http1: Served, rt: sa.Runtime) -> None:
    await rt.providers.register("local", http1.config())
    for _ in range(3):
        assert (await sa.complete(rt, "local", hello())).text
    # the provider's pooled client kept one keep-alive connection
    assert http1.server.total_connections == 1
    assert len(http1.server.requests) == 3


async def test_bad_arguments_fail_before_any_io(http1: Served, rt: sa.Runtime) -> None:
    with pytest.raises(sa.ProviderNotFound, match="nope"):
        async with sa.open_stream(rt, "nope", hello()):
            pass
    await rt.providers.register("local", http1.config())
    with pytest.raises(sa.ConfigError, match="request"):
        async with sa.open_stream(rt, "local", "hello"):  # type: ignore[arg-type]
            pass
    with pytest.raises(sa.ConfigError, match="buffer"):
        async with sa.open_stream(rt, "local", hello(), buffer=-1):
            pass
    assert http1.server.requests == []


async def test_statistics_and_supervision_tree(http1: Served, rt: sa.Runtime) -> None:
    await rt.providers.register("local", http1.config())
    ids = [child.id for child in rt.supervisor.which_children()]
    assert ids == ["provider_registry", "stream_tasks"]
    assert rt.statistics().providers == 1
    async with sa.open_stream(rt, "local", hello()) as stream:
        assert rt.statistics().open_streams == 1
        await collect(stream)
    stats = rt.statistics()
    assert stats.open_streams == 0
    assert stats.streams_started == 1
