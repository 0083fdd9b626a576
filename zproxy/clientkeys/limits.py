"""Per-key limits: requests per minute (sliding window) and tokens per UTC day.

`Limiter` is the interface the gate uses; `MemoryLimiter` counts in this process.
`zproxy.clientkeys.shared.RedisLimiter` implements the same interface on Redis, so any number
of processes share one budget. `hit` is async because a shared limiter asks Redis; keys are
identified by their hash (the same on every instance, whatever each store numbered them).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final, Protocol

WINDOW_S: Final = 60.0
DAY_S: Final = 86400.0


class Limiter(Protocol):
    async def hit(self, key: str, rpm: int | None, tpd: int | None,
                  now: float) -> float | None:
        """Count one request; seconds to wait when a limit is reached (not counted then)."""
        ...

    def add_tokens(self, key: str, tokens: int, now: float) -> None: ...

    def health(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def until_tomorrow(now: float) -> float:
    """Seconds until the next UTC midnight, when a day's token budget starts again."""
    return (int(now // DAY_S) + 1) * DAY_S - now


class MemoryLimiter:
    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}
        self._day: dict[str, tuple[int, int]] = {}  # key -> (UTC day, tokens used)

    async def hit(self, key: str, rpm: int | None, tpd: int | None,
                  now: float) -> float | None:
        return self.check(key, rpm, tpd, now)

    def check(self, key: str, rpm: int | None, tpd: int | None, now: float) -> float | None:
        if tpd is not None:
            day, used = self._day.get(key, (int(now // DAY_S), 0))
            if day == int(now // DAY_S) and used >= tpd:
                return until_tomorrow(now)
        if rpm is not None:
            recent = self._recent.setdefault(key, deque())
            while recent and recent[0] <= now - WINDOW_S:
                recent.popleft()
            if len(recent) >= rpm:
                return recent[0] + WINDOW_S - now
            recent.append(now)
        return None

    def add_tokens(self, key: str, tokens: int, now: float) -> None:
        today = int(now // DAY_S)
        day, used = self._day.get(key, (today, 0))
        self._day[key] = (today, (used if day == today else 0) + tokens)

    def forget(self, key: str) -> None:
        self._recent.pop(key, None)
        self._day.pop(key, None)

    def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "memory"}

    async def aclose(self) -> None:
        pass
