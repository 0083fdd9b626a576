"""Per-key limits: requests per minute (sliding window) and tokens per UTC day.

`Limiter` is the interface the gate uses; `MemoryLimiter` counts in this process. A shared
one (Redis, issue 13) implements the same two methods so several processes share a budget.
"""

from __future__ import annotations

from collections import deque
from typing import Final, Protocol

WINDOW_S: Final = 60.0
DAY_S: Final = 86400.0


class Limiter(Protocol):
    def hit(self, key_id: int, rpm: int | None, tpd: int | None, now: float) -> float | None:
        """Count one request; seconds to wait when a limit is reached (not counted then)."""
        ...

    def add_tokens(self, key_id: int, tokens: int, now: float) -> None: ...


class MemoryLimiter:
    def __init__(self) -> None:
        self._recent: dict[int, deque[float]] = {}
        self._day: dict[int, tuple[int, int]] = {}  # key id -> (UTC day, tokens used)

    def hit(self, key_id: int, rpm: int | None, tpd: int | None, now: float) -> float | None:
        if tpd is not None:
            day, used = self._day.get(key_id, (int(now // DAY_S), 0))
            if day == int(now // DAY_S) and used >= tpd:
                return (day + 1) * DAY_S - now
        if rpm is not None:
            recent = self._recent.setdefault(key_id, deque())
            while recent and recent[0] <= now - WINDOW_S:
                recent.popleft()
            if len(recent) >= rpm:
                return recent[0] + WINDOW_S - now
            recent.append(now)
        return None

    def add_tokens(self, key_id: int, tokens: int, now: float) -> None:
        today = int(now // DAY_S)
        day, used = self._day.get(key_id, (today, 0))
        self._day[key_id] = (today, (used if day == today else 0) + tokens)

    def forget(self, key_id: int) -> None:
        self._recent.pop(key_id, None)
        self._day.pop(key_id, None)
