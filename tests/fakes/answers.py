"""Demo answers for the fake upstream: replies that show the proxy working, offline.

`python -m tests.fakes --demo` and `./start.sh demo` (`tests/fakes/demo.py`) answer with
`demo_script` instead of replaying the fixture transcripts, so a new user sees their own prompt
come back, a tool call when they send tools, reasoning for a thinking model, and a tool result
acknowledged. Pure: it reads
the completion body the proxy sent and returns a `Script`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from tests.fakes.zai_script import Script, find_nonce, last_user_text, message_text

_CATALOG: Final = re.compile(r"<tools>\n(.*?)\n</tools>", re.DOTALL)
_TOOL_RESULT: Final = re.compile(r"<tool_result[^>]*>(.*?)</tool_result>", re.DOTALL)
_WORD: Final = re.compile(r"\b[A-Z][a-z][\w-]*")
# the proxy appends a tool reminder to the user's text (zproxy/tools/prompt.py)
_REMINDER: Final = re.compile(r"\s*\(Reminder:.*", re.DOTALL)
PREVIEW_CHARS: Final = 60


def user_prompt(messages: Sequence[Any]) -> str:
    """What the user typed last, without the tool reminder the proxy appended."""
    return _REMINDER.sub("", last_user_text(messages))


def _texts(messages: Sequence[Any]) -> list[str]:
    return [message_text(m.get("content")) for m in messages if isinstance(m, Mapping)]


def tool_catalog(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """The tools the proxy described in the prompt (its `<tools>` block), newest block."""
    for text in reversed(_texts(messages)):
        found = _CATALOG.findall(text)
        if found:
            tools = []
            for line in found[-1].splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("name"):
                    tools.append(entry)
            return tools
    return []


def _sample_value(name: str, schema: Mapping[str, Any], prompt: str) -> Any:
    kind = schema.get("type")
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if kind in {"integer", "number"}:
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    # a capitalised word of the prompt makes a plausible city, name or query
    words = [w for w in _WORD.findall(prompt) if w not in {"What", "Is", "The", "How"}]
    return words[-1] if words else prompt[:PREVIEW_CHARS] or name


def sample_arguments(tool: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    """Arguments for `tool`'s required parameters (all of them when none is required)."""
    params = tool.get("parameters")
    params = params if isinstance(params, Mapping) else {}
    props = params.get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = [k for k in params.get("required") or [] if k in props] or list(props)
    return {key: _sample_value(key, props[key] if isinstance(props[key], Mapping) else {},
                               prompt) for key in required}


def _tool_result(messages: Sequence[Any]) -> str | None:
    """The newest tool result the proxy passed back, when the last user turn holds one."""
    texts = [message_text(m.get("content")) for m in messages
             if isinstance(m, Mapping) and m.get("role") == "user"]
    found = _TOOL_RESULT.findall(texts[-1]) if texts else []
    return found[-1].strip() if found else None


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[:PREVIEW_CHARS - 1] + "…"


def demo_script(body: Mapping[str, Any]) -> tuple[Script, str]:
    """The answer to one completion body, and a short label of what was chosen (for the log)."""
    messages = body.get("messages") or []
    features = body.get("features") if isinstance(body.get("features"), Mapping) else {}
    assert isinstance(features, Mapping)
    prompt = user_prompt(messages)
    words = len(prompt.split())
    thinking = (f"The user wrote {words} word{'' if words == 1 else 's'}. This is the offline "
                "demo, so I echo them back." if features.get("enable_thinking") else None)
    result = _tool_result(messages)
    if result is not None:
        return Script(text=f"The tool answered: {_preview(result)}", thinking=thinking), \
            "tool result acknowledged"
    tools = tool_catalog(messages)
    nonce = find_nonce(messages)
    if tools and nonce is not None:
        tool = tools[0]
        args = json.dumps(sample_arguments(tool, prompt), ensure_ascii=False)
        text = (f"Let me call {tool['name']}.\n<tool_calls_{nonce}>\n"
                f'<call name="{tool["name"]}">{args}</call>\n</tool_calls_{nonce}>')
        return Script(text=text, thinking=thinking), f"tool call {tool['name']}"
    text = (f'You said: "{prompt}". This is zproxy\'s offline demo: the answer comes from '
            "the fake Z.AI upstream in tests/fakes, not from a model.")
    return Script(text=text, thinking=thinking), "echo" + (" + thinking" if thinking else "")


def describe(body: Mapping[str, Any]) -> str:
    """One log line's worth of a completion request: model, modes and the prompt."""
    features = body.get("features") if isinstance(body.get("features"), Mapping) else {}
    assert isinstance(features, Mapping)
    modes = [name for name, key in (("thinking", "enable_thinking"), ("search", "web_search"))
             if features.get(key)]
    tools = len(tool_catalog(body.get("messages") or []))
    parts = [f"model={body.get('model')}", *modes]
    if tools:
        parts.append(f"tools={tools}")
    parts.append(json.dumps(_preview(user_prompt(body.get("messages") or [])),
                            ensure_ascii=False))
    return " ".join(parts)
