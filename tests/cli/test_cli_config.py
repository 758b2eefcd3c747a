"""The CLI's configuration: environment variables, the TOML file, key masking, one-line errors.

In-process and pure (no network): the subprocess tests in test_cli.py show the
same rules from the outside.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synapsis_actors.cli import failures
from synapsis_actors.cli.config import EMBEDDED, keyless_kinds, load, mask_key
from synapsis_actors.cli.render import Scrubber
from synapsis_actors.errors import (
    APIConnectionError,
    AuthenticationError,
    ConfigError,
    RateLimited,
    StreamStalled,
)

KEY = "sk-ant-api03-SECRETSECRETSECRET-wxyz"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), **extra}


def test_mask_key_shows_at_most_prefix_and_last_four() -> None:
    assert mask_key(KEY) == "sk-…wxyz"
    assert mask_key("short-key") == "………"
    assert "SECRET" not in mask_key(KEY)
    scrub = Scrubber([KEY])
    assert scrub(f"boom {KEY} boom") == "boom sk-…wxyz boom"


def test_nothing_configured_means_embedded(tmp_path: Path) -> None:
    cfg = load(_env(tmp_path))
    assert cfg.providers == {}
    assert cfg.choose(None) == EMBEDDED


def test_env_vendors_in_priority_order_and_base_urls(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        OPENAI_API_KEY="sk-openai-0123456789abcdef",
        ANTHROPIC_API_KEY=KEY,
        ANTHROPIC_BASE_URL="http://127.0.0.1:9999",
        GROQ_API_KEY="",  # empty counts as unset
        OLLAMA_HOST="127.0.0.1",
        AZURE_OPENAI_API_KEY="azure-key-0123456789",
        AZURE_OPENAI_ENDPOINT="https://res.openai.azure.com",
        OPENAI_API_VERSION="2024-10-21",
        AZURE_OPENAI_DEPLOYMENT="gpt4o-prod",
    )
    cfg = load(env)
    assert list(cfg.providers) == ["anthropic", "openai", "azure", "ollama"]
    assert cfg.choose(None) == "anthropic"
    anthropic = cfg.providers["anthropic"].to_config()
    assert anthropic.base_url == "http://127.0.0.1:9999"
    assert anthropic.api_key == KEY
    assert KEY not in repr(cfg.providers["anthropic"])
    assert cfg.providers["ollama"].to_config().base_url == "http://127.0.0.1:11434/v1"
    assert cfg.providers["ollama"].to_config().api_key is None
    azure = cfg.providers["azure"].to_config()
    assert azure.api_version == "2024-10-21"
    assert azure.base_url == "https://res.openai.azure.com/openai/deployments/gpt4o-prod"
    assert azure.default_model == "gpt4o-prod"
    assert KEY in cfg.secrets()


def test_azure_without_its_deployment_names_the_variable(tmp_path: Path) -> None:
    cfg = load(
        _env(
            tmp_path,
            AZURE_OPENAI_API_KEY="azure-key-0123456789",
            AZURE_OPENAI_ENDPOINT="https://res.openai.azure.com",
            OPENAI_API_VERSION="2024-10-21",
        )
    )
    with pytest.raises(ConfigError) as info:
        cfg.providers["azure"].to_config()
    assert info.value.field == "AZURE_OPENAI_DEPLOYMENT"


def test_named_vendor_without_key_names_the_variable(tmp_path: Path) -> None:
    cfg = load(_env(tmp_path))
    with pytest.raises(ConfigError) as info:
        cfg.entry("openai").to_config()
    assert info.value.field == "OPENAI_API_KEY"
    line, code = failures.describe(info.value)
    assert line.startswith("OPENAI_API_KEY: not set")
    assert code == failures.USAGE
    # a keyless local kind works with its defaults
    assert cfg.entry("ollama").to_config().kind == "ollama"
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        cfg.entry("nope")


def test_toml_file_entries_default_and_key_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'default_provider = "local"\n'
        "[providers.local]\n"
        'kind = "vllm"\nbase_url = "http://127.0.0.1:8000/v1"\nmodel = "qwen"\n'
        "idle_timeout = 30\n"
        "[providers.work]\n"
        'kind = "openai"\napi_key_env = "WORK_KEY"\n',
        encoding="utf-8",
    )
    cfg = load(_env(tmp_path, WORK_KEY="sk-work-0123456789abcd", ANTHROPIC_API_KEY=KEY), str(path))
    assert list(cfg.providers) == ["local", "work", "anthropic"]
    assert cfg.choose(None) == "local"
    local = cfg.providers["local"].to_config()
    assert (local.kind, local.idle_timeout, local.default_model) == ("vllm", 30, "qwen")
    assert cfg.providers["work"].to_config().api_key == "sk-work-0123456789abcd"
    # The default location is read too (a fresh HOME has none: no error).
    default = tmp_path / ".config" / "synapsis-actors" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('[providers.x]\nkind = "ollama"\n', encoding="utf-8")
    assert "x" in load(_env(tmp_path)).providers
    assert "x" in load(_env(tmp_path, SYNAPSIS_ACTORS_CONFIG=str(default))).providers


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[providers.a]\nkind = "cohere"\n', "providers.a.kind"),
        ('[providers.a]\nkind = "openai"\nmodle = "x"\n', "providers.a.modle"),
        ('[providers.a]\nkind = "openai"\nmax_retries = "3"\n', "providers.a.max_retries"),
        ('[providers.a]\nkind = "ollama"\nbase_url = "localhost"\n', "providers.a.base_url"),
        ("[providers.a\n", "c.toml"),
    ],
)
def test_bad_toml_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(_env(tmp_path), str(path)).providers["a"].to_config()
    assert info.value.field.endswith(field)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(_env(tmp_path), str(tmp_path / "absent.toml"))


def test_error_lines_say_what_to_do() -> None:
    target = failures.Target(
        "anthropic", "http://127.0.0.1:9", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"
    )
    line, code = failures.describe(AuthenticationError("bad", status=401), target)
    assert (line, code) == (
        "'anthropic' refused the API key (HTTP 401): check ANTHROPIC_API_KEY",
        failures.AUTH,
    )
    line, code = failures.describe(RateLimited("slow", status=429, retry_after=120.0), target)
    assert line.endswith("retry after 120 s")
    assert code == failures.RATE_LIMITED
    line, code = failures.describe(APIConnectionError("connection refused"), target)
    assert "http://127.0.0.1:9" in line
    assert "ANTHROPIC_BASE_URL" in line
    assert code == failures.UNREACHABLE
    line, code = failures.describe(StreamStalled("x", limit="idle", seconds=30.0), target)
    assert line.endswith("no new content for 30 s")
    assert code == failures.STREAM_FAILED


def test_keyless_kinds_are_the_profiles_that_need_no_key(tmp_path: Path) -> None:
    from synapsis_actors.wire.profiles import PROFILES

    expected = {kind for kind, profile in PROFILES.items() if not profile.api_key_required}
    assert keyless_kinds() == expected == {"ollama", "vllm", "llamacpp", "lmstudio"}
    cfg = load(_env(tmp_path))
    for kind in PROFILES:
        if kind in ("azure", "vertex"):
            continue  # needs a deployment / project URL, key or not
        assert cfg.entry(kind).needs_key is (kind not in expected), kind


def test_stop_reasons_are_derived_from_the_literal() -> None:
    from typing import get_args

    from synapsis_actors.embedded.script import StopReasonName
    from synapsis_actors.embedded.wire import _OPENAI_FINISH
    from synapsis_actors.model.reply import STOP_REASONS, StopReason

    assert STOP_REASONS == set(get_args(StopReason)) == set(get_args(StopReasonName))
    assert set(_OPENAI_FINISH) == STOP_REASONS  # the embedded server renders every one


def test_server_message_comes_from_the_body_only() -> None:
    from synapsis_actors.errors import BadRequest, ProviderError

    def said(exc: ProviderError) -> str | None:
        return failures.server_message(exc)

    assert said(BadRequest("HTTP 404", status=404, body="")) is None  # an empty body
    assert said(BadRequest("x", status=404, body={"error": "model not found"})) == "model not found"
    assert said(BadRequest("x", status=422, body={"detail": "bad  field\n"})) == "bad field"
    nested = {"type": "error", "error": {"type": "invalid_request_error", "message": "too long"}}
    assert said(BadRequest("x", status=400, body=nested)) == "too long"
    assert said(BadRequest("x", status=400, body="a" * 500)) == "a" * 299 + "…"
    # raised by the library itself (no server spoke): its own words
    assert said(ProviderError("no model limits known")) == "no model limits known"
    line, code = failures.describe(BadRequest("HTTP 404", status=404, body=""))
    assert (line, code) == ("the provider rejected the request (HTTP 404)", failures.REJECTED)


def test_the_cut_off_warning_names_the_limit_when_known() -> None:
    assert failures.truncated(7, 7) == (
        "the reply was cut off at max_tokens=7 (7 output tokens); raise --max-tokens"
    )
    assert failures.truncated(None, 8192).startswith(
        "the reply was cut off at the max_tokens limit (8192 output tokens)"
    )


def test_an_error_without_a_status_gets_no_empty_parentheses() -> None:
    from synapsis_actors.errors import RateLimited, ServerError

    local = RateLimited("over the shared budget", retry_after=3.0)  # raised before sending
    line, code = failures.describe(local)
    assert (line, code) == (
        "rate limited by the provider: over the shared budget; retry after 3 s",
        failures.RATE_LIMITED,
    )
    in_stream = ServerError("api_error: boom", body={"type": "error", "error": {"message": "boom"}})
    assert failures.describe(in_stream)[0] == "the provider failed: boom"
