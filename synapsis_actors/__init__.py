"""synapsis_actors: supervised, cancellable, typed LLM streams on trio.

The layers, each readable apart, imports pointing only down:

* ``otp``: the OTP-style runtime (supervisors, task supervisors, actors, a
  registry), which knows nothing of HTTP or LLMs;
* ``model``: the provider-neutral data (requests, events, replies, config);
* ``wire``: the vendor formats (Anthropic Messages, OpenAI-compatible chat
  completions and their presets, Google Gemini, SSE);
* ``transport``: the HTTP client (httpx), retries and the fast read paths;
* ``runtime``: ``open_runtime``, ``open_stream`` and ``complete``, which put
  the layers above to work under supervision;
* ``embedded``: a local provider served on loopback, for a first run.

Only this module is public; every public name is re-exported here. The errors
load with it; everything else loads on first use (PEP 562): ``import
synapsis_actors`` costs a few milliseconds, and a program pays for the OTP
runtime, the data model, the HTTP half (httpx, tenacity) or the embedded server
only when it touches them.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from . import errors as _errors
from .errors import *  # noqa: F403  (every error, as listed once in errors.__all__)

# The one table of lazily loaded public names: the module each is defined in,
# written as in ``from .<module> import <name>`` ("" is this package, for
# subpackages exported as namespaces). It drives ``__getattr__`` and
# ``__all__``; the TYPE_CHECKING imports below repeat it for type checkers and
# IDEs, which cannot see through ``__getattr__``, and
# tests/test_package_import.py checks that the two name the same set.
_PUBLIC: dict[str, tuple[str, ...]] = {
    "": ("otp",),
    "otp": (
        "NOREPLY",
        "Actor",
        "ActorRef",
        "Caller",
        "ChildCounts",
        "ChildHandle",
        "ChildInfo",
        "ChildSpec",
        "DynamicSupervisor",
        "DynamicSupervisorHandle",
        "Registration",
        "Registry",
        "Shutdown",
        "Supervisor",
        "SupervisorHandle",
        "TaskHandle",
        "TaskSupervisor",
        "TaskSupervisorHandle",
        "TelemetryEvent",
        "open_dynamic_supervisor",
        "open_supervisor",
        "open_task_supervisor",
    ),
    "model.parts": (
        "DocumentPart",
        "ImagePart",
        "Part",
        "RawBlockPart",
        "TextPart",
        "ThinkingPart",
        "ToolResultPart",
        "ToolUsePart",
    ),
    "model.request": ("JsonSchema", "Message", "Request", "Tool"),
    "model.events": (
        "Event",
        "MessageStart",
        "Ping",
        "ProviderChunk",
        "ProviderDone",
        "RawEvent",
        "TextDelta",
        "ThinkingDelta",
        "ThinkingSignature",
        "ToolCallDelta",
        "ToolCallEnd",
        "ToolCallStart",
        "UsageUpdate",
    ),
    "model.reply": ("AssistantMessage", "StopReason", "ToolCall", "Usage"),
    "model.accumulator": ("Accumulator",),
    "model.config": ("KINDS", "ProviderConfig"),
    "model.catalog": ("ModelInfo",),
    "model.http": ("HttpRequest",),
    "model.ratelimits": ("RateLimitStatus", "RateLimitWindow", "RateLimits"),
    "wire": ("get_provider",),
    "wire.protocol": ("Provider", "StreamDecoder"),
    "wire.profiles": ("PROFILES", "Profile"),
    "wire.sse": ("SSEDecoder", "ServerSentEvent"),
    "runtime.runtime": (
        "Runtime",
        "RuntimeStatistics",
        "Stream",
        "StreamRef",
        "complete",
        "open_runtime",
        "open_stream",
    ),
    "runtime.budgets": ("LocalBudgets", "RedisBudgets"),
    "runtime.otel": ("instrument_opentelemetry",),
    "embedded": (
        "EmbeddedProvider",
        "Fault",
        "RawReply",
        "Reply",
        "Step",
        "ToolCallReply",
        "open_embedded_provider",
    ),
}

# name -> module, the index ``__getattr__`` looks names up in.
_LAZY: dict[str, str] = {name: module for module, names in _PUBLIC.items() for name in names}

if TYPE_CHECKING:
    # The table again, as imports a type checker can follow; `X as X` marks a
    # re-export (mypy's strict mode hides plain imports), and the table's order
    # is kept rather than sorted, so the two read side by side.
    # isort: off
    from . import otp as otp
    from .otp import (
        NOREPLY as NOREPLY,
        Actor as Actor,
        ActorRef as ActorRef,
        Caller as Caller,
        ChildCounts as ChildCounts,
        ChildHandle as ChildHandle,
        ChildInfo as ChildInfo,
        ChildSpec as ChildSpec,
        DynamicSupervisor as DynamicSupervisor,
        DynamicSupervisorHandle as DynamicSupervisorHandle,
        Registration as Registration,
        Registry as Registry,
        Shutdown as Shutdown,
        Supervisor as Supervisor,
        SupervisorHandle as SupervisorHandle,
        TaskHandle as TaskHandle,
        TaskSupervisor as TaskSupervisor,
        TaskSupervisorHandle as TaskSupervisorHandle,
        TelemetryEvent as TelemetryEvent,
        open_dynamic_supervisor as open_dynamic_supervisor,
        open_supervisor as open_supervisor,
        open_task_supervisor as open_task_supervisor,
    )
    from .model.parts import (
        DocumentPart as DocumentPart,
        ImagePart as ImagePart,
        Part as Part,
        RawBlockPart as RawBlockPart,
        TextPart as TextPart,
        ThinkingPart as ThinkingPart,
        ToolResultPart as ToolResultPart,
        ToolUsePart as ToolUsePart,
    )
    from .model.request import (
        JsonSchema as JsonSchema,
        Message as Message,
        Request as Request,
        Tool as Tool,
    )
    from .model.events import (
        Event as Event,
        MessageStart as MessageStart,
        Ping as Ping,
        ProviderChunk as ProviderChunk,
        ProviderDone as ProviderDone,
        RawEvent as RawEvent,
        TextDelta as TextDelta,
        ThinkingDelta as ThinkingDelta,
        ThinkingSignature as ThinkingSignature,
        ToolCallDelta as ToolCallDelta,
        ToolCallEnd as ToolCallEnd,
        ToolCallStart as ToolCallStart,
        UsageUpdate as UsageUpdate,
    )
    from .model.reply import (
        AssistantMessage as AssistantMessage,
        StopReason as StopReason,
        ToolCall as ToolCall,
        Usage as Usage,
    )
    from .model.accumulator import (
        Accumulator as Accumulator,
    )
    from .model.config import (
        KINDS as KINDS,
        ProviderConfig as ProviderConfig,
    )
    from .model.catalog import (
        ModelInfo as ModelInfo,
    )
    from .model.http import (
        HttpRequest as HttpRequest,
    )
    from .model.ratelimits import (
        RateLimitStatus as RateLimitStatus,
        RateLimitWindow as RateLimitWindow,
        RateLimits as RateLimits,
    )
    from .wire import (
        get_provider as get_provider,
    )
    from .wire.protocol import (
        Provider as Provider,
        StreamDecoder as StreamDecoder,
    )
    from .wire.profiles import (
        PROFILES as PROFILES,
        Profile as Profile,
    )
    from .wire.sse import (
        SSEDecoder as SSEDecoder,
        ServerSentEvent as ServerSentEvent,
    )
    from .runtime.runtime import (
        Runtime as Runtime,
        RuntimeStatistics as RuntimeStatistics,
        Stream as Stream,
        StreamRef as StreamRef,
        complete as complete,
        open_runtime as open_runtime,
        open_stream as open_stream,
    )
    from .runtime.budgets import (
        LocalBudgets as LocalBudgets,
        RedisBudgets as RedisBudgets,
    )
    from .runtime.otel import instrument_opentelemetry as instrument_opentelemetry
    from .embedded import (
        EmbeddedProvider as EmbeddedProvider,
        Fault as Fault,
        RawReply as RawReply,
        Reply as Reply,
        Step as Step,
        ToolCallReply as ToolCallReply,
        open_embedded_provider as open_embedded_provider,
    )
    # isort: on


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synapsis_actors' has no attribute {name!r}")
    if not module:  # a subpackage
        value: Any = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

# A library logs, the application decides where it goes: without this, an
# application that never configured logging would see our warnings on stderr
# through logging's last-resort handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [*_errors.__all__, *_LAZY]
