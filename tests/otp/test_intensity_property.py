"""I1-I3 as a property: for any crash schedule, the supervisor gives up exactly at
the first restart that would make more than max_restarts within max_seconds."""

from __future__ import annotations

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from synapsis_actors import RestartIntensityExceeded
from synapsis_actors.otp import ChildSpec, Supervisor


def expected_give_up(gaps: list[float], max_restarts: int, max_seconds: float) -> int | None:
    """Index of the crash that exceeds the intensity (None if none does)."""
    times: list[float] = []
    now = 0.0
    for index, gap in enumerate(gaps):
        now += gap
        times = [t for t in times if t > now - max_seconds] + [now]
        if len(times) > max_restarts:
            return index
    return None


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=12),
    max_restarts=st.integers(min_value=0, max_value=3),
    max_seconds=st.sampled_from([1.0, 2.0, 5.0]),
)
def test_gives_up_exactly_when_the_window_overflows(
    gaps: list[float], max_restarts: int, max_seconds: float
) -> None:
    starts: list[float] = []

    async def crasher(*, task_status: trio.TaskStatus[None]) -> None:
        starts.append(trio.current_time())
        task_status.started()
        index = len(starts) - 1
        if index >= len(gaps):
            await trio.sleep_forever()
        await trio.sleep(gaps[index])
        raise ValueError(f"crash {index}")

    outcome: list[object] = []

    async def main() -> None:
        sup = Supervisor(
            [ChildSpec("c", crasher)], max_restarts=max_restarts, max_seconds=max_seconds
        )
        with trio.move_on_after(sum(gaps) + 10):
            try:
                await sup.run()
            except RestartIntensityExceeded as exc:
                outcome.append(exc)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    give_up = expected_give_up(gaps, max_restarts, max_seconds)
    if give_up is None:
        assert outcome == []
        assert len(starts) == len(gaps) + 1  # every crash was followed by a restart
    else:
        [error] = outcome
        assert isinstance(error, RestartIntensityExceeded)
        assert str(error.last_failure) == f"crash {give_up}"
        assert len(starts) == give_up + 1  # no restart after the overflowing crash
