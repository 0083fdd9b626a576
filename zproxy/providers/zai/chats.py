"""The `POST /api/v1/chats/new` body and reply (zai-protocol.md §2.3). Pure; ids and time injected.

The body is Open WebUI's chat object: `history.messages` is a tree keyed by message id, linked
with `parentId` / `childrenIds`, and `currentId` names the leaf. Earlier turns of a stateless
OpenAI history become a chain ending in the current user message, whose id is then sent as the
completion's `current_user_message_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

# Z.AI: ZY HEAD titles new chats "新聊天" and cuts the user message to 500 chars + "..."
# (seen 2026-03).
CHAT_TITLE: Final = "新聊天"
CURRENT_CONTENT_LIMIT: Final = 500
_TEXT_TYPES: Final = frozenset({"text", "input_text"})

# Z.AI: the web UI's features for glm-4.6v / other models (ZY HEAD, seen 2026-03).
VISION_MCP_SERVERS: Final = ("vlm-image-search", "vlm-image-recognition", "vlm-image-processing")
_TOOL_SELECTOR: Final = {"type": "tool_selector", "server": "tool_selector_h", "status": "hidden"}


def message_text(content: Any) -> str:
    """Text of an OpenAI content value; text parts joined with a space (as ZY does)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [p["text"] for p in content if isinstance(p, Mapping)
             and p.get("type") in _TEXT_TYPES and isinstance(p.get("text"), str)]
    return " ".join(t for t in texts if t).strip()


def _cut(text: str) -> str:
    return text if len(text) <= CURRENT_CONTENT_LIMIT else text[:CURRENT_CONTENT_LIMIT] + "..."


def chat_features(vision: bool) -> list[dict[str, str]]:
    if vision:
        return [{"type": "mcp", "server": s, "status": "selected"} for s in VISION_MCP_SERVERS]
    return [dict(_TOOL_SELECTOR)]


def _node(msg_id: str, parent: str | None, role: str, content: str, timestamp: int,
          model_id: str) -> dict[str, Any]:
    return {"id": msg_id, "parentId": parent, "childrenIds": [], "role": role,
            "content": content, "timestamp": timestamp, "models": [model_id]}


def history_tree(*, model_id: str, history: Sequence[Mapping[str, Any]],
                 current: Mapping[str, Any], user_message_id: str,
                 new_id: Callable[[], str], timestamp: int,
                 files: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """`{messages: {id: node}, currentId}`: earlier turns chained to the current message."""
    nodes: dict[str, dict[str, Any]] = {}
    parent: str | None = None
    for message in history:
        msg_id = new_id()
        nodes[msg_id] = _node(msg_id, parent, str(message.get("role") or "user"),
                              message_text(message.get("content")), timestamp, model_id)
        if parent is not None:
            nodes[parent]["childrenIds"].append(msg_id)
        parent = msg_id
    leaf = _node(user_message_id, parent, "user", _cut(message_text(current.get("content"))),
                 timestamp, model_id)
    if files:
        leaf["files"] = [dict(f) for f in files]
    if parent is not None:
        nodes[parent]["childrenIds"].append(user_message_id)
    nodes[user_message_id] = leaf
    return {"messages": nodes, "currentId": user_message_id}


def chats_new_body(*, model_id: str, history: Sequence[Mapping[str, Any]],
                   current: Mapping[str, Any], user_message_id: str,
                   new_id: Callable[[], str], now_ms: int, enable_thinking: bool,
                   web_search: bool, mcp_servers: Sequence[str], vision: bool,
                   files: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The JSON body for `POST /api/v1/chats/new` (fixtures/zai/chats_new_request.json)."""
    tree = history_tree(model_id=model_id, history=history, current=current,
                        user_message_id=user_message_id, new_id=new_id,
                        timestamp=now_ms // 1000, files=files)
    return {"chat": {
        "id": "", "title": CHAT_TITLE, "models": [model_id], "params": {}, "history": tree,
        "tags": [], "flags": [], "features": chat_features(vision),
        "mcp_servers": list(mcp_servers), "enable_thinking": enable_thinking,
        "auto_web_search": web_search, "message_version": 1, "extra": {},
        "timestamp": now_ms,
    }}


def chat_id_from_response(body: Any) -> str | None:
    """The new chat's id: `id`, else `chat.id`; None when neither is a non-empty string."""
    if not isinstance(body, Mapping):
        return None
    chat = body.get("chat")
    for value in (body.get("id"), chat.get("id") if isinstance(chat, Mapping) else None):
        if isinstance(value, str) and value:
            return value
    return None
