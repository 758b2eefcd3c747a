"""Bring your own HTTP client: ``rt.providers.register(name, config, http_client=client)``.

The user's ``httpx.AsyncClient`` carries the requests (its event hooks see
each one, its transport answers), the runtime never closes it, and the fast
read paths step aside for it.
"""

from __future__ import annotations

import json
import ssl

import httpx
import pytest

import synapsis_actors as sa
from tests.wire.streams import anthropic_sse

from ._helpers import Served, hello


def _reply(texts: list[str]) -> bytes:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": []}
    events: list[dict[str, object]] = [
        {"type": "message_start", "message": {**message, "usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
        for t in texts
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
    ]
    return anthropic_sse(events)


async def test_event_hooks_of_a_user_client_see_every_request(
    served: Served, rt: sa.Runtime, client_ssl: ssl.SSLContext
) -> None:
    seen: list[tuple[str, str, str | None]] = []
    answered: list[int] = []

    async def on_request(request: httpx.Request) -> None:
        # A proxy-like hook: it sees, and may change, every request.
        seen.append((request.method, request.url.path, request.headers.get("x-api-key")))
        request.headers["x-through-hook"] = "yes"

    async def on_response(response: httpx.Response) -> None:
        answered.append(response.status_code)

    async with httpx.AsyncClient(
        verify=client_ssl,
        http2=True,
        event_hooks={"request": [on_request], "response": [on_response]},
    ) as client:
        await rt.providers.register(
            "mine", served.config(api_key="sk-user-client"), http_client=client
        )
        assert rt.providers.entry("mine").transport.client is client
        assert not rt.providers.entry("mine").transport.fast
        for text in ("one", "two"):
            reply = await sa.complete(rt, "mine", hello(text))
            assert text in reply.text
        assert seen == [("POST", "/v1/messages", "sk-user-client")] * 2
        assert answered == [200, 200]
        # The header the hook added reached the server.
        received = served.server.requests[-2:]
        assert [dict(r.headers).get("x-through-hook") for r in received] == ["yes", "yes"]
        assert {r.http_version for r in received} == {served.http_version}
        # Unregistering (and closing the runtime) leaves the user's client open.
        assert await rt.providers.unregister("mine") is True
        assert not client.is_closed


async def test_a_mock_transport_client_streams_a_reply(rt: sa.Runtime) -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        assert request.url == "https://api.anthropic.com/v1/messages"
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=_reply(["Hello", " from", " a mock"]),
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await rt.providers.register(
            "mocked", sa.ProviderConfig(kind="anthropic", api_key="sk-mock"), http_client=client
        )
        deltas = []
        async with sa.open_stream(rt, "mocked", hello()) as stream:
            async for msg in stream:
                if isinstance(msg, sa.ProviderChunk) and isinstance(msg.event, sa.TextDelta):
                    deltas.append(msg.event.text)
                elif isinstance(msg, sa.ProviderDone):
                    done = msg
        assert deltas == ["Hello", " from", " a mock"]
        assert done.error is None
        assert done.stop_reason == "end_turn"
        assert done.message.text == "Hello from a mock"
        assert bodies[0]["stream"] is True
        assert bodies[0]["model"] == hello().model
    assert client.is_closed  # closed by its owner, the test, not by the runtime


async def test_the_runtime_never_closes_a_user_client(http1: Served) -> None:
    async with httpx.AsyncClient() as client:
        async with sa.open_runtime() as rt:
            await rt.providers.register("a", http1.config(), http_client=client)
            # Replacing it with a runtime-built client leaves the user's open too.
            await rt.providers.register("a", http1.config())
            own = rt.providers.entry("a").transport.client
            assert own is not client
            await rt.providers.register("b", http1.config(), http_client=client)
        assert not client.is_closed
        assert own.is_closed
        response = await client.get(http1.server.base_url + "/v1/models")
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("client", "says"),
    [("not a client", "got str"), (httpx.Client(), "got Client")],
)
async def test_a_bad_http_client_is_a_config_error(
    rt: sa.Runtime, http1: Served, client: object, says: str
) -> None:
    with pytest.raises(sa.ConfigError, match=says) as caught:
        await rt.providers.register("x", http1.config(), http_client=client)  # type: ignore[arg-type]
    assert caught.value.field == "http_client"
    assert "x" not in rt.providers


async def test_a_closed_http_client_is_a_config_error(rt: sa.Runtime, http1: Served) -> None:
    client = httpx.AsyncClient()
    await client.aclose()
    with pytest.raises(sa.ConfigError, match="closed") as caught:
        await rt.providers.register("x", http1.config(), http_client=client)
    assert caught.value.field == "http_client"
