"""What a model can take and give, before a request is sent: the model catalogue.

``ModelInfo`` is one model: its context window, its maximum output tokens and
its capabilities. Two sources fill it, merged by :func:`merge`:

* a server's models endpoint (``rt.providers.models(name)``): what that
  server says, which wins wherever it says something;
* :data:`KNOWN_MODELS`, the data below for the known models of each vendor,
  which fills what the server leaves out (most endpoints list ids only).

The data is kept honest: every number is the vendor's published limit for the
model's API (the page named above each group, read when the entry was
written), not a guess; a model whose limits are not published with certainty
is left out rather than filled in. Vendors change limits; a server's own
listing, when cached, wins over this table (see ``Providers.model_info``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ..errors import ConfigError

#: The capabilities a ``ModelInfo`` may name.
CAPABILITIES: frozenset[str] = frozenset(
    {"tools", "vision", "thinking", "caching", "structured_output"}
)


def _capabilities(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise ConfigError("capabilities", f"expected a collection of names, got {value!r}")
    names = frozenset(value)
    unknown = names - CAPABILITIES
    if unknown:
        raise ConfigError(
            "capabilities", f"unknown {sorted(unknown)}; known: {', '.join(sorted(CAPABILITIES))}"
        )
    return names


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(attribute.name, f"must be a positive int or None, got {value!r}")


@attrs.frozen
class ModelInfo:
    """One model a provider serves.

    ``context_window`` (input and output together, in tokens) and
    ``max_output_tokens`` are None when unknown; ``capabilities`` is a subset
    of :data:`CAPABILITIES`; ``source`` says where the entry comes from:
    ``"server"`` (its models endpoint), ``"catalog"`` (:data:`KNOWN_MODELS`)
    or ``"server+catalog"`` (merged); ``raw`` is the server's entry as sent.
    """

    id: str
    owned_by: str | None = None
    context_window: int | None = attrs.field(default=None, validator=_positive)
    raw: Any = None
    max_output_tokens: int | None = attrs.field(default=None, validator=_positive, kw_only=True)
    capabilities: frozenset[str] = attrs.field(
        default=frozenset(), converter=_capabilities, kw_only=True
    )
    source: str = attrs.field(default="server", kw_only=True)

    def supports(self, capability: str) -> bool:
        """Whether the model is known to have ``capability`` (one of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ConfigError("capability", f"unknown {capability!r}")
        return capability in self.capabilities


def _known(owner: str, window: int, output: int, caps: str, *ids: str) -> dict[str, ModelInfo]:
    capabilities = frozenset(caps.split())
    return {
        model_id: ModelInfo(
            model_id,
            owner,
            window,
            max_output_tokens=output,
            capabilities=capabilities,
            source="catalog",
        )
        for model_id in ids
    }


_ALL = "tools vision thinking caching structured_output"

#: The known models, by API id (aliases included); read-only. Dated ids (``-20250929``,
#: ``-2024-08-06``) and OpenRouter-style ``vendor/`` prefixes are matched by
#: :func:`known_model`.
KNOWN_MODELS: Mapping[str, ModelInfo] = MappingProxyType(
    {
        # Anthropic, docs.claude.com "Models overview" (context window, max output)
        # and "Extended thinking" / "Prompt caching" / "Structured outputs" (the
        # capabilities: structured outputs from Opus 4.1 and the 4.5 models on).
        **_known("anthropic", 200_000, 64_000, _ALL, "claude-sonnet-4-5", "claude-haiku-4-5"),
        **_known("anthropic", 200_000, 64_000, _ALL, "claude-opus-4-5"),
        **_known("anthropic", 200_000, 32_000, _ALL, "claude-opus-4-1"),
        **_known("anthropic", 200_000, 32_000, "tools vision thinking caching", "claude-opus-4-0"),
        **_known(
            "anthropic", 200_000, 64_000, "tools vision thinking caching", "claude-sonnet-4-0"
        ),
        **_known(
            "anthropic", 200_000, 64_000, "tools vision thinking caching", "claude-3-7-sonnet"
        ),
        **_known("anthropic", 200_000, 8_192, "tools vision caching", "claude-3-5-haiku"),
        # OpenAI, platform.openai.com/docs/models/<id> ("Context window", "Max
        # output tokens", and the "Features"/"Reasoning" rows for capabilities).
        **_known(
            "openai",
            128_000,
            16_384,
            "tools vision caching structured_output",
            "gpt-4o",
            "gpt-4o-mini",
        ),
        **_known(
            "openai",
            1_047_576,
            32_768,
            "tools vision caching structured_output",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
        ),
        **_known("openai", 400_000, 128_000, _ALL, "gpt-5", "gpt-5-mini", "gpt-5-nano"),
        **_known("openai", 200_000, 100_000, _ALL, "o3", "o4-mini"),
        **_known("openai", 200_000, 100_000, "tools thinking caching structured_output", "o3-mini"),
        # Google Gemini, ai.google.dev/gemini-api/docs/models ("Input token limit",
        # "Output token limit", "Capabilities").
        **_known("google", 1_048_576, 65_536, _ALL, "gemini-2.5-pro", "gemini-2.5-flash"),
        **_known(
            "google", 1_048_576, 8_192, "tools vision caching structured_output", "gemini-2.0-flash"
        ),
        # Groq, console.groq.com/docs/models ("Context window", "Max completion tokens").
        **_known("groq", 131_072, 32_768, "tools", "llama-3.3-70b-versatile"),
        **_known("groq", 131_072, 131_072, "tools", "llama-3.1-8b-instant"),
        # DeepSeek, api-docs.deepseek.com "Models & Pricing" (context length, the
        # maximum of "max output"; the default is lower).
        # (JSON mode only, no schema: not "structured_output".)
        **_known("deepseek", 128_000, 8_000, "tools caching", "deepseek-chat"),
        **_known("deepseek", 128_000, 64_000, "thinking caching", "deepseek-reasoner"),
    }
)

_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


@functools.lru_cache(maxsize=512)  # called per request: a miss costs a few regex passes
def known_model(model_id: str) -> ModelInfo | None:
    """The catalogue's entry for ``model_id``, or None.

    Tried in order: the id as is; without a date suffix
    (``claude-sonnet-4-5-20250929``, ``gpt-4o-2024-08-06``); without an
    OpenRouter-style ``vendor/`` prefix, dots read as dashes
    (``anthropic/claude-sonnet-4.5``). The entry keeps the catalogue's id.
    """
    candidates = [model_id, _DATE_SUFFIX.sub("", model_id)]
    if "/" in model_id:
        bare = model_id.rsplit("/", 1)[1]
        candidates += [bare, _DATE_SUFFIX.sub("", bare), bare.replace(".", "-")]
    for candidate in candidates:
        info = KNOWN_MODELS.get(candidate)
        if info is not None:
            return info
    return None


def merge(listed: ModelInfo | None, known: ModelInfo | None) -> ModelInfo | None:
    """One entry from a server's listing and the catalogue's: the server's values
    win wherever it gave one; the catalogue fills the rest."""
    if listed is None or known is None:
        return listed or known
    return attrs.evolve(
        listed,
        owned_by=listed.owned_by or known.owned_by,
        context_window=listed.context_window or known.context_window,
        max_output_tokens=listed.max_output_tokens or known.max_output_tokens,
        capabilities=listed.capabilities or known.capabilities,
        source="server+catalog",
    )


def check_max_tokens(model: str, max_tokens: int | None, info: ModelInfo | None) -> None:
    """Raise ``ConfigError("max_tokens")`` when ``max_tokens`` exceeds the model's known
    output limit (the request would be refused by the server anyway)."""
    if max_tokens is None or info is None or info.max_output_tokens is None:
        return
    if max_tokens > info.max_output_tokens:
        raise ConfigError(
            "max_tokens",
            f"{max_tokens} is more than {model} allows: at most {info.max_output_tokens} "
            f"output tokens (from the {info.source})",
        )
