"""Per-key limits on Redis: one budget for the key, whatever the number of instances.

Requests per minute are a sliding-window log (a sorted set of admission times per key),
checked and counted by one Lua script, so two instances admitting at the same moment cannot
both take the last slot. The script reads the Redis server's clock: instances whose clocks
disagree still share one window. Tokens per UTC day are an `INCRBY` counter per key and day,
written in the background (the count arrives after the answer anyway).

Redis unreachable: the in-process `MemoryLimiter` decides instead (a warning in the log,
`health()` not ok for `/health/ready`): requests keep flowing, each instance then enforcing
the limit on its own. A failed call keeps Redis out of the request path for `RETRY_S`, so a
hung Redis costs one short timeout, not one per request.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any, Final

import structlog
from redis.exceptions import RedisError

from zproxy.clientkeys.limits import DAY_S, Limiter, MemoryLimiter, until_tomorrow
from zproxy.state.bus import PREFIX, LocalState, RedisState

log = structlog.get_logger(__name__)

CALL_TIMEOUT_S: Final = 0.5  # on the request path: a healthy Redis answers in well under 1 ms
RETRY_S: Final = 1.0
DAY_KEPT_S: Final = 2 * 86400

# KEYS: the key's window (sorted set), its tokens today. ARGV: rpm (0: none), tpd (0: none),
# a unique member. Returns 0 (admitted and counted), -1 (today's tokens are spent), or the
# milliseconds until the oldest request in the window leaves it.
_HIT: Final = """
local tpd = tonumber(ARGV[2])
if tpd > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= tpd then
  return -1
end
local rpm = tonumber(ARGV[1])
if rpm > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
  if redis.call('ZCARD', KEYS[1]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return math.max(1, tonumber(oldest[2]) + 60000 - now)
  end
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 60000)
end
return 0
"""


# The `{key}` hash tag puts both keys of a client key in one Redis Cluster slot, as a script
# touching several keys requires.
def _window_key(key: str) -> str:
    return f"{PREFIX}rl:{{{key}}}:rpm"


def _day_key(key: str, now: float) -> str:
    return f"{PREFIX}rl:{{{key}}}:tpd:{int(now // DAY_S)}"


class RedisLimiter:
    def __init__(self, state: RedisState) -> None:
        self.state = state
        self.fallback = MemoryLimiter()
        self._script = state.client.register_script(_HIT)
        self._members = (f"{uuid.uuid4().hex[:12]}:{n}" for n in itertools.count())
        self._retry_at = 0.0
        self.error: str | None = None
        self.down_since: float | None = None
        self._unsent: dict[str, int] = {}  # day key -> tokens not yet added in Redis
        self._sending: asyncio.Task[None] | None = None

    async def hit(self, key: str, rpm: int | None, tpd: int | None,
                  now: float) -> float | None:
        if not self._reachable():
            return self.fallback.check(key, rpm, tpd, now)
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                found = int(await self._script(
                    keys=[_window_key(key), _day_key(key, now)],
                    args=[rpm or 0, tpd or 0, next(self._members)]))
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return self.fallback.check(key, rpm, tpd, now)
        self._recovered()
        if found == 0:
            return None
        return until_tomorrow(now) if found < 0 else found / 1000.0

    def add_tokens(self, key: str, tokens: int, now: float) -> None:
        self.fallback.add_tokens(key, tokens, now)
        day_key = _day_key(key, now)
        self._unsent[day_key] = self._unsent.get(day_key, 0) + tokens
        self._send_soon()

    def health(self) -> dict[str, Any]:
        ok = self.error is None and self.state.up
        found: dict[str, Any] = {"ok": ok, "backend": "redis" if ok else "memory (fallback)"}
        if not ok:
            found.update(error=self.error or self.state.error, down_since=self.down_since
                         or self.state.down_since,
                         note="each instance enforces the per-key limits on its own "
                              "until Redis returns")
        return found

    async def aclose(self) -> None:
        """Let the last token counts reach Redis before the client closes."""
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)

    # --- internals ---------------------------------------------------------------------

    def _reachable(self) -> bool:
        return self.state.up and time.monotonic() >= self._retry_at

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_S
        if self.error is None:
            log.warning("limits.redis_unreachable", error=str(exc) or type(exc).__name__,
                        fallback="per-instance limits")
            self.down_since = time.time()
        self.error = str(exc) or type(exc).__name__

    def _recovered(self) -> None:
        if self.error is not None:
            log.info("limits.redis_back")
            self.error, self.down_since = None, None
            self._send_soon()

    def _send_soon(self) -> None:
        if self._unsent and self._sending is None and self._reachable():
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        batch, self._unsent = self._unsent, {}
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S * 4):
                async with self.state.client.pipeline(transaction=False) as pipe:
                    for day_key, tokens in batch.items():
                        pipe.incrby(day_key, tokens)
                        pipe.expire(day_key, DAY_KEPT_S)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            for day_key, tokens in batch.items():
                self._unsent[day_key] = self._unsent.get(day_key, 0) + tokens
            self._failed(exc)
        finally:
            self._sending = None
        self._send_soon()  # what arrived while this batch was on its way


def open_limiter(state: LocalState) -> Limiter:
    """Shared limits when the runtime state is on Redis, this process's otherwise."""
    return RedisLimiter(state) if isinstance(state, RedisState) else MemoryLimiter()
