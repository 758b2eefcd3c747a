"""What both wire formats' providers share: base URLs, auth headers, model lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, ProviderError
from ..model.catalog import ModelInfo
from ..model.config import ProviderConfig
from . import errors as errormap
from .profiles import Profile


def base_url(config: ProviderConfig, profile: Profile) -> str:
    """The configured base URL, else the profile's; ``ConfigError`` if neither."""
    url = config.base_url or profile.base_url
    if not url:
        raise ConfigError("base_url", f"kind {profile.kind!r} needs a base_url")
    return url.rstrip("/")


def join_path(base: str, path: str, *, version: str = "/v1", always: bool = False) -> str:
    """``base`` + ``version`` + ``path``, never doubling the version.

    ``path`` is given without the version (``/messages``, ``/chat/completions``).
    A base that already ends with ``path`` is used as is; one that ends with
    ``version`` gets only ``path``. Otherwise ``version`` is added when
    ``always`` (Anthropic: the SDK appends ``/v1/messages`` to any base) or
    when the base has no path at all (OpenAI-compatible: a base like
    ``https://openrouter.ai/api/v1`` or an Azure deployment URL is complete).
    """
    if base.endswith(path):
        return base
    if base.endswith(version):
        return base + path
    if always or urlsplit(base).path in ("", "/"):
        return base + version + path
    return base + path


def auth_headers(config: ProviderConfig, profile: Profile) -> dict[str, str]:
    """The auth header(s) for the profile's style.

    Without a key none is sent (local servers need none; a hosted API answers
    401, reported as ``AuthenticationError``).
    """
    key = config.api_key
    if key is None:
        return {}
    if profile.auth == "anthropic":
        return {"x-api-key": key, "authorization": f"Bearer {key}"}
    if profile.auth == "api-key":
        return {"api-key": key}
    if profile.auth == "goog-api-key":
        return {"x-goog-api-key": key}
    return {"authorization": f"Bearer {key}"}


def version_params(config: ProviderConfig, profile: Profile) -> dict[str, str]:
    if profile.api_version_param is None:
        return {}
    if not config.api_version:
        raise ConfigError("api_version", f"kind {profile.kind!r} needs api_version")
    return {profile.api_version_param: config.api_version}


# ---------------------------------------------------------------- providers


class BaseProvider:
    """What both wire formats' providers share: the profile, errors, model lists."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    @property
    def kind(self) -> str:
        return self.profile.kind

    def error_from_response(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        provider: str,
        *,
        retry_after: float | None = None,
    ) -> ProviderError:
        return errormap.error_from_response(
            status, headers, body, provider, retry_after=retry_after
        )

    def parse_models(self, body: Any) -> list[ModelInfo]:
        return parse_models(body)

    def retry_headers(self, headers: Mapping[str, str], body: bytes) -> Mapping[str, str]:
        """The headers the retry decision reads: these vendors say it all in headers."""
        return headers

    def on_cancel(self, ref: Any) -> None:
        """Nothing to undo: the vendors stop generating when the connection closes."""


def parse_models(body: Any) -> list[ModelInfo]:
    """``{"data": [{"id": ..., ...}]}`` (Anthropic and OpenAI-compatible ``/models``).

    Entries without a string id are skipped; the context window is read from
    the fields vendors use for it (OpenRouter ``context_length``, vLLM
    ``max_model_len``, llama.cpp ``meta.n_ctx_train``), the output limit from
    ``max_output_tokens`` / ``max_completion_tokens`` (OpenRouter:
    ``top_provider.max_completion_tokens``).
    """
    data = body.get("data") if isinstance(body, dict) else body
    if not isinstance(data, list):
        return []
    out = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        window = item.get("context_window") or item.get("context_length")
        window = window or item.get("max_model_len") or item.get("max_input_tokens")
        meta = item.get("meta")
        if window is None and isinstance(meta, dict):
            window = meta.get("n_ctx_train")
        owner = item.get("owned_by")
        top = item.get("top_provider")  # OpenRouter: the limits of its default route
        output = item.get("max_output_tokens") or item.get("max_completion_tokens")
        if output is None and isinstance(top, dict):
            output = top.get("max_completion_tokens")
        out.append(
            ModelInfo(
                item["id"],
                owner if isinstance(owner, str) else None,
                window if type(window) is int and window > 0 else None,
                item,
                max_output_tokens=output if type(output) is int and output > 0 else None,
            )
        )
    return out
