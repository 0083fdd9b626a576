"""Two zproxy instances on one real Redis: token health and per-key limits are the cluster's.

Issue 13's Done-when: a token that fails on instance A is skipped by instance B at once; a key
limited to 10 requests a minute gets exactly 10 across both instances; with Redis killed
mid-run requests keep succeeding, `/health/ready` says so, and what an instance learnt
meanwhile reaches the other once Redis is back.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import openai
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import USER, async_client
from tests.e2e.test_admin import ADMIN, PASSWORD, call
from tests.fakes.zai import COMPLETION_PATHS, FakeZai
from tests.servers import RedisServer
from tests.shared.test_cluster import ready, wait_ready
from zproxy.keys import CLIENT_KEYS, TOKEN_SERVICE, USER_POOL
from zproxy.pool.model import fingerprint

GOOD, BAD = "tok-good-0123456789abcdef", "tok-bad-0123456789abcdef"
NAMES = {GOOD: "good", BAD: "bad"}


@pytest.fixture
async def pair(make_proxy: MakeProxy, fake: FakeZai, redis_url: str) -> tuple[Proxy, Proxy]:
    """Two tokens; one failure rests a token (threshold 1), for as long as the test runs."""
    fake.user_tokens.update({GOOD: "good-id", BAD: "bad-id"})
    shared: dict[str, Any] = {"redis_url": redis_url, "upstream_tokens": (GOOD, BAD),
                              "guest_enabled": False, "token_failure_threshold": 1,
                              "token_recovery_s": 1800.0}
    a = await make_proxy(instance_name="A", **shared)
    b = await make_proxy(instance_name="B", **shared)
    await wait_ready(a)
    await wait_ready(b)
    return a, b


def state(proxy: Proxy, token: str) -> str:
    return next(row["state"] for row in proxy.app[TOKEN_SERVICE].listing()
                if row["fingerprint"] == fingerprint(token))


def attempts(fake: FakeZai, since: int) -> Counter[str]:
    """Completion attempts per token from `since`, refused ones included."""
    return Counter(NAMES[r.headers["Authorization"][7:]] for r in fake.requests[since:]
                   if r.path in COMPLETION_PATHS)


async def ask(proxy: Proxy, n: int, key: str = "sk-test") -> None:
    client = async_client(proxy.base_url, key=key)
    for _ in range(n):
        reply = await client.chat.completions.create(model="GLM-4.5", messages=USER)
        assert reply.choices[0].message.content
    await client.close()


async def fail_bad_token_on(proxy: Proxy, fake: FakeZai) -> None:
    """Requests to `proxy` until one lands on the bad token (a 429, retried on the good one)."""
    fake.throttle(BAD, 100)
    for _ in range(4):
        await ask(proxy, 1)
        if state(proxy, BAD) == "cooling":
            return
    raise AssertionError("the bad token was never tried")


async def test_a_token_failing_on_one_instance_is_skipped_by_the_other_at_once(
        pair: tuple[Proxy, Proxy], fake: FakeZai) -> None:
    a, b = pair
    await fail_bad_token_on(a, fake)
    # pub/sub carries A's rest to B within milliseconds; the bound only absorbs a loaded
    # machine (A answers its client without waiting for B to have heard)
    await until(lambda: state(b, BAD) == "cooling", timeout_s=2)
    since = len(fake.requests)
    await ask(b, 8)
    assert attempts(fake, since) == {"good": 8}  # B never tried the resting token
    # the operator looks at the token on B (an edit clears the rest): A takes it back
    token_id = next(r["id"] for r in b.app[TOKEN_SERVICE].listing()
                    if r["fingerprint"] == fingerprint(BAD))
    fake.throttled.pop(BAD)
    await b.app[TOKEN_SERVICE].update(token_id, {"label": "checked"})
    await until(lambda: state(a, BAD) == "healthy")
    since = len(fake.requests)
    await ask(a, 6)
    assert attempts(fake, since)["bad"] >= 2


async def test_a_key_limited_to_10_a_minute_gets_exactly_10_across_both(
        postgres_url: str, make_proxy: MakeProxy, fake: FakeZai, redis_url: str) -> None:
    # postgres_url first: its database is dropped after both proxies have stopped
    shared: dict[str, Any] = {"redis_url": redis_url, "database_url": postgres_url,
                              "admin_password": PASSWORD}
    a = await make_proxy(instance_name="A", **shared)
    created = await call(a, "POST", "/admin/api/keys", headers=ADMIN, status=201,
                         json={"name": "team-bot", "rpm_limit": 10})
    b = await make_proxy(instance_name="B", **shared)  # one store: B loads the key
    await wait_ready(a)
    await wait_ready(b)
    clients = [async_client(p.base_url, key=created["key"]) for p in (a, b)]

    async def one(n: int) -> str:
        try:
            await clients[n % 2].chat.completions.create(model="GLM-4.5", messages=USER)
        except openai.RateLimitError as exc:
            assert exc.response.headers["Retry-After"].isdigit()
            assert exc.response.json()["error"]["code"] == "rate_limit_exceeded"
            return "limited"
        return "ok"

    try:
        outcomes = Counter(await asyncio.gather(*(one(n) for n in range(16))))
    finally:
        for client in clients:
            await client.close()
    assert outcomes == {"ok": 10, "limited": 6}  # all at once, half on each instance
    assert len(fake.completions) == 10
    for client in clients:
        await client.close()


async def test_redis_killed_mid_run_requests_succeed_and_state_syncs_on_return(
        pair: tuple[Proxy, Proxy], fake: FakeZai, redis_session: RedisServer) -> None:
    a, b = pair
    await ask(a, 2)
    await ask(b, 2)
    redis_session.stop()
    await wait_ready(a, redis_ok=False)
    await wait_ready(b, redis_ok=False)
    report = await ready(b)
    assert report["status"] == "degraded" and "redis" in report["degraded"]
    assert report["checks"]["redis"]["note"] == "serving from local state until Redis returns"
    # while Redis is away the bad token fails on A: A rests it, B cannot know yet
    await fail_bad_token_on(a, fake)
    fake.throttled.pop(BAD)
    since = len(fake.requests)
    await ask(b, 4)  # every request still succeeds, the bad token serving B as well
    assert state(b, BAD) == "healthy" and attempts(fake, since)["bad"] >= 1
    redis_session.start()  # back, and empty
    await wait_ready(a)
    await wait_ready(b)
    await until(lambda: state(b, BAD) == "cooling")  # A re-offered it, B loaded it
    since = len(fake.requests)
    await ask(b, 4)
    assert attempts(fake, since) == {"good": 4}
    assert (await ready(a))["status"] == "ready"


async def until(condition: Any, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_admin_changes_on_one_instance_reach_the_other_on_the_same_store(
        postgres_url: str, make_proxy: MakeProxy, fake: FakeZai, redis_url: str) -> None:
    fake.user_tokens.update({GOOD: "good-id", BAD: "bad-id"})
    shared: dict[str, Any] = {"redis_url": redis_url, "database_url": postgres_url,
                              "admin_password": PASSWORD, "guest_enabled": False}
    a = await make_proxy(instance_name="A", **shared)
    b = await make_proxy(instance_name="B", **shared)
    await wait_ready(a)
    await wait_ready(b)
    # a token added on A serves B's requests
    added = await call(a, "POST", "/admin/api/tokens", headers=ADMIN, status=201,
                       json={"token": GOOD, "label": "good"})
    await until(lambda: [e.label for e in b.app[USER_POOL].entries()] == ["good"], 3)
    # a client key created on A authenticates on B at once
    created = await call(a, "POST", "/admin/api/keys", headers=ADMIN, status=201,
                         json={"name": "from-a"})
    await until(lambda: len(b.app[CLIENT_KEYS]) == 1, timeout_s=3)
    await ask(b, 1, key=created["key"])
    since = len(fake.requests)
    await ask(b, 2, key=created["key"])
    assert attempts(fake, since) == {"good": 2}
    # edited on A, B schedules it by the new weight
    await call(a, "PATCH", f"/admin/api/tokens/{added['ids'][0]}", headers=ADMIN,
               json={"weight": 5})
    await until(lambda: [e.weight for e in b.app[USER_POOL].entries()] == [5], timeout_s=3)
    # removed on A, the token leaves B's pool
    await call(a, "DELETE", f"/admin/api/tokens/{added['ids'][0]}", headers=ADMIN,
               status=200)  # was a 500 on PostgreSQL: the "removed" event broke a foreign key
    await until(lambda: b.app[USER_POOL].entries() == [], timeout_s=3)
    # a key disabled on A is one B no longer accepts; deleted, B forgets it
    await call(a, "PATCH", f"/admin/api/keys/{created['id']}", headers=ADMIN,
               json={"enabled": False})
    await until(lambda: b.app[CLIENT_KEYS].lookup(created["key"]) is None, timeout_s=3)
    await call(a, "DELETE", f"/admin/api/keys/{created['id']}", headers=ADMIN)
    await until(lambda: len(b.app[CLIENT_KEYS]) == 0, timeout_s=3)
