"""The ```python examples of docs/embedded.md run and print what their comments say."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio

DOC = Path(__file__).resolve().parents[2] / "docs" / "embedded.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def run_example(source: str) -> list[str]:
    printed: list[str] = []

    def fake_print(*args: Any, **kwargs: Any) -> None:
        printed.append(" ".join(str(a) for a in args))

    namespace: dict[str, Any] = {"print": fake_print}
    exec(compile(source.replace("trio.run(main)", ""), str(DOC), "exec"), namespace)
    trio.run(namespace["main"])
    return printed


def test_there_are_two_examples() -> None:
    assert len(EXAMPLES) == 2


def test_quick_start_prints_the_echo() -> None:
    printed = run_example(EXAMPLES[0])
    assert len(printed) == 1
    assert printed[0].startswith('You said: "Hello?". This is the embedded local provider')


def test_early_exit_example_prints_disconnected() -> None:
    assert run_example(EXAMPLES[1]) == ["disconnected"]
