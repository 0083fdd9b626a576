"""Stored responses, for `previous_response_id`, `GET` and `DELETE /v1/responses/{id}`. Pure.

`ResponseStore` is the interface the handlers use; `MemoryResponseStore` is the default,
LRU-bounded and expiring like the persisted-chat `ConversationStore` beside it, so a
Redis-backed store (shared by several workers) can take its place later.

A stored response keeps its own input items and a reference to the response it continued:
a chain of n turns holds each item once (not n copies of a growing transcript), and a
continuation keeps working after its ancestors were evicted or deleted, because the
reference keeps their items alive.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response: dict[str, Any]  # the final `response` object
    input: tuple[dict[str, Any], ...]  # this request's input items
    previous: StoredResponse | None = None

    @property
    def id(self) -> str:
        return str(self.response["id"])

    def history(self) -> list[dict[str, Any]]:
        """Every item of the conversation up to and including this response's output."""
        chain: list[StoredResponse] = []
        node: StoredResponse | None = self
        while node is not None:
            chain.append(node)
            node = node.previous
        items: list[dict[str, Any]] = []
        for stored in reversed(chain):
            items += [*stored.input, *stored.response["output"]]
        return items


class ResponseStore(Protocol):
    def get(self, response_id: str) -> StoredResponse | None: ...

    def put(self, stored: StoredResponse) -> None: ...

    def delete(self, response_id: str) -> bool: ...


class MemoryResponseStore:
    """In-process store: at most `max_entries`, each kept `ttl_s` seconds after its write."""

    def __init__(self, max_entries: int = 1024, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, StoredResponse]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, response_id: str) -> StoredResponse | None:
        found = self._entries.get(response_id)
        if found is None:
            return None
        expires, stored = found
        if expires <= self._clock():
            del self._entries[response_id]
            return None
        self._entries.move_to_end(response_id)
        return stored

    def put(self, stored: StoredResponse) -> None:
        self._entries.pop(stored.id, None)
        self._entries[stored.id] = (self._clock() + self._ttl, stored)
        self._evict()

    def delete(self, response_id: str) -> bool:
        return self._entries.pop(response_id, None) is not None

    def _evict(self) -> None:
        now = self._clock()
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if len(self._entries) <= self._max and expires > now:
                break
            del self._entries[key]
