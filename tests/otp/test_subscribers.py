"""The subscriber list both telemetry modules (runtime and providers) share."""

from __future__ import annotations

from synapsis_actors.otp import telemetry
from synapsis_actors.otp.telemetry import Subscribers
from synapsis_actors.runtime import telemetry as provider_telemetry


def test_each_unsubscribe_removes_its_own_subscription_once() -> None:
    subs: Subscribers[object] = Subscribers()
    seen: list[str] = []
    first = subs.subscribe(seen.append)
    second = subs.subscribe(seen.append)  # the same callback twice: two subscriptions
    assert len(subs.callbacks) == 2
    first()
    first()  # again: does not remove the other subscription
    assert len(subs.callbacks) == 1
    assert subs
    second()
    assert subs.callbacks == ()
    assert not subs


def test_emit_iterates_a_snapshot_while_callbacks_change_the_list() -> None:
    subs: Subscribers[object] = Subscribers()
    calls: list[str] = []
    late = lambda: calls.append("late")  # noqa: E731
    unsubscribe_late: list[object] = []

    def first() -> None:
        calls.append("first")
        unsubscribe_late.append(subs.subscribe(late))

    subs.subscribe(first)
    for callback in subs.callbacks:  # what emit does
        callback()
    assert calls == ["first"]  # the subscription made during the loop waits for the next one
    assert subs.callbacks == (first, late)


def test_both_telemetry_modules_use_it_and_scope_subscriptions() -> None:
    events: list[object] = []
    with telemetry.subscribed(events.append):
        assert telemetry._subscribers.callbacks == (events.append,)
    assert telemetry._subscribers.callbacks == ()
    assert not provider_telemetry.active()
    with provider_telemetry.subscribed(lambda name, data: events.append(name)):
        assert provider_telemetry.active()
        provider_telemetry.emit("provider.test", {})
    assert not provider_telemetry.active()
    assert events == ["provider.test"]
