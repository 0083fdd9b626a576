"""`/v1/responses` through the official `openai` SDK: text, reasoning, search, tools.

Every event and object is re-validated against the SDK's pydantic models
(`responses_helpers.strict_event`), so "the SDK's typed parsing accepts it" is checked, not
assumed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from tests.conftest import Proxy
from tests.e2e.helpers import async_client, sync_client
from tests.e2e.responses_helpers import (
    PLAIN,
    SEARCH,
    THINKING,
    TWO_CALLS,
    WEATHER_TOOLS,
    check_sequence,
    strict_response,
    text_deltas,
)
from tests.fakes.zai import FakeZai, Script

TEXT_ORDER = ["response.created", "response.in_progress", "response.output_item.added",
              "response.content_part.added"]
TEXT_END = ["response.output_text.done", "response.content_part.done",
            "response.output_item.done", "response.completed"]


def _upstream_messages(fake: FakeZai) -> list[dict[str, Any]]:
    return list(fake.completions[-1].json["messages"])


async def test_plain_text_non_streaming_sync(proxy: Proxy, fake: FakeZai) -> None:
    client = sync_client(proxy.base_url)
    response = await asyncio.to_thread(client.responses.create, model="GLM-4.6",
                                       input="你好，1+1等于几？", instructions="Be brief.")
    strict_response(response)
    assert response.status == "completed" and response.error is None
    assert response.output_text == PLAIN["expected_answer"]
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.status == "completed"
    assert message.content[0].type == "output_text" and message.content[0].annotations == []
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (12, 38, 50)
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert response.instructions == "Be brief." and response.store is True
    sent = _upstream_messages(fake)
    assert sent[0]["role"] == "system" and "Be brief." in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "你好，1+1等于几？"}


async def test_input_items_with_parts_and_developer_role(proxy: Proxy, fake: FakeZai) -> None:
    response = await async_client(proxy.base_url).responses.create(model="GLM-4.6", input=[
        {"role": "developer", "content": "Answer in English."},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "1+1?"},
                     {"type": "input_text", "text": "Explain."}]}])
    assert response.output_text == PLAIN["expected_answer"]
    sent = _upstream_messages(fake)
    assert sent[0]["role"] == "system" and "Answer in English." in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "1+1?\nExplain."}


async def test_plain_text_streaming_event_by_event(proxy: Proxy) -> None:
    stream = await async_client(proxy.base_url).responses.create(
        model="GLM-4.6", input="你好，1+1等于几？", stream=True)
    events = [event async for event in stream]
    types = check_sequence(events)
    assert types[:4] == TEXT_ORDER and types[-4:] == TEXT_END
    assert set(types[4:-4]) == {"response.output_text.delta"}
    assert text_deltas(events) == PLAIN["expected_answer"]
    done = events[-1].response
    assert done.status == "completed" and done.output_text == PLAIN["expected_answer"]
    assert events[-2].item.id == events[2].item.id == done.output[0].id
    assert events[-4].text == PLAIN["expected_answer"]
    assert done.usage is not None and done.usage.total_tokens == 50


async def test_plain_text_streaming_sync_create(proxy: Proxy) -> None:
    client = sync_client(proxy.base_url)

    def run() -> list[Any]:
        with client.responses.create(model="GLM-4.6", input="1+1?", stream=True) as stream:
            return list(stream)

    events = await asyncio.to_thread(run)
    assert check_sequence(events)[-1] == "response.completed"
    assert text_deltas(events) == events[-1].response.output_text == PLAIN["expected_answer"]


async def test_stream_helper_final_response_sync(proxy: Proxy) -> None:
    client = sync_client(proxy.base_url)

    def run() -> tuple[list[Any], Any]:
        with client.responses.stream(model="GLM-4.6", input="你好，1+1等于几？") as stream:
            events = list(stream)
            return events, stream.get_final_response()

    events, final = await asyncio.to_thread(run)
    check_sequence(events)
    strict_response(final)
    assert final.output_text == PLAIN["expected_answer"] == text_deltas(events)
    assert final.id == events[0].response.id


async def test_reasoning_item_non_streaming(proxy: Proxy) -> None:
    response = await async_client(proxy.base_url).responses.create(
        model="GLM-4.5-Thinking", input="你好，1+1等于几？", reasoning={"summary": "auto"})
    strict_response(response)
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert [s.text for s in reasoning.summary] == [THINKING["expected_reasoning"]]
    assert message.type == "message" and response.output_text == THINKING["expected_answer"]
    assert response.usage is not None
    assert 0 < response.usage.output_tokens_details.reasoning_tokens \
        <= response.usage.output_tokens


async def test_reasoning_streams_summary_events(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    async with client.responses.stream(model="GLM-4.7-Thinking", input="1+1?") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    types = check_sequence(events)
    assert types[2:4] == ["response.output_item.added",
                          "response.reasoning_summary_part.added"]
    reasoning = "".join(e.delta for e in events
                        if e.type == "response.reasoning_summary_text.delta")
    assert reasoning == THINKING["expected_reasoning"]
    assert types.index("response.reasoning_summary_text.done") \
        < types.index("response.reasoning_summary_part.done") \
        < types.index("response.content_part.added")
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == THINKING["expected_reasoning"]
    assert final.output_text == THINKING["expected_answer"]
    assert [e.output_index for e in events if e.type == "response.output_item.added"] == [0, 1]


async def test_reasoning_effort_switches_thinking(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    off = await client.responses.create(model="GLM-4.5-Thinking", input="1+1?",
                                        reasoning={"effort": "none"})
    assert fake.completions[-1].json["features"]["enable_thinking"] is False
    assert [item.type for item in off.output] == ["message"]
    await client.responses.create(model="GLM-4.5", input="1+1?", reasoning={"effort": "high"})
    assert fake.completions[-1].json["features"]["enable_thinking"] is True


async def test_search_annotations_non_streaming_and_streaming(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    response = await client.responses.create(model="GLM-4.5-Search", input="Redis 8?")
    strict_response(response)
    # the search answer interleaves rounds: reasoning, text, reasoning, the cited text
    assert [item.type for item in response.output] == ["reasoning", "message"] * 2
    part = response.output[-1].content[0]
    assert response.output[1].content[0].annotations == []
    assert {a.type for a in part.annotations} == {"url_citation"}
    assert {a.url for a in part.annotations} == {s["url"] for s in
                                                  SEARCH["expected_search_results"]}
    for note in part.annotations:
        assert note.url in part.text[note.start_index:note.end_index]
        assert note.title
    stream = await client.responses.create(model="GLM-4.5-Search", input="Redis 8?",
                                           stream=True)
    events = [event async for event in stream]
    check_sequence(events)
    added = [e.annotation for e in events if e.type == "response.output_text.annotation.added"]
    assert [a.url for a in added] == [a.url for a in part.annotations]
    assert events[-1].response.output_text == response.output_text


async def test_web_search_tool_turns_on_search(proxy: Proxy, fake: FakeZai) -> None:
    await async_client(proxy.base_url).responses.create(
        model="GLM-4.6", input="Redis 8?", tools=[{"type": "web_search"}])
    assert fake.completions[-1].json["features"]["web_search"] is True


async def test_function_call_round_trip(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    fake.push(Script(text=TWO_CALLS, delta_size=5, chunk_size=7))
    first = await client.responses.create(model="GLM-4.6", input="Weather and time in Paris?",
                                          tools=WEATHER_TOOLS)
    strict_response(first)
    assert [item.type for item in first.output] == ["message", "function_call",
                                                    "function_call"]
    assert first.output_text.strip() == "I'll check both."
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert all(c.call_id.startswith("call_") and c.id and c.id.startswith("fc_")
               for c in calls)
    assert "tools" not in fake.completions[-1].json  # rendered into the prompt instead

    fake.push(Script(text="Paris: 18°C and sunny, 14:05."))
    outputs = [{"type": "function_call_output", "call_id": calls[0].call_id,
                "output": "18°C, sunny"},
               {"type": "function_call_output", "call_id": calls[1].call_id,
                "output": "14:05"}]
    second = await client.responses.create(
        model="GLM-4.6", tools=WEATHER_TOOLS,
        input=[{"role": "user", "content": "Weather and time in Paris?"},
               *[item.to_dict() for item in first.output], *outputs])
    assert second.output_text == "Paris: 18°C and sunny, 14:05."
    history = _upstream_messages(fake)
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert "18°C, sunny" in history[-1]["content"] and "14:05" in history[-1]["content"]
    assert "get_weather" in history[2]["content"]


async def test_function_call_streaming_arguments(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text=TWO_CALLS, delta_size=3, chunk_size=5))
    client = async_client(proxy.base_url)
    async with client.responses.stream(model="GLM-4.6", input="Weather and time?",
                                       tools=WEATHER_TOOLS, tool_choice="auto") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    check_sequence(events)
    for done in (e for e in events if e.type == "response.function_call_arguments.done"):
        deltas = "".join(e.delta for e in events
                         if e.type == "response.function_call_arguments.delta"
                         and e.item_id == done.item_id)
        assert deltas == done.arguments and json.loads(done.arguments)
    items = [e.item for e in events if e.type == "response.output_item.done"]
    assert [i.type for i in items] == ["message", "function_call", "function_call"]
    assert [i.call_id for i in items[1:]] == [i.call_id for i in final.output[1:]]
    assert final.output[1].arguments == items[1].arguments


async def test_openapi_and_docs_describe_the_routes(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/openapi.json") as resp:
            spec = await resp.json()
        async with http.get(f"{proxy.url}/docs") as resp:
            page = await resp.text()
    validate(spec, cls=OpenAPIV31SpecValidator)
    paths = spec["paths"]
    assert set(paths["/v1/responses/{response_id}"]) == {"get", "delete"}
    assert "text/event-stream" in paths["/v1/responses"]["post"]["responses"]["200"]["content"]
    client = async_client(proxy.base_url)
    for model in ("GLM-4.5-Thinking", "GLM-4.5-Search"):
        response = await client.responses.create(model=model, input="1+1?")
        OAS31Validator({"$ref": "#/components/schemas/Response",
                        "components": spec["components"]}).validate(response.to_dict())
    assert 'id="responses-parameters-table"' in page
    assert "previous_response_id" in page and "/v1/responses/{response_id}" in page
