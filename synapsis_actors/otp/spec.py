"""Child specifications and supervisor flags, validated at construction.

A supervision tree is plain data: a list of :class:`ChildSpec` plus the
supervisor's flags (strategy, intensity). Everything is checked when the
object is built, so a bad tree fails before anything starts, with an
:class:`~synapsis_actors.errors.InvalidChildSpec` naming the field.
"""

from __future__ import annotations

import functools
import inspect
import math
import types
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, Literal, TypeAlias

import attrs

from ..errors import InvalidChildSpec

__all__ = [
    "RESTART_TYPES",
    "STRATEGIES",
    "ChildSpec",
    "ChildType",
    "RestartType",
    "ShutdownValue",
    "Strategy",
    "SupervisorBehaviour",
    "is_async_callable",
]

RestartType: TypeAlias = Literal["permanent", "transient", "temporary"]
Strategy: TypeAlias = Literal["one_for_one", "one_for_all", "rest_for_one"]
ChildType: TypeAlias = Literal["worker", "supervisor"]
#: seconds (>= 0), ``"brutal_kill"`` or ``"infinity"``
ShutdownValue: TypeAlias = float | Literal["brutal_kill", "infinity"]

RESTART_TYPES: frozenset[str] = frozenset({"permanent", "transient", "temporary"})
STRATEGIES: frozenset[str] = frozenset({"one_for_one", "one_for_all", "rest_for_one"})
DEFAULT_WORKER_SHUTDOWN = 5.0


class SupervisorBehaviour:
    """Marker base of everything whose bound ``run`` is a supervisor.

    A :class:`ChildSpec` whose ``start`` is such a ``run`` defaults to
    ``type="supervisor"`` and ``shutdown="infinity"`` (OTP's defaults).
    """


def _unwrap(fn: object) -> object:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def is_async_callable(fn: object) -> bool:
    """True for async functions, bound async methods, ``functools.partial``
    of those, and objects whose ``__call__`` is async."""
    # The usual case first (a task supervisor checks every task it starts):
    # an async function or bound method, told by its code flags alone.
    plain: Any = fn.__func__ if type(fn) is types.MethodType else fn
    if type(plain) is types.FunctionType and plain.__code__.co_flags & inspect.CO_COROUTINE:
        return True
    fn = _unwrap(fn)
    if inspect.iscoroutinefunction(fn):
        return True
    if inspect.isfunction(fn) or inspect.ismethod(fn) or not callable(fn):
        return False
    return inspect.iscoroutinefunction(type(fn).__call__)


def _default_type(spec: ChildSpec) -> ChildType:
    owner = getattr(_unwrap(spec.start), "__self__", None)
    return "supervisor" if isinstance(owner, SupervisorBehaviour) else "worker"


def _default_shutdown(spec: ChildSpec) -> ShutdownValue:
    return "infinity" if spec.type == "supervisor" else DEFAULT_WORKER_SHUTDOWN


def check_shutdown(value: object, field: str = "shutdown") -> None:
    """Raise InvalidChildSpec unless ``value`` is a valid shutdown."""
    if value in ("brutal_kill", "infinity"):
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidChildSpec(
            field, f"must be seconds, 'brutal_kill' or 'infinity', not {value!r}"
        )
    if math.isnan(value) or value < 0:
        raise InvalidChildSpec(field, f"must be >= 0 seconds, not {value!r}")


@attrs.frozen(eq=False)
class ChildSpec:
    """How to start and supervise one child.

    ``start(*args, task_status=..., **kwargs)`` is an async callable following
    trio's ``nursery.start`` protocol: it calls ``task_status.started(value)``
    once it is up (``value`` is what ``start_child`` returns and what
    ``which_children()`` shows), then runs until it returns (normal exit),
    raises :class:`~synapsis_actors.otp.Shutdown` (normal exit) or raises
    anything else (abnormal exit). A start function that returns or raises
    before calling ``started()`` failed to start.

    ``restart``: ``"permanent"`` restarts after any exit, ``"transient"`` after
    abnormal exits only, ``"temporary"`` never (its spec is dropped when it
    exits). ``shutdown``: seconds to wait after cancelling it, ``"brutal_kill"``
    (cancel, do not wait) or ``"infinity"``; the default is 5 s for workers and
    ``"infinity"`` for supervisors (a ``start`` that is a supervisor's bound
    ``run`` makes ``type`` default to ``"supervisor"``).

    Raises :class:`~synapsis_actors.errors.InvalidChildSpec` naming the field.
    """

    id: Hashable
    start: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    restart: RestartType = "permanent"
    type: ChildType = attrs.field(
        default=attrs.Factory(_default_type, takes_self=True), kw_only=True
    )
    shutdown: ShutdownValue = attrs.field(default=attrs.Factory(_default_shutdown, takes_self=True))

    def __attrs_post_init__(self) -> None:
        try:
            hash(self.id)
        except TypeError:
            raise InvalidChildSpec("id", f"must be hashable, not {self.id!r}") from None
        if not callable(self.start) or not is_async_callable(self.start):
            raise InvalidChildSpec(
                "start",
                f"{self.start!r} is not an async function (it must accept task_status"
                " and call task_status.started())",
            )
        if not isinstance(self.args, tuple):
            raise InvalidChildSpec("args", f"must be a tuple, not {type(self.args).__name__}")
        if not isinstance(self.kwargs, Mapping):
            raise InvalidChildSpec("kwargs", f"must be a mapping, not {type(self.kwargs).__name__}")
        if "task_status" in self.kwargs:
            raise InvalidChildSpec("kwargs", "task_status is passed by the supervisor")
        if self.restart not in RESTART_TYPES:
            raise InvalidChildSpec(
                "restart", f"must be one of {sorted(RESTART_TYPES)}, not {self.restart!r}"
            )
        if self.type not in ("worker", "supervisor"):
            raise InvalidChildSpec("type", f"must be 'worker' or 'supervisor', not {self.type!r}")
        check_shutdown(self.shutdown)

    def __repr__(self) -> str:
        name = getattr(_unwrap(self.start), "__qualname__", repr(self.start))
        return (
            f"ChildSpec(id={self.id!r}, start={name}, restart={self.restart!r},"
            f" shutdown={self.shutdown!r}, type={self.type!r})"
        )


def check_strategy(strategy: object) -> None:
    if strategy not in STRATEGIES:
        raise InvalidChildSpec("strategy", f"must be one of {sorted(STRATEGIES)}, not {strategy!r}")


def check_intensity(max_restarts: object, max_seconds: object) -> None:
    if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
        raise InvalidChildSpec("max_restarts", f"must be an int >= 0, not {max_restarts!r}")
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, int | float)
        or math.isnan(max_seconds)
        or max_seconds <= 0
    ):
        raise InvalidChildSpec("max_seconds", f"must be a number > 0, not {max_seconds!r}")


def check_children(children: Iterable[object]) -> list[ChildSpec]:
    """The specs as a list; rejects non-specs and duplicate ids."""
    if isinstance(children, str | bytes | Mapping) or not isinstance(children, Iterable):
        raise InvalidChildSpec("children", "must be a list of ChildSpec")
    specs: list[ChildSpec] = []
    seen: set[Hashable] = set()
    for index, spec in enumerate(children):
        if not isinstance(spec, ChildSpec):
            raise InvalidChildSpec(f"children[{index}]", f"is not a ChildSpec: {spec!r}")
        if spec.id in seen:
            raise InvalidChildSpec("id", f"duplicate child id {spec.id!r}")
        seen.add(spec.id)
        specs.append(spec)
    return specs
