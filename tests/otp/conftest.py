from __future__ import annotations

from collections.abc import Iterator

import pytest

from synapsis_actors.otp import TelemetryEvent, subscribed


@pytest.fixture
def events() -> Iterator[list[TelemetryEvent]]:
    """Every telemetry event emitted during the test."""
    seen: list[TelemetryEvent] = []
    with subscribed(seen.append):
        yield seen
