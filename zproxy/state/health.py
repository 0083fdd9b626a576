"""Token health shared through Redis: a token that fails on one instance rests on all of them.

Each instance keeps answering from its local copy (`MemoryHealth`), so picking a token never
waits on Redis. A change (a failure counted, a cool-down, a probe started, an invalid mark, a
recovery) is written through the bus under the token's hash, the one name every instance
shares whatever its store numbered the token, and published; the others apply it to their
copy and tell their pool (`UserPool.health_changed`), which moves the token in or out of its
schedule at once. Healthy is the absence of a record, so a recovery is a delete.

Consecutive failures add up across instances (three failures on three instances rest a token
with a threshold of 3). Two instances changing one token in the same instant may each count
from the value they last saw: the count is eventually consistent, never lost for long. While
Redis is down each instance decides alone; on its return the bus re-offers what each learnt
and reloads the shared records (see `zproxy.state.bus`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from zproxy.pool.health import HEALTHY_STATE, Health, HealthStore, MemoryHealth
from zproxy.pool.model import COOLING, HEALTHY, INVALID
from zproxy.state.bus import LocalState

NAMESPACE: Final = "health"
KEPT_S: Final = 86400.0  # a record outlives its cool-down by this much (a late joiner sees it)
INVALID_KEPT_S: Final = 30 * 86400.0  # invalid lasts until someone edits the token
_STATES: Final = frozenset({HEALTHY, COOLING, INVALID})


def _value(health: Health) -> dict[str, Any]:
    return {"state": health.state, "failures": health.failures,
            "cooldown_until": health.cooldown_until, "probing": health.probing}


def _health(value: Any) -> Health:
    state = str(value["state"])
    cooldown = value.get("cooldown_until")
    return Health(state if state in _STATES else HEALTHY, int(value.get("failures") or 0),
                  float(cooldown) if cooldown is not None else None,
                  bool(value.get("probing")))


def _expires(health: Health, now: float) -> float:
    if health.state == INVALID:
        return now + INVALID_KEPT_S
    return max(now, health.cooldown_until or now) + KEPT_S


class SharedHealth(MemoryHealth):
    def __init__(self, state: LocalState, namespace: str = NAMESPACE) -> None:
        super().__init__()
        self.namespace = namespace
        self._state = state
        self._hash_of: dict[int, str] = {}
        self._id_of: dict[str, int] = {}
        self._unclaimed: dict[str, Health] = {}  # heard of before this pool held the token
        self._changed: Callable[[int], None] = lambda _id: None
        state.register(self)

    # --- HealthStore -------------------------------------------------------------------

    def put(self, token_id: int, health: Health) -> None:
        super().put(token_id, health)
        token_hash = self._hash_of.get(token_id)
        if token_hash is None:
            return
        if health == HEALTHY_STATE:
            self._state.delete(self.namespace, token_hash)
        else:
            self._state.put(self.namespace, token_hash, _value(health),
                            _expires(health, time.time()))

    def forget(self, token_id: int) -> None:
        """Local only: another instance may still hold the token; its record expires."""
        super().forget(token_id)
        token_hash = self._hash_of.pop(token_id, None)
        if token_hash is not None:
            self._id_of.pop(token_hash, None)

    def track(self, token_id: int, token_hash: str) -> None:
        self._hash_of[token_id] = token_hash
        self._id_of[token_hash] = token_id
        heard = self._unclaimed.pop(token_hash, None)
        if heard is not None:
            self._adopt(token_id, heard)

    def watch(self, changed: Callable[[int], None]) -> None:
        self._changed = changed

    # --- Replica (changes from other instances) ----------------------------------------

    def apply(self, key: str, value: Any, expires_at: float) -> None:
        health = HEALTHY_STATE if value is None else _health(value)
        token_id = self._id_of.get(key)
        if token_id is None:
            if value is None:
                self._unclaimed.pop(key, None)
            else:
                self._unclaimed[key] = health
            return
        self._adopt(token_id, health)

    def live_entries(self) -> Iterator[tuple[str, Any, float]]:
        now = time.time()
        for token_id, health in list(self._by_id.items()):
            token_hash = self._hash_of.get(token_id)
            if token_hash is not None and health != HEALTHY_STATE:
                yield token_hash, _value(health), _expires(health, now)

    def _adopt(self, token_id: int, health: Health) -> None:
        if self.get(token_id) != health:
            MemoryHealth.put(self, token_id, health)  # not re-published: it came from there
            self._changed(token_id)


def open_health(state: LocalState, namespace: str = NAMESPACE) -> HealthStore:
    """Shared when the runtime state is on Redis, this process's otherwise."""
    return SharedHealth(state, namespace) if state.shared else MemoryHealth()
