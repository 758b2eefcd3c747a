"""The streaming Messages request the transport tests send to the embedded provider."""

from __future__ import annotations

from synapsis_actors.model.http import HttpRequest


def messages_request(
    base_url: str, *, key: str = "sk-test", max_tokens: int = 16, content: str = "hi"
) -> HttpRequest:
    """``POST {base_url}/v1/messages``, streamed, one user turn of ``content``."""
    return HttpRequest(
        "POST",
        base_url + "/v1/messages",
        {"x-api-key": key, "anthropic-version": "2023-06-01"},
        {
            "model": "m",
            "max_tokens": max_tokens,
            "stream": True,
            "messages": [{"role": "user", "content": content}],
        },
    )
