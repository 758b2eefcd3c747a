"""Shared test configuration.

The captured third-party streams live outside the project, in
``../shared/fixtures/sse`` (override with ``SYNAPSIS_SSE_FIXTURES``), and the
Gemini ones in ``../shared/fixtures/gemini_sse`` (``SYNAPSIS_GEMINI_FIXTURES``).
Tests of those streams use the ``sse_fixtures_dir`` / ``gemini_fixtures_dir``
fixtures, which skip with a clear reason where the folder is absent (a user's
fresh clone). Every other test uses streams the project wrote itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "sse"
_GEMINI_DEFAULT = _DEFAULT.parent / "gemini_sse"


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


def gemini_fixtures_path() -> Path | None:
    path = Path(os.environ.get("SYNAPSIS_GEMINI_FIXTURES", str(_GEMINI_DEFAULT)))
    return path if (path / "MANIFEST.tsv").is_file() else None


@pytest.fixture
def gemini_fixtures_dir() -> Path:
    path = gemini_fixtures_path()
    if path is None:
        pytest.skip(
            "captured Gemini streams not found: set SYNAPSIS_GEMINI_FIXTURES or place them "
            f"in {_GEMINI_DEFAULT} (third-party data, not shipped with the project)"
        )
    return path
