"""Presets: each ``ProviderConfig.kind`` as data on top of one of two wire formats.

A ``Profile`` says where a vendor lives (default base URL), how it wants the
key (header style), which request knobs it takes, and where its stream puts
usage, reasoning and errors. The wire-format code (``anthropic.py``,
``openai.py``, ``gemini.py``) reads these fields; no vendor gets its own class. Adding a
vendor is adding one ``Profile`` here (see docs/providers.md).

``get_provider(config)`` returns the shared, stateless provider for
``config.kind`` (one instance per kind, built on first use).
"""

from __future__ import annotations

from typing import Literal

import attrs

from ..model.config import KINDS

Wire = Literal["anthropic", "openai", "gemini"]
#: "anthropic": x-api-key + Authorization: Bearer (compatible proxies read either);
#: "bearer": Authorization: Bearer; "api-key": Azure's api-key header;
#: "goog-api-key": Google's x-goog-api-key header.
Auth = Literal["anthropic", "bearer", "api-key", "goog-api-key"]
#: How ``Request.thinking_budget`` is sent: Anthropic's ``thinking`` object,
#: OpenAI's ``reasoning_effort`` (low/medium/high from the budget), OpenRouter's
#: ``reasoning: {max_tokens}``, or not at all (the model reasons or not by itself).
ReasoningRequest = Literal["anthropic", "reasoning_effort", "openrouter", "none"]
#: Usage in the chunk's ``usage``, else in Groq's ``x_groq.usage``: read on every
#: OpenAI-compatible kind, since a gateway may forward Groq's chunks under any kind.
DEFAULT_USAGE_PATHS: tuple[tuple[str, ...], ...] = (("usage",), ("x_groq", "usage"))


#: Gemini 3's ``thinkingConfig.thinkingLevel`` values (google-genai's ThinkingLevel).
_GEMINI_LEVELS = frozenset({"minimal", "low", "medium", "high", "xhigh"})


@attrs.frozen
class Profile:
    """One vendor preset: data only."""

    kind: str
    wire: Wire
    #: None: the user must give ``base_url`` (Azure deployment URL).
    base_url: str | None
    auth: Auth = "bearer"
    #: Local servers accept requests without a key.
    api_key_required: bool = True
    #: Query parameter carrying ``ProviderConfig.api_version`` (required when set).
    api_version_param: str | None = None
    #: Name of the output limit in the request body.
    max_tokens_field: str = "max_tokens"
    #: Send ``stream_options: {"include_usage": true}`` (usage-only final chunk).
    include_usage: bool = True
    #: Where a chunk carries usage: top-level keys first, nested paths (``x_groq.usage``)
    #: only when no top-level one is in the chunk; the last found wins.
    usage_paths: tuple[tuple[str, ...], ...] = DEFAULT_USAGE_PATHS
    #: Delta fields that carry reasoning text.
    reasoning_fields: tuple[str, ...] = ("reasoning_content", "reasoning")
    reasoning_request: ReasoningRequest = "none"
    #: The ``Request.reasoning_effort`` levels the vendor takes (empty: refused).
    reasoning_efforts: frozenset[str] = frozenset()
    #: The assistant message field the vendor wants its reasoning sent back in
    #: (DeepSeek's thinking mode with tools needs ``reasoning_content``).
    reasoning_echo: str | None = None
    #: Send ``cache_ttl`` breakpoints as ``cache_control`` on text parts
    #: (OpenRouter passes them to the models that cache that way).
    cache_control: bool = False
    #: The body field for ``Request.cache_key`` (None: refused).
    cache_key_field: str | None = None
    #: The body field for ``Request.user_id`` (None: refused).
    user_field: str | None = "user"
    #: Whether ``Request.metadata`` has a field (OpenAI's ``metadata``, Gemini's ``labels``).
    metadata: bool = False
    #: Whether ``response_format: {"type": "json_schema"}`` is accepted.
    json_schema: bool = True
    #: In-stream error shapes: "error" ({"error": {...}}), "object" ({"object": "error"}).
    error_shapes: tuple[str, ...] = ("error", "object")
    #: Human notes for the docs.
    quirks: str = ""


PROFILES: dict[str, Profile] = {
    p.kind: p
    for p in (
        Profile(
            "anthropic",
            "anthropic",
            "https://api.anthropic.com",
            auth="anthropic",
            reasoning_request="anthropic",
            reasoning_efforts=frozenset({"low", "medium", "high", "xhigh", "max"}),
            quirks="Messages API; system apart; event: error after 200; proxies may omit "
            "the last content_block_stop.",
        ),
        Profile(
            "openai",
            "openai",
            "https://api.openai.com/v1",
            max_tokens_field="max_completion_tokens",
            reasoning_request="reasoning_effort",
            reasoning_efforts=frozenset(
                {"none", "minimal", "low", "medium", "high", "xhigh", "max"}
            ),
            cache_key_field="prompt_cache_key",
            user_field="safety_identifier",
            metadata=True,
            quirks="Reference chat completions; also the kind for any unknown "
            "OpenAI-compatible server (all usage/reasoning/error shapes are read).",
        ),
        Profile(
            "ollama",
            "openai",
            "http://localhost:11434/v1",
            api_key_required=False,
            reasoning_efforts=frozenset({"low", "medium", "high"}),
            quirks="Tool-call deltas without index; gpt-oss reasoning in delta.reasoning.",
        ),
        Profile(
            "openrouter",
            "openai",
            "https://openrouter.ai/api/v1",
            reasoning_request="openrouter",
            reasoning_efforts=frozenset({"minimal", "low", "medium", "high"}),
            cache_control=True,
            quirks="SSE comments ': OPENROUTER PROCESSING' as keep-alives; errors as "
            'a chunk {"error": {...}}; reasoning in delta.reasoning (+ reasoning_details).',
        ),
        Profile(
            "groq",
            "openai",
            "https://api.groq.com/openai/v1",
            reasoning_efforts=frozenset({"none", "low", "medium", "high"}),
            quirks="Usage also in x_groq.usage; errors as 'event: error' lines; "
            "whole tool calls in one chunk.",
        ),
        Profile(
            "deepseek",
            "openai",
            "https://api.deepseek.com/v1",
            reasoning_echo="reasoning_content",
            json_schema=False,
            quirks="Reasoning in delta.reasoning_content; usage in the finish chunk.",
        ),
        Profile(
            "vllm",
            "openai",
            "http://localhost:8000/v1",
            api_key_required=False,
            reasoning_efforts=frozenset({"low", "medium", "high"}),
            quirks='Errors as {"object": "error"}; may send cumulative usage on every '
            "chunk; reasoning in delta.reasoning (older: reasoning_content).",
        ),
        Profile(
            "llamacpp",
            "openai",
            "http://localhost:8080/v1",
            api_key_required=False,
            quirks="Reasoning in delta.reasoning_content; extra 'timings' object.",
        ),
        Profile(
            "lmstudio",
            "openai",
            "http://localhost:1234/v1",
            api_key_required=False,
            quirks="Plain OpenAI-compatible local server.",
        ),
        Profile(
            "mistral",
            "openai",
            "https://api.mistral.ai/v1",
            include_usage=False,
            user_field=None,
            quirks="Content may be an array of parts (text and thinking); tool calls "
            "without index, whole in one chunk; usage always in the finish chunk.",
        ),
        Profile(
            "together",
            "openai",
            "https://api.together.xyz/v1",
            reasoning_efforts=frozenset({"low", "medium", "high"}),
            quirks="Reasoning models may put <think> tags in content (kept as text).",
        ),
        Profile(
            "azure",
            "openai",
            None,
            auth="api-key",
            api_version_param="api-version",
            max_tokens_field="max_completion_tokens",
            reasoning_request="reasoning_effort",
            reasoning_efforts=frozenset(
                {"none", "minimal", "low", "medium", "high", "xhigh", "max"}
            ),
            cache_key_field="prompt_cache_key",
            metadata=True,
            quirks="base_url is the deployment URL; api-key header; api-version query; "
            "first chunk may be choices: [] with prompt_filter_results; delta may be null.",
        ),
        Profile(
            "gemini",
            "gemini",
            "https://generativelanguage.googleapis.com",
            auth="goog-api-key",
            reasoning_efforts=_GEMINI_LEVELS,
            user_field=None,
            metadata=True,
            quirks="Gemini API streamGenerateContent?alt=sse; key in x-goog-api-key; "
            "whole function calls, several per chunk, ids only on Gemini 3; thought "
            "signatures to send back; cumulative usage on every chunk; STOP after calls.",
        ),
        Profile(
            "vertex",
            "gemini",
            None,
            reasoning_efforts=_GEMINI_LEVELS,
            user_field=None,
            metadata=True,
            quirks="Vertex AI, the Gemini format: base_url is the project location; "
            "bearer access token; usage only in the last chunk; streamed partialArgs.",
        ),
    )
}

assert set(PROFILES) == set(KINDS), "every ProviderConfig kind needs a profile"


def profile_for(kind: str) -> Profile:
    """The preset for ``kind`` (``KeyError`` if unknown: ProviderConfig validates kinds)."""
    return PROFILES[kind]
