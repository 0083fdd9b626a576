"""The Responses request: parsed and validated at the door, then mapped onto `ChatRequest`.

`parse_responses_request` checks every field it uses and raises `ClientRequestError` naming
the parameter. `to_chat_request` turns the (previous chain's and this request's) input items
into chat-completions messages, so the engine below never learns a second vocabulary
(anthropic-api.md §13.7). Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from zproxy.api.schema import ChatRequest
from zproxy.errors import ClientRequestError

MESSAGE_ROLES: Final = frozenset({"user", "system", "developer", "assistant"})
TEXT_PARTS: Final = frozenset({"input_text", "output_text", "text", "summary_text"})
# Built-in tools the upstream runs itself: web search maps to the model's search mode.
SEARCH_TOOLS: Final = frozenset({"web_search", "web_search_preview",
                                 "web_search_2025_08_26", "web_search_preview_2025_03_11"})
NO_THINKING_EFFORTS: Final = frozenset({"none", "minimal"})
EFFORTS: Final = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
SUMMARIES: Final = frozenset({"auto", "concise", "detailed"})


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    model: str
    input: tuple[dict[str, Any], ...]  # normalised input items, as stored for chaining
    instructions: str | None = None
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    tools: tuple[dict[str, Any], ...] = ()  # the function tools, in Responses shape
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    web_search: bool | None = None
    enable_thinking: bool | None = None


def _bad(message: str, param: str, code: str = "invalid_value") -> ClientRequestError:
    return ClientRequestError(message, param=param, code=code)


def _typed(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind not in (bool, object)):
        raise _bad(f"'{key}' must be {what}", key, "invalid_type")
    return value


def _ranged(body: Mapping[str, Any], key: str, high: float) -> float | None:
    value = _typed(body, key, (int, float), f"a number between 0 and {high:g}")
    if value is not None and not 0 <= value <= high:
        raise _bad(f"'{key}' must be a number between 0 and {high:g}", key)
    return None if value is None else float(value)


# --- input items ---------------------------------------------------------------------------


def _part(part: Any, where: str) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "input_text", "text": part}
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise _bad(f"'{where}' must be a content part object with a type", where,
                   "invalid_type")
    kind = part["type"]
    if kind in TEXT_PARTS and not isinstance(part.get("text"), str):
        raise _bad(f"'{where}.text' must be a string", f"{where}.text", "invalid_type")
    if kind == "input_image" and not isinstance(part.get("image_url"), str):
        raise _bad("input_image parts need an 'image_url' (an http(s) or data: URL); "
                   "file_id images are not supported", f"{where}.image_url",
                   "unsupported_parameter")
    if kind not in TEXT_PARTS and kind not in {"input_image", "refusal"}:
        raise _bad(f"content part type '{kind}' is not supported", f"{where}.type",
                   "unsupported_parameter")
    return part


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in MESSAGE_ROLES:
        raise _bad(f"'{where}.role' must be one of {', '.join(sorted(MESSAGE_ROLES))}",
                   f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"type": "message", "role": role, "content": content}
    if not isinstance(content, list):
        raise _bad(f"'{where}.content' must be a string or an array of parts",
                   f"{where}.content", "invalid_type")
    parts = [_part(p, f"{where}.content[{i}]") for i, p in enumerate(content)]
    return {"type": "message", "role": role, "content": parts}


def _string_field(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or (key != "arguments" and not value):
        raise _bad(f"'{where}.{key}' must be a string", f"{where}.{key}",
                   "missing_required_parameter")
    return value


def _item(item: Any, where: str) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        raise _bad(f"'{where}' must be an object", where, "invalid_type")
    kind = item.get("type", "message")
    if kind == "message":
        return _message(item, where)
    if kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            _string_field(item, key, where)
        return item
    if kind == "function_call_output":
        _string_field(item, "call_id", where)
        output = item.get("output")
        if not isinstance(output, str | list):
            raise _bad(f"'{where}.output' must be a string or an array of parts",
                       f"{where}.output", "invalid_type")
        return item
    if not isinstance(kind, str):
        raise _bad(f"'{where}.type' must be a string", f"{where}.type", "invalid_type")
    # Everything else (our own reasoning items replayed, item references, calls of built-in
    # tools the client ran elsewhere) carries nothing the upstream can use: skipped, as
    # the Responses API's newer item types must not break older servers (§13.3).
    return None


def _input(body: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    raw = body.get("input")
    if isinstance(raw, str):
        return ({"type": "message", "role": "user", "content": raw},)
    if not isinstance(raw, list):
        raise _bad("'input' must be a string or an array of input items", "input",
                   "missing_required_parameter" if raw is None else "invalid_type")
    items = (_item(item, f"input[{i}]") for i, item in enumerate(raw))
    return tuple(item for item in items if item is not None)


# --- tools and options ---------------------------------------------------------------------


def _tools(body: Mapping[str, Any]) -> tuple[tuple[dict[str, Any], ...], bool]:
    """The function tools, and whether a web-search tool was offered."""
    raw = _typed(body, "tools", list, "an array") or []
    tools, search = [], False
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise _bad(f"'tools[{i}]' must be an object", f"tools[{i}]", "invalid_type")
        kind = tool.get("type")
        if kind in SEARCH_TOOLS:
            search = True
        elif kind == "function":
            if "name" not in tool and isinstance(tool.get("function"), dict):
                tool = tool["function"]  # the chat-completions nesting, a common slip
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                raise _bad(f"'tools[{i}].name' is required", f"tools[{i}].name",
                           "missing_required_parameter")
            tools.append({"type": "function", "name": tool["name"],
                          "description": tool.get("description"),
                          "parameters": tool.get("parameters"),
                          "strict": tool.get("strict")})
        else:
            raise _bad(f"tool type '{kind}' is not supported: use function tools",
                       f"tools[{i}].type", "unsupported_parameter")
    return tuple(tools), search


def _tool_choice(body: Mapping[str, Any]) -> Any:
    choice = body.get("tool_choice")
    if choice is None:
        return "auto"
    if choice in ("auto", "none", "required"):
        return choice
    if (isinstance(choice, dict) and choice.get("type") == "function"
            and isinstance(choice.get("name"), str)):
        return {"type": "function", "name": choice["name"]}
    raise _bad("'tool_choice' must be auto, none, required or {type: function, name}",
               "tool_choice")


def _text(body: Mapping[str, Any]) -> dict[str, Any]:
    text = _typed(body, "text", dict, "an object") or {}
    fmt = text.get("format") or {"type": "text"}
    if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str) \
            or fmt["type"] not in {"text", "json_object", "json_schema"}:
        raise _bad("'text.format.type' must be text, json_object or json_schema",
                   "text.format")
    if fmt["type"] == "json_schema" and not isinstance(fmt.get("name"), str):
        raise _bad("'text.format.name' is required for json_schema", "text.format.name",
                   "missing_required_parameter")
    return {**text, "format": fmt}


def _reasoning(body: Mapping[str, Any]) -> dict[str, Any] | None:
    reasoning = _typed(body, "reasoning", dict, "an object")
    if reasoning is None:
        return None
    effort = reasoning.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise _bad(f"'reasoning.effort' must be one of {', '.join(sorted(EFFORTS))}",
                   "reasoning.effort")
    summary = reasoning.get("summary") or reasoning.get("generate_summary")  # older name
    if summary is not None and summary not in SUMMARIES:
        raise _bad(f"'reasoning.summary' must be one of {', '.join(sorted(SUMMARIES))}",
                   "reasoning.summary")
    return {"effort": effort, "summary": summary}


def _thinking(body: Mapping[str, Any], reasoning: dict[str, Any] | None) -> bool | None:
    explicit = _typed(body, "enable_thinking", bool, "a boolean")
    if explicit is not None:
        return bool(explicit)
    effort = reasoning.get("effort") if reasoning else None
    return None if effort is None else effort not in NO_THINKING_EFFORTS


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    if body.get("background"):
        raise _bad("background responses are not supported", "background",
                   "unsupported_parameter")
    if body.get("conversation") is not None:
        raise _bad("'conversation' is not supported: use previous_response_id",
                   "conversation", "unsupported_parameter")
    if body.get("prompt") is not None:
        raise _bad("stored prompts are not supported", "prompt", "unsupported_parameter")


def _metadata(body: Mapping[str, Any]) -> dict[str, str] | None:
    metadata = _typed(body, "metadata", dict, "an object of strings")
    if metadata is not None and (len(metadata) > 16
                                 or not all(isinstance(v, str) for v in metadata.values())):
        raise _bad("'metadata' must hold at most 16 string values", "metadata")
    return None if metadata is None else dict(metadata)


def parse_responses_request(raw: bytes) -> ResponsesRequest:
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
    tools, search = _tools(body)
    max_tokens = _typed(body, "max_output_tokens", int, "a positive integer")
    if max_tokens is not None and max_tokens <= 0:
        raise _bad("'max_output_tokens' must be a positive integer", "max_output_tokens")
    reasoning = _reasoning(body)
    web_search = _typed(body, "web_search", bool, "a boolean")
    return ResponsesRequest(
        model=model.strip(), input=_input(body),
        instructions=_typed(body, "instructions", str, "a string"),
        stream=bool(_typed(body, "stream", bool, "a boolean")),
        store=_typed(body, "store", bool, "a boolean") is not False,
        previous_response_id=_typed(body, "previous_response_id", str, "a string"),
        tools=tools, tool_choice=_tool_choice(body),
        parallel_tool_calls=_typed(body, "parallel_tool_calls", bool, "a boolean")
        is not False,
        max_output_tokens=max_tokens, temperature=_ranged(body, "temperature", 2),
        top_p=_ranged(body, "top_p", 1), reasoning=reasoning, text=_text(body),
        metadata=_metadata(body), web_search=True if search else web_search,
        enable_thinking=_thinking(body, reasoning))


# --- items → chat messages -----------------------------------------------------------------


def _chat_content(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if part["type"] in TEXT_PARTS:
            parts.append({"type": "text", "text": part["text"]})
        elif part["type"] == "input_image":
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _output_text(output: str | list[Any]) -> str:
    if isinstance(output, str):
        return output
    return "\n".join(p["text"] for p in output
                     if isinstance(p, dict) and isinstance(p.get("text"), str))


def _tool_call(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": item["call_id"], "type": "function",
            "function": {"name": item["name"], "arguments": item["arguments"]}}


def items_to_messages(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages for input (or stored output) items. Consecutive `function_call` items
    join the assistant turn before them, as one message with `tool_calls`."""
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": _chat_content(item["content"])})
        elif kind == "function_call":
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(_tool_call(item))
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": _output_text(item["output"])})
    return messages


def _chat_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    return [{"type": "function", "function": {
        key: tool[key] for key in ("name", "description", "parameters", "strict")
        if tool.get(key) is not None}} for tool in tools]


def _chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def to_chat_request(req: ResponsesRequest,
                    history: Sequence[Mapping[str, Any]] = ()) -> ChatRequest:
    """`history` is the stored chain before this request (previous inputs and outputs);
    its instructions are not carried over, as the Responses API specifies."""
    messages = items_to_messages([*history, *req.input])
    if not any(m["role"] == "user" for m in messages):
        raise _bad("'input' must contain at least one user message", "input")
    if req.instructions:
        messages.insert(0, {"role": "system", "content": req.instructions})
    fmt = (req.text or {}).get("format") or {}
    return ChatRequest(
        model=req.model, messages=messages, stream=req.stream, include_usage=True,
        temperature=req.temperature, top_p=req.top_p, max_tokens=req.max_output_tokens,
        tools=_chat_tools(req.tools),
        tool_choice=_chat_tool_choice(req.tool_choice) if req.tools else None,
        parallel_tool_calls=req.parallel_tool_calls, enable_thinking=req.enable_thinking,
        web_search=req.web_search,
        response_format=None if fmt.get("type", "text") == "text" else fmt["type"])
