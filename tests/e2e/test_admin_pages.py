"""The admin pages' forms over real sockets: edit, import, export, bulk delete, client keys."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import USER, async_client
from tests.fakes.zai import FakeZai
from zproxy.keys import CLIENT_KEYS, TOKEN_SERVICE

PASSWORD = "pages-admin-password-7"
ALICE, BOB = "tok-alice-pages-0123456789abcdef", "tok-bob-pages-0123456789abcdef"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    def __init__(self, proxy: Proxy, http: aiohttp.ClientSession) -> None:
        self.proxy, self.http = proxy, http
        self.csrf = ""

    async def get(self, path: str) -> str:
        async with self.http.get(self.proxy.url + path) as resp:
            assert resp.status == 200, (path, resp.status)
            page = await resp.text()
        found = CSRF.search(page)
        self.csrf = found.group(1) if found else self.csrf
        return page

    async def post(self, path: str, data: dict[str, str] | aiohttp.FormData,
                   ) -> tuple[int, str, aiohttp.ClientResponse]:
        if isinstance(data, dict):
            data = {**data, "csrf": self.csrf}
        else:
            data.add_field("csrf", self.csrf)
        async with self.http.post(self.proxy.url + path, data=data) as resp:
            return resp.status, await resp.text(), resp


@pytest.fixture
async def browser(fake: FakeZai, make_proxy: MakeProxy) -> AsyncIterator[Browser]:
    fake.user_tokens.update({ALICE: "alice-id", BOB: "bob-id"})
    proxy = await make_proxy(admin_password=PASSWORD)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        b = Browser(proxy, http)
        await b.get("/admin/login")
        status, page, _ = await b.post("/admin/login", {"password": PASSWORD})
        assert status == 200 and 'id="tokens-table"' in page  # followed the redirect
        b.csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]
        yield b


async def test_import_edit_export_and_bulk_delete(browser: Browser) -> None:
    form = aiohttp.FormData()
    form.add_field("file", f"# team\n{ALICE}\n{BOB}, {ALICE}\n".encode(),
                   filename="tokens.txt", content_type="text/plain")
    form.add_field("weight", "3")
    status, page, _ = await browser.post("/admin/tokens/import", form)
    assert status == 200 and "Imported 2 token(s)<" in page
    service = browser.proxy.app[TOKEN_SERVICE]
    alice, bob = service.listing()
    assert alice["weight"] == bob["weight"] == 3

    page = await browser.get(f"/admin/tokens/{alice['id']}")
    assert 'id="edit-form"' in page and ALICE not in page
    status, page, _ = await browser.post(f"/admin/tokens/{alice['id']}", {
        "label": "alice", "priority": "2", "weight": "5", "max_concurrent": "", "enabled": "yes"})
    assert "Saved alice" in page
    edited = service.pool.get(alice["id"])
    assert edited is not None and (edited.priority, edited.weight, edited.label) == (2, 5, "alice")
    status, page, _ = await browser.post(f"/admin/tokens/{alice['id']}", {"weight": "0"})
    assert "weight must be between 1 and 1000" in page

    status, body, resp = await browser.post("/admin/tokens/export", {})
    assert resp.headers["Content-Disposition"].endswith('"zproxy-tokens.json"')
    assert ALICE not in body and json.loads(body)["with_secrets"] is False
    status, body, _ = await browser.post("/admin/tokens/export", {"with_secrets": "yes"})
    assert {t["token"] for t in json.loads(body)["tokens"]} == {ALICE, BOB}

    ids = aiohttp.FormData()
    for token_id in (alice["id"], bob["id"]):
        ids.add_field("ids", str(token_id))
    ids.add_field("action", "delete")
    status, page, _ = await browser.post("/admin/tokens/bulk", ids)
    assert "Delete for good?" in page and len(service.listing()) == 2  # asked first
    confirmed = aiohttp.FormData()
    for token_id in (alice["id"], bob["id"]):
        confirmed.add_field("ids", str(token_id))
    confirmed.add_field("action", "delete")
    confirmed.add_field("confirm", "yes")
    status, page, _ = await browser.post("/admin/tokens/bulk", confirmed)
    assert "Delete: 2 token(s)" in page and service.listing() == []


async def test_client_key_shown_once_then_only_by_name(browser: Browser) -> None:
    status, page, _ = await browser.post("/admin/keys", {"name": "laptop", "rpm_limit": "30"})
    key = re.search(r'<code id="new-key">([^<]+)</code>', page)
    assert status == 200 and key is not None
    secret = key.group(1)
    again = await browser.get("/admin/keys")
    assert secret not in again and "laptop" in again and "sk-zp-" in again
    client = async_client(browser.proxy.base_url, key=secret)
    await client.chat.completions.create(model="GLM-4.5", messages=USER)
    await client.close()
    ring = browser.proxy.app[CLIENT_KEYS]
    key_id = ring.listing()[0]["id"]
    status, page, _ = await browser.post(f"/admin/keys/{key_id}/toggle", {})
    assert "Disabled laptop" in page and ring.listing()[0]["enabled"] is False
    status, page, _ = await browser.post(f"/admin/keys/{key_id}/delete", {})
    assert "really delete" in page and len(ring.listing()) == 1
    status, page, _ = await browser.post(f"/admin/keys/{key_id}/delete", {"confirm": "yes"})
    assert "Deleted laptop" in page and ring.listing() == []
