"""K2Think's web-chat wire format: URLs, headers and JSON shapes (providers.md §1). Pure.

K2Think is an Open WebUI deployment (`/api/chat/completions`, `<details type="reasoning">`
markup): the guest endpoint answers without any account, a signed-in user's JWT goes in
`Authorization: Bearer`. Streams are `data: <json>` lines whose `content` is a cumulative
snapshot of the rendered answer (`zproxy.providers.k2think.decoder`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, NotRequired, TypedDict

DEFAULT_BASE: Final = "https://www.k2think.ai"
GUEST_PAGE: Final = "/guest"
GUEST_NEW_CHAT: Final = "/api/v1/chats/guest/new"
GUEST_COMPLETIONS: Final = "/api/guest/chat/completions"
USER_COMPLETIONS: Final = "/api/chat/completions"
MODELS: Final = "/api/models"

# K2Think: the backend rejects assistant turns without one of these (IFM, 2026).
THINKING_KEYS: Final = ("think", "reasoning", "reasoning_content", "think_fast", "think_faster")
# Payloads that mark the end or carry nothing (ZY, TA skip them; TA/WS stop on [DONE]).
END_MARKERS: Final = frozenset({"", "-1", "[DONE]", "DONE", "done"})
_USER_AGENT: Final = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
                      "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")


class WireMessage(TypedDict):
    role: str
    content: str
    reasoning: NotRequired[str]


class CompletionBody(TypedDict):
    stream: bool
    model: str
    messages: list[WireMessage]
    params: dict[str, Any]
    features: dict[str, bool]
    conversation_id: NotRequired[str]
    extra_body: NotRequired[dict[str, Any]]


def headers(base: str, *, bearer: str | None = None,
            cookies: Mapping[str, str] | None = None) -> dict[str, str]:
    """The browser-like headers every source sends. `Accept-Encoding` stays at gzip/deflate:
    ZY found `br`/`zstd` broke decoding (2025-09)."""
    out = {"Accept": "text/event-stream, application/json",
           "Accept-Language": "en-US,en;q=0.9", "Accept-Encoding": "gzip, deflate",
           "Content-Type": "application/json", "Origin": base,
           "Referer": f"{base}{GUEST_PAGE}" if bearer is None else f"{base}/",
           "User-Agent": _USER_AGENT, "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors",
           "Sec-Fetch-Site": "same-origin"}
    if bearer is not None:
        out["Authorization"] = f"Bearer {bearer}"
    if cookies:
        out["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return out


def text_of(content: Any) -> str:
    """String content as is; the text parts of a list joined by newlines (images dropped:
    the web chat takes no uploads from us)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content
                         if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def wire_messages(messages: Sequence[Mapping[str, Any]], *,
                  repair_history: bool) -> list[WireMessage]:
    """System text merged into the first user turn (ZY, TA: the endpoint was treated as if it
    ignored system messages), and, with `repair_history`, an empty `reasoning` on assistant
    turns (IFM: the 2026 backend rejects them otherwise)."""
    system = "\n\n".join(text_of(m.get("content")) for m in messages
                         if m.get("role") == "system" and text_of(m.get("content")))
    out: list[WireMessage] = []
    for message in messages:
        role = str(message.get("role"))
        if role == "system":
            continue
        entry = WireMessage(role=role, content=text_of(message.get("content")))
        if role == "assistant" and repair_history:
            entry["reasoning"] = ""
        out.append(entry)
    if system:
        first = next((m for m in out if m["role"] == "user"), None)
        if first is None:
            out.insert(0, WireMessage(role="user", content=system))
        else:
            first["content"] = f"{system}\n\n{first['content']}" if first["content"] else system
    return out


def completion_body(model: str, messages: list[WireMessage], *, temperature: float | None,
                    max_tokens: int | None, reasoning_effort: str | None,
                    conversation_id: str | None) -> CompletionBody:
    """Always `stream: true`: the snapshot stream is what every guest client reads; a
    non-streaming client request is aggregated above the provider."""
    params: dict[str, Any] = {}
    if temperature is not None:
        params["temperature"] = temperature
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    body = CompletionBody(stream=True, model=model, messages=messages, params=params,
                          features={"web_search": False})
    if conversation_id:
        body["conversation_id"] = conversation_id
    if reasoning_effort:
        body["extra_body"] = {"chat_template_kwargs": {"reasoning_effort": reasoning_effort}}
    return body


def guest_chat_body(model: str, first_user_text: str, *, now_s: int,
                    message_id: str | None = None) -> dict[str, Any]:
    """ZY's `chats/guest/new` body (field names exact, providers.md §1.4)."""
    mid = message_id or str(uuid.uuid4())
    message = {"id": mid, "parentId": None, "childrenIds": [], "role": "user",
               "content": first_user_text, "timestamp": now_s, "models": [model]}
    return {"chat": {"id": "", "title": "Guest Chat", "models": [model], "params": {},
                     "history": {"messages": {mid: message}, "currentId": mid},
                     "messages": [message], "tags": [], "timestamp": now_s * 1000}}
