"""HttpRequest: what to send, as data (built by a wire format, sent by the transport)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class HttpRequest:
    """A request to send: the runtime adds nothing but transport concerns."""

    method: str
    url: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    params: dict[str, str] = attrs.field(factory=dict)
