"""The pieces both Anthropic answers share: ids, SSE framing, stop reasons, usage, signatures.

Pure. The streaming encoder and the one-message builder use the same helpers, so
`messages.stream(...).get_final_message()` and the non-streaming answer cannot disagree.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from typing import Any, Final

import orjson

PING: Final = b'event: ping\ndata: {"type":"ping"}\n\n'
_STOP_REASONS: Final = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                        "function_call": "tool_use", "content_filter": "refusal"}
SIGNATURE_PREFIX: Final = "zproxy1."


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def encode_events(events: Iterable[dict[str, Any]]) -> bytes:
    """`event: <type>` + `data: <json>` per event: the Python SDK dispatches on the name,
    the TypeScript one (Claude Code) on the `type` inside the data, so both are sent."""
    return b"".join(b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event)
                    + b"\n\n" for event in events)


def signature(thinking: str) -> str:
    """An opaque, gateway-owned signature: the upstream signs nothing, the SDK types require
    a non-empty string, and a signature sent back in history is ignored."""
    digest = hashlib.blake2b(thinking.encode(), digest_size=24).digest()
    return SIGNATURE_PREFIX + base64.urlsafe_b64encode(digest).decode()


def stop_reason(finish_reason: str | None, matched: str | None,
                tool_used: bool) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for an OpenAI finish reason."""
    if tool_used:
        return "tool_use", None
    if matched is not None:
        return "stop_sequence", matched
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn"), None


def usage(openai: dict[str, Any] | None, *, input_estimate: int = 0) -> dict[str, int]:
    """Anthropic usage from OpenAI usage; cached prompt tokens count as cache reads."""
    if not openai:
        return {"input_tokens": input_estimate, "output_tokens": 0,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    details = openai.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    prompt = int(openai.get("prompt_tokens") or 0)
    return {"input_tokens": max(0, prompt - cached),
            "output_tokens": int(openai.get("completion_tokens") or 0),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached}


def tool_input(arguments: str) -> dict[str, Any]:
    """The input object of a tool call (the engine validated the JSON; `{}` if not one)."""
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
