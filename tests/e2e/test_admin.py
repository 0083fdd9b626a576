"""The admin API, the legacy /v1/token-pool routes, client keys, and what must never leak."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import openai
import pytest
from openapi_spec_validator import validate

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import USER, async_client
from tests.fakes.zai import FakeZai
from zproxy.admin.spec import ADMIN_ROUTES
from zproxy.keys import CLIENT_KEYS, STORE, TOKEN_SERVICE

PASSWORD = "admin-secret-0123456789"
CLIENT_KEY = "sk-env-client-key-0123456789"
ALICE, BOB = "tok-alice-SECRET-0123456789abcdef", "tok-bob-SECRET-0123456789abcdef"
UNKNOWN = "tok-nobody-SECRET-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {PASSWORD}"}


@pytest.fixture
async def admin(fake: FakeZai, make_proxy: MakeProxy) -> Proxy:
    fake.user_tokens.update({ALICE: "alice-id", BOB: "bob-id"})
    return await make_proxy(admin_password=PASSWORD, client_keys=(CLIENT_KEY,))


async def call(proxy: Proxy, method: str, path: str, *, headers: dict[str, str] | None = None,
               json: Any = None, status: int | None = None) -> Any:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, proxy.url + path, headers=headers, json=json,
                                allow_redirects=False) as resp:
            text = await resp.text()
            if status is not None:
                assert resp.status == status, (method, path, resp.status, text)
            return (await resp.json()) if resp.content_type == "application/json" else text


def concrete(path: str) -> str:
    return path.replace("{id}", "1")


async def test_every_admin_api_and_legacy_route_refuses_without_the_secret(
        admin: Proxy) -> None:
    await call(admin, "POST", "/admin/api/tokens", headers=ADMIN, json={"token": ALICE},
               status=201)
    for route in ADMIN_ROUTES:
        for headers in (None, {"Authorization": "Bearer wrong"},
                        {"Authorization": f"Bearer {CLIENT_KEY}"}):  # a client key is no admin
            body = await call(admin, route.method, concrete(route.path), headers=headers,
                              json={}, status=401)
            assert body["error"]["type"] == "authentication_error", route
    assert len(admin.app[TOKEN_SERVICE].listing()) == 1  # nothing was done


async def test_every_admin_page_refuses_without_a_session(admin: Proxy) -> None:
    pages = {(r.method, r.resource.canonical) for r in admin.app.router.routes()
             if r.resource is not None and r.resource.canonical.startswith("/admin")
             and not r.resource.canonical.startswith("/admin/api") and r.method != "HEAD"}
    assert len(pages) >= 15
    for method, path in pages:
        if path in ("/admin/login",):
            continue
        async with aiohttp.ClientSession() as http:
            async with http.request(method, admin.url + concrete(path),
                                    data={"csrf": "x", "tokens": ALICE},
                                    allow_redirects=False) as resp:
                assert resp.status == 303, (method, path, resp.status)
                assert resp.headers["Location"] == "/admin/login"
    assert admin.app[TOKEN_SERVICE].listing() == []


async def test_admin_is_off_without_any_secret(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy()
    page = await call(proxy, "GET", "/admin/tokens", status=503)
    assert "ADMIN_PASSWORD" in page and "never open" in page
    body = await call(proxy, "GET", "/admin/api/tokens", status=403)
    assert body["error"]["code"] == "admin_disabled"
    assert "ADMIN_PASSWORD" in body["error"]["message"]
    await call(proxy, "POST", "/v1/token-pool/update", json=[ALICE], status=403)
    await call(proxy, "POST", "/admin/login", status=503)


async def test_client_key_opens_the_admin_when_no_password(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_keys=(CLIENT_KEY,))
    await call(proxy, "GET", "/admin/api/tokens",
               headers={"Authorization": f"Bearer {CLIENT_KEY}"}, status=200)


async def test_token_api_round_trip(admin: Proxy, fake: FakeZai) -> None:
    added = await call(admin, "POST", "/admin/api/tokens", headers=ADMIN, status=201,
                       json={"tokens": [ALICE, BOB, ALICE, UNKNOWN], "weight": 2,
                             "label": "team"})
    assert added["added"] == 3 and added["duplicates"] == 1
    listing = (await call(admin, "GET", "/admin/api/tokens", headers=ADMIN))["data"]
    assert [t["weight"] for t in listing] == [2, 2, 2]
    assert all(t["source"] == "admin" and t["state"] == "healthy" for t in listing)
    alice, bob, nobody = listing
    one = await call(admin, "PATCH", f"/admin/api/tokens/{bob['id']}", headers=ADMIN,
                     json={"priority": 5, "label": "bob", "max_concurrent": 2})
    assert (one["priority"], one["label"], one["max_concurrent"]) == (5, "bob", 2)
    bad = await call(admin, "PATCH", f"/admin/api/tokens/{bob['id']}", headers=ADMIN,
                     json={"weight": -1}, status=400)
    assert bad["error"]["type"] == "invalid_request_error" and "weight" in bad["error"]["message"]
    await call(admin, "PATCH", "/admin/api/tokens/999", headers=ADMIN, json={}, status=404)
    await call(admin, "POST", "/admin/api/tokens", headers=ADMIN, json="nope", status=400)

    checked = await call(admin, "POST", "/admin/api/tokens/validate", headers=ADMIN)
    statuses = {r["id"]: r["status"] for r in checked["data"]}
    assert statuses == {alice["id"]: "valid", bob["id"]: "valid", nobody["id"]: "invalid"}
    alice_now = await call(admin, "GET", f"/admin/api/tokens/{alice['id']}", headers=ADMIN)
    assert alice_now["user_id"] == "alice-id" and alice_now["role"] == "user"
    assert alice_now["email"].endswith("@example.com")
    assert (await call(admin, "GET", f"/admin/api/tokens/{nobody['id']}",
                       headers=ADMIN))["state"] == "invalid"

    guest = fake.identity  # a guest token is refused with that reason
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{admin.settings.upstream_base}/api/v1/auths/") as resp:
            guest_token = (await resp.json())["token"]
    assert guest is not None
    added = await call(admin, "POST", "/admin/api/tokens", headers=ADMIN,
                       json={"token": guest_token})
    result = await call(admin, "POST", f"/admin/api/tokens/{added['ids'][0]}/validate",
                        headers=ADMIN)
    assert result["status"] == "guest" and "guest" in result["detail"]
    assert result["token"]["state"] == "invalid"

    bulk = await call(admin, "POST", "/admin/api/tokens/bulk", headers=ADMIN,
                      json={"action": "disable", "ids": [alice["id"], bob["id"]]})
    assert bulk["changed"] == 2
    pool = await call(admin, "GET", "/admin/api/pool", headers=ADMIN)
    assert pool["user_tokens_disabled"] == 2 and pool["user_tokens_invalid"] == 2
    await call(admin, "POST", "/admin/api/tokens/bulk", headers=ADMIN,
               json={"action": "explode", "ids": []}, status=400)
    await call(admin, "DELETE", f"/admin/api/tokens/{nobody['id']}", headers=ADMIN)
    await call(admin, "DELETE", f"/admin/api/tokens/{nobody['id']}", headers=ADMIN, status=404)
    events = [e["event"] for e in (await call(admin, "GET", "/admin/api/events",
                                              headers=ADMIN))["data"]]
    assert {"added", "edited", "invalid", "disabled", "removed"} <= set(events)

    masked = await call(admin, "GET", "/admin/api/tokens/export", headers=ADMIN)
    assert masked["with_secrets"] is False and all("token" not in t for t in masked["tokens"])
    full = await call(admin, "GET", "/admin/api/tokens/export?secrets=true", headers=ADMIN)
    assert {t["token"] for t in full["tokens"]} >= {ALICE, BOB}

    import_text = "# more\n" + UNKNOWN + "\n"
    imported = await call(admin, "POST", "/admin/api/tokens/import", headers=ADMIN,
                          json={"text": import_text})
    assert imported["added"] == 1
    refused = await call(admin, "POST", "/admin/api/tokens/import", headers=ADMIN,
                         json={"text": str(masked).replace("'", '"').replace("False", "false")
                               .replace("None", "null").replace("True", "true")}, status=400)
    assert "masked" in refused["error"]["message"] or "JSON" in refused["error"]["message"]


async def test_legacy_token_pool_routes(admin: Proxy) -> None:
    updated = await call(admin, "POST", "/v1/token-pool/update", headers=ADMIN,
                         json=[ALICE, BOB])
    assert (updated["added"], updated["total"]) == (2, 2)
    status = await call(admin, "GET", "/v1/token-pool/status", headers=ADMIN)
    assert (status["total"], status["healthy"]) == (2, 2)
    checked = await call(admin, "POST", "/v1/token-pool/health-check", headers=ADMIN)
    assert (checked["checked"], checked["valid"]) == (2, 2)
    replaced = await call(admin, "POST", "/v1/token-pool/update?replace=true", headers=ADMIN,
                          json={"tokens": [BOB]})
    assert (replaced["removed"], replaced["total"]) == (1, 1)
    await call(admin, "POST", "/v1/token-pool/update", headers=ADMIN, json={"x": 1},
               status=400)


async def test_admin_changes_apply_on_the_next_request(admin: Proxy, fake: FakeZai) -> None:
    client = async_client(admin.base_url, key=CLIENT_KEY)
    await client.chat.completions.create(model="GLM-4.5", messages=USER)
    assert fake.completions[-1].headers["Authorization"][7:] in fake.guest_tokens
    await call(admin, "POST", "/v1/token-pool/update", headers=ADMIN, json=[ALICE])
    await client.chat.completions.create(model="GLM-4.5", messages=USER)
    assert fake.completions[-1].headers["Authorization"] == f"Bearer {ALICE}"
    token_id = admin.app[TOKEN_SERVICE].listing()[0]["id"]
    await call(admin, "PATCH", f"/admin/api/tokens/{token_id}", headers=ADMIN,
               json={"enabled": False})
    await client.chat.completions.create(model="GLM-4.5", messages=USER)
    assert fake.completions[-1].headers["Authorization"] != f"Bearer {ALICE}"
    await client.close()


async def test_client_keys_counted_limited_and_disabled(admin: Proxy) -> None:
    created = await call(admin, "POST", "/admin/api/keys", headers=ADMIN, status=201,
                         json={"name": "ci-bot", "rpm_limit": 2})
    secret = created["key"]
    assert secret.startswith("sk-zp-") and len(secret) > 40
    listed = (await call(admin, "GET", "/admin/api/keys", headers=ADMIN))["data"]
    assert secret not in str(listed) and listed[0]["prefix"] == secret[:10] + "…"
    rows = await admin.app[STORE].load_keys()
    assert secret not in str(rows)  # stored hashed

    client = async_client(admin.base_url, key=secret)
    for _ in range(2):
        await client.chat.completions.create(model="GLM-4.5", messages=USER)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="GLM-4.5", messages=USER)
    error = caught.value.response.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert "ci-bot" in error["message"] and secret not in caught.value.response.text
    assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 60
    key = admin.app[CLIENT_KEYS].listing()[0]
    assert key["requests"] == 2 and key["prompt_tokens"] + key["completion_tokens"] > 0
    assert key["last_used_at"] is not None

    env_client = async_client(admin.base_url, key=CLIENT_KEY)  # AUTH_TOKEN keys still work
    await env_client.chat.completions.create(model="GLM-4.5", messages=USER)
    await call(admin, "PATCH", f"/admin/api/keys/{created['id']}", headers=ADMIN,
               json={"enabled": False})
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="GLM-4.5", messages=USER)
    await call(admin, "DELETE", f"/admin/api/keys/{created['id']}", headers=ADMIN)
    assert admin.app[CLIENT_KEYS].listing() == []
    await client.close()
    await env_client.close()


async def test_a_stored_key_makes_auth_required_and_tokens_per_day_limit(
        make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(admin_password=PASSWORD)
    anonymous = async_client(proxy.base_url, key="anything")
    await anonymous.models.list()  # no key configured: open
    created = await call(proxy, "POST", "/admin/api/keys", headers=ADMIN,
                         json={"name": "tiny", "tpd_limit": 1})
    with pytest.raises(openai.AuthenticationError):
        await anonymous.models.list()
    client = async_client(proxy.base_url, key=created["key"])
    await client.chat.completions.create(model="GLM-4.5", messages=USER)  # spends the budget
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="GLM-4.5", messages=USER)
    assert "tokens per day" in caught.value.response.json()["error"]["message"]
    assert int(caught.value.response.headers["Retry-After"]) > 60
    await anonymous.close()
    await client.close()


def browser_like() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # 127.0.0.1


async def test_login_is_throttled(admin: Proxy) -> None:
    async with browser_like() as http:
        for attempt in range(6):
            async with http.get(admin.url + "/admin/login") as resp:
                csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
            assert csrf is not None
            async with http.post(admin.url + "/admin/login", allow_redirects=False,
                                 data={"csrf": csrf.group(1), "password": "wrong"}) as resp:
                assert resp.status == (401 if attempt < 5 else 429)
        assert int(resp.headers["Retry-After"]) > 0
        async with http.post(admin.url + "/admin/login", allow_redirects=False,
                             data={"csrf": csrf.group(1), "password": PASSWORD}) as resp:
            assert resp.status == 429  # even the right password waits


async def test_form_post_without_csrf_is_refused(admin: Proxy) -> None:
    async with browser_like() as http:
        async with http.get(admin.url + "/admin/login") as resp:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert csrf is not None
        async with http.post(admin.url + "/admin/login", data={"password": PASSWORD},
                             allow_redirects=False) as resp:
            assert resp.status == 403  # the login form has one too
            csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())  # a fresh form
        assert csrf is not None
        async with http.post(admin.url + "/admin/login", allow_redirects=False,
                             data={"csrf": csrf.group(1), "password": PASSWORD}) as resp:
            assert resp.status == 303
            cookie = resp.cookies["zproxy_admin"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert cookie["path"] == "/admin" and PASSWORD not in cookie.value
        for data in ({"tokens": ALICE}, {"tokens": ALICE, "csrf": "forged"}):
            async with http.post(admin.url + "/admin/tokens/add", data=data,
                                 allow_redirects=False) as resp:
                assert resp.status == 403
        async with http.post(admin.url + "/admin/api/tokens", json={"token": ALICE},
                             allow_redirects=False) as resp:
            assert resp.status == 403  # cookie-authenticated API writes need the header
        assert admin.app[TOKEN_SERVICE].listing() == []
        async with http.get(admin.url + "/admin/tokens") as resp:
            page = await resp.text()
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        async with http.post(admin.url + "/admin/tokens/add", allow_redirects=False,
                             data={"tokens": ALICE, "csrf": token.group(1)}) as resp:
            assert resp.status == 303
        assert len(admin.app[TOKEN_SERVICE].listing()) == 1


async def test_no_page_export_log_metric_or_error_shows_a_whole_secret(
        admin: Proxy, fake: FakeZai, capsys: pytest.CaptureFixture[str]) -> None:
    fake.expire_token(BOB)
    await call(admin, "POST", "/admin/api/tokens", headers=ADMIN, json={"tokens": [ALICE, BOB]})
    created = await call(admin, "POST", "/admin/api/keys", headers=ADMIN, json={"name": "k"})
    client = async_client(admin.base_url, key=created["key"])
    for _ in range(4):
        await client.chat.completions.create(model="GLM-4.5", messages=USER)
    await client.close()
    await call(admin, "POST", "/admin/api/tokens/validate", headers=ADMIN)
    await call(admin, "POST", "/admin/api/tokens", headers=ADMIN,
               json={"tokens": [ALICE + " x"]}, status=400)
    seen = [str(await call(admin, "GET", path, headers=ADMIN)) for path in (
        "/admin/api/tokens", "/admin/api/tokens/export", "/admin/api/events",
        "/admin/api/keys", "/v1/token-pool/status", "/metrics", "/dashboard",
        "/dashboard/stats")]
    async with aiohttp.ClientSession() as http:
        async with http.post(admin.url + "/admin/api/tokens", headers=ADMIN,
                             json={"tokens": ["two words " + ALICE]}) as resp:
            seen.append(await resp.text())
    seen.append(capsys.readouterr().out)
    for secret in (ALICE, BOB, created["key"], PASSWORD):
        assert all(secret not in text for text in seen), secret
    assert "tok-" in seen[0] and "…" in seen[0]  # masked forms are there


async def test_metrics_and_dashboard_show_the_pool_and_key_usage(admin: Proxy,
                                                                  fake: FakeZai) -> None:
    fake.expire_token(BOB)
    await call(admin, "POST", "/admin/api/tokens", headers=ADMIN,
               json={"tokens": [ALICE], "label": "alice"})
    await call(admin, "POST", "/admin/api/tokens", headers=ADMIN, json={"tokens": [BOB]})
    created = await call(admin, "POST", "/admin/api/keys", headers=ADMIN,
                         json={"name": "nightly-agent"})
    client = async_client(admin.base_url, key=created["key"])
    for _ in range(4):
        await client.chat.completions.create(model="GLM-4.5", messages=USER)
    await client.close()
    key = {"Authorization": f"Bearer {CLIENT_KEY}"}
    metrics = await call(admin, "GET", "/metrics", headers=key)
    assert 'zproxy_user_token_state{state="healthy",token="alice"} 1.0' in metrics
    bob = next(t for t in admin.app[TOKEN_SERVICE].listing() if t["label"] is None)
    assert f'zproxy_user_token_failures_total{{token="{bob["fingerprint"]}"}}' in metrics
    assert 'zproxy_user_token_requests_total{token="alice"}' in metrics
    page = await call(admin, "GET", "/dashboard", headers=key)
    assert 'id="pool-card"' in page and 'data-pool="user_tokens">2<' in page
    assert "nightly-agent" in page and created["key"] not in page


async def test_admin_routes_are_in_openapi_and_docs(admin: Proxy) -> None:
    spec = await call(admin, "GET", "/openapi.json")
    validate(spec)
    for route in ADMIN_ROUTES:
        operation = spec["paths"][route.path][route.method.lower()]
        assert operation["security"] == [{"adminAuth": []}], route
    assert "ADMIN_PASSWORD" in spec["components"]["securitySchemes"]["adminAuth"]["description"]
    page = await call(admin, "GET", "/docs")
    for path in ("/admin/api/tokens", "/v1/token-pool/update", "/admin/tokens"):
        assert path in page
    assert "admin password" in page and "ADMIN_PASSWORD" in page and "DB_PATH" in page
