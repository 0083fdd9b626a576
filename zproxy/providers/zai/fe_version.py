"""The `X-FE-Version` header: configured, or scraped from the front page and cached (§2.5).

A stale version gets HTTP 426, so the value is re-scraped after a 426 and every `ttl`
seconds. Versions are compared numerically: `1.0.107` is newer than `1.0.99`, which a
lexical maximum (ZY's bug) gets wrong.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

log = structlog.get_logger(__name__)

_PATTERN: Final = re.compile(r"prod-fe-(\d+(?:\.\d+)+)")


def version_key(version: str) -> tuple[int, ...]:
    match = _PATTERN.search(version)
    digits = match.group(1) if match else version
    return tuple(int(part) for part in re.findall(r"\d+", digits))


def extract_fe_version(html: str) -> str | None:
    """The numerically greatest `prod-fe-X.Y.Z` in the page, or None."""
    found = {m.group(0) for m in _PATTERN.finditer(html)}
    return max(found, key=version_key) if found else None


class FEVersion:
    def __init__(self, *, override: str | None, fallback: str, ttl_s: float,
                 fetch: Callable[[], Awaitable[str]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._override = override
        self._fallback = fallback
        self._ttl = ttl_s
        self._fetch = fetch
        self._clock = clock
        self._value: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._override:
            return self._override
        if self._value is not None and self._clock() < self._expires:
            return self._value
        async with self._lock:
            if self._value is None or self._clock() >= self._expires:
                await self._refresh()
        return self._value or self._fallback

    def invalidate(self) -> None:
        self._expires = 0.0

    async def _refresh(self) -> None:
        try:
            found = extract_fe_version(await self._fetch())
        except Exception as exc:  # noqa: BLE001 - any failure falls back, and is logged
            log.warning("upstream.fe_version_scrape_failed", error=str(exc))
            found = None
        if found is None:
            found = self._value or self._fallback
        elif found != self._value:
            log.info("upstream.fe_version", version=found)
        self._value = found
        self._expires = self._clock() + self._ttl
