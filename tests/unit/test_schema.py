"""parse_chat_request: one validation at the door, 400s that name the parameter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zproxy.api.schema import ChatRequest, parse_chat_request
from zproxy.errors import ClientRequestError

MESSAGES = [{"role": "user", "content": "hi"}]


def _parse(default_stream: bool = False, **body: Any) -> ChatRequest:
    payload = {"model": "GLM-4.6", "messages": MESSAGES, **body}
    return parse_chat_request(json.dumps(payload).encode(), default_stream=default_stream)


def _bad(raw: bytes) -> ClientRequestError:
    with pytest.raises(ClientRequestError) as info:
        parse_chat_request(raw)
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"
    return info.value


def _bad_field(**body: Any) -> ClientRequestError:
    return _bad(json.dumps({"model": "GLM-4.6", "messages": MESSAGES, **body}).encode())


def test_minimal_request_defaults() -> None:
    chat = _parse()
    assert chat.model == "GLM-4.6" and chat.messages == MESSAGES
    assert chat.stream is False and chat.include_usage is False
    assert chat.stop == () and chat.tools is None
    assert chat.temperature is None and chat.top_p is None and chat.max_tokens is None
    assert chat.enable_thinking is None and chat.web_search is None
    assert chat.response_format is None


def test_model_is_stripped() -> None:
    assert _parse(model="  GLM-4.6 ").model == "GLM-4.6"


# --- body-level errors -------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff"])
def test_invalid_json(raw: bytes) -> None:
    exc = _bad(raw)
    assert exc.param == "body"


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"x"', b"null"])
def test_body_must_be_object(raw: bytes) -> None:
    assert _bad(raw).param == "body"


@pytest.mark.parametrize("model", [None, "", "   ", 5])
def test_model_required(model: Any) -> None:
    exc = _bad(json.dumps({"model": model, "messages": MESSAGES}).encode())
    assert exc.param == "model"
    assert exc.code == "missing_required_parameter"
    assert "model" in exc.message


@pytest.mark.parametrize(("messages", "param"), [
    (None, "messages"), ([], "messages"), ("hi", "messages"),
    (["hi"], "messages[0]"),
    ([{"role": "robot", "content": "x"}], "messages[0].role"),
    ([{"content": "x"}], "messages[0].role"),
    ([{"role": "user", "content": "ok"}, {"role": "user", "content": 5}],
     "messages[1].content"),
    ([{"role": "user", "content": ["text"]}], "messages[0].content"),
])
def test_message_errors_name_the_param(messages: Any, param: str) -> None:
    exc = _bad(json.dumps({"model": "m", "messages": messages}).encode())
    assert exc.param == param
    assert param.split(".")[0].split("[")[0] in exc.message


@pytest.mark.parametrize("role", ["system", "developer", "user", "assistant", "tool"])
def test_accepted_roles(role: str) -> None:
    assert _parse(messages=[{"role": role, "content": "x"}]).messages[0]["role"] == role


def test_null_content_is_accepted() -> None:
    messages = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": None, "tool_calls": []}]
    assert _parse(messages=messages).messages == messages


# --- unsupported parameters ----------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 0])
def test_n_other_than_one_is_refused(n: int) -> None:
    exc = _bad_field(n=n)
    assert exc.param == "n" and exc.code == "unsupported_parameter"


def test_n_one_is_fine() -> None:
    assert _parse(n=1).model == "GLM-4.6"


@pytest.mark.parametrize(("body", "param"), [
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"logprobs": True, "top_logprobs": 3}, "logprobs"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy"}}, "modalities"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
])
def test_shape_changing_params_refused(body: dict[str, Any], param: str) -> None:
    exc = _bad_field(**body)
    assert exc.param == param and exc.code == "unsupported_parameter"


def test_harmless_params_are_accepted() -> None:
    chat = _parse(logprobs=False, user="u1", seed=3, presence_penalty=0.5,
                  frequency_penalty=0.1, modalities=["text"], metadata={"a": "b"})
    assert chat.model == "GLM-4.6"


# --- typed fields ------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("stream", "yes"), ("stream", 1), ("stream_options", "x"), ("stream_options", []),
    ("temperature", 2.5), ("temperature", -0.1), ("temperature", "1"), ("temperature", True),
    ("top_p", 1.5), ("top_p", -1),
    ("max_tokens", 0), ("max_tokens", -1), ("max_tokens", 1.5), ("max_tokens", True),
    ("max_completion_tokens", 0), ("tools", {"type": "function"}),
    ("parallel_tool_calls", "no"), ("functions", {}),
    ("enable_thinking", "true"), ("web_search", 1),
])
def test_bad_typed_values_name_the_param(field: str, value: Any) -> None:
    exc = _bad_field(**{field: value})
    assert exc.param == field
    assert field in exc.message


@pytest.mark.parametrize(("stream", "default", "expected"), [
    (None, False, False), (None, True, True), (True, False, True), (False, True, False)])
def test_stream_and_default_stream(stream: bool | None, default: bool, expected: bool) -> None:
    extra = {} if stream is None else {"stream": stream}
    assert _parse(default_stream=default, **extra).stream is expected


def test_stream_options_include_usage() -> None:
    assert _parse(stream=True, stream_options={"include_usage": True}).include_usage
    assert not _parse(stream=True, stream_options={}).include_usage
    assert not _parse(stream=True, stream_options=None).include_usage


def test_sampling_params_bounds_inclusive() -> None:
    chat = _parse(temperature=2, top_p=0)
    assert (chat.temperature, chat.top_p) == (2, 0)


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert _parse(max_tokens=10, max_completion_tokens=20).max_tokens == 20
    assert _parse(max_tokens=10).max_tokens == 10


def test_empty_tools_list_is_no_tools() -> None:
    assert _parse(tools=[]).tools is None
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert _parse(tools=tools, tool_choice="auto").tools == tools


# --- stop --------------------------------------------------------------------------------


@pytest.mark.parametrize(("stop", "expected"), [
    ("END", ("END",)), (["a", "b"], ("a", "b")), (["1", "2", "3", "4"], ("1", "2", "3", "4")),
    (None, ())])
def test_stop_values(stop: Any, expected: tuple[str, ...]) -> None:
    assert _parse(stop=stop).stop == expected


@pytest.mark.parametrize("stop", ["", [""], ["a", 1], ["1", "2", "3", "4", "5"], 7,
                                  {"a": 1}])
def test_bad_stop(stop: Any) -> None:
    assert _bad_field(stop=stop).param == "stop"


# --- thinking / search / response_format ---------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ({"enable_thinking": True}, True),
    ({"enable_thinking": False}, False),
    ({"thinking": {"type": "enabled"}}, True),
    ({"thinking": {"type": "disabled"}}, False),
    ({"thinking": {"type": "other"}}, None),
    ({"reasoning_effort": "high"}, True),
    ({"reasoning_effort": "low"}, True),
    ({"reasoning_effort": "none"}, False),
    ({"reasoning_effort": "minimal"}, False),
    ({"enable_thinking": False, "thinking": {"type": "enabled"},
      "reasoning_effort": "high"}, False),
    ({"thinking": {"type": "disabled"}, "reasoning_effort": "high"}, False),
    ({}, None),
])
def test_thinking_sources(body: dict[str, Any], expected: bool | None) -> None:
    assert _parse(**body).enable_thinking is expected


def test_web_search_flag() -> None:
    assert _parse(web_search=True).web_search is True
    assert _parse(web_search=False).web_search is False


@pytest.mark.parametrize(("fmt", "expected"), [
    ({"type": "text"}, None), ({"type": "json_object"}, "json_object"),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}, "json_schema")])
def test_response_format(fmt: dict[str, Any], expected: str | None) -> None:
    assert _parse(response_format=fmt).response_format == expected


@pytest.mark.parametrize("fmt", ["json", {"type": "xml"}, {}, []])
def test_bad_response_format(fmt: Any) -> None:
    assert _bad_field(response_format=fmt).param == "response_format"


def test_request_is_frozen() -> None:
    chat = _parse()
    with pytest.raises(AttributeError):
        chat.model = "x"  # type: ignore[misc]
