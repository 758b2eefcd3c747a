"""The normal-exit signal.

A child (worker, actor handler, supervised function) that raises
:class:`Shutdown` exits *normally*, exactly as if it had returned: a
``transient`` child is then not restarted, an actor's pending callers get
:class:`~synapsis_actors.errors.ActorExited` with the given reason, and no
failure is reported. Any other ``Exception`` is an abnormal exit.
``trio.Cancelled``, ``KeyboardInterrupt`` and ``SystemExit`` are not exits at
all for the runtime: they propagate.
"""

from __future__ import annotations

__all__ = ["Shutdown"]


class Shutdown(Exception):  # a signal, not an error: OTP's `exit(normal)`
    """Raise to stop the current child (or actor) normally.

    ``reason`` is carried to telemetry and to an actor's waiting callers; it
    defaults to ``"normal"``.
    """

    def __init__(self, reason: object = "normal") -> None:
        self.reason = reason
        super().__init__(reason)
