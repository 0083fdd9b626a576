"""Two zproxy instances on one real Redis and one fake upstream (issue 13's Done-when)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import async_client
from tests.fakes.zai import FakeZai
from tests.servers import RedisServer


@pytest.fixture
async def pair(make_proxy: MakeProxy, fake: FakeZai, redis_url: str) -> tuple[Proxy, Proxy]:
    fake.user_tokens["tok-alice"] = "alice-id"
    shared: dict[str, Any] = {"redis_url": redis_url, "upstream_tokens": ("tok-alice",)}
    a = await make_proxy(instance_name="A", **shared)
    b = await make_proxy(instance_name="B", **shared)
    await wait_ready(a)
    await wait_ready(b)
    return a, b


async def ready(proxy: Proxy) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/health/ready") as response:
            assert response.status == 200
            found: dict[str, Any] = await response.json()
            return found


async def wait_ready(proxy: Proxy, *, redis_ok: bool = True, timeout_s: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (await ready(proxy))["checks"]["redis"]["ok"] is not redis_ok:
        assert loop.time() < deadline, f"Redis ok never became {redis_ok}"
        await asyncio.sleep(0.05)


async def five_turns(a: Proxy, b: Proxy, *, stream: bool) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = [{"role": "system", "content": "Be terse."}]
    for turn in range(5):
        client = async_client((a if turn % 2 == 0 else b).base_url)
        history.append({"role": "user", "content": f"question {turn}"})
        if stream:
            text = ""
            async for chunk in await client.chat.completions.create(
                    model="GLM-4.7", messages=history, stream=True):  # type: ignore[arg-type]
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
        else:
            reply = await client.chat.completions.create(model="GLM-4.7",
                                                         messages=history)  # type: ignore[arg-type]
            text = reply.choices[0].message.content or ""
        history.append({"role": "assistant", "content": text})
        await client.close()
    return history


@pytest.mark.parametrize("stream", [False, True])
async def test_persisted_chat_alternating_instances_is_one_upstream_chat(
        pair: tuple[Proxy, Proxy], fake: FakeZai, stream: bool) -> None:
    await five_turns(*pair, stream=stream)
    assert len([r for r in fake.requests if r.path == "/api/v1/chats/new"]) == 1
    assert len(fake.chats) == 1
    chat = next(iter(fake.chats.values()))
    assert chat.completions == 5
    sent = [r.json for r in fake.completions]
    assert [len(body["messages"]) for body in sent] == [1] * 5  # only the new message
    assert [body["messages"][0]["content"] for body in sent] == [f"question {i}"
                                                                 for i in range(5)]
    assert {body["chat_id"] for body in sent} == {chat.id}


async def test_either_dashboard_shows_both_instances_requests(
        pair: tuple[Proxy, Proxy], fake: FakeZai) -> None:
    a, b = pair
    for proxy, n in ((a, 2), (b, 3)):
        client = async_client(proxy.base_url)
        for _ in range(n):
            await client.chat.completions.create(
                model="GLM-4.5", messages=[{"role": "user", "content": "hi"}])
        await client.close()
    for proxy in pair:
        stats = await dashboard(proxy, want_requests=5)
        cluster = stats["cluster"]
        rows = {row["instance"].split(":")[0]: row for row in cluster["instances"]}
        assert rows["A"]["totals"]["requests"] >= 2 and rows["B"]["totals"]["requests"] >= 3
        assert cluster["totals"]["requests"] >= 5 and cluster["shared"] and cluster["redis_ok"]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{proxy.url}/dashboard/requests") as response:
                recent = (await response.json())["data"]
        chats = [r for r in recent if r["path"] == "/v1/chat/completions"]
        assert sorted(r["instance"].split(":")[0] for r in chats) == ["A"] * 2 + ["B"] * 3


async def dashboard(proxy: Proxy, *, want_requests: int) -> dict[str, Any]:
    """The stats JSON once the other instance's figures (published every second) are in."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{proxy.url}/dashboard/stats") as response:
                stats: dict[str, Any] = await response.json()
            chat = sum(row["totals"]["requests"] for row in stats["cluster"]["instances"])
            if len(stats["cluster"]["instances"]) == 2 and chat >= want_requests:
                return stats
            assert loop.time() < deadline, stats["cluster"]
            await asyncio.sleep(0.1)


async def test_redis_outage_keeps_requests_succeeding_and_resyncs(
        pair: tuple[Proxy, Proxy], fake: FakeZai, redis_session: RedisServer) -> None:
    a, b = pair
    history = await five_turns(a, b, stream=False)
    redis_session.stop()
    await wait_ready(a, redis_ok=False)
    report = await ready(a)
    assert report["status"] == "degraded" and report["degraded"] == ["redis", "rate_limits"]
    assert report["checks"]["redis"]["error"]
    # requests keep succeeding on local state: A continues the chat it knows
    history.append({"role": "user", "content": "during the outage"})
    async with async_client(a.base_url) as client:
        reply = await client.chat.completions.create(
            model="GLM-4.7", messages=history)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    history.append({"role": "assistant", "content": reply.choices[0].message.content})
    assert len(fake.chats) == 1
    redis_session.start()  # back, empty: A re-offers what it learnt while Redis was away
    await wait_ready(a)
    await wait_ready(b)
    history.append({"role": "user", "content": "after the outage"})
    async with async_client(b.base_url) as client:
        await client.chat.completions.create(
            model="GLM-4.7", messages=history)  # type: ignore[arg-type]
    assert len(fake.chats) == 1  # B continued the chat A extended while Redis was down
    assert [len(r.json["messages"]) for r in fake.completions] == [1] * 7


async def test_stored_responses_are_shared(pair: tuple[Proxy, Proxy], fake: FakeZai) -> None:
    a, b = pair
    async with async_client(a.base_url) as on_a, async_client(b.base_url) as on_b:
        first = await on_a.responses.create(model="GLM-4.7", input="one")
        second = await on_b.responses.create(
            model="GLM-4.7", input="two", previous_response_id=first.id)
        third = await on_a.responses.create(
            model="GLM-4.7", input="three", previous_response_id=second.id)
        assert third.output_text
        assert len(fake.chats) == 1  # the chain continued one upstream chat across instances
        assert [len(r.json["messages"]) for r in fake.completions] == [1, 1, 1]
        assert (await on_a.responses.retrieve(second.id)).id == second.id
        await on_a.responses.delete(first.id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    async with aiohttp.ClientSession() as session:
        while True:  # the delete reaches B's copy through the channel
            async with session.get(f"{b.base_url}/responses/{first.id}") as response:
                if response.status == 404:
                    break
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
