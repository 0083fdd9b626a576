"""Emulated tool calling through the real proxy, driven by the official SDK's own helpers.

The fake upstream answers with scripted text in which `{nonce}` becomes the nonce it finds in
the prompt, the way a model that follows the contract would write it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import async_client, collect_stream, sync_client
from tests.fakes.zai import FakeZai, Script

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "days": {"type": "integer"}},
                       "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "Local time in a time zone",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                       "required": ["tz"]}}},
]
TWO_CALLS = ("I'll check both.\n<tool_calls_{nonce}>\n"
             '<call name="get_weather">{"city": "Paris", "days": "2"}</call>\n'
             '<call name="get_time">{"tz": "Europe/Paris"}</call>\n'
             "</tool_calls_{nonce}>")
QUESTION = [{"role": "user", "content": "Weather and time in Paris?"}]


def assert_two_calls(calls: Any) -> None:
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "days": 2}  # coerced
    assert json.loads(calls[1].function.arguments) == {"tz": "Europe/Paris"}
    ids = [c.id for c in calls]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 2
    assert all(c.type == "function" for c in calls)


def follow_up(calls: Any) -> list[dict[str, Any]]:
    """The agent's next request: the assistant turn with both calls and both results."""
    assistant = {"role": "assistant", "content": "I'll check both.", "tool_calls": [
        {"id": c.id, "type": "function",
         "function": {"name": c.function.name, "arguments": c.function.arguments}}
        for c in calls]}
    results = [{"role": "tool", "tool_call_id": calls[0].id, "content": "18°C, sunny"},
               {"role": "tool", "tool_call_id": calls[1].id, "content": "14:05"}]
    return [*QUESTION, assistant, *results]


async def test_agent_loop_non_streaming(proxy: Proxy, fake: FakeZai) -> None:
    client = sync_client(proxy.base_url)
    fake.push(Script(text=TWO_CALLS, delta_size=5, chunk_size=7))
    first = await asyncio.to_thread(client.chat.completions.create, model="GLM-4.6",
                                    messages=QUESTION, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert (choice.message.content or "").strip() == "I'll check both."
    assert_two_calls(choice.message.tool_calls)
    sent = fake.completions[-1].json
    assert "tools" not in sent and "tool_choice" not in sent
    nonce = _nonce_of(sent)

    fake.push(Script(text="Paris: 18°C and sunny, 14:05 local time."))
    second = await asyncio.to_thread(client.chat.completions.create, model="GLM-4.6",
                                     messages=follow_up(choice.message.tool_calls), tools=TOOLS)
    assert second.choices[0].message.content == "Paris: 18°C and sunny, 14:05 local time."
    assert second.choices[0].finish_reason == "stop"
    history = fake.completions[-1].json["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert "<tool_result" in history[-1]["content"] and "18°C, sunny" in history[-1]["content"]
    assert "14:05" in history[-1]["content"]
    new_nonce = _nonce_of(fake.completions[-1].json)
    assert new_nonce != nonce  # a fresh nonce per request; history re-rendered with it
    assert f"<tool_calls_{new_nonce}>" in history[2]["content"]
    assert f"<tool_calls_{nonce}>" not in json.dumps(history)


async def test_agent_loop_streaming_with_sdk_accumulation(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    fake.push(Script(text=TWO_CALLS, delta_size=3, chunk_size=5))
    async with client.chat.completions.stream(model="GLM-4.6", messages=QUESTION,
                                              tools=TOOLS) as stream:
        indexes: list[int] = []
        async for event in stream:
            if event.type == "chunk" and event.chunk.choices:
                for call in event.chunk.choices[0].delta.tool_calls or []:
                    indexes.append(call.index)
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert (choice.message.content or "").strip() == "I'll check both."
    assert_two_calls(choice.message.tool_calls)
    assert sorted(set(indexes)) == [0, 1]
    assert "<tool_calls" not in (choice.message.content or "")

    fake.push(Script(text="Done: sunny, 14:05."))
    stream2 = await client.chat.completions.create(
        model="GLM-4.6", messages=follow_up(choice.message.tool_calls), tools=TOOLS,
        stream=True)
    out = await collect_stream(stream2)
    assert out["content"] == "Done: sunny, 14:05." and out["finish"] == "stop"


async def test_prose_is_streamed_before_the_block_completes(proxy: Proxy,
                                                            fake: FakeZai) -> None:
    text = "我来查一下 a < b 天气。\n<tool_calls_{nonce}>\n" + \
        '<call name="get_weather">{"city": "北京"}</call>\n</tool_calls_{nonce}>'
    fake.push(Script(text=text, delta_size=4, frame_delay=0.02))
    stream = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=QUESTION, tools=TOOLS, stream=True)
    seen, first_content_before_call = "", None
    async for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and delta.content:
            seen += delta.content
        if delta and delta.tool_calls and first_content_before_call is None:
            first_content_before_call = seen
            assert json.loads(delta.tool_calls[0].function.arguments or "{}") in (
                {}, {"city": "北京"})
    assert first_content_before_call is not None
    assert first_content_before_call.startswith("我来查一下 a < b 天气。")
    assert "<tool_" not in seen


async def test_tool_choice_none_leaves_markup_as_text(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="plain answer"))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=QUESTION, tools=TOOLS, tool_choice="none")
    assert reply.choices[0].message.content == "plain answer"
    assert reply.choices[0].message.tool_calls is None


async def test_named_tool_choice_must_exist(proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await async_client(proxy.base_url).chat.completions.create(
            model="GLM-4.6", messages=QUESTION, tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "launch_rocket"}})
    assert caught.value.param == "tool_choice"


async def test_bad_call_gets_one_corrective_retry(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text='<tool_calls_{nonce}>\n<call name="get_wether">{"city": "Oslo"}'
                          "</call>\n</tool_calls_{nonce}>"))
    fake.push(Script(text='<tool_calls_{nonce}>\n<call name="get_weather">{"city": "Oslo"}'
                          "</call>\n</tool_calls_{nonce}>"))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=QUESTION, tools=TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.name for c in choice.message.tool_calls or []] == ["get_weather"]
    assert not (choice.message.content or "").strip()
    retry = fake.completions[-1].json["messages"]
    assert "get_wether" in retry[-2]["content"]  # the model's own failed output
    assert "unknown tool name" in retry[-1]["content"] and "get_weather" in retry[-1]["content"]


async def test_failed_retry_returns_the_text_never_a_call(make_proxy: MakeProxy,
                                                          fake: FakeZai) -> None:
    proxy = await make_proxy()
    bad = ('<tool_calls_{nonce}>\n<call name="nope">{"x": 1}</call>\n</tool_calls_{nonce}>')
    fake.push(Script(text=bad))
    fake.push(Script(text=bad))
    stream = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=QUESTION, tools=TOOLS, stream=True)
    out = await collect_stream(stream)
    assert out["finish"] == "stop"
    assert 'name="nope"' in out["content"]


async def test_retries_off_releases_text_at_once(make_proxy: MakeProxy, fake: FakeZai) -> None:
    proxy = await make_proxy(tool_retry_max=0)
    fake.push(Script(text='<tool_calls_{nonce}>\n<call name="nope">{}</call>\n'
                          "</tool_calls_{nonce}>"))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=QUESTION, tools=TOOLS)
    assert 'name="nope"' in (reply.choices[0].message.content or "")
    assert len(fake.completions) == 1


async def test_tool_support_off_drops_tools(make_proxy: MakeProxy, fake: FakeZai) -> None:
    proxy = await make_proxy(tool_support=False)
    fake.push(Script(text="no tools here"))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=QUESTION, tools=TOOLS)
    assert reply.choices[0].message.content == "no tools here"
    assert "<tools>" not in json.dumps(fake.completions[-1].json["messages"])


def _nonce_of(body: dict[str, Any]) -> str:
    import re

    found = re.findall(r"<tool_calls_([A-Z0-9]{6})>", json.dumps(body["messages"]))
    assert found, "the prompt carries the opener"
    return str(found[-1])


async def test_keepalives_hold_the_client_during_a_retry(make_proxy: MakeProxy,
                                                         fake: FakeZai) -> None:
    import aiohttp

    proxy = await make_proxy(tool_keepalive_s=0.05)
    fake.push(Script(text='<tool_calls_{nonce}>\n<call name="nope">{}</call>\n'
                          "</tool_calls_{nonce}>"))
    fake.push(Script(text='<tool_calls_{nonce}>\n<call name="get_time">{"tz": "UTC"}</call>\n'
                          "</tool_calls_{nonce}>", frame_delay=0.1))
    body = {"model": "GLM-4.6", "messages": QUESTION, "tools": TOOLS, "stream": True}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/chat/completions", json=body) as response:
            sse = await response.text()
    assert ": keepalive" in sse
    assert '"name":"get_time"' in sse and '"finish_reason":"tool_calls"' in sse
    assert "nope" not in sse  # the failed block was held, then replaced by the retry's call


async def test_native_upstream_tool_call_for_a_declared_tool(proxy: Proxy,
                                                             fake: FakeZai) -> None:
    from tests.e2e.helpers import MANIFEST

    expected = MANIFEST["native_tool_call.sse"]
    fake.push(Script(fixture="native_tool_call.sse", chunk_size=9))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=QUESTION, tools=expected["request"]["tools"])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == expected["expected_answer_text_before_block"]
    got = [c.model_dump(include={"id", "type", "function"}) for c in choice.message.tool_calls]
    want = expected["expected_tool_calls"]
    assert [g["id"] for g in got] == [w["id"] for w in want]
    assert [g["function"]["name"] for g in got] == [w["function"]["name"] for w in want]
    assert [json.loads(g["function"]["arguments"]) for g in got] == \
        [json.loads(w["function"]["arguments"]) for w in want]


async def test_native_block_for_an_undeclared_tool_is_ignored(proxy: Proxy,
                                                              fake: FakeZai) -> None:
    fake.push(Script(fixture="native_tool_call.sse"))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=QUESTION, tools=TOOLS)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content == "Opening Google for you"


async def test_server_run_search_is_never_a_client_call(proxy: Proxy, fake: FakeZai) -> None:
    search_tool = {"type": "function", "function": {
        "name": "search", "parameters": {"type": "object",
                                         "properties": {"queries": {"type": "array"}}}}}
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5-Search", messages=QUESTION, tools=[search_tool])
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].finish_reason == "stop"
