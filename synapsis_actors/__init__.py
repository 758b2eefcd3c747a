"""synapsis_actors: supervised, cancellable, typed LLM streams on trio.

Two layers, readable apart:

* the OTP-style runtime (supervisors, task supervisors, actors, a registry),
  which knows nothing of HTTP or LLMs;
* the providers (Anthropic Messages, OpenAI-compatible chat completions and
  their presets), which stream SSE over httpx and use the runtime.

Only this module is public; everything is re-exported here.
"""

from __future__ import annotations

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
from .providers.config import KINDS, ProviderConfig
from .providers.types import (
    AssistantMessage,
    Event,
    ImagePart,
    Message,
    MessageStart,
    Part,
    Ping,
    ProviderChunk,
    ProviderDone,
    RawEvent,
    Request,
    StopReason,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ThinkingSignature,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResultPart,
    ToolUsePart,
    Usage,
    UsageUpdate,
)

# --- OTP runtime (synapsis_actors/otp) ---
from . import otp
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

# --- providers and streaming ---
from .providers.accumulate import Accumulator
from .providers.base import HttpRequest, ModelInfo, Provider, StreamDecoder
from .providers.profiles import PROFILES, Profile, get_provider
from .providers.sse import ServerSentEvent, SSEDecoder
from .providers.types import RawBlockPart
from .streaming import (
    Runtime,
    RuntimeStatistics,
    Stream,
    StreamRef,
    complete,
    open_runtime,
    open_stream,
)

# --- embedded local provider ---
from .embedded import (
    EmbeddedProvider,
    Fault,
    RawReply,
    Reply,
    Step,
    ToolCallReply,
    open_embedded_provider,
)

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_") and name != "annotations"]
