"""httpx's private attributes, reached from here only (see ``fast_paths.py``).

Written for the httpx versions in ``fast_paths.SUPPORTED``. The functions
that reach into objects return None when they are not laid out as expected;
:func:`environment_proxies` is httpx's own reading of the environment, which
the library's client needs because httpx skips it for a client given a
transport.
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


def environment_proxies() -> dict[str, str | None]:
    """The proxy mounts httpx reads from the environment (``HTTPS_PROXY``, ``NO_PROXY``, ...).

    URL pattern -> proxy URL, or None for a host ``NO_PROXY`` exempts; what
    ``httpx.AsyncClient(trust_env=True)`` mounts, which it skips when given a
    ``transport=``.
    """
    from httpx._utils import get_environment_proxies

    return get_environment_proxies()
