"""The command line on the Gemini wire format, against the embedded provider's Gemini route."""

from __future__ import annotations

from pathlib import Path

from synapsis_actors.cli import failures
from synapsis_actors.embedded import Fault, Reply, ToolCallReply, open_embedded_provider

from .test_cli import KEY, cli, write_toml


def gemini_env(base_url: str, key: str = KEY) -> dict[str, str]:
    return {"GEMINI_BASE_URL": base_url, "GEMINI_API_KEY": key}


async def test_chat_with_thinking_over_gemini_env_vars(tmp_path: Path) -> None:
    async with open_embedded_provider(expected_key=KEY) as server:
        run = await cli(
            tmp_path,
            "chat",
            "--provider",
            "gemini",
            "--thinking",
            "--system",
            "Be brief.",
            "Is 1001 prime?",
            env=gemini_env(server.base_url),
        )
        request = server.requests[-1]
    assert run.code == 0, run.err
    thinking, _, answer = run.out.partition("\n")
    assert thinking.startswith("[thinking] ")
    assert "1001" in answer
    assert run.err.strip().splitlines()[-1].startswith("end_turn · ")
    assert "gemini-2.5-flash via gemini" in run.err
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.query == "alt=sse"
    assert request.credential == "x-goog-api-key"
    assert request.key_accepted is True
    assert request.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert request.body["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    run.assert_no_secret()


async def test_tool_call_via_a_toml_gemini_provider(tmp_path: Path) -> None:
    async with open_embedded_provider(expected_key=KEY) as server:
        server.enqueue(
            Reply(text="Checking.", tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})])
        )
        config = write_toml(
            tmp_path,
            (
                'default_provider = "g"\n[providers.g]\nkind = "gemini"\n'
                f'base_url = "{server.base_url}"\napi_key_env = "G_KEY"\n'
                'model = "gemini-3-pro-preview"\n'
            ),
        )
        run = await cli(tmp_path, "--config", config, "chat", "Weather?", env={"G_KEY": KEY})
    assert run.code == 0, run.err
    assert run.out == 'Checking.\n[tool call] get_weather {"city": "Paris"}\n'
    assert run.err.strip().splitlines()[-1].startswith("tool_use · ")
    run.assert_no_secret()


async def test_resource_exhausted_beyond_the_cap_is_one_error_line(tmp_path: Path) -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Quota exceeded.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "300s"}
            ],
        }
    }
    async with open_embedded_provider() as server:
        server.set_default(Fault(status=429, body=body))
        run = await cli(
            tmp_path, "chat", "--provider", "gemini", "hi", env=gemini_env(server.base_url)
        )
    run.assert_one_error(failures.RATE_LIMITED, "HTTP 429", "retry after 300 s")
