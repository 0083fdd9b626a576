"""`/v1/responses` state and failures: previous_response_id, retrieve, delete, errors.

All through the official `openai` SDK, except where the raw wire is the point.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import openai
import pytest
from openai.types.responses import ResponseItem
from pydantic import TypeAdapter

from tests.conftest import Proxy
from tests.e2e.helpers import async_client, sync_client
from tests.e2e.responses_helpers import (
    PLAIN,
    TWO_CALLS,
    WEATHER_TOOLS,
    check_sequence,
    strict_event,
    strict_response,
)
from tests.e2e.test_errors import assert_error_shape
from tests.fakes.zai import FakeZai, Script

ITEM = TypeAdapter(ResponseItem)


def _roles_and_texts(fake: FakeZai) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in fake.completions[-1].json["messages"]]


async def test_previous_response_id_across_three_turns(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    fake.push(Script(text="Hello Ada."))
    first = await client.responses.create(model="GLM-4.6", input="My name is Ada.",
                                          instructions="You are terse.")
    fake.push(Script(text="Noted: you like tea."))
    second = await asyncio.to_thread(
        sync_client(proxy.base_url).responses.create, model="GLM-4.6",
        input="I like tea.", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    fake.push(Script(text="Ada, who likes tea."))
    stream = await client.responses.create(model="GLM-4.6", input="Who am I?",
                                           previous_response_id=second.id, stream=True)
    events = [event async for event in stream]
    check_sequence(events)
    third = events[-1].response
    assert third.output_text == "Ada, who likes tea."
    # instructions are not carried over from the first response (the API's rule)
    assert _roles_and_texts(fake) == [
        ("user", "My name is Ada."), ("assistant", "Hello Ada."),
        ("user", "I like tea."), ("assistant", "Noted: you like tea."),
        ("user", "Who am I?")]
    assert len({first.id, second.id, third.id}) == 3


async def test_chained_turns_continue_one_persisted_upstream_chat(proxy: Proxy,
                                                                  fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    previous: str | None = None
    for turn in range(3):
        response = await client.responses.create(model="GLM-4.7", input=f"question {turn}",
                                                 previous_response_id=previous)
        previous = response.id
    assert len([r for r in fake.requests if r.path == "/api/v1/chats/new"]) == 1
    (chat,) = fake.chats.values()
    assert chat.completions == 3
    sent = [r.json for r in fake.completions]
    assert [b["messages"] for b in sent] == [[{"role": "user", "content": f"question {i}"}]
                                             for i in range(3)]
    assert {b["chat_id"] for b in sent} == {chat.id}


async def test_retrieve_and_delete(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    created = await client.responses.create(model="GLM-4.6", input="1+1?",
                                            metadata={"ticket": "42"})
    fetched = await client.responses.retrieve(created.id)
    strict_response(fetched)
    assert fetched.to_dict() == created.to_dict()
    assert fetched.metadata == {"ticket": "42"}
    assert await client.responses.delete(created.id) is None
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.retrieve(created.id)
    assert caught.value.code == "response_not_found"
    with pytest.raises(openai.NotFoundError):
        await client.responses.delete(created.id)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="GLM-4.6", input="again?",
                                      previous_response_id=created.id)
    assert bad.value.code == "previous_response_not_found"
    assert bad.value.param == "previous_response_id"


async def test_input_items_are_listed_and_paged(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    created = await client.responses.create(model="GLM-4.6", input=[
        {"role": "developer", "content": "rules"},
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "ok", "annotations": []}]},
        {"role": "user", "content": "second"}])
    newest_first = [item async for item in client.responses.input_items.list(created.id,
                                                                              limit=3)]
    for item in newest_first:
        ITEM.validate_python(item.to_dict())
    assert [(i.type, i.role) for i in newest_first] == [
        ("message", "user"), ("message", "assistant"), ("message", "user"),
        ("message", "developer")]
    assert newest_first[0].content[0].text == "second"
    assert newest_first[1].content[0].type == "output_text"
    assert len({i.id for i in newest_first}) == 4
    page = await client.responses.input_items.list(created.id, limit=3, order="asc")
    assert page.has_more and [i.id for i in page.data] == [i.id for i in newest_first][:0:-1]
    again = await client.responses.input_items.list(created.id, order="asc")
    assert [i.id for i in again.data] == [i.id for i in page.data] + [newest_first[0].id]
    with pytest.raises(openai.BadRequestError):
        await client.responses.input_items.list(created.id, limit=1000)
    with pytest.raises(openai.NotFoundError):
        await client.responses.input_items.list("resp_nope")


async def test_streamed_responses_are_stored(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    async with client.responses.stream(model="GLM-4.6", input="1+1?") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    fetched = await client.responses.retrieve(final.id)
    assert fetched.output_text == final.output_text == PLAIN["expected_answer"]
    assert fetched.status == "completed" and fetched.usage == final.usage


async def test_store_false_is_not_kept(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    created = await client.responses.create(model="GLM-4.6", input="1+1?", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="GLM-4.6", input="x",
                                      previous_response_id=created.id)
    assert bad.value.code == "previous_response_not_found"


async def test_tool_outputs_continue_a_stored_response(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    fake.push(Script(text=TWO_CALLS))
    first = await client.responses.create(model="GLM-4.6", input="Weather and time?",
                                          tools=WEATHER_TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    fake.push(Script(text="Sunny, 14:05."))
    second = await client.responses.create(
        model="GLM-4.6", tools=WEATHER_TOOLS, previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": c.call_id, "output": out}
               for c, out in zip(calls, ["sunny", "14:05"], strict=True)])
    assert second.output_text == "Sunny, 14:05."
    listed = [item async for item in client.responses.input_items.list(second.id,
                                                                        order="asc")]
    assert [(i.type, i.call_id) for i in listed] == [("function_call_output", c.call_id)
                                                     for c in calls]
    assert all(i.id.startswith("fco_") and i.status == "completed" for i in listed)
    history = fake.completions[-1].json["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert "sunny" in history[-1]["content"] and "14:05" in history[-1]["content"]


async def test_json_object_format_asks_for_json(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text='{"answer": 2}'))
    response = await async_client(proxy.base_url).responses.create(
        model="GLM-4.6", input="1+1 as JSON", text={"format": {"type": "json_object"}})
    assert json.loads(response.output_text) == {"answer": 2}
    assert response.text is not None and response.text.format.type == "json_object"
    assert "valid JSON" in fake.completions[-1].json["messages"][0]["content"]


async def test_max_output_tokens_reached_is_incomplete(proxy: Proxy, fake: FakeZai) -> None:
    # the proxy cuts at the estimate (4 characters a token): 5 tokens keep 20 characters
    text = "a long answer that goes on and on"
    fake.push(Script(text=text))
    stream = await async_client(proxy.base_url).responses.create(
        model="GLM-4.6", input="Tell me", max_output_tokens=5, stream=True)
    events = [event async for event in stream]
    check_sequence(events)
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.status == "incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert events[-1].response.output_text == text[:20]


# --- errors ------------------------------------------------------------------------------


async def _post(proxy: Proxy, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/responses", json=body) as response:
            return response.status, await response.json()


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "hi"}, "model"),
    ({"model": "GLM-4.6"}, "input"),
    ({"model": "GLM-4.6", "input": 5}, "input"),
    ({"model": "GLM-4.6", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "GLM-4.6", "input": [{"type": "function_call", "name": "f"}]},
     "input[0].call_id"),
    ({"model": "GLM-4.6", "input": [{"type": 7}]}, "input[0].type"),
    ({"model": "GLM-4.6", "input": "x", "tools": [{"type": "computer_use"}]},
     "tools[0].type"),
    ({"model": "GLM-4.6", "input": "x", "tool_choice": "sometimes"}, "tool_choice"),
    ({"model": "GLM-4.6", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format"),
    ({"model": "GLM-4.6", "input": "x", "reasoning": {"effort": "extreme"}},
     "reasoning.effort"),
    ({"model": "GLM-4.6", "input": "x", "reasoning": {"summary": "long"}},
     "reasoning.summary"),
    ({"model": "GLM-4.6", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "GLM-4.6", "input": "x", "temperature": 3}, "temperature"),
    ({"model": "GLM-4.6", "input": "x", "background": True}, "background"),
    ({"model": "GLM-4.6", "input": [{"role": "assistant", "content": "only me"}]}, "input"),
])
async def test_bad_requests_name_the_parameter(proxy: Proxy, body: dict[str, Any],
                                               param: str) -> None:
    status, payload = await _post(proxy, body)
    assert status == 400
    assert assert_error_shape(payload)["param"] == param


async def test_sdk_errors_for_unknown_model_and_id(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.create(model="no-such-model", input="hi")
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as missing:
        await client.responses.retrieve("resp_doesnotexist")
    assert missing.value.code == "response_not_found"
    assert "resp_doesnotexist" in missing.value.message


async def test_upstream_failure_before_output_is_an_http_error(proxy: Proxy,
                                                               fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    for stream in (False, True):
        fake.push(Script(status=405))  # a WAF block: not retried on another session
        with pytest.raises(openai.APIStatusError) as caught:
            await client.responses.create(model="GLM-4.6", input="hi", stream=stream)
        assert caught.value.status_code == 502 and caught.value.code == "waf_blocked"


async def test_drop_mid_stream_fails_the_response(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(fixture="plain_answer.sse", drop_after_frames=3))
    stream = await async_client(proxy.base_url).responses.create(
        model="GLM-4.6", input="hi", stream=True)
    events = [event async for event in stream]
    check_sequence(events)
    error, failed = events[-2:]
    assert error.type == "error" and error.code == "upstream_unavailable" and error.message
    assert failed.type == "response.failed"
    assert failed.response.status == "failed"
    assert failed.response.error is not None and failed.response.error.code == "server_error"
    dones = [e for e in events if e.type == "response.output_item.done"]
    assert [d.item.status for d in dones] == ["incomplete"]  # what arrived is kept
    assert dones[0].item.content[0].text.startswith("你好")
    with pytest.raises(openai.NotFoundError):  # a failed response is not stored
        await async_client(proxy.base_url).responses.retrieve(failed.response.id)


async def test_drop_mid_stream_with_stream_helper(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(fixture="plain_answer.sse", drop_after_frames=3))
    client = async_client(proxy.base_url)
    async with client.responses.stream(model="GLM-4.6", input="hi") as stream:
        async for event in stream:
            strict_event(event)
        with pytest.raises(RuntimeError, match="response.completed"):
            await stream.get_final_response()


async def test_drop_non_streaming_is_502(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(fixture="plain_answer.sse", drop_after_frames=3))
    status, payload = await _post(proxy, {"model": "GLM-4.6", "input": "hi"})
    assert status == 502
    assert assert_error_shape(payload)["code"] == "upstream_unavailable"


async def test_requests_are_recorded_with_their_front_door(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    await client.responses.create(model="GLM-4.6", input="1+1?", stream=True)
    await client.chat.completions.create(model="GLM-4.6",
                                         messages=[{"role": "user", "content": "1+1?"}])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/dashboard/requests") as resp:
            rows = (await resp.json())["data"]
    chat, responses = rows[0], rows[1]  # newest first
    assert (responses["api"], responses["path"], responses["stream"]) == (
        "responses", "/v1/responses", True)
    assert (responses["prompt_tokens"], responses["completion_tokens"]) == (12, 38)
    assert responses["ttft_ms"] is not None and responses["ok"]
    assert chat["api"] == "chat_completions"
