"""Shared test configuration.

The captured third-party streams live outside the project, in
``../shared/fixtures/sse`` (override with ``SYNAPSIS_SSE_FIXTURES``). Tests of
those streams use the ``sse_fixtures_dir`` fixture, which skips with a clear
reason where the folder is absent (a user's fresh clone). Every other test
uses streams the project wrote itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "sse"


def shared_fixtures_dir() -> Path | None:
    path = Path(os.environ.get("SYNAPSIS_SSE_FIXTURES", str(_DEFAULT)))
    return path if (path / "MANIFEST.tsv").is_file() else None


@pytest.fixture
def sse_fixtures_dir() -> Path:
    path = shared_fixtures_dir()
    if path is None:
        pytest.skip(
            "captured streams not found: set SYNAPSIS_SSE_FIXTURES or place them in "
            f"{_DEFAULT} (they are third-party data, not shipped with the project)"
        )
    return path
