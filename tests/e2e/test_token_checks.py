"""K2Think and LongCat token validation, and their env tokens in the admin store, through the
real proxy's admin API against the fakes over real sockets (providers.md §1.3, §2.2)."""

from __future__ import annotations

import time
from typing import Any

from pytest_aiohttp import AiohttpServer

from tests.conftest import MakeProxy, Proxy
from tests.e2e.test_admin import ADMIN, PASSWORD, call
from tests.fakes.k2think import FakeK2Think, fake_jwt
from tests.fakes.longcat import FakeLongCat
from tests.servers import free_port

LIVE_COOKIE, DEAD_COOKIE = "AgEGlive-passport", "AgEGdead-passport"
EXPIRED = fake_jwt("user-expired", int(time.time()) - 60)
UNKNOWN_JWT = fake_jwt("user-stranger", int(time.time()) + 3600)  # not expired, yet refused


async def _tokens(proxy: Proxy) -> dict[str, dict[str, Any]]:
    listing = (await call(proxy, "GET", "/admin/api/tokens", headers=ADMIN, status=200))["data"]
    return {t["fingerprint"]: t for t in listing}


async def _validate(proxy: Proxy) -> list[tuple[str, str]]:
    """(provider, validation status) of every token, in the order they were imported."""
    results = (await call(proxy, "POST", "/admin/api/tokens/validate", headers=ADMIN,
                          status=200))["data"]
    listing = (await call(proxy, "GET", "/admin/api/tokens", headers=ADMIN))["data"]
    by_id = {t["id"]: t for t in listing}
    statuses = {r["id"]: r["status"] for r in results}
    assert all(by_id[i]["validation"] == s for i, s in statuses.items())  # stored too
    return [(by_id[i]["provider"], statuses[i]) for i in sorted(statuses)]


def _count(listed: dict[str, dict[str, Any]], provider: str) -> int:
    return sum(t["provider"] == provider for t in listed.values())


async def test_env_tokens_are_validated_per_provider(make_proxy: MakeProxy,
                                                     aiohttp_server: AiohttpServer) -> None:
    k2 = FakeK2Think()
    k2_url = str((await aiohttp_server(k2.app)).make_url("/")).rstrip("/")
    live_jwt = k2.issue_token("someone@example.com")  # what the fake's sign-in mints
    lc = FakeLongCat(tokens=[LIVE_COOKIE])
    lc_url = str((await aiohttp_server(lc.app)).make_url("/")).rstrip("/")
    proxy = await make_proxy(admin_password=PASSWORD, k2think_base=k2_url, longcat_base=lc_url,
                             k2think_tokens=(live_jwt, EXPIRED, UNKNOWN_JWT),
                             longcat_tokens=(LIVE_COOKIE, DEAD_COOKIE, LIVE_COOKIE))
    listed = await _tokens(proxy)
    assert _count(listed, "k2think") == 3 and _count(listed, "longcat") == 2  # deduplicated
    assert {t["source"] for t in listed.values() if t["provider"] != "zai"} == {"env"}

    assert await _validate(proxy) == [("k2think", "valid"), ("k2think", "invalid"),
                                      ("k2think", "invalid"), ("longcat", "valid"),
                                      ("longcat", "invalid")]
    # the expired JWT is judged from its claim alone: only two reached /api/models
    models_calls = [r for r in k2.requests if r.path == "/api/models"]
    assert len(models_calls) == 2
    assert {r.headers["Authorization"] for r in models_calls} == {
        f"Bearer {live_jwt}", f"Bearer {UNKNOWN_JWT}"}
    probes = [r.cookies.get("passport_token_key") for r in lc.requests
              if r.path == "/api/v1/user-current"]
    assert sorted(probes) == sorted([LIVE_COOKIE, DEAD_COOKIE])
    after = await _tokens(proxy)
    states = {(t["provider"], t["validation"]): t["state"] for t in after.values()}
    assert states[("longcat", "invalid")] == "invalid"  # out of rotation until edited
    assert states[("longcat", "valid")] == "healthy"
    valid_lc = next(t for t in after.values()
                    if t["provider"] == "longcat" and t["validation"] == "valid")
    assert valid_lc["name"] == "longcat-user"


async def test_unreachable_upstreams_leave_tokens_unknown(make_proxy: MakeProxy) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    live_jwt = fake_jwt("user-live", int(time.time()) + 3600)
    proxy = await make_proxy(admin_password=PASSWORD, k2think_base=dead, longcat_base=dead,
                             k2think_tokens=(live_jwt, EXPIRED), longcat_tokens=(LIVE_COOKIE,))
    # an expired JWT needs no network to be dead; the rest cannot be judged
    assert await _validate(proxy) == [("k2think", "unknown"), ("k2think", "invalid"),
                                      ("longcat", "unknown")]
    listing = await _tokens(proxy)
    assert all(t["state"] == "healthy" for t in listing.values()
               if t["validation"] == "unknown")  # an outage never wipes out the fleet


async def test_without_env_tokens_nothing_is_imported(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(admin_password=PASSWORD, longcat_tokens=())
    assert await _tokens(proxy) == {}
