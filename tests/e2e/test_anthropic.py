"""`/v1/messages` through the real proxy, driven by the official `anthropic` SDK (sync and
async, `messages.create`, `messages.stream` and its helpers, `count_tokens`).

The fake upstream answers with scripted text; `{nonce}` in a script becomes the tool-call nonce
it finds in the prompt, as a model that follows the contract would write it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pytest

from tests.conftest import Proxy
from tests.e2e.anthropic_clients import QUESTION, async_client, dumped, sync_client
from tests.fakes.zai import FakeZai, Script

TOOLS: list[Any] = [
    {"name": "get_weather", "description": "Current weather for a city",
     "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                       "days": {"type": "integer"}},
                      "required": ["city"]}},
    {"name": "get_time", "description": "Local time in a time zone",
     "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}},
                      "required": ["tz"]}},
]
WEATHER_ARGS = {"city": "Paris", "days": 2}
TIME_ARGS = {"tz": "Europe/Paris"}
TWO_CALLS = ("I'll check both.\n<tool_calls_{nonce}>\n"
             f'<call name="get_weather">{json.dumps(WEATHER_ARGS)}</call>\n'
             f'<call name="get_time">{json.dumps(TIME_ARGS)}</call>\n'
             "</tool_calls_{nonce}>")


# --- plain text ------------------------------------------------------------------------------

async def test_create_plain_text_sync(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="Hello from GLM!", delta_size=4))
    reply = await asyncio.to_thread(
        sync_client(proxy).messages.create, model="claude-sonnet-4-5-20250929",
        max_tokens=1024, messages=[{"role": "user", "content": "Hi"}])
    assert reply.id.startswith("msg_") and reply.type == "message"
    assert reply.role == "assistant" and reply.model == "claude-sonnet-4-5-20250929"
    assert [b.type for b in reply.content] == ["text"]
    assert reply.content[0].text == "Hello from GLM!"
    assert reply.stop_reason == "end_turn" and reply.stop_sequence is None
    sent = fake.completions[-1].json
    assert reply.usage.input_tokens == sent_prompt_tokens(sent)
    assert reply.usage.output_tokens > 0
    assert reply.usage.cache_read_input_tokens == 0
    assert reply.usage.cache_creation_input_tokens == 0
    assert sent["model"] == "GLM-4-6-API-V1"  # sonnet → GLM-4.6 by default
    assert sent["params"]["max_tokens"] == 1024
    assert reply._request_id and reply._request_id.startswith("req_")


def sent_prompt_tokens(sent: dict[str, Any]) -> int:
    """What the fake reports as prompt tokens for what it was sent (tests/fakes default)."""
    from tests.fakes.zai_script import default_usage
    return int(default_usage(sent["messages"], "")["prompt_tokens"])


async def test_stream_plain_text_async_matches_non_stream(proxy: Proxy,
                                                          fake: FakeZai) -> None:
    client = async_client(proxy)
    fake.push(Script(text="Streaming works, block by block.", delta_size=3, chunk_size=7))
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=256,
                                      messages=[{"role": "user", "content": "Hi"}]) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == "Streaming works, block by block."
    assert len(texts) > 1  # streamed, not buffered
    fake.push(Script(text="Streaming works, block by block."))
    whole = await client.messages.create(model="claude-sonnet-4-5", max_tokens=256,
                                         messages=[{"role": "user", "content": "Hi"}])
    assert dumped(final) == dumped(whole)
    assert (final.stop_reason, final.stop_sequence) == (whole.stop_reason, whole.stop_sequence)
    assert final.usage.input_tokens == whole.usage.input_tokens
    assert final.usage.output_tokens == whole.usage.output_tokens


async def test_stream_sync_helpers(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="one two three", delta_size=2))

    def run() -> tuple[list[str], anthropic.types.Message, list[str]]:
        with sync_client(proxy).messages.stream(
                model="claude-3-5-haiku-20241022", max_tokens=64,
                messages=[{"role": "user", "content": "Count"}]) as stream:
            kinds = [event.type for event in stream]
            return kinds, stream.get_final_message(), []

    kinds, final, _ = await asyncio.to_thread(run)
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "text" in kinds
    assert final.content[0].text == "one two three"
    assert fake.completions[-1].json["model"] == "0727-106B-API"  # haiku → GLM-4.5-Air


# --- thinking --------------------------------------------------------------------------------

async def test_thinking_block_first_then_text(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy)
    fake.push(Script(thinking="The user greets me.\nI answer politely.", text="Hello!",
                     delta_size=5))
    async with client.messages.stream(
            model="claude-opus-4-1", max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 2048},
            messages=[{"role": "user", "content": "Hi"}]) as stream:
        thinking = "".join([e.thinking async for e in stream if e.type == "thinking"])
        final = await stream.get_final_message()
    assert fake.completions[-1].json["features"]["enable_thinking"] is True
    assert [b.type for b in final.content] == ["thinking", "text"]
    block = final.content[0]
    assert block.type == "thinking"
    assert block.thinking == thinking == "The user greets me.\nI answer politely."
    assert block.signature  # non-empty, SDK-valid
    assert final.content[1].text == "Hello!"
    fake.push(Script(thinking="The user greets me.\nI answer politely.", text="Hello!"))
    whole = await client.messages.create(
        model="claude-opus-4-1", max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Hi"}])
    assert dumped(whole) == dumped(final)  # same signature both ways


async def test_thinking_disabled_turns_reasoning_off(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="ok"))
    await async_client(proxy).messages.create(
        model="GLM-5", max_tokens=64, thinking={"type": "disabled"},
        messages=[{"role": "user", "content": "Hi"}])
    assert fake.completions[-1].json["features"]["enable_thinking"] is False


# --- tools -----------------------------------------------------------------------------------

def _tool_uses(message: anthropic.types.Message) -> list[anthropic.types.ToolUseBlock]:
    return [b for b in message.content if b.type == "tool_use"]


async def test_two_turn_tool_loop_with_parallel_calls_streaming(proxy: Proxy,
                                                                fake: FakeZai) -> None:
    client = async_client(proxy)
    fake.push(Script(text=TWO_CALLS, delta_size=3, chunk_size=5))
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=1024,
                                      tools=TOOLS, messages=QUESTION) as stream:
        json_parts: dict[int, str] = {}
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                json_parts[event.index] = json_parts.get(event.index, "") + \
                    event.delta.partial_json
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text.strip() == "I'll check both."
    uses = _tool_uses(final)
    assert [u.name for u in uses] == ["get_weather", "get_time"]
    assert [u.input for u in uses] == [WEATHER_ARGS, TIME_ARGS]
    assert [json.loads(json_parts[i]) for i in (1, 2)] == [WEATHER_ARGS, TIME_ARGS]
    assert len({u.id for u in uses}) == 2
    sent = fake.completions[-1].json
    assert "tools" not in sent  # emulated: the tools are in the prompt

    fake.push(Script(text="Paris: 18°C and sunny; it is 14:05."))
    follow_up = [*QUESTION,
                 {"role": "assistant", "content": [b.model_dump() for b in final.content]},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": uses[0].id,
                      "content": [{"type": "text", "text": "18°C, sunny"}]},
                     {"type": "tool_result", "tool_use_id": uses[1].id, "content": "14:05"}]}]
    second = await client.messages.create(model="claude-sonnet-4-5", max_tokens=1024,
                                          tools=TOOLS, messages=follow_up)
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "Paris: 18°C and sunny; it is 14:05."
    history = fake.completions[-1].json["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert 'name="get_weather"' in history[2]["content"]
    assert "18°C, sunny" in history[3]["content"] and "14:05" in history[3]["content"]
    assert f'call_id="{uses[0].id}"' in history[3]["content"]


async def test_tool_loop_non_streaming_and_is_error_result(proxy: Proxy,
                                                           fake: FakeZai) -> None:
    client = sync_client(proxy)
    fake.push(Script(text=TWO_CALLS, delta_size=5))
    first = await asyncio.to_thread(client.messages.create, model="claude-opus-4-1",
                                    max_tokens=512, tools=TOOLS, messages=QUESTION)
    uses = _tool_uses(first)
    assert first.stop_reason == "tool_use" and [u.input for u in uses] == [WEATHER_ARGS,
                                                                           TIME_ARGS]
    fake.push(Script(text="The weather service failed; it is 14:05."))
    follow_up = [*QUESTION, {"role": "assistant", "content": first.content},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": uses[0].id, "is_error": True,
                      "content": "weather backend timed out"},
                     {"type": "tool_result", "tool_use_id": uses[1].id, "content": "14:05"},
                     {"type": "text", "text": "Sorry about that."}]}]
    await asyncio.to_thread(client.messages.create, model="claude-opus-4-1", max_tokens=512,
                            tools=TOOLS, messages=follow_up)
    last = fake.completions[-1].json["messages"][-1]["content"]
    failed = last.split("<tool_result")[1]
    assert 'status="error"' in failed and "weather backend timed out" in failed
    assert 'status="error"' not in last.split("<tool_result")[2]
    assert last.index("<tool_result") < last.index("Sorry about that.")  # results first


async def test_tool_choice_tool_and_none(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy)
    fake.push(Script(text="plain answer"))
    reply = await client.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                         tools=TOOLS, tool_choice={"type": "none"},
                                         messages=QUESTION)
    assert reply.content[0].text == "plain answer"
    fake.push(Script(text='<tool_calls_{nonce}>\n<call name="get_time">{"tz": "UTC"}</call>\n'
                          "</tool_calls_{nonce}>"))
    forced = await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, tools=TOOLS, messages=QUESTION,
        tool_choice={"type": "tool", "name": "get_time", "disable_parallel_tool_use": True})
    assert [u.input for u in _tool_uses(forced)] == [{"tz": "UTC"}]
    assert "get_time" in json.dumps(fake.completions[-1].json["messages"])
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model="claude-sonnet-4-5", max_tokens=64, tools=TOOLS,
                                     messages=QUESTION,
                                     tool_choice={"type": "tool", "name": "launch_rocket"})
    assert caught.value.body["error"]["type"] == "invalid_request_error"


# --- stop sequences, max_tokens --------------------------------------------------------------

async def test_stop_sequence_streaming_and_not(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy)
    fake.push(Script(text="alpha beta END gamma", delta_size=3))
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                                      stop_sequences=["NEVER", "END"],
                                      messages=[{"role": "user", "content": "go"}]) as stream:
        final = await stream.get_final_message()
    assert final.content[0].text == "alpha beta "
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "END")
    fake.push(Script(text="alpha beta END gamma"))
    whole = await client.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                         stop_sequences=["END"],
                                         messages=[{"role": "user", "content": "go"}])
    assert (whole.stop_reason, whole.stop_sequence) == ("stop_sequence", "END")
    assert dumped(whole) == dumped(final)


async def test_max_tokens_stop_reason(proxy: Proxy, fake: FakeZai) -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    client = async_client(proxy)
    fake.push(Script(text="a truncated answ", usage=usage))
    reply = await client.messages.create(model="claude-sonnet-4-5", max_tokens=5,
                                         messages=[{"role": "user", "content": "go"}])
    assert reply.stop_reason == "max_tokens"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (9, 5)
    fake.push(Script(text="a truncated answ", usage=usage))
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=5,
                                      messages=[{"role": "user", "content": "go"}]) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 5
    assert final.usage.input_tokens == 9


# --- count_tokens and models -----------------------------------------------------------------

async def test_count_tokens_matches_usage_and_grows(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy)
    base: dict[str, Any] = {"model": "claude-sonnet-4-5", "messages": QUESTION}
    small = await client.messages.count_tokens(**base)
    with_system = await client.messages.count_tokens(**base, system="You are terse. " * 40)
    with_tools = await client.messages.count_tokens(**base, tools=TOOLS)
    assert 0 < small.input_tokens < with_system.input_tokens
    assert small.input_tokens < with_tools.input_tokens
    fake.push(Script(text="ok"))
    async with client.messages.stream(max_tokens=64, tools=TOOLS, **base) as stream:
        start = [e async for e in stream if e.type == "message_start"][0]
    # message_start's input estimate is the very number count_tokens gives
    assert start.message.usage.input_tokens == with_tools.input_tokens


async def test_models_in_anthropic_shape_and_openai_shape(proxy: Proxy) -> None:
    client = async_client(proxy)
    ids = [model.id async for model in client.models.list(limit=5)]  # pages through all
    assert ids[:3] == ["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"]
    assert "GLM-4.6" in ids and len(ids) == len(set(ids)) > 5
    one = await client.models.retrieve("claude-sonnet-4-5-20250929")
    assert one.type == "model" and "GLM-4.6" in one.display_name
    assert one.created_at.year >= 2025
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.models.retrieve("gpt-nothing")
    assert caught.value.body["error"]["type"] == "not_found_error"
    import aiohttp
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.base_url}/models") as response:
            assert (await response.json())["object"] == "list"  # no anthropic-version


async def test_persisted_chat_continues_across_anthropic_turns(proxy: Proxy,
                                                               fake: FakeZai) -> None:
    """Same engine: a GLM-4.7 conversation over /v1/messages stays in one upstream chat."""
    client = async_client(proxy)
    history: list[Any] = []
    for turn in range(3):
        history.append({"role": "user", "content": f"question {turn}"})
        async with client.messages.stream(model="GLM-4.7", max_tokens=64, system="Be terse.",
                                          messages=history) as stream:
            final = await stream.get_final_message()
        history.append({"role": "assistant", "content": final.content})
    assert len([r for r in fake.requests if r.path == "/api/v1/chats/new"]) == 1
    assert next(iter(fake.chats.values())).completions == 3
    assert [b.json["messages"][0]["content"] for b in fake.completions] == [
        f"question {i}" for i in range(3)]
