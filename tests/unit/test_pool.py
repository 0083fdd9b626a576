"""UserPool and its scheduler with an injected clock: priority, weight, health, probes."""

from __future__ import annotations

import asyncio
from collections import Counter

from zproxy.errors import UpstreamAuthError, UpstreamRateLimitError, UpstreamTimeout
from zproxy.pool.health import PROBE_GRACE_S, Policy
from zproxy.pool.model import TokenEntry, fingerprint, mask, parse_tokens, token_hash
from zproxy.pool.pool import UserPool
from zproxy.providers.zai.tokens import Credential

AUTH = UpstreamAuthError("upstream: expired", upstream_status=401)
LIMIT = UpstreamRateLimitError("upstream: busy", upstream_status=429)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def entry(n: int, *, priority: int = 0, weight: int = 1, max_concurrent: int | None = None,
          enabled: bool = True) -> TokenEntry:
    token = f"token-{n}-" + "x" * 20
    return TokenEntry.from_row({"id": n, "token": token, "token_hash": token_hash(token),
                                "source": "admin", "priority": priority, "weight": weight,
                                "max_concurrent": max_concurrent, "enabled": enabled})


def make(*entries: TokenEntry, threshold: int = 3, recovery: float = 60.0
         ) -> tuple[UserPool, Clock]:
    clock = Clock()
    pool = UserPool(clock=clock, policy=Policy(threshold, recovery))
    for e in entries:
        pool.put(e)
    return pool, clock


def served(pool: UserPool, n: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        credential = pool.pick()
        assert credential is not None
        counts[credential.token.split("-")[1]] += 1
        pool.success(credential)
    return counts


def test_shares_follow_weights_exactly() -> None:
    pool, _ = make(entry(1, weight=3), entry(2, weight=1), entry(3, weight=2))
    assert served(pool, 600) == {"1": 300, "2": 100, "3": 200}


def test_highest_priority_group_serves_first() -> None:
    low, high = entry(1, priority=0, weight=10), entry(2, priority=5)
    pool, _ = make(low, high)
    assert served(pool, 5) == {"2": 5}
    assert pool.pick(exclude=[high.credential]) is low.credential  # the next group


def test_equal_pass_goes_to_fewest_active() -> None:
    a, b = entry(1), entry(2)
    pool, _ = make(a, b)
    first = pool.pick()
    assert first is not None
    first.active = 1
    second = pool.pick()
    assert second is not first
    assert second is not None
    second.active = 0  # released; both passes are equal now
    assert pool.pick() is second


def test_max_concurrent_and_exclude_are_respected() -> None:
    a, b = entry(1, max_concurrent=1), entry(2)
    pool, _ = make(a, b)
    a.credential.active = 1
    assert {pool.pick() for _ in range(4)} == {b.credential}
    assert pool.pick(exclude=[b.credential]) is None


def test_new_token_joins_at_the_current_pass() -> None:
    pool, _ = make(entry(1), entry(2))
    served(pool, 100)
    pool.put(entry(3))
    assert served(pool, 30) == {"1": 10, "2": 10, "3": 10}  # no flood for the newcomer


def test_threshold_cools_then_one_probe_decides() -> None:
    a, b = entry(1), entry(2)
    pool, clock = make(a, b, threshold=2, recovery=60)
    for _ in range(2):
        pool.failure(a.credential, LIMIT)
    assert pool.state(a) == "cooling"
    assert served(pool, 4) == {"2": 4}
    clock.now += 59.9
    assert served(pool, 2) == {"2": 2}
    clock.now += 0.2
    probe = pool.pick()
    assert probe is a.credential
    assert pool.pick() is b.credential  # one probe at a time
    pool.failure(a.credential, LIMIT)  # the probe failed: rests again at once
    assert pool.state(a) == "cooling"
    clock.now += 61
    assert pool.pick() is a.credential
    pool.success(a.credential)
    assert pool.state(a) == "healthy"
    assert [e.event for e in pool.events][-3:] == ["cooled", "cooled", "recovered"]


def test_an_abandoned_probe_is_retried_after_the_grace() -> None:
    a, b = entry(1), entry(2)
    pool, clock = make(a, b, threshold=1, recovery=60)
    pool.failure(a.credential, LIMIT)
    clock.now += 61
    assert pool.pick() is a.credential  # the probe… whose client goes away: no report
    clock.now += PROBE_GRACE_S - 1
    assert pool.pick() is b.credential
    clock.now += 2
    assert pool.pick() is a.credential  # a second probe
    pool.success(a.credential)
    assert pool.state(a) == "healthy"


def test_success_resets_consecutive_failures() -> None:
    a = entry(1)
    pool, _ = make(a, threshold=3)
    pool.failure(a.credential, UpstreamTimeout("slow"))
    pool.failure(a.credential, LIMIT)
    pool.success(a.credential)
    pool.failure(a.credential, LIMIT)
    pool.failure(a.credential, LIMIT)
    assert pool.state(a) == "healthy"
    assert a.failures == 4 and a.successes == 1


async def test_401_at_threshold_is_confirmed_invalid() -> None:
    a, b = entry(1), entry(2)
    pool, _ = make(a, b, threshold=2)
    asked: list[str] = []

    async def confirm(found: TokenEntry) -> bool:
        asked.append(found.token)
        return True

    pool.confirm_invalid = confirm
    pool.failure(a.credential, AUTH)
    assert asked == []  # below the threshold: no check yet
    pool.failure(a.credential, AUTH)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert asked == [a.token]
    assert pool.state(a) == "invalid"
    assert a.credential.disabled_until == float("inf")
    assert a.token not in (pool.events[-1].detail or "")


async def test_401_not_confirmed_stays_cooling() -> None:
    a = entry(1)
    pool, _ = make(a, threshold=1)

    async def confirm(found: TokenEntry) -> bool:
        return False

    pool.confirm_invalid = confirm
    pool.failure(a.credential, AUTH)
    await asyncio.sleep(0.01)
    assert pool.state(a) == "cooling"


def test_disabled_and_invalid_never_serve_and_edits_apply_at_once() -> None:
    a, b = entry(1), entry(2)
    pool, _ = make(a, b)
    pool.put(entry(1, enabled=False), event="disabled")
    assert served(pool, 3) == {"2": 3}
    pool.mark_invalid(b, "test")
    assert pool.pick() is None
    pool.put(entry(1, weight=2), event="enabled")
    assert pool.pick() is not None


def test_edit_keeps_the_credential_of_requests_in_flight() -> None:
    a = entry(1)
    pool, _ = make(a)
    held = pool.pick()
    assert held is a.credential
    held.active = 1
    pool.put(entry(1, weight=5), event="edited")
    pool.success(held)  # still lands on the edited entry
    assert pool.get(1) is not None and pool.get(1).successes == 1  # type: ignore[union-attr]
    assert pool.get(1).credential is held  # type: ignore[union-attr]


def test_preferred_binding_wins_when_usable() -> None:
    a, b = entry(1, weight=100), entry(2)
    pool, _ = make(a, b)
    assert pool.pick(prefer=b.credential.key) is b.credential
    pool.put(entry(2, enabled=False))
    assert pool.pick(prefer=b.credential.key) is a.credential


def test_dirty_rows_are_handed_over_once() -> None:
    a = entry(1)
    pool, _ = make(a, threshold=1)
    credential = pool.pick()
    assert isinstance(credential, Credential)
    pool.failure(credential, LIMIT)
    counters, healths = pool.take_dirty()
    assert counters[0]["requests"] == 1 and counters[0]["failures"] == 1
    assert healths[0]["state"] == "cooling" and healths[0]["cooldown_until"] is not None
    assert pool.take_dirty() == ([], [])
    assert [e.event for e in pool.take_events()] == ["cooled"]


def test_describe_unavailable_names_the_causes() -> None:
    a, b = entry(1), entry(2, enabled=False)
    pool, _ = make(a, b, threshold=1)
    pool.failure(a.credential, LIMIT)
    assert pool.describe_unavailable() == ("none of the 2 Z.AI user tokens can serve "
                                           "(1 cooling, 1 disabled)")


def test_token_helpers() -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.payload.signature-part"
    assert mask(token) == "eyJh…part" and token not in mask(token)
    assert fingerprint(token) == token_hash(token)[:8]
    assert parse_tokens("# fleet\na, b\n\nc # note\nb\n d  e ") == ["a", "b", "c", "d", "e"]
