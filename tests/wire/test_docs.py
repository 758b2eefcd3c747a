"""docs/providers.md stays true: every statement has a row, every cited test exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
STATEMENTS = (
    [f"P{i}" for i in range(1, 6)]
    + [f"Q{i}" for i in range(1, 7)]
    + [f"O{i}" for i in range(1, 10)]
    + [f"G{i}" for i in range(1, 9)]
)


def protocol_section() -> str:
    """The protocol half of the doc (the runtime's tables follow, with their own test)."""
    text = DOC.read_text()
    return text.split("\n## Runtime conformance", 1)[0]


def test_every_statement_has_a_row_with_own_stream_tests() -> None:
    text = protocol_section()
    for statement in STATEMENTS:
        rows = [line for line in text.splitlines() if line.startswith(f"| {statement} ")]
        assert len(rows) == 1, statement
        own = rows[0].split("|")[2]
        assert "::test_" in own, f"{statement} has no test with own streams"


def test_every_cited_test_exists() -> None:
    cited = set(re.findall(r"`(test_\w+)\.py::(test_\w+)`", protocol_section()))
    assert len(cited) > 60
    here = Path(__file__).parent
    for module, name in sorted(cited):
        # Read, not imported: the replay module imports the (slow) official SDKs.
        tree = ast.parse((here / f"{module}.py").read_text())
        defined = {
            n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert name in defined, f"{module}.py::{name} is cited but missing"
