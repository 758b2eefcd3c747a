"""Shared test configuration.

The captured third-party streams live outside the project, in
``../shared/fixtures/sse`` (override with ``SYNAPSIS_SSE_FIXTURES``), and the
Gemini ones in ``../shared/fixtures/gemini_sse`` (``SYNAPSIS_GEMINI_FIXTURES``).
Tests of those streams use the ``sse_fixtures_dir`` / ``gemini_fixtures_dir``
fixtures, which skip with a clear reason where the folder is absent (a user's
fresh clone). Every other test uses streams the project wrote itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from captures import GEMINI_DEFAULT, SSE_DEFAULT, gemini_dir, sse_dir


@pytest.fixture
def sse_fixtures_dir() -> Path:
    path = sse_dir()
    if path is None:
        pytest.skip(
            "captured streams not found: set SYNAPSIS_SSE_FIXTURES or place them in "
            f"{SSE_DEFAULT} (they are third-party data, not shipped with the project)"
        )
    return path


@pytest.fixture
def gemini_fixtures_dir() -> Path:
    path = gemini_dir()
    if path is None:
        pytest.skip(
            "captured Gemini streams not found: set SYNAPSIS_GEMINI_FIXTURES or place them "
            f"in {GEMINI_DEFAULT} (third-party data, not shipped with the project)"
        )
    return path
