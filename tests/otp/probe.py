"""A scriptable worker for supervisor tests (real code, no mocks).

Each ``Probe`` worker records its starts and stops in ``probe.log``, hands a
fresh ``Token`` (one per incarnation) to ``task_status.started()``, then waits
for a command: exit normally, raise Shutdown, or raise an exception.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any

import attrs
import trio

from synapsis_actors.otp import ChildSpec, Shutdown

_serial = itertools.count(1)


@attrs.frozen
class Token:
    id: Hashable
    serial: int


class Probe:
    def __init__(self) -> None:
        self.log: list[tuple[str, Hashable]] = []
        self.inbox: dict[Hashable, trio.MemorySendChannel[Any]] = {}
        self.starts: dict[Hashable, int] = {}
        self.fail_start: dict[Hashable, int] = {}  # id -> how many next starts fail
        self.changed = trio.Event()
        self.cleanup_seconds: dict[Hashable, float] = {}
        self.raise_on_stop: dict[Hashable, BaseException] = {}

    def spec(self, id: Hashable, **kw: Any) -> ChildSpec:
        return ChildSpec(id, self.worker, (id,), **kw)

    def _note(self, what: str, id: Hashable) -> None:
        self.log.append((what, id))
        self.changed.set()
        self.changed = trio.Event()

    async def worker(self, id: Hashable, *, task_status: trio.TaskStatus[Token]) -> None:
        self.starts[id] = self.starts.get(id, 0) + 1
        if self.fail_start.get(id, 0) > 0:
            self.fail_start[id] -= 1
            self._note("start_failed", id)
            raise RuntimeError(f"{id} cannot start")
        send, recv = trio.open_memory_channel[Any](1)
        self.inbox[id] = send
        self._note("start", id)
        task_status.started(Token(id, next(_serial)))
        try:
            command = await recv.receive()
        except trio.Cancelled:
            if id in self.cleanup_seconds:
                with trio.CancelScope(shield=True):
                    await trio.sleep(self.cleanup_seconds[id])
            if id in self.raise_on_stop:
                raise self.raise_on_stop[id] from None
            raise
        finally:
            self._note("stop", id)
        if command == "exit":
            return
        if command == "shutdown":
            raise Shutdown()
        raise command

    async def tell(self, id: Hashable, command: Any) -> None:
        """Send a command to the running worker ``id`` and let the runtime settle."""
        await self.inbox[id].send(command)
        await settle()

    async def crash(self, id: Hashable, exc: BaseException | None = None) -> None:
        await self.tell(id, exc or ValueError(f"{id} crashed"))

    def count(self, what: str, id: Hashable) -> int:
        return sum(1 for entry in self.log if entry == (what, id))


async def settle() -> None:
    """Let every task run until all are blocked (autojump clock: no real time passes)."""
    await trio.sleep(0.001)
