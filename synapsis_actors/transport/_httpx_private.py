"""httpx's private attributes, reached from here only (see ``fast_paths.py``).

Written for the httpx versions in ``fast_paths.SUPPORTED``. Every function
returns None when the objects are not laid out as expected.
"""

from __future__ import annotations

from typing import Any

import httpx


def httpcore_stream(response: httpx.Response) -> Any:
    """The httpcore byte stream under ``response`` (a ``PoolByteStream``), or None.

    httpx ``BoundAsyncStream._stream`` -> ``AsyncResponseStream._httpcore_stream``.
    """
    stream: Any = response.stream
    try:
        return stream._stream._httpcore_stream
    except AttributeError:
        return None


def default_transport(client: httpx.AsyncClient) -> Any:
    """The transport ``client`` sends through when no mount matches, or None."""
    return getattr(client, "_transport", None)


def pool_size(transport: Any) -> int:
    """Connections in an ``httpx.AsyncHTTPTransport``'s httpcore pool, idle ones included
    (0 for a transport without one)."""
    try:
        return len(transport._pool.connections)
    except (AttributeError, TypeError):
        return 0
