"""Stored Responses API answers shared through Redis: `previous_response_id`, GET and DELETE
work whichever instance stored the response.

Each response is kept once with the id of the one it continued (not a copy of the growing
transcript); a copy rebuilds the chain locally. A response whose ancestor has not reached this
copy yet (a snapshot arrives in any order) waits for it, invisible, rather than being served
with a truncated history.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Final

from zproxy.api.responses.store import MemoryResponseStore, StoredResponse
from zproxy.state.bus import LocalState

NAMESPACE: Final = "response"


def _value(stored: StoredResponse) -> dict[str, Any]:
    return {"response": stored.response, "input": list(stored.input),
            "previous": stored.previous.id if stored.previous is not None else None}


class SharedResponseStore(MemoryResponseStore):
    namespace = NAMESPACE

    def __init__(self, state: LocalState, max_entries: int = 1024, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_entries, ttl_s, clock)
        self._state = state
        self._waiting: OrderedDict[str, list[tuple[dict[str, Any], float]]] = OrderedDict()
        self._max_waiting = max_entries
        state.register(self)

    def put(self, stored: StoredResponse) -> None:
        super().put(stored)
        self._state.put(NAMESPACE, stored.id, _value(stored), time.time() + self._ttl)

    def delete(self, response_id: str) -> bool:
        found = super().delete(response_id)
        self._state.delete(NAMESPACE, response_id)
        return found

    async def flush(self) -> None:
        await self._state.flush()

    def apply(self, key: str, value: Any, expires_at: float) -> None:
        if value is None:
            super().delete(key)
            return
        previous_id = value["previous"]
        previous = None if previous_id is None else self.get(previous_id)
        if previous_id is not None and previous is None:
            self._waiting.setdefault(previous_id, []).append((value, expires_at))
            while len(self._waiting) > self._max_waiting:
                self._waiting.popitem(last=False)
            return
        remaining = expires_at - time.time()
        if remaining <= 0:
            return
        stored = StoredResponse(value["response"], tuple(value["input"]), previous)
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + remaining, stored)
        self._evict()
        for child, child_expires in self._waiting.pop(key, []):
            self.apply(str(child["response"]["id"]), child, child_expires)

    def live_entries(self) -> Iterator[tuple[str, Any, float]]:
        now, wall = self._clock(), time.time()
        for key, (expires, stored) in list(self._entries.items()):
            if expires > now:
                yield key, _value(stored), wall + (expires - now)
