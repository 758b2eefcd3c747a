"""ModelInfo: one model a provider serves (from its models endpoint)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class ModelInfo:
    id: str
    owned_by: str | None = None
    context_window: int | None = None
    raw: Any = None
