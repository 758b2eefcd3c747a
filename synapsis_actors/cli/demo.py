"""``synapsis-actors demo``: a supervision tree at work, live, while faults are injected.

The tree (``Supervisor`` from ``synapsis_actors.otp``)::

    demo                     one_for_one
    ├── streams              one_for_one: N permanent stream workers
    │   ├── stream-1         loops: one stream after another on the embedded provider;
    │   └── ...              a failed stream (dropped, error event) crashes the worker
    ├── flaky                a permanent worker with a bug: it crashes every few seconds
    └── chaos                scripts the faults on the embedded provider, in rotation:
                             a 429 with Retry-After (the runtime retries it), a stream
                             dropped midway, an overloaded error event after the 200

Supervisor telemetry (child exited / restarted) and provider telemetry
(request retried) feed the counters; the view redraws a few times per second
with rich's ``Live`` on a terminal. Outside a terminal nothing is drawn while
it runs and one plain-text summary is printed at the end. The demo always
ends by itself after ``--seconds``: everything runs under one
``trio.move_on_after``, and leaving it stops the tree in reverse order.
"""

from __future__ import annotations

import argparse
import collections
import itertools
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import attrs
import trio

from ..errors import ConfigError
from .render import Sink

_FAULT_GAP = 1.2  # seconds between two injected faults
_PACE = 0.03  # seconds between two events of a reply (a visible, human pace)
_PROMPTS = (
    "Why supervise LLM streams?",
    "What does one_for_one mean?",
    "How does trio cancel a stream?",
    "When should a 429 be retried?",
)


class FlakyBug(RuntimeError):
    """The deliberate crash of the demo's ``flaky`` worker."""


@attrs.define
class WorkerView:
    status: str = "starting"
    streams: int = 0
    chars: int = 0


@attrs.define
class DemoState:
    """Everything the view shows; updated by workers and telemetry callbacks."""

    started: float = 0.0
    events: int = 0
    streams_ok: int = 0
    streams_failed: int = 0
    restarts: int = 0
    retries: int = 0
    faults: int = 0
    workers: dict[str, WorkerView] = attrs.field(factory=dict)
    log: collections.deque[str] = attrs.field(factory=lambda: collections.deque(maxlen=6))
    # The last tree drawn: the summary once the supervisors have stopped.
    tree: list[tuple[str, str | None]] = attrs.field(factory=list)
    window: collections.deque[tuple[float, int]] = attrs.field(factory=collections.deque)

    def note(self, text: str) -> None:
        self.log.append(f"{trio.current_time() - self.started:5.1f}s  {text}")

    def events_per_second(self) -> float:
        # Over the last second (a moving window of (time, total events) samples).
        now = trio.current_time()
        self.window.append((now, self.events))
        while len(self.window) > 1 and now - self.window[0][0] > 1.0:
            self.window.popleft()
        t0, e0 = self.window[0]
        return (self.events - e0) / (now - t0) if now > t0 else 0.0

    def on_supervision(self, event: Any) -> None:
        if event.name == "child_restarted":
            self.restarts += 1
            reason = event.reason
            why = type(reason).__name__ if isinstance(reason, BaseException) else str(reason)
            self.note(f"{event.supervisor}: restarted {event.child_id} after {why}")

    def on_provider(self, name: str, data: Mapping[str, Any]) -> None:
        if name == "provider.request.retry":
            self.retries += 1
            self.note(
                f"retry after {data.get('error')} (HTTP {data.get('status')}),"
                f" waiting {float(data.get('delay') or 0):.1f} s"
            )


async def _stream_worker(
    rt: Any, wid: str, state: DemoState, *, task_status: trio.TaskStatus[str]
) -> None:
    from ..model.events import ProviderChunk, ProviderDone, TextDelta
    from ..model.request import Message, Request
    from ..runtime.runtime import open_stream

    view = state.workers.setdefault(wid, WorkerView())
    task_status.started(wid)
    for n in itertools.count():
        request = Request(
            model="embedded-echo",
            max_tokens=256,
            messages=[Message.user(_PROMPTS[n % len(_PROMPTS)])],
        )
        view.status = "requesting"
        async with open_stream(rt, "embedded", request) as stream:
            async for msg in stream:
                if isinstance(msg, ProviderChunk):
                    state.events += 1
                    if isinstance(msg.event, TextDelta):
                        view.chars += len(msg.event.text)
                        view.status = f"streaming ({view.chars} chars)"
                elif isinstance(msg, ProviderDone):
                    if msg.error is not None:
                        state.streams_failed += 1
                        view.status = f"crashed: {type(msg.error).__name__}"
                        state.note(
                            f"{wid}: stream failed ({type(msg.error).__name__}), the worker crashes"
                        )
                        raise msg.error
                    state.streams_ok += 1
                    view.streams += 1
                    view.chars = 0


async def _flaky_worker(state: DemoState, *, task_status: trio.TaskStatus[str]) -> None:
    view = state.workers.setdefault("flaky", WorkerView())
    view.status = "working"
    task_status.started("flaky")
    await trio.sleep(2.6)
    view.status = "crashed: FlakyBug"
    raise FlakyBug("the flaky worker hit its bug")


async def _chaos(server: Any, state: DemoState, *, task_status: trio.TaskStatus[str]) -> None:
    from ..embedded import Fault, Step

    rotation: tuple[tuple[str, Any], ...] = (
        ("a 429 with Retry-After: 1", Fault(status=429, retry_after=1)),
        ("a stream dropped midway", Step(fault=Fault(drop_after=8), delay=_PACE)),
        (
            "an overloaded error event after the 200",
            Step(fault=Fault(error_event_at=6), delay=_PACE),
        ),
    )
    task_status.started("chaos")
    for label, fault in itertools.cycle(rotation):
        await trio.sleep(_FAULT_GAP)
        server.enqueue(fault)
        state.faults += 1
        state.note(f"chaos: injected {label}")


def _tree_lines(handle: Any, state: DemoState) -> list[tuple[str, str | None]]:
    """A tree as (text, style) lines, from the supervisors' own ``which_children``."""
    lines: list[tuple[str, str | None]] = [(f"{handle.name}", "bold")]

    def walk(sup: Any, prefix: str) -> None:
        try:
            children = sup.which_children()
        except Exception:  # a supervisor that just stopped has nothing to show
            return
        for i, child in enumerate(children):
            last = i == len(children) - 1
            branch = "└── " if last else "├── "
            worker = state.workers.get(str(child.id))
            detail = f"  {worker.status}" if worker and child.type == "worker" else ""
            done = f", {worker.streams} streams" if worker and worker.streams else ""
            value = child.value
            if hasattr(value, "start_nolink"):
                # A task supervisor: one temporary task per open stream; count them.
                detail = f"  {value.count_children().active} stream tasks running"
            style = {"running": None, "restarting": "yellow"}.get(child.state, "red")
            lines.append(
                (
                    f"{prefix}{branch}{child.id}  [{child.state}, restarts"
                    f" {child.restarts}{done}]{detail}",
                    style,
                )
            )
            if (
                child.type == "supervisor"
                and not hasattr(value, "start_nolink")
                and hasattr(value, "which_children")
            ):
                walk(value, prefix + ("    " if last else "│   "))

    walk(handle, "")
    return lines


def _stats_line(state: DemoState, rate: float) -> str:
    elapsed = trio.current_time() - state.started
    return (
        f"{elapsed:4.1f} s · {rate:6.1f} events/s · {state.events} events · streams"
        f" {state.streams_ok} ok / {state.streams_failed} failed · restarts"
        f" {state.restarts} · retries {state.retries} · faults injected {state.faults}"
    )


def _renderable(state: DemoState) -> Any:
    from rich.console import Group
    from rich.text import Text

    tree = Text()
    for text, style in state.tree:
        tree.append(text + "\n", style=style)
    log = Text("\n".join(state.log), style="dim")
    return Group(tree, Text(_stats_line(state, state.events_per_second()), style="bold"), log)


async def run_demo(args: argparse.Namespace, out: Sink, err: Sink) -> BaseException | None:
    """Run the demo for ``args.seconds``; returns an unexpected error (None when all went well)."""
    from ..embedded import Step, open_embedded_provider
    from ..model.config import ProviderConfig
    from ..otp import telemetry as otp_telemetry
    from ..otp.spec import ChildSpec
    from ..otp.supervisor import Supervisor, open_supervisor
    from ..runtime import telemetry as provider_telemetry
    from ..runtime.runtime import open_runtime

    seconds, streams = float(args.seconds), int(args.streams)
    if not 0 < seconds <= 3600:
        return ConfigError("--seconds", f"must be in (0, 3600], got {seconds:g}")
    if not 1 <= streams <= 32:
        return ConfigError("--streams", f"must be 1..32, got {streams}")
    state = DemoState(started=trio.current_time())
    live: Any = None
    try:
        with ExitStack() as hooks:
            hooks.enter_context(otp_telemetry.subscribed(state.on_supervision))
            hooks.enter_context(provider_telemetry.subscribed(state.on_provider))
            async with (
                open_embedded_provider(default=Step(delay=_PACE)) as server,
                open_runtime() as rt,
            ):
                await rt.providers.register(
                    "embedded",
                    ProviderConfig(
                        kind="anthropic",
                        base_url=server.anthropic_base_url,
                        api_key="embedded",
                        max_retry_delay=5.0,
                    ),
                )
                workers = [
                    ChildSpec(f"stream-{i + 1}", _stream_worker, (rt, f"stream-{i + 1}", state))
                    for i in range(streams)
                ]
                stream_sup = Supervisor(workers, max_restarts=20, max_seconds=5.0, name="streams")
                children = [
                    stream_sup.child_spec("streams"),
                    ChildSpec("flaky", _flaky_worker, (state,)),
                    ChildSpec("chaos", _chaos, (server, state)),
                ]
                with trio.move_on_after(seconds):
                    async with open_supervisor(
                        children, max_restarts=20, max_seconds=5.0, name="demo"
                    ) as handle:
                        state.started = trio.current_time()
                        if out.styled:
                            live = _start_live(state)
                            hooks.callback(live.stop)
                        await _refresh(live, [rt.supervisor, handle], state)
    except Exception as exc:
        return exc
    if live is None:
        for text, _style in state.tree:
            out.write(text + "\n")
        out.write(_stats_line(state, state.events / max(seconds, 1e-9)) + "\n")
        for line in state.log:
            out.write(line + "\n")
    err.write(
        f"demo finished after {seconds:g} s: {state.restarts} restarts,"
        f" {state.retries} retries, {state.events} events\n",
        "dim",
    )
    return None


def _start_live(state: DemoState) -> Any:
    from rich.live import Live

    live = Live(_renderable(state), auto_refresh=False, transient=False)
    live.start()
    return live


async def _refresh(live: Any, handles: list[Any], state: DemoState) -> None:
    while True:
        state.tree = [line for h in handles for line in _tree_lines(h, state)]
        if live is not None:
            live.update(_renderable(state), refresh=True)
        await trio.sleep(0.125)
