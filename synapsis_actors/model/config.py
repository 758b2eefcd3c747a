"""ProviderConfig: how to reach one provider. Validated at construction."""

from __future__ import annotations

import math
import ssl
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import ConfigError
from .ratelimits import RateLimits

#: Every ``ProviderConfig.kind``: the wire formats and the OpenAI-compatible presets.
KINDS: tuple[str, ...] = (
    "anthropic",
    "openai",
    "ollama",
    "openrouter",
    "groq",
    "deepseek",
    "vllm",
    "llamacpp",
    "lmstudio",
    "mistral",
    "together",
    "azure",
    "gemini",
    "vertex",
)


def _check_kind(_inst: Any, _attr: Any, value: Any) -> None:
    if value not in KINDS:
        raise ConfigError(
            "kind", f"unknown provider kind {value!r}; expected one of {', '.join(KINDS)}"
        )


def _check_base_url(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigError("base_url", f"must be an http:// or https:// URL, got {value!r}")


def _check_api_key(_inst: Any, _attr: Any, value: Any) -> None:
    # Never echo the value: it may be a real key in the wrong place.
    if value is not None and not isinstance(value, str):
        raise ConfigError("api_key", f"must be a string or None, got {type(value).__name__}")
    if isinstance(value, str) and (not value.strip() or any(c in value for c in "\r\n")):
        raise ConfigError("api_key", "must be non-empty and contain no line breaks")


def _positive_seconds(name: str, *, allow_none: bool = True) -> Any:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is None and allow_none:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or math.isnan(value)
            or value <= 0
        ):
            raise ConfigError(name, f"must be a positive number of seconds or None, got {value!r}")

    return check


def _check_max_retries(_inst: Any, _attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError("max_retries", f"must be an int >= 0, got {value!r}")


def _check_headers(_inst: Any, _attr: Any, value: Any) -> None:
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ConfigError("headers", f"names and values must be strings, got {k!r}")
        if any(c in k + v for c in "\r\n"):
            raise ConfigError("headers", f"header {k!r} contains a line break")


def _check_verify(_inst: Any, _attr: Any, value: Any) -> None:
    if not isinstance(value, bool | str | ssl.SSLContext):
        raise ConfigError(
            "verify", f"must be a bool, a CA bundle path or an ssl.SSLContext, got {value!r}"
        )


def _check_rate_limits(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and not isinstance(value, RateLimits):
        raise ConfigError(
            "rate_limits", f"must be a RateLimits or None, got {type(value).__name__}"
        )


def _headers(value: Mapping[str, str] | None) -> dict[str, str]:
    return {} if value is None else dict(value)


@attrs.frozen
class ProviderConfig:
    """How to reach one provider.

    ``kind`` picks the wire format and preset profile; ``base_url=None`` takes
    the profile's default. ``api_key`` never appears in ``repr()``.
    Time limits are seconds (None disables one): ``connect_timeout`` for the
    TCP/TLS connect, ``first_event_timeout`` from sending the request to the
    first content event, ``idle_timeout`` between content events (pings and SSE
    comments do not reset it). ``max_retries`` retries before the first event
    (3 attempts by default); server-requested delays above ``max_retry_delay``
    are not waited for.
    """

    kind: str = attrs.field(validator=_check_kind)
    base_url: str | None = attrs.field(default=None, validator=_check_base_url)
    api_key: str | None = attrs.field(default=None, repr=False, validator=_check_api_key)
    headers: dict[str, str] = attrs.field(
        factory=dict, converter=_headers, validator=_check_headers
    )
    verify: bool | str | ssl.SSLContext = attrs.field(default=True, validator=_check_verify)
    connect_timeout: float | None = attrs.field(
        default=10.0, validator=_positive_seconds("connect_timeout")
    )
    first_event_timeout: float | None = attrs.field(
        default=120.0, validator=_positive_seconds("first_event_timeout")
    )
    idle_timeout: float | None = attrs.field(
        default=120.0, validator=_positive_seconds("idle_timeout")
    )
    max_retries: int = attrs.field(default=2, validator=_check_max_retries)
    max_retry_delay: float = attrs.field(
        default=60.0, validator=_positive_seconds("max_retry_delay", allow_none=False)
    )
    http2: bool = True
    #: Azure's ``api-version`` query parameter (other kinds ignore it).
    api_version: str | None = None
    #: Default model for callers that do not name one (the CLI).
    default_model: str | None = None
    #: The budget kept before sending (shared through ``open_runtime(budgets=...)``).
    rate_limits: RateLimits | None = attrs.field(default=None, validator=_check_rate_limits)
    #: Seconds a stream waits for admission under ``rate_limits`` before it
    #: ends with ``AdmissionTimedOut`` (None: wait as long as it takes).
    admission_timeout: float | None = attrs.field(
        default=60.0, validator=_positive_seconds("admission_timeout")
    )
