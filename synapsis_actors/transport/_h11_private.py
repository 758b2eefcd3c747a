"""h11's private attributes, reached from here only (see ``fast_paths.py``).

Written for the h11 versions in ``fast_paths.SUPPORTED``.
"""

from __future__ import annotations

from typing import Any

import h11

_CHUNKED_READER: Any = None
try:
    from h11._readers import ChunkedReader

    _CHUNKED_READER = ChunkedReader
except ImportError:  # pragma: no cover - another h11 layout: no takeover (the version test fails)
    pass


def take_chunked_body(state: Any) -> bytes | None:
    """The bytes h11 buffered after the headers, if ``state`` is at the start of a chunked body.

    "At the start" means h11's chunk reader has consumed no body byte, so the
    caller may read the rest of the framing itself from the socket. The
    buffered bytes are removed from h11's buffer and returned; None (and h11
    untouched) in any other state.
    """
    try:
        reader = state._reader
        if (
            _CHUNKED_READER is None
            or type(state) is not h11.Connection
            or state.their_state is not h11.SEND_BODY
            or type(reader) is not _CHUNKED_READER
            or reader._bytes_in_chunk != 0
            or reader._bytes_to_discard
            or reader._reading_trailer
        ):
            return None
        buffer = state._receive_buffer
        return bytes(buffer._extract(len(buffer)))
    except AttributeError:
        return None
