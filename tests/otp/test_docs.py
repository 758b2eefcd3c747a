"""Every ```python example of docs/otp.md runs, and prints what its comments say."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

DOC = Path(__file__).resolve().parents[2] / "docs" / "otp.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def run_example(source: str) -> list[str]:
    printed: list[str] = []

    def fake_print(*args: Any, **kwargs: Any) -> None:
        printed.append(" ".join(str(a) for a in args))

    def run_with_mock_clock(fn: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("clock", trio.testing.MockClock(autojump_threshold=0))
        return trio.run(fn, *args, **kwargs)

    fake_trio = type("trio_shim", (), {})()
    for name in dir(trio):
        if not name.startswith("__"):
            setattr(fake_trio, name, getattr(trio, name))
    fake_trio.run = run_with_mock_clock  # type: ignore[attr-defined]
    source = source.replace("import trio\n", "", 1)
    exec(compile(source, str(DOC), "exec"), {"trio": fake_trio, "print": fake_print})
    return printed


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_runs(index: int) -> None:
    printed = run_example(EXAMPLES[index])
    assert printed, "each example prints its results"
    expected = {
        0: ["[('db', 'running', 'db is up'), ('flaky', 'running', None),"
            " ('cache', 'running', 'cache is up')]", "1"],
        1: ["running 1"],
        2: ["10", "20", "task failed: no 3", "True"],
        3: ["105", "exited: counter crashed", "100", "False"],
        4: ["gave up: first run fails",
            "['child_started', 'child_exited', 'child_restarted', 'child_started',"
            " 'child_exited', 'intensity_exceeded', 'shutdown']"],
    }  # fmt: skip
    for line in expected.get(index, []):
        assert line in printed
