"""The README's promises: its quick start is the two documented commands, its
embedding example runs as written (against the embedded provider), and the
exit codes it documents are the CLI's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import trio

from synapsis_actors.cli import failures

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_quick_start_is_exactly_the_two_commands() -> None:
    section = README.read_text(encoding="utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert commands == [
        'pip install . && synapsis-actors chat "Why supervise LLM streams?"\n'
        "pip install '.[test]' && python -m pytest\n"
    ]


def test_exit_code_table_matches_the_cli() -> None:
    text = README.read_text(encoding="utf-8")
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", text, re.M)}
    actual = {
        getattr(failures, name)
        for name in dir(failures)
        if name.isupper() and isinstance(getattr(failures, name), int)
    }
    assert documented == actual


async def test_embedding_example_runs_as_written(tmp_path: Path) -> None:
    example, wrapper = _blocks("python")[:2]
    assert "sa.open_stream" in example
    assert "open_embedded_provider" in wrapper
    with trio.socket.socket() as sock:  # a free port instead of the README's 8765
        await sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    program = example.replace("trio.run(main)\n", "") + wrapper
    script = tmp_path / "example.py"
    script.write_text(program.replace("8765", port), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "tool_use Usage(input_tokens=" in proc.stdout
    assert proc.stdout.rstrip().endswith("None")  # msg.error: the stream succeeded


def _example_lines() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## The command line", 1)[1]
    block = section.split("For example", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


def _comparable(line: str) -> str:
    # What differs between two honest runs: how long the retries' jittered
    # backoff took. Everything else (ports are mapped below) must match.
    return re.sub(r"attempts over \d+\.\d s", "attempts over N s", line)


async def test_readme_error_examples_are_what_the_cli_prints(tmp_path: Path) -> None:
    """Each example line of the README is produced by the CLI in its situation."""
    from synapsis_actors.embedded import Fault, open_embedded_provider

    from .test_cli import KEY, OTHER_KEY, Run, anthropic_env, cli, write_toml

    def last_line(run: Run, code: int) -> str:
        assert run.code == code, (run.code, run.err)
        return run.err.strip().splitlines()[-1]

    produced = [
        last_line(await cli(tmp_path, "chat", "--provider", "openai", "hi"), failures.USAGE)
    ]
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gone = {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": KEY}
    line = last_line(await cli(tmp_path, "chat", "hi", env=gone), failures.UNREACHABLE)
    produced.append(line.replace(f"127.0.0.1:{port}/", "127.0.0.1:8000/"))
    async with open_embedded_provider(expected_key=KEY) as server:
        env = anthropic_env(server.anthropic_base_url)
        wrong = anthropic_env(server.anthropic_base_url, OTHER_KEY)
        produced.append(last_line(await cli(tmp_path, "chat", "hi", env=wrong), failures.AUTH))
        denied = "Your organization does not have access to claude-opus-9"
        body = {"type": "error", "error": {"type": "permission_error", "message": denied}}
        server.enqueue(Fault(status=403, body=body))
        run = await cli(tmp_path, "chat", "--model", "claude-opus-9", "hi", env=env)
        produced.append(last_line(run, failures.AUTH))
        server.enqueue(Fault(status=429, retry_after=120))
        groq = write_toml(
            tmp_path,
            f'[providers.groq]\nkind = "groq"\nbase_url = "{server.openai_base_url}"\n'
            'api_key_env = "GROQ_API_KEY"\n',
        )
        run = await cli(tmp_path, "--config", groq, "chat", "hi", env={"GROQ_API_KEY": KEY})
        produced.append(last_line(run, failures.RATE_LIMITED))
        server.enqueue(Fault(status=404, body=b""))
        produced.append(last_line(await cli(tmp_path, "chat", "hi", env=env), failures.REJECTED))
        server.enqueue(Fault(header_delay=5.0), times=3)
        slow = write_toml(
            tmp_path,
            f'[providers.anthropic]\nkind = "anthropic"\nbase_url = "{server.base_url}"\n'
            'api_key_env = "ANTHROPIC_API_KEY"\nfirst_event_timeout = 0.5\n',
        )
        run = await cli(tmp_path, "--config", slow, "chat", "hi", env={"ANTHROPIC_API_KEY": KEY})
        produced.append(last_line(run, failures.STREAM_FAILED))
        server.clear_script()
        run = await cli(tmp_path, "chat", "--max-tokens", "5", "tell me a long story", env=env)
        produced.append(last_line(run, failures.TRUNCATED))
    assert [_comparable(line) for line in produced] == [
        _comparable(line) for line in _example_lines()
    ]
