"""Token health: pure transitions, kept behind a small store interface.

`HealthStore` is all the pool asks of where health lives (consecutive failures, cool-downs,
invalid marks). `MemoryHealth` is the one-process version; `zproxy.state.health.SharedHealth`
(Redis) implements the same interface, so several zproxy processes agree on which token rests:
it tells the pool of a change made elsewhere through the callback given to `watch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, Protocol

from zproxy.pool.model import COOLING, HEALTHY, INVALID


@dataclass(frozen=True, slots=True)
class Health:
    state: str = HEALTHY  # healthy | cooling | invalid
    failures: int = 0  # consecutive
    cooldown_until: float | None = None
    probing: bool = False  # half-open: one request is testing a rested token


HEALTHY_STATE: Final = Health()
PROBE_GRACE_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class Policy:
    threshold: int = 3
    recovery_s: float = 1800.0


def after_success(health: Health) -> Health:
    return HEALTHY_STATE if health.state != INVALID else health


def after_failure(health: Health, now: float, policy: Policy) -> Health:
    """A failure that belongs to the token. A failed probe rests it again at once."""
    if health.state == INVALID:
        return health
    failures = health.failures + 1
    if health.probing or failures >= policy.threshold:
        return Health(COOLING, failures, now + policy.recovery_s)
    return replace(health, failures=failures)


def probe_due(health: Health, now: float) -> bool:
    return health.state == COOLING and (health.cooldown_until or 0.0) <= now


def start_probe(health: Health, now: float) -> Health:
    """One request tests the token. Should it never report (the client went away), another
    probe may start after `PROBE_GRACE_S`."""
    return replace(health, probing=True, cooldown_until=now + PROBE_GRACE_S)


def invalid(health: Health) -> Health:
    return Health(INVALID, health.failures)


class HealthStore(Protocol):
    def get(self, token_id: int) -> Health: ...

    def put(self, token_id: int, health: Health) -> None: ...

    def forget(self, token_id: int) -> None: ...

    def track(self, token_id: int, token_hash: str) -> None:
        """The pool holds this token (ids differ between stores; hashes do not)."""
        ...

    def watch(self, changed: Callable[[int], None]) -> None:
        """Call `changed(token_id)` when the health changes other than through `put`."""
        ...


class MemoryHealth:
    def __init__(self) -> None:
        self._by_id: dict[int, Health] = {}

    def get(self, token_id: int) -> Health:
        return self._by_id.get(token_id, HEALTHY_STATE)

    def put(self, token_id: int, health: Health) -> None:
        self._by_id[token_id] = health

    def forget(self, token_id: int) -> None:
        self._by_id.pop(token_id, None)

    def track(self, token_id: int, token_hash: str) -> None:
        pass

    def watch(self, changed: Callable[[int], None]) -> None:
        pass
