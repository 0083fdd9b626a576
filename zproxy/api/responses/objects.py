"""The `response` object and its output items, in the exact shape the `openai` SDK parses
(`openai/types/responses/response.py` and the item models beside it). Pure.

`ResponseShell` holds what every snapshot of one response repeats (the request's echoed
settings); `ResponseShell.object(...)` builds a snapshot for a given status and output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from zproxy.api.responses.request import ResponsesRequest
from zproxy.errors import ProxyError, UpstreamRateLimitError
from zproxy.translate.response import estimate_tokens

# `ResponseError.code` is a closed Literal in the SDK: map ours onto the two that fit.
RATE_LIMITED: Final = "rate_limit_exceeded"
SERVER_ERROR: Final = "server_error"

NewId = Callable[[str], str]  # prefix ("resp", "msg", …) → a fresh id


@dataclass(frozen=True, slots=True)
class ResponseShell:
    id: str
    created_at: int
    request: ResponsesRequest

    def object(self, status: str, output: list[dict[str, Any]], *,
               usage: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
               incomplete: str | None = None, completed_at: int | None = None,
               ) -> dict[str, Any]:
        req = self.request
        return {
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": status, "completed_at": completed_at, "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
            "model": req.model, "output": output,
            "parallel_tool_calls": req.parallel_tool_calls,
            "previous_response_id": req.previous_response_id,
            "reasoning": req.reasoning or {"effort": None, "summary": None},
            "store": req.store, "temperature": req.temperature,
            "text": req.text or {"format": {"type": "text"}},
            "tool_choice": req.tool_choice, "tools": list(req.tools), "top_p": req.top_p,
            "truncation": "disabled", "usage": usage, "metadata": req.metadata or {},
        }


def message_item(item_id: str, status: str, text: str | None = None,
                 annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    content = [] if text is None else [output_text(text, annotations or [])]
    return {"type": "message", "id": item_id, "role": "assistant", "status": status,
            "content": content}


def output_text(text: str, annotations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}


def reasoning_item(item_id: str, status: str, text: str | None = None) -> dict[str, Any]:
    summary = [] if text is None else [summary_text(text)]
    return {"type": "reasoning", "id": item_id, "status": status, "summary": summary}


def summary_text(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str,
                       status: str) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def url_citation(annotation: dict[str, Any]) -> dict[str, Any] | None:
    """A chat-completions `url_citation` annotation (nested) as a Responses one (flat)."""
    cite = annotation.get("url_citation")
    if annotation.get("type") != "url_citation" or not isinstance(cite, dict):
        return None
    return {"type": "url_citation", "url": cite["url"], "title": cite.get("title") or "",
            "start_index": cite["start_index"], "end_index": cite["end_index"]}


def response_usage(chat_usage: dict[str, Any] | None, reasoning_chars: int) -> dict[str, Any]:
    """Chat-completions usage → Responses usage. Z.AI does not split out reasoning tokens,
    so they are estimated from the reasoning text (never above the output total)."""
    usage = chat_usage or {}
    output = int(usage.get("completion_tokens", 0))
    details = usage.get("prompt_tokens_details") or {}
    return {
        "input_tokens": int(usage.get("prompt_tokens", 0)),
        "input_tokens_details": {"cached_tokens": int(details.get("cached_tokens") or 0),
                                 "cache_write_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {
            "reasoning_tokens": min(output, estimate_tokens(reasoning_chars))
            if reasoning_chars else 0},
        "total_tokens": int(usage.get("total_tokens", 0)),
    }


def response_error(exc: BaseException) -> dict[str, Any]:
    """`response.error` for `response.failed`: the SDK's closed code set, our message."""
    message = exc.message if isinstance(exc, ProxyError) else "internal server error"
    code = RATE_LIMITED if isinstance(exc, UpstreamRateLimitError) else SERVER_ERROR
    return {"code": code, "message": message}
