"""Regressions found by independent review: each test failed before its fix."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import USER, async_client
from tests.fakes.zai import FakeZai, Script
from zproxy.keys import UPSTREAM


async def _give_up_early(proxy: Proxy, stream: bool) -> None:
    body = {"model": "GLM-4.5", "messages": USER, "stream": stream}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(f"{proxy.base_url}/chat/completions", json=body,
                                    timeout=aiohttp.ClientTimeout(total=0.4)) as response:
                await response.read()
        except TimeoutError:
            pass


async def test_client_gone_before_first_frame_releases_the_credential(
        proxy: Proxy, fake: FakeZai) -> None:
    for stream in (True, False):
        fake.push(Script(text="hello", hang_after_frames=0))
        await _give_up_early(proxy, stream)
        tokens = proxy.app[UPSTREAM].tokens
        for _ in range(50):
            if tokens.snapshot()["active_requests"] == 0:
                break
            await asyncio.sleep(0.02)
        assert tokens.snapshot()["active_requests"] == 0


async def test_426_retries_the_same_token_with_the_new_version(make_proxy: MakeProxy,
                                                              fake: FakeZai) -> None:
    fake.user_tokens["tok-user"] = "user-1"
    for guests in (False, True):
        proxy = await make_proxy(upstream_tokens=("tok-user",), guest_enabled=guests)
        await async_client(proxy.base_url).chat.completions.create(model="GLM-4.5",
                                                                   messages=USER)
        fake.fe_version, fake.min_fe_version = "prod-fe-1.9.0", (1, 9, 0)
        reply = await async_client(proxy.base_url).chat.completions.create(
            model="GLM-4.5", messages=USER)
        assert reply.choices[0].message.content
        assert fake.completions[-1].query["token"] == "tok-user"  # not a guest fallback
        fake.fe_version, fake.min_fe_version = "prod-fe-1.1.35", (1, 0, 94)


async def test_stale_chat_recovers_with_a_single_token(make_proxy: MakeProxy,
                                                      fake: FakeZai) -> None:
    fake.user_tokens["tok-user"] = "user-1"
    proxy = await make_proxy(upstream_tokens=("tok-user",), guest_enabled=False)
    client = async_client(proxy.base_url)
    history: list[dict[str, object]] = [{"role": "user", "content": "q0"}]
    reply = await client.chat.completions.create(model="GLM-4.7", messages=history)
    history += [{"role": "assistant", "content": reply.choices[0].message.content},
                {"role": "user", "content": "q1"}]
    fake.chats.clear()  # the upstream forgot the chat
    reply = await client.chat.completions.create(model="GLM-4.7", messages=history)
    assert reply.choices[0].message.content
    new_chats = [r for r in fake.requests if r.path == "/api/v1/chats/new"]
    assert len(new_chats) == 2
    assert new_chats[-1].headers["Authorization"] == "Bearer tok-user"


async def test_text_before_an_error_in_the_same_read_is_delivered(proxy: Proxy,
                                                                  fake: FakeZai) -> None:
    fake.push(Script(raw_lines=[
        'data: {"type":"chat:completion","data":{"delta_content":"partial","phase":"answer"}}',
        'data: {"type":"chat:completion","data":{"error":{"code":"INTERNAL_ERROR",'
        '"detail":"Something went wrong"}}}',
    ]))  # no delay: both frames arrive in one read
    body = {"model": "GLM-4.5", "messages": USER, "stream": True}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/chat/completions", json=body) as response:
            assert response.status == 200
            text = await response.text()
    data = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert "partial" in "".join(data)
    assert json.loads(data[-2])["error"]["code"] == "upstream_internal_error"
    assert data[-1] == "[DONE]"
