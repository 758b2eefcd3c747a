"""docs/reliability.md stays true: every test it cites exists, every fault case is listed."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from .test_server_faults import PARAMS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()


def test_every_fault_case_has_a_row_and_every_row_a_case() -> None:
    cited = set(
        re.findall(r"`tests/reliability/test_server_faults\.py::test_fault\[([\w.-]+)\]`", DOC)
    )
    assert cited == {param.id for param in PARAMS}


def test_every_cited_test_function_exists() -> None:
    cited = set(re.findall(r"`(?:tests/reliability/(\w+)\.py::)?(test_\w+)(?:\[[^\]]*\])?`", DOC))
    assert len(cited) > 15
    modules = [m.name[:-3] for m in Path(__file__).parent.glob("test_*.py")]
    for module, function in cited:
        candidates = [module] if module else modules
        found = any(
            callable(getattr(importlib.import_module(f".{name}", __package__), function, None))
            for name in candidates
        )
        assert found, f"{module or 'tests/reliability'}::{function} is gone"
