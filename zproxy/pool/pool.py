"""UserPool: the user tokens the request path draws from, entirely in memory.

`pick` / `success` / `failure` are what `TokenPool` calls per attempt; they touch no store.
What changed (counters, health, events) is marked dirty and handed to the flusher by
`take_dirty()` / `take_events()`. Admin changes go through `put` / `drop`, which take effect
on the very next pick.

Health (zai-protocol.md §10, made configurable): a failure that belongs to the token counts;
`threshold` consecutive ones rest it for `recovery_s`; then one request probes it (half-open):
success makes it healthy, failure rests it again. When the failure that rested it was a 401,
the token is validated in the background and, if the upstream confirms, marked invalid until
someone edits it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Final

import structlog

from zproxy.errors import UpstreamAuthError, UpstreamError
from zproxy.pool import health as h
from zproxy.pool.model import COOLING, DISABLED, HEALTHY, INVALID, TokenEntry, token_hash
from zproxy.pool.schedule import StrideScheduler
from zproxy.providers.zai.tokens import Credential

log = structlog.get_logger(__name__)

EVENTS_KEPT: Final = 500
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class PoolEvent:
    at: float
    token_id: int | None
    token: str  # label or fingerprint
    event: str  # added | removed | disabled | enabled | cooled | recovered | invalid | edited
    detail: str | None = None

    def row(self) -> dict[str, Any]:
        return {"at": self.at, "token_id": self.token_id, "token": self.token,
                "event": self.event, "detail": self.detail}


Validate = Callable[[TokenEntry], Awaitable[bool]]  # True: the upstream confirmed it invalid


class UserPool:
    def __init__(self, *, clock: Clock = time.time, policy: h.Policy | None = None,
                 health: h.HealthStore | None = None) -> None:
        self.clock = clock
        self.policy = policy or h.Policy()
        self.health: h.HealthStore = health or h.MemoryHealth()
        self.confirm_invalid: Validate | None = None  # set once the HTTP session exists
        self._entries: dict[int, TokenEntry] = {}
        self._by_credential: dict[Credential, TokenEntry] = {}
        self._by_key: dict[str, TokenEntry] = {}
        self._schedule = StrideScheduler()
        self._cooling: set[TokenEntry] = set()
        self._dirty: set[int] = set()
        self._health_dirty: set[int] = set()
        self.events: deque[PoolEvent] = deque(maxlen=EVENTS_KEPT)
        self._unsaved: list[PoolEvent] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.health.watch(self.health_changed)

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], *, clock: Clock = time.time) -> UserPool:
        """A store-less pool (tests, and TokenPool built on its own)."""
        pool = cls(clock=clock)
        for n, token in enumerate(dict.fromkeys(tokens), start=1):
            pool.put(TokenEntry.from_row({"id": -n, "token": token, "source": "env",
                                          "token_hash": token_hash(token)}))
        return pool

    # --- the request path ------------------------------------------------------------

    def pick(self, exclude: Collection[Credential] = (), *,
             prefer: str | None = None, provider: str | None = None) -> Credential | None:
        """The next token to use; with `provider`, only that provider's tokens."""
        def foreign(entry: TokenEntry) -> bool:
            return provider is not None and entry.provider != provider

        entry = self._preferred(prefer, exclude, foreign) or \
            self._due_probe(exclude, foreign) or \
            self._schedule.pick(lambda e: e.full or e.credential in exclude or foreign(e))
        if entry is None:
            return None
        entry.requests += 1
        entry.last_used_at = self.clock()
        self._dirty.add(entry.id)
        return entry.credential

    def success(self, credential: Credential) -> None:
        entry = self._by_credential.get(credential)
        if entry is None:
            return
        entry.successes += 1
        credential.failures = 0
        before = self.health.get(entry.id)
        if before.state == HEALTHY and before.failures == 0:
            self._dirty.add(entry.id)
            return
        self._set_health(entry, h.after_success(before))
        if before.state == COOLING:
            self.event(entry, "recovered", "probe succeeded")

    def failure(self, credential: Credential, error: UpstreamError) -> None:
        entry = self._by_credential.get(credential)
        if entry is None:
            return
        now = self.clock()
        entry.failures += 1
        entry.last_error, entry.last_error_at = f"{error.cause}: {error.message}"[:500], now
        before = self.health.get(entry.id)
        after = h.after_failure(before, now, self.policy)
        credential.failures = after.failures
        self._set_health(entry, after)
        if after.state == COOLING and (before.state != COOLING or before.probing):
            self.event(entry, "cooled", f"{after.failures} consecutive failures "
                        f"({error.cause}); resting {self.policy.recovery_s:g} s")
            log.warning("pool.token_cooled", token=entry.display, cause=error.cause,
                        seconds=self.policy.recovery_s)
            if isinstance(error, UpstreamAuthError) and error.upstream_status in (401, 403):
                self._confirm_later(entry)

    # --- admin changes ---------------------------------------------------------------

    def put(self, entry: TokenEntry, *, event: str | None = None) -> None:
        """Add or replace an entry (same id); effective on the next pick. Requests in flight
        keep the same Credential object, so their release and report still land."""
        old = self._entries.get(entry.id)
        if old is not None:
            self._unlink(old)
            entry.pass_ = old.pass_
            if old.token == entry.token:
                entry.credential = old.credential
        self._entries[entry.id] = entry
        self._by_credential[entry.credential] = entry
        self._by_key[entry.credential.key] = entry
        self.health.track(entry.id, entry.token_hash)
        self._place(entry)
        if event is not None:
            self.event(entry, event)

    def drop(self, token_id: int) -> None:
        entry = self._entries.pop(token_id, None)
        if entry is not None:
            self._unlink(entry)
            self.health.forget(token_id)
            # unlinked: the row is gone, and PostgreSQL refuses an event naming it
            self.event(entry, "removed", unlinked=True)

    def health_changed(self, token_id: int) -> None:
        """Another instance changed this token's health (shared health): take it in or out
        of the schedule now, and keep it for the store like a change made here."""
        entry = self._entries.get(token_id)
        if entry is None:
            return
        health = self.health.get(token_id)
        entry.credential.failures = health.failures
        self._health_dirty.add(token_id)
        self._place(entry)
        log.info("pool.health_changed_elsewhere", token=entry.display, state=health.state,
                 failures=health.failures)

    def restore_health(self, entry: TokenEntry, health: h.Health) -> None:
        """Health read back from the store at start."""
        self.health.put(entry.id, health)
        entry.credential.failures = health.failures
        self._place(entry)

    def mark_invalid(self, entry: TokenEntry, reason: str) -> None:
        if self.health.get(entry.id).state == INVALID:
            return
        self._set_health(entry, h.invalid(self.health.get(entry.id)))
        entry.last_error, entry.last_error_at = reason, self.clock()
        self.event(entry, "invalid", reason)
        log.warning("pool.token_invalid", token=entry.display, reason=reason)

    def mark_valid(self, entry: TokenEntry) -> None:
        before = self.health.get(entry.id)
        if before.state in (INVALID, COOLING):
            self._set_health(entry, h.HEALTHY_STATE)
            self.event(entry, "recovered", "validation succeeded")

    # --- reading ---------------------------------------------------------------------

    def get(self, token_id: int) -> TokenEntry | None:
        return self._entries.get(token_id)

    def entries(self) -> list[TokenEntry]:
        return list(self._entries.values())

    def state(self, entry: TokenEntry) -> str:
        if not entry.enabled:
            return DISABLED
        return self.health.get(entry.id).state

    def health_of(self, entry: TokenEntry) -> h.Health:
        return self.health.get(entry.id)

    @property
    def credentials(self) -> list[Credential]:
        return [e.credential for e in self._entries.values()]

    def snapshot(self) -> dict[str, int]:
        states = [self.state(e) for e in self._entries.values()]
        return {"user_tokens": len(states),
                "user_tokens_usable": sum(s == HEALTHY for s in states),
                "user_tokens_cooling": states.count(COOLING),
                "user_tokens_invalid": states.count(INVALID),
                "user_tokens_disabled": states.count(DISABLED),
                "user_active_requests": sum(e.credential.active for e in self._entries.values())}

    def describe_unavailable(self) -> str:
        counts = self.snapshot()
        if not counts["user_tokens"]:
            return "no Z.AI user token is configured"
        parts = [f"{counts[f'user_tokens_{s}']} {s}" for s in ("cooling", "invalid", "disabled")
                 if counts[f"user_tokens_{s}"]]
        busy = counts["user_tokens_usable"]
        if busy:
            parts.append(f"{busy} healthy but busy or already tried")
        total = counts["user_tokens"]
        return f"none of the {total} Z.AI user tokens can serve ({', '.join(parts)})"

    # --- the flusher -----------------------------------------------------------------

    def take_dirty(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(counter rows, health rows) changed since the last call."""
        counters = [self._entries[i].runtime_row() for i in self._dirty if i in self._entries]
        healths = [self._health_row(self._entries[i]) for i in self._health_dirty
                   if i in self._entries]
        self._dirty.clear()
        self._health_dirty.clear()
        return counters, healths

    def take_events(self) -> list[PoolEvent]:
        events, self._unsaved = self._unsaved, []
        return events

    def requeue(self, counters: Iterable[dict[str, Any]], healths: Iterable[dict[str, Any]],
                events: Iterable[PoolEvent]) -> None:
        """A flush failed: keep what it carried for the next one."""
        self._dirty.update(r["id"] for r in counters)
        self._health_dirty.update(r["id"] for r in healths)
        self._unsaved[:0] = list(events)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- internals -------------------------------------------------------------------

    def _health_row(self, entry: TokenEntry) -> dict[str, Any]:
        health = self.health.get(entry.id)
        return {"id": entry.id, "state": health.state,
                "consecutive_failures": health.failures,
                "cooldown_until": health.cooldown_until}

    def _preferred(self, prefer: str | None, exclude: Collection[Credential],
                   foreign: Callable[[TokenEntry], bool]) -> TokenEntry | None:
        entry = self._by_key.get(prefer) if prefer else None
        if entry is None or entry.stamp < 0 or entry.full or entry.credential in exclude \
                or foreign(entry):
            return None
        return entry

    def _due_probe(self, exclude: Collection[Credential],
                   foreign: Callable[[TokenEntry], bool]) -> TokenEntry | None:
        if not self._cooling:
            return None
        now = self.clock()
        for entry in self._cooling:
            health = self.health.get(entry.id)
            if h.probe_due(health, now) and entry.credential not in exclude \
                    and not foreign(entry):
                self.health.put(entry.id, h.start_probe(health, now))
                self._health_dirty.add(entry.id)
                return entry
        return None

    def _set_health(self, entry: TokenEntry, health: h.Health) -> None:
        self.health.put(entry.id, health)
        self._health_dirty.add(entry.id)
        self._dirty.add(entry.id)
        self._place(entry)

    def _place(self, entry: TokenEntry) -> None:
        """Put the entry where its state says: the schedule, the cooling set, or neither."""
        state = self.state(entry)
        health = self.health.get(entry.id)
        credential = entry.credential
        self._cooling.discard(entry)
        if state == HEALTHY:
            credential.disabled_until = 0.0
            self._schedule.add(entry)
            return
        self._schedule.remove(entry)
        if state == COOLING:
            credential.disabled_until = health.cooldown_until or 0.0
            self._cooling.add(entry)
        else:
            credential.disabled_until = float("inf")

    def _unlink(self, entry: TokenEntry) -> None:
        self._schedule.remove(entry)
        self._cooling.discard(entry)
        self._by_credential.pop(entry.credential, None)
        self._by_key.pop(entry.credential.key, None)

    def event(self, entry: TokenEntry, kind: str, detail: str | None = None, *,
              unlinked: bool = False) -> None:
        linked = entry.id > 0 and not unlinked
        event = PoolEvent(self.clock(), entry.id if linked else None, entry.display, kind,
                          detail)
        self.events.append(event)
        self._unsaved.append(event)

    def _confirm_later(self, entry: TokenEntry) -> None:
        if self.confirm_invalid is None or entry.validating:
            return
        entry.validating = True
        task = asyncio.get_running_loop().create_task(self._confirm(entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _confirm(self, entry: TokenEntry) -> None:
        assert self.confirm_invalid is not None
        try:
            if await self.confirm_invalid(entry):
                self.mark_invalid(entry, "the upstream refused the token (401) and "
                                         "validation confirmed it")
        finally:
            entry.validating = False

