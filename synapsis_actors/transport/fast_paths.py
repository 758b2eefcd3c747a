"""The one switch for the fast paths, and the library versions they were written for.

Five speed-ups reach into other libraries' private attributes (each in one
module named after the library it touches):

* ``_httpx_private.py``: from an ``httpx.Response`` or ``httpx.AsyncClient``
  to the httpcore objects underneath;
* ``_httpcore_private.py``: httpcore's HTTP/1.1 connection (its h11 state
  and socket) and its HTTP/2 connection (to reset one stream);
* ``_h11_private.py``: h11's chunked-body reader, to take a body over on a
  chunk boundary;
* ``_h2_private.py``: h2's handling of one received frame, so a DATA frame
  skips the trace-log ``repr`` h2 builds for every frame;
* ``_trio_private.py``: the TLS state of trio's ``SSLStream``, so one read
  decodes every TLS record already received.

They serve the library's own client only (a client the user hands in is
driven through httpx's public API). :func:`enabled` is the switch: it is off
when the environment variable ``SYNAPSIS_ACTORS_FAST_PATHS`` is ``0``,
``false``, ``off`` or ``no``, and off when an installed version lies outside
:data:`SUPPORTED` (logged once as a warning, and a test fails naming the
version, so a new release is never a silent slowdown). With the switch off
every stream goes through httpx's public API: slower, same behaviour, except
that a cancelled HTTP/2 stream is only forgotten by httpcore instead of reset
on the server.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os

_log = logging.getLogger(__name__)

ENV_VAR = "SYNAPSIS_ACTORS_FAST_PATHS"
_OFF = frozenset(("0", "false", "off", "no"))

#: Distribution -> (lowest version, first version not supported): the releases
#: whose internals the private modules were written against and CI has run.
SUPPORTED: dict[str, tuple[str, str]] = {
    "httpx": ("0.27", "0.30"),
    "httpcore": ("1.0.5", "1.1"),
    "h11": ("0.14", "0.17"),
    "h2": ("4.1", "5"),
    "trio": ("0.25", "0.36"),
}


def version_problems() -> list[str]:
    """One sentence per installed library outside :data:`SUPPORTED` (empty: all match)."""
    from packaging.specifiers import SpecifierSet

    problems = []
    for name, (low, high) in SUPPORTED.items():
        try:
            # The imported module's own version: importlib.metadata would cost
            # a plain run a few hundred KiB of imports (zipfile, csv, email).
            found = str(importlib.import_module(name).__version__)
        except ImportError:
            problems.append(f"{name} is not installed")
            continue
        if not SpecifierSet(f">={low},<{high}").contains(found, prereleases=True):
            problems.append(
                f"{name} {found} is outside the versions the fast paths were written for "
                f"(>={low},<{high})"
            )
    return problems


@functools.cache
def _versions_ok() -> bool:
    problems = version_problems()
    for problem in problems:
        _log.warning("fast paths off: %s", problem)
    return not problems


def enabled() -> bool:
    """True when the fast paths may run: the switch is on and every version matches."""
    if os.environ.get(ENV_VAR, "").strip().lower() in _OFF:
        return False
    return _versions_ok()
