"""TokenPool with an injected clock and login (zai-protocol.md §10)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from tests.unit.fixture_data import load_json
from zproxy.errors import UpstreamAuthError, UpstreamCaptchaError, UpstreamRateLimitError
from zproxy.providers.zai.tokens import (
    FAILURE_THRESHOLD,
    MIN_TTL_S,
    RECOVERY_S,
    Credential,
    TokenPool,
)

USER_JWT = load_json("user_auth_response.json")["token"]
USER_ID = load_json("user_auth_response.json")["id"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FixedJitter:
    """A stand-in Random whose uniform() returns a chosen value and records its bounds."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return self.value


class Logins:
    def __init__(self) -> None:
        self.count = itertools.count(1)
        self.made: list[Credential] = []

    async def __call__(self) -> Credential:
        n = next(self.count)
        credential = Credential(f"guest-token-{n}", f"guest-id-{n}", "guest")
        self.made.append(credential)
        return credential


def _pool(users: list[str] = (), *, guests: bool = True, size: int = 2, ttl: float = 480.0,
          jitter: float = 0.0, clock: Clock | None = None, logins: Logins | None = None
          ) -> tuple[TokenPool, Clock, Logins]:
    clock = clock or Clock()
    logins = logins or Logins()
    pool = TokenPool(list(users), guest_enabled=guests, guest_pool_size=size, guest_ttl_s=ttl,
                     login=logins, clock=clock, rng=FixedJitter(jitter))  # type: ignore[arg-type]
    return pool, clock, logins


ERR: Any = UpstreamAuthError("upstream: expired")


# --- user tokens ---------------------------------------------------------------------------


def test_user_token_user_id_from_jwt() -> None:
    pool, _, _ = _pool([USER_JWT, "not-a-jwt"])
    assert [u.user_id for u in pool.users] == [USER_ID, "guest"]
    assert all(u.kind == "user" for u in pool.users)


async def test_user_tokens_preferred_over_guests() -> None:
    pool, _, logins = _pool(["u1"])
    credential = await pool.acquire()
    assert credential.token == "u1" and credential.kind == "user"
    assert logins.made == []


async def test_least_busy_user_token_first() -> None:
    pool, clock, _ = _pool(["u1", "u2"])
    first = await pool.acquire()
    clock.now += 1
    second = await pool.acquire()
    assert {first.token, second.token} == {"u1", "u2"}
    pool.release(second)
    clock.now += 1
    assert (await pool.acquire()) is second  # idle beats busy


async def test_equally_busy_picks_least_recently_used() -> None:
    pool, clock, _ = _pool(["u1", "u2"])
    a = await pool.acquire()
    clock.now += 1
    b = await pool.acquire()
    pool.release(a)
    pool.release(b)
    clock.now += 1
    assert (await pool.acquire()) is a


async def test_exclude_skips_tried_tokens() -> None:
    pool, _, _ = _pool(["u1", "u2"], guests=False)
    first = await pool.acquire()
    second = await pool.acquire(exclude=[first])
    assert second is not first
    with pytest.raises(UpstreamAuthError):
        await pool.acquire(exclude=[first, second])


async def test_release_counts_down_and_floors_at_zero() -> None:
    pool, _, _ = _pool(["u1"])
    credential = await pool.acquire()
    await pool.acquire()
    assert credential.active == 2
    pool.release(credential)
    pool.release(credential)
    pool.release(credential)
    assert credential.active == 0


async def test_three_failures_disable_for_1800_seconds() -> None:
    assert (FAILURE_THRESHOLD, RECOVERY_S) == (3, 1800.0)
    pool, clock, _ = _pool(["u1"], guests=False)
    credential = await pool.acquire()
    for _ in range(2):
        pool.report_failure(credential, ERR)
    assert credential.usable(clock.now)
    pool.report_failure(credential, UpstreamRateLimitError("busy"))
    assert not credential.usable(clock.now)
    with pytest.raises(UpstreamAuthError):
        await pool.acquire()
    clock.now += 1799.9
    with pytest.raises(UpstreamAuthError):
        await pool.acquire()
    clock.now += 0.1
    assert (await pool.acquire()) is credential


async def test_disabled_user_token_falls_back_to_guest() -> None:
    pool, _, logins = _pool(["u1"])
    credential = await pool.acquire()
    for _ in range(3):
        pool.report_failure(credential, ERR)
    fallback = await pool.acquire()
    assert fallback.kind == "guest" and fallback is logins.made[0]


async def test_success_resets_failure_count() -> None:
    pool, clock, _ = _pool(["u1"], guests=False)
    credential = await pool.acquire()
    pool.report_failure(credential, ERR)
    pool.report_failure(credential, ERR)
    pool.report_success(credential)
    pool.report_failure(credential, ERR)
    pool.report_failure(credential, ERR)
    assert credential.usable(clock.now)
    pool.report_failure(credential, ERR)
    assert not credential.usable(clock.now)


async def test_no_usable_token_and_guests_off_is_auth_error() -> None:
    pool, _, logins = _pool([], guests=False)
    with pytest.raises(UpstreamAuthError):
        await pool.acquire()
    assert logins.made == []


# --- guests --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ttl", "jitter", "lifetime"), [
    (480.0, 0.0, 480.0), (480.0, -60.0, 420.0), (480.0, 60.0, 540.0),
    (200.0, -60.0, MIN_TTL_S), (100.0, 60.0, MIN_TTL_S)])
async def test_guest_ttl_with_jitter_and_minimum(ttl: float, jitter: float,
                                                lifetime: float) -> None:
    pool, clock, _ = _pool(ttl=ttl, jitter=jitter)
    guest = await pool.acquire()
    assert guest.kind == "guest"
    assert guest.created_at == clock.now
    assert guest.expires_at == clock.now + lifetime
    assert pool._rng.calls == [(-60.0, 60.0)]  # type: ignore[attr-defined]


async def test_idle_guest_is_reused() -> None:
    pool, _, logins = _pool(size=2)
    guest = await pool.acquire()
    pool.release(guest)
    assert (await pool.acquire()) is guest
    assert len(logins.made) == 1


async def test_busy_guest_gets_a_sibling_until_pool_is_full() -> None:
    pool, _, logins = _pool(size=2)
    a = await pool.acquire()
    b = await pool.acquire()
    assert a is not b and len(logins.made) == 2
    c = await pool.acquire()  # pool full: share the least busy one
    assert c in (a, b) and len(logins.made) == 2


class SlowLogins(Logins):
    """A login that really awaits (as the HTTP one does), so acquires can interleave."""

    async def __call__(self) -> Credential:
        await asyncio.sleep(0.001)
        return await super().__call__()


async def test_concurrent_acquires_respect_pool_size() -> None:
    # sequentially the third acquire shares a busy guest; a burst must not log in more
    # guests than the pool holds just because the logins overlap
    pool, _, logins = _pool(size=2, logins=SlowLogins())
    got = await asyncio.gather(*[pool.acquire() for _ in range(5)])
    assert len(logins.made) == 2
    assert len(pool.guests) == 2
    assert sum(c.active for c in pool.guests) == len(got) == 5


async def test_expired_guest_is_not_used() -> None:
    pool, clock, logins = _pool(size=1, jitter=0.0)
    guest = await pool.acquire()
    pool.release(guest)
    clock.now += 480.0
    fresh = await pool.acquire()
    assert fresh is not guest and len(logins.made) == 2


async def test_failed_guest_is_dropped_and_replaced() -> None:
    pool, _, logins = _pool(size=1)
    guest = await pool.acquire()
    pool.report_failure(guest, ERR)
    assert guest.dropped and guest not in pool.guests
    replacement = await pool.acquire(exclude=[guest])
    assert replacement is not guest and replacement is logins.made[1]


async def test_maintain_tops_up_and_drops_expired_idle_guests() -> None:
    pool, clock, logins = _pool(size=3, jitter=0.0)
    await pool.maintain()
    assert len(pool.guests) == 3 and len(logins.made) == 3
    busy = await pool.acquire()
    clock.now += 500.0  # every session has expired
    await pool.maintain()
    assert busy in pool.guests  # still in use: kept until released
    valid = [g for g in pool.guests if g.usable(clock.now)]
    assert len(valid) == 3
    assert len(pool.guests) == 4 and len(logins.made) == 6


async def test_maintain_refills_after_failure() -> None:
    pool, _, logins = _pool(size=2)
    await pool.maintain()
    pool.report_failure(pool.guests[0], UpstreamCaptchaError("captcha"))  # this guest only
    assert len(pool.guests) == 1
    await pool.maintain()
    assert len(pool.guests) == 2 and len(logins.made) == 3


async def test_a_rejected_guest_takes_its_idle_siblings_along() -> None:
    """Guests are revoked together: the next attempt must log in, not try a stale sibling."""
    pool, _, logins = _pool(size=3)
    await pool.maintain()
    first, busy = await pool.acquire(), await pool.acquire()
    pool.report_failure(first, ERR)
    assert pool.guests == [busy]  # the idle third one went too; the busy one is serving
    fresh = await pool.acquire(exclude=[first])
    assert fresh is logins.made[3] and fresh.usable(0.0)


async def test_a_busy_or_rate_limited_guest_leaves_its_siblings_alone() -> None:
    pool, _, _ = _pool(size=2)
    await pool.maintain()
    limited = await pool.acquire()
    pool.report_failure(limited, UpstreamRateLimitError("busy"))
    assert len(pool.guests) == 1 and limited not in pool.guests


async def test_maintain_does_nothing_with_guests_off() -> None:
    pool, _, logins = _pool(["u1"], guests=False)
    await pool.maintain()
    assert pool.guests == [] and logins.made == []


async def test_guest_failure_does_not_touch_user_tokens() -> None:
    pool, _, _ = _pool(["u1"])
    user = pool.users[0]
    guest = await pool.acquire(exclude=[user])
    pool.report_failure(guest, ERR)
    assert user.failures == 0


async def test_guests_in_use_only_after_a_guest_served() -> None:
    pool = _pool(["a"], size=2)[0]
    assert not pool.guests_in_use
    pool.release(await pool.acquire())  # the user token serves
    assert not pool.guests_in_use
    pool.release(await pool.acquire(pool.users))  # excluded: a guest serves
    assert pool.guests_in_use


async def test_snapshot() -> None:
    pool, _, _ = _pool(["u1", "u2"], size=2)
    user = await pool.acquire()
    for _ in range(3):
        pool.report_failure(user, ERR)
    await pool.maintain()
    assert pool.snapshot() == {"user_tokens": 2, "user_tokens_usable": 1,
                               "guest_sessions": 2, "active_requests": 1}


async def test_expired_guests_leave_the_pool() -> None:
    """Without pruning, every TTL window added one dead Credential for good."""
    from zproxy.providers.zai.tokens import Credential, TokenPool

    now = [0.0]
    counter = iter(range(10_000))

    async def login() -> Credential:
        n = next(counter)
        return Credential(f"guest-{n}", f"id-{n}", "guest")

    pool = TokenPool([], guest_enabled=True, guest_pool_size=2, guest_ttl_s=480,
                     login=login, clock=lambda: now[0])
    for _ in range(200):
        credential = await pool.acquire()
        pool.release(credential)
        now[0] += 600  # every guest has expired by the next request
    assert len(pool.guests) <= 2
