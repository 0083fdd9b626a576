"""Anthropic `system` and `messages` → OpenAI chat messages, the engine's input. Pure.

Lenient the way the real API is (anthropic-api.md §3.3): unknown block types (server-tool
results, container uploads…) are skipped, thinking blocks in history are dropped whatever their
signature, and consecutive same-role turns are merged. Only what cannot be translated — a block
without its required fields, a PDF — is a 400 naming the block.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, Final

import orjson

from zproxy.errors import ClientRequestError

Message = dict[str, Any]
Block = dict[str, Any]

# Claude Code's first system block: per-conversation billing attribution, never for a model.
BILLING_PREFIX: Final = "x-anthropic-billing-header:"


def bad(message: str, param: str) -> ClientRequestError:
    return ClientRequestError(message, param=param, code="invalid_request_error")


def _string(block: Block, key: str, where: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise bad(f"{where}.{key}: expected a string", f"{where}.{key}")
    return value


def _blocks(content: Any, where: str) -> list[Block]:
    """`content` as a list of blocks: a string is one text block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise bad(f"{where}: expected a string or an array of content blocks", where)
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise bad(f"{where}.{i}: expected a content block with a `type`", f"{where}.{i}")
    return content


def system_text(system: Any) -> str:
    """A string, or text blocks joined by blank lines (`cache_control` ignored)."""
    if system is None:
        return ""
    texts = [_string(b, "text", f"system.{i}") for i, b in enumerate(_blocks(system, "system"))
             if b["type"] == "text"]
    return "\n\n".join(t for t in texts if t and not t.startswith(BILLING_PREFIX))


# --- user blocks ---------------------------------------------------------------------------

def _image_url(block: Block, where: str) -> str:
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{where}.source: expected an object", f"{where}.source")
    if source.get("type") == "url":
        return _string(source, "url", f"{where}.source")
    if source.get("type") == "base64":
        media = _string(source, "media_type", f"{where}.source")
        return f"data:{media};base64,{_string(source, 'data', f'{where}.source')}"
    raise bad(f"{where}.source.type: expected `base64` or `url`", f"{where}.source.type")


def _document_text(block: Block, where: str) -> str:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if not isinstance(source, dict) or kind not in {"text", "content", "base64"}:
        raise bad(f"{where}: only text documents are supported (send PDFs as text)", where)
    if kind == "content":
        body = "\n".join(_flat_text(_blocks(source.get("content"), f"{where}.source.content")))
    elif kind == "text":
        body = _string(source, "data", f"{where}.source")
    else:
        body = _decoded_text(source, where)
    head = [str(block[k]) for k in ("title", "context") if isinstance(block.get(k), str)]
    return "\n".join([*head, body])


def _decoded_text(source: Block, where: str) -> str:
    if not str(source.get("media_type", "")).startswith("text/"):
        raise bad(f"{where}: only text documents are supported (send PDFs as text)", where)
    try:
        return base64.b64decode(_string(source, "data", f"{where}.source")).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise bad(f"{where}.source.data: not base64-encoded UTF-8 text", where) from exc


def _flat_text(blocks: list[Block]) -> list[str]:
    """The text of text and search-result blocks; images become a marker."""
    out = []
    for block in blocks:
        if block["type"] == "text" and isinstance(block.get("text"), str):
            out.append(block["text"])
        elif block["type"] == "search_result":
            inner = block.get("content")
            inner = inner if isinstance(inner, list) else []
            out.append("\n".join([str(block.get("title", "")),
                                  *_flat_text([b for b in inner if isinstance(b, dict)])]))
        elif block["type"] == "image":
            out.append("[image omitted]")
    return out


def _tool_result(block: Block, where: str) -> Message:
    content = block.get("content")
    text = "" if content is None else "\n".join(_flat_text(_blocks(content, f"{where}.content")))
    return {"role": "tool", "tool_call_id": _string(block, "tool_use_id", where),
            "content": text, "is_error": block.get("is_error") is True}


def _user(blocks: list[Block], where: str) -> list[Message]:
    """Tool results first (one tool message each), then the rest as one user turn."""
    results: list[Message] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        kind, at = block["type"], f"{where}.{i}"
        if kind == "tool_result":
            results.append(_tool_result(block, at))
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, at)}})
        elif kind == "document":
            parts.append({"type": "text", "text": _document_text(block, at)})
        elif kind in {"text", "search_result"}:
            parts += [{"type": "text", "text": t} for t in _flat_text([block])]
    if not parts:
        return results
    if any(p["type"] == "image_url" for p in parts):
        return [*results, {"role": "user", "content": parts}]
    return [*results, {"role": "user", "content": "\n".join(p["text"] for p in parts)}]


# --- assistant blocks ----------------------------------------------------------------------

def _tool_call(block: Block, where: str) -> dict[str, Any]:
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise bad(f"{where}.input: expected an object", f"{where}.input")
    return {"id": _string(block, "id", where), "type": "function",
            "function": {"name": _string(block, "name", where),
                         "arguments": orjson.dumps(arguments).decode()}}


def _assistant(blocks: list[Block], where: str) -> list[Message]:
    texts, calls = [], []
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            texts.append(_string(block, "text", f"{where}.{i}"))
        elif block["type"] == "tool_use":
            calls.append(_tool_call(block, f"{where}.{i}"))
        # thinking / redacted_thinking: Anthropic's to verify, nothing the upstream can use
    message: Message = {"role": "assistant", "content": "".join(texts)}
    if calls:
        message["tool_calls"] = calls
    return [message] if texts or calls else []


_ROLES: Final[dict[str, Callable[[list[Block], str], list[Message]]]] = {
    "user": _user, "assistant": _assistant}


def chat_messages(system: Any, messages: list[Any]) -> list[Message]:
    """The OpenAI messages for an Anthropic conversation (system first)."""
    out: list[Message] = []
    text = system_text(system)
    if text:
        out.append({"role": "system", "content": text})
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise bad(f"{where}: expected an object", where)
        convert = _ROLES.get(message.get("role"))  # type: ignore[arg-type]
        if convert is None:
            raise bad(f"{where}.role: expected `user` or `assistant`", f"{where}.role")
        at = f"{where}.content"
        for converted in convert(_blocks(message.get("content"), at), at):
            _append(out, converted)
    return out


def _append(out: list[Message], message: Message) -> None:
    """Merge consecutive same-role turns, as the real API does."""
    last = out[-1] if out else None
    if (last is None or last["role"] != message["role"] or message["role"] == "tool"
            or message["role"] == "system"):
        out.append(message)
        return
    last["content"] = _join(last["content"], message["content"])
    if message.get("tool_calls"):
        last["tool_calls"] = [*last.get("tool_calls", []), *message["tool_calls"]]


def _join(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return f"{a}\n\n{b}" if a and b else a or b
    return [*_parts(a), *_parts(b)]


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []
