"""K2Think and LongCat through the real proxy, with the official openai SDK, against their
fakes over real sockets: answers streaming and not, reasoning, emulated tool calls, search
citations, per-token failure handling, the missing-credential 503."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import pytest
from pytest_aiohttp import AiohttpServer

from tests.conftest import MakeProxy, Proxy
from tests.e2e.anthropic_clients import async_client as anthropic_client
from tests.e2e.helpers import async_client, collect_stream, sync_client
from tests.fakes.k2think import FakeK2Think, K2Script
from tests.fakes.longcat import DEFAULT_RESULTS, FakeLongCat, LCScript
from zproxy.keys import TOKEN_SERVICE

TOKEN = "AgEGfake-passport"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@dataclass
class Setup:
    proxy: Proxy
    k2: FakeK2Think
    lc: FakeLongCat


Start = Callable[..., Awaitable[Setup]]


@pytest.fixture
async def start(make_proxy: MakeProxy, aiohttp_server: AiohttpServer) -> Start:
    async def go(*, k2: FakeK2Think | None = None, lc: FakeLongCat | None = None,
                 **overrides: Any) -> Setup:
        k2 = k2 or FakeK2Think()
        lc = lc or FakeLongCat(tokens=[TOKEN])
        k2_url = str((await aiohttp_server(k2.app)).make_url("/")).rstrip("/")
        lc_url = str((await aiohttp_server(lc.app)).make_url("/")).rstrip("/")
        settings = {"k2think_base": k2_url, "longcat_base": lc_url,
                    "longcat_tokens": (TOKEN,), **overrides}
        return Setup(await make_proxy(**settings), k2, lc)

    return go


async def test_models_list_both_providers(start: Start) -> None:
    s = await start()
    models = {m.id: m for m in (await async_client(s.proxy.base_url).models.list()).data}
    assert models["K2-Think"].owned_by == "MBZUAI"
    assert models["LongCat-Search"].owned_by == "meituan"
    extra = models["LongCat-Search"].model_extra or {}
    assert extra["provider"] == "longcat" and extra["capabilities"]["web_search"] is True
    assert (models["K2-Think"].model_extra or {})["capabilities"]["reasoning"] is True
    assert "GLM-4.6" in models  # Z.AI is still there


async def test_k2think_non_stream_sync_sdk_has_reasoning(start: Start) -> None:
    s = await start(k2=FakeK2Think(markup="2025"))
    s.k2.push(K2Script(text="2 + 2 = 4", reasoning="The user asks for 2+2."))
    client = sync_client(s.proxy.base_url)
    reply = await asyncio.to_thread(client.chat.completions.create, model="K2-Think",
                                    messages=[{"role": "user", "content": "2+2?"}])
    message = reply.choices[0].message
    assert message.content == "2 + 2 = 4" and reply.model == "K2-Think"
    assert (message.model_extra or {}).get("reasoning_content") == "The user asks for 2+2."
    assert reply.choices[0].finish_reason == "stop"
    assert s.k2.completions[-1].json["model"] == "MBZUAI-IFM/K2-Think-v2"


async def test_k2think_stream_async_sdk(start: Start) -> None:
    s = await start(k2=FakeK2Think(chunk_size=5))
    s.k2.push(K2Script(text="Vier – 4 ✓", reasoning="Zwei und zwei."))
    stream = await async_client(s.proxy.base_url).chat.completions.create(
        model="K2-Think", messages=[{"role": "user", "content": "2+2?"}], stream=True,
        stream_options={"include_usage": True})
    got = await collect_stream(stream)
    assert got["content"] == "Vier – 4 ✓" and got["reasoning"] == "Zwei und zwei."
    assert got["finish"] == "stop" and got["usage"] is not None


async def test_longcat_stream_sync_and_non_stream_async(start: Start) -> None:
    s = await start()
    s.lc.push(LCScript(text="你好！有什么可以帮你？", reasoning="想一想"))
    s.lc.push(LCScript(text="Hello there", reasoning="hm"))

    def run() -> tuple[str, str]:
        text = reasoning = ""
        for chunk in sync_client(s.proxy.base_url).chat.completions.create(
                model="LongCat-Flash-Thinking", messages=[{"role": "user", "content": "你好"}],
                stream=True):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                reasoning += (chunk.choices[0].delta.model_extra or {}).get(
                    "reasoning_content") or ""
        return text, reasoning

    assert await asyncio.to_thread(run) == ("你好！有什么可以帮你？", "想一想")
    reply = await async_client(s.proxy.base_url).chat.completions.create(
        model="LongCat-Flash-Thinking", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello there"
    assert (reply.choices[0].message.model_extra or {}).get("reasoning_content") == "hm"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    for _ in range(200):  # session deletes run in the background
        if not s.lc.sessions:
            break
        await asyncio.sleep(0.01)
    assert not s.lc.sessions and len(s.lc.deleted) == 2


async def test_longcat_search_gives_citations(start: Start) -> None:
    s = await start()
    s.lc.push(LCScript(text="LongCat is Meituan's model.", search=list(DEFAULT_RESULTS)))
    reply = await async_client(s.proxy.base_url).chat.completions.create(
        model="LongCat-Search", messages=[{"role": "user", "content": "What is LongCat?"}])
    message = reply.choices[0].message
    assert s.lc.completions[-1].json["searchEnabled"] == 1
    content = message.content or ""
    assert content.startswith("LongCat is Meituan's model.")
    listing = content.split("Sources:\n", 1)[1].splitlines()
    assert listing == [f"{n}. [{r['title']}]({r['url']})"
                       for n, r in enumerate(DEFAULT_RESULTS, start=1)]
    cited = [a.url_citation for a in message.annotations or [] if a.type == "url_citation"]
    assert [c.url for c in cited] == [r["url"] for r in DEFAULT_RESULTS]
    assert all(content[c.start_index:c.end_index].endswith(f"({c.url})") for c in cited)


@pytest.mark.parametrize("model", ["K2-Think", "LongCat-Flash"])
async def test_emulated_tool_calls_on_each_provider(start: Start, model: str) -> None:
    s = await start()
    client = async_client(s.proxy.base_url)
    reply = await client.chat.completions.create(model=model, messages=ASK, tools=TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = (choice.message.tool_calls or [])[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    stream = await client.chat.completions.create(model=model, messages=ASK, tools=TOOLS,
                                                  stream=True)
    names, finish = [], None
    async for chunk in stream:
        if chunk.choices:
            names += [c.function.name for c in chunk.choices[0].delta.tool_calls or []
                      if c.function and c.function.name]
            finish = chunk.choices[0].finish_reason or finish
    assert names == ["get_weather"] and finish == "tool_calls"


async def test_a_refused_longcat_token_is_rested_alone(start: Start) -> None:
    # LONGCAT_TOKEN lives in the admin store, so the pool's failure rules rest it: with a
    # threshold of one, the first refusal does; the background user-current check then
    # confirms the cookie dead.
    s = await start(lc=FakeLongCat(tokens=["good"]), longcat_tokens=("dead", "good"),
                    token_failure_threshold=1)
    client = async_client(s.proxy.base_url)
    for _ in range(3):
        reply = await client.chat.completions.create(
            model="LongCat-Flash", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content
    creates = [r.cookies.get("passport_token_key") for r in s.lc.requests
               if r.path.endswith("session-create")]
    assert creates.count("dead") == 1 and creates.count("good") == 3
    other = await client.chat.completions.create(
        model="K2-Think", messages=[{"role": "user", "content": "hi"}])
    assert other.choices[0].message.content  # K2Think untouched by LongCat's refusal


async def test_longcat_without_a_token_is_an_explained_503(start: Start) -> None:
    s = await start(longcat_tokens=())
    with pytest.raises(openai.APIStatusError) as caught:
        await async_client(s.proxy.base_url).chat.completions.create(
            model="LongCat-Flash", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503
    assert "LONGCAT_TOKEN" in caught.value.message
    reply = await async_client(s.proxy.base_url).chat.completions.create(
        model="K2-Think", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content  # K2Think answers guests


async def test_k2think_upstream_model_gone_is_a_clear_error(start: Start) -> None:
    s = await start(k2=FakeK2Think(models=("MBZUAI-IFM/K2-Think",)))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{s.proxy.base_url}/chat/completions", json={
                "model": "K2-Think", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": "Bearer sk-test"}) as response:
            body = await response.json()
    assert response.status == 502
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "Model not found" in body["error"]["message"]


async def test_longcat_search_streaming_lists_sources(start: Start) -> None:
    s = await start()
    s.lc.push(LCScript(text="Short answer.", search=list(DEFAULT_RESULTS), step=3))
    stream = await async_client(s.proxy.base_url).chat.completions.create(
        model="LongCat-Search", messages=[{"role": "user", "content": "LongCat?"}],
        stream=True)
    got = await collect_stream(stream)
    assert got["content"].startswith("Short answer.") and got["finish"] == "stop"
    assert all(r["url"] in got["content"] for r in DEFAULT_RESULTS)


async def test_anthropic_and_responses_front_doors_reach_both(start: Start) -> None:
    s = await start()
    s.k2.push(K2Script(text="From K2.", reasoning="thinking"))
    s.lc.push(LCScript(text="From LongCat."))
    message = await anthropic_client(s.proxy).messages.create(
        model="K2-Think", max_tokens=200, messages=[{"role": "user", "content": "hi"}])
    assert [b.text for b in message.content if b.type == "text"] == ["From K2."]
    response = await async_client(s.proxy.base_url).responses.create(
        model="LongCat-Flash", input="hi")
    assert response.output_text == "From LongCat."


async def test_stored_longcat_tokens_serve_and_a_refused_one_rests_alone(start: Start) -> None:
    """Tokens added to the admin store for LongCat (the provider column) serve its models;
    the shared pool rests the one LongCat refuses (at its TOKEN_FAILURE_THRESHOLD) and keeps
    the other serving."""
    s = await start(lc=FakeLongCat(tokens=["stored-good"]), longcat_tokens=(),
                    token_failure_threshold=1)
    client = async_client(s.proxy.base_url)
    with pytest.raises(openai.APIStatusError):  # nothing configured yet: the 503
        await client.chat.completions.create(model="LongCat-Flash", messages=ASK)
    await s.proxy.app[TOKEN_SERVICE].add(["stored-dead", "stored-good"], provider="longcat")
    for _ in range(3):
        reply = await client.chat.completions.create(model="LongCat-Flash", messages=[
            {"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content
    creates = [r.cookies.get("passport_token_key") for r in s.lc.requests
               if r.path.endswith("session-create")]
    assert creates.count("stored-dead") == 1 and creates.count("stored-good") == 3
