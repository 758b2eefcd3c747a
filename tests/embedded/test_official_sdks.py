"""The official Anthropic and OpenAI SDKs, pointed at the embedded provider, read its
streams and errors as they read the real services' (the best proof of realistic shapes)."""

from __future__ import annotations

import anthropic
import openai
import pytest
import trio.testing

from synapsis_actors.embedded import Fault, Reply, Step, ToolCallReply, open_embedded_provider

REPLY = Reply(
    text="Hello there friend",
    thinking="Hmm, fine.",
    tool_calls=[ToolCallReply("get_weather", {"city": "Paris", "days": 2}, fragment_size=3)],
    input_tokens=11,
    output_tokens=22,
    cache_read_tokens=4,
)
MESSAGES = [{"role": "user", "content": "hi"}]


async def test_anthropic_sdk_accumulates_the_stream() -> None:
    async with open_embedded_provider(script=[REPLY]) as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="sk-test", max_retries=0
        )
        async with client.messages.stream(model="m", max_tokens=64, messages=MESSAGES) as stream:
            message = await stream.get_final_message()
        await client.close()
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "Hmm, fine."
    assert thinking.signature
    assert text.type == "text"
    assert text.text == "Hello there friend"
    assert tool.type == "tool_use"
    assert tool.input == {"city": "Paris", "days": 2}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 22)
    assert message.usage.cache_read_input_tokens == 4
    # SDK versions differ in the header they use; either way its value is redacted.
    request = server.requests[0]
    assert request.credential in ("x-api-key", "bearer")
    header = "x-api-key" if request.credential == "x-api-key" else "authorization"
    assert request.header(header) == "[redacted]"
    assert "sk-test" not in repr(server.requests)


async def test_openai_sdk_accumulates_the_stream_with_usage() -> None:
    async with open_embedded_provider(script=[REPLY]) as server:
        client = openai.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="sk-test", max_retries=0
        )
        async with client.chat.completions.stream(
            model="m", messages=MESSAGES, stream_options={"include_usage": True}
        ) as stream:
            completion = await stream.get_final_completion()
        await client.close()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Hello there friend"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert calls[0].function.arguments == '{"city": "Paris", "days": 2}'  # type: ignore[union-attr]
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 22)
    assert server.requests[0].credential == "bearer"


async def test_sdks_retry_on_429_with_retry_after_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_embedded_provider() as server:
        server.enqueue(Fault(status=429, retry_after=3), times=2)
        client = anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="sk-test", max_retries=2, timeout=600
        )
        start = trio.current_time()
        message = await client.messages.create(model="m", max_tokens=64, messages=MESSAGES)
        await client.close()
    assert trio.current_time() - start >= 6.0  # two waits of the server's 3 s
    assert len(server.requests) == 3
    assert message.content[0].type == "text"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, anthropic.RateLimitError),
        (401, anthropic.AuthenticationError),
        (529, anthropic.InternalServerError),
        (400, anthropic.BadRequestError),
    ],
)
async def test_anthropic_sdk_maps_the_error_bodies(
    status: int, error: type[anthropic.APIStatusError]
) -> None:
    async with open_embedded_provider(script=[Fault(status=status)]) as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="sk-test", max_retries=0
        )
        with pytest.raises(error) as caught:
            await client.messages.create(model="m", max_tokens=64, messages=MESSAGES)
        await client.close()
    assert caught.value.status_code == status
    assert caught.value.request_id == "req_emb_0000"


async def test_anthropic_sdk_raises_on_the_error_event_after_200() -> None:
    async with open_embedded_provider(script=[Step(REPLY, Fault(error_event_at=4))]) as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="sk-test", max_retries=0
        )
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(model="m", max_tokens=64, messages=MESSAGES) as s:
                await s.get_final_message()
        await client.close()
    assert "overloaded_error" in str(caught.value.body) or "Overloaded" in str(caught.value)


async def test_openai_sdk_raises_on_the_error_chunk_after_200() -> None:
    fault = Fault(error_event_at=2, error_type="server_error", error_message="boom")
    async with open_embedded_provider(script=[Step(REPLY, fault)]) as server:
        client = openai.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="sk-test", max_retries=0
        )
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        with pytest.raises(openai.APIError, match="boom"):
            async for _ in stream:
                pass
        await client.close()
