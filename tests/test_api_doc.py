"""docs/api.md stays true: it names every public name, and its examples run.

(a) Every name in ``synapsis_actors.__all__`` appears in the reference as a
code span starting with the name (`` `Name` ``, `` `Name(...)` ``, `` `sa.Name` ``).

(b) Every ```` ```python ```` block not preceded by ``<!-- not run -->`` is run
in a subprocess with a clean environment (no provider keys, no proxies, a
temporary HOME) and must exit 0 and print what the doc says it prints. What it
prints is read from the block itself, so the doc and the check cannot drift:

* a ``print(...)`` line's trailing ``# comment`` is a string stdout must
  contain;
* the column-0 ``# comment`` lines after ``trio.run(...)`` are a transcript:
  each must appear in stdout.

In both, ``...`` ends the checked part (``Usage(input_tokens=12, ...)``
checks ``Usage(input_tokens=12,``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import synapsis_actors

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
TEXT = DOC.read_text(encoding="utf-8")

_FENCE = re.compile(r"^```python\n(?P<code>.*?)\n```$", re.DOTALL | re.MULTILINE)
_NOT_RUN = "<!-- not run -->"


def _blocks() -> list[tuple[str, str]]:
    """(heading, code) for every runnable python block, named by the heading above it."""
    out = []
    for match in _FENCE.finditer(TEXT):
        before = TEXT[: match.start()]
        # The marker sits on the line right before the fence (or one blank line above).
        if any(_NOT_RUN in line for line in before.rstrip().rsplit("\n", 2)[-2:]):
            continue
        headings = re.findall(r"^#+ (.+)$", before, re.MULTILINE)
        out.append((headings[-1] if headings else "?", match.group("code")))
    return out


def _checked(comment: str) -> str:
    return comment.split("...", 1)[0].strip()


def expected_output(code: str) -> list[str]:
    """The strings the block's comments say it prints (see the module docstring)."""
    expected = []
    after_run = False
    for line in code.splitlines():
        if line.startswith("trio.run("):
            after_run = True
        elif after_run and line.startswith("# "):
            expected.append(_checked(line[2:]))
        elif "print(" in line and "  # " in line:
            expected.append(_checked(line.rsplit("  # ", 1)[1]))
    return [text for text in expected if text]


BLOCKS = _blocks()


def _clean_env(home: Path) -> dict[str, str]:
    # Only what a Python process needs: no *_API_KEY, no proxies (loopback
    # traffic must not go through one), no user config.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The checkout under test, not whichever one the venv has installed.
    env["PYTHONPATH"] = str(DOC.parents[1])
    env["LANG"] = "C.UTF-8"
    return env


def test_every_public_name_is_documented() -> None:
    missing = [
        name
        for name in synapsis_actors.__all__
        if not re.search(r"`(?:sa\.)?" + re.escape(name) + r"(?![A-Za-z0-9_])", TEXT)
    ]
    assert missing == [], f"docs/api.md does not mention: {missing}"


def test_the_doc_has_runnable_examples_with_stated_output() -> None:
    # Guards the parser: if the fences or comments change shape, the
    # parametrized test below must not silently run nothing.
    assert len(BLOCKS) >= 4
    for heading, code in BLOCKS:
        assert len(expected_output(code)) >= 2, heading


def test_expected_output_parsing() -> None:
    code = (
        "print(a)   # plain\n"
        "x = 1  # not a print\n"
        "print(b)  # Usage(input_tokens=12, ...)\n"
        "trio.run(main)\n"
        "# first line\n"
        "# The tool returned: x. ...\n"
    )
    assert expected_output(code) == [
        "plain",
        "Usage(input_tokens=12,",
        "first line",
        "The tool returned: x.",
    ]


@pytest.mark.parametrize(("heading", "code"), BLOCKS, ids=[h for h, _ in BLOCKS])
def test_example_runs_and_prints_what_the_doc_says(heading: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{heading}: exit {done.returncode}\n{done.stderr}"
    for text in expected_output(code):
        assert text in done.stdout, f"{heading}: {text!r} not in output:\n{done.stdout}"
