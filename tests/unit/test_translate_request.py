"""OpenAI request → Z.AI completion body (zai-protocol.md §5–§7)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from zproxy.api.chat import normalize
from zproxy.api.schema import parse_chat_request
from zproxy.core.models import ModelCatalog
from zproxy.providers.zai.models import VLM_SERVERS, default_models
from zproxy.providers.zai.request import (
    UpstreamRequest,
    build_upstream_request,
    convert_content,
    convert_messages,
)
from zproxy.providers.zai.signing import signature_prompt

NOW = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)  # 08:00 Thursday in Shanghai
CATALOG = ModelCatalog(default_models())
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}}


def _build(body: dict[str, Any], **resolve: Any) -> UpstreamRequest:
    chat = parse_chat_request(json.dumps(body).encode())
    model = CATALOG.resolve(chat.model, enable_thinking=chat.enable_thinking,
                            web_search=chat.web_search, **resolve)
    counter = itertools.count(1)
    return build_upstream_request(normalize(chat, model, chat.messages),
                                  new_id=lambda: f"id-{next(counter)}", now=NOW)


def _simple(model: str = "GLM-4.6", **extra: Any) -> UpstreamRequest:
    return _build({"model": model, "messages": [{"role": "user", "content": "hi"}], **extra})


# --- messages ----------------------------------------------------------------------------


def test_roles_pass_through_and_developer_becomes_system() -> None:
    messages = [{"role": "developer", "content": "be brief"},
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"}]
    assert convert_messages(messages) == [
        {"role": "system", "content": "be brief"}, {"role": "system", "content": "sys"},
        {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def test_messages_keep_only_role_and_content() -> None:
    converted = convert_messages([{"role": "user", "content": "q", "name": "bob"}])
    assert converted == [{"role": "user", "content": "q"}]


def test_none_content_becomes_empty_string() -> None:
    assert convert_content(None) == ""


def test_string_content_unchanged() -> None:
    assert convert_content("  keep  me ") == "  keep  me "


def test_text_only_parts_become_a_string() -> None:
    text = convert_content([{"type": "text", "text": "first"}, {"type": "text", "text": "second"}])
    assert isinstance(text, str)
    assert text.index("first") < text.index("second")
    assert text.replace("first", "").replace("second", "").strip() == ""


def test_parts_with_images_give_one_text_part_first_then_images() -> None:
    second = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    converted = convert_content([IMAGE, {"type": "text", "text": "what is"},
                                 second, {"type": "text", "text": "this?"}])
    assert isinstance(converted, list)
    assert converted[0]["type"] == "text"
    assert "what is" in converted[0]["text"] and "this?" in converted[0]["text"]
    assert converted[1:] == [IMAGE, second]


def test_image_only_parts_still_lead_with_a_text_part() -> None:
    converted = convert_content([IMAGE])
    assert converted == [{"type": "text", "text": ""}, IMAGE]


# --- body --------------------------------------------------------------------------------


def test_body_core_fields() -> None:
    req = _simple()
    body = req.body
    assert body["stream"] is True
    assert body["model"] == "GLM-4-6-API-V1"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["model_item"]["id"] == "GLM-4-6-API-V1"
    assert body["model_item"]["name"] == "GLM-4.6"
    assert body["current_user_message_parent_id"] is None
    assert req.model.spec.id == "GLM-4.6"


def test_ids_come_from_the_injected_factory_and_differ() -> None:
    req = _simple()
    ids = [req.body["chat_id"], req.body["id"], req.body["current_user_message_id"]]
    assert len(set(ids)) == 3 and all(i.startswith("id-") for i in ids)
    assert req.chat_id == req.body["chat_id"]


def test_no_per_attempt_fields_in_body() -> None:
    body = _simple().body
    for key in ("requestId", "timestamp", "token", "signature", "user_id"):
        assert key not in body


def test_variables_use_shanghai_time() -> None:
    variables = _simple().body["variables"]
    assert variables["{{CURRENT_DATETIME}}"] == "2026-01-01 08:00:00"
    assert variables["{{CURRENT_DATE}}"] == "2026-01-01"
    assert variables["{{CURRENT_TIME}}"] == "08:00:00"
    assert variables["{{CURRENT_WEEKDAY}}"] == "Thursday"
    assert variables["{{CURRENT_TIMEZONE}}"] == "Asia/Shanghai"


def test_params_mapping() -> None:
    req = _simple(temperature=0.3, top_p=0.9, max_tokens=123)
    assert req.body["params"] == {"temperature": 0.3, "top_p": 0.9, "max_tokens": 123}


def test_max_completion_tokens_maps_to_max_tokens() -> None:
    assert _simple(max_completion_tokens=77).body["params"] == {"max_tokens": 77}


def test_zero_temperature_is_kept() -> None:
    assert _simple(temperature=0).body["params"] == {"temperature": 0}


def test_params_empty_by_default() -> None:
    assert _simple().body["params"] == {}


# --- features per model ------------------------------------------------------------------


@pytest.mark.parametrize(("model", "thinking", "search", "mcp"), [
    ("GLM-4.6", False, False, []),
    ("GLM-4.6-Thinking", True, False, []),
    ("GLM-4.6-Search", False, True, []),
    ("GLM-4.6-advanced-search", False, True, ["advanced-search"]),
    ("GLM-4.5-Search", False, True, ["deep-web-search"]),
    ("glm-4.7-thinking-search", True, True, []),
    ("GLM-5", True, False, []),
    ("GLM-4.6V", True, False, list(VLM_SERVERS)),
])
def test_features_per_model(model: str, thinking: bool, search: bool, mcp: list[str]) -> None:
    body = _simple(model).body
    features = body["features"]
    assert features["enable_thinking"] is thinking
    assert features["web_search"] is search
    assert features["auto_web_search"] is search
    assert features["image_generation"] is False
    assert body["mcp_servers"] == mcp


def test_preview_mode_off_for_glm_46v() -> None:
    assert _simple("GLM-4.6V").body["features"]["preview_mode"] is False
    assert _simple("GLM-4.6").body["features"]["preview_mode"] is True


def test_request_fields_override_model_defaults() -> None:
    body = _simple("GLM-4.6-Thinking", enable_thinking=False, web_search=True).body
    assert body["features"]["enable_thinking"] is False
    assert body["features"]["web_search"] is True
    body = _simple("GLM-5", thinking={"type": "disabled"}).body
    assert body["features"]["enable_thinking"] is False


def test_persisted_flag_follows_model() -> None:
    assert _simple("GLM-4.7").persisted
    assert not _simple("GLM-4.6").persisted


# --- signature prompt --------------------------------------------------------------------


def test_signature_prompt_is_the_last_user_text() -> None:
    req = _build({"model": "GLM-4.6", "messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "answer"}, {"role": "user", "content": "second one"}]})
    assert req.prompt == req.body["signature_prompt"] == "second one"


@pytest.mark.parametrize("content", [
    "plain text",
    [{"type": "text", "text": "look at"}, {"type": "text", "text": "this"}],
    [{"type": "text", "text": "describe"}, IMAGE],
    [IMAGE, {"type": "text", "text": "  padded  "}],
])
def test_signature_prompt_consistent_with_sent_messages(content: Any) -> None:
    # the upstream can only check the signed prompt against the messages it receives
    req = _build({"model": "GLM-4.6", "messages": [{"role": "user", "content": content}]})
    assert req.prompt == req.body["signature_prompt"]
    assert req.prompt == signature_prompt(req.body["messages"])
    assert req.prompt != ""


def test_signature_prompt_skips_trailing_image_only_message() -> None:
    req = _build({"model": "GLM-4.6", "messages": [
        {"role": "user", "content": "text question"},
        {"role": "user", "content": [IMAGE]}]})
    assert req.prompt == "text question"


# --- response_format ---------------------------------------------------------------------


def test_json_response_format_adds_instruction_to_existing_system() -> None:
    req = _build({"model": "GLM-4.6", "response_format": {"type": "json_object"},
                  "messages": [{"role": "system", "content": "You are terse."},
                               {"role": "user", "content": "give json"}]})
    messages = req.body["messages"]
    assert len(messages) == 2
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith("You are terse.")
    assert "JSON" in messages[0]["content"]
    assert req.prompt == "give json"


def test_json_response_format_prepends_system_when_missing() -> None:
    req = _build({"model": "GLM-4.6", "response_format": {"type": "json_schema"},
                  "messages": [{"role": "user", "content": "give json"}]})
    messages = req.body["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "JSON" in messages[0]["content"]


def test_text_response_format_changes_nothing() -> None:
    req = _build({"model": "GLM-4.6", "response_format": {"type": "text"},
                  "messages": [{"role": "user", "content": "hi"}]})
    assert req.body["messages"] == [{"role": "user", "content": "hi"}]
