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
