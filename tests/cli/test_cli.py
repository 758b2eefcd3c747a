"""The command line from the outside: a subprocess, a fresh HOME, no provider keys.

Each test runs ``python -m synapsis_actors ...`` the way a person would and
asserts on what they see: the reply's text, the one ``error:`` line, the exit
code, no traceback, no API key anywhere. Servers are the embedded provider,
started here on loopback and told to misbehave (401, 429 beyond the retry cap,
a stream dropped halfway, a stall).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest
import trio

from synapsis_actors.cli import failures
from synapsis_actors.embedded import Fault, Reply, Step, ToolCallReply, open_embedded_provider

KEY = "sk-ant-test-0123456789-SECRET-wxyz"
OTHER_KEY = "sk-ant-test-9876543210-WRONG!-abcd"
# Variables that would configure a provider from the developer's own environment.
_PROVIDER_VARS = (
    "API_KEY",
    "BASE_URL",
    "OLLAMA_HOST",
    "AZURE_",
    "OPENAI_",
    "SYNAPSIS_",
    "XDG_CONFIG_HOME",
    "NO_COLOR",
    "FORCE_COLOR",
)


@attrs.frozen
class Run:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err

    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]

    def assert_one_error(self, code: int, *fragments: str) -> str:
        """Exactly one ``error:`` line holding every fragment, no traceback, no key."""
        assert self.code == code, (self.code, self.out, self.err)
        lines = self.error_lines()
        assert len(lines) == 1, self.err
        for fragment in fragments:
            assert fragment in lines[0], lines[0]
        assert "Traceback" not in self.both
        noise = [
            line
            for line in self.err.splitlines()
            if line not in lines and "embedded local provider" not in line
        ]
        assert noise == [], self.err  # nothing else on stderr: no log records, no summary
        self.assert_no_secret()
        return lines[0]

    def assert_no_secret(self) -> None:
        for key in (KEY, OTHER_KEY):
            assert key not in self.both
            assert key[6:-4] not in self.both  # not even the middle of it


# Bytecode of the subprocesses, cached outside the source tree: where the
# environment sets PYTHONDONTWRITEBYTECODE, every run would otherwise compile
# the whole package again (~0.5 s each).
_PYCACHE = Path(tempfile.gettempdir()) / "synapsis-actors-cli-tests-pycache"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not any(marker in k for marker in _PROVIDER_VARS)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(HOME=str(home), PYTHONUNBUFFERED="1", PYTHONPYCACHEPREFIX=str(_PYCACHE), **extra)
    return env


async def cli(home: Path, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Run:
    proc = await trio.run_process(
        [sys.executable, "-m", "synapsis_actors", *args],
        stdin=stdin,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=clean_env(home, **(env or {})),
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def anthropic_env(base_url: str, key: str = KEY) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": key}


def write_toml(home: Path, text: str) -> str:
    path = home / "providers.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------ the first run


async def test_first_run_streams_from_the_embedded_provider(tmp_path: Path) -> None:
    run = await cli(tmp_path, "chat", "Why supervise LLM streams?")
    assert run.code == 0, run.err
    assert "Why supervise LLM streams?" in run.out  # the echo quotes the prompt
    assert "\x1b[" not in run.both  # a pipe gets no ANSI codes
    notices = [line for line in run.err.splitlines() if "embedded local provider" in line]
    assert len(notices) == 1
    assert "ANTHROPIC_API_KEY" in notices[0]
    summary = run.err.strip().splitlines()[-1]
    assert summary.startswith("end_turn · ")
    assert "first token" in summary
    assert "embedded-echo via embedded" in summary
    assert " out tokens" in summary


@pytest.mark.parametrize("args", [("chat",), ("chat", "-")])
async def test_prompt_from_stdin(tmp_path: Path, args: Sequence[str]) -> None:
    run = await cli(tmp_path, *args, stdin=b"Explain trio nurseries\n")
    assert run.code == 0, run.err
    assert "Explain trio nurseries" in run.out


async def test_empty_prompt_is_one_usage_error(tmp_path: Path) -> None:
    run = await cli(tmp_path, "chat", stdin=b"  \n")
    run.assert_one_error(failures.USAGE, "prompt: is empty")


async def test_thinking_is_shown_when_asked(tmp_path: Path) -> None:
    run = await cli(tmp_path, "chat", "--thinking", "--max-tokens", "4096", "Is 1001 prime?")
    assert run.code == 0, run.err
    assert "[thinking] " in run.out
    thinking, _, answer = run.out.partition("\n")
    assert thinking.startswith("[thinking] ")
    assert "1001" in answer
    plain = await cli(tmp_path, "chat", "Is 1001 prime?")
    assert "[thinking]" not in plain.out


async def test_models_and_providers_without_configuration(tmp_path: Path) -> None:
    models = await cli(tmp_path, "models")
    assert models.code == 0, models.err
    assert "embedded-echo" in models.out
    providers = await cli(tmp_path, "providers")
    assert providers.code == 0
    assert "embedded" in providers.out
    assert "no provider configured" in providers.err


# ------------------------------------------------------------ real wire formats, scripted


async def test_tool_call_over_anthropic_env_vars(tmp_path: Path) -> None:
    async with open_embedded_provider(expected_key=KEY) as server:
        server.enqueue(
            Reply(
                text="Let me check.", tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]
            )
        )
        run = await cli(
            tmp_path,
            "chat",
            "--system",
            "Be brief.",
            "Weather in Paris?",
            env=anthropic_env(server.anthropic_base_url),
        )
        request = server.requests[-1]
    assert run.code == 0, run.err
    assert run.out == 'Let me check.\n[tool call] get_weather {"city": "Paris"}\n'
    assert run.err.strip().splitlines()[-1].startswith("tool_use · ")
    assert "embedded local provider" not in run.err
    assert request.key_accepted is True
    assert request.body["system"] == "Be brief."
    assert request.body["model"] == "claude-sonnet-4-5"
    run.assert_no_secret()


async def test_openai_compatible_server_via_toml(tmp_path: Path) -> None:
    async with open_embedded_provider(expected_key=KEY) as server:
        server.enqueue(Reply(text="Hello from the OpenAI side.", input_tokens=7, output_tokens=5))
        config = write_toml(
            tmp_path,
            (
                'default_provider = "local"\n[providers.local]\nkind = "openai"\n'
                f'base_url = "{server.openai_base_url}"\napi_key_env = "LOCAL_KEY"\n'
                'model = "gpt-local"\n'
            ),
        )
        run = await cli(tmp_path, "--config", config, "chat", "hi", env={"LOCAL_KEY": KEY})
        request = server.requests[-1]
    assert run.code == 0, run.err
    assert run.out == "Hello from the OpenAI side.\n"
    assert "7 in / 5 out tokens" in run.err
    assert "gpt-local via local" in run.err
    assert request.path.endswith("/chat/completions")
    assert request.body["model"] == "gpt-local"


async def test_providers_lists_masked_keys_only(tmp_path: Path) -> None:
    config = write_toml(tmp_path, '[providers.work]\nkind = "openai"\napi_key_env = "WORK"\n')
    run = await cli(
        tmp_path, "providers", "--config", config, env={"ANTHROPIC_API_KEY": KEY, "WORK": OTHER_KEY}
    )
    assert run.code == 0, run.err
    assert "sk-…wxyz" in run.out
    assert "sk-…abcd" in run.out
    assert "* work" in run.out  # the file's providers come first
    run.assert_no_secret()


# ------------------------------------------------------------ one line per failure


async def test_refused_key(tmp_path: Path) -> None:
    async with open_embedded_provider(expected_key=KEY) as server:
        env = anthropic_env(server.anthropic_base_url, OTHER_KEY)
        run = await cli(tmp_path, "chat", "hi", env=env)
        debug = await cli(tmp_path, "chat", "hi", "--debug", env=env)
    run.assert_one_error(failures.AUTH, "refused the API key (HTTP 401)", "ANTHROPIC_API_KEY")
    # --debug adds the exception and the debug log, still without the key
    assert debug.code == failures.AUTH
    assert "synapsis_actors.errors.AuthenticationError" in debug.err
    assert "DEBUG" in debug.err
    debug.assert_no_secret()


async def test_rate_limited_beyond_the_retry_cap(tmp_path: Path) -> None:
    async with open_embedded_provider() as server:
        server.enqueue(Fault(status=429, retry_after=120))
        run = await cli(tmp_path, "chat", "hi", env=anthropic_env(server.anthropic_base_url))
        assert len(server.requests) == 1  # 120 s is over the cap: not waited for
    run.assert_one_error(failures.RATE_LIMITED, "rate limited", "retry after 120 s")


async def test_stream_dropped_midway_keeps_the_partial_reply(tmp_path: Path) -> None:
    async with open_embedded_provider() as server:
        server.enqueue(
            Step(Reply(text="one two three four five six seven eight"), Fault(drop_after=6))
        )
        run = await cli(tmp_path, "chat", "hi", env=anthropic_env(server.anthropic_base_url))
    line = run.assert_one_error(failures.STREAM_FAILED, "interrupted after")
    assert f"after {len(run.out.rstrip())} characters" in line  # what was printed
    assert run.out.startswith("one two")
    assert "eight" not in run.out


async def test_stalled_stream_under_a_toml_idle_limit(tmp_path: Path) -> None:
    async with open_embedded_provider() as server:
        server.enqueue(
            Step(Reply(text="slow words here"), Fault(stall_after=4, keepalive_every=0.1))
        )
        config = write_toml(
            tmp_path,
            (
                f'[providers.slow]\nkind = "anthropic"\nbase_url = "{server.base_url}"\n'
                'api_key_env = "SLOW_KEY"\nidle_timeout = 0.5\n'
            ),
        )
        run = await cli(tmp_path, "--config", config, "chat", "hi", env={"SLOW_KEY": KEY})
    run.assert_one_error(failures.STREAM_FAILED, "stalled", "0.5 s")


async def test_unreachable_server_names_the_url(tmp_path: Path) -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    config = write_toml(
        tmp_path,
        (
            f'[providers.gone]\nkind = "anthropic"\nbase_url = "{url}"\napi_key = "{KEY}"\n'
            "max_retries = 0\n"
        ),
    )
    run = await cli(tmp_path, "--config", config, "chat", "hi")
    run.assert_one_error(failures.UNREACHABLE, f"cannot reach {url}", "server running")


async def test_missing_key_names_the_variable(tmp_path: Path) -> None:
    run = await cli(tmp_path, "chat", "--provider", "openai", "hi")
    run.assert_one_error(failures.USAGE, "OPENAI_API_KEY")


async def test_bad_config_file_names_the_key(tmp_path: Path) -> None:
    text = '[providers.a]\nkind = "openai"\nmax_retries = "3"\n'
    run = await cli(tmp_path, "--config", write_toml(tmp_path, text), "chat", "hi")
    run.assert_one_error(failures.USAGE, "providers.a.max_retries: must be int, got '3'")


async def test_unknown_option_is_one_line(tmp_path: Path) -> None:
    run = await cli(tmp_path, "chat", "--nope", "hi")
    run.assert_one_error(failures.USAGE, "--nope")


async def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    async with open_embedded_provider() as server:
        server.enqueue(Step(Reply(text=" ".join(["word"] * 400)), delay=0.05))
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "synapsis_actors", "chat", "hi"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(tmp_path, **anthropic_env(server.anthropic_base_url)),
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        out = b""
        while b"word word" not in out:  # the reply has started
            out += await proc.stdout.receive_some()
        proc.send_signal(signal.SIGINT)
        async with trio.open_nursery() as nursery:
            chunks: list[bytes] = [out]
            errs: list[bytes] = []

            async def drain(stream: trio.abc.ReceiveStream, into: list[bytes]) -> None:
                while data := await stream.receive_some():
                    into.append(data)

            nursery.start_soon(drain, proc.stdout, chunks)
            nursery.start_soon(drain, proc.stderr, errs)
        code = await proc.wait()
    run = Run(code, b"".join(chunks).decode(), b"".join(errs).decode())
    run.assert_one_error(failures.INTERRUPTED, "interrupted")
    assert run.out.count("word") < 400


# ------------------------------------------------------------ terminal, import cost


def run_in_terminal(home: Path, *args: str) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; its exit code and output."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "synapsis_actors", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=clean_env(home, TERM="xterm-256color", COLUMNS="120"),
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        seen += data
    os.close(leader)
    return proc.wait(timeout=30), seen.decode()


def test_a_terminal_gets_rich_styling(tmp_path: Path) -> None:
    code, text = run_in_terminal(tmp_path, "chat", "--thinking", "Is 1001 prime?")
    assert code == 0, text
    assert "\x1b[2;3m 1001" in text  # thinking: dim italic
    assert "\x1b[2mend_turn · " in text  # the summary line: dim
    assert "[thinking]" not in text  # the style tells thinking apart, no label


def test_demo_draws_live_on_a_terminal(tmp_path: Path) -> None:
    code, text = run_in_terminal(tmp_path, "demo", "--seconds", "1.5", "--streams", "1")
    assert code == 0, text
    assert "\x1b[1A" in text  # rich Live redraws in place (cursor up)
    assert text.count("stream-1") > 1  # drawn more than once
    assert "demo finished after 1.5 s" in text


def test_import_stays_light(tmp_path: Path) -> None:
    code = (
        "import sys, synapsis_actors; "
        "print(sorted(m for m in ('hypercorn', 'synapsis_actors.cli') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        check=True,
    ).stdout
    assert out.strip() == "[]"


async def test_demo_ends_by_itself_with_a_summary(tmp_path: Path) -> None:
    run = await cli(tmp_path, "demo", "--seconds", "3", "--streams", "2")
    assert run.code == 0, run.err
    for name in ("demo", "streams", "stream-1", "stream-2", "flaky", "chaos"):
        assert name in run.out
    assert "\x1b[" not in run.both
    last = run.err.strip().splitlines()[-1]
    assert last.startswith("demo finished after 3 s")
    counts = dict(reversed(part.split()) for part in last.split(": ", 1)[1].split(", "))
    # the flaky worker crashed (at 2.6 s) and was restarted; the 429 (at 1.2 s) was
    # retried. The dropped stream (at 2.4 s) may land after the 3 s on a loaded
    # machine, so it is not counted on here.
    assert int(counts["restarts"]) >= 1
    assert int(counts["retries"]) >= 1
    assert int(counts["events"]) > 0
    assert "restarted flaky after FlakyBug" in run.out


# ------------------------------------------------------------ the server's words, --debug


async def test_a_403_shows_the_servers_message_and_request_id(tmp_path: Path) -> None:
    words = "Your organization does not have access to claude-opus-9"
    body = {"type": "error", "error": {"type": "permission_error", "message": words}}
    async with open_embedded_provider() as server:
        server.enqueue(Fault(status=403, body=body))
        run = await cli(tmp_path, "chat", "hi", env=anthropic_env(server.anthropic_base_url))
    line = run.assert_one_error(failures.AUTH, "denied permission (HTTP 403", words)
    assert "request id req_emb_" in line
    assert "refused the API key" not in line


async def test_the_servers_message_is_one_line_trimmed_and_keys_masked(tmp_path: Path) -> None:
    # A server that quotes the key back (some do, in full) and rambles over lines.
    words = f"Incorrect API key provided: {KEY}.\n\nSee   the docs. " + "x" * 600
    body = {"error": {"message": words, "type": "invalid_request_error", "code": None}}
    async with open_embedded_provider() as server:
        server.enqueue(Fault(status=400, body=body))
        config = write_toml(
            tmp_path,
            f'[providers.local]\nkind = "openai"\nbase_url = "{server.openai_base_url}"\n'
            'api_key_env = "LOCAL_KEY"\nmodel = "m"\n',
        )
        run = await cli(tmp_path, "--config", config, "chat", "hi", env={"LOCAL_KEY": KEY})
    line = run.assert_one_error(failures.REJECTED, "rejected the request (HTTP 400")
    # the library redacts an echoed key before the CLI sees it; one line
    assert "Incorrect API key provided: [redacted]. See the docs. xxx" in line
    assert KEY not in line
    assert "…" in line.rsplit("xxx", 1)[1][:2]  # cut at the limit
    assert len(line) < 450


async def test_debug_shows_a_traceback_for_errors_delivered_in_provider_done(
    tmp_path: Path,
) -> None:
    async with open_embedded_provider() as server:
        env = anthropic_env(server.anthropic_base_url)
        server.enqueue(Step(Reply(text="one two three four five six"), Fault(drop_after=6)))
        dropped = await cli(tmp_path, "chat", "hi", "--debug", env=env)
        server.enqueue(Fault(status=529))
        server.enqueue(Fault(status=529))
        server.enqueue(Fault(status=529))
        overloaded = await cli(tmp_path, "chat", "hi", "--debug", env=env)
    for run, cls in ((dropped, "StreamInterrupted"), (overloaded, "Overloaded")):
        assert "Traceback (most recent call last)" in run.err, run.err
        assert f"synapsis_actors.errors.{cls}" in run.err
        assert run.error_lines(), run.err  # the one line still ends the output
        run.assert_no_secret()
    # the dropped connection's own error is shown as the cause
    assert "direct cause" in dropped.err
    assert overloaded.code == failures.RATE_LIMITED
    assert "3 attempts over" in overloaded.error_lines()[0]


async def test_a_reply_cut_off_at_max_tokens_exits_8_with_a_warning(tmp_path: Path) -> None:
    async with open_embedded_provider() as server:
        server.enqueue(Reply(text="a long answer", stop_reason="max_tokens", output_tokens=7))
        run = await cli(
            tmp_path,
            "chat",
            "--max-tokens",
            "7",
            "hi",
            env=anthropic_env(server.anthropic_base_url),
        )
    assert run.code == failures.TRUNCATED
    assert run.out == "a long answer\n"
    summary, warning = run.err.strip().splitlines()[-2:]
    assert summary.startswith("max_tokens · ")
    assert warning == (
        "warning: the reply was cut off at max_tokens=7 (7 output tokens); raise --max-tokens"
    )
    assert run.error_lines() == []


# ------------------------------------------------------------ the model catalogue


async def test_models_shows_limits_and_capabilities(tmp_path: Path) -> None:
    known = await cli(tmp_path, "models", "--known")
    assert known.code == 0, known.err
    header, *rows = known.out.splitlines()
    assert header.split() == [
        "MODEL",
        "OWNED",
        "BY",
        "CONTEXT",
        "MAX",
        "OUTPUT",
        "CAPABILITIES",
        "FROM",
    ]
    sonnet = next(row for row in rows if row.startswith("claude-sonnet-4-5 "))
    assert sonnet.split()[1:4] == ["anthropic", "200,000", "64,000"]
    assert "thinking" in sonnet
    async with open_embedded_provider(models=("claude-haiku-4-5", "embedded-echo")) as server:
        run = await cli(tmp_path, "models", env=anthropic_env(server.anthropic_base_url))
    assert run.code == 0, run.err
    haiku = next(row for row in run.out.splitlines() if row.startswith("claude-haiku-4-5 "))
    assert haiku.split()[-1] == "server+catalog"
    assert "64,000" in haiku
    echo = next(row for row in run.out.splitlines() if row.startswith("embedded-echo "))
    assert echo.split()[-1] == "server"


async def test_max_tokens_above_the_models_limit_fails_before_sending(tmp_path: Path) -> None:
    async with open_embedded_provider() as server:
        env = anthropic_env(server.anthropic_base_url)
        run = await cli(tmp_path, "chat", "--max-tokens", "100000", "hi", env=env)
        assert server.requests == []
    run.assert_one_error(
        failures.USAGE, "max_tokens: 100000 is more than claude-sonnet-4-5 allows", "at most 64000"
    )


async def test_each_retry_is_said_while_it_waits(tmp_path: Path) -> None:
    async with open_embedded_provider() as server:
        server.enqueue(Fault(status=503))
        server.enqueue(Reply(text="Back again."))
        run = await cli(tmp_path, "chat", "hi", env=anthropic_env(server.anthropic_base_url))
    assert run.code == 0, run.err
    assert run.out == "Back again.\n"
    (line,) = [line for line in run.err.splitlines() if line.startswith("attempt ")]
    assert line.startswith("attempt 1 of 3 failed (HTTP 503 ServerError); retrying in ")
    assert line.endswith(" s")
