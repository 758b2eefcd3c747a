"""The ASGI application of the embedded provider: routing, auth, the script, faults.

Endpoints (as the real services spell them):

* ``POST /v1/messages``: Anthropic Messages, SSE when ``"stream": true``,
  else the JSON message;
* ``POST /v1/chat/completions`` and ``POST /chat/completions``: OpenAI chat
  completions, SSE with ``[DONE]`` when streaming (``stream_options.
  include_usage`` honoured), else the ``chat.completion`` JSON;
* ``POST .../models/{model}:streamGenerateContent?alt=sse`` and
  ``:generateContent``: Google Gemini (the Gemini API's ``/v1beta`` paths and
  Vertex AI's ``.../publishers/google/models/...``), see ``gemini.py``;
* ``GET /v1/models`` (and ``/models``): Anthropic's shape when the request
  carries ``anthropic-version`` or ``x-api-key``, Google's for ``/v1beta/models``
  or ``x-goog-api-key``, OpenAI's otherwise.

Each chat request consumes one :class:`~.script.Step` (the FIFO queue
first, then the default). While a body is being sent, a watcher task reads
``http.disconnect``: a client that goes away stops the handler at once.
"""

from __future__ import annotations

import collections
import json
import math
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Literal, TypeAlias

import attrs
import trio

from ..model.ratelimits import RateLimits
from ..model.secrets import REDACTED
from . import gemini, validate, wire
from .echo import ChatView, echo_reply, view_request
from .limits import ServerLimits
from .script import Fault, RawReply, Reply, Scriptable, Step, as_step
from .wire import Flavor, WireEvent

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
#: ``abort(client_address, reset)``: abort the TCP connection a request came on.
Abort: TypeAlias = Callable[[tuple[str, int] | None, bool], bool]
Outcome: TypeAlias = Literal["complete", "disconnected", "dropped", "send_failed", "error"]

_SECRET_HEADERS = frozenset(
    ("authorization", "x-api-key", "api-key", "proxy-authorization", "cookie", "x-goog-api-key")
)
_CHUNK = 64 * 1024


@attrs.frozen
class ReceivedRequest:
    """One request as the server saw it. Credentials never appear: their
    header values are replaced by ``"[redacted]"`` (``model.secrets.REDACTED``);
    ``credential`` names the header that carried one (``"x-api-key"``, ``"bearer"``, ``"api-key"``)
    and ``key_accepted`` says whether it matched the expected key (None when
    no key is expected)."""

    index: int
    method: str
    path: str
    query: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: Any
    body_size: int
    client: tuple[str, int] | None
    credential: str | None
    key_accepted: bool | None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)


@attrs.frozen
class ServedResponse:
    """How the server answered request ``request_index``.

    ``events_sent`` counts body writes that reached the transport (SSE
    events, raw chunks, inserted fault lines). ``outcome``: ``complete``
    (everything planned was sent, faults included), ``disconnected`` (the
    client left first), ``dropped`` (a ``drop_after`` fault aborted the
    connection), ``send_failed`` (the transport refused a write), ``error``
    (the handler itself failed: a bug, logged by the server).
    """

    request_index: int
    status: int
    events_sent: int
    outcome: Outcome


class _Disconnected(Exception):
    """The client went away (send failed)."""


class EmbeddedApp:
    """The ASGI 3 application. Usable under any ASGI server; the connection
    counts and ``drop_after`` need :func:`open_embedded_provider`'s runner."""

    def __init__(
        self,
        *,
        default: Scriptable | Literal["echo"] = "echo",
        expected_key: str | None = None,
        models: tuple[str, ...] = ("embedded-echo",),
        abort: Abort | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self._default = Step() if default == "echo" else as_step(default)
        #: Server-side RPM/TPM (``embedded/limits.py``); None: unlimited, no headers.
        self.limits = ServerLimits(rate_limits) if rate_limits is not None else None
        self._expected_key = expected_key
        self.models = tuple(models)
        self._abort = abort
        self._queue: collections.deque[list[Any]] = collections.deque()
        self.requests: list[ReceivedRequest] = []
        #: Responses being sent: request index -> body writes done so far.
        self.in_flight: dict[int, int] = {}
        self.responses: list[ServedResponse] = []
        self._changed = trio.Event()

    def __repr__(self) -> str:
        # Never show the expected key.
        return f"<EmbeddedApp queued={self.pending} requests={len(self.requests)}>"

    # ---------------------------------------------------------------- script

    def enqueue(self, item: Scriptable, *, times: int = 1) -> None:
        """Queue ``item`` for the next ``times`` chat requests (FIFO)."""
        from ..errors import ConfigError

        if times < 1:
            raise ConfigError("times", f"must be >= 1, got {times!r}")
        self._queue.append([as_step(item), times])

    def set_default(self, item: Scriptable | Literal["echo"]) -> None:
        """What to answer when the queue is empty (``"echo"``: the echo reply)."""
        self._default = Step() if item == "echo" else as_step(item)

    def clear_script(self) -> None:
        self._queue.clear()

    @property
    def pending(self) -> int:
        """How many scripted responses are still queued."""
        return sum(int(entry[1]) for entry in self._queue)

    def _next_step(self) -> Step:
        if not self._queue:
            return self._default
        entry = self._queue[0]
        entry[1] -= 1
        if entry[1] == 0:
            self._queue.popleft()
        step: Step = entry[0]
        return step

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_changed(self) -> None:
        await self._changed.wait()

    # ---------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await self._handle(scope, bytes(raw), receive, send)

    async def _handle(self, scope: Scope, raw: bytes, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        method, path = scope["method"], scope["path"]
        flavor = _route_flavor(path, headers)
        credential, key = _credential(headers)
        accepted = None if self._expected_key is None else key == self._expected_key
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        record = ReceivedRequest(
            index=len(self.requests),
            method=method,
            path=path,
            query=_redact_query(scope.get("query_string", b"").decode("latin-1")),
            http_version=scope.get("http_version", "1.1"),
            headers=tuple((k, REDACTED if k in _SECRET_HEADERS else v) for k, v in headers),
            body=body,
            body_size=len(raw),
            client=tuple(scope["client"]) if scope.get("client") else None,
            credential=credential,
            key_accepted=accepted,
        )
        self.requests.append(record)
        self._notify()
        responder = _Responder(self, record, send, receive)

        # Any prefix before /chat/completions: Azure's /openai/deployments/NAME/...
        chat = path == "/v1/messages" or path.endswith("/chat/completions")
        google = gemini.ROUTE.search(path) if flavor == "gemini" else None
        chat = chat or google is not None
        models = path.endswith("/models")
        if not chat and not models:
            await responder.json(404, _error_body(flavor, 404, f"No route for {path}"))
        elif (chat and method != "POST") or (models and method != "GET"):
            await responder.json(405, _error_body(flavor, 405, f"{method} not allowed"))
        elif accepted is False:
            message = (
                "invalid x-api-key" if flavor == "anthropic" else "Incorrect API key provided."
            )
            if flavor == "gemini":
                message = "API key not valid. Please pass a valid API key."
            await responder.json(401, _error_body(flavor, 401, message))
        elif models:
            await responder.json(200, _models_body(flavor, self.models, path))
        elif not isinstance(body, Mapping):
            await responder.json(
                400, _error_body(flavor, 400, "The request body is not a JSON object.")
            )
        elif google is not None:
            await self._gemini(responder, google, body, len(raw))
        elif not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            await responder.json(400, _error_body(flavor, 400, "model and messages are required."))
        elif (refused := validate.problem(flavor, body)) is not None:
            # What the real API refuses, refused the same way (see validate.py).
            await responder.json(
                400, _error_body(flavor, 400, refused.message, param=refused.param)
            )
        else:
            view = view_request(flavor, body, len(raw))
            if self.limits is not None:
                now = trio.current_time()
                charge, wait = self.limits.admit(now, max(1, view.size // 4))
                responder.charge = charge
                responder.rate_headers = self.limits.headers(now, None if wait == 0 else wait)
                if charge is None:
                    text = f"Rate limit exceeded; retry after {wait:.3f}s."
                    await responder.json(429, wire.error_body(flavor, 429, text))
                    return
            await responder.chat(flavor, view, self._next_step())

    async def _gemini(
        self, responder: _Responder, route: re.Match[str], body: Mapping[str, Any], size: int
    ) -> None:
        if not isinstance(body.get("contents"), list):
            await responder.json(400, gemini.error_body(400, "contents is required."))
            return
        refused = validate.problem("gemini", body)
        problem = refused.message if refused is not None else gemini.signature_problem(body)
        if problem is not None:
            await responder.json(400, gemini.error_body(400, problem))
            return
        model, method = route.group(1), route.group(2)
        view = gemini.view_request(body, model, method == "streamGenerateContent", size)
        await responder.chat("gemini", view, self._next_step())

    def _record(self, response: ServedResponse) -> None:
        self.in_flight.pop(response.request_index, None)
        self.responses.append(response)
        self._notify()

    def _abort_connection(self, client: tuple[str, int] | None, reset: bool) -> bool:
        return self._abort is not None and self._abort(client, reset)


class _Responder:
    """Sends one response, counting writes and watching for the client leaving."""

    def __init__(
        self, app: EmbeddedApp, record: ReceivedRequest, send: Send, receive: Receive
    ) -> None:
        self.app = app
        self.record = record
        self._send = send
        self._receive = receive
        self.status = 0
        self.sent = 0
        self.recorded = False
        self.finished = False
        #: The server-side rate-limit headers of this response, and its charge id.
        self.rate_headers: list[tuple[str, str]] = []
        self.charge: int | None = None

    async def _write(self, message: Message) -> None:
        try:
            await self._send(message)
        except Exception as exc:
            # OSError, trio's stream errors, or h11/h2 protocol errors from
            # hypercorn when the peer is gone: a failed write means the same.
            raise _Disconnected from exc

    async def _start(self, status: int, content_type: str, extra: list[tuple[str, str]]) -> None:
        self.status = status
        prefix = "request-id" if self.record.path == "/v1/messages" else "x-request-id"
        head = [
            ("content-type", content_type),
            ("cache-control", "no-cache"),
            (prefix, f"req_emb_{self.record.index:04d}"),
            *self.rate_headers,
            *extra,
        ]
        await self._write(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in head],
            }
        )

    async def _body(self, data: bytes, *, count: bool = True) -> None:
        for offset in range(0, max(len(data), 1), _CHUNK):
            await self._write(
                {
                    "type": "http.response.body",
                    "body": data[offset : offset + _CHUNK],
                    "more_body": True,
                }
            )
        if count:
            self.sent += 1
            if not self.recorded:
                self.app.in_flight[self.record.index] = self.sent

    async def _end(self) -> None:
        # Set first: the server reports http.disconnect as soon as the body
        # ends, which may cancel this task inside the very write below.
        self.finished = True
        await self._write({"type": "http.response.body", "body": b"", "more_body": False})

    async def json(
        self, status: int, payload: Mapping[str, Any], extra: list[tuple[str, str]] | None = None
    ) -> None:
        await self._guarded(self._json(status, payload, extra or []))

    async def _json(
        self, status: int, payload: Mapping[str, Any], extra: list[tuple[str, str]]
    ) -> Outcome:
        await self._start(status, "application/json", extra)
        await self._body(wire.json_bytes(payload))
        await self._end()
        return "complete"

    async def _guarded(self, work: Awaitable[Outcome]) -> None:
        """Run ``work`` while a watcher reads ``http.disconnect``; record the outcome."""
        outcome: Outcome = "disconnected"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch, nursery.cancel_scope)
            try:
                outcome = await work
            except _Disconnected:
                self.finished = False
                outcome = "send_failed"
            except Exception:
                outcome = "error"
                raise
            finally:
                self._record("complete" if self.finished else outcome)
            nursery.cancel_scope.cancel()

    def _record(self, outcome: Outcome) -> None:
        if not self.recorded:
            self.recorded = True
            self.app._record(ServedResponse(self.record.index, self.status, self.sent, outcome))

    async def _watch(self, scope: trio.CancelScope) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                scope.cancel()
                return

    async def chat(self, flavor: Flavor, view: ChatView, step: Step) -> None:
        await self._guarded(self._chat(flavor, view, step))

    async def _chat(self, flavor: Flavor, view: ChatView, step: Step) -> Outcome:
        fault = step.fault
        if fault.header_delay:
            await trio.sleep(fault.header_delay)
        extra = fault.response_headers()
        if fault.status is not None and (fault.status != 200 or fault.body is not None):
            return await self._status(flavor, fault, extra)
        reply = step.reply if step.reply is not None else echo_reply(view)
        limits = self.app.limits
        if limits is not None and self.charge is not None and isinstance(reply, Reply):
            limits.charge_output(self.charge, trio.current_time(), reply.estimated_output_tokens())
        if isinstance(reply, RawReply):
            await self._start(reply.status, reply.content_type, [*reply.headers.items(), *extra])
            events = [WireEvent(chunk, "content") for chunk in reply.chunks()]
            return await self._stream(
                flavor, events, fault, step.delay, self._context(view, reply=None)
            )
        ctx = self._context(view, reply)
        if not view.stream:
            await self._start(200, "application/json", extra)
            data = wire.json_bytes(_body_for(flavor, reply, ctx))
            # A truncated JSON body is its first half: valid HTTP, invalid JSON.
            half = len(data) // 2
            events = [WireEvent(data[:half], "content"), WireEvent(data[half:], "final")]
            return await self._stream(flavor, events, fault, step.delay, ctx)
        await self._start(200, "text/event-stream; charset=utf-8", extra)
        return await self._stream(flavor, _events_for(flavor, reply, ctx), fault, step.delay, ctx)

    def _context(self, view: ChatView, reply: Reply | None) -> wire.RenderContext:
        n = self.record.index
        tokens = (
            reply.input_tokens if reply is not None and reply.input_tokens is not None else None
        )
        return wire.RenderContext(
            model=(reply.model if reply is not None and reply.model else None) or view.model,
            message_id=(reply.id if reply is not None and reply.id else None)
            or (
                f"msg_emb_{n:04d}"
                if self.record.path == "/v1/messages"
                else f"chatcmpl-emb-{n:04d}"
            ),
            input_tokens=tokens if tokens is not None else max(1, view.size // 4),
            include_usage=view.include_usage,
            tool_id_prefix=f"emb{n:04d}",
        )

    async def _status(self, flavor: Flavor, fault: Fault, extra: list[tuple[str, str]]) -> Outcome:
        status = fault.status if fault.status is not None else 500
        if isinstance(fault.body, bytes):
            await self._start(status, "application/json", extra)
            await self._body(fault.body)
            await self._end()
            return "complete"
        payload = fault.body if fault.body is not None else _error_body(flavor, status)
        return await self._json(status, payload, extra)

    async def _stream(
        self,
        flavor: Flavor,
        events: list[WireEvent],
        fault: Fault,
        delay: float,
        ctx: wire.RenderContext,
    ) -> Outcome:
        if fault.truncate:
            events = [event for event in events if event.kind != "final"]
        for position in range(len(events) + 1):
            if fault.malformed_at == position:
                await self._body(fault.malformed_data)
            if fault.oversized_line is not None and fault.oversized_at == position:
                await self._body(_oversized_event(flavor, fault.oversized_line, ctx))
            if fault.stall_after == position:
                await self._stall(flavor, fault)
            if fault.drop_after == position:
                return await self._drop(fault)
            if fault.error_event_at == position:
                await self._body(_error_event(flavor, fault))
                break
            if position == len(events):
                break
            if position and delay:
                await trio.sleep(delay)
            await self._body(events[position].data)
        await self._end()
        return "complete"

    async def _stall(self, flavor: Flavor, fault: Fault) -> None:
        remaining = math.inf if fault.stall_for is None else fault.stall_for
        if fault.keepalive_every is None:
            await trio.sleep(remaining)
            return
        while remaining > 0:
            nap = min(fault.keepalive_every, remaining)
            await trio.sleep(nap)
            remaining -= nap
            if remaining > 0 or fault.stall_for is None:
                await self._body(_keepalive(flavor), count=False)

    async def _drop(self, fault: Fault) -> Outcome:
        self._record("dropped")
        if self.app._abort_connection(self.record.client, fault.reset):
            # The runner cancels this connection's tasks (this one included).
            await trio.sleep_forever()
        # Without the runner: return without ending the body; an HTTP/1.1
        # server then closes the connection under the unfinished response.
        return "dropped"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", [])]


def _route_flavor(path: str, headers: list[tuple[str, str]]) -> Flavor:
    if path == "/v1/messages":
        return "anthropic"
    if path.endswith("chat/completions"):
        return "openai"
    names = {k for k, _ in headers}
    google_path = path.startswith("/v1beta/") or "/publishers/google/" in path
    if gemini.ROUTE.search(path) or google_path or "x-goog-api-key" in names:
        return "gemini"
    return "anthropic" if "anthropic-version" in names or "x-api-key" in names else "openai"


_SECRET_QUERY = frozenset(("key", "api_key", "api-key", "apikey", "access_token", "token"))


def _redact_query(query: str) -> str:
    """The query string with credential-looking parameter values redacted."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        secret = eq and urllib.parse.unquote_plus(name).lower() in _SECRET_QUERY
        parts.append(f"{name}={REDACTED}" if secret else part)
    return "&".join(parts)


def _credential(headers: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    values = dict(reversed(headers))
    if "x-api-key" in values:
        return "x-api-key", values["x-api-key"]
    auth = values.get("authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return "bearer", auth[7:].strip()
    if "api-key" in values:
        return "api-key", values["api-key"]
    if "x-goog-api-key" in values:
        return "x-goog-api-key", values["x-goog-api-key"]
    return None, None


# The renderers by flavor: ``wire.py`` renders Anthropic and OpenAI, ``gemini.py``
# Gemini (which builds on ``wire.py``, so the choice is made here).


def _events_for(flavor: Flavor, reply: Reply, ctx: wire.RenderContext) -> list[WireEvent]:
    return gemini.events(reply, ctx) if flavor == "gemini" else wire.events_for(flavor, reply, ctx)


def _body_for(flavor: Flavor, reply: Reply, ctx: wire.RenderContext) -> dict[str, Any]:
    if flavor == "gemini":
        return gemini.response_body(reply, ctx)
    return wire.body_for(flavor, reply, ctx)


def _error_body(
    flavor: Flavor, status: int, message: str | None = None, *, param: str | None = None
) -> dict[str, Any]:
    if flavor == "gemini":
        return gemini.error_body(status, message)
    return wire.error_body(flavor, status, message, param=param)


def _error_event(flavor: Flavor, fault: Fault) -> bytes:
    return gemini.error_event(fault) if flavor == "gemini" else wire.error_event(flavor, fault)


def _keepalive(flavor: Flavor) -> bytes:
    return gemini.keepalive() if flavor == "gemini" else wire.keepalive(flavor)


def _oversized_event(flavor: Flavor, size: int, ctx: wire.RenderContext) -> bytes:
    if flavor == "gemini":
        return gemini.oversized_event(size, ctx)
    return wire.oversized_event(flavor, size, ctx)


def _models_body(flavor: Flavor, models: tuple[str, ...], path: str) -> dict[str, Any]:
    if flavor == "gemini":
        return gemini.models_body(models, vertex="/publishers/google/" in path)
    return wire.models_body(flavor, models)
