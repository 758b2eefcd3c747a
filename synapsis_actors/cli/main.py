"""``synapsis-actors``: chat with a provider, list providers and models, watch the demo.

Commands::

    synapsis-actors chat "prompt"        stream a reply (prompt from stdin with "-" or a pipe)
    synapsis-actors providers            what is configured (keys masked)
    synapsis-actors models [NAME]        the provider's model list
    synapsis-actors demo [--seconds N]   a live supervision tree under injected faults

With no provider configured the commands run on the embedded provider: a
local loopback server started in-process (no key, no network). Each failure
is one ``error: ...`` line on stderr and a non-zero exit code (see
``failures.py``); ``--debug`` adds the traceback, with keys masked.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import IO, TYPE_CHECKING, Any, NoReturn

import trio

from .. import __version__
from ..errors import ConfigError
from . import failures
from .config import (
    DEFAULT_MODELS,
    EMBEDDED,
    ENV_PRESETS,
    CliConfig,
    ProviderEntry,
    default_base_url,
    mask_key,
)
from .render import (
    ChatView,
    Scrubber,
    Sink,
    Timing,
    default_sinks,
    error,
    notice,
    table,
    warning,
)

if TYPE_CHECKING:
    from ..model.catalog import ModelInfo
    from ..model.events import ProviderDone
    from ..runtime.runtime import Runtime
    from ..runtime.telemetry import Handler

PROG = "synapsis-actors"
EMBEDDED_NOTICE = (
    "no provider configured: using the embedded local provider; "
    "set ANTHROPIC_API_KEY (or OPENAI_API_KEY, OLLAMA_HOST, ...) to use a real one"
)
#: The key the embedded provider is registered with (it checks none; nothing secret).
EMBEDDED_KEY = "embedded-local"


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, like every other failure of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(failures.USAGE, f"error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On subcommands the defaults are SUPPRESS so they do not clobber the top-level values.
    default: Any = argparse.SUPPRESS
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=None if top else default,
        help="TOML configuration (default: $SYNAPSIS_ACTORS_CONFIG or "
        "~/.config/synapsis-actors/config.toml)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else default,
        help="show tracebacks and debug logs (API keys stay masked)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Supervised, cancellable, typed LLM streams on trio.",
        epilog="exit codes: 0 ok, 1 internal error, 2 usage/configuration, 3 key refused, "
        "4 rate limited/overloaded, 5 unreachable, 6 stream failed, 7 request rejected/"
        "server error, 8 reply cut off at max_tokens, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    chat = sub.add_parser("chat", help="stream a reply to a prompt")
    chat.add_argument(
        "prompt", nargs="?", default=None, help='the prompt; "-" or none reads it from stdin'
    )
    chat.add_argument("--provider", metavar="NAME", help="a configured provider (see `providers`)")
    chat.add_argument("--model", help="model id (default: the provider's configured model)")
    chat.add_argument("--system", metavar="TEXT", help="system prompt")
    chat.add_argument("--max-tokens", type=_positive_int, metavar="N", help="reply length limit")
    chat.add_argument(
        "--thinking", action="store_true", help="ask for extended thinking and show it (dimmed)"
    )
    chat.add_argument(
        "--thinking-budget",
        type=_positive_int,
        default=2048,
        metavar="N",
        help="token budget of --thinking (default 2048)",
    )
    _add_common(chat, top=False)

    providers = sub.add_parser("providers", help="list the configured providers (keys masked)")
    _add_common(providers, top=False)

    models = sub.add_parser(
        "models", help="list a provider's models, with their limits and capabilities"
    )
    models.add_argument(
        "name",
        nargs="?",
        default=None,
        metavar="NAME",
        help="provider name (default: the default provider)",
    )
    models.add_argument(
        "--known",
        action="store_true",
        help="list the built-in catalogue of known models instead (no server asked)",
    )
    _add_common(models, top=False)

    demo = sub.add_parser("demo", help="live supervision tree while faults are injected")
    demo.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        metavar="N",
        help="how long the demo runs (default 10)",
    )
    demo.add_argument(
        "--streams",
        type=_positive_int,
        default=4,
        metavar="N",
        help="concurrent streams (default 4)",
    )
    _add_common(demo, top=False)
    return parser


# ----------------------------------------------------------------- chat


def _read_prompt(prompt: str | None, stdin: IO[str]) -> str:
    if prompt is None or prompt == "-":
        if prompt is None and stdin.isatty():
            raise ConfigError("prompt", 'missing: chat "your prompt", or pipe it on stdin')
        prompt = stdin.read()
    if not prompt.strip():
        raise ConfigError("prompt", "is empty")
    return prompt


def _target(entry: ProviderEntry) -> failures.Target:
    url = entry.base_url or default_base_url(entry.kind)
    return failures.Target(entry.name, url, entry.key_env, entry.url_env)


async def _open_provider(
    rt: Runtime, stack: AsyncExitStack, cfg: CliConfig, name: str
) -> ProviderEntry:
    """Register provider ``name`` with the runtime (starting the embedded one if needed)."""
    if name == EMBEDDED:
        from ..embedded import open_embedded_provider  # lazy: pulls in hypercorn

        server = await stack.enter_async_context(open_embedded_provider())
        entry = ProviderEntry(
            EMBEDDED,
            "anthropic",
            base_url=server.anthropic_base_url,
            api_key=EMBEDDED_KEY,
            model=server.app.models[0],
            origin="built-in",
        )
    else:
        entry = cfg.entry(name)
    await rt.providers.register(name, entry.to_config())
    return entry


async def _model_for(rt: Runtime, entry: ProviderEntry, explicit: str | None) -> str:
    model = explicit or entry.model or DEFAULT_MODELS.get(entry.kind)
    if model:
        return model
    # Local servers (vLLM, llama.cpp, LM Studio) serve whatever they loaded: ask.
    listed = await rt.providers.models(entry.name)
    if not listed:
        raise ConfigError("--model", f"provider {entry.name!r} lists no model; name one")
    return str(listed[0].id)


class _Session:
    """What one command run holds: configuration, output, the current target."""

    def __init__(
        self, args: argparse.Namespace, cfg: CliConfig, scrub: Scrubber, out: Sink, err: Sink
    ) -> None:
        self.args = args
        self.cfg = cfg
        self.scrub = scrub
        self.out = out
        self.err = err
        self.target: failures.Target | None = None
        self.view: ChatView | None = None
        self.prompt = ""
        #: The exit code of a command that succeeded with a qualification (a cut-off reply).
        self.code = failures.OK

    def pick(self, requested: str | None) -> str:
        name = self.cfg.choose(requested)
        if name == EMBEDDED and not requested and not self.cfg.default_provider:
            notice(self.err, EMBEDDED_NOTICE)
        return name

    async def chat(self) -> BaseException | None:
        from ..model.events import ProviderChunk, ProviderDone
        from ..model.request import Message, Request
        from ..runtime import telemetry
        from ..runtime.runtime import open_runtime, open_stream

        args = self.args
        name = self.pick(args.provider)
        view = self.view = ChatView(self.out, self.err, show_thinking=args.thinking)
        async with open_runtime() as rt, AsyncExitStack() as stack:
            try:
                entry = await _open_provider(rt, stack, self.cfg, name)
                self.target = _target(entry)
                request = Request(
                    model=await _model_for(rt, entry, args.model),
                    messages=[Message.user(self.prompt)],
                    system=args.system,
                    max_tokens=args.max_tokens,
                    thinking_budget=args.thinking_budget if args.thinking else None,
                )
                timing = Timing()
                done: ProviderDone | None = None
                retries = self._retry_notices(rt.providers.get(name).max_retries + 1)
                with telemetry.subscribed(retries):
                    async with open_stream(rt, name, request) as stream:
                        async for msg in stream:
                            if isinstance(msg, ProviderChunk):
                                if view.on_event(msg.event):
                                    timing.content()
                            elif isinstance(msg, ProviderDone):
                                done = msg
                timing.done()
            except Exception as exc:
                # Returned, not raised: raising through the runtime's nursery
                # would wrap it in an ExceptionGroup.
                return exc
            assert done is not None, "a stream always ends with one ProviderDone"
            if done.error is not None:
                # What arrived stays printed; the error is the last line.
                return _delivered(done.error)
            view.summary(done, timing, f"{request.model} via {name}")
            if done.stop_reason == "max_tokens":
                warning(self.err, failures.truncated(request.max_tokens, done.usage.output_tokens))
                self.code = failures.TRUNCATED
            return None

    def _retry_notices(self, attempts: int) -> Handler:
        """A telemetry handler that says each retry on stderr: a silent wait
        through several attempts looks like a hang."""

        def on_event(name: str, data: Mapping[str, Any]) -> None:
            if name != "provider.request.retry":
                return
            status = data.get("status")
            what = f"HTTP {status} {data.get('error')}" if status else str(data.get("error"))
            notice(
                self.err,
                f"attempt {data.get('attempt')} of {attempts} failed ({what}); "
                f"retrying in {float(data.get('delay') or 0.0):.1f} s",
            )

        return on_event

    async def models(self) -> BaseException | None:
        from ..runtime.runtime import open_runtime

        if self.args.known:
            from ..model.catalog import KNOWN_MODELS

            self.out.write(_models_table(KNOWN_MODELS.values()))
            return None
        name = self.pick(self.args.name)
        async with open_runtime() as rt, AsyncExitStack() as stack:
            try:
                entry = await _open_provider(rt, stack, self.cfg, name)
                self.target = _target(entry)
                listed = await rt.providers.models(name)
            except Exception as exc:
                return exc
        self.out.write(_models_table(listed))
        return None

    def providers(self) -> None:
        cfg = self.cfg
        default = cfg.choose(None)
        rows: list[list[str]] = []
        for entry in cfg.providers.values():
            key = (
                f"missing: set {entry.key_env}"
                if entry.missing_key
                else (mask_key(entry.api_key) if entry.api_key else "(not needed)")
            )
            if entry.missing_env:
                key += f"; set {entry.missing_env}"
            rows.append(
                [
                    ("* " if entry.name == default else "  ") + entry.name,
                    entry.kind,
                    entry.base_url or default_base_url(entry.kind) or "(none)",
                    key,
                    entry.model or DEFAULT_MODELS.get(entry.kind, "(first listed)"),
                    entry.origin,
                ]
            )
        if not rows:
            rows.append(
                [
                    "* " + EMBEDDED,
                    "anthropic",
                    "(loopback, started on demand)",
                    "(not needed)",
                    "embedded-echo",
                    "built-in",
                ]
            )
        self.out.write(table(rows, ["  NAME", "KIND", "BASE URL", "KEY", "MODEL", "FROM"]))
        if not cfg.providers:
            names = ", ".join(var for _, var, _ in ENV_PRESETS)
            notice(
                self.err,
                f"no provider configured: set one of {names}, OLLAMA_HOST, "
                "or write a config file (see README)",
            )
        elif cfg.path is not None:
            notice(self.err, f"config file: {cfg.path}")


def _models_table(models: Iterable[ModelInfo]) -> str:
    """One row per model: limits, capabilities and where they come from."""

    def number(value: int | None) -> str:
        return f"{value:,}" if value is not None else "-"

    rows = [
        [
            m.id,
            m.owned_by or "",
            number(m.context_window),
            number(m.max_output_tokens),
            " ".join(sorted(m.capabilities)) or "-",
            m.source,
        ]
        for m in models
    ]
    return table(rows, ["MODEL", "OWNED BY", "CONTEXT", "MAX OUTPUT", "CAPABILITIES", "FROM"])


# ----------------------------------------------------------------- entry point


def _delivered(error: BaseException) -> BaseException:
    """``error`` as delivered in a ``ProviderDone``, raised once here so that it
    carries a traceback for ``--debug`` (its own frames, if it was raised where
    it arose, come after this one; its ``__cause__`` chain is kept)."""
    try:
        raise error
    except BaseException as exc:
        return exc


def _leaf(exc: BaseException) -> BaseException:
    """The one exception worth reporting inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        interrupts = exc.subgroup(lambda e: isinstance(e, KeyboardInterrupt))
        if interrupts is not None:
            return KeyboardInterrupt()
        exc = exc.exceptions[0]
    return exc


def _report(session: _Session, exc: BaseException) -> int:
    leaf = _leaf(exc)
    line, code = failures.describe(leaf, session.target)
    if session.view is not None:
        session.view.close()  # end a partial reply's line before the error line
    if session.args.debug:
        text = "".join(traceback.format_exception(exc))
        session.err.write(session.scrub(text))
    error(session.err, line)
    return code


def _setup_logging(scrub: Scrubber, *, debug: bool) -> None:
    """Without ``--debug`` the library's own log records stay silent: the CLI
    reports each failure in its one line, and Python's last-resort handler
    would otherwise print warnings (with tracebacks) on stderr. With it,
    everything from ``synapsis_actors`` (and httpx's request lines) is shown,
    with known keys masked."""
    import logging

    lib = logging.getLogger("synapsis_actors")
    lib.propagate = False
    if not debug:
        lib.addHandler(logging.NullHandler())
        return

    class _Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = scrub(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = scrub("".join(traceback.format_exception(record.exc_info[1])))
                record.exc_info = None
            return True

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Redact())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    lib.setLevel(logging.DEBUG)
    lib.addHandler(handler)
    httpx_log = logging.getLogger("httpx")
    httpx_log.setLevel(logging.INFO)
    httpx_log.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return failures.USAGE
    scrub = Scrubber()
    out, err = default_sinks(scrub)
    session = _Session(args, CliConfig({}), scrub, out, err)
    try:
        from .config import load

        session.cfg = load(os.environ, args.config)
        scrub.add(session.cfg.secrets())
        _setup_logging(scrub, debug=args.debug)
        if args.command == "providers":
            session.providers()
            return failures.OK
        if args.command == "chat":
            # Read before the event loop starts: a blocking read has no place in it.
            session.prompt = _read_prompt(args.prompt, sys.stdin)
            result = trio.run(session.chat)
        elif args.command == "models":
            result = trio.run(session.models)
        else:
            from .demo import run_demo

            result = trio.run(run_demo, session.args, session.out, session.err)
    except KeyboardInterrupt as exc:
        return _report(session, exc)
    except BaseException as exc:  # one line, never a traceback (unless --debug)
        if isinstance(exc, SystemExit):
            raise
        return _report(session, exc)
    if result is not None:
        return _report(session, result)
    return session.code


def run() -> NoReturn:
    """``python -m synapsis_actors``: exit with ``main()``'s code."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # `| head` closed the pipe: silence the interpreter's complaint at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(code)
