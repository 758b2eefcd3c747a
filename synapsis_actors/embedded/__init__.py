"""The embedded local provider: real Anthropic and OpenAI streaming over real loopback HTTP.

Started in-process with :func:`open_embedded_provider`, it lets the whole
stack run with no API key and no network (the CLI's first run), and gives
tests a server that misbehaves on cue (:class:`Fault`). See
``docs/embedded.md``.

Importing this package does not import hypercorn; starting a server does.
"""

from __future__ import annotations

from .app import EmbeddedApp, ReceivedRequest, ServedResponse
from .script import Fault, RawReply, Reply, Step, ToolCallReply
from .server import EmbeddedProvider, open_embedded_provider

__all__ = [
    "EmbeddedApp",
    "EmbeddedProvider",
    "Fault",
    "RawReply",
    "ReceivedRequest",
    "Reply",
    "ServedResponse",
    "Step",
    "ToolCallReply",
    "open_embedded_provider",
]
