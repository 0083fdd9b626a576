"""Chat completions through the real proxy and the fake upstream, with the official SDK."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import MANIFEST, USER, async_client, collect_stream, sync_client
from tests.fakes.zai import FakeZai, Script

PLAIN = MANIFEST["plain_answer.sse"]
THINKING = MANIFEST["thinking_answer.sse"]


async def test_non_streaming_with_the_sync_sdk(proxy: Proxy) -> None:
    client = sync_client(proxy.base_url)
    reply = await asyncio.to_thread(client.chat.completions.create, model="GLM-4.5",
                                    messages=USER)
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.model == "GLM-4.5"
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == PLAIN["expected_answer"]
    assert choice.finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.model_dump(include={"prompt_tokens", "completion_tokens",
                                           "total_tokens"}) == PLAIN["expected_usage"]


async def test_streaming_with_the_sync_sdk(proxy: Proxy) -> None:
    def run() -> tuple[str, str | None]:
        stream = sync_client(proxy.base_url).chat.completions.create(
            model="glm-4.5", messages=USER, stream=True)
        text, finish = "", None
        for chunk in stream:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        return text, finish

    text, finish = await asyncio.to_thread(run)
    assert text == PLAIN["expected_answer"]
    assert finish == "stop"


async def test_streaming_reasoning_and_usage_with_the_async_sdk(proxy: Proxy) -> None:
    stream = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5-Thinking", messages=USER, stream=True,
        stream_options={"include_usage": True})
    out = await collect_stream(stream)
    assert out["reasoning"] == THINKING["expected_reasoning"]
    assert out["content"] == THINKING["expected_answer"]
    assert out["finish"] == "stop"
    assert out["usage_chunks"] == 1
    assert out["usage"].total_tokens == THINKING["expected_usage"]["total_tokens"]


async def test_usage_chunk_has_no_choices_and_comes_last(proxy: Proxy) -> None:
    body = {"model": "GLM-4.5", "messages": USER, "stream": True,
            "stream_options": {"include_usage": True}}
    events = await _raw_sse(proxy, body)
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"] == [] and last["usage"]["total_tokens"] == 50
    finish = json.loads(events[-3])
    assert finish["choices"][0]["finish_reason"] == "stop"


async def test_no_usage_without_include_usage(proxy: Proxy) -> None:
    stream = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER, stream=True)
    out = await collect_stream(stream)
    assert out["usage_chunks"] == 0
    assert out["content"] == PLAIN["expected_answer"]


async def test_non_streaming_reasoning_content(proxy: Proxy) -> None:
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=USER, extra_body={"enable_thinking": True})
    message = reply.choices[0].message
    assert (message.model_extra or {})["reasoning_content"] == THINKING["expected_reasoning"]
    assert message.content == THINKING["expected_answer"]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("fixture", ["plain_answer.sse", "thinking_answer.sse"])
async def test_awkward_byte_boundaries_lose_nothing(proxy: Proxy, fake: FakeZai,
                                                    fixture: str, chunk_size: int) -> None:
    fake.push(Script(fixture=fixture, chunk_size=chunk_size))
    stream = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER, stream=True)
    out = await collect_stream(stream)
    expected = MANIFEST[fixture]
    assert out["content"] == expected["expected_answer"]
    assert out["reasoning"] == expected["expected_reasoning"]


async def test_done_marker_from_upstream_is_accepted(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(fixture="plain_answer.sse", done_marker=True))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER)
    assert reply.choices[0].message.content == PLAIN["expected_answer"]


async def test_stop_sequence_cuts_the_stream(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="one two three STOP four five", delta_size=3))
    stream = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER, stream=True, stop=["STOP"])
    out = await collect_stream(stream)
    assert out["content"] == "one two three "
    assert out["finish"] == "stop"


async def test_stop_sequence_non_streaming(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="alpha\n\nbeta END gamma", delta_size=2))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER, stop=["END", "zzz"])
    assert reply.choices[0].message.content == "alpha\n\nbeta "


async def test_upstream_body_is_translated_and_signed(proxy: Proxy, fake: FakeZai) -> None:
    await async_client(proxy.base_url).chat.completions.create(
        model="glm-4.5-thinking-search", temperature=0.3, top_p=0.9, max_tokens=77,
        messages=[{"role": "developer", "content": "Be brief."},
                  {"role": "user", "content": [{"type": "text", "text": "Hello"},
                                               {"type": "text", "text": "there"}]}])
    sent = fake.completions[-1]
    body = sent.json
    assert body["model"] == "0727-360B-API"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1]["role"] == "user"
    assert body["params"] == {"temperature": 0.3, "top_p": 0.9, "max_tokens": 77}
    assert body["features"]["enable_thinking"] is True
    assert body["features"]["web_search"] is body["features"]["auto_web_search"] is True
    assert body["signature_prompt"] == "Hello\nthere"
    assert sent.query["signature_timestamp"] == sent.query["timestamp"]
    assert len(sent.headers["X-Signature"]) == 64
    assert "tools" not in body


async def test_request_fields_override_model_defaults(proxy: Proxy, fake: FakeZai) -> None:
    await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5-Thinking", messages=USER, extra_body={"enable_thinking": False})
    assert fake.completions[-1].json["features"]["enable_thinking"] is False


async def test_retry_after_401_is_signed_afresh(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(status=401))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER)
    assert reply.choices[0].message.content == PLAIN["expected_answer"]
    first, second = fake.completions[-2:]
    assert first.query["requestId"] != second.query["requestId"]
    assert first.headers["X-Signature"] != second.headers["X-Signature"]
    assert first.query["token"] != second.query["token"]  # the failed guest was replaced


async def test_user_tokens_are_preferred_over_guests(make_proxy: MakeProxy,
                                                     fake: FakeZai) -> None:
    fake.user_tokens["tok-user"] = "user-1"
    proxy = await make_proxy(upstream_tokens=("tok-user",))
    await async_client(proxy.base_url).chat.completions.create(model="GLM-4.5", messages=USER)
    assert fake.completions[-1].query["token"] == "tok-user"
    assert fake.completions[-1].query["user_id"] == "user-1"
    assert not fake.guest_tokens


async def test_stale_fe_version_is_rescraped_after_426(make_proxy: MakeProxy,
                                                      fake: FakeZai) -> None:
    proxy = await make_proxy()
    await async_client(proxy.base_url).chat.completions.create(model="GLM-4.5", messages=USER)
    fake.fe_version, fake.min_fe_version = "prod-fe-1.2.0", (1, 2, 0)
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER)
    assert reply.choices[0].message.content == PLAIN["expected_answer"]
    assert fake.completions[-1].headers["X-FE-Version"] == "prod-fe-1.2.0"


async def test_client_disconnect_releases_the_upstream(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="x" * 40, delta_size=4, hang_after_frames=3))
    body = {"model": "GLM-4.5", "messages": USER, "stream": True}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/chat/completions", json=body) as response:
            assert response.status == 200
            await response.content.readany()
    for _ in range(100):  # the fake counts the stream as active until its peer goes away
        if not any(fake.active.values()):
            break
        await asyncio.sleep(0.05)
    assert not any(fake.active.values())


async def _raw_sse(proxy: Proxy, body: dict[str, object]) -> list[str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/chat/completions", json=body) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            text = await response.text()
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]
