"""LongCat's web-chat wire format: URLs, headers, bodies (providers.md §2). Pure.

Credentials are cookies only: `passport_token_key` (copied from a logged-in browser), with the
optional region cookie. A request opens a session (`session-create`), streams one completion
into it and deletes it (`session-delete`, ZY and WJ). Two stream generations exist: 2025's
`chat-completion` (OpenAI-like frames, "generation A") and 2026's `chat-completion-V2`
(event-typed frames, "generation B"); `LONGCAT_API` picks one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypedDict
from urllib.parse import quote

DEFAULT_BASE: Final = "https://longcat.chat"
SESSION_CREATE: Final = "/api/v1/session-create"
SESSION_DELETE: Final = "/api/v1/session-delete"
USER_CURRENT: Final = "/api/v1/user-current"
COMPLETION: Final = {"v1": "/api/v1/chat-completion", "v2": "/api/v1/chat-completion-V2"}
COOKIE: Final = "passport_token_key"
REGION_COOKIE: Final = "long_cat_region_key"
APP_KEY: Final = "fe_com.sankuai.friday.fe.longcat"
_USER_AGENT: Final = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                      "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")

Api = Literal["v1", "v2"]


class CompletionBody(TypedDict):
    conversationId: str
    content: str
    reasonEnabled: int
    searchEnabled: int
    parentMessageId: int
    agentId: str
    regenerate: int
    files: list[Any]


def cookie_header(token: str, region: str = "") -> str:
    parts = [f"{COOKIE}={token}"]
    if region:
        parts.append(f"{REGION_COOKIE}={region}")
    return "; ".join(parts)


def headers(base: str, token: str, *, region: str = "", conversation_id: str | None = None,
            now_ms: int | None = None) -> dict[str, str]:
    """What ZY/PG send: the cookie, LongCat's app key, a trace id, the page as Referer
    (`/c/<id>` once a session exists)."""
    stamp = now_ms if now_ms is not None else int(time.time() * 1000)
    return {"Content-Type": "application/json", "Accept": "text/event-stream,application/json",
            "Origin": base, "Referer": f"{base}/c/{conversation_id}" if conversation_id
            else f"{base}/t", "User-Agent": _USER_AGENT, "x-requested-with": "XMLHttpRequest",
            "x-client-language": "en", "m-appkey": APP_KEY, "m-traceid": str(stamp),
            "Cookie": cookie_header(token, region)}


def delete_url(base: str, conversation_id: str) -> str:
    return f"{base}{SESSION_DELETE}?conversationId={quote(conversation_id, safe='')}"


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content
                         if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def flatten(messages: Sequence[Mapping[str, Any]]) -> str:
    """The whole conversation as the one `content` string LongCat takes per session.

    A lone user turn goes as it is. Longer histories are labelled turns separated by blank
    lines: ZY's `role:text` joined with `;` cannot be told apart from a `;` inside a text.
    """
    turns = [(str(m.get("role")), text_of(m.get("content"))) for m in messages]
    turns = [(role, text) for role, text in turns if text]
    if len(turns) == 1 and turns[0][0] == "user":
        return turns[0][1]
    return "\n\n".join(f"{role}: {text}" for role, text in turns)


def session_body() -> dict[str, str]:
    return {"model": "", "agentId": "1"}


def completion_body(conversation_id: str, content: str, *, reasoning: bool, search: bool,
                    agent_id: str = "1") -> CompletionBody:
    """PG's V2 body; the 2025 endpoint takes the same fields (and ignores the extra ones)."""
    return CompletionBody(conversationId=conversation_id, content=content,
                          reasonEnabled=int(reasoning), searchEnabled=int(search),
                          parentMessageId=0, agentId=agent_id, regenerate=0, files=[])
