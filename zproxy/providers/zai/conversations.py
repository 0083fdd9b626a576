"""Stateless OpenAI histories ↔ persisted upstream chats. Pure; the clock is injected.

Persisted-chat models (zai-protocol.md §2.3, §5) keep the conversation on the server: a request
sends only the new user message plus `chat_id` and `current_user_message_parent_id` (the last
assistant message id). OpenAI clients instead resend the whole history each turn. The store
maps a digest of the history so far (ending with our assistant reply) to the upstream chat
that holds it, so the next request can continue that chat instead of starting a new one.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

_TEXT_TYPES: Final = frozenset({"text", "input_text"})
_NEW_ROLES: Final = frozenset({"user", "tool"})  # what a client adds after our reply
_FOLD_SEPARATOR: Final = "\n\n"


@dataclass(frozen=True, slots=True)
class ChatBinding:
    """An upstream chat and the assistant message a continuation must hang from."""

    chat_id: str
    parent_id: str
    credential: str  # opaque key of the upstream token that owns the chat
    model: str


@dataclass(frozen=True, slots=True)
class PersistedPlan:
    """What to send: `history` goes to chats/new when starting fresh (binding None)."""

    binding: ChatBinding | None
    history: list[dict[str, Any]]
    current: dict[str, Any]
    parent_id: str | None


# --- canonical digests ---------------------------------------------------------------------


def _canonical_content(content: Any) -> list[list[str]]:
    """Text and image-URL parts; a plain string equals one text part. Empty text is dropped."""
    if isinstance(content, str):
        return [["text", content.strip()]] if content.strip() else []
    if not isinstance(content, list):
        return []
    parts = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") in _TEXT_TYPES and isinstance(part.get("text"), str):
            if part["text"].strip():
                parts.append(["text", part["text"].strip()])
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            parts.append(["image", str(url)])
    return parts


def _canonical_arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return arguments
    return arguments


def _canonical_calls(calls: Any) -> list[list[Any]]:
    if not isinstance(calls, list):
        return []
    out = []
    for call in calls:
        if not isinstance(call, Mapping):
            continue
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        out.append([str(call.get("id") or ""), str(function.get("name") or ""),
                    _canonical_arguments(function.get("arguments"))])
    return out


def canonical_message(message: Mapping[str, Any]) -> bytes:
    """Compact, key-sorted JSON of what identifies a message: role, content, tool calls."""
    value = [str(message.get("role") or ""), _canonical_content(message.get("content")),
             _canonical_calls(message.get("tool_calls"))]
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _digests(model: str, messages: Sequence[Mapping[str, Any]]) -> Iterator[tuple[int, str]]:
    """(k, digest of messages[:k]) for k = 1..len, hashing each message once."""
    running = hashlib.sha256(orjson.dumps(model))  # same prefix as conversation_key
    for k, message in enumerate(messages, start=1):
        running.update(canonical_message(message))
        yield k, running.copy().hexdigest()


def conversation_key(model: str, messages: Sequence[Mapping[str, Any]]) -> str:
    running = hashlib.sha256(orjson.dumps(model))
    for message in messages:
        running.update(canonical_message(message))
    return running.hexdigest()


# --- the store ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    binding: ChatBinding
    expires: float


class ConversationStore:
    """Digest of a history ending with our reply → the chat holding it. LRU-bounded, expiring.

    One live entry per upstream chat: continuing a chat moves its entry to the new history,
    so a client that branches from an older turn starts a fresh chat rather than hanging a
    message from a stale parent.
    """

    def __init__(self, max_entries: int = 1024, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_chat: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, model: str, messages: Sequence[Mapping[str, Any]],
                 binding: ChatBinding) -> None:
        """`messages` is the client history plus the assistant reply we just produced."""
        self.forget(binding)
        key = conversation_key(model, messages)
        expires = self._clock() + self._ttl
        self._put(key, binding, expires)
        self._stored(key, binding, expires)

    def lookup(self, model: str,
               messages: Sequence[Mapping[str, Any]]) -> tuple[ChatBinding, int] | None:
        """The binding for the longest stored prefix `messages[:k]` (k < len, ending with an
        assistant message) and k, where the new messages start."""
        candidates = [(k, digest) for k, digest in _digests(model, messages[:-1])
                      if messages[k - 1].get("role") == "assistant"]
        now = self._clock()
        for k, digest in reversed(candidates):
            entry = self._entries.get(digest)
            if entry is None:
                continue
            if entry.expires <= now:
                self._drop(digest)
                continue
            self._entries.move_to_end(digest)
            return entry.binding, k
        return None

    def forget(self, binding: ChatBinding) -> None:
        """Drop the entry of `binding`'s chat (e.g. after the upstream rejected it)."""
        key = self._by_chat.get(binding.chat_id)
        if key is not None:
            self._drop(key)
            self._forgotten(key)

    async def flush(self) -> None:
        """Wait until this process's changes are visible to the others (shared stores)."""

    # Hooks for a shared store (zproxy.state): what this process changed, to pass on.
    def _stored(self, key: str, binding: ChatBinding, expires: float) -> None:
        pass

    def _forgotten(self, key: str) -> None:
        pass

    def _put(self, key: str, binding: ChatBinding, expires: float) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._by_chat.pop(old.binding.chat_id, None)
        previous = self._by_chat.get(binding.chat_id)
        if previous is not None:  # one live entry per chat, whoever moved it
            self._drop(previous)
        self._entries[key] = _Entry(binding, expires)
        self._by_chat[binding.chat_id] = key
        self._evict()

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and self._by_chat.get(entry.binding.chat_id) == key:
            del self._by_chat[entry.binding.chat_id]

    def _evict(self) -> None:
        now = self._clock()
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if len(self._entries) <= self._max and entry.expires > now:
                break
            self._drop(key)


# --- planning -------------------------------------------------------------------------------


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        return []
    return [p["text"] for p in content if isinstance(p, Mapping)
            and p.get("type") in _TEXT_TYPES and isinstance(p.get("text"), str) and p["text"]]


def _images(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [dict(p) for p in content if isinstance(p, Mapping) and p.get("type") == "image_url"]


def fold_messages(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One user message from several: texts joined by blank lines, then any image parts."""
    if len(messages) == 1 and messages[0].get("role") == "user":
        return dict(messages[0])
    text = _FOLD_SEPARATOR.join(t for m in messages for t in _texts(m.get("content")))
    images = [part for m in messages for part in _images(m.get("content"))]
    if not images:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [{"type": "text", "text": text}, *images]}


def _new_turn_start(messages: Sequence[Mapping[str, Any]]) -> int:
    """Index where the trailing run of user/tool messages begins."""
    start = len(messages)
    while start > 0 and messages[start - 1].get("role") in _NEW_ROLES:
        start -= 1
    return start if start < len(messages) else len(messages) - 1


def plan_persisted(messages: Sequence[Mapping[str, Any]],
                   lookup_result: tuple[ChatBinding, int] | None) -> PersistedPlan:
    """Continue the bound chat with the messages since it, or start fresh with a history.

    A continuation whose new messages include an assistant turn the chat never saw (the
    client edited or spliced the history) falls back to a fresh chat.
    """
    if not messages:
        raise ValueError("messages must not be empty")
    if lookup_result is not None:
        binding, k = lookup_result
        new = messages[k:]
        if new and all(m.get("role") != "assistant" for m in new):
            return PersistedPlan(binding, [], fold_messages(new), binding.parent_id)
    start = _new_turn_start(messages)
    return PersistedPlan(None, [dict(m) for m in messages[:start]],
                         fold_messages(messages[start:]), None)
