"""The gemini kind end to end: the runtime against the embedded provider's Gemini route.

Round trips (call -> result -> final answer) with the thought signatures the
server checks byte for byte, as Gemini 3 does; calls without ids (Gemini 2.x)
answered by order; retries on 429 RESOURCE_EXHAUSTED (the delay from the
body's ``retryDelay``) and 503 UNAVAILABLE in virtual time; cancellation;
the key kept out of URLs, logs and errors; the model list; and the official
``google-genai`` SDK reading the embedded server's stream.
"""

from __future__ import annotations

import base64
import copy
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from google import genai
from google.genai import types

import synapsis_actors as sa
from synapsis_actors.embedded import Fault, Reply, Step, ToolCallReply
from synapsis_actors.embedded.gemini import call_signature
from synapsis_actors.runtime import telemetry

from ._helpers import Served, assert_nothing_left, server_saw_close

KEY = "AIza-secret-gemini-key-DO-NOT-LEAK-0123"
WEATHER = sa.Tool(
    "get_weather",
    "Current weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def config(served: Served, **kw: Any) -> sa.ProviderConfig:
    kw.setdefault("api_key", KEY)
    return sa.ProviderConfig(
        kind="gemini", base_url=served.server.base_url, verify=served.verify, **kw
    )


def ask(text: str, model: str = "gemini-3-pro-preview", **kw: Any) -> sa.Request:
    return sa.Request(model=model, messages=[sa.Message.user(text)], **kw)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, data: Mapping[str, Any]) -> None:
        self.events.append((name, dict(data)))

    def delays(self) -> list[float]:
        return [d["delay"] for n, d in self.events if n == "provider.request.retry"]


async def test_round_trip_with_signatures_byte_for_byte(served: Served, rt: sa.Runtime) -> None:
    await rt.providers.register("g", config(served))
    first = ask("What is the weather in Paris?", tools=[WEATHER], thinking_budget=512)
    reply = await sa.complete(rt, "g", first)
    (call,) = reply.tool_calls
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
    assert call.signature == call_signature("get_weather", {"city": "Paris"})
    assert reply.stop_reason == "tool_use"
    assert reply.raw_stop_reason == "STOP"
    assert reply.thinking
    second = sa.Request(
        model=first.model,
        messages=[
            *first.messages,
            sa.Message.from_reply(reply),
            sa.Message.tool_result(call.id, "18C"),
        ],
        tools=[WEATHER],
    )
    final = await sa.complete(rt, "g", second)
    assert final.text.startswith("The tool returned: 18C.")
    assert final.stop_reason == "end_turn"
    # The answer's signature sits on the empty final part, kept for the next turn.
    assert final.blocks[-1] == sa.TextPart("", signature=final.blocks[-1].signature)  # type: ignore[union-attr]
    assert final.blocks[-1].signature  # type: ignore[union-attr]
    sent = served.server.requests[1].body["contents"]
    model_parts = sent[1]["parts"]
    call_part = next(p for p in model_parts if "functionCall" in p)
    assert call_part["thoughtSignature"] == call.signature
    assert call_part["functionCall"]["id"] == call.id
    assert sent[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "id": call.id, "response": {"output": "18C"}}}
    ]
    for content in sent:
        types.Content.model_validate(content)
    assert served.server.requests[1].path.endswith(
        "/models/gemini-3-pro-preview:streamGenerateContent"
    )


@pytest.mark.parametrize("change", ["dropped", "altered"])
async def test_a_signature_not_sent_back_unchanged_is_refused(
    http1: Served, rt: sa.Runtime, change: str
) -> None:
    await rt.providers.register("g", config(http1))
    first = ask("Weather in Oslo?", tools=[WEATHER])
    reply = await sa.complete(rt, "g", first)
    (call,) = reply.tool_calls
    signature = None if change == "dropped" else base64.b64encode(b"forged").decode()
    turn = sa.Message.assistant(
        [sa.ToolUsePart(call.id, call.name, call.input or {}, signature=signature)]
    )
    second = sa.Request(
        model=first.model,
        messages=[*first.messages, turn, sa.Message.tool_result(call.id, "cold")],
        tools=[WEATHER],
    )
    with pytest.raises(sa.BadRequest, match="thought_signature") as info:
        await sa.complete(rt, "g", second)
    assert info.value.status == 400
    assert "INVALID_ARGUMENT" in str(info.value)


async def test_gemini2_calls_without_ids_are_answered_by_order(
    http1: Served, rt: sa.Runtime
) -> None:
    http1.server.enqueue(
        Reply(
            text="",
            tool_calls=[
                ToolCallReply("get_weather", {"city": "Rome"}),
                ToolCallReply("get_weather", {"city": "Oslo"}),
            ],
        )
    )
    await rt.providers.register("g", config(http1))
    first = ask("Weather in Rome and Oslo?", model="gemini-2.5-flash", tools=[WEATHER])
    reply = await sa.complete(rt, "g", first)
    rome, oslo = reply.tool_calls
    assert rome.id != oslo.id
    assert [c.input for c in reply.tool_calls] == [{"city": "Rome"}, {"city": "Oslo"}]
    assert rome.signature is not None
    assert oslo.signature is None
    results = sa.Message(
        "user",
        [
            *sa.Message.tool_result(oslo.id, "cold").content,
            *sa.Message.tool_result(rome.id, "warm").content,
        ],
    )
    final = await sa.complete(
        rt,
        "g",
        sa.Request(
            model=first.model,
            messages=[*first.messages, sa.Message.from_reply(reply), results],
            tools=[WEATHER],
        ),
    )
    assert final.text.startswith("The tool returned: coldwarm.")
    sent = http1.server.requests[1].body["contents"]
    assert [p["functionCall"] for p in sent[1]["parts"]] == [
        {"name": "get_weather", "args": {"city": "Rome"}},
        {"name": "get_weather", "args": {"city": "Oslo"}},
    ]  # no made-up id goes to Gemini
    assert [p["functionResponse"] for p in sent[2]["parts"]] == [
        {"name": "get_weather", "response": {"output": "cold"}},
        {"name": "get_weather", "response": {"output": "warm"}},
    ]


def _exhausted(delay: str) -> Fault:
    return Fault(
        status=429,
        body={
            "error": {
                "code": 429,
                "message": "You exceeded your current quota.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
                ],
            }
        },
    )


async def test_resource_exhausted_waits_the_body_s_retry_delay(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    http1.server.enqueue(_exhausted("7s"))
    http1.server.enqueue(
        Fault(
            status=503,
            body={"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}},
        )
    )
    http1.server.enqueue(Reply(text="finally"))
    await rt.providers.register("g", config(http1, max_retries=2))
    recorder = Recorder()
    start = trio.current_time()
    with telemetry.subscribed(recorder):
        reply = await sa.complete(rt, "g", ask("hi"))
    assert reply.text == "finally"
    delays = recorder.delays()
    assert delays[0] == 7.0  # from retryDelay, through the one retry-after parser
    assert 0 < delays[1] <= 1.0  # UNAVAILABLE with no delay: backoff
    assert trio.current_time() - start >= 7.0  # virtual time


async def test_a_retry_delay_over_the_cap_fails_at_once_carrying_it(
    http1: Served, rt: sa.Runtime
) -> None:
    http1.server.enqueue(_exhausted("120s"))
    await rt.providers.register("g", config(http1))
    with pytest.raises(sa.RateLimited) as info:
        await sa.complete(rt, "g", ask("hi"))
    assert info.value.retry_after == 120.0
    assert info.value.status == 429
    assert "RESOURCE_EXHAUSTED" in str(info.value)
    assert len(http1.server.requests) == 1


async def test_the_key_stays_out_of_urls_logs_and_errors(
    http1: Served, rt: sa.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    await rt.providers.register("g", config(http1, max_retries=0))
    http1.server.enqueue(Reply(text="fine"))
    http1.server.enqueue(
        Fault(
            status=401,
            body={
                "error": {
                    "code": 401,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "UNAUTHENTICATED",
                }
            },
        )
    )
    with telemetry.subscribed(recorder):
        assert (await sa.complete(rt, "g", ask("hi"))).text == "fine"
        with pytest.raises(sa.AuthenticationError) as info:
            await sa.complete(rt, "g", ask("hi"))
    assert info.value.status == 401
    request = http1.server.requests[0]
    assert request.query == "alt=sse"
    assert request.credential == "x-goog-api-key"  # the key was sent: there was something to leak
    assert request.header("x-goog-api-key") == "[redacted]"
    starts = [d for n, d in recorder.events if n == "provider.request.start"]
    assert starts
    assert all(d["headers"]["x-goog-api-key"] == "[redacted]" for d in starts)
    texts = [record.getMessage() for record in caplog.records]
    texts += [repr(d) for _, d in recorder.events]
    texts += [
        str(info.value),
        repr(info.value),
        repr(vars(info.value)),
        request.path,
        request.query,
    ]
    texts += [repr(rt.providers.get("g"))]
    assert len(texts) > 5
    for text in texts:
        assert KEY not in text


async def test_a_wrong_key_is_refused_in_google_s_shape(rt: sa.Runtime) -> None:
    from synapsis_actors.embedded import open_embedded_provider

    async with open_embedded_provider(expected_key="right-key") as server:
        await rt.providers.register(
            "g", sa.ProviderConfig(kind="gemini", base_url=server.base_url, api_key="wrong-key")
        )
        with pytest.raises(sa.AuthenticationError, match="API key not valid") as info:
            await sa.complete(rt, "g", ask("hi"))
        assert server.requests[0].key_accepted is False
    assert "wrong-key" not in str(info.value)


async def test_the_model_list(http1: Served, rt: sa.Runtime) -> None:
    await rt.providers.register("g", config(http1))
    models = await rt.providers.models("g")
    assert [m.id for m in models] == ["embedded-echo"]
    assert models[0].context_window == 1_048_576
    assert http1.server.requests[0].path == "/v1beta/models"


async def test_leaving_the_block_early_closes_the_response(served: Served, rt: sa.Runtime) -> None:
    served.server.enqueue(Step(reply=Reply(text="word " * 400), delay=0.01))
    await rt.providers.register("g", config(served))
    async with sa.open_stream(rt, "g", ask("hi")) as stream:
        async for msg in stream:
            if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
                break
    assert_nothing_left(rt)
    await server_saw_close(served)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(truncate=True), sa.StreamInterrupted),
        (Fault(error_event_at=2), sa.ServerError),
        (Fault(malformed_at=1), sa.InvalidStreamData),
    ],
)
async def test_stream_faults_are_typed(
    http1: Served, rt: sa.Runtime, fault: Fault, error: type[Exception]
) -> None:
    http1.server.enqueue(Step(reply=Reply(text="one two three four"), fault=fault))
    await rt.providers.register("g", config(http1, max_retries=0))
    with pytest.raises(error):
        await sa.complete(rt, "g", ask("hi"))


async def test_malformed_function_call_reaches_the_caller_typed(
    http1: Served, rt: sa.Runtime
) -> None:
    http1.server.enqueue(Reply(text="Let me", raw_stop_reason="MALFORMED_FUNCTION_CALL"))
    await rt.providers.register("g", config(http1))
    with pytest.raises(sa.MalformedToolCall) as info:
        await sa.complete(rt, "g", ask("hi"))
    assert info.value.partial.text == "Let me"
    assert info.value.reason == "MALFORMED_FUNCTION_CALL"


async def test_the_official_sdk_reads_the_embedded_stream(http1: Served) -> None:
    http1.server.enqueue(
        Reply(
            text="Hello there",
            thinking="Hmm.",
            tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})],
            input_tokens=11,
        )
    )

    def read() -> list[types.GenerateContentResponse]:
        client = genai.Client(
            api_key="sdk-key", http_options=types.HttpOptions(base_url=http1.server.base_url)
        )
        return list(client.models.generate_content_stream(model="gemini-3-flash", contents="hi"))

    chunks = await trio.to_thread.run_sync(read)
    parts = [p for c in chunks for p in (c.candidates[0].content.parts or [])]  # type: ignore[index,union-attr]
    assert "".join(p.text for p in parts if p.text and p.thought) == "Hmm."
    assert "".join(p.text for p in parts if p.text and not p.thought) == "Hello there"
    calls = [p for p in parts if p.function_call]
    assert [(p.function_call.name, p.function_call.args) for p in calls] == [
        ("get_weather", {"city": "Paris"})
    ]  # type: ignore[union-attr]
    assert base64.b64encode(calls[0].thought_signature or b"").decode() == call_signature(
        "get_weather", {"city": "Paris"}
    )
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert chunks[-1].usage_metadata.prompt_token_count == 11  # type: ignore[union-attr]
    request = http1.server.requests[0]
    # (this SDK version asks for /v1/...; the route takes any version prefix)
    assert request.path.endswith("/models/gemini-3-flash:streamGenerateContent")
    assert request.credential == "x-goog-api-key"


async def test_generate_content_answers_json_the_sdk_reads(http1: Served) -> None:
    http1.server.enqueue(Reply(text="Short answer", thinking="Think."))
    async with httpx.AsyncClient(base_url=http1.server.base_url) as client:
        response = await client.post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
    assert response.status_code == 200
    parsed = types.GenerateContentResponse.model_validate(response.json())
    assert parsed.text == "Short answer"
    assert parsed.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]


async def test_a_body_without_contents_is_a_400(http1: Served) -> None:
    async with httpx.AsyncClient(base_url=http1.server.base_url) as client:
        response = await client.post("/v1beta/models/m:streamGenerateContent", json={"model": "m"})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def _turn(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": role, "parts": list(parts)}


_ASK = _turn("user", {"text": "Weather in Lima and Quito?"})
_CALLS = _turn(
    "model",
    {"functionCall": {"name": "get_weather", "args": {"city": "Lima"}}},
    {"functionCall": {"name": "get_time", "args": {}}},
)


def _answer(name: str, **extra: Any) -> dict[str, Any]:
    return {"functionResponse": {"name": name, "response": {"output": "ok"}, **extra}}


@pytest.mark.parametrize(
    ("contents", "says"),
    [
        pytest.param([_turn("assistant", {"text": "hi"})], "valid role", id="wrong-role"),
        pytest.param([_turn("system", {"text": "hi"})], "valid role", id="system-role"),
        pytest.param([_ASK, _turn("model")], "must not be empty", id="empty-parts"),
        pytest.param(
            [_ASK, _CALLS, _turn("user", _answer("get_weather"))],
            "number of function response parts",
            id="a-call-unanswered",
        ),
        pytest.param(
            [_ASK, _turn("user", _answer("get_weather"))],
            "number of function response parts",
            id="response-without-call",
        ),
        pytest.param(
            [_ASK, _CALLS, _turn("user", _answer("get_time"), _answer("get_weather"))],
            "does not answer functionCall 0",
            id="responses-out-of-order",
        ),
        pytest.param(
            [
                _ASK,
                _turn("model", {"functionCall": {"id": "c1", "name": "get_time", "args": {}}}),
                _turn("user", _answer("get_time", id="c2")),
            ],
            "does not answer functionCall 0",
            id="response-id-mismatch",
        ),
        pytest.param(
            [_turn("user", {"functionCall": {"name": "get_time", "args": {}}})],
            "belongs in a model turn",
            id="call-in-user-turn",
        ),
        pytest.param(
            [_ASK, _turn("model", _answer("get_time"))],
            "belongs in a user turn",
            id="response-in-model-turn",
        ),
    ],
)
async def test_the_rules_gemini_answers_400_for(
    http1: Served, contents: list[dict[str, Any]], says: str
) -> None:
    """Each rule a google-genai type cannot state, answered in Google's error shape."""
    async with httpx.AsyncClient(base_url=http1.server.base_url) as client:
        response = await client.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent", json={"contents": contents}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"code", "message", "status"}
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert says in error["message"]


async def test_calls_answered_in_order_pass_the_rules(http1: Served) -> None:
    http1.server.enqueue(Reply(text="Sunny, noon."))
    answers = _turn("user", _answer("get_weather"), _answer("get_time"), {"text": "so?"})
    calls = copy.deepcopy(_CALLS)
    calls["parts"][0]["thoughtSignature"] = call_signature("get_weather", {"city": "Lima"})
    async with httpx.AsyncClient(base_url=http1.server.base_url) as client:
        response = await client.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            params={"alt": "sse"},
            json={"contents": [_ASK, calls, answers]},
        )
    assert response.status_code == 200
    assert "Sunny," in response.text  # streamed word by word


_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_ANTHROPIC = 'kind="anthropic", base_url=local.anthropic_base_url, api_key="embedded"'
_GEMINI = 'kind="gemini", base_url=local.base_url, api_key="embedded"'


def test_the_agent_loop_example_runs_on_gemini(tmp_path: Path) -> None:
    """docs/api.md's agent loop, with only its provider config switched to the gemini kind."""
    text = _DOC.read_text(encoding="utf-8")
    section = text.split("### Stream a reply, run the tool calls, loop", 1)[1]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    assert code.count(_ANTHROPIC) == 1
    script = tmp_path / "loop.py"
    script.write_text(code.replace(_ANTHROPIC, _GEMINI), encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    env["PYTHONPATH"] = str(_DOC.parents[1])
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "I will call get_weather to answer that. [get_weather {'city': 'Paris'}]",
        "-> tool_use, error=None",
        "The tool returned: Sunny, 21 C in Paris. That is the whole answer from the embedded "
        "local provider.",
        "-> end_turn, error=None",
        "3 messages sent last; tokens out: True",
    ]


async def test_a_stalled_stream_trips_the_idle_limit(
    http1: Served, rt: sa.Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    # 3 chunks, then only SSE comments every second for a minute: the idle limit trips.
    http1.server.enqueue(
        Step(
            reply=Reply(text="one two three four five"),
            fault=Fault(stall_after=3, stall_for=60, keepalive_every=1),
        )
    )
    await rt.providers.register("g", config(http1, idle_timeout=3.0))
    with pytest.raises(sa.StreamStalled) as info:
        await sa.complete(rt, "g", ask("hi"))
    assert info.value.limit == "idle"
    assert len(http1.server.requests) == 1  # never retried after the first event


async def test_vertex_round_trip_and_model_list(http1: Served, rt: sa.Runtime) -> None:
    base = http1.server.base_url + "/v1/projects/p/locations/us-central1"
    await rt.providers.register(
        "v", sa.ProviderConfig(kind="vertex", base_url=base, api_key="ya29.access-token")
    )
    reply = await sa.complete(rt, "v", ask("Weather in Lima?", tools=[WEATHER]))
    (call,) = reply.tool_calls
    final = await sa.complete(
        rt,
        "v",
        sa.Request(
            model="gemini-3-pro-preview",
            messages=[
                sa.Message.user("Weather in Lima?"),
                sa.Message.from_reply(reply),
                sa.Message.tool_result(call.id, "mild"),
            ],
            tools=[WEATHER],
        ),
    )
    assert final.text.startswith("The tool returned: mild.")
    first = http1.server.requests[0]
    assert first.path == (
        "/v1/projects/p/locations/us-central1/publishers/google/models/"
        "gemini-3-pro-preview:streamGenerateContent"
    )
    assert first.credential == "bearer"
    assert [m.id for m in await rt.providers.models("v")] == ["embedded-echo"]
    assert http1.server.requests[-1].path == "/v1beta1/publishers/google/models"
