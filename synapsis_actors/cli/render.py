"""Terminal output: the reply as it streams, and the lines around it.

The reply (text, thinking when asked for, tool calls) goes to stdout; notes,
the closing statistics and errors go to stderr, so ``chat ... > reply.txt``
keeps only the reply. A stream that is a terminal gets rich styling (thinking
dimmed, tool calls coloured); anything else (a pipe, a file) gets plain text
with no ANSI codes, and rich is not even imported.

Every line written passes through a ``Scrubber`` that replaces the API keys
the CLI holds with their masked form: no key reaches the terminal, even one
echoed in a server's error message.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import IO, Any, Protocol

import attrs

from ..model.events import (
    Event,
    ProviderDone,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from ..model.ratelimits import RateLimitStatus
from .config import mask_key


class Scrubber:
    """Replaces every known secret in a text with its masked form.

    Masking, not redaction: the CLI shows its user which key is involved as
    ``mask_key`` does (``sk-…abcd``), everywhere it shows a key. The library's
    redaction (logs, errors, telemetry) is ``model.secrets.scrub``.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if secret and secret not in self._secrets:
                self._secrets.append(secret)
        # Longest first, so a key that contains another is masked whole.
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, mask_key(secret))
        return text


class Sink(Protocol):
    """Where text goes; ``styled`` says whether styles are shown."""

    @property
    def styled(self) -> bool: ...

    def write(self, text: str, style: str | None = None) -> None: ...


class PlainSink:
    """Plain text, flushed at once (a pipe sees each delta as it arrives)."""

    styled = False

    def __init__(self, file: IO[str], scrub: Scrubber) -> None:
        self._file = file
        self._scrub = scrub

    def write(self, text: str, style: str | None = None) -> None:
        try:
            self._file.write(self._scrub(text))
            self._file.flush()
        except BrokenPipeError:
            # The reader went away (`| head`): stop writing, do not crash.
            pass


class RichSink:
    """Styled output on a terminal through a rich Console."""

    styled = True

    def __init__(self, file: IO[str], scrub: Scrubber) -> None:
        from rich.console import Console  # lazy: rich costs ~70 ms to import

        self._console = Console(file=file, highlight=False, emoji=False, soft_wrap=True)
        self._scrub = scrub

    def write(self, text: str, style: str | None = None) -> None:
        self._console.print(
            self._scrub(text), style=style, end="", markup=False, highlight=False, soft_wrap=True
        )


def open_sink(file: IO[str], scrub: Scrubber, *, color: bool | None = None) -> Sink:
    """Rich styling when ``file`` is a terminal (or ``color`` forces it), plain text otherwise."""
    if color is None:
        isatty = getattr(file, "isatty", None)
        color = bool(isatty and isatty())
    return RichSink(file, scrub) if color else PlainSink(file, scrub)


@attrs.define
class Timing:
    """Marks on the monotonic clock: request sent, first content event, end."""

    start: float = attrs.field(factory=time.monotonic)
    first: float | None = None
    end: float | None = None

    def content(self) -> None:
        if self.first is None:
            self.first = time.monotonic()

    def done(self) -> None:
        self.end = time.monotonic()

    @property
    def ttft(self) -> float | None:
        return None if self.first is None else self.first - self.start

    def rate(self, output_tokens: int) -> float | None:
        if self.first is None or self.end is None or output_tokens <= 0:
            return None
        span = self.end - self.first
        return output_tokens / span if span > 0 else None


def summary_line(done: ProviderDone, timing: Timing, label: str) -> str:
    """``end_turn · 12 in / 34 out tokens · first token 0.21 s · 160 tok/s · model (provider)``."""
    usage = done.usage
    parts = [done.stop_reason or (done.raw_stop_reason or "no stop reason")]
    tokens = f"{usage.input_tokens} in / {usage.output_tokens} out tokens"
    if usage.cache_read_tokens or usage.cache_creation_tokens:
        tokens += f" ({usage.cache_read_tokens} cache read, {usage.cache_creation_tokens} written)"
    parts.append(tokens)
    ttft = timing.ttft
    parts.append("no content" if ttft is None else f"first token {ttft:.2f} s")
    rate = timing.rate(usage.output_tokens)
    if rate is not None:
        parts.append(f"{rate:.1f} tok/s")
    limits = rate_limits_text(done.rate_limits)
    if limits:
        parts.append(limits)
    parts.append(label)
    return " · ".join(parts)


def rate_limits_text(status: RateLimitStatus | None) -> str:
    """``limits: requests 49/50 (reset 1.2 s), tokens 39.5k/40k`` from what the
    server's headers said; empty when it said nothing."""
    if status is None:
        return ""
    shown = []
    for name in ("requests", "tokens", "input_tokens", "output_tokens"):
        window = getattr(status, name)
        if window is None or (window.remaining is None and window.limit is None):
            continue
        count = "?" if window.remaining is None else _short(window.remaining)
        if window.limit is not None:
            count += f"/{_short(window.limit)}"
        reset = f" (reset {window.reset:.1f} s)" if window.reset else ""
        shown.append(f"{name.replace('_', ' ')} {count}{reset}")
    return "limits: " + ", ".join(shown) if shown else ""


def _short(n: int) -> str:
    if n < 10_000:
        return str(n)
    return f"{n / 1000:.1f}".rstrip("0").rstrip(".") + "k"


class ChatView:
    """Renders one chat stream: events as they arrive, then the summary.

    Sections (thinking, text, a tool call) are kept on their own lines; on a
    plain sink thinking and tool calls carry a ``[thinking]`` / ``[tool call]``
    label since there is no style to tell them apart.
    """

    def __init__(self, out: Sink, err: Sink, *, show_thinking: bool = False) -> None:
        self.out = out
        self.err = err
        self.show_thinking = show_thinking
        self._section: str | None = None
        self._at_line_start = True

    def _emit(self, text: str, style: str | None = None) -> None:
        if text:
            self.out.write(text, style)
            self._at_line_start = text.endswith("\n")

    def _enter(self, section: str, label: str | None = None, style: str | None = None) -> None:
        if self._section == section:
            return
        if not self._at_line_start:
            self._emit("\n")
        self._section = section
        if label:
            self._emit(label, style)

    def on_event(self, event: Event) -> bool:
        """Render ``event``; True if it was content (for time-to-first-token)."""
        if isinstance(event, TextDelta):
            self._enter("text")
            self._emit(event.text)
            return True
        if isinstance(event, ThinkingDelta):
            if self.show_thinking:
                label = None if self.out.styled else "[thinking] "
                self._enter("thinking", label)
                self._emit(event.text, "dim italic")
            return True
        if isinstance(event, ToolCallStart):
            self._section = None
            self._enter(f"tool{event.index}", f"[tool call] {event.name} ", "bold cyan")
            return True
        if isinstance(event, ToolCallDelta):
            self._emit(event.arguments, "cyan")
            return True
        if isinstance(event, ToolCallEnd):
            self._tool_end(event)
            return True
        return False

    def _tool_end(self, event: ToolCallEnd) -> None:
        if self._section != f"tool{event.index}":
            # No start/deltas seen (a server that sends whole calls): show it in one go.
            self._enter(f"tool{event.index}", f"[tool call] {event.name} ", "bold cyan")
            self._emit(json.dumps(event.input) if event.input is not None else "", "cyan")
        if event.error:
            self._emit(f"  (invalid arguments, not to be run: {event.error})", "red")
        self._emit("\n")
        self._section = None

    def close(self) -> None:
        """End the reply's last line."""
        if not self._at_line_start:
            self._emit("\n")

    def summary(self, done: ProviderDone, timing: Timing, label: str) -> None:
        self.close()
        self.err.write(summary_line(done, timing, label) + "\n", "dim")


def notice(err: Sink, text: str) -> None:
    """One dim informational line on stderr."""
    err.write(text + "\n", "dim")


def _labelled(err: Sink, label: str, style: str, line: str) -> None:
    if err.styled:
        err.write(f"{label}: ", style)
        err.write(line + "\n")
    else:
        err.write(f"{label}: {line}\n")


def warning(err: Sink, line: str) -> None:
    """A line that qualifies a result which did arrive: ``warning: ...``."""
    _labelled(err, "warning", "bold yellow", line)


def error(err: Sink, line: str) -> None:
    """The one line a failure gets: ``error: ...``."""
    _labelled(err, "error", "bold red", line)


def default_sinks(scrub: Scrubber) -> tuple[Sink, Sink]:
    """Sinks for the process's stdout and stderr."""
    return open_sink(sys.stdout, scrub), open_sink(sys.stderr, scrub)


def table(rows: list[list[str]], header: list[str]) -> str:
    """Left-aligned columns separated by two spaces (plain text, fine in a pipe)."""
    cells: list[list[Any]] = [header, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    ]
    return "\n".join(lines) + "\n"
