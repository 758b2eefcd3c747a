"""hypercorn's per-connection server, reached from here only.

hypercorn's documented API is ``serve()``, which hides the accepted
connections; the embedded provider must count them and abort one on demand,
so it drives hypercorn's own per-connection ``TCPServer`` (and the
``WorkerContext`` and ``ConnectionState`` it takes) itself. Those are
hypercorn internals: this module was written for the versions in
:data:`SUPPORTED`, and a test fails naming the installed version when it lies
outside them. There is no slower public path to fall back to: the embedded
provider needs these.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

#: (lowest version, first version not supported); 0.17 added ``ConnectionState``.
SUPPORTED: tuple[str, str] = ("0.17", "0.19")


def version_problem() -> str | None:
    """A sentence naming the installed hypercorn when it lies outside :data:`SUPPORTED`."""
    from packaging.specifiers import SpecifierSet

    found = metadata.version("hypercorn")
    low, high = SUPPORTED
    if SpecifierSet(f">={low},<{high}").contains(found, prereleases=True):
        return None
    return (
        f"hypercorn {found} is outside the versions the embedded server was written for "
        f"(>={low},<{high})"
    )


def load() -> tuple[Any, Any, Any, Any, Any]:
    """(ASGIWrapper, Config, TCPServer, WorkerContext, ConnectionState), imported on first use."""
    from hypercorn.app_wrappers import ASGIWrapper
    from hypercorn.config import Config
    from hypercorn.trio.tcp_server import TCPServer
    from hypercorn.trio.worker_context import WorkerContext
    from hypercorn.typing import ConnectionState

    return ASGIWrapper, Config, TCPServer, WorkerContext, ConnectionState
