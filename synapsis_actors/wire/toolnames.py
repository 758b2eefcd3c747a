"""Tool names every vendor accepts: a reversible encoding, shared by the wire formats.

Anthropic (``^[a-zA-Z0-9_-]{1,128}$``) and the OpenAI-compatible servers
(``^[a-zA-Z0-9_-]{1,64}$``) refuse names that MCP servers and users write
(``github.create_issue``, spaces, non-ASCII). ``encode_tool_name`` makes a
name fit the stricter rule; ``decode_tool_name`` turns the model's call back
into the caller's name, so callers only ever see their own names.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict

_VALID_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_KEEP = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_MARK = "__"
_HASHED = "_g"  # after the mark, "_g" is not a valid escape: hashed long names
_LONG_NAMES: OrderedDict[str, str] = OrderedDict()
_LONG_NAMES_MAX = 4096


def encode_tool_name(name: str) -> str:
    """A name vendors accept (``^[a-zA-Z0-9_-]{1,64}$``), reversible by ``decode_tool_name``.

    Valid names not starting with ``__`` are unchanged. Others become ``__``
    followed by the name with ``_`` doubled and every other byte outside
    ``[a-zA-Z0-9-]`` as ``_`` + two hex digits. If that exceeds 64 characters
    the name is hashed (``___g`` + 40 hex digits) and remembered in a bounded
    process-wide table, so its decoding works in this process.
    """
    if _VALID_NAME.fullmatch(name) and not name.startswith(_MARK):
        return name
    escaped = []
    for ch in name:
        if ch in _KEEP:
            escaped.append(ch)
        elif ch == "_":
            escaped.append("__")
        else:
            escaped.extend(f"_{b:02x}" for b in ch.encode("utf-8"))
    encoded = _MARK + "".join(escaped)
    if len(encoded) <= 64:
        return encoded
    hashed = _MARK + _HASHED + hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]
    _LONG_NAMES[hashed] = name
    _LONG_NAMES.move_to_end(hashed)
    while len(_LONG_NAMES) > _LONG_NAMES_MAX:
        _LONG_NAMES.popitem(last=False)
    return hashed


def decode_tool_name(name: str) -> str:
    """The original of ``encode_tool_name`` (any other name is returned unchanged)."""
    if not name.startswith(_MARK):
        return name
    body = name[len(_MARK) :]
    if body.startswith(_HASHED):
        return _LONG_NAMES.get(name, name)
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "_":
            out += ch.encode("utf-8")
            i += 1
        elif body[i + 1 : i + 2] == "_":
            out += b"_"
            i += 2
        else:
            try:
                out.append(int(body[i + 1 : i + 3], 16))
            except ValueError:
                return name  # not one of ours
            i += 3
    return out.decode("utf-8", "replace")
