"""The 19 captured Gemini / Vertex AI streams, checked against the official ``google-genai`` SDK.

For every capture, whole and split at random byte offsets, our decoder's
message must agree with what the SDK's own types give from the same bytes:
each SSE ``data:`` parsed with ``google.genai.types.GenerateContentResponse``
and accumulated (text, thoughts, function calls with their args and ids,
the last usage report, the finish reason, the thought signatures in order).
Where the SDK does not do something by design, the expected value is written
by hand and the reason given in ``SDK_DIFFERS``. The signatures must then
come back byte for byte in the next request, on the same kind of part, and
that request must validate against the SDK's ``Content`` type. Each capture
is also served over real HTTP by the embedded provider in random pieces and
read through the runtime (``complete``).

The captures are third-party data outside the project: the tests use the
``gemini_fixtures_dir`` fixture and skip where the folder is absent.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest
import trio
from captures import gemini_dir, manifest
from google.genai import types

import synapsis_actors as sa
from synapsis_actors.embedded import RawReply, open_embedded_provider
from synapsis_actors.errors import BadRequest, MalformedToolCall, ProviderError
from synapsis_actors.model.parts import RawBlockPart, TextPart, ThinkingPart, ToolUsePart
from synapsis_actors.model.reply import AssistantMessage
from synapsis_actors.wire import get_provider
from synapsis_actors.wire.gemini import GeminiDecoder, format_request

from .streams import Outcome, run, split_at

pytestmark = pytest.mark.fixtures

MANIFEST = manifest(gemini_dir())
NAMES = sorted(MANIFEST) or ["<captured streams absent>"]
NOT_SSE = "http404_json_error_body_not_sse.sse"
STREAMS = [n for n in NAMES if n != NOT_SSE]

#: Where the SDK's types do not give the answer by design, and what it is.
SDK_DIFFERS: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "vertex_streaming_function_call_args_gemini31pro.sse": (
        "the SDK types a partialArgs chunk but does not assemble the arguments: "
        "each call is a name chunk, partialArgs chunks by JSON path, an empty terminator",
        [("getWeather", {"location": "Boston"}), ("getWeather", {"location": "San Francisco"})],
    ),
}


def features(name: str) -> set[str]:
    return set(MANIFEST[name]["features"].split(","))


def body_of(directory: Path, name: str) -> bytes:
    return (directory / name).read_bytes()


# ---------------------------------------------------------------- the SDK's side


def sdk_responses(body: bytes) -> list[types.GenerateContentResponse]:
    out = []
    for line in body.decode("utf-8").splitlines():
        if line.startswith("data:"):
            # As the SDK reads a chunk: unknown fields dropped, then validated.
            out.append(
                types.GenerateContentResponse._from_response(
                    response=json.loads(line[5:]), kwargs={}
                )
            )
    return out


def sdk_summary(body: bytes) -> dict[str, Any]:
    """What the SDK's types give: accumulated over the chunks of candidate 0."""
    text, thoughts, calls, signatures = [], [], [], []
    usage: types.GenerateContentResponseUsageMetadata | None = None
    finish = None
    for response in sdk_responses(body):
        meta = response.usage_metadata
        if meta is not None and (
            meta.prompt_token_count is not None or meta.total_token_count is not None
        ):
            usage = meta
        for candidate in response.candidates or []:
            if candidate.index not in (None, 0):
                continue
            if candidate.finish_reason is not None:
                finish = candidate.finish_reason.value
            for part in (candidate.content.parts if candidate.content else None) or []:
                if part.thought_signature is not None:
                    signatures.append(base64.b64encode(part.thought_signature).decode())
                if part.text is not None:
                    (thoughts if part.thought else text).append(part.text)
                call = part.function_call
                if call is not None and call.name:
                    calls.append((call.name, call.args or {}, call.id))
    counts = (0, 0, 0)
    if usage is not None:
        counts = (
            (usage.prompt_token_count or 0) + (usage.tool_use_prompt_token_count or 0),
            (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0),
            usage.cached_content_token_count or 0,
        )
    return {
        "text": "".join(text),
        "thinking": "".join(thoughts),
        "calls": calls,
        "usage": counts,
        "finish": finish,
        "signatures": signatures,
    }


# ---------------------------------------------------------------- ours


def our_summary(message: AssistantMessage) -> dict[str, Any]:
    signatures = []
    for block in message.blocks:
        if isinstance(block, TextPart | ThinkingPart | ToolUsePart) and block.signature:
            signatures.append(block.signature)
        elif isinstance(block, RawBlockPart) and "thoughtSignature" in block.data:
            signatures.append(block.data["thoughtSignature"])  # server-side parts keep theirs
    return {
        "text": message.text,
        "thinking": message.thinking,
        "calls": [
            (c.name, c.input, None if c.id.startswith("gemini_") else c.id)
            for c in message.tool_calls
        ],
        "usage": (
            message.usage.input_tokens,
            message.usage.output_tokens,
            message.usage.cache_read_tokens,
        ),
        "finish": message.raw_stop_reason,
        "signatures": signatures,
    }


def decode(body: bytes, pieces: list[bytes] | None = None) -> Outcome:
    return run(GeminiDecoder(), pieces if pieces is not None else [body])


def final_message(outcome: Outcome) -> AssistantMessage:
    error = outcome.error
    if isinstance(error, MalformedToolCall):
        assert isinstance(error.partial, AssistantMessage)
        return error.partial
    assert error is None, error
    return outcome.message


def comparable(outcome: Outcome) -> Any:
    """The outcome without the made-up call ids (random per decoder)."""
    text = repr(outcome.comparable())
    for call in outcome.message.tool_calls:
        if call.id.startswith("gemini_"):
            text = text.replace(call.id, "<made-up>")
    return text


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("name", STREAMS)
def test_capture_matches_the_sdk(name: str, gemini_fixtures_dir: Path) -> None:
    body = body_of(gemini_fixtures_dir, name)
    whole = decode(body)
    ours = our_summary(final_message(whole))
    expected = sdk_summary(body)
    if name in SDK_DIFFERS:
        _why, calls = SDK_DIFFERS[name]
        expected["calls"] = [(n, args, None) for n, args in calls]
    assert ours == expected
    if "malformed_function_call" in features(name):
        assert isinstance(whole.error, MalformedToolCall)
        assert whole.error.reason == "MALFORMED_FUNCTION_CALL"
        assert "Malformed function call" in str(whole.error)
    else:
        assert whole.complete
    if expected["calls"]:
        assert whole.message.stop_reason == "tool_use"  # Gemini said STOP
    rng = random.Random(name)
    for _ in range(6):
        cuts = [rng.randrange(len(body) + 1) for _ in range(rng.randrange(1, 12))]
        assert comparable(decode(body, split_at(body, cuts))) == comparable(whole)


@pytest.mark.parametrize("name", STREAMS)
def test_signatures_go_back_byte_for_byte(name: str, gemini_fixtures_dir: Path) -> None:
    body = body_of(gemini_fixtures_dir, name)
    message = final_message(decode(body))
    turn = sa.Message.from_reply(message)
    results = [sa.Message.tool_result(c.id, "ok") for c in message.tool_calls]
    request = sa.Request(
        model="m", messages=[sa.Message.user("hi"), turn, *results], tools=[sa.Tool("x")]
    )
    if not turn.content:
        # A reply with no part (a malformed call): Gemini refuses a content without parts.
        with pytest.raises(sa.ConfigError) as info:
            format_request(request)
        assert info.value.field == "messages[1]"
        return
    wire = format_request(request)
    for content in wire["contents"]:
        types.Content.model_validate(content)
    sent = wire["contents"][1]["parts"]
    captured = [
        part
        for response in sdk_body_parts(body)
        for part in response
        if part.get("thoughtSignature") is not None
    ]
    # Every captured signature comes back, unchanged, on a part of the same kind.
    assert [(p["thoughtSignature"], _kind(p)) for p in sent if "thoughtSignature" in p] == [
        (p["thoughtSignature"], _kind(p)) for p in captured
    ]
    for call, part in zip(
        message.tool_calls, [p for p in sent if "functionCall" in p], strict=True
    ):
        assert part["functionCall"]["args"] == call.input
        assert ("id" in part["functionCall"]) is not call.id.startswith("gemini_")
    responses = [p["functionResponse"] for c in wire["contents"][2:] for p in c["parts"]]
    assert [r["name"] for r in responses] == [c.name for c in message.tool_calls]


def sdk_body_parts(body: bytes) -> list[list[dict[str, Any]]]:
    """The raw JSON parts of candidate 0, chunk by chunk."""
    out = []
    for line in body.decode("utf-8").splitlines():
        if line.startswith("data:"):
            for candidate in json.loads(line[5:]).get("candidates") or []:
                if candidate.get("index", 0) == 0:
                    out.append((candidate.get("content") or {}).get("parts") or [])
    return out


def _kind(part: dict[str, Any]) -> str:
    return next(k for k in part if k not in ("thoughtSignature", "thought"))


def test_the_404_json_body_is_the_typed_error(gemini_fixtures_dir: Path) -> None:
    body = body_of(gemini_fixtures_dir, NOT_SSE)
    config = sa.ProviderConfig(kind="gemini", api_key="k")
    error = get_provider(config).error_from_response(
        404, {"content-type": "text/event-stream"}, body, "gemini"
    )
    assert isinstance(error, BadRequest)
    assert error.status == 404
    assert "NOT_FOUND" in str(error)
    assert "is not found for API version v1beta" in str(error)
    # Labelled text/event-stream and sent with a 200, the decoder says the same.
    outcome = decode(body, [body[:7], body[7:]])
    assert isinstance(outcome.error, BadRequest)
    assert outcome.error.status == 404


@pytest.mark.parametrize("name", NAMES)
async def test_capture_over_real_http_through_the_runtime(
    name: str, gemini_fixtures_dir: Path
) -> None:
    body = body_of(gemini_fixtures_dir, name)
    rng = random.Random(name)
    sizes = [rng.randrange(1, 400) for _ in range(len(body) // 100 + 1)]
    status = 404 if name == NOT_SSE else 200
    reply = RawReply(body, chunk_sizes=sizes, status=status)
    async with open_embedded_provider(script=[reply]) as server, sa.open_runtime() as rt:
        config = sa.ProviderConfig(
            kind="vertex" if name.startswith("vertex_") else "gemini",
            base_url=server.base_url,
            api_key="k",
            max_retries=0,
        )
        await rt.providers.register("g", config)
        request = sa.Request(model="gemini-x", messages=[sa.Message.user("hi")])
        error: ProviderError | None = None
        with trio.fail_after(30):
            try:
                message = await sa.complete(rt, "g", request)
            except ProviderError as exc:
                error = exc
    if name == NOT_SSE:
        assert isinstance(error, BadRequest)
        assert error.status == 404
        return
    whole = decode(body)
    if whole.error is not None:
        assert type(error) is type(whole.error)
        return
    assert error is None
    assert our_summary(message) == our_summary(whole.message)
    assert message.blocks == _with_ids(whole.message.blocks, message)


def _with_ids(blocks: tuple[Any, ...], other: AssistantMessage) -> tuple[Any, ...]:
    """``blocks`` with the made-up call ids of ``other`` (each decoder makes its own)."""
    ids = iter(c.id for c in other.tool_calls)
    out = []
    for block in blocks:
        if isinstance(block, ToolUsePart):
            new_id = next(ids)
            block = ToolUsePart(
                new_id if block.id.startswith("gemini_") else block.id,
                block.name,
                block.input,
                signature=block.signature,
            )
        out.append(block)
    return tuple(out)
