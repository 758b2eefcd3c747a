"""The CLI's summary line shows the server's rate-limit headers when present."""

from __future__ import annotations

import synapsis_actors as sa
from synapsis_actors.cli.render import Timing, summary_line


def _done(status: sa.RateLimitStatus | None) -> sa.ProviderDone:
    usage = sa.Usage(input_tokens=12, output_tokens=3)
    message = sa.AssistantMessage(text="hi", usage=usage, stop_reason="end_turn")
    return sa.ProviderDone(None, "end_turn", "end_turn", usage, message, None, status)


def test_summary_shows_rate_limits() -> None:
    status = sa.RateLimitStatus(
        requests=sa.RateLimitWindow(50, 49, 1.25),
        tokens=sa.RateLimitWindow(40_000, 39_500, None),
        output_tokens=sa.RateLimitWindow(None, 7, None),
    )
    line = summary_line(_done(status), Timing(), "m via p")
    assert "limits: requests 49/50 (reset 1.2 s), tokens 39.5k/40k, output tokens 7 · " in line
    assert line.endswith(" · m via p")


def test_summary_without_rate_limits_is_unchanged() -> None:
    line = summary_line(_done(None), Timing(), "m via p")
    assert "limits" not in line
    assert line.startswith("end_turn · 12 in / 3 out tokens")
