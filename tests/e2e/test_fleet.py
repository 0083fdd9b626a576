"""A fleet of user tokens through the real proxy, the openai SDK and the fake upstream.

Three accounts: one healthy, one the upstream rate-limits now and then, one whose token the
upstream refuses (401) for good. The pool's clock is injected, so "after the recovery time"
takes no wall time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import openai
import pytest

from tests.conftest import MakeProxy, Proxy, proxy_settings
from tests.e2e.helpers import USER, async_client
from tests.fakes.zai import COMPLETION_PATHS, FakeZai
from zproxy.app import create_app
from zproxy.config import ConfigError
from zproxy.keys import CLIENT_KEYS, STORE, TOKEN_SERVICE, USER_POOL
from zproxy.pool.model import fingerprint
from zproxy.server import start

GOOD, FLAKY, DEAD = "tok-good-0123456789abcdef", "tok-flaky-0123456789abcdef", \
    "tok-dead-0123456789abcdef"
NAMES = {GOOD: "good", FLAKY: "flaky", DEAD: "dead"}


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


def fleet_fake(fake: FakeZai) -> None:
    fake.user_tokens.update({GOOD: "good-id", FLAKY: "flaky-id", DEAD: "dead-id"})
    fake.expire_token(DEAD)


def served_by(fake: FakeZai, since: int = 0) -> Counter[str]:
    return Counter(NAMES[r.headers["Authorization"][7:]] for r in fake.completions[since:])


def tried(fake: FakeZai, since: int = 0) -> Counter[str]:
    """Completion attempts per token, the refused ones included."""
    return Counter(NAMES[r.headers["Authorization"][7:]] for r in fake.requests[since:]
                   if r.path in COMPLETION_PATHS)


def state(proxy: Proxy, token: str) -> str:
    service = proxy.app[TOKEN_SERVICE]
    return next(r["state"] for r in service.listing()
                if r["fingerprint"] == _fp(token))


def _fp(token: str) -> str:
    return fingerprint(token)


async def ask(proxy: Proxy, n: int) -> None:
    client = async_client(proxy.base_url)
    for _ in range(n):
        reply = await client.chat.completions.create(model="GLM-4.5", messages=USER)
        assert reply.choices[0].message.content  # never an error while a token is healthy
    await client.close()


async def test_traffic_spreads_by_weight_bad_tokens_rest_and_recover(
        fake: FakeZai, make_proxy: MakeProxy) -> None:
    fleet_fake(fake)
    proxy = await make_proxy(upstream_tokens=(GOOD, FLAKY, DEAD), guest_enabled=False,
                             token_failure_threshold=3, token_recovery_s=1800)
    clock = proxy.app[USER_POOL].clock = Clock()
    service = proxy.app[TOKEN_SERVICE]
    good = next(r for r in service.listing() if r["fingerprint"] == _fp(GOOD))
    await service.update(good["id"], {"weight": 3})

    # 1. the dead token fails its three tries (each retried elsewhere) and ends invalid
    await ask(proxy, 12)
    for _ in range(50):
        if state(proxy, DEAD) == "invalid":
            break
        await asyncio.sleep(0.02)
    assert state(proxy, DEAD) == "invalid"
    events = [e["event"] for e in service.events()]
    assert "invalid" in events and "cooled" in events

    # 2. weights: 3:1 between the healthy ones; the flaky one is refused now and then
    start_at = len(fake.requests)
    for _ in range(4):
        fake.throttle(FLAKY)  # one 429, then successes: never three in a row
        await ask(proxy, 10)
    spread = tried(fake, start_at)  # 40 requests + 4 retries of the refused attempts
    assert spread["dead"] == 0
    assert 2.6 <= spread["good"] / spread["flaky"] <= 3.4, spread
    assert state(proxy, FLAKY) == "healthy"

    # 3. three 429s in a row: the flaky token rests, the good one carries everything
    fake.throttle(FLAKY, 3)
    await ask(proxy, 12)
    assert state(proxy, FLAKY) == "cooling"
    resting_from = len(fake.completions)
    await ask(proxy, 6)
    assert served_by(fake, resting_from) == {"good": 6}

    # 4. after the recovery time one request probes it, and it serves again
    clock.now += 1800.5
    probe_from = len(fake.completions)
    await ask(proxy, 8)
    assert state(proxy, FLAKY) == "healthy"
    assert served_by(fake, probe_from)["flaky"] >= 2
    assert service.events()[0]["event"] == "recovered"
    assert state(proxy, DEAD) == "invalid"  # only an edit brings it back


async def test_no_healthy_token_and_guests_off_is_a_clear_503(
        fake: FakeZai, make_proxy: MakeProxy) -> None:
    fake.user_tokens[DEAD] = "dead-id"
    fake.expire_token(DEAD)
    proxy = await make_proxy(upstream_tokens=(DEAD,), guest_enabled=False,
                             token_failure_threshold=1, max_attempts=1)
    client = async_client(proxy.base_url)
    try:
        await client.chat.completions.create(model="GLM-4.5", messages=USER)
    except openai.APIStatusError as exc:
        assert exc.status_code == 502  # the token's own refusal is reported first
    for _ in range(50):
        if state(proxy, DEAD) == "invalid":
            break
        await asyncio.sleep(0.02)
    try:
        await client.chat.completions.create(model="GLM-4.5", messages=USER)
        raise AssertionError("expected a 503")
    except openai.APIStatusError as exc:
        assert exc.status_code == 503
        body = exc.response.json()["error"]
        assert body["code"] == "no_upstream_credential"
        assert "1 invalid" in body["message"] and "ANONYMOUS_MODE=false" in body["message"]
        assert DEAD not in exc.response.text
    await client.close()


async def test_guests_serve_when_every_user_token_rests(
        fake: FakeZai, make_proxy: MakeProxy) -> None:
    fake.user_tokens[DEAD] = "dead-id"
    fake.expire_token(DEAD)
    proxy = await make_proxy(upstream_tokens=(DEAD,), token_failure_threshold=1)
    await ask(proxy, 3)
    assert all(r.headers["Authorization"][7:] in fake.guest_tokens for r in fake.completions)


async def test_a_restart_keeps_tokens_states_and_counters(fake: FakeZai, fake_url: str,
                                                          tmp_path: Path) -> None:
    fleet_fake(fake)
    settings = proxy_settings(fake_url, db_path=str(tmp_path / "data" / "zproxy.db"),
                              upstream_tokens=(GOOD, DEAD), guest_enabled=False,
                              store_flush_s=3600.0)  # only the shutdown flush writes
    runner = await start(create_app(settings), "127.0.0.1", 0, settings.shutdown_grace_s)
    app = runner.app
    host, port = runner.addresses[0][:2]
    proxy = Proxy(f"http://{host}:{port}", app, settings)
    await ask(proxy, 6)
    for _ in range(50):
        if state(proxy, DEAD) == "invalid":
            break
        await asyncio.sleep(0.02)
    service = app[TOKEN_SERVICE]
    await service.add(["tok-added-by-admin-0123456789"], label="spare", weight=2)
    _, secret = await app[CLIENT_KEYS].create(app[STORE], {"name": "kept"})
    client = async_client(proxy.base_url, key=secret)
    await client.chat.completions.create(model="GLM-4.5", messages=USER)
    await client.close()
    before = sorted(service.listing(), key=lambda r: r["id"])
    await runner.cleanup()
    assert (tmp_path / "data" / "zproxy.db").is_file()

    runner = await start(create_app(settings), "127.0.0.1", 0, settings.shutdown_grace_s)
    try:
        after = sorted(runner.app[TOKEN_SERVICE].listing(), key=lambda r: r["id"])
        assert [{k: v for k, v in r.items() if k != "active"} for r in after] == \
            [{k: v for k, v in r.items() if k != "active"} for r in before]
        by_state = {r["fingerprint"]: (r["state"], r["requests"], r["successes"])
                    for r in after}
        assert by_state[_fp(DEAD)][0] == "invalid"
        assert by_state[_fp(GOOD)] == ("healthy", 7, 7)
        assert [r["source"] for r in after] == ["env", "env", "admin"]
        kept = runner.app[CLIENT_KEYS].listing()[0]
        assert (kept["name"], kept["requests"]) == ("kept", 1)
        assert kept["prompt_tokens"] + kept["completion_tokens"] > 0
    finally:
        await runner.cleanup()


async def test_a_store_that_cannot_be_opened_stops_start_up_naming_the_variable(
        fake_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings = proxy_settings(fake_url, db_path=str(blocker / "zproxy.db"))
    with pytest.raises(ConfigError, match="DB_PATH: cannot open the store"):
        await start(create_app(settings), "127.0.0.1", 0, settings.shutdown_grace_s)
