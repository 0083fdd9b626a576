"""Runtime state shared through Redis: replicated local copies, written through, resynced.

Every shared store keeps a local copy and answers from it, so a request never waits on a
Redis read, and Redis being down degrades to local state instead of failing the request. A
change is written to a Redis key (with its expiry) and published on one channel; every other
process applies it to its own copy as it arrives. `flush()` lets a handler wait (briefly)
until its changes are in Redis before it answers, so the client's next request, whichever
instance it reaches, finds them.

While Redis is unreachable changes queue up (latest per key). On reconnect, in order: the
queue is written, each process re-offers its live local entries (`SET NX`, so an empty Redis
that restarted is refilled without overwriting newer values), and the Redis snapshot is loaded
into every copy. `health()` feeds `/health/ready`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

PREFIX: Final = "zproxy:"
CHANNEL: Final = PREFIX + "changes"
FLUSH_TIMEOUT_S: Final = 1.0
COMMAND_TIMEOUT_S: Final = 2.0
RECONNECT_S: Final = (0.25, 0.5, 1.0, 2.0)
MAX_PENDING: Final = 50_000  # changes queued while Redis is down; oldest dropped beyond


class Replica(Protocol):
    """A store whose local copy the bus keeps in step with Redis."""

    namespace: str

    def apply(self, key: str, value: Any, expires_at: float) -> None:
        """A change from another process (value None: deleted). Never publishes."""
        ...

    def live_entries(self) -> Iterable[tuple[str, Any, float]]:
        """(key, value, wall-clock expiry) of every live local entry, for a refill."""
        ...


@dataclass(frozen=True, slots=True)
class _Change:
    value: Any  # None: delete
    expires_at: float


class LocalState:
    """No Redis: each process keeps its own state (the embedded default)."""

    def __init__(self, instance: str) -> None:
        self.instance = instance

    shared = False

    def register(self, replica: Replica) -> None:
        pass

    def put(self, namespace: str, key: str, value: Any, expires_at: float) -> None:
        pass

    def delete(self, namespace: str, key: str) -> None:
        pass

    async def flush(self) -> None:
        pass

    def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "memory"}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield


class RedisState(LocalState):
    shared = True

    def __init__(self, instance: str, url: str) -> None:
        super().__init__(instance)
        self.url = url
        self._origin = uuid.uuid4().hex  # tells our own published changes apart
        self.client = aioredis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=COMMAND_TIMEOUT_S,
            health_check_interval=2)
        self.up = False
        self.error: str | None = "not connected yet"
        self.down_since: float | None = time.time()
        self._replicas: dict[str, Replica] = {}
        self._pending: dict[tuple[str, str], _Change] = {}
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()

    # --- the interface stores use ------------------------------------------------------

    def register(self, replica: Replica) -> None:
        self._replicas[replica.namespace] = replica

    def put(self, namespace: str, key: str, value: Any, expires_at: float) -> None:
        self._queue((namespace, key), _Change(value, expires_at))

    def delete(self, namespace: str, key: str) -> None:
        self._queue((namespace, key), _Change(None, 0.0))

    async def flush(self) -> None:
        """Wait until queued changes are in Redis; at once when Redis is down."""
        if self.up and self._pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_TIMEOUT_S):
                    await self._drained.wait()

    def health(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ok": self.up, "backend": "redis", "url": _redact(self.url),
                                 "pending_changes": len(self._pending)}
        if not self.up:
            found.update(error=self.error, down_since=self.down_since,
                         note="serving from local state until Redis returns")
        return found

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self._connection()), asyncio.create_task(self._writer())]
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await self.flush()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.client.aclose()

    # --- internals ---------------------------------------------------------------------

    def _queue(self, where: tuple[str, str], change: _Change) -> None:
        self._pending.pop(where, None)
        self._pending[where] = change
        if len(self._pending) > MAX_PENDING:
            del self._pending[next(iter(self._pending))]
        self._drained.clear()
        self._wake.set()

    async def _connection(self) -> None:
        """Subscribe, resync, apply changes; on any failure mark down and try again."""
        attempt = 0
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                await self._resync()
                self._mark_up()
                attempt = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._receive(message["data"])
            except (RedisError, OSError, TimeoutError) as exc:
                self._mark_down(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)])
            attempt += 1

    async def _resync(self) -> None:
        batch = self._take()
        try:
            await self._write(batch)
        except BaseException:
            for where, change in batch.items():
                self._pending.setdefault(where, change)
            raise
        now = time.time()
        async with self.client.pipeline(transaction=False) as pipe:
            for namespace, replica in self._replicas.items():
                for key, value, expires_at in replica.live_entries():
                    if expires_at > now:
                        pipe.set(_key(namespace, key), _encode(value, expires_at), nx=True,
                                 px=_ttl_ms(expires_at, now))
            await pipe.execute()
        for namespace, replica in self._replicas.items():
            async for key, value, expires_at in self._scan(namespace):
                replica.apply(key, value, expires_at)

    async def _scan(self, namespace: str) -> AsyncIterator[tuple[str, Any, float]]:
        prefix = _key(namespace, "")
        keys = [k async for k in self.client.scan_iter(match=prefix + "*", count=500)]
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for key, raw in zip(chunk, await self.client.mget(chunk), strict=True):
                if raw is not None:
                    found = orjson.loads(raw)
                    yield key.decode()[len(prefix):], found["v"], float(found["e"])

    def _receive(self, data: bytes) -> None:
        message = orjson.loads(data)
        if message["o"] == self._origin:
            return
        replica = self._replicas.get(message["n"])
        if replica is not None:
            replica.apply(message["k"], message["v"], float(message["e"]))

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.up:
                continue  # _connection writes the queue when Redis is back
            batch = self._take()
            try:
                await self._write(batch)
            except (RedisError, OSError, TimeoutError) as exc:
                for where, change in batch.items():
                    self._pending.setdefault(where, change)
                self._mark_down(exc)
            if not self._pending:
                self._drained.set()

    def _take(self) -> dict[tuple[str, str], _Change]:
        batch, self._pending = self._pending, {}
        return batch

    async def _write(self, batch: dict[tuple[str, str], _Change]) -> None:
        if not batch:
            return
        now = time.time()
        async with self.client.pipeline(transaction=False) as pipe:
            for (namespace, key), change in batch.items():
                if change.value is None:
                    pipe.delete(_key(namespace, key))
                elif change.expires_at > now:
                    pipe.set(_key(namespace, key), _encode(change.value, change.expires_at),
                             px=_ttl_ms(change.expires_at, now))
                pipe.publish(CHANNEL, orjson.dumps({
                    "o": self._origin, "n": namespace, "k": key, "v": change.value,
                    "e": change.expires_at}))
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                await pipe.execute()

    def _mark_up(self) -> None:
        if not self.up:
            log.info("state.redis_up", url=_redact(self.url), resynced=True)
        self.up, self.error, self.down_since = True, None, None
        self._wake.set()

    def _mark_down(self, exc: BaseException) -> None:
        if self.up:
            log.warning("state.redis_down", url=_redact(self.url), error=str(exc),
                        fallback="local state")
            self.down_since = time.time()
        self.up, self.error = False, str(exc) or type(exc).__name__
        self._drained.set()  # nobody waits on a Redis that is gone


def _key(namespace: str, key: str) -> str:
    return f"{PREFIX}{namespace}:{key}"


def _encode(value: Any, expires_at: float) -> bytes:
    return orjson.dumps({"v": value, "e": expires_at})


def _ttl_ms(expires_at: float, now: float) -> int:
    return max(1, math.ceil((expires_at - now) * 1000))


def _redact(url: str) -> str:
    """The URL without a password, for logs and /health/ready."""
    head, sep, tail = url.partition("://")
    if "@" in tail:
        tail = "***@" + tail.split("@", 1)[1]
    return head + sep + tail


# --- instance snapshots (the cluster dashboard) ------------------------------------------------

INSTANCES: Final = PREFIX + "instance:"


async def publish_instance(state: RedisState, payload: dict[str, Any], ttl_s: float) -> None:
    """This instance's figures, kept while it lives (an instance that dies drops off)."""
    async with asyncio.timeout(COMMAND_TIMEOUT_S):
        await state.client.set(INSTANCES + state.instance, orjson.dumps(payload),
                               px=int(ttl_s * 1000))


async def read_instances(state: RedisState) -> list[dict[str, Any]]:
    async with asyncio.timeout(COMMAND_TIMEOUT_S):
        keys = [k async for k in state.client.scan_iter(match=INSTANCES + "*", count=500)]
        raws = await state.client.mget(keys) if keys else []
    return [orjson.loads(raw) for raw in raws if raw is not None]


async def withdraw_instance(state: RedisState) -> None:
    async with asyncio.timeout(COMMAND_TIMEOUT_S):
        await state.client.delete(INSTANCES + state.instance)
