"""Bad input fails at construction, with InvalidChildSpec naming the field."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio

from synapsis_actors import ConfigError, InvalidChildSpec
from synapsis_actors.otp import ChildSpec, Supervisor


async def worker(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()


def sync_worker(*, task_status: Any = None) -> None:
    pass


class AsyncCallable:
    async def __call__(self, *, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()


def test_defaults_follow_otp() -> None:
    spec = ChildSpec("w", worker)
    assert (spec.args, dict(spec.kwargs), spec.restart) == ((), {}, "permanent")
    assert spec.shutdown == 5.0
    assert spec.type == "worker"


def test_supervisor_child_defaults_to_infinity_shutdown() -> None:
    sup = Supervisor([])
    spec = ChildSpec("sup", sup.run)
    assert spec.type == "supervisor"
    assert spec.shutdown == "infinity"
    # explicit values win
    assert ChildSpec("sup", sup.run, shutdown=1.0).shutdown == 1.0


@pytest.mark.parametrize(
    "start", [functools.partial(worker), AsyncCallable(), functools.partial(AsyncCallable())]
)
def test_async_callables_are_accepted(start: Any) -> None:
    assert ChildSpec("w", start).start is start


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": sync_worker}, "start"),
        ({"start": functools.partial(sync_worker)}, "start"),
        ({"start": 42}, "start"),
        ({"restart": "sometimes"}, "restart"),
        ({"shutdown": -1}, "shutdown"),
        ({"shutdown": float("nan")}, "shutdown"),
        ({"shutdown": "later"}, "shutdown"),
        ({"shutdown": True}, "shutdown"),
        ({"id": ["unhashable"]}, "id"),
        ({"args": [1, 2]}, "args"),
        ({"kwargs": {"task_status": None}}, "kwargs"),
    ],
)
def test_bad_child_spec_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    params: dict[str, Any] = {"id": "w", "start": worker, **kwargs}
    with pytest.raises(InvalidChildSpec) as info:
        ChildSpec(**params)
    assert info.value.field == field
    assert field in str(info.value)
    assert isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"strategy": "one_for_some"}, "strategy"),
        ({"max_restarts": -1}, "max_restarts"),
        ({"max_restarts": 1.5}, "max_restarts"),
        ({"max_seconds": 0}, "max_seconds"),
        ({"max_seconds": -3}, "max_seconds"),
    ],
)
def test_bad_supervisor_flags_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidChildSpec) as info:
        Supervisor([], **kwargs)
    assert info.value.field == field


def test_duplicate_ids_rejected() -> None:
    """S3: duplicate ids in a static spec list are rejected at construction."""
    with pytest.raises(InvalidChildSpec) as info:
        Supervisor([ChildSpec("a", worker), ChildSpec("b", worker), ChildSpec("a", worker)])
    assert info.value.field == "id"
    assert "'a'" in str(info.value)


def test_non_spec_child_rejected() -> None:
    with pytest.raises(InvalidChildSpec) as info:
        Supervisor([ChildSpec("a", worker), worker])  # type: ignore[list-item]
    assert info.value.field == "children[1]"
