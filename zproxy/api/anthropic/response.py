"""One `chat.completion` → one Anthropic `message`. Pure.

Blocks in the order a stream would open them: thinking (signed), text, then one `tool_use`
per call; an empty answer is one empty text block, as in the stream.
"""

from __future__ import annotations

from typing import Any

from zproxy.api.anthropic.wire import signature, stop_reason, tool_input, usage


def build_message(completion: dict[str, Any], *, message_id: str, model: str,
                  input_estimate: int = 0) -> dict[str, Any]:
    choice = completion["choices"][0]
    message = choice["message"]
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning,
                        "signature": signature(reasoning)})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    calls = message.get("tool_calls") or []
    for call in calls:
        function = call["function"]
        content.append({"type": "tool_use", "id": call["id"], "name": function["name"],
                        "input": tool_input(function.get("arguments") or "")})
    if not content:
        content.append({"type": "text", "text": ""})
    matched = choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else None
    reason, sequence = stop_reason(choice.get("finish_reason"), matched, bool(calls))
    return {"id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": reason, "stop_sequence": sequence,
            "usage": usage(completion.get("usage"), input_estimate=input_estimate)}
