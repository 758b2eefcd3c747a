"""h2's private methods, reached from here only (see ``fast_paths.py``).

Written for the h2 versions in ``fast_paths.SUPPORTED``.
"""

from __future__ import annotations

from typing import Any

import h2.connection
from hyperframe.frame import DataFrame

_LAID_OUT = all(
    hasattr(h2.connection.H2Connection, name)
    for name in ("_receive_frame", "_receive_data_frame", "_prepare_for_sending")
)


class QuietH2Connection(h2.connection.H2Connection):
    """h2's connection, without formatting every DATA frame for a trace log nobody reads.

    h2 builds ``repr(frame)`` for its trace log before it handles each frame,
    whether or not a logger listens: a third of its work per DATA frame
    (21 against 14 us per frame here), and a provider sends one DATA frame
    per event. For a DATA frame, h2's ``_receive_frame`` adds nothing else
    to its DATA handling (which deals with closed, reset and unknown streams
    itself), so a DATA frame goes straight to it; every other frame takes
    h2's usual way. Only the trace line is skipped: this connection's
    configuration has no logger.
    """

    def _receive_frame(self, frame: Any) -> Any:
        if type(frame) is DataFrame:
            frames, events = self._receive_data_frame(frame)
            self._prepare_for_sending(frames)
            return events
        return super()._receive_frame(frame)


#: The connection class for the library's HTTP/2 transport.
H2Connection: type[h2.connection.H2Connection] = (
    QuietH2Connection if _LAID_OUT else h2.connection.H2Connection
)
