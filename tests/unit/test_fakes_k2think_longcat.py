"""The K2Think and LongCat fakes themselves: the endpoints and faults the provider tests do
not reach, and their standalone runners."""

from __future__ import annotations

import subprocess
import sys

from pytest_aiohttp import AiohttpClient

from tests.fakes.k2think import FakeK2Think, K2Script, k2_snapshots
from tests.fakes.longcat import EMPTY_COOKIE, THROTTLE_MESSAGE, FakeLongCat


async def test_k2think_signin_models_and_refusals(aiohttp_client: AiohttpClient) -> None:
    fake = FakeK2Think(users={"a@x.org": "pw"})
    client = await aiohttp_client(fake.app)
    bad = await client.post("/api/v1/auths/signin", json={"email": "a@x.org", "password": "no"})
    assert bad.status == 400 and "detail" in await bad.json()
    good = await client.post("/api/v1/auths/signin", json={"email": "a@x.org", "password": "pw"})
    token = (await good.json())["token"]
    assert good.cookies["token"].value == token and token.count(".") == 2
    models = await client.get("/api/models", headers={"Authorization": f"Bearer {token}"})
    assert [m["status"] for m in (await models.json())["data"]] == ["active", "active"]
    assert (await client.get("/api/models")).status == 401
    anon = await client.post("/api/chat/completions", json={"model": "x", "messages": []})
    assert anon.status == 401 and await anon.json() == {"detail": "Not authenticated"}


async def test_k2think_guest_new_checks_the_body(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(FakeK2Think(require_handshake=True).app)
    assert (await client.post("/api/v1/chats/guest/new", json={})).status == 403
    page = await client.get("/guest")
    assert {"k2_guest", "k2_lang"} <= set(page.cookies)
    assert (await client.post("/api/v1/chats/guest/new", json={"chat": {}})).status == 400


def test_k2think_rewrite_knob_changes_sent_text() -> None:
    snaps = k2_snapshots(K2Script(text="Hello world", step=4, rewrite_at=1,
                                  rewrite="Jello world"), "2026")
    assert snaps[0].endswith("Hell") and snaps[1].endswith("Jello wo")


async def test_longcat_sessions_and_user_current(aiohttp_client: AiohttpClient) -> None:
    fake = FakeLongCat(tokens=["t"], create_limit=1, throttle_http=True)
    client = await aiohttp_client(fake.app)
    assert await (await client.post("/api/v1/session-create")).json() == EMPTY_COOKIE
    cookie = {"Cookie": "passport_token_key=t"}
    created = await (await client.post("/api/v1/session-create", headers=cookie)).json()
    conv = created["data"]["conversationId"]
    throttled = await client.post("/api/v1/session-create", headers=cookie)
    assert throttled.status == 429 and (await throttled.json())["message"] == THROTTLE_MESSAGE
    gone = await client.get("/api/v1/session-delete", params={"conversationId": "nope"},
                            headers=cookie)
    assert (await gone.json())["code"] != 0
    deleted = await client.get("/api/v1/session-delete", params={"conversationId": conv},
                               headers=cookie)
    assert await deleted.json() == {"code": 0, "message": "success"}
    assert fake.deleted == [conv] and not fake.sessions
    me = await (await client.get("/api/v1/user-current", headers=cookie)).json()
    assert me["data"]["loginStatus"] == 1
    anon = await (await client.get("/api/v1/user-current")).json()
    assert anon["data"]["loginStatus"] == 0 and anon["data"]["userId"] is None


async def test_longcat_oversea_needs_no_cookie_and_v2_refuses_a_bad_one(
        aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(FakeLongCat(tokens=["t"]).app)
    guest = await client.post("/api/v1/chat-completion-oversea-V2", json={"content": "hi"})
    body = await guest.text()
    assert guest.status == 200 and '"lastOne":true' in body
    refused = await client.post("/api/v1/chat-completion-V2", json={"content": "hi"},
                                headers={"Cookie": "passport_token_key=bad"})
    assert refused.status == 401
    unknown = await client.post("/api/v1/chat-completion", json={"content": "hi",
                                                                 "conversationId": "x"},
                                headers={"Cookie": "passport_token_key=t"})
    assert (await unknown.json())["code"] != 0


def test_runners_show_their_help() -> None:
    for module in ("tests.fakes.k2think", "tests.fakes.longcat"):
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0 and "--port" in result.stdout
