"""The `POST /v1/messages` (and `count_tokens`) body → the engine's `ChatRequest`. Pure.

Validated once, at the door: a required field missing or of the wrong type is a 400
`invalid_request_error` naming it; unknown top-level fields (`context_management`,
`output_config`, `container`, `service_tier`, `cache_control`…) are ignored, as Claude Code adds
new ones often. What reaches the upstream: `max_tokens`, `temperature`, `top_p`; stop sequences
and tool choice are enforced by the proxy; `top_k`, `metadata`, the thinking budget and
`cache_control` are accepted and dropped (the web chat has no such controls).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from zproxy.api.anthropic.content import bad, chat_messages
from zproxy.api.schema import ChatRequest
from zproxy.errors import ClientRequestError

THINKING_TYPES: Final = {"enabled": True, "adaptive": True, "disabled": False}
# Server tools carry a dated `type` (web_search_20250305…): nothing here can run them.
CLIENT_TOOL_TYPES: Final = frozenset({None, "custom"})


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    chat: ChatRequest   # `chat.model` is the catalogue model that answers
    model: str          # the requested name, echoed in every response


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"{key}: expected a number between {low:g} and {high:g}", key)
    return float(value)


def _int(body: dict[str, Any], key: str, *, required: bool, low: int) -> int | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{key}: Field required" if value is None else f"{key}: expected an integer",
                  key)
    if value < low:
        raise bad(f"{key}: expected an integer of at least {low}", key)
    return value


def _typed(body: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise bad(f"{key}: expected {what}", key)
    return value


def _stop_sequences(body: dict[str, Any]) -> tuple[str, ...]:
    stops = _typed(body, "stop_sequences", list, "an array of strings") or []
    if not all(isinstance(s, str) for s in stops):
        raise bad("stop_sequences: expected an array of strings", "stop_sequences")
    return tuple(s for s in stops if s)


def _tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = _typed(body, "tools", list, "an array of tools") or []
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise bad(f"tools.{i}: expected an object", f"tools.{i}")
        if tool.get("type") not in CLIENT_TOOL_TYPES and "input_schema" not in tool:
            continue
        name, schema = tool.get("name"), tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise bad(f"tools.{i}.name: Field required", f"tools.{i}.name")
        if not isinstance(schema, dict):
            raise bad(f"tools.{i}.input_schema: expected a JSON schema object",
                      f"tools.{i}.input_schema")
        out.append({"type": "function", "function": {
            "name": name, "description": tool.get("description") or "", "parameters": schema}})
    return out or None


def _tool_choice(body: dict[str, Any]) -> tuple[Any, bool | None]:
    """(OpenAI tool_choice, parallel_tool_calls)."""
    choice = _typed(body, "tool_choice", dict, "an object")
    if choice is None:
        return None, None
    parallel = False if choice.get("disable_parallel_tool_use") is True else None
    kind = choice.get("type")
    if kind in {"auto", "none"}:
        return kind, parallel
    if kind == "any":
        return "required", parallel
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise bad("tool_choice.name: Field required", "tool_choice.name")
        return {"type": "function", "function": {"name": name}}, parallel
    raise bad("tool_choice.type: expected `auto`, `any`, `tool` or `none`", "tool_choice.type")


def _thinking(body: dict[str, Any]) -> bool | None:
    """`enabled`/`adaptive` → reasoning on, `disabled` → off, absent → the model's default."""
    thinking = _typed(body, "thinking", dict, "an object")
    if thinking is None:
        return None
    if thinking.get("type") not in THINKING_TYPES:
        raise bad("thinking.type: expected `enabled`, `adaptive` or `disabled`",
                  "thinking.type")
    return THINKING_TYPES[thinking["type"]]


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise bad(f"request body is not valid JSON: {exc}", "body") from exc
    if not isinstance(body, dict):
        raise bad("request body must be a JSON object", "body")
    return body


def parse_messages_request(raw: bytes, *, resolve_model: Callable[[str], str],
                           count_only: bool = False) -> MessagesRequest:
    """`count_only`: the count_tokens body (no `max_tokens`, no `stream`)."""
    body = _body(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("model: Field required", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages: expected a non-empty array of messages", "messages")
    max_tokens = _int(body, "max_tokens", required=not count_only, low=1)
    _int(body, "top_k", required=False, low=0)
    stream = _typed(body, "stream", bool, "a boolean")
    tool_choice, parallel = _tool_choice(body)
    try:
        converted = chat_messages(body.get("system"), messages)
    except RecursionError as exc:  # absurdly nested content blocks
        raise ClientRequestError("messages: nested too deeply", param="messages") from exc
    chat = ChatRequest(
        model=resolve_model(model.strip()), messages=converted,
        stream=bool(stream) and not count_only, include_usage=True,
        temperature=_number(body, "temperature", 0, 1), top_p=_number(body, "top_p", 0, 1),
        max_tokens=max_tokens, stop=_stop_sequences(body), tools=_tools(body),
        tool_choice=tool_choice, parallel_tool_calls=parallel, enable_thinking=_thinking(body))
    return MessagesRequest(chat=chat, model=model.strip())
