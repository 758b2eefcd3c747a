"""OpenTelemetry GenAI instrumentation, read back through the SDK's in-memory
exporter and metric reader: span name, kind and attributes, retries as span
events, the three histograms, content only on opt-in, supervision events, no
API key anywhere, and nothing of OpenTelemetry imported unless asked."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step
from synapsis_actors.otp import ChildSpec, open_supervisor

from ._helpers import API_KEY, Served, collect, hello


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, prefix: str = "chat ") -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(prefix)]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
        return found


@contextmanager
def instrumented() -> Iterator[Otel]:
    """Instrumented (as the environment says) for the block, into fresh in-memory readers."""
    o = Otel()
    stop = sa.instrument_opentelemetry(
        tracer_provider=o.tracer_provider, meter_provider=o.meter_provider
    )
    try:
        yield o
    finally:
        stop()
        stop()  # harmless twice


@pytest.fixture
def otel() -> Iterator[Otel]:
    with instrumented() as o:
        yield o


async def test_a_stream_is_one_client_span_in_the_genai_conventions(
    http1: Served, rt: sa.Runtime, otel: Otel
) -> None:
    http1.server.enqueue(Reply(text="Hello there, friend.", input_tokens=12, output_tokens=5))
    await rt.providers.register("local", http1.config())
    request = hello(temperature=0.5, top_p=0.9, stop=["END"])
    reply = await sa.complete(rt, "local", request)
    (span,) = otel.spans()
    assert span.name == "chat claude-test"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == "claude-test"
    assert attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.response.id"] == reply.id
    assert attrs["gen_ai.response.model"] == reply.model
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (12, 5)
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == int(http1.server.anthropic_base_url.rsplit(":", 1)[1])
    assert "error.type" not in attrs
    assert attrs["gen_ai.response.time_to_first_chunk"] >= 0
    assert not any(
        key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system")) for key in attrs
    )

    usage = {p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")}
    assert (usage["input"].sum, usage["output"].sum) == (12, 5)
    assert usage["input"].attributes["gen_ai.provider.name"] == "anthropic"
    assert usage["input"].attributes["gen_ai.response.model"] == reply.model
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1
    assert duration.attributes["gen_ai.operation.name"] == "chat"
    assert "error.type" not in duration.attributes
    (first,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1
    assert first.sum <= duration.sum


async def test_openai_compatible_finish_reasons_and_provider_name(
    http1: Served, rt: sa.Runtime, otel: Otel
) -> None:
    http1.server.enqueue(Reply(text="cut", stop_reason="max_tokens"))
    await rt.providers.register("local", http1.config("openai"))
    await sa.complete(rt, "local", hello())
    (span,) = otel.spans()
    assert span.attributes is not None
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("length",)


async def test_a_failure_sets_error_type_and_retries_are_span_events(
    http1: Served, rt: sa.Runtime, otel: Otel
) -> None:
    http1.server.enqueue(Fault(status=503), times=2)
    http1.server.enqueue(Fault(status=400))
    await rt.providers.register("local", http1.config(max_retries=2))
    with pytest.raises(sa.BadRequest):
        await sa.complete(rt, "local", hello())
    (span,) = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "BadRequest"
    assert span.attributes["http.response.status_code"] == 400
    retries = [e for e in span.events if e.name == "gen_ai.client.retry"]
    assert [e.attributes["synapsis.attempt"] for e in retries if e.attributes] == [1, 2]
    assert all(e.attributes and e.attributes["http.response.status_code"] == 503 for e in retries)
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "BadRequest"


async def test_a_cancelled_stream_reports_its_estimated_usage(
    http1: Served, rt: sa.Runtime, otel: Otel
) -> None:
    http1.server.enqueue(Step(Reply(text="word " * 300, input_tokens=8), delay=0.005))
    await rt.providers.register("local", http1.config())
    async with sa.open_stream(rt, "local", hello()) as stream:
        deltas = 0
        async for msg in stream:
            if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
                deltas += 1
                if deltas == 20:
                    break
        await rt.cancel(stream.ref)
        done = (await collect(stream))[-1]
    assert done.usage.estimated
    (span,) = otel.spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "StreamCancelled"
    assert span.attributes["gen_ai.usage.input_tokens"] == 8
    assert span.attributes["gen_ai.usage.output_tokens"] == done.usage.output_tokens
    assert span.attributes["synapsis.usage.output_tokens_estimated"] is True
    # the histogram holds the server's count (input) and no estimate
    usage = {p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")}
    assert set(usage) == {"input"}
    assert usage["input"].sum == 8
    assert usage["input"].attributes["gen_ai.provider.name"] == "anthropic"


async def _weather_span(http1: Served, rt: sa.Runtime) -> dict[str, Any]:
    """The attributes of one stream's span, instrumented as the environment says."""
    with instrumented() as o:
        http1.server.enqueue(Reply(text="Sunny."))
        await rt.providers.register("local", http1.config())
        await sa.complete(rt, "local", hello("Weather?", system="Be brief."))
    (span,) = o.spans()
    return dict(span.attributes or {})


async def test_system_given_as_parts_is_recorded_part_by_part(
    http1: Served, rt: sa.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    system = (sa.TextPart("Be brief."), sa.TextPart("Cite sources.", cache_ttl="5m"))
    with instrumented() as o:
        http1.server.enqueue(Reply(text="Sunny."))
        await rt.providers.register("local", http1.config())
        await sa.complete(rt, "local", hello("Weather?", system=system))
    (span,) = o.spans()
    assert span.attributes is not None
    assert json.loads(str(span.attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "Be brief."},
        {"type": "text", "content": "Cite sources."},
    ]


@pytest.mark.parametrize("value", ["true", "SPAN_ONLY", "span_and_event"])
async def test_content_only_when_the_conventions_variable_opts_in(
    http1: Served, rt: sa.Runtime, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    attrs = await _weather_span(http1, rt)
    assert json.loads(attrs["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Be brief."}
    ]
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]}
    ]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Sunny."}],
            "finish_reason": "stop",
        }
    ]


@pytest.mark.parametrize("value", ["false", "NO_CONTENT", "EVENT_ONLY", ""])
async def test_no_content_without_the_opt_in(
    http1: Served, rt: sa.Runtime, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    attrs = await _weather_span(http1, rt)
    assert "Weather?" not in str(attrs)
    assert "Sunny." not in str(attrs)
    assert attrs["gen_ai.request.model"] == "claude-test"


async def test_the_span_is_a_child_of_the_callers_span(
    http1: Served, rt: sa.Runtime, otel: Otel
) -> None:
    http1.server.enqueue(Reply(text="hi"))
    await rt.providers.register("local", http1.config())
    tracer = otel.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("agent turn") as parent:
        await sa.complete(rt, "local", hello())
    (span,) = otel.spans()
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == parent.get_span_context().trace_id


async def test_the_api_key_appears_in_no_attribute_event_or_metric(
    http1: Served, rt: sa.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    with instrumented() as o:
        http1.server.enqueue(Reply(text="fine"))
        http1.server.enqueue(Fault(status=503))
        http1.server.enqueue(Fault(status=401))
        await rt.providers.register("local", http1.config(max_retries=1))
        await sa.complete(rt, "local", hello())
        with pytest.raises(sa.AuthenticationError):
            await sa.complete(rt, "local", hello())
    spans = o.spans("")
    assert len(spans) == 2
    seen = []
    for span in spans:
        seen.append(span.name)
        seen.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            seen.append(event.name)
            seen.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
    for metric in ("gen_ai.client.token.usage", "gen_ai.client.operation.duration"):
        for point in o.points(metric):
            seen.extend(f"{k}={v}" for k, v in point.attributes.items())
    text = "\n".join(seen)
    assert "gen_ai.client.retry" in text  # the failing run was recorded too
    assert API_KEY not in text
    assert API_KEY[8:-8] not in text


async def test_supervision_events_land_on_the_current_span(
    autojump_clock: trio.abc.Clock, otel: Otel
) -> None:
    crashes = 0

    async def flaky(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal crashes
        task_status.started()
        await trio.sleep(1)
        crashes += 1
        raise RuntimeError(f"crash {crashes}")

    tracer = otel.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("app"), pytest.raises(sa.RestartIntensityExceeded):
        async with open_supervisor(
            [ChildSpec("worker", flaky)], max_restarts=1, max_seconds=10, name="top"
        ):
            await trio.sleep_forever()
    (app,) = otel.spans("app")
    names = [e.name for e in app.events]
    assert names.count("synapsis.supervisor.child_restarted") == 1
    assert names[-1] == "synapsis.supervisor.intensity_exceeded"
    restarted = next(e for e in app.events if e.name.endswith("child_restarted"))
    assert restarted.attributes is not None
    assert restarted.attributes["synapsis.supervisor"] == "top"
    assert restarted.attributes["synapsis.child_id"] == "'worker'"
    assert restarted.attributes["error.type"] == "RuntimeError"
    assert otel.spans() == []  # no stream, no chat span


def test_uninstrumented_nothing_of_opentelemetry_is_imported() -> None:
    code = """
import sys, trio, synapsis_actors as sa
from synapsis_actors.embedded import open_embedded_provider
async def main():
    async with open_embedded_provider() as server, sa.open_runtime() as rt:
        await rt.providers.register("e", sa.ProviderConfig(
            kind="anthropic", base_url=server.anthropic_base_url, api_key="k"))
        await sa.complete(rt, "e", sa.Request(model="m", messages=[sa.Message.user("hi")]))
trio.run(main)
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_without_the_extra_the_error_names_it() -> None:
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if not installed
import synapsis_actors as sa
try:
    sa.instrument_opentelemetry()
except ImportError as exc:
    print(exc)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'synapsis-actors[otel]'" in out.stdout


async def test_captured_content_follows_the_parts_format_for_every_part(
    http1: Served, rt: sa.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synapsis_actors.embedded import ToolCallReply

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    picture = "iVBORw0KGgo" * 50
    request = sa.Request(
        model="claude-test",
        max_tokens=64,
        messages=[
            sa.Message.user(
                [
                    sa.TextPart("Compare these"),
                    sa.ImagePart(url="https://example.com/a.png"),
                    sa.ImagePart(media_type="image/jpeg", data=picture),
                ]
            ),
            sa.Message.assistant([sa.ToolUsePart("t1", "look", {"at": "a"})]),
            sa.Message.tool_result("t1", "a is red"),
        ],
    )
    with instrumented() as o:
        http1.server.enqueue(Reply(tool_calls=[ToolCallReply("look", {"at": "b"}, id="t2")]))
        await rt.providers.register("local", http1.config())
        await sa.complete(rt, "local", request)
    (span,) = o.spans()
    attrs = dict(span.attributes or {})
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Compare these"},
                {
                    "type": "uri",
                    "modality": "image",
                    "mime_type": "image/png",
                    "uri": "https://example.com/a.png",
                },
                {"type": "image", "mime_type": "image/jpeg"},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t1", "name": "look", "arguments": {"at": "a"}}],
        },
        {
            "role": "user",
            "parts": [{"type": "tool_call_response", "id": "t1", "response": "a is red"}],
        },
    ]
    assert picture not in str(attrs)  # inline image bytes stay out
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_call",)
    (output,) = json.loads(attrs["gen_ai.output.messages"])
    assert output["finish_reason"] == "tool_call"
    assert output["parts"] == [
        {"type": "tool_call", "id": "t2", "name": "look", "arguments": {"at": "b"}}
    ]


async def test_uninstrumenting_ends_open_spans_and_stops_recording(
    http1: Served, rt: sa.Runtime
) -> None:
    o = Otel()
    stop = sa.instrument_opentelemetry(
        tracer_provider=o.tracer_provider, meter_provider=o.meter_provider
    )
    http1.server.enqueue(Step(Reply(text="word " * 100), delay=0.01))
    http1.server.enqueue(Reply(text="after"))
    await rt.providers.register("local", http1.config())
    async with sa.open_stream(rt, "local", hello()) as stream:
        async for msg in stream:
            if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
                stop()  # mid-stream
                break
    (span,) = o.spans()  # ended, not left open
    assert span.end_time is not None
    await sa.complete(rt, "local", hello())
    assert len(o.spans()) == 1  # nothing recorded after stop()
