"""Admin changes reach every instance on the same store: tokens and client keys reloaded.

Instances sharing a store (PostgreSQL, `DATABASE_URL`) each hold the tokens and client keys
in memory for the request path. When an admin adds, edits or removes one on instance A, A
bumps one record through the state bus (and waits for it to be in Redis before answering);
every other instance reloads tokens and keys from the store as the news arrives, so a key
created on A authenticates on B, and a token removed on A stops serving on B. A reconnect to
Redis reloads too (what changed during an outage). Without Redis nothing is announced: each
instance sees the store as it was when it started, plus its own changes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import structlog

from zproxy.state.bus import LocalState

log = structlog.get_logger(__name__)

NAMESPACE: Final = "fleet"
KEY: Final = "changed"
KEPT_S: Final = 7 * 86400.0

Reload = Callable[[], Awaitable[None]]


class FleetSync:
    namespace = NAMESPACE

    def __init__(self, state: LocalState, reload: Reload) -> None:
        self._state = state
        self._reload = reload
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._seen: Any = None
        state.register(self)

    async def announce(self) -> None:
        """This instance changed tokens or keys in the store: tell the others."""
        if not self._state.shared:
            return
        self._seen = {"by": self._state.instance, "n": uuid.uuid4().hex}
        self._state.put(NAMESPACE, KEY, self._seen, time.time() + KEPT_S)
        await self._state.flush()

    # --- Replica ------------------------------------------------------------------------

    def apply(self, key: str, value: Any, expires_at: float) -> None:
        if value is None or value == self._seen:
            return
        self._seen = value
        if self._task is not None:
            self._again = True  # one more reload once the running one ends
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    def live_entries(self) -> Iterable[tuple[str, Any, float]]:
        return ()  # a marker, not state: nothing to re-offer after an outage

    async def _run(self) -> None:
        try:
            while True:
                self._again = False
                try:
                    await self._reload()
                except Exception:  # the store may be down too: the next change retries
                    log.exception("fleet.reload_failed")
                if not self._again:
                    return
        finally:
            self._task = None

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
