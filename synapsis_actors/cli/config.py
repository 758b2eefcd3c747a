"""Where the command line finds its providers: environment variables and a TOML file.

Sources, merged in this order (a later one replaces an earlier one of the same name):

1. the usual environment variables of each vendor's SDK (``ANTHROPIC_API_KEY``
   + ``ANTHROPIC_BASE_URL``, ``OPENAI_API_KEY`` + ``OPENAI_BASE_URL``,
   ``OPENROUTER_API_KEY``, ``GROQ_API_KEY``, ``DEEPSEEK_API_KEY``,
   ``MISTRAL_API_KEY``, ``TOGETHER_API_KEY``, ``AZURE_OPENAI_API_KEY`` +
   ``AZURE_OPENAI_ENDPOINT`` + ``OPENAI_API_VERSION``, ``OLLAMA_HOST``);
2. the TOML file: ``--config PATH``, else ``$SYNAPSIS_ACTORS_CONFIG``, else
   ``$XDG_CONFIG_HOME/synapsis-actors/config.toml`` (``~/.config/...``)::

       default_provider = "local"

       [providers.local]
       kind = "vllm"                       # any ProviderConfig kind
       base_url = "http://localhost:8000/v1"
       api_key_env = "LOCAL_KEY"           # the variable holding the key
       model = "Qwen/Qwen3-8B"

Nothing here does I/O beyond reading that one file, and nothing prints: a
problem is a ``ConfigError`` whose ``field`` names the variable or the TOML
key at fault. Keys are held by ``ProviderEntry`` with ``repr=False`` and only
ever shown through ``mask_key``.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigError
from ..model.config import KINDS, ProviderConfig

#: The name the in-process loopback provider is registered under.
EMBEDDED = "embedded"


@functools.cache
def keyless_kinds() -> frozenset[str]:
    """Kinds of local servers that need no API key: the profiles that say so."""
    from ..wire.profiles import PROFILES

    return frozenset(kind for kind, profile in PROFILES.items() if not profile.api_key_required)


#: (provider name = kind, key variable, base-URL variable) of the vendors whose
#: SDKs read an API key from the environment. Order = default-provider priority.
ENV_PRESETS: tuple[tuple[str, str, str | None], ...] = (
    ("anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ("openrouter", "OPENROUTER_API_KEY", None),
    ("groq", "GROQ_API_KEY", None),
    ("deepseek", "DEEPSEEK_API_KEY", None),
    ("mistral", "MISTRAL_API_KEY", None),
    ("together", "TOGETHER_API_KEY", None),
    ("azure", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"),
    ("gemini", "GEMINI_API_KEY", "GEMINI_BASE_URL"),
)


def default_base_url(kind: str) -> str | None:
    """The kind's default base URL (the presets' data), None when there is none (Azure)."""
    from ..wire.profiles import PROFILES

    profile = PROFILES.get(kind)
    return profile.base_url if profile else None


#: The model the CLI asks for when neither ``--model`` nor the config names one.
#: Kinds missing here (vllm, llamacpp, lmstudio, azure) use the server's first listed model.
DEFAULT_MODELS: Mapping[str, str] = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o-mini",
    "openrouter": "openai/gpt-4o-mini",
    "groq": "llama-3.3-70b-versatile",
    "deepseek": "deepseek-chat",
    "mistral": "mistral-small-latest",
    "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "ollama": "llama3.2",
    "gemini": "gemini-2.5-flash",
}

_OPTION_FIELDS: Mapping[str, tuple[type, ...]] = {
    "headers": (dict,),
    "verify": (bool, str),
    "connect_timeout": (int, float),
    "first_event_timeout": (int, float),
    "idle_timeout": (int, float),
    "max_retries": (int,),
    "max_retry_delay": (int, float),
    "http2": (bool,),
    "api_version": (str,),
}
_PROVIDER_KEYS = frozenset({"kind", "base_url", "api_key_env", "api_key", "model", *_OPTION_FIELDS})


def mask_key(key: str | None) -> str:
    """A key shown as ``sk-…abcd``: never more than 3 leading and 4 trailing characters.

    Keys shorter than 16 characters show nothing of themselves at all.
    """
    if not key:
        return "(none)"
    if len(key) < 16:
        return "…" * 3
    return f"{key[:3]}…{key[-4:]}"


@attrs.frozen
class ProviderEntry:
    """One provider as the CLI knows it, before it becomes a ``ProviderConfig``.

    ``key_env`` names the variable that holds (or should hold) the key;
    ``origin`` says where the entry came from (``env`` or the TOML path).
    """

    name: str
    kind: str
    base_url: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    key_env: str | None = None
    url_env: str | None = None
    model: str | None = None
    origin: str = "env"
    options: dict[str, Any] = attrs.field(factory=dict)
    #: A required variable besides the key that is not set (Azure's deployment, version).
    missing_env: str | None = None

    @property
    def needs_key(self) -> bool:
        return self.kind not in keyless_kinds() and self.name != EMBEDDED

    @property
    def missing_key(self) -> bool:
        return self.needs_key and not self.api_key

    def to_config(self) -> ProviderConfig:
        """The ``ProviderConfig``; ``ConfigError`` naming the key variable if the key is missing."""
        if self.missing_key:
            var = self.key_env or f"providers.{self.name}.api_key_env"
            raise ConfigError(var, f"not set; provider {self.name!r} needs an API key")
        if self.missing_env:
            raise ConfigError(self.missing_env, f"not set; provider {self.name!r} needs it")
        try:
            return ProviderConfig(
                kind=self.kind,
                base_url=self.base_url,
                api_key=self.api_key,
                default_model=self.model,
                **self.options,
            )
        except ConfigError as exc:
            where = self.url_env if exc.field == "base_url" and self.url_env else None
            raise ConfigError(where or f"providers.{self.name}.{exc.field}", _reason(exc)) from None


@attrs.frozen
class CliConfig:
    """Every provider the CLI can use, in default-priority order (the file's first)."""

    providers: dict[str, ProviderEntry]
    default_provider: str | None = None
    path: Path | None = None

    def choose(self, name: str | None) -> str:
        """The provider to use: ``name``, else the configured default, else the first one.

        Returns ``EMBEDDED`` when nothing is configured.
        """
        if name:
            return name
        if self.default_provider:
            return self.default_provider
        return next(iter(self.providers), EMBEDDED)

    def entry(self, name: str) -> ProviderEntry:
        """The entry for ``name``.

        A vendor named but not configured yields an entry without a key (its
        ``to_config`` then names the variable to set); a keyless local kind
        (``ollama``, ``vllm``, ...) works with its defaults. Anything else is a
        ``ConfigError`` listing what is configured.
        """
        if name in self.providers:
            return self.providers[name]
        for preset, key_env, url_env in ENV_PRESETS:
            if name == preset:
                return ProviderEntry(name, preset, key_env=key_env, url_env=url_env)
        if name in keyless_kinds():
            return ProviderEntry(name, name)
        known = ", ".join([*self.providers, EMBEDDED])
        raise ConfigError("provider", f"unknown provider {name!r}; configured: {known}")

    def secrets(self) -> list[str]:
        """Every key value held, so output can be scrubbed of them."""
        return [e.api_key for e in self.providers.values() if e.api_key]


def _reason(exc: ConfigError) -> str:
    text = str(exc)
    prefix = f"{exc.field}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _ollama_url(host: str) -> str:
    # OLLAMA_HOST is "host", "host:port" or a URL; the OpenAI-compatible API is under /v1.
    url = host if "://" in host else f"http://{host}"
    scheme, _, rest = url.partition("://")
    if ":" not in rest.split("/", 1)[0]:
        rest = rest.split("/", 1)[0] + ":11434"
    return f"{scheme}://{rest.rstrip('/')}/v1"


def from_env(env: Mapping[str, str]) -> dict[str, ProviderEntry]:
    """The providers the environment configures (a vendor counts once its key or URL is set)."""
    found: dict[str, ProviderEntry] = {}
    for name, key_env, url_env in ENV_PRESETS:
        key = _get(env, key_env)
        url = _get(env, url_env) if url_env else None
        if key is None and url is None:
            continue
        options: dict[str, Any] = {}
        model = missing = None
        if name == "azure":
            # Azure's base_url is the deployment URL; the SDK builds it from these.
            version, model = _get(env, "OPENAI_API_VERSION"), _get(env, "AZURE_OPENAI_DEPLOYMENT")
            options["api_version"] = version
            missing = next(
                (
                    var
                    for var, value in (
                        ("AZURE_OPENAI_ENDPOINT", url),
                        ("AZURE_OPENAI_DEPLOYMENT", model),
                        ("OPENAI_API_VERSION", version),
                    )
                    if value is None
                ),
                None,
            )
            if url and model:
                url = f"{url.rstrip('/')}/openai/deployments/{model}"
        found[name] = ProviderEntry(
            name,
            name,
            base_url=url,
            api_key=key,
            key_env=key_env,
            url_env=url_env,
            model=model,
            options=options,
            missing_env=missing,
        )
    host = _get(env, "OLLAMA_HOST")
    if host is not None:
        found["ollama"] = ProviderEntry(
            "ollama", "ollama", base_url=_ollama_url(host), url_env="OLLAMA_HOST"
        )
    return found


def _check_type(field: str, value: Any, types: tuple[type, ...]) -> None:
    bad_bool = isinstance(value, bool) and bool not in types
    if bad_bool or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(field, f"must be {names}, got {value!r}")


def _entry_from_toml(name: str, table: Any, env: Mapping[str, str], origin: str) -> ProviderEntry:
    where = f"providers.{name}"
    if not isinstance(table, dict):
        raise ConfigError(where, "must be a table ([providers.NAME])")
    unknown = sorted(set(table) - _PROVIDER_KEYS)
    if unknown:
        expected = ", ".join(sorted(_PROVIDER_KEYS))
        raise ConfigError(f"{where}.{unknown[0]}", f"unknown key; expected one of {expected}")
    kind = table.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    for field in ("base_url", "api_key_env", "api_key", "model"):
        if field in table:
            _check_type(f"{where}.{field}", table[field], (str,))
    options: dict[str, Any] = {}
    for field, types in _OPTION_FIELDS.items():
        if field in table:
            _check_type(f"{where}.{field}", table[field], types)
            options[field] = table[field]
    key_env: str | None = table.get("api_key_env")
    api_key: str | None = table.get("api_key")
    if api_key is None and key_env is not None:
        api_key = _get(env, key_env)
    if key_env is None and api_key is None:
        # A vendor kind without an explicit key falls back on its usual variable.
        key_env = next((k for n, k, _ in ENV_PRESETS if n == kind), None)
        api_key = _get(env, key_env) if key_env else None
    return ProviderEntry(
        name,
        kind,
        base_url=table.get("base_url"),
        api_key=api_key,
        key_env=key_env,
        model=table.get("model"),
        origin=origin,
        options=options,
    )


def config_path(env: Mapping[str, str], explicit: str | None) -> tuple[Path, bool]:
    """The TOML path to read, and whether it must exist (named explicitly)."""
    if explicit:
        return Path(explicit).expanduser(), True
    named = _get(env, "SYNAPSIS_ACTORS_CONFIG")
    if named:
        return Path(named).expanduser(), True
    base = _get(env, "XDG_CONFIG_HOME")
    root = Path(base) if base else Path(env.get("HOME") or Path.home()) / ".config"
    return root / "synapsis-actors" / "config.toml", False


def load(env: Mapping[str, str] | None = None, config: str | None = None) -> CliConfig:
    """Read the environment and the TOML file into a ``CliConfig``.

    Raises ``ConfigError`` for a file named explicitly that does not exist, a
    file that is not valid TOML, or an invalid entry (the field names the key).
    """
    env = os.environ if env is None else env
    providers = from_env(env)
    path, required = config_path(env, config)
    if not path.is_file():
        if required:
            raise ConfigError(str(path), "configuration file not found")
        return CliConfig(providers)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"default_provider", "providers"})
    if unknown:
        raise ConfigError(unknown[0], f"unknown top-level key in {path}")
    tables = data.get("providers", {})
    if not isinstance(tables, dict):
        raise ConfigError("providers", "must be a table of [providers.NAME] tables")
    from_file = {name: _entry_from_toml(name, t, env, str(path)) for name, t in tables.items()}
    if EMBEDDED in from_file:
        raise ConfigError(f"providers.{EMBEDDED}", "the name is reserved for the local provider")
    default = data.get("default_provider")
    if default is not None:
        _check_type("default_provider", default, (str,))
    merged = {**from_file, **{k: v for k, v in providers.items() if k not in from_file}}
    return CliConfig(merged, default_provider=default, path=path)
