"""Wire formats: the only home of vendor field names.

``get_provider(config)`` returns the shared, stateless provider for
``config.kind`` (one instance per kind, built on first use).
"""

from __future__ import annotations

import functools

from ..model.config import ProviderConfig
from .anthropic import AnthropicProvider
from .openai import OpenAIProvider
from .profiles import PROFILES
from .protocol import Provider


@functools.cache
def _provider_for_kind(kind: str) -> Provider:
    profile = PROFILES[kind]
    if profile.wire == "anthropic":
        return AnthropicProvider(profile)
    if profile.wire == "gemini":
        # Imported on first use: it brings cattrs, which no other wire needs.
        from .gemini import GeminiProvider

        return GeminiProvider(profile)
    return OpenAIProvider(profile)


def get_provider(config: ProviderConfig) -> Provider:
    """The shared, stateless provider for ``config.kind`` (cached per kind)."""
    return _provider_for_kind(config.kind)
