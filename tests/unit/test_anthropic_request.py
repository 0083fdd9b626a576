"""Anthropic request → ChatRequest, the Claude→GLM model map and model-list paging. Pure."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from tests.unit.fixture_data import planning_registry
from zproxy.api.anthropic.models import model_infos, page, upstream_model
from zproxy.api.anthropic.request import MessagesRequest, parse_messages_request
from zproxy.api.chat import plan_chat, prompt_tokens_estimate
from zproxy.config import Settings, load_settings
from zproxy.errors import ClientRequestError

PROVIDERS = planning_registry()
CATALOG = PROVIDERS.catalog
TABLE = Settings().anthropic_model_map
USER = [{"role": "user", "content": "hi"}]


def parse(body: dict[str, Any], **kw: Any) -> MessagesRequest:
    return parse_messages_request(orjson.dumps(body), resolve_model=lambda n: n, **kw)


def rejected(body: Any) -> ClientRequestError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(ClientRequestError) as caught:
        parse_messages_request(raw, resolve_model=lambda n: n)
    return caught.value


# --- model names -----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "target"), [
    ("claude-sonnet-4-5-20250929", "GLM-4.6"), ("claude-opus-4-1", "GLM-4.6"),
    ("claude-3-5-haiku-20241022", "GLM-4.5-Air"), ("claude-haiku-4-5[1m]", "GLM-4.5-Air"),
    ("claude-3-7-sonnet-20250219", "GLM-4.6"), ("claude-next-thing", "GLM-4.6"),
    ("haiku", "GLM-4.5-Air"), ("GLM-4.5", "GLM-4.5"), ("glm-4.7-thinking", "glm-4.7-thinking"),
    ("gpt-4o", "gpt-4o"),  # not ours, not Claude's: left for the catalogue's 404
])
def test_model_map_defaults(name: str, target: str) -> None:
    assert upstream_model(name, TABLE, CATALOG) == target


def test_model_map_is_configurable_and_ordered() -> None:
    settings = load_settings({"ANTHROPIC_MODEL_MAP": "3-5-haiku=GLM-4.5,haiku=GLM-5,*=GLM-4.7"},
                             env_files=[])
    table = settings.anthropic_model_map
    assert upstream_model("claude-3-5-haiku-latest", table, CATALOG) == "GLM-4.5"
    assert upstream_model("claude-haiku-4-5", table, CATALOG) == "GLM-5"
    assert upstream_model("claude-sonnet-4-5", table, CATALOG) == "GLM-4.7"


def test_model_map_rejects_malformed_pairs() -> None:
    from zproxy.config import ConfigError
    with pytest.raises(ConfigError, match="ANTHROPIC_MODEL_MAP"):
        load_settings({"ANTHROPIC_MODEL_MAP": "sonnet"}, env_files=[])


def test_model_list_paging() -> None:
    items = model_infos(TABLE, CATALOG)
    assert items[0]["id"] == "claude-opus-4-1" and items[0]["created_at"].endswith("Z")
    first = page(items, limit=2)
    assert [i["id"] for i in first["data"]] == ["claude-opus-4-1", "claude-sonnet-4-5"]
    assert first["has_more"] and first["last_id"] == "claude-sonnet-4-5"
    rest = page(items, limit=1000, after_id=first["last_id"])
    assert not rest["has_more"] and len(rest["data"]) == len(items) - 2
    back = page(items, limit=1, before_id="claude-sonnet-4-5")
    assert [i["id"] for i in back["data"]] == ["claude-opus-4-1"] and not back["has_more"]


# --- request mapping -------------------------------------------------------------------------

def test_system_blocks_join_and_billing_line_is_dropped() -> None:
    as_string = parse({"model": "m", "max_tokens": 5, "messages": USER, "system": "A\n\nB"})
    as_blocks = parse({"model": "m", "max_tokens": 5, "messages": USER, "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1; cch=abcde;"},
        {"type": "text", "text": "A", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}}]})
    assert as_string.chat.messages == as_blocks.chat.messages
    assert as_blocks.chat.messages[0] == {"role": "system", "content": "A\n\nB"}


def test_parameters_that_reach_the_engine() -> None:
    chat = parse({"model": "claude-x", "max_tokens": 99, "messages": USER, "temperature": 0.2,
                  "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"], "stream": True,
                  "metadata": {"user_id": "user_abc_session_1"},
                  "thinking": {"type": "adaptive"}, "context_management": {"edits": []},
                  "output_config": {"effort": "high"}, "service_tier": "auto"}).chat
    assert (chat.max_tokens, chat.temperature, chat.top_p) == (99, 0.2, 0.9)
    assert chat.stop == ("END",) and chat.stream and chat.include_usage
    assert chat.enable_thinking is True


def test_content_blocks_map_to_chat_messages() -> None:
    image = base64.b64encode(b"\x89PNG").decode()
    doc = base64.b64encode(b"plain doc").decode()
    chat = parse({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": image}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            {"type": "document", "title": "Doc", "source": {"type": "base64",
                                                             "media_type": "text/plain",
                                                             "data": doc}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "anything"},
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, "ü"]}}]},
        {"role": "user", "content": [
            {"type": "text", "text": "after"},
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
             "content": [{"type": "text", "text": "boom"}, {"type": "text", "text": "!"}]}]},
        {"role": "user", "content": "merged"}]}).chat
    user, assistant, tool, last = chat.messages
    assert user["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {"type": "text", "text": "Doc\nplain doc"}]
    assert assistant == {"role": "assistant", "content": "Calling.", "tool_calls": [
        {"id": "toolu_1", "type": "function",
         "function": {"name": "f", "arguments": '{"a":[1,"ü"]}'}}]}
    assert tool == {"role": "tool", "tool_call_id": "toolu_1", "content": "boom\n!",
                    "is_error": True}
    assert last == {"role": "user", "content": "after\n\nmerged"}  # same-role turns merged


def test_tools_and_tool_choice() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    chat = parse({"model": "m", "max_tokens": 5, "messages": USER, "tools": [
        {"name": "search", "description": "d", "input_schema": schema,
         "cache_control": {"type": "ephemeral"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True}}).chat
    assert chat.tools == [{"type": "function", "function": {"name": "search",
                                                            "description": "d",
                                                            "parameters": schema}}]
    assert chat.tool_choice == "required" and chat.parallel_tool_calls is False
    named = parse({"model": "m", "max_tokens": 5, "messages": USER,
                   "tool_choice": {"type": "tool", "name": "search"}}).chat
    assert named.tool_choice == {"type": "function", "function": {"name": "search"}}


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m", "messages": USER}, "max_tokens"),
    ({"model": "m", "max_tokens": "5", "messages": USER}, "max_tokens"),
    ({"max_tokens": 5, "messages": USER}, "model"),
    ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]},
     "messages.0.role"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 7}]},
     "messages.0.content"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "f", "input": "no"}]}]},
     "messages.0.content.0.input"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                        "data": "JVBERi0="}}]}]}, "messages.0.content.0"),
    ({"model": "m", "max_tokens": 5, "messages": USER, "temperature": 1.5}, "temperature"),
    ({"model": "m", "max_tokens": 5, "messages": USER, "thinking": {"type": "maybe"}},
     "thinking.type"),
    ({"model": "m", "max_tokens": 5, "messages": USER, "tool_choice": {"type": "all"}},
     "tool_choice.type"),
    ({"model": "m", "max_tokens": 5, "messages": USER, "tools": [{"name": "f"}]},
     "tools.0.input_schema"),
])
def test_bad_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    error = rejected(body)
    assert error.param == param and error.status == 400


def test_non_json_and_non_object_bodies() -> None:
    assert rejected(b"{nope").param == "body"
    assert rejected([1, 2]).param == "body"


def test_count_tokens_needs_no_max_tokens_and_grows_with_tools() -> None:
    settings = Settings()
    base = {"model": "GLM-4.6", "messages": USER}
    plain = parse(base, count_only=True).chat
    assert plain.max_tokens is None and not plain.stream
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    counts = [prompt_tokens_estimate(plan_chat(parse(b, count_only=True).chat, PROVIDERS,
                                               settings))
              for b in (base, {**base, "system": "be brief " * 50}, {**base, "tools": tools})]
    assert counts[0] < counts[1] and counts[0] < counts[2]


def test_count_tokens_needs_messages_too() -> None:
    with pytest.raises(ClientRequestError) as caught:
        parse({"model": "GLM-4.7", "messages": []}, count_only=True)
    assert caught.value.param == "messages"


@pytest.mark.parametrize("role", [["user"], {"x": 1}, 3, None])
def test_a_role_that_is_not_a_string_is_a_400(role: object) -> None:
    # found by the schemathesis fuzzer: a list role used to crash the dict lookup (500)
    from zproxy.api.anthropic.content import chat_messages

    with pytest.raises(ClientRequestError, match="role"):
        chat_messages(None, [{"role": role, "content": "hi"}])


@pytest.mark.parametrize("body", [
    {"tool_choice": {"type": ["auto"]}},
    {"thinking": {"type": ["enabled"]}},
    {"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": ["text"], "data": "x"}}]}]},
])
def test_unhashable_type_fields_are_a_400(body: dict[str, Any]) -> None:
    # found by the schemathesis fuzzer: list-valued `type`s reached set/dict lookups (500)
    request = {"model": "claude-sonnet-4-5", "max_tokens": 10,
               "messages": [{"role": "user", "content": "hi"}], **body}
    with pytest.raises(ClientRequestError):
        parse_messages_request(orjson.dumps(request), resolve_model=lambda name: name)
