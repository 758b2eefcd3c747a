"""OpenTelemetry for the streams and the supervisors, in the GenAI conventions.

``instrument_opentelemetry()`` subscribes to the library's own telemetry
(``runtime/telemetry.py`` for streams, ``otp/telemetry.py`` for supervisors)
and turns its events into what the OpenTelemetry semantic conventions for
generative AI clients name (the ``gen_ai.*`` registry, as of semantic
conventions 1.37 and their successor, the GenAI conventions repository):

* one span per stream, kind CLIENT, named ``chat {gen_ai.request.model}``,
  with ``gen_ai.operation.name`` ("chat"), ``gen_ai.provider.name``,
  ``gen_ai.request.{model,max_tokens,temperature,top_p,stop_sequences}``,
  ``gen_ai.response.{id,model,finish_reasons}``,
  ``gen_ai.usage.{input,output}_tokens`` (and the cache counts),
  ``server.address`` / ``server.port``; on failure its status is ERROR and
  ``error.type`` is the error's class name; each retry is a span event
  ``gen_ai.client.retry``;
* the histograms ``gen_ai.client.token.usage`` (``{token}``, one record per
  ``gen_ai.token.type``; servers' counts only, never an estimate),
  ``gen_ai.client.operation.duration`` (s) and
  ``gen_ai.client.operation.time_to_first_chunk`` (s);
* message content (``gen_ai.system_instructions``, ``gen_ai.input.messages``,
  ``gen_ai.output.messages``, JSON in the conventions' parts format) only
  when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true``,
  ``SPAN_ONLY`` or ``SPAN_AND_EVENT`` (or ``capture_content=True`` is
  passed); inline image bytes are left out (an image by URL keeps it);
* supervision: ``child_restarted``, ``child_start_failed``,
  ``intensity_exceeded`` and abnormal ``child_exited`` events become span
  events (``synapsis.supervisor.<name>``) on the span current where the
  supervisor runs, when one is recording (they are also logged, as always,
  on ``synapsis_actors.otp.telemetry``).

The span is parented under the span current where ``open_stream`` was
called (the stream task inherits the caller's context). No attribute ever
holds an API key or a request header. ``opentelemetry-api`` is needed
(``pip install 'synapsis-actors[otel]'``); without a call to
``instrument_opentelemetry`` nothing of OpenTelemetry is imported.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import trio

from ..model.parts import (
    DocumentPart,
    ImagePart,
    Part,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
)
from ..model.reply import AssistantMessage
from ..model.request import Request
from ..otp import telemetry as otp_telemetry
from . import telemetry

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, Meter, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

#: The conventions' switch for recording message content.
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

#: Its values that put content on spans: ``true`` (the first form), and the
#: ``SPAN_ONLY`` / ``SPAN_AND_EVENT`` of the later GenAI instrumentations (no
#: content events are emitted here, so ``EVENT_ONLY`` records nothing).
_ON_SPANS = frozenset({"true", "span_only", "span_and_event"})

#: ``ProviderConfig.kind`` -> ``gen_ai.provider.name`` (the conventions' well-known
#: values); a kind not listed reports itself.
PROVIDER_NAMES: Mapping[str, str] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "azure": "azure.ai.openai",
    "gemini": "gcp.gemini",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral": "mistral_ai",
}

#: Normalized stop reasons -> the conventions' finish reasons (their
#: ``FinishReason``: stop, length, content_filter, tool_call, error); one they
#: have no word for is reported as it is.
FINISH_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
    "pause_turn": "pause_turn",
}

# Bucket boundaries the conventions advise for the two kinds of histogram.
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
_SECOND_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip

_SUPERVISION_EVENTS = frozenset(
    {"child_restarted", "child_start_failed", "intensity_exceeded", "child_exited"}
)

_SCOPE = "synapsis_actors"


def instrument_opentelemetry(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    capture_content: bool | None = None,
) -> Callable[[], None]:
    """Report every stream (and supervision event) to OpenTelemetry; returns the
    function that stops it.

    ``tracer_provider`` / ``meter_provider`` default to the global ones.
    ``capture_content`` None reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    (``true``, ``SPAN_ONLY`` or ``SPAN_AND_EVENT`` record prompts and replies
    on the span; anything else, or unset, does not). Raises
    ``ImportError`` naming the extra to install when ``opentelemetry-api`` is
    missing. Calling the returned function twice is harmless.
    """
    try:
        from opentelemetry import metrics, trace
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess
        raise ImportError(
            "OpenTelemetry is not installed: pip install 'synapsis-actors[otel]'"
        ) from exc
    if capture_content is None:
        capture_content = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _ON_SPANS
    tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
    meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
    bridge = _Bridge(tracer, meter, capture_content)
    stop_streams = telemetry.subscribe(bridge.on_stream_event)
    stop_supervision = otp_telemetry.subscribe(bridge.on_supervision_event)

    def uninstrument() -> None:
        stop_streams()
        stop_supervision()
        bridge.close()

    return uninstrument


class _Operation:
    """One stream's span and what its metrics need (internal)."""

    __slots__ = ("attributes", "first_chunk", "span", "started")

    def __init__(self, span: Span, attributes: dict[str, Any], started: float) -> None:
        self.span = span
        self.attributes = attributes  # the metrics' attributes
        self.started = started
        self.first_chunk: float | None = None


class _Bridge:
    """Turns the library's telemetry events into spans, span events and metrics."""

    def __init__(self, tracer: Tracer, meter: Meter, capture_content: bool) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.tracer = tracer
        self.capture_content = capture_content
        self.client = SpanKind.CLIENT
        self.error_status = Status(StatusCode.ERROR)
        self.token_usage: Histogram = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_SECOND_BUCKETS,
        )
        self.first_chunk: Histogram = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of the response stream.",
            explicit_bucket_boundaries_advisory=_SECOND_BUCKETS,
        )
        self.operations: dict[Any, _Operation] = {}

    def close(self) -> None:
        """End the spans of streams still running: nothing will end them now."""
        operations, self.operations = self.operations, {}
        for op in operations.values():
            op.span.end()

    # ----------------------------------------------------------------- streams

    def on_stream_event(self, name: str, data: Mapping[str, Any]) -> None:
        ref = data.get("ref")
        if name == "provider.request.start":
            self._start(ref, data)
            return
        op = self.operations.get(ref)
        if op is None:  # instrumented after this stream started
            return
        if name == "provider.request.retry":
            attributes: dict[str, Any] = {
                "error.type": str(data.get("error")),
                "synapsis.attempt": int(data.get("attempt") or 0),
                "synapsis.retry.delay": float(data.get("delay") or 0.0),
            }
            if data.get("status") is not None:
                attributes["http.response.status_code"] = int(data["status"])
            op.span.add_event("gen_ai.client.retry", attributes)
        elif name == "provider.stream.first_event":
            op.first_chunk = trio.current_time() - op.started
            op.span.set_attribute("gen_ai.response.time_to_first_chunk", op.first_chunk)
            self.first_chunk.record(op.first_chunk, op.attributes)
        elif name in ("provider.stream.done", "provider.stream.error", "provider.stream.cancel"):
            del self.operations[ref]
            error = None
            if name == "provider.stream.error":
                error = str(data.get("error"))
            elif name == "provider.stream.cancel":
                error = "StreamCancelled"
            self._finish(op, data, error)

    def _start(self, ref: Any, data: Mapping[str, Any]) -> None:
        request = data.get("request")
        model = request.model if isinstance(request, Request) else str(data.get("model"))
        kind = str(data.get("kind"))
        common: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER_NAMES.get(kind, kind),
            "gen_ai.request.model": model,
        }
        url = urlsplit(str(data.get("url", "")))
        if url.hostname:
            common["server.address"] = url.hostname
            port = url.port or (443 if url.scheme == "https" else 80)
            common["server.port"] = port
        attributes = dict(common)
        attributes["synapsis.provider"] = str(data.get("provider"))
        if isinstance(request, Request):
            for key, value in (
                ("gen_ai.request.max_tokens", request.max_tokens),
                ("gen_ai.request.temperature", request.temperature),
                ("gen_ai.request.top_p", request.top_p),
            ):
                if value is not None:
                    attributes[key] = value
            if request.stop:
                attributes["gen_ai.request.stop_sequences"] = list(request.stop)
            if self.capture_content:
                if request.system:
                    system = request.system
                    parts = [TextPart(system)] if isinstance(system, str) else system
                    attributes["gen_ai.system_instructions"] = _json([_part(p) for p in parts])
                attributes["gen_ai.input.messages"] = _json(
                    [
                        {"role": m.role, "parts": [_part(p) for p in m.content]}
                        for m in request.messages
                    ]
                )
        span = self.tracer.start_span(f"chat {model}", kind=self.client, attributes=attributes)
        self.operations[ref] = _Operation(span, common, trio.current_time())

    def _finish(self, op: _Operation, data: Mapping[str, Any], error: str | None) -> None:
        span = op.span
        reply = data.get("reply")
        metric_attributes = dict(op.attributes)
        if isinstance(reply, AssistantMessage):
            if reply.id:
                span.set_attribute("gen_ai.response.id", reply.id)
            if reply.model:
                span.set_attribute("gen_ai.response.model", reply.model)
                metric_attributes["gen_ai.response.model"] = reply.model
            if reply.stop_reason or reply.raw_stop_reason:
                reason = FINISH_REASONS.get(reply.stop_reason or "", reply.raw_stop_reason or "")
                span.set_attribute("gen_ai.response.finish_reasons", [reason])
            usage = reply.usage
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
            if usage.cache_read_tokens:
                span.set_attribute("gen_ai.usage.cache_read.input_tokens", usage.cache_read_tokens)
            if usage.cache_creation_tokens:
                span.set_attribute(
                    "gen_ai.usage.cache_creation.input_tokens", usage.cache_creation_tokens
                )
            if usage.estimated:
                span.set_attribute("synapsis.usage.output_tokens_estimated", True)
            if self.capture_content:
                span.set_attribute("gen_ai.output.messages", _json([_output(reply)]))
            # The histogram holds servers' counts only: an estimate stays on the span.
            counts = [("input", usage.input_tokens)]
            if not usage.estimated:
                counts.append(("output", usage.output_tokens))
            for token_type, count in counts:
                if error is None or count:
                    self.token_usage.record(
                        count, {**metric_attributes, "gen_ai.token.type": token_type}
                    )
        if data.get("request_id"):
            span.set_attribute("synapsis.request_id", str(data["request_id"]))
        if error is not None:
            span.set_attribute("error.type", error)
            metric_attributes["error.type"] = error
            span.set_status(self.error_status)
            if data.get("status") is not None:
                span.set_attribute("http.response.status_code", int(data["status"]))
        self.duration.record(trio.current_time() - op.started, metric_attributes)
        span.end()

    # -------------------------------------------------------------- supervision

    def on_supervision_event(self, event: otp_telemetry.TelemetryEvent) -> None:
        if event.name not in _SUPERVISION_EVENTS:
            return
        if event.name == "child_exited" and not event.abnormal:
            return
        from opentelemetry import trace

        span = trace.get_current_span()
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {
            "synapsis.supervisor": str(event.supervisor),
            "synapsis.child_id": repr(event.child_id),
        }
        if isinstance(event.reason, BaseException):
            attributes["error.type"] = type(event.reason).__name__
            attributes["synapsis.reason"] = str(event.reason)[:1000]
        elif event.reason is not None:
            attributes["synapsis.reason"] = str(event.reason)[:1000]
        span.add_event(f"synapsis.supervisor.{event.name}", attributes, time.time_ns())


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _part(part: Part) -> dict[str, Any]:
    """One message part in the conventions' parts format."""
    if isinstance(part, TextPart):
        return {"type": "text", "content": part.text}
    if isinstance(part, ThinkingPart):
        return {"type": "reasoning", "content": "" if part.redacted else part.text}
    if isinstance(part, ToolUsePart):
        return {"type": "tool_call", "id": part.id, "name": part.name, "arguments": part.input}
    if isinstance(part, ToolResultPart):
        content = part.content
        if not isinstance(content, str):
            content = "".join(p.text for p in content if isinstance(p, TextPart))
        return {"type": "tool_call_response", "id": part.tool_use_id, "response": content}
    if isinstance(part, ImagePart | DocumentPart):
        modality = "image" if isinstance(part, ImagePart) else "document"
        if part.url:
            return {
                "type": "uri",
                "modality": modality,
                "mime_type": part.media_type,
                "uri": part.url,
            }
        # Inline bytes stay out of telemetry (megabytes per attribute): named only.
        return {"type": modality, "mime_type": part.media_type}
    # A RawBlockPart: a vendor's own block, named by its type.
    return {"type": str(part.data.get("type", part.wire))}


def _output(reply: AssistantMessage) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if reply.thinking:
        parts.append({"type": "reasoning", "content": reply.thinking})
    if reply.text:
        parts.append({"type": "text", "content": reply.text})
    for call in reply.tool_calls:
        arguments: Any = call.input if call.input is not None else call.arguments
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": arguments}
        )
    reason = FINISH_REASONS.get(reply.stop_reason or "", reply.raw_stop_reason or "error")
    return {"role": "assistant", "parts": parts, "finish_reason": reason}
