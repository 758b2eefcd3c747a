"""Redaction: the one placeholder and the one scrubber for secrets in text.

Used wherever a secret (an API key) could reach a log record, an error
message, telemetry or a recorded request: the runtime's error texts, the
logging filter on the HTTP stack's loggers, telemetry's header redaction and
the embedded server's request log. (The CLI shows keys to its user masked as
``sk-…abcd`` instead: a display form, ``cli.config.mask_key``.)
"""

from __future__ import annotations

#: What a redacted secret (or header value) is replaced with.
REDACTED = "[redacted]"


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by :data:`REDACTED`.

    Longer secrets go first, so a secret containing another is redacted whole.
    Returns ``text`` itself when no secret occurs in it.
    """
    if len(secrets) > 1:
        secrets = tuple(sorted(secrets, key=lambda s: len(s or ""), reverse=True))
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_bytes(data: bytes, *secrets: str | None) -> bytes:
    """:func:`scrub` for a body read off the wire (a server may echo the key back)."""
    text = data.decode("utf-8", "surrogateescape")
    clean = scrub(text, *secrets)
    return data if clean is text else clean.encode("utf-8", "surrogateescape")
