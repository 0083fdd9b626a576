"""The persisted-chat map shared through Redis: every instance continues every chat.

A chat started on instance A and continued on B must reach B's map before the client's next
request does: `remember` publishes the entry and the chat handlers `flush()` before the last
bytes of their answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from zproxy.providers.zai.conversations import ChatBinding, ConversationStore
from zproxy.state.bus import LocalState

NAMESPACE: Final = "chat"


def _value(binding: ChatBinding) -> dict[str, str]:
    return {"chat_id": binding.chat_id, "parent_id": binding.parent_id,
            "credential": binding.credential, "model": binding.model}


def _binding(value: Any) -> ChatBinding:
    return ChatBinding(str(value["chat_id"]), str(value["parent_id"]),
                       str(value["credential"]), str(value["model"]))


class SharedConversationStore(ConversationStore):
    namespace = NAMESPACE

    def __init__(self, state: LocalState, max_entries: int = 1024, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_entries, ttl_s, clock)
        self._state = state
        state.register(self)

    # local changes → Redis
    def _stored(self, key: str, binding: ChatBinding, expires: float) -> None:
        self._state.put(NAMESPACE, key, _value(binding), self._wall(expires))

    def _forgotten(self, key: str) -> None:
        self._state.delete(NAMESPACE, key)

    async def flush(self) -> None:
        await self._state.flush()

    # Redis → local copy
    def apply(self, key: str, value: Any, expires_at: float) -> None:
        if value is None:
            self._drop(key)
            return
        remaining = expires_at - time.time()
        if remaining > 0:
            self._put(key, _binding(value), self._clock() + remaining)

    def live_entries(self) -> Iterator[tuple[str, Any, float]]:
        now = self._clock()
        for key, entry in list(self._entries.items()):
            if entry.expires > now:
                yield key, _value(entry.binding), self._wall(entry.expires)

    def _wall(self, expires: float) -> float:
        return time.time() + (expires - self._clock())
