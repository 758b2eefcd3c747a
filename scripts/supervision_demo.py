"""A supervision tree restarting a crashing worker, printed live (a few seconds).

    python scripts/supervision_demo.py

The tree::

    root (one_for_one, 10 restarts / 5 s)
    ├── clock          a worker that ticks
    ├── counter        an Actor, registered as "counter"
    └── workers        a Supervisor (rest_for_one, 2 restarts / 5 s)
        ├── flaky      crashes 0.4 s after each start
        └── helper     started after flaky: restarted with it (rest_for_one)

flaky crashes, "workers" restarts it (and helper) twice, then gives up on
the third crash; "root" restarts "workers" as a whole (escalation), and the
cycle goes on until the demo stops the tree, children in reverse order.
"""

from __future__ import annotations

from typing import Any

import trio
from rich.console import Console
from rich.tree import Tree

import synapsis_actors as sa

console = Console(highlight=False)
STATE_STYLE = {"running": "green", "stopped": "dim", "restarting": "yellow"}


async def clock(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started("tick")
    await trio.sleep_forever()


async def flaky(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started("fragile")
    await trio.sleep(0.4)
    raise RuntimeError("flaky crashed")


class Counter(sa.Actor):
    def __init__(self) -> None:
        self.count = 0

    async def handle_call(self, message: Any, caller: sa.Caller) -> Any:
        return self.count

    async def handle_cast(self, message: Any) -> None:
        self.count += 1


def render(handle: sa.SupervisorHandle, label: str) -> Tree:
    tree = Tree(f"[bold]{label}[/bold]")
    for child in handle.which_children():
        style = STATE_STYLE.get(child.state, "white")
        text = f"[{style}]{child.id}[/{style}]  {child.state}  restarts={child.restarts}"
        if isinstance(child.value, sa.SupervisorHandle):
            tree.add(render(child.value, text))
        else:
            tree.add(text)
    return tree


async def main() -> None:
    names = sa.Registry("demo")
    workers = sa.Supervisor(
        [sa.ChildSpec("flaky", flaky), sa.ChildSpec("helper", clock)],
        strategy="rest_for_one",
        max_restarts=2,
        name="workers",
    )
    children = [
        sa.ChildSpec("clock", clock),
        Counter.child_spec("counter", name="counter", registry=names),
        workers.child_spec("workers"),
    ]

    t0 = trio.current_time()

    def show(event: sa.TelemetryEvent) -> None:
        if event.name in ("child_restarted", "intensity_exceeded"):
            reason = event.reason
            if isinstance(reason, sa.RestartIntensityExceeded):
                reason = f"gave up after {reason.max_restarts} restarts"
            console.print(
                f"[yellow]{event.timestamp - t0:5.2f}s[/yellow] {event.supervisor}:"
                f" {event.name} {event.child_id!r} ({reason})"
            )

    with sa.otp.subscribed(show):
        async with sa.open_supervisor(children, max_restarts=10, name="root") as root:
            console.print(render(root, "root"))
            for _ in range(5):
                await trio.sleep(0.55)
                await names.cast("counter", "tick")
                console.print(render(root, "root"))
            console.print(f"counter survived: {await names.call('counter', 'get')} ticks")
    console.print("[bold]stopped[/bold]: children stopped in reverse start order")


if __name__ == "__main__":
    import logging

    logging.getLogger("synapsis_actors.otp").setLevel(logging.CRITICAL)  # the demo prints its own
    trio.run(main)
