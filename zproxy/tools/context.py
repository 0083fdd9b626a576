"""Request side of tool emulation: normalise tools/tool_choice, render prompt and history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zproxy.errors import ClientRequestError
from zproxy.tools.history import (
    Message,
    append_text,
    finalize,
    has_tool_history,
    legacy_to_tools,
    render_history,
)
from zproxy.tools.prompt import DISABLED_LINE, reminder, render_tool_prompt, tool_name


@dataclass(frozen=True)
class ToolContext:
    """Everything the response side needs; built by `prepare_tool_request`."""

    tools: tuple[dict[str, Any], ...]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    nonce: str

    @property
    def active(self) -> bool:
        """False when no tools or tool_choice is "none": the parser is not used."""
        return bool(self.tools) and self.tool_choice != "none"

    @property
    def allowed_names(self) -> tuple[str, ...]:
        if isinstance(self.tool_choice, dict):
            return (str(self.tool_choice["function"]["name"]),)
        return tuple(tool_name(t) for t in self.tools)


def normalize_tools(tools: Any) -> tuple[dict[str, Any], ...]:
    """Function tools only; 400 (param="tools") for a structurally invalid entry."""
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise ClientRequestError("'tools' must be an array", param="tools",
                                 code="invalid_tools")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        fn = _function_of(tool, i)
        if fn is not None:
            out.append({"type": "function", "function": fn})
    return tuple(out)


def _function_of(tool: Any, i: int) -> dict[str, Any] | None:
    if not isinstance(tool, Mapping):
        raise ClientRequestError(f"tools[{i}] must be an object", param="tools",
                                 code="invalid_tools")
    kind = tool.get("type", "function")
    if kind != "function":
        return None  # other tool kinds (web_search…) are not emulated
    fn = tool.get("function", tool)
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise ClientRequestError(f"tools[{i}].function.name is required", param="tools",
                                 code="invalid_tools")
    params = fn.get("parameters", fn.get("input_schema"))
    out = {"name": fn["name"], "description": fn.get("description") or ""}
    return {**out, "parameters": params if isinstance(params, Mapping) else {}}


def normalize_tool_choice(choice: Any, tools: tuple[dict[str, Any], ...]) -> tuple[
        str | dict[str, Any], tuple[dict[str, Any], ...]]:
    """("auto"|"none"|"required"|{"type":"function",...}, tools narrowed by allowed_tools)."""
    if choice is None or choice == "auto":
        return "auto", tools
    if choice in ("none", "required"):
        return str(choice), tools
    if choice == "any":  # Anthropic spelling
        return "required", tools
    if isinstance(choice, Mapping):
        return _mapping_choice(choice, tools)
    raise ClientRequestError(f"invalid tool_choice {choice!r}", param="tool_choice",
                             code="invalid_tool_choice")


def _mapping_choice(choice: Mapping[str, Any], tools: tuple[dict[str, Any], ...]) -> tuple[
        str | dict[str, Any], tuple[dict[str, Any], ...]]:
    if choice.get("type") == "allowed_tools":
        return _allowed_tools(choice.get("allowed_tools") or choice, tools)
    fn = choice.get("function")
    name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
    if not isinstance(name, str) or name not in {tool_name(t) for t in tools}:
        raise ClientRequestError(f"tool_choice names unknown tool {name!r}",
                                 param="tool_choice", code="invalid_tool_choice")
    return {"type": "function", "function": {"name": name}}, tools


def _allowed_tools(spec: Mapping[str, Any], tools: tuple[dict[str, Any], ...]) -> tuple[
        str | dict[str, Any], tuple[dict[str, Any], ...]]:
    wanted = set()
    for entry in spec.get("tools") or ():
        if isinstance(entry, Mapping):
            fn = entry.get("function")
            wanted.add(fn.get("name") if isinstance(fn, Mapping) else entry.get("name"))
    mode = "required" if spec.get("mode") == "required" else "auto"
    return mode, tuple(t for t in tools if tool_name(t) in wanted)


def prepare_tool_request(
    messages: list[dict[str, Any]],
    *, tools: list[dict[str, Any]] | None, tool_choice: Any, parallel_tool_calls: bool | None,
    functions: list[dict[str, Any]] | None = None, function_call: Any = None,
    nonce: str, custom_prompt: str | None = None,
) -> tuple[list[dict[str, Any]], ToolContext | None]:
    """Re-render `messages` for the upstream and describe the tool contract (§3.2, §3.3)."""
    if not tools and functions:
        tools, tool_choice = legacy_to_tools(functions, function_call)
    declared = normalize_tools(tools)
    if not declared:
        return _no_tools(messages, nonce), None
    choice, narrowed = normalize_tool_choice(tool_choice, declared)
    ctx = ToolContext(narrowed, choice, parallel_tool_calls is not False, nonce)
    rendered = render_history(messages, nonce)
    if ctx.active:
        prompt = render_tool_prompt(ctx.tools, choice, ctx.parallel_tool_calls, nonce,
                                    custom_prompt=custom_prompt)
        _add_system(rendered, prompt)
        _add_reminder(rendered, reminder(nonce, choice))
    else:
        _add_system(rendered, DISABLED_LINE)
    return finalize(rendered), ctx


def _no_tools(messages: list[dict[str, Any]], nonce: str) -> list[dict[str, Any]]:
    if has_tool_history(messages):
        return finalize(render_history(messages, nonce))
    return [_developer_to_system(m) for m in messages]


def _developer_to_system(msg: dict[str, Any]) -> dict[str, Any]:
    if isinstance(msg, Mapping) and msg.get("role") == "developer":
        return {**msg, "role": "system"}
    return msg


def _add_system(messages: list[Message], text: str) -> None:
    """The tool prompt goes first; merged into a leading system message."""
    if messages and messages[0]["role"] == "system":
        first = messages[0]
        first["content"] = f"{text}\n\n{first['content']}" if first["content"] else text
    else:
        messages.insert(0, {"role": "system", "content": text})


def _add_reminder(messages: list[Message], line: str) -> None:
    for msg in reversed(messages):
        if msg["role"] == "user":
            append_text(msg, line)
            return
