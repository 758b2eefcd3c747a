"""The model catalogue: known models' limits and capabilities, merged with a
server's listing, and a max_tokens above the limit refused before sending."""

from __future__ import annotations

import pytest

import synapsis_actors as sa
from synapsis_actors.embedded import open_embedded_provider
from synapsis_actors.model.catalog import (
    CAPABILITIES,
    KNOWN_MODELS,
    check_max_tokens,
    known_model,
    merge,
)
from synapsis_actors.wire.provider import parse_models

from ._helpers import API_KEY, Served, hello


def test_every_known_model_has_its_limits_and_capabilities() -> None:
    assert {"anthropic", "openai", "google", "groq", "deepseek"} <= {
        m.owned_by for m in KNOWN_MODELS.values()
    }
    for model_id, info in KNOWN_MODELS.items():
        assert info.id == model_id
        assert info.source == "catalog"
        assert info.context_window is not None
        assert info.max_output_tokens is not None
        assert info.max_output_tokens <= info.context_window
        assert info.capabilities <= CAPABILITIES
    sonnet = KNOWN_MODELS["claude-sonnet-4-5"]
    assert (sonnet.context_window, sonnet.max_output_tokens) == (200_000, 64_000)
    assert sonnet.supports("thinking")
    assert not KNOWN_MODELS["gpt-4o"].supports("thinking")


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("openai/gpt-4.1", "gpt-4.1"),
    ],
)
def test_known_model_reads_dated_and_prefixed_ids(asked: str, found: str) -> None:
    info = known_model(asked)
    assert info is not None
    assert info.id == found


def test_the_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        KNOWN_MODELS["claude-sonnet-4-5"] = sa.ModelInfo("x")  # type: ignore[index]


def test_unknown_models_are_not_guessed() -> None:
    assert known_model("claude-opus-9") is None
    assert known_model("my-finetune") is None
    check_max_tokens("my-finetune", 10**9, None)  # nothing known: nothing refused


def test_model_info_refuses_invalid_values_naming_the_field() -> None:
    with pytest.raises(sa.ConfigError) as info:
        sa.ModelInfo("m", capabilities={"telepathy"})
    assert info.value.field == "capabilities"
    with pytest.raises(sa.ConfigError) as info:
        sa.ModelInfo("m", max_output_tokens=0)
    assert info.value.field == "max_output_tokens"
    with pytest.raises(sa.ConfigError):
        sa.ModelInfo("m").supports("telepathy")


def test_the_servers_values_win_and_the_catalogue_fills_the_rest() -> None:
    body = {
        "data": [
            {
                "id": "anthropic/claude-sonnet-4.5",
                "context_length": 1_000_000,
                "top_provider": {"max_completion_tokens": 64_000},
            },
            {"id": "gpt-4o", "owned_by": "system"},
            {"id": "local-llama", "max_model_len": 8192},
        ]
    }
    listed = parse_models(body)
    routed, gpt, local = [merge(m, known_model(m.id)) or m for m in listed]
    assert (routed.context_window, routed.max_output_tokens) == (1_000_000, 64_000)  # server's
    assert routed.supports("thinking")  # the catalogue's
    assert routed.source == "server+catalog"
    assert (gpt.owned_by, gpt.context_window, gpt.max_output_tokens) == ("system", 128_000, 16_384)
    assert (local.context_window, local.max_output_tokens, local.source) == (8192, None, "server")


async def test_max_tokens_above_the_limit_is_refused_before_sending(
    http1: Served, rt: sa.Runtime
) -> None:
    await rt.providers.register("local", http1.config())
    request = sa.Request(
        model="claude-sonnet-4-5-20250929", messages=[sa.Message.user("hi")], max_tokens=100_000
    )
    with pytest.raises(sa.ConfigError) as info:
        async with sa.open_stream(rt, "local", request):
            pass  # pragma: no cover
    assert info.value.field == "max_tokens"
    assert "at most 64000 output tokens" in str(info.value)
    assert "claude-sonnet-4-5-20250929" in str(info.value)
    with pytest.raises(sa.ConfigError):
        await sa.complete(rt, "local", request)
    assert http1.server.requests == []  # nothing was sent
    # at the limit, and for a model nobody knows, the request goes out
    at_limit = sa.Request(model="claude-sonnet-4-5", messages=request.messages, max_tokens=64_000)
    await sa.complete(rt, "local", at_limit)
    await sa.complete(rt, "local", hello())
    assert len(http1.server.requests) == 2


async def test_the_listing_is_merged_and_its_cached_entries_are_used(rt: sa.Runtime) -> None:
    async with open_embedded_provider(models=("claude-haiku-4-5", "embedded-echo")) as server:
        config = sa.ProviderConfig(
            kind="anthropic", base_url=server.anthropic_base_url, api_key=API_KEY
        )
        await rt.providers.register("local", config)
        listed = {m.id: m for m in await rt.providers.models("local")}
        haiku = listed["claude-haiku-4-5"]
        assert (haiku.source, haiku.max_output_tokens) == ("server+catalog", 64_000)
        assert listed["embedded-echo"].source == "server"
        assert rt.providers.model_info("local", "claude-haiku-4-5") == haiku
        assert rt.providers.model_info("local", "gpt-4o") == KNOWN_MODELS["gpt-4o"]
        assert rt.providers.model_info("local", "embedded-echo") == listed["embedded-echo"]
