"""docs/otp-conformance.md stays true: a row per statement, every cited test exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "otp-conformance.md").read_text()
STATEMENTS = (
    [f"S{i}" for i in range(1, 4)]
    + [f"R{i}" for i in range(1, 5)]
    + [f"G{i}" for i in range(1, 5)]
    + [f"I{i}" for i in range(1, 7)]
    + [f"E{i}" for i in range(1, 7)]
    + [f"D{i}" for i in range(1, 6)]
    + [f"A{i}" for i in range(1, 8)]
)


def test_one_row_per_statement_each_citing_a_test() -> None:
    rows = dict(re.findall(r"^\| ([SRGIEDA]\d) \|(.*)$", DOC, flags=re.M))
    assert sorted(rows) == sorted(STATEMENTS)
    for statement, row in rows.items():
        assert "tests/otp/" in row, f"{statement} cites no test"


def test_every_cited_node_id_exists() -> None:
    cited = set(re.findall(r"`tests/otp/(\w+)\.py::(\w+)`", DOC))
    assert len(cited) > 40
    for module, function in cited:
        mod = importlib.import_module(f".{module}", __package__)
        assert callable(getattr(mod, function, None)), f"{module}::{function} is gone"
