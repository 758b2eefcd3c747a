"""The OTP-style runtime on trio: supervisors, task supervisors, actors, a registry.

This layer knows nothing of HTTP or LLMs: it imports only trio, attrs, the
standard library and :mod:`synapsis_actors.errors`. Its public names are
re-exported here (and from :mod:`synapsis_actors`); the modules behind it are
private in spirit, one concept each:

``spec``        ChildSpec and flag validation
``supervisor``  Supervisor, open_supervisor, SupervisorHandle
``dynamic``     DynamicSupervisor, TaskSupervisor (start_nolink), their handles
``actor``       Actor (GenServer), ActorRef (call / cast / send), Caller, NOREPLY
``registry``    Registry of unique names, Registration
``telemetry``   events and their subscription
``signals``     Shutdown, the normal-exit signal

See ``docs/otp.md`` for a guided tour and ``docs/otp-conformance.md`` for
the OTP semantics each test proves.
"""

from __future__ import annotations

from . import telemetry
from .actor import NOREPLY, Actor, ActorRef, Caller
from .dynamic import (
    ChildHandle,
    DynamicSupervisor,
    DynamicSupervisorHandle,
    TaskHandle,
    TaskSupervisor,
    TaskSupervisorHandle,
    open_dynamic_supervisor,
    open_task_supervisor,
)
from .registry import Registration, Registry
from .signals import Shutdown
from .spec import ChildSpec, ChildType, RestartType, ShutdownValue, Strategy
from .supervisor import (
    ChildCounts,
    ChildInfo,
    ChildState,
    Supervisor,
    SupervisorHandle,
    open_supervisor,
)
from .telemetry import TelemetryEvent, subscribe, subscribed

__all__ = [
    "NOREPLY",
    "Actor",
    "ActorRef",
    "Caller",
    "ChildCounts",
    "ChildHandle",
    "ChildInfo",
    "ChildSpec",
    "ChildState",
    "ChildType",
    "DynamicSupervisor",
    "DynamicSupervisorHandle",
    "Registration",
    "Registry",
    "RestartType",
    "Shutdown",
    "ShutdownValue",
    "Strategy",
    "Supervisor",
    "SupervisorHandle",
    "TaskHandle",
    "TaskSupervisor",
    "TaskSupervisorHandle",
    "TelemetryEvent",
    "open_dynamic_supervisor",
    "open_supervisor",
    "open_task_supervisor",
    "subscribe",
    "subscribed",
    "telemetry",
]
