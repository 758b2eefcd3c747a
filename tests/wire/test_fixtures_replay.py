"""The 60 captured provider streams, replayed over real HTTP on loopback.

Each stream is served by the embedded provider (hypercorn, trio) as a
``RawReply`` in pieces of random sizes, fetched with httpx and fed to our decoder; the official SDK
(``anthropic.AsyncAnthropic().messages.stream()`` /
``openai.AsyncOpenAI().chat.completions.stream()``, whose snapshot is the
SDK's own ``ChatCompletionStreamState`` accumulation) reads the same server,
and the final text, thinking, tool calls with parsed input, usage and raw stop
reason must agree. Where the SDK itself gets a vendor quirk wrong (or does
something different by design) the right values are asserted by hand and
the reason is given in ``SDK_DIFFERS`` (and in docs/providers.md).

The streams are third-party data outside the project: these tests use the
``sse_fixtures_dir`` fixture and skip where the folder is absent.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from captures import manifest, sse_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapsis_actors.embedded import RawReply, open_embedded_provider
from synapsis_actors.errors import BadRequest, ProviderError
from synapsis_actors.model.config import ProviderConfig
from synapsis_actors.model.events import RawEvent, TextDelta, ThinkingDelta, ToolCallEnd
from synapsis_actors.model.parts import ThinkingPart
from synapsis_actors.model.reply import AssistantMessage
from synapsis_actors.model.request import Message, Request
from synapsis_actors.wire import get_provider
from synapsis_actors.wire.anthropic import format_request

from .streams import Outcome, pairs, run, split_at

pytestmark = pytest.mark.fixtures

MANIFEST = manifest(sse_dir())
# Without the folder one placeholder id is collected; it skips via the fixture.
NAMES = sorted(MANIFEST) or ["<captured streams absent>"]

#: MANIFEST provider -> our kind (vendors without a preset use the generic "openai").
KIND = {
    "anthropic": "anthropic",
    "openai": "openai",
    "azure": "azure",
    "deepseek": "deepseek",
    "groq": "groq",
    "llamacpp": "llamacpp",
    "mistral": "mistral",
    "openrouter": "openrouter",
    "together": "together",
    "vllm": "vllm",
}


def kind_of(name: str) -> str:
    return KIND.get(MANIFEST[name]["provider"], "openai")


def features(name: str) -> set[str]:
    return set(MANIFEST[name]["features"].split(","))


# ---------------------------------------------------------------- our side


async def fetch_ours(url: str, kind: str) -> Outcome:
    """The stream through our provider: real request, real HTTP, decoder fed as bytes arrive."""
    config = ProviderConfig(kind=kind, base_url=url, api_key="sk-test", api_version="2024-10-21")
    provider = get_provider(config)
    request = provider.build_request(config, Request(model="m", messages=[Message.user("hi")]))
    decoder = provider.decoder()
    events: list[Any] = []
    error: ProviderError | None = None
    async with (
        httpx.AsyncClient() as client,
        client.stream(
            request.method,
            request.url,
            headers=request.headers,
            json=request.json,
            params=request.params,
        ) as response,
    ):
        assert response.status_code == 200
        try:
            async for data in response.aiter_raw():
                events.extend(pairs(decoder.feed(data)))
            events.extend(pairs(decoder.close()))
        except ProviderError as exc:
            error = exc
    return Outcome(events, decoder.message(), error, decoder.complete)


def summary(message: AssistantMessage) -> dict[str, Any]:
    return {
        "text": message.text,
        "thinking": message.thinking,
        "tool_calls": [(c.id, c.name, c.input) for c in message.tool_calls],
        "usage": (
            message.usage.input_tokens,
            message.usage.output_tokens,
            message.usage.cache_read_tokens,
            message.usage.cache_creation_tokens,
        ),
        "raw_stop_reason": message.raw_stop_reason,
    }


# ---------------------------------------------------------------- SDK side


async def sdk_anthropic(url: str) -> tuple[dict[str, Any] | None, Exception | None, Any]:
    client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
    try:
        async with client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            m = await stream.get_final_message()
    except Exception as exc:  # the SDK's own failure is a result here
        return None, exc, None
    finally:
        await client.close()
    u = m.usage
    return (
        {
            "text": "".join(b.text for b in m.content if b.type == "text"),
            "thinking": "".join(b.thinking for b in m.content if b.type == "thinking"),
            "tool_calls": [(b.id, b.name, b.input) for b in m.content if b.type == "tool_use"],
            "usage": (
                u.input_tokens,
                u.output_tokens,
                u.cache_read_input_tokens or 0,
                u.cache_creation_input_tokens or 0,
            ),
            "raw_stop_reason": m.stop_reason,
        },
        None,
        m,
    )


async def sdk_openai(url: str) -> tuple[dict[str, Any] | None, Exception | None, Any]:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    try:
        async with client.chat.completions.stream(
            model="m", messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            async for _ in stream:
                pass
            # The raw accumulated snapshot: get_final_completion() would also
            # *parse* it and refuse finish_reason "length".
            snap = stream.current_completion_snapshot
    except Exception as exc:
        return None, exc, None
    finally:
        await client.close()
    msg = snap.choices[0].message
    extra = msg.model_extra or {}
    usage = snap.usage
    cached = 0
    if usage is not None and usage.prompt_tokens_details is not None:
        cached = usage.prompt_tokens_details.cached_tokens or 0
    return (
        {
            "text": msg.content or "",
            "thinking": extra.get("reasoning_content") or extra.get("reasoning") or "",
            "tool_calls": [
                (t.id, t.function.name, json.loads(t.function.arguments or "{}"))
                for t in msg.tool_calls or []
            ],
            "usage": None
            if usage is None
            else (usage.prompt_tokens, usage.completion_tokens, cached, 0),
            "raw_stop_reason": snap.choices[0].finish_reason,
        },
        None,
        snap,
    )


# ---------------------------------------------------------------- SDK deviations


def _mid_tool_input(ours: Outcome, sdk: Any) -> None:
    # The SDK partial-parses a tool input cut by max_tokens into an object and
    # would let it run; we mark the call invalid (input None, the text kept).
    call = ours.message.tool_calls[0]
    assert call.input is None
    assert call.error is not None
    assert "cut off" in call.error
    assert call.arguments.startswith('{"filename": "taxes.txt"')
    assert ours.message.stop_reason == "max_tokens"
    assert (
        ours.of_type(ToolCallEnd)[0].input is None
    )  # flushed although content_block_stop is missing
    assert sdk["tool_calls"][0][2]["filename"] == "taxes.txt"


def _usage_then_null(ours: Outcome, sdk: Any) -> None:
    # A moderation chunk with "usage": null follows the usage chunk; the SDK's
    # snapshot takes the null. usage: null means "not in this chunk" (O3).
    assert sdk["usage"] is None
    assert ours.message.usage.input_tokens == 13
    assert ours.message.usage.output_tokens == 11


def _x_groq_usage(ours: Outcome, sdk: Any) -> None:
    # Groq puts usage in x_groq.usage, which the SDK does not read.
    assert sdk["usage"] is None
    assert ours.message.usage.input_tokens == 5003
    assert ours.message.usage.output_tokens == 359


def _perplexity_done_object(ours: Outcome, sdk: Any) -> None:
    # The last chunk's object is "chat.completion.done"; the SDK skips any
    # chunk not named chat.completion.chunk, and with it the finish_reason.
    assert sdk["raw_stop_reason"] is None
    assert ours.message.raw_stop_reason == "stop"
    assert ours.message.stop_reason == "end_turn"
    assert ours.message.usage.output_tokens == 336


def _index_from_1(ours: Outcome, sdk: Any) -> None:
    # Tool-call index starts at 1: the SDK indexes its list with it (IndexError).
    assert isinstance(sdk, IndexError)
    (call,) = ours.message.tool_calls
    assert call.valid
    assert call.id.startswith("toolu")
    assert isinstance(call.input, dict)
    assert call.input
    assert ours.message.stop_reason == "tool_use"


def _mistral_no_index(ours: Outcome, sdk: Any) -> None:
    # Tool call without "index": the SDK indexes a list with None (TypeError).
    assert isinstance(sdk, TypeError)
    (call,) = ours.message.tool_calls
    assert (call.name, call.input) == ("weather", {"location": "San Francisco"})
    assert ours.message.stop_reason == "tool_use"


def _mistral_thinking_parts(ours: Outcome, sdk: Any) -> None:
    # Magistral sends content as arrays with thinking parts; the SDK does not
    # know them (no reasoning in its snapshot).
    assert sdk["thinking"] == ""
    assert ours.message.thinking.startswith("Okay, the user is asking how to cross the street.")
    assert ours.message.text == sdk["text"]
    assert isinstance(ours.message.blocks[0], ThinkingPart)


def _novita_repeated_id(ours: Outcome, sdk: Any) -> None:
    # The call is repeated with its id and name; the SDK concatenates them.
    assert sdk["tool_calls"][0][:2] == ("00", "llm_versionllm_version")
    assert [(c.id, c.name, c.input) for c in ours.message.tool_calls] == [("0", "llm_version", {})]
    assert ours.message.stop_reason == "tool_use"  # no finish_reason sent: inferred
    assert ours.message.raw_stop_reason is None


def _annotations_without_index(ours: Outcome, sdk: Any) -> None:
    # url_citation annotations are a list without "index": the SDK raises.
    assert isinstance(sdk, RuntimeError)
    assert ours.error is None
    assert "pydantic" in ours.message.text.lower()
    assert ours.message.stop_reason == "end_turn"


def _openrouter_error(ours: Outcome, sdk: Any) -> None:
    # Both fail; ours is typed (the SDK has a generic APIError).
    assert isinstance(sdk, openai.APIError)
    assert isinstance(ours.error, BadRequest)
    assert "Token limit reached" in str(ours.error)
    assert ours.message.stop_reason == "max_tokens"  # what arrived before the error


def _groq_error_event(ours: Outcome, sdk: Any) -> None:
    assert isinstance(sdk, openai.APIError)
    assert isinstance(ours.error, BadRequest)
    assert ours.error.status == 400
    assert "Tool call validation failed" in str(ours.error)
    assert ours.message.thinking.startswith("We need to call")
    assert not ours.complete


SDK_DIFFERS: dict[str, Callable[[Outcome, Any], None]] = {
    "anthropic/max_tokens_mid_tool_input_sonnet37.sse": _mid_tool_input,
    "openai/text_moderation_trailing_chunk_gpt5.sse": _usage_then_null,
    "openai_compat/groq/compound_web_search_executed_tools.sse": _x_groq_usage,
    "openai_compat/perplexity/sonar_citations.sse": _perplexity_done_object,
    "openai_compat/anthropic_compat/claude_haiku45_tool_call_sanitized.sse": _index_from_1,
    "openai_compat/mistral/tool_call_single_chunk_no_index.sse": _mistral_no_index,
    "openai_compat/mistral/magistral_thinking_content_parts.sse": _mistral_thinking_parts,
    (
        "openai_compat/openrouter/tool_call_novita_repeated_id_no_finish_reason.sse"
    ): _novita_repeated_id,
    "openai_compat/openrouter/web_search_annotations_deepseek.sse": _annotations_without_index,
    "openai_compat/openrouter/in_stream_error_token_limit.sse": _openrouter_error,
    "openai_compat/groq/in_stream_error_event_tool_use_failed_gptoss120b.sse": _groq_error_event,
}

# ---------------------------------------------------------------- the tests


def _consistent(ours: Outcome) -> None:
    """The chunk events tell the same story as the final message."""
    assert "".join(e.text for e in ours.of_type(TextDelta)) == ours.message.text
    assert "".join(e.text for e in ours.of_type(ThinkingDelta)) == ours.message.thinking
    ends = [(e.id, e.name, e.input) for e in ours.of_type(ToolCallEnd)]
    assert ends == [(c.id, c.name, c.input) for c in ours.message.tool_calls]
    assert all(isinstance(raw, dict | None) for _, raw in ours.events)


@pytest.mark.parametrize("name", NAMES)
async def test_replay_over_http_matches_official_sdk(sse_fixtures_dir: Path, name: str) -> None:
    body = (sse_fixtures_dir / name).read_bytes()
    rng = random.Random(name)
    sizes: list[int] = []
    while sum(sizes) < len(body):  # cut at random points all along the body
        sizes.append(rng.choice((1, 7, 64, 333, 1024, 4096)))
    kind = kind_of(name)
    async with open_embedded_provider(default=RawReply(body, chunk_sizes=sizes)) as server:
        url = server.base_url
        ours = await fetch_ours(url, kind)
        sdk, sdk_error, _ = await (sdk_anthropic(url) if kind == "anthropic" else sdk_openai(url))
    _consistent(ours)
    if name in SDK_DIFFERS:
        SDK_DIFFERS[name](ours, sdk if sdk is not None else sdk_error)
        return
    assert sdk_error is None, f"the SDK failed: {sdk_error!r}"
    assert ours.error is None, f"we failed: {ours.error!r}"
    assert ours.complete
    assert summary(ours.message) == {**sdk, "usage": sdk["usage"] or (0, 0, 0, 0)}
    assert ours.message.stop_reason is not None


async def test_server_tool_and_unknown_blocks_are_raw_chunks(sse_fixtures_dir: Path) -> None:
    """Q2/Q5 on real streams: compaction, server and MCP tool blocks stay raw chunks."""
    seen: dict[str, set[str]] = {}
    for name in (
        "anthropic/compaction_block_sonnet46.sse",
        "anthropic/mcp_tool_use_sonnet45.sse",
        "anthropic/web_search_citations_sonnet4.sse",
        "anthropic/code_execution_bash_sonnet46.sse",
        "anthropic/tool_search_then_tool_use_sonnet46.sse",
    ):
        out = run(
            get_provider(ProviderConfig(kind="anthropic")).decoder(),
            [(sse_fixtures_dir / name).read_bytes()],
        )
        assert out.error is None
        blocks = {
            raw["content_block"]["type"]
            for e, raw in out.events
            if e == RawEvent("content_block_start")
        }
        seen[name] = blocks
        tool_names = {c.name for c in out.message.tool_calls}
        assert not any(b.endswith("tool_result") for b in tool_names)
    assert "compaction" in seen["anthropic/compaction_block_sonnet46.sse"]
    assert {"mcp_tool_use", "mcp_tool_result"} <= seen["anthropic/mcp_tool_use_sonnet45.sse"]
    assert {"server_tool_use", "web_search_tool_result"} <= seen[
        "anthropic/web_search_citations_sonnet4.sse"
    ]
    assert "bash_code_execution_tool_result" in seen["anthropic/code_execution_bash_sonnet46.sse"]
    # tool_search: the server tool is raw, the client tool_use after it is a call
    out = run(
        get_provider(ProviderConfig(kind="anthropic")).decoder(),
        [(sse_fixtures_dir / "anthropic/tool_search_then_tool_use_sonnet46.sse").read_bytes()],
    )
    assert len(out.message.tool_calls) == 1
    assert all(c.id.startswith("toolu_") for c in out.message.tool_calls)


async def test_pause_turn_reply_is_sent_back_with_its_server_blocks(sse_fixtures_dir: Path) -> None:
    """A pause_turn reply resent as the assistant turn keeps its server tool blocks."""
    body = (sse_fixtures_dir / "anthropic/pause_turn_web_search_sonnet45.sse").read_bytes()
    out = run(get_provider(ProviderConfig(kind="anthropic")).decoder(), [body])
    assert out.message.stop_reason == "pause_turn"
    turn = format_request(
        Request(model="m", messages=[Message.user("q"), Message.from_reply(out.message)])
    )["messages"][1]["content"]
    kinds = [b["type"] for b in turn]
    # every search has its result except the last one, which the pause left pending
    assert kinds.count("server_tool_use") == kinds.count("web_search_tool_result") + 1 == 11
    assert kinds[-1] == "server_tool_use"
    uses = [b for b in turn if b["type"] == "server_tool_use"]
    assert all(isinstance(b["input"], dict) and b["input"].get("query") for b in uses)
    assert kinds[0] == "thinking"
    assert turn[0]["signature"]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pick=st.integers(min_value=0),
    cuts=st.lists(st.integers(min_value=0, max_value=200_000), max_size=30),
)
def test_captured_streams_cut_anywhere_give_identical_results(
    sse_fixtures_dir: Path, pick: int, cuts: list[int]
) -> None:
    names = sorted(MANIFEST)
    name = names[pick % len(names)]
    body = (sse_fixtures_dir / name).read_bytes()
    cuts = [c % (len(body) + 1) for c in cuts]
    provider = get_provider(
        ProviderConfig(kind=kind_of(name), base_url="http://x", api_version="v")
    )
    whole = run(provider.decoder(), [body])
    assert run(provider.decoder(), split_at(body, cuts)).comparable() == whole.comparable()
