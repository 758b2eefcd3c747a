"""``open_*`` context managers shared by every supervisor kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import trio

from ..errors import RestartIntensityExceeded, StartError

H = TypeVar("H", bound="_Stoppable")


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


@asynccontextmanager
async def open_behaviour(
    run: Callable[..., Awaitable[Any]], handle_type: type[H]
) -> AsyncIterator[H]:
    """Run ``run`` in a private nursery, yield its handle, stop it on exit.

    A ``StartError`` or ``RestartIntensityExceeded`` from the supervisor is
    re-raised as itself (not wrapped in an ExceptionGroup); when it happens
    while the body runs, the body is cancelled first. An exception from the
    body stops the supervisor and propagates as itself too.
    """
    failure: BaseException | None = None
    body_error: Exception | None = None
    async with trio.open_nursery() as nursery:

        async def runner(*, task_status: trio.TaskStatus[H] = trio.TASK_STATUS_IGNORED) -> None:
            nonlocal failure
            try:
                await run(task_status=task_status)
            except RestartIntensityExceeded as exc:
                failure = exc
                nursery.cancel_scope.cancel()

        try:
            handle = await nursery.start(runner)
        except StartError as exc:
            failure = exc
        else:
            try:
                yield handle
            except Exception as exc:
                # Re-raised below, after the nursery: the caller sees its own
                # exception, not an ExceptionGroup made by our private nursery.
                body_error = exc
            finally:
                with trio.CancelScope(shield=True):
                    await handle.stop()
    if body_error is not None:
        raise body_error
    if failure is not None:
        raise failure
