"""Per-key limits on a real Redis: one budget across processes, a local fallback on outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.servers import RedisServer
from zproxy.clientkeys.limits import DAY_S, MemoryLimiter
from zproxy.clientkeys.shared import RedisLimiter, open_limiter
from zproxy.state.bus import LocalState, RedisState


async def until(condition: object, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


@pytest.fixture
async def limiters(redis_url: str) -> AsyncIterator[tuple[RedisLimiter, RedisLimiter]]:
    """Two limiters as two instances would hold them: each its own state and connection."""
    states = [RedisState(name, redis_url) for name in ("A", "B")]
    async with states[0].running(), states[1].running():
        await until(lambda: all(s.up for s in states))
        pair = (RedisLimiter(states[0]), RedisLimiter(states[1]))
        yield pair
        for limiter in pair:
            await limiter.aclose()


async def test_one_budget_across_instances_even_when_they_race(
        limiters: tuple[RedisLimiter, RedisLimiter]) -> None:
    now = time.time()
    hits = [limiters[n % 2].hit("key-a", 10, None, now) for n in range(30)]
    waits = await asyncio.gather(*hits)
    assert sum(w is None for w in waits) == 10
    refused = [w for w in waits if w is not None]
    assert all(0 < w <= 60 for w in refused)
    assert await limiters[1].hit("key-b", 10, None, now) is None  # per key
    assert all(limiter.health() == {"ok": True, "backend": "redis"} for limiter in limiters)


async def test_tokens_per_day_are_summed_across_instances(
        limiters: tuple[RedisLimiter, RedisLimiter]) -> None:
    now = time.time()
    a, b = limiters
    assert await a.hit("key-t", None, 100, now) is None
    a.add_tokens("key-t", 60, now)
    b.add_tokens("key-t", 50, now)  # neither alone is over; together they are
    await a.aclose()
    await b.aclose()
    for limiter in limiters:
        wait = await limiter.hit("key-t", None, 100, now)
        assert wait == pytest.approx((int(now // DAY_S) + 1) * DAY_S - now)


async def test_redis_down_falls_back_to_local_limits_and_says_so(
        limiters: tuple[RedisLimiter, RedisLimiter], redis_session: RedisServer) -> None:
    a, _ = limiters
    now = time.time()
    assert await a.hit("key-c", 2, None, now) is None
    redis_session.stop()
    started = time.monotonic()
    # the first call after the kill fails fast and decides locally; later ones skip Redis
    results = [await a.hit("key-c", 2, None, now) for _ in range(3)]
    assert time.monotonic() - started < 2
    assert results[:2] == [None, None] and results[2] is not None  # local window of 2
    health = a.health()
    assert not health["ok"] and health["backend"] == "memory (fallback)" and health["error"]
    redis_session.start()
    await until(lambda: a.state.up)
    await asyncio.sleep(1.1)  # past the retry pause
    assert await a.hit("key-c", 2, None, time.time()) is None  # Redis decides again
    assert a.health()["ok"]


def test_without_redis_the_limiter_is_this_processes() -> None:
    assert isinstance(open_limiter(LocalState("solo")), MemoryLimiter)
