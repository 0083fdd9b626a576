"""The OpenAI chat-completions request: parsed and validated once, at the door.

`parse_chat_request` turns the raw body into a frozen `ChatRequest` or raises
`ClientRequestError` naming the offending parameter, so nothing downstream ever sees an
unchecked value. Unsupported parameters that would change the answer's shape (`n > 1`,
`logprobs`, audio output…) are refused with a 400; harmless ones are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from zproxy.errors import ClientRequestError

ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: Any = None
    enable_thinking: bool | None = None
    web_search: bool | None = None
    response_format: str | None = None


def _bad(message: str, param: str, code: str = "invalid_value") -> ClientRequestError:
    return ClientRequestError(message, param=param, code=code)


def _opt(body: dict[str, Any], key: str, check: Callable[[Any], bool], what: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not check(value):
        raise _bad(f"'{key}' must be {what}", key, "invalid_type")
    return value


def _number(low: float, high: float) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and low <= value <= high)

    return check


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty array", "messages", "invalid_type")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(f"'{where}' must be an object", where, "invalid_type")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:  # a dict role is unhashable
            raise _bad(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}",
                       f"{where}.role")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _bad(f"'{where}.content' must be a string or an array of parts",
                       f"{where}.content", "invalid_type")
        if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
            raise _bad(f"'{where}.content' parts must be objects", f"{where}.content",
                       "invalid_type")
    return messages


def _stop(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if (not isinstance(stop, list) or len(stop) > 4
            or not all(isinstance(s, str) and s for s in stop)):
        raise _bad("'stop' must be a non-empty string or up to 4 of them", "stop")
    return tuple(stop)


def _refuse_unsupported(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise _bad("'n' > 1 is not supported: the upstream produces one choice", "n",
                   "unsupported_parameter")
    if body.get("logprobs") or body.get("top_logprobs"):
        param = "logprobs" if body.get("logprobs") else "top_logprobs"
        raise _bad(f"'{param}' is not supported by the upstream", param,
                   "unsupported_parameter")
    if body.get("audio") or "audio" in (body.get("modalities") or []):
        raise _bad("audio output is not supported", "modalities", "unsupported_parameter")
    if body.get("logit_bias"):
        raise _bad("'logit_bias' is not supported", "logit_bias", "unsupported_parameter")
    if body.get("prediction"):
        raise _bad("'prediction' is not supported", "prediction", "unsupported_parameter")


def _response_format(body: dict[str, Any]) -> str | None:
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in {"text", "json_object", "json_schema"}:
        raise _bad("'response_format.type' must be text, json_object or json_schema",
                   "response_format")
    return None if kind == "text" else str(kind)


def _thinking(body: dict[str, Any]) -> bool | None:
    explicit = _opt(body, "enable_thinking", _is_bool, "a boolean")
    if explicit is not None:
        return bool(explicit)
    thinking = body.get("thinking")  # {"type": "enabled"|"disabled"} (Anthropic/GLM style)
    if isinstance(thinking, dict) and thinking.get("type") in {"enabled", "disabled"}:
        return bool(thinking["type"] == "enabled")
    effort = body.get("reasoning_effort")
    if isinstance(effort, str):
        return effort not in {"none", "minimal"}
    return None


def parse_chat_request(raw: bytes, *, default_stream: bool = False) -> ChatRequest:
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise _bad(f"request body is not valid JSON: {exc}", "body", "invalid_json") from exc
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object", "body", "invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("'model' is required", "model", "missing_required_parameter")
    _refuse_unsupported(body)
    stream = _opt(body, "stream", _is_bool, "a boolean")
    options = _opt(body, "stream_options", lambda v: isinstance(v, dict), "an object") or {}
    max_tokens = (_opt(body, "max_completion_tokens", _positive_int, "a positive integer")
                  or _opt(body, "max_tokens", _positive_int, "a positive integer"))
    tools = _opt(body, "tools", lambda v: isinstance(v, list), "an array")
    return ChatRequest(
        model=model.strip(),
        messages=_messages(body),
        stream=default_stream if stream is None else bool(stream),
        include_usage=bool(options.get("include_usage")),
        temperature=_opt(body, "temperature", _number(0, 2), "a number between 0 and 2"),
        top_p=_opt(body, "top_p", _number(0, 1), "a number between 0 and 1"),
        max_tokens=max_tokens,
        stop=_stop(body),
        tools=tools or None,
        tool_choice=body.get("tool_choice"),
        parallel_tool_calls=_opt(body, "parallel_tool_calls", _is_bool, "a boolean"),
        functions=_opt(body, "functions", lambda v: isinstance(v, list), "an array"),
        function_call=body.get("function_call"),
        enable_thinking=_thinking(body),
        web_search=_opt(body, "web_search", _is_bool, "a boolean"),
        response_format=_response_format(body),
    )
