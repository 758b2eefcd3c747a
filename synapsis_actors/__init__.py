"""synapsis_actors: supervised, cancellable, typed LLM streams on trio.

Two layers, readable apart:

* the OTP-style runtime (supervisors, task supervisors, actors, a registry),
  which knows nothing of HTTP or LLMs;
* the providers (Anthropic Messages, OpenAI-compatible chat completions and
  their presets), which stream SSE over httpx and use the runtime.

Only this module is public; everything is re-exported here.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from .errors import (
    ActorExited,
    AlreadyPresent,
    AlreadyStarted,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequest,
    CallTimeout,
    ChildError,
    ChildNotFound,
    ChildRunning,
    ConfigError,
    InvalidChildSpec,
    InvalidStreamData,
    MaxChildrenReached,
    NameTaken,
    NoProcess,
    OTPError,
    Overloaded,
    ProviderError,
    ProviderNotFound,
    RateLimited,
    RestartIntensityExceeded,
    ServerError,
    ShutdownTimeout,
    StartError,
    StreamCancelled,
    StreamError,
    StreamInterrupted,
    StreamStalled,
    SupervisorNotRunning,
    SynapsisError,
    TaskCancelled,
)

# Everything but the exceptions loads on first use (PEP 562): `import
# synapsis_actors` costs a few milliseconds, and a program pays for the OTP
# runtime, the data model, the HTTP half (httpx, tenacity) or the embedded
# server only when it touches them.
_LAZY: dict[str, str] = {
    "otp": "",
    "NOREPLY": "otp",
    "Actor": "otp",
    "ActorRef": "otp",
    "Caller": "otp",
    "ChildCounts": "otp",
    "ChildHandle": "otp",
    "ChildInfo": "otp",
    "ChildSpec": "otp",
    "DynamicSupervisor": "otp",
    "DynamicSupervisorHandle": "otp",
    "Registration": "otp",
    "Registry": "otp",
    "Shutdown": "otp",
    "Supervisor": "otp",
    "SupervisorHandle": "otp",
    "TaskHandle": "otp",
    "TaskSupervisor": "otp",
    "TaskSupervisorHandle": "otp",
    "TelemetryEvent": "otp",
    "open_dynamic_supervisor": "otp",
    "open_supervisor": "otp",
    "open_task_supervisor": "otp",
    "Accumulator": "model.accumulator",
    "HttpRequest": "model.http",
    "ModelInfo": "model.catalog",
    "Provider": "wire.protocol",
    "StreamDecoder": "wire.protocol",
    "KINDS": "model.config",
    "ProviderConfig": "model.config",
    "PROFILES": "wire.profiles",
    "Profile": "wire.profiles",
    "get_provider": "wire",
    "ServerSentEvent": "wire.sse",
    "SSEDecoder": "wire.sse",
    "AssistantMessage": "model.reply",
    "Event": "model.events",
    "ImagePart": "model.parts",
    "Message": "model.request",
    "MessageStart": "model.events",
    "Part": "model.parts",
    "Ping": "model.events",
    "ProviderChunk": "model.events",
    "ProviderDone": "model.events",
    "RawBlockPart": "model.parts",
    "RawEvent": "model.events",
    "Request": "model.request",
    "StopReason": "model.reply",
    "TextDelta": "model.events",
    "TextPart": "model.parts",
    "ThinkingDelta": "model.events",
    "ThinkingPart": "model.parts",
    "ThinkingSignature": "model.events",
    "Tool": "model.request",
    "ToolCall": "model.reply",
    "ToolCallDelta": "model.events",
    "ToolCallEnd": "model.events",
    "ToolCallStart": "model.events",
    "ToolResultPart": "model.parts",
    "ToolUsePart": "model.parts",
    "Usage": "model.reply",
    "UsageUpdate": "model.events",
    "Runtime": "runtime.runtime",
    "RuntimeStatistics": "runtime.runtime",
    "Stream": "runtime.runtime",
    "StreamRef": "runtime.runtime",
    "complete": "runtime.runtime",
    "open_runtime": "runtime.runtime",
    "open_stream": "runtime.runtime",
    # --- embedded local provider ---
    "EmbeddedProvider": "embedded",
    "Fault": "embedded",
    "RawReply": "embedded",
    "Reply": "embedded",
    "Step": "embedded",
    "ToolCallReply": "embedded",
    "open_embedded_provider": "embedded",
}

if TYPE_CHECKING:
    from . import otp
    from .embedded import (
        EmbeddedProvider,
        Fault,
        RawReply,
        Reply,
        Step,
        ToolCallReply,
        open_embedded_provider,
    )
    from .model.accumulator import Accumulator
    from .model.catalog import ModelInfo
    from .model.config import KINDS, ProviderConfig
    from .model.events import (
        Event,
        MessageStart,
        Ping,
        ProviderChunk,
        ProviderDone,
        RawEvent,
        TextDelta,
        ThinkingDelta,
        ThinkingSignature,
        ToolCallDelta,
        ToolCallEnd,
        ToolCallStart,
        UsageUpdate,
    )
    from .model.http import HttpRequest
    from .model.parts import (
        ImagePart,
        Part,
        RawBlockPart,
        TextPart,
        ThinkingPart,
        ToolResultPart,
        ToolUsePart,
    )
    from .model.reply import AssistantMessage, StopReason, ToolCall, Usage
    from .model.request import Message, Request, Tool
    from .otp import (
        NOREPLY,
        Actor,
        ActorRef,
        Caller,
        ChildCounts,
        ChildHandle,
        ChildInfo,
        ChildSpec,
        DynamicSupervisor,
        DynamicSupervisorHandle,
        Registration,
        Registry,
        Shutdown,
        Supervisor,
        SupervisorHandle,
        TaskHandle,
        TaskSupervisor,
        TaskSupervisorHandle,
        TelemetryEvent,
        open_dynamic_supervisor,
        open_supervisor,
        open_task_supervisor,
    )
    from .runtime.runtime import (
        Runtime,
        RuntimeStatistics,
        Stream,
        StreamRef,
        complete,
        open_runtime,
        open_stream,
    )
    from .wire import get_provider
    from .wire.profiles import PROFILES, Profile
    from .wire.protocol import Provider, StreamDecoder
    from .wire.sse import ServerSentEvent, SSEDecoder


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

__all__ = [
    "KINDS",
    "NOREPLY",
    "PROFILES",
    "APIConnectionError",
    "APIStatusError",
    "Accumulator",
    "Actor",
    "ActorExited",
    "ActorRef",
    "AlreadyPresent",
    "AlreadyStarted",
    "AssistantMessage",
    "AuthenticationError",
    "BadRequest",
    "CallTimeout",
    "Caller",
    "ChildCounts",
    "ChildError",
    "ChildHandle",
    "ChildInfo",
    "ChildNotFound",
    "ChildRunning",
    "ChildSpec",
    "ConfigError",
    "DynamicSupervisor",
    "DynamicSupervisorHandle",
    "EmbeddedProvider",
    "Event",
    "Fault",
    "HttpRequest",
    "ImagePart",
    "InvalidChildSpec",
    "InvalidStreamData",
    "MaxChildrenReached",
    "Message",
    "MessageStart",
    "ModelInfo",
    "NameTaken",
    "NoProcess",
    "OTPError",
    "Overloaded",
    "Part",
    "Ping",
    "Profile",
    "Provider",
    "ProviderChunk",
    "ProviderConfig",
    "ProviderDone",
    "ProviderError",
    "ProviderNotFound",
    "RateLimited",
    "RawBlockPart",
    "RawEvent",
    "RawReply",
    "Registration",
    "Registry",
    "Reply",
    "Request",
    "RestartIntensityExceeded",
    "Runtime",
    "RuntimeStatistics",
    "SSEDecoder",
    "ServerError",
    "ServerSentEvent",
    "Shutdown",
    "ShutdownTimeout",
    "StartError",
    "Step",
    "StopReason",
    "Stream",
    "StreamCancelled",
    "StreamDecoder",
    "StreamError",
    "StreamInterrupted",
    "StreamRef",
    "StreamStalled",
    "Supervisor",
    "SupervisorHandle",
    "SupervisorNotRunning",
    "SynapsisError",
    "TaskCancelled",
    "TaskHandle",
    "TaskSupervisor",
    "TaskSupervisorHandle",
    "TelemetryEvent",
    "TextDelta",
    "TextPart",
    "ThinkingDelta",
    "ThinkingPart",
    "ThinkingSignature",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallReply",
    "ToolCallStart",
    "ToolResultPart",
    "ToolUsePart",
    "Usage",
    "UsageUpdate",
    "complete",
    "get_provider",
    "open_dynamic_supervisor",
    "open_embedded_provider",
    "open_runtime",
    "open_stream",
    "open_supervisor",
    "open_task_supervisor",
    "otp",
]
