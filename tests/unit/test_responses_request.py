"""Responses request parsing and the items → chat messages mapping, and the response store."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from zproxy.api.responses.items import input_items_page, item_view, with_ids
from zproxy.api.responses.request import (
    items_to_messages,
    parse_responses_request,
    to_chat_request,
)
from zproxy.api.responses.store import MemoryResponseStore, StoredResponse
from zproxy.errors import ClientRequestError


def parse(**body: Any) -> Any:
    return parse_responses_request(orjson.dumps({"model": "GLM-4.6", **body}))


def test_string_input_and_defaults() -> None:
    req = parse(input="hi")
    assert req.input == ({"type": "message", "role": "user", "content": "hi"},)
    assert (req.store, req.stream, req.tool_choice, req.parallel_tool_calls) == (
        True, False, "auto", True)
    chat = to_chat_request(req)
    assert chat.messages == [{"role": "user", "content": "hi"}]
    assert chat.include_usage and chat.tools is None and chat.tool_choice is None


def test_items_map_to_chat_messages() -> None:
    items = parse(input=[
        {"role": "developer", "content": "rules"},
        {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                     {"type": "input_image", "image_url": "data:image/png;x"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},  # skipped
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "calling", "annotations": []}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"a":1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2",
         "output": [{"type": "input_text", "text": "two"}]},
    ]).input
    assert items_to_messages(items) == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url",
                                      "image_url": {"url": "data:image/png;x"}}]},
        {"role": "assistant", "content": "calling", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function",
             "function": {"name": "g", "arguments": '{"a":1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]


def test_function_call_without_preceding_text_opens_an_assistant_turn() -> None:
    items = [{"type": "message", "role": "user", "content": "q"},
             {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}]
    assert items_to_messages(items)[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]}


def test_history_comes_first_and_instructions_are_this_requests() -> None:
    req = parse(input="again", instructions="now")
    history = [{"type": "message", "role": "user", "content": "before"},
               {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}]}]
    assert to_chat_request(req, history).messages == [
        {"role": "system", "content": "now"}, {"role": "user", "content": "before"},
        {"role": "assistant", "content": "ok"}, {"role": "user", "content": "again"}]


def test_options_map_onto_the_chat_request() -> None:
    req = parse(input="x", max_output_tokens=50, temperature=0.5, top_p=0.9,
                parallel_tool_calls=False, reasoning={"effort": "minimal", "summary": "auto"},
                text={"format": {"type": "json_schema", "name": "s", "schema": {}}},
                tools=[{"type": "function", "name": "f", "parameters": {"type": "object"},
                        "strict": True}, {"type": "web_search_preview"}],
                tool_choice={"type": "function", "name": "f"})
    chat = to_chat_request(req)
    assert (chat.max_tokens, chat.temperature, chat.top_p) == (50, 0.5, 0.9)
    assert chat.enable_thinking is False and chat.web_search is True
    assert chat.response_format == "json_schema" and chat.parallel_tool_calls is False
    assert chat.tools == [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object"}, "strict": True}}]
    assert chat.tool_choice == {"type": "function", "function": {"name": "f"}}
    assert req.tools[0]["name"] == "f" and len(req.tools) == 1  # echoed in Responses shape
    nested = parse(input="x", tools=[{"type": "function", "function": {"name": "g"}}])
    assert nested.tools[0]["name"] == "g"
    assert parse(input="x", reasoning={"effort": "low"}).enable_thinking is True
    assert parse(input="x").enable_thinking is None


@pytest.mark.parametrize(("raw", "param"), [
    (b"{", "body"), (b"[]", "body"), (b'{"input": "x"}', "model"),
    (b'{"model": "m", "input": [{"role": "user", "content": [{"type": "input_file"}]}]}',
     "input[0].content[0].type"),
    (b'{"model": "m", "input": [{"role": "user", "content": [{"type": "input_image",'
     b' "file_id": "f"}]}]}', "input[0].content[0].image_url"),
    (b'{"model": "m", "input": "x", "metadata": {"k": 1}}', "metadata"),
    (b'{"model": "m", "input": "x", "store": "yes"}', "store"),
    (b'{"model": "m", "input": "x", "conversation": "c"}', "conversation"),
])
def test_bad_input_names_the_parameter(raw: bytes, param: str) -> None:
    with pytest.raises(ClientRequestError) as caught:
        parse_responses_request(raw)
    assert caught.value.param == param


# --- the store ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def stored(n: int, previous: StoredResponse | None = None) -> StoredResponse:
    output = [{"type": "message", "role": "assistant", "content": f"a{n}"}]
    return StoredResponse({"id": f"resp_{n}", "output": output},
                          ({"type": "message", "role": "user", "content": f"q{n}"},), previous)


def test_store_expires_and_bounds() -> None:
    clock = Clock()
    store = MemoryResponseStore(max_entries=2, ttl_s=10, clock=clock)
    store.put(stored(1))
    store.put(stored(2))
    assert store.get("resp_1") is not None  # now the most recently used
    store.put(stored(3))
    assert store.get("resp_2") is None and len(store) == 2
    clock.now = 10.0
    assert store.get("resp_1") is None and store.get("resp_3") is None
    assert store.delete("resp_3") is False


def test_history_survives_eviction_of_ancestors() -> None:
    store = MemoryResponseStore(max_entries=1)
    first = stored(1)
    store.put(first)
    second = stored(2, first)
    store.put(second)
    assert store.get("resp_1") is None
    found = store.get("resp_2")
    assert found is not None
    assert [item["content"] for item in found.history()] == ["q1", "a1", "q2", "a2"]
    assert store.delete("resp_2") is True and store.get("resp_2") is None


# --- input item listing ---------------------------------------------------------------------


def test_item_ids_and_views() -> None:
    counter = iter(range(100))
    items = with_ids([{"type": "message", "role": "user", "content": [
        {"type": "input_image", "image_url": "data:x"}]},
        {"type": "function_call", "id": "fc_kept", "call_id": "c", "name": "f",
         "arguments": "{}"}], lambda prefix: f"{prefix}_{next(counter)}")
    assert [i["id"] for i in items] == ["msg_0", "fc_kept"]
    assert item_view(items[0])["content"] == [{"type": "input_image", "image_url": "data:x",
                                               "detail": "auto"}]
    assert item_view(items[1])["status"] == "completed"


def test_input_items_page_cursor() -> None:
    items = [{"type": "message", "role": "user", "content": str(i), "id": f"msg_{i}"}
             for i in range(5)]
    page = input_items_page(items, order="asc", limit=2, after="msg_1")
    assert [i["id"] for i in page["data"]] == ["msg_2", "msg_3"] and page["has_more"]
    assert (page["first_id"], page["last_id"]) == ("msg_2", "msg_3")
    assert input_items_page(items)["data"][0]["id"] == "msg_4"
    for bad in ({"order": "sideways"}, {"limit": 0}, {"after": "msg_9"}):
        with pytest.raises(ClientRequestError):
            input_items_page(items, **bad)  # type: ignore[arg-type]
