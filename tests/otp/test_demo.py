"""scripts/supervision_demo.py runs (under a MockClock here) and shows the restarts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import trio

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "supervision_demo.py"


async def test_demo_shows_restart_escalation_and_clean_stop(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("supervision_demo", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    await demo.main()
    out = capsys.readouterr().out
    assert "workers: child_restarted 'flaky' (flaky crashed)" in out
    assert "workers: intensity_exceeded 'flaky'" in out
    assert "root: child_restarted 'workers'" in out
    assert "counter survived: 5 ticks" in out
    assert out.rstrip().endswith("children stopped in reverse start order")
