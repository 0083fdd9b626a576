"""History re-rendering with the current nonce (§3.3).

The upstream only understands system/user/assistant text, so assistant `tool_calls` become
canonical blocks, `role: tool` results become user turns, and everything is lenient: odd
history (missing ids, non-JSON arguments, unknown roles) is rendered, never rejected (V3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from zproxy.tools.prompt import closer, opener

Message = dict[str, Any]
_STALE: Final = re.compile(r"<(/?)tool_calls_([A-Za-z0-9]{1,16})>")
_RESULT_CLOSE: Final = "</tool_result>"


def legacy_to_tools(functions: list[Any] | None, function_call: Any) -> tuple[
        list[dict[str, Any]] | None, Any]:
    """Legacy `functions`/`function_call` → `tools`/`tool_choice`."""
    tools = [{"type": "function", "function": f} for f in functions or ()]
    if isinstance(function_call, Mapping) and "name" in function_call:
        choice: Any = {"type": "function", "function": {"name": function_call["name"]}}
    else:
        choice = function_call
    return (tools or None), choice


def text_of(content: Any) -> str:
    """Plain text of a content value: a string, a list of parts, or None."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_part_text(p) for p in content if _part_text(p))
    return str(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        return ""
    if part.get("type") in ("text", "input_text", "output_text"):
        return str(part.get("text", ""))
    if part.get("type") in ("image_url", "image", "input_image"):
        return "[image omitted]"
    return str(part.get("text", ""))


def has_tool_history(messages: list[Message]) -> bool:
    return any(m.get("role") in ("tool", "function") or m.get("tool_calls")
               or m.get("function_call") for m in messages if isinstance(m, Mapping))


def render_history(messages: list[Message], nonce: str) -> list[Message]:
    """Re-render `messages` into system/user/assistant turns, same roles merged."""
    names = _call_names(messages)
    out: list[Message] = []
    for msg in messages:
        if isinstance(msg, Mapping):
            _append(out, _convert(msg, names, nonce))
    return out


def _call_names(messages: list[Message]) -> dict[str, str]:
    """tool_call_id → function name, from every assistant turn of the request."""
    names: dict[str, str] = {}
    for msg in messages:
        if not isinstance(msg, Mapping):
            continue
        for call in _calls_of(msg):
            if call.get("id"):
                names[str(call["id"])] = call["name"]
    return names


def _calls_of(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    raw = msg.get("tool_calls")
    for call in raw if isinstance(raw, list) else ():
        if isinstance(call, Mapping):
            fn = call.get("function")
            fn = fn if isinstance(fn, Mapping) else {}
            calls.append({"id": call.get("id"), "name": str(fn.get("name") or "unknown"),
                          "arguments": fn.get("arguments")})
    legacy = msg.get("function_call")
    if isinstance(legacy, Mapping):
        calls.append({"id": None, "name": str(legacy.get("name") or "unknown"),
                      "arguments": legacy.get("arguments")})
    return calls


def _convert(msg: Mapping[str, Any], names: dict[str, str], nonce: str) -> Message:
    role = msg.get("role")
    if role in ("system", "developer"):
        return {"role": "system", "content": text_of(msg.get("content"))}
    if role == "assistant":
        return {"role": "assistant", "content": _assistant_text(msg, nonce)}
    if role in ("tool", "function"):
        return {"role": "user", "content": _tool_result(msg, names), "_result": True}
    return {"role": "user", "content": _user_content(msg.get("content"))}


def _user_content(content: Any) -> Any:
    if isinstance(content, list) and any(
            isinstance(p, Mapping) and p.get("type") not in ("text", None) for p in content):
        return list(content)  # image parts are kept as they are
    return text_of(content)


def _assistant_text(msg: Mapping[str, Any], nonce: str) -> str:
    text = rewrite_stale(text_of(msg.get("content")), nonce)
    calls = _calls_of(msg)
    if not calls:
        return text
    block = render_block(calls, nonce)
    return f"{text}\n{block}" if text.strip() else block


def rewrite_stale(text: str, nonce: str) -> str:
    """Assistant text: an opener/closer with another nonce gets the current one (§3.3)."""
    if "tool_calls_" not in text:
        return text
    return _STALE.sub(lambda m: f"<{m.group(1)}tool_calls_{nonce}>", text)


def render_block(calls: list[dict[str, Any]], nonce: str) -> str:
    lines = [opener(nonce)]
    for call in calls:
        attrs = f'name="{_attr(call["name"])}"'
        if call.get("id"):
            attrs += f' id="{_attr(str(call["id"]))}"'
        lines.append(f"<call {attrs}>{_args_text(call.get('arguments'))}</call>")
    lines.append(closer(nonce))
    return "\n".join(lines)


def _attr(value: str) -> str:
    return value.replace('"', "&quot;")


def _args_text(arguments: Any) -> str:
    """Canonical JSON when it parses; otherwise the stored text verbatim (never 400)."""
    if arguments is None or arguments == "":
        return "{}"
    if not isinstance(arguments, str):
        return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"), default=str)
    try:
        value = json.loads(arguments, strict=False)
    except json.JSONDecodeError:
        return arguments
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _tool_result(msg: Mapping[str, Any], names: dict[str, str]) -> str:
    call_id = str(msg.get("tool_call_id") or "")
    name = names.get(call_id) or str(msg.get("name") or "unknown")
    attrs = f'call_id="{_attr(call_id)}" ' if call_id else ""
    attrs += f'name="{_attr(name)}"'
    if msg.get("is_error"):
        attrs += ' status="error"'
    body = text_of(msg.get("content")).replace(_RESULT_CLOSE, "<\\/tool_result>")
    return f"<tool_result {attrs}>\n{body}\n{_RESULT_CLOSE}"


def _append(out: list[Message], msg: Message) -> None:
    """Merge consecutive same-role turns (results: newline, others: blank line)."""
    result = msg.pop("_result", False)
    if out and out[-1]["role"] == msg["role"]:
        prev = out[-1]
        sep = "\n" if result and prev.get("_last_result") else "\n\n"
        prev["content"] = _join(prev["content"], msg["content"], sep)
    else:
        out.append(msg)
    out[-1]["_last_result"] = result


def _join(a: Any, b: Any, sep: str) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return f"{a}{sep}{b}" if a and b else a or b
    return [*_parts(a), *_parts(b)]


def _parts(content: Any) -> list[Any]:
    if isinstance(content, list):
        return list(content)
    return [{"type": "text", "text": content}] if content else []


def finalize(messages: list[Message]) -> list[Message]:
    """Drop bookkeeping keys."""
    for msg in messages:
        msg.pop("_last_result", None)
    return messages


def append_text(msg: Message, line: str) -> None:
    """Append a line to a turn, whether its content is a string or a parts list."""
    content = msg.get("content")
    if isinstance(content, list):
        msg["content"] = [*content, {"type": "text", "text": line}]
    else:
        msg["content"] = f"{content}\n\n{line}" if content else line
