"""An env token imported into the admin store stays configuration: deleting or disabling its
row in /admin (as the schemathesis fuzz did with the client key as admin secret) never leaves
its provider without a credential; a token the upstream refused and validation confirmed does,
and then the 503 says the tokens are invalid instead of asking for LONGCAT_TOKEN."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from pytest_aiohttp import AiohttpServer

from tests.conftest import MakeProxy, Proxy
from tests.e2e.test_admin import ADMIN, PASSWORD, call
from tests.fakes.longcat import FakeLongCat

LIVE, DEAD = "AgEGlive-passport", "AgEGdead-passport"


async def _proxy(make_proxy: MakeProxy, aiohttp_server: AiohttpServer,
                 tokens: tuple[str, ...]) -> tuple[Proxy, FakeLongCat]:
    fake = FakeLongCat(tokens=[LIVE])
    url = str((await aiohttp_server(fake.app)).make_url("/")).rstrip("/")
    return await make_proxy(admin_password=PASSWORD, longcat_base=url,
                            longcat_tokens=tokens), fake


async def _longcat_ids(proxy: Proxy) -> list[int]:
    listing = (await call(proxy, "GET", "/admin/api/tokens", headers=ADMIN, status=200))["data"]
    return [t["id"] for t in listing if t["provider"] == "longcat"]


async def _ask(proxy: Proxy, **extra: Any) -> str:
    client = openai.AsyncOpenAI(base_url=f"{proxy.url}/v1", api_key="unused", max_retries=0)
    async with client:
        reply = await client.chat.completions.create(
            model="LongCat-Flash", messages=[{"role": "user", "content": "hello"}], **extra)
    return reply.choices[0].message.content or ""


@pytest.mark.parametrize("how", ["delete", "disable"])
async def test_an_env_token_removed_from_the_admin_still_serves(
        make_proxy: MakeProxy, aiohttp_server: AiohttpServer, how: str) -> None:
    proxy, fake = await _proxy(make_proxy, aiohttp_server, (LIVE,))
    assert await _ask(proxy)
    for token_id in await _longcat_ids(proxy):
        if how == "delete":
            await call(proxy, "DELETE", f"/admin/api/tokens/{token_id}", headers=ADMIN,
                       status=200)
        else:
            await call(proxy, "PATCH", f"/admin/api/tokens/{token_id}", headers=ADMIN,
                       json={"enabled": False}, status=200)
    models = (await call(proxy, "GET", "/v1/models", headers=ADMIN, status=200))["data"]
    assert next(m for m in models if m["id"] == "LongCat-Flash")["available"] is True
    for _ in range(3):  # served from the env now, round after round
        assert await _ask(proxy)
    chats = [r for r in fake.requests if r.cookies.get("passport_token_key") == LIVE]
    assert chats


async def test_a_confirmed_invalid_env_token_gives_a_503_saying_so(
        make_proxy: MakeProxy, aiohttp_server: AiohttpServer) -> None:
    proxy, _ = await _proxy(make_proxy, aiohttp_server, (DEAD,))
    await call(proxy, "POST", "/admin/api/tokens/validate", headers=ADMIN, status=200)
    with pytest.raises(openai.APIStatusError) as caught:
        await _ask(proxy)
    assert caught.value.status_code == 503
    message = caught.value.response.json()["error"]["message"]
    assert "invalid" in message and "LongCat" in message, message
    assert "set LONGCAT_TOKEN" not in message, message
