"""The chats/new body against fixtures/zai/chats_new_request.json, and reading the reply."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.fakes.zai_script import resolve_fixtures_dir
from zproxy.providers.zai.chats import chat_id_from_response, chats_new_body

FIXTURES = resolve_fixtures_dir(None)

UID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
NOW_MS = 1767225600123


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"h{next(counter)}"


def build(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model_id": "glm-4.7", "history": [], "current": {"role": "user",
                                                          "content": "请用一句话回答：你好"},
        "user_message_id": UID, "new_id": ids(), "now_ms": NOW_MS, "enable_thinking": False,
        "web_search": False, "mcp_servers": [], "vision": False}
    kwargs.update(overrides)
    return chats_new_body(**kwargs)


def test_matches_fixture_exactly() -> None:
    expected = fixture("chats_new_request.json")
    body = build()
    assert body == expected
    assert list(body["chat"]) == list(expected["chat"])  # key order too
    node = body["chat"]["history"]["messages"][UID]
    assert list(node) == list(expected["chat"]["history"]["messages"][UID])


def test_history_is_chained_to_current_message() -> None:
    history = [{"role": "system", "content": "be brief"},
               {"role": "user", "content": [{"type": "text", "text": "hi"}]},
               {"role": "assistant", "content": "hello " * 200}]
    tree = build(history=history)["chat"]["history"]
    nodes = tree["messages"]
    assert list(nodes) == ["h1", "h2", "h3", UID]
    assert [nodes[i]["parentId"] for i in nodes] == [None, "h1", "h2", "h3"]
    assert [nodes[i]["childrenIds"] for i in nodes] == [["h2"], ["h3"], [UID], []]
    assert [nodes[i]["role"] for i in nodes] == ["system", "user", "assistant", "user"]
    assert nodes["h2"]["content"] == "hi"
    assert nodes["h3"]["content"] == "hello " * 200  # earlier turns keep their full text
    assert tree["currentId"] == UID
    assert {n["timestamp"] for n in nodes.values()} == {NOW_MS // 1000}


def test_current_message_is_cut_to_500_chars() -> None:
    long = "x" * 501
    node = build(current={"role": "user", "content": long})["chat"]["history"]["messages"][UID]
    assert node["content"] == "x" * 500 + "..."
    exact = build(current={"role": "user", "content": "y" * 500})
    assert exact["chat"]["history"]["messages"][UID]["content"] == "y" * 500


def test_flags_servers_and_files() -> None:
    files = [{"type": "image", "id": "f1"}]
    chat = build(enable_thinking=True, web_search=True, mcp_servers=("deep-web-search",),
                 files=files)["chat"]
    assert chat["enable_thinking"] is True and chat["auto_web_search"] is True
    assert chat["mcp_servers"] == ["deep-web-search"]
    assert chat["history"]["messages"][UID]["files"] == files
    assert "files" not in build()["chat"]["history"]["messages"][UID]


def test_vision_features() -> None:
    chat = build(vision=True, model_id="glm-4.6v")["chat"]
    assert chat["features"] == [
        {"type": "mcp", "server": "vlm-image-search", "status": "selected"},
        {"type": "mcp", "server": "vlm-image-recognition", "status": "selected"},
        {"type": "mcp", "server": "vlm-image-processing", "status": "selected"}]
    assert chat["models"] == ["glm-4.6v"]


def test_chat_id_from_fixture_response() -> None:
    assert chat_id_from_response(fixture("chats_new_response.json")) == (
        "4c0a8f2e-7b1d-4e3a-9f6c-2d5e8a1b3c70")


@pytest.mark.parametrize(("body", "expected"), [
    ({"chat": {"id": "c1"}}, "c1"),
    ({"id": "", "chat": {"id": "c2"}}, "c2"),
    ({"id": 5}, None),
    ({"detail": "nope"}, None),
    ([], None),
    (None, None),
])
def test_chat_id_shapes(body: Any, expected: str | None) -> None:
    assert chat_id_from_response(body) == expected
