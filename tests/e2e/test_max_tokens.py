"""`max_tokens` enforced by the proxy, seen through the official SDK (the web chat has no limit)."""

from __future__ import annotations

from tests.conftest import Proxy
from tests.e2e.helpers import USER, async_client, collect_stream
from tests.fakes.zai import FakeZai, Script

ANSWER = "The quick brown fox jumps over the lazy dog, twice over."
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}]


async def test_max_tokens_cuts_a_non_streamed_answer(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text=ANSWER, delta_size=5))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=USER, max_tokens=3)
    assert reply.choices[0].message.content == ANSWER[:12]
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 3


async def test_max_completion_tokens_cuts_a_stream(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text=ANSWER, delta_size=3))
    stream = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=USER, max_completion_tokens=4, stream=True,
        stream_options={"include_usage": True})
    got = await collect_stream(stream)
    assert got["content"] == ANSWER[:16] and got["finish"] == "length"
    assert got["usage"].completion_tokens == 4


async def test_a_limit_the_answer_fits_is_a_normal_stop(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text=ANSWER))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=USER, max_tokens=1000)
    assert reply.choices[0].message.content == ANSWER
    assert reply.choices[0].finish_reason == "stop"


async def test_a_tool_call_past_the_limit_is_not_sent(proxy: Proxy, fake: FakeZai) -> None:
    text = ('Let me look that up for you.\n<tool_calls_{nonce}>\n'
            '<call name="get_weather">{"city": "Paris"}</call>\n</tool_calls_{nonce}>')
    fake.push(Script(text=text))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6", messages=USER, max_tokens=2, tools=WEATHER)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Let me l"
    assert not reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "length"
