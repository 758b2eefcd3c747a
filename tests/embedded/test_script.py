"""The reply/fault model: plain data, validated at construction with errors naming the field."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synapsis_actors.embedded import (
    Fault,
    RawReply,
    Reply,
    Step,
    ToolCallReply,
    open_embedded_provider,
)
from synapsis_actors.embedded.script import as_step, format_retry_after, split_words
from synapsis_actors.errors import ConfigError

from ._helpers import chat_body


@given(st.text())
def test_split_words_loses_nothing(text: str) -> None:
    parts = split_words(text)
    assert "".join(parts) == text
    assert all(parts)


def test_split_words_keeps_leading_spaces_like_tokens() -> None:
    assert split_words("Hello  big world ") == ("Hello", "  big", " world ")


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=8), max_size=4))
def test_tool_arguments_fragments_rebuild_the_input(arguments: dict[str, object]) -> None:
    call = ToolCallReply("t", arguments, fragment_size=3)
    assert json.loads(call.arguments()) == arguments
    assert all(len(f) <= 3 for f in call.argument_fragments())


def test_reply_defaults() -> None:
    assert Reply(text="hi").effective_stop_reason() == "end_turn"
    assert Reply(tool_calls=[ToolCallReply("t")]).effective_stop_reason() == "tool_use"
    assert Reply(text="a b", stop_reason="max_tokens").effective_stop_reason() == "max_tokens"
    assert Reply(text=["x", "y"]).text_deltas() == ("x", "y")
    assert Reply(text="one two").estimated_output_tokens() == 2
    assert ToolCallReply("t", fragments=['{"a', '": 1']).arguments() == '{"a": 1'


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Fault(drop_after=-1), "drop_after"),
        (lambda: Fault(stall_after=-2), "stall_after"),
        (lambda: Fault(header_delay=-0.5), "header_delay"),
        (lambda: Fault(status=700), "Fault.status"),
        (lambda: Fault(keepalive_every=0), "Fault.keepalive_every"),
        (lambda: Fault(retry_after=-1), "Fault.retry_after"),
        (lambda: RawReply(b"x", chunk_sizes=(0,)), "RawReply.chunk_sizes"),
        (lambda: ToolCallReply("t", fragment_size=0), "ToolCallReply.fragment_size"),
        (lambda: ToolCallReply("t", {"x": object()}), "ToolCallReply.input"),
        (lambda: Reply(input_tokens=-1), "input_tokens"),
        (lambda: Step(delay=-1), "delay"),
        (lambda: as_step("nonsense"), "script"),  # type: ignore[arg-type]
    ],
)
def test_bad_values_raise_config_error_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
    assert field in str(caught.value)


async def test_bad_server_options_and_times_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="port"):
        async with open_embedded_provider(port=70000):
            pass
    with pytest.raises(ConfigError, match="shutdown_timeout"):
        async with open_embedded_provider(shutdown_timeout=-1):
            pass
    async with open_embedded_provider() as server:
        with pytest.raises(ConfigError, match="times"):
            server.enqueue(Reply(), times=0)


def test_retry_after_formats() -> None:
    naive = dt.datetime(2031, 5, 6, 7, 8, 9)
    assert format_retry_after(naive) == "Tue, 06 May 2031 07:08:09 GMT"
    paris = dt.datetime(2031, 5, 6, 9, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_retry_after(paris) == "Tue, 06 May 2031 07:08:09 GMT"
    assert format_retry_after(3) == "3"
    assert format_retry_after(1.5) == "1.5"
    assert format_retry_after("soon") == "soon"
    assert Fault(retry_after_ms=250).response_headers() == [("retry-after-ms", "250")]


def test_raw_reply_chunks() -> None:
    assert RawReply(b"abcdef", chunk_sizes=(1, 2)).chunks() == (b"a", b"bc", b"def")
    assert RawReply(b"ab", chunk_sizes=(5, 5)).chunks() == (b"ab",)
    assert RawReply(b"abc").chunks() == (b"abc",)


async def test_truncated_json_reply_is_valid_http_with_half_a_body() -> None:
    async with (
        open_embedded_provider(script=[Fault(truncate=True)]) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(server.base_url + "/v1/messages", json=chat_body(stream=False))
    assert response.status_code == 200
    assert response.content.startswith(b'{"id":"msg_emb_0000"')
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_set_default_and_clear_script_change_answers_live() -> None:
    async with open_embedded_provider() as server, httpx.AsyncClient() as client:
        url = server.base_url + "/v1/messages"
        server.set_default(Reply(text="fixed"))
        server.enqueue(Fault(status=500), times=3)
        server.clear_script()
        fixed = (await client.post(url, json=chat_body(stream=False))).json()
        server.set_default("echo")
        echoed = (await client.post(url, json=chat_body("ping?", stream=False))).json()
    assert fixed["content"][0]["text"] == "fixed"
    assert "ping?" in echoed["content"][0]["text"]
