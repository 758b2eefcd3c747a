"""Budgets kept before sending: in the process, or shared by many processes through Redis.

A budget is ``ProviderConfig.rate_limits`` applied to one provider identity
(its base URL plus a hash of its API key, never the key) and one model. The
stream task asks for admission before each attempt is sent
(:func:`admit`), which waits, cancellably, until the budget has room; the
:class:`Admission` it gets back is settled when the stream ends: input tokens
estimated at admission are corrected to the reported usage, output tokens are
charged as reported, and an attempt the server refused or never received
gives back what it did not use. A 429's ``retry-after`` and a window the
server reports exhausted pause the budget for everyone sharing it.

The algorithm is a sliding-window log (``model.ratelimits.WindowLog``): a
request (or token) is admitted only if the window that ends now holds room
for it, so no window of ``RateLimits.window`` seconds ever holds more than
the limit, whether the server counts in a sliding window or refills a token
bucket. :class:`RedisBudgets` runs the same algorithm in atomic server-side
Lua scripts, on Redis's own clock, so every process on every machine sees one
log; every key expires a window after its last write, so a worker that dies
holds nothing for longer than the window its requests really occupied.

Why redis-py's synchronous client in ``trio.to_thread``: it is the reference
client (kept by Redis itself, typed, with script caching that reloads after a
server restart), and each call is one short round trip with socket timeouts,
so a thread per call is cheap and can never hang a stream. coredis (built on
anyio, so native under trio) was the alternative; it adds a second, younger
dependency with a faster-moving API for no gain at these call rates.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import urllib.parse
import weakref
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs
import trio

from ..errors import AdmissionTimedOut, BudgetUnavailable, ConfigError
from ..model.config import ProviderConfig
from ..model.ratelimits import RateLimits, RateLimitStatus, WindowLog
from ..model.reply import Usage
from ..model.secrets import scrub

if TYPE_CHECKING:
    import redis

_log = logging.getLogger(__name__)

#: How long a settle / release / pause may take on the way out of a cancelled stream.
_SETTLE_TIMEOUT = 2.0


def budget_key(config: ProviderConfig, model: str) -> str:
    """The provider identity and model a budget is kept under (no secret in it).

    Two registrations with the same base URL and the same API key share a
    budget, whatever their registered names; a different key is a different
    budget. The key is represented by a SHA-256 prefix, never by itself.
    """
    from ..wire.profiles import PROFILES

    base = config.base_url
    if base is None:
        profile = PROFILES.get(config.kind)
        base = (profile.base_url if profile is not None else None) or config.kind
    parts = urllib.parse.urlsplit(base)
    if parts.username is not None or parts.password is not None:  # credentials in the URL
        base = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    key = config.api_key or ""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{base.rstrip('/')}|{digest}|{model}"


def estimate_tokens(body: bytes | str | None) -> int:
    """Input tokens estimated from a request body: one per four bytes (at least one).

    Corrected to the server's count when usage arrives; an overestimate only
    delays admission, never overdraws the budget.
    """
    if not body:
        return 1
    return max(1, math.ceil(len(body) / 4))


class BudgetStore(Protocol):
    """Where budgets are kept. Every method may be called concurrently.

    ``acquire`` admits one request charging ``input_tokens`` under ``lease``
    and returns 0.0, or returns the seconds to wait before asking again
    (nothing is charged then). ``settle`` sets the lease's final input
    tokens (None: keep the estimate) and charges its output tokens;
    ``release`` removes every charge of the lease; ``pause`` stops admission
    for ``seconds`` (the longest pause wins).
    """

    async def acquire(self, key: str, limits: RateLimits, lease: str, input_tokens: int) -> float:
        """Admit or say how long to wait."""
        ...

    async def settle(
        self, key: str, limits: RateLimits, lease: str, input_tokens: int | None, output: int
    ) -> None:
        """Correct the input charge and charge the output."""
        ...

    async def release(self, key: str, limits: RateLimits, lease: str) -> None:
        """Give back everything the lease holds."""
        ...

    async def pause(self, key: str, limits: RateLimits, seconds: float) -> None:
        """Admit nothing for ``seconds``."""
        ...

    async def aclose(self) -> None:
        """Release connections (the budgets themselves stay where they are kept)."""
        ...


@attrs.define
class _Ledger:
    requests: WindowLog | None
    input_tokens: WindowLog | None
    output_tokens: WindowLog | None
    #: The pacing's theoretical arrival time (GCRA), with ``burst``.
    tat: float = -math.inf
    paused_until: float = -math.inf


def _log_for(limit: int | None, window: float, old: WindowLog | None) -> WindowLog | None:
    if limit is None:
        return None
    if old is None:
        return WindowLog(limit, window)
    old.limit, old.window = limit, window  # limits changed: keep what was charged
    return old


def _pacing(limits: RateLimits) -> tuple[float, float] | None:
    """GCRA's emission interval and burst tolerance for ``limits.burst``, or None."""
    if limits.burst is None or limits.requests_per_minute is None:
        return None
    interval = limits.window / limits.requests_per_minute
    return interval, (limits.burst - 1) * interval


class LocalBudgets:
    """Budgets kept in this process (the default of ``open_runtime``).

    Time is trio's clock, so ``trio.testing.MockClock`` drives it in tests.
    Shared by every stream of the runtime; not by other processes.
    """

    def __init__(self) -> None:
        self._ledgers: dict[str, _Ledger] = {}

    def __repr__(self) -> str:
        return f"<LocalBudgets budgets={len(self._ledgers)}>"

    def _ledger(self, key: str, limits: RateLimits) -> _Ledger:
        ledger = self._ledgers.get(key)
        window = limits.window
        if ledger is None:
            ledger = self._ledgers[key] = _Ledger(None, None, None)
        ledger.requests = _log_for(limits.requests_per_minute, window, ledger.requests)
        ledger.input_tokens = _log_for(limits.input_tokens_per_minute, window, ledger.input_tokens)
        ledger.output_tokens = _log_for(
            limits.output_tokens_per_minute, window, ledger.output_tokens
        )
        return ledger

    def acquire_now(self, key: str, limits: RateLimits, lease: str, input_tokens: int) -> float:
        """:meth:`acquire` without a checkpoint."""
        ledger = self._ledger(key, limits)
        now = trio.current_time()
        wait = max(ledger.paused_until - now, 0.0)
        if ledger.requests is not None:
            wait = max(wait, ledger.requests.wait(now, 1))
        pacing = _pacing(limits)
        if pacing is not None:
            wait = max(wait, ledger.tat - pacing[1] - now)
        if ledger.input_tokens is not None:
            wait = max(wait, ledger.input_tokens.wait(now, input_tokens))
        if ledger.output_tokens is not None:
            wait = max(wait, ledger.output_tokens.wait(now, 1))
        if wait > 0:
            return wait
        if ledger.requests is not None:
            ledger.requests.charge(lease, now, 1)
        if pacing is not None:
            ledger.tat = max(ledger.tat, now) + pacing[0]
        if ledger.input_tokens is not None:
            ledger.input_tokens.charge(lease, now, input_tokens)
        return 0.0

    async def acquire(self, key: str, limits: RateLimits, lease: str, input_tokens: int) -> float:
        return self.acquire_now(key, limits, lease, input_tokens)

    async def settle(
        self, key: str, limits: RateLimits, lease: str, input_tokens: int | None, output: int
    ) -> None:
        ledger = self._ledger(key, limits)
        if input_tokens is not None and ledger.input_tokens is not None:
            ledger.input_tokens.set(lease, input_tokens)
        if output > 0 and ledger.output_tokens is not None:
            ledger.output_tokens.charge(lease, trio.current_time(), output)

    async def release(self, key: str, limits: RateLimits, lease: str) -> None:
        ledger = self._ledger(key, limits)
        for log in (ledger.requests, ledger.input_tokens, ledger.output_tokens):
            if log is not None:
                log.remove(lease)

    async def pause(self, key: str, limits: RateLimits, seconds: float) -> None:
        ledger = self._ledger(key, limits)
        ledger.paused_until = max(ledger.paused_until, trio.current_time() + seconds)

    def used(self, key: str) -> dict[str, int]:
        """What budget ``key`` holds now (requests, input and output tokens in the window)."""
        ledger = self._ledgers.get(key)
        now = trio.current_time()
        out: dict[str, int] = {}
        if ledger is not None:
            for name in ("requests", "input_tokens", "output_tokens"):
                log: WindowLog | None = getattr(ledger, name)
                if log is not None:
                    out[name] = log.used(now)
        return out

    async def aclose(self) -> None:
        return None


# ------------------------------------------------------------------ Redis

# Keys of one budget: r (requests: lease -> time), i / ia (input tokens:
# lease -> time, lease -> amount), o / oa (output tokens), p (paused until).
# Times are Redis's own clock in milliseconds, so machines need not agree.
_LUA_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local horizon = now - window
local function prune(z, h)
  if h then
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', horizon)) do
      redis.call('HDEL', h, m)
    end
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', horizon)
end
local function touch()
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], window + 1000) end
end
"""

_LUA_ACQUIRE = (
    _LUA_COMMON
    + """
-- ARGV: window_ms, requests, input_limit, output_limit (0: none), lease, input,
--       burst (0: none), emission interval in ms (fractional)
local lease = ARGV[5]
local amount = tonumber(ARGV[6])
local burst = tonumber(ARGV[7])
local wait = 0
local paused = redis.call('GET', KEYS[6])
if paused and tonumber(paused) > now then wait = tonumber(paused) - now end
local function need(z, h, limit, want)
  if limit <= 0 then return 0 end
  prune(z, h)
  local members = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
  local used = 0
  local entries = {}
  for k = 1, #members, 2 do
    local a = 1
    if h then a = tonumber(redis.call('HGET', h, members[k]) or '0') end
    entries[#entries + 1] = {tonumber(members[k + 1]), a}
    used = used + a
  end
  if used + want <= limit or (used == 0 and want > limit) then return 0 end
  for _, e in ipairs(entries) do
    used = used - e[2]
    if used + want <= limit or (used == 0 and want > limit) then
      return e[1] + window - now
    end
  end
  return window
end
wait = math.max(wait, need(KEYS[1], false, tonumber(ARGV[2]), 1))
local interval = tonumber(ARGV[8])
local tat = tonumber(redis.call('GET', KEYS[7]) or '0')
if burst > 0 then
  -- GCRA pacing: emission interval `interval`, burst tolerance (burst - 1) * interval.
  wait = math.max(wait, tat - (burst - 1) * interval - now)
end
wait = math.max(wait, need(KEYS[2], KEYS[3], tonumber(ARGV[3]), amount))
wait = math.max(wait, need(KEYS[4], KEYS[5], tonumber(ARGV[4]), 1))
if wait > 0 then return wait end
if tonumber(ARGV[2]) > 0 then redis.call('ZADD', KEYS[1], now, lease) end
if burst > 0 then
  redis.call('SET', KEYS[7], math.max(tat, now) + interval, 'PX', window + 1000)
end
if tonumber(ARGV[3]) > 0 then
  redis.call('ZADD', KEYS[2], now, lease)
  redis.call('HSET', KEYS[3], lease, amount)
end
touch()
return 0
"""
)

_LUA_SETTLE = (
    _LUA_COMMON
    + """
-- ARGV: window_ms, lease, input (-1: keep), output, output_limit
local lease = ARGV[2]
local input = tonumber(ARGV[3])
local output = tonumber(ARGV[4])
if input >= 0 and redis.call('ZSCORE', KEYS[2], lease) then
  redis.call('HSET', KEYS[3], lease, input)
end
if output > 0 and tonumber(ARGV[5]) > 0 then
  redis.call('ZADD', KEYS[4], now, lease)
  redis.call('HSET', KEYS[5], lease, output)
end
touch()
return 0
"""
)

_LUA_RELEASE = """
-- ARGV: lease
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
return 0
"""

_LUA_PAUSE = """
-- ARGV: pause_ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[6]) or '0')
if now + ms > current then redis.call('SET', KEYS[6], now + ms, 'PX', ms) end
return 0
"""


class _Unavailable(Exception):
    """Redis did not answer (connection refused, timeout, loading)."""


class RedisBudgets:
    """Budgets kept in a Redis server, shared by every process that uses the same
    ``url`` and ``namespace`` (and the same provider identity and model).

    ``on_unavailable``: when Redis cannot be reached, ``"local"`` (the
    default) keeps admitting from an in-process budget, logging a warning
    once per outage and trying Redis again every ``retry_interval`` seconds;
    ``"refuse"`` ends each stream that needs admission with
    ``BudgetUnavailable`` instead. ``timeout`` bounds each Redis call (connect
    and reply), so a stalled server never hangs a stream. The URL's password,
    if any, is never logged.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "synapsis",
        on_unavailable: Literal["local", "refuse"] = "local",
        timeout: float = 1.0,
        retry_interval: float = 1.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("url", f"must be a redis://, rediss:// or unix:// URL, got {url!r}")
        if not isinstance(namespace, str) or not namespace or any(c.isspace() for c in namespace):
            raise ConfigError("namespace", f"must be a non-empty word, got {namespace!r}")
        if on_unavailable not in ("local", "refuse"):
            raise ConfigError(
                "on_unavailable", f'must be "local" or "refuse", got {on_unavailable!r}'
            )
        for name, value in (("timeout", timeout), ("retry_interval", retry_interval)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(name, f"must be a positive number of seconds, got {value!r}")
        self.url = url
        self.namespace = namespace
        self.on_unavailable = on_unavailable
        self.timeout = float(timeout)
        self.retry_interval = float(retry_interval)
        self.fallback = LocalBudgets()
        self._client: redis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._down_until = -math.inf
        self._outage = False
        #: Leases admitted by the fallback: settled there, not in Redis.
        self._local_leases: set[str] = set()

    def __repr__(self) -> str:
        return f"<RedisBudgets {self._shown_url()} namespace={self.namespace!r}>"

    def _shown_url(self) -> str:
        _, at, tail = self.url.rpartition("@")
        return f"{self.url.split('://', 1)[0]}://[redacted]@{tail}" if at else self.url

    @property
    def _password(self) -> str | None:
        return urllib.parse.urlsplit(self.url).password

    @property
    def available(self) -> bool:
        """False while an outage is being waited out."""
        return not self._outage

    def _connect(self) -> redis.Redis:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            client = redis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                # No retries inside a call: one failure is an outage, handled above it.
                retry=Retry(NoBackoff(), 0),
            )
            self._scripts = {
                "acquire": client.register_script(_LUA_ACQUIRE),
                "settle": client.register_script(_LUA_SETTLE),
                "release": client.register_script(_LUA_RELEASE),
                "pause": client.register_script(_LUA_PAUSE),
            }
            self._client = client
        return self._client

    def _keys(self, key: str) -> list[str]:
        base = f"{self.namespace}:budget:{{{key}}}"  # {...}: one hash slot on a cluster
        return [f"{base}:{part}" for part in ("r", "i", "ia", "o", "oa", "p", "g")]

    async def _run(self, script: str, key: str, args: list[Any]) -> Any:
        if trio.current_time() < self._down_until:
            raise _Unavailable
        import redis

        try:
            self._connect()
            call = self._scripts[script]
            keys = self._keys(key)
            result = await trio.to_thread.run_sync(
                lambda: call(keys=keys, args=args), abandon_on_cancel=True
            )
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._down_until = trio.current_time() + self.retry_interval
            if not self._outage:
                self._outage = True
                action = (
                    "falling back to the in-process budget until it is back"
                    if self.on_unavailable == "local"
                    else "refusing streams that need admission until it is back"
                )
                _log.warning(
                    "budget store %s unreachable (%s): %s",
                    self._shown_url(),
                    scrub(f"{type(exc).__name__}: {exc}", self._password),
                    action,
                )
            raise _Unavailable from exc
        if self._outage:
            self._outage = False
            _log.warning("budget store %s is reachable again", self._shown_url())
        return result

    async def acquire(self, key: str, limits: RateLimits, lease: str, input_tokens: int) -> float:
        args = [
            _ms(limits.window),
            limits.requests_per_minute or 0,
            limits.input_tokens_per_minute or 0,
            limits.output_tokens_per_minute or 0,
            lease,
            input_tokens,
            limits.burst or 0,
            limits.window * 1000 / limits.requests_per_minute if limits.requests_per_minute else 0,
        ]
        try:
            wait_ms = await self._run("acquire", key, args)
        except _Unavailable:
            if self.on_unavailable == "refuse":
                raise BudgetUnavailable(
                    f"budget store {self._shown_url()} is unreachable"
                ) from None
            wait = self.fallback.acquire_now(key, limits, lease, input_tokens)
            if wait == 0.0:
                self._local_leases.add(lease)
            return wait
        return float(wait_ms) / 1000.0

    async def settle(
        self, key: str, limits: RateLimits, lease: str, input_tokens: int | None, output: int
    ) -> None:
        if lease in self._local_leases:
            await self.fallback.settle(key, limits, lease, input_tokens, output)
            return
        args = [
            _ms(limits.window),
            lease,
            -1 if input_tokens is None else input_tokens,
            output,
            limits.output_tokens_per_minute or 0,
        ]
        try:
            await self._run("settle", key, args)
        except _Unavailable:
            # The charge stays as estimated in Redis and expires with the window.
            await self.fallback.settle(key, limits, lease, input_tokens, output)

    async def release(self, key: str, limits: RateLimits, lease: str) -> None:
        if lease in self._local_leases:
            await self.fallback.release(key, limits, lease)
            return
        try:
            await self._run("release", key, [lease])
        except _Unavailable:
            pass  # it expires with the window

    async def pause(self, key: str, limits: RateLimits, seconds: float) -> None:
        await self.fallback.pause(key, limits, seconds)
        try:
            await self._run("pause", key, [max(_ms(seconds), 1)])
        except _Unavailable:
            pass

    def forget(self, lease: str) -> None:
        self._local_leases.discard(lease)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await trio.to_thread.run_sync(client.close)


def _ms(seconds: float) -> int:
    return max(math.ceil(seconds * 1000), 0)


# ------------------------------------------------------------ admission


class Admission:
    """One attempt's hold on a budget, from admission until it is settled."""

    __slots__ = ("input_tokens", "key", "lease", "limits", "settled", "store")

    def __init__(
        self, store: BudgetStore, key: str, limits: RateLimits, lease: str, input_tokens: int
    ) -> None:
        self.store = store
        self.key = key
        self.limits = limits
        self.lease = lease
        self.input_tokens = input_tokens
        self.settled = False

    async def settle(self, usage: Usage | None) -> None:
        """Correct the input estimate to ``usage`` and charge its output (None:
        keep the estimate, charge nothing more). Idempotent; never raises."""
        if self.settled:
            return
        self.settled = True
        reported = None
        output = 0
        if usage is not None and (usage.input_tokens or usage.output_tokens):
            reported = usage.input_tokens + usage.cache_creation_tokens
            output = usage.output_tokens
        await self._quietly(self.store.settle, self.key, self.limits, self.lease, reported, output)

    async def release(self) -> None:
        """Give back everything: the request was never received (or refused)."""
        if self.settled:
            return
        self.settled = True
        await self._quietly(self.store.release, self.key, self.limits, self.lease)

    async def refused(self) -> None:
        """The server refused the attempt: its request counted, its tokens did not."""
        if self.settled:
            return
        self.settled = True
        await self._quietly(self.store.settle, self.key, self.limits, self.lease, 0, 0)

    async def _quietly(self, method: Any, *args: Any) -> None:
        # On the way out of a cancelled stream too: shielded, and bounded.
        with trio.CancelScope(shield=True), trio.move_on_after(_SETTLE_TIMEOUT):
            try:
                await method(*args)
            except Exception:
                _log.exception("budget %s: could not settle lease %s", self.key, self.lease)
        forget = getattr(self.store, "forget", None)
        if forget is not None:
            forget(self.lease)


_gates: weakref.WeakKeyDictionary[Any, dict[str, _Gate]] = weakref.WeakKeyDictionary()


@attrs.define(eq=False)
class _Gate:
    """One waiter per budget per process asks the store; the others queue behind
    it in order (a fair lock). Without it, every stream waiting in a process
    would wake at the same instant to ask for the one slot that came free."""

    lock: trio.Lock = attrs.field(factory=trio.Lock)
    #: The store's last "room in N seconds", as a time on trio's clock.
    room_at: float = 0.0


def _gate(store: BudgetStore, key: str) -> _Gate:
    per_store = _gates.setdefault(store, {})
    gate = per_store.get(key)
    if gate is None:
        gate = per_store[key] = _Gate()
    return gate


async def admit(
    store: BudgetStore,
    key: str,
    limits: RateLimits,
    input_tokens: int,
    timeout: float | None,
) -> Admission:
    """Wait until the budget admits one request of ``input_tokens``; cancellable.

    Waiters of one process are admitted in the order they asked. Raises
    ``AdmissionTimedOut`` (``retry_after``: the budget's own estimate of when
    it has room) as soon as that room lies beyond ``timeout`` seconds from
    the call: waiting longer could only fail later.
    """
    # 128 random bits name this request's lease (uuid4 carries 122; its module
    # costs the import of budgets 7 ms for nothing else).
    lease = os.urandom(16).hex()
    now = trio.current_time()
    deadline = math.inf if timeout is None else now + timeout
    gate = _gate(store, key)
    with trio.move_on_at(deadline):
        async with gate.lock:
            while True:
                wait = await store.acquire(key, limits, lease, input_tokens)
                if wait <= 0:
                    return Admission(store, key, limits, lease, input_tokens)
                now = trio.current_time()
                gate.room_at = now + wait
                if now + wait > deadline:
                    break
                await trio.sleep(wait)
    retry_after = max(gate.room_at - trio.current_time(), 0.0)
    raise AdmissionTimedOut(
        f"rate budget has no room within admission_timeout={timeout}s"
        f" (room expected in {retry_after:.2f}s)",
        retry_after=retry_after,
    )


async def learn(
    store: BudgetStore,
    key: str,
    limits: RateLimits,
    status: int,
    retry_after: float | None,
    reported: RateLimitStatus | None,
) -> None:
    """Pause the shared budget on what the server said: a 429's ``retry-after``
    (1 s when it named none), or a window it reports exhausted until its reset."""
    pause = reported.exhausted() if reported is not None else None
    if status == 429:
        asked = retry_after if retry_after is not None and retry_after > 0 else None
        pause = max(asked or 0.0, pause or 0.0) or 1.0
    if pause is not None and pause > 0:
        with trio.CancelScope(shield=True), trio.move_on_after(_SETTLE_TIMEOUT):
            try:
                await store.pause(key, limits, pause)
            except Exception:
                _log.exception("budget %s: could not pause", key)
