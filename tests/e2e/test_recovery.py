"""Transparent recovery (zproxy.api.recovery) through the official openai SDK.

An upstream attempt that fails after answering 200 but before the client saw any output is
replaced by another; the client gets the exact full answer and the stats and /metrics show
two attempts. Once output went out, the failure reaches the client as an error event. A
persisted chat's accepted turn is never sent twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import USER, async_client, collect_stream
from tests.fakes.zai import FakeZai, Script

ANSWER = "Recovered answers arrive whole: nothing lost, nothing doubled."
THOUGHT = "The user wants a sentence."


@pytest.fixture
async def client(proxy: Proxy) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = async_client(proxy.base_url)
    yield sdk
    await sdk.close()


async def observed(proxy: Proxy) -> tuple[dict[str, Any], dict[tuple[str, str], float]]:
    """The newest dashboard row and the /metrics samples (name, cause label) -> value."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/dashboard/requests") as resp:
            row = (await resp.json())["data"][0]
        async with http.get(f"{proxy.url}/metrics") as resp:
            text = await resp.text()
    samples = {(s.name, s.labels.get("cause", "")): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return row, samples


def assert_recovered(row: dict[str, Any], samples: dict[tuple[str, str], float],
                     cause: str) -> None:
    assert row["attempts"] == 2 and row["retries"] == [cause] and row["recovered"] == [cause]
    assert row["ok"] and row["status"] == 200
    assert samples[("zproxy_upstream_attempts_total", "")] == 2
    assert samples[("zproxy_upstream_retries_total", cause)] == 1
    assert samples[("zproxy_upstream_recovered_total", cause)] == 1


async def test_non_stream_drop_mid_response_gives_the_full_text(
        proxy: Proxy, fake: FakeZai, client: openai.AsyncOpenAI) -> None:
    fake.push(Script(text=ANSWER, delta_size=5, drop_after_frames=4))  # content, then a drop
    fake.push(Script(text=ANSWER, delta_size=5))
    reply = await client.chat.completions.create(model="GLM-4.5", messages=USER)
    assert reply.choices[0].message.content == ANSWER
    assert len(fake.completions) == 2
    first, second = (c.query["requestId"] for c in fake.completions)
    assert first != second  # a fresh signature for the second attempt
    assert_recovered(*await observed(proxy), "unavailable")


async def test_stream_drop_before_first_content_gives_the_full_text(
        proxy: Proxy, fake: FakeZai, client: openai.AsyncOpenAI) -> None:
    # The first read is the thinking block's opener: frames arrived, nothing to show yet.
    fake.push(Script(text=ANSWER, thinking=THOUGHT, drop_after_frames=1))
    fake.push(Script(text=ANSWER, thinking=THOUGHT, delta_size=4))
    stream = await client.chat.completions.create(model="GLM-4.5-Thinking", messages=USER,
                                                  stream=True)
    got = await collect_stream(stream)
    assert (got["content"], got["reasoning"]) == (ANSWER, THOUGHT)
    assert got["finish"] == "stop"
    assert len(fake.completions) == 2
    assert_recovered(*await observed(proxy), "unavailable")


async def test_stream_role_chunk_is_held_until_content(
        proxy: Proxy, fake: FakeZai) -> None:
    """The raw SSE after a recovery: one role chunk, then the second attempt's content."""
    fake.push(Script(text=ANSWER, thinking=THOUGHT, drop_after_frames=1))
    fake.push(Script(text=ANSWER))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}/chat/completions", json={
                "model": "GLM-4.5", "messages": USER, "stream": True}) as resp:
            text = await resp.text()
    data = [json.loads(line[6:]) for line in text.split("\n")
            if line.startswith("data: {")]
    roles = [c for c in data if c["choices"] and "role" in c["choices"][0]["delta"]]
    assert len(roles) == 1 and data[0] is roles[0]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in data
                      if c["choices"])
    assert content == ANSWER


@pytest.mark.parametrize(("fixture", "cause"), [
    ("error_inline_internal.sse", "internal"),
    ("error_captcha_required.sse", "captcha"),
])
async def test_retryable_error_frame_after_a_frame_is_recovered(
        proxy: Proxy, fake: FakeZai, client: openai.AsyncOpenAI, fixture: str,
        cause: str) -> None:
    # The error comes in its own read, after an answer frame with nothing in it yet.
    raw = fake.fixtures.read(fixture).decode().strip().split("\n\n")
    opener = 'data: {"type":"chat:completion","data":{"delta_content":"<details type=' \
             '\\"reasoning\\" done=\\"false\\">","phase":"thinking"}}'
    fake.push(Script(raw_lines=[opener, raw[-1]], frame_delay=0.05))
    fake.push(Script(text=ANSWER))
    stream = await client.chat.completions.create(model="GLM-4.5", messages=USER, stream=True)
    assert (await collect_stream(stream))["content"] == ANSWER
    first, second = (c.query["user_id"] for c in fake.completions)
    if cause == "captcha":  # the guest's failure: another guest answers
        assert first != second
    assert_recovered(*await observed(proxy), cause)


async def test_concurrency_error_frame_is_recovered(proxy: Proxy, fake: FakeZai,
                                                    client: openai.AsyncOpenAI) -> None:
    fake.push(Script(frames=[
        {"delta_content": '<details type="reasoning" done="false">', "phase": "thinking"},
        {"error": {"code": 429, "detail": "concurrency limit exceeded"}}], frame_delay=0.05))
    fake.push(Script(text=ANSWER))
    reply = await client.chat.completions.create(model="GLM-4.5", messages=USER)
    assert reply.choices[0].message.content == ANSWER
    assert_recovered(*await observed(proxy), "rate_limit")


async def test_read_timeout_before_content_is_recovered(make_proxy: MakeProxy,
                                                        fake: FakeZai) -> None:
    proxy = await make_proxy(read_timeout_s=0.5)
    fake.push(Script(text=ANSWER, thinking=THOUGHT, hang_after_frames=1))
    fake.push(Script(text=ANSWER))
    async with async_client(proxy.base_url) as sdk:
        stream = await sdk.chat.completions.create(model="GLM-4.5", messages=USER, stream=True)
        assert (await collect_stream(stream))["content"] == ANSWER
    assert_recovered(*await observed(proxy), "timeout")


async def test_drop_after_content_gives_the_error_event(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text=ANSWER, delta_size=5, frame_delay=0.05, drop_after_frames=4))
    fake.push(Script(text="never asked for"))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}/chat/completions", json={
                "model": "GLM-4.5", "messages": USER, "stream": True}) as resp:
            assert resp.status == 200
            text = await resp.text()
    data = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert json.loads(data[-2])["error"]["code"] == "upstream_unavailable"
    shown = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                    for d in data[:-2])
    assert shown and ANSWER.startswith(shown) and shown != ANSWER
    assert len(fake.completions) == 1  # no second attempt once output went out
    row, _ = await observed(proxy)
    assert row["attempts"] == 1 and row["recovered"] == []


async def test_sdk_stream_after_content_raises(proxy: Proxy, fake: FakeZai,
                                               client: openai.AsyncOpenAI) -> None:
    fake.push(Script(text=ANSWER, delta_size=5, frame_delay=0.05, drop_after_frames=4))
    stream = await client.chat.completions.create(model="GLM-4.5", messages=USER, stream=True)
    seen = ""
    with pytest.raises(openai.APIError, match="connection lost"):
        async for chunk in stream:
            seen += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert seen and ANSWER.startswith(seen)


@pytest.mark.parametrize("stream", [False, True])
async def test_spent_persisted_turn_is_not_resent(proxy: Proxy, fake: FakeZai,
                                                  client: openai.AsyncOpenAI,
                                                  stream: bool) -> None:
    fake.push(Script(text=ANSWER, thinking=THOUGHT, drop_after_frames=1))
    fake.push(Script(text="a second copy of the turn"))
    with pytest.raises(openai.APIStatusError) as caught:
        reply = await client.chat.completions.create(model="GLM-4.7", messages=USER,
                                                     stream=stream)
        if stream:
            await collect_stream(reply)
    assert caught.value.status_code == 502
    assert len(fake.completions) == 1  # accepted once: never sent again
    (chat,) = fake.chats.values()
    assert chat.completions == 1
    row, samples = await observed(proxy)
    assert row["attempts"] == 1 and row["recovered"] == []
    assert ("zproxy_upstream_recovered_total", "unavailable") not in samples


async def test_budget_is_shared_with_retries_before_the_first_byte(
        make_proxy: MakeProxy, fake: FakeZai) -> None:
    proxy = await make_proxy(max_attempts=2)
    fake.push(Script(status=500))
    fake.push(Script(text=ANSWER, delta_size=5, drop_after_frames=4))
    fake.push(Script(text=ANSWER))
    async with async_client(proxy.base_url) as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.chat.completions.create(model="GLM-4.5", messages=USER)
    assert caught.value.status_code == 502
    assert len(fake.completions) == 2
