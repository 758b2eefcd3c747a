"""Where the shared captured streams live, and their MANIFEST: one place for every test.

They are third-party data outside the project: ``../shared/fixtures/sse``
(override with ``SYNAPSIS_SSE_FIXTURES``) and ``../shared/fixtures/gemini_sse``
(``SYNAPSIS_GEMINI_FIXTURES``). Absent folders give None / an empty manifest;
the ``sse_fixtures_dir`` / ``gemini_fixtures_dir`` fixtures then skip.
"""

from __future__ import annotations

import os
from pathlib import Path

SSE_DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "sse"
GEMINI_DEFAULT = SSE_DEFAULT.parent / "gemini_sse"


def _found(variable: str, default: Path) -> Path | None:
    path = Path(os.environ.get(variable, str(default)))
    return path if (path / "MANIFEST.tsv").is_file() else None


def sse_dir() -> Path | None:
    """The captured OpenAI-compatible and Anthropic streams, or None when absent."""
    return _found("SYNAPSIS_SSE_FIXTURES", SSE_DEFAULT)


def gemini_dir() -> Path | None:
    """The captured Gemini streams, or None when absent."""
    return _found("SYNAPSIS_GEMINI_FIXTURES", GEMINI_DEFAULT)


def manifest(folder: Path | None) -> dict[str, dict[str, str]]:
    """File name -> its MANIFEST.tsv row (column -> value); empty without the folder."""
    if folder is None:
        return {}
    lines = (folder / "MANIFEST.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return {
        row.split("\t")[0]: dict(zip(header, row.split("\t"), strict=False)) for row in lines[1:]
    }
