"""SharedHealth's bookkeeping, without a Redis: what it writes, what it adopts, whom it tells."""

from __future__ import annotations

from typing import Any

from zproxy.pool.health import HEALTHY_STATE, Health, MemoryHealth
from zproxy.state.bus import LocalState
from zproxy.state.health import SharedHealth, open_health


class Recording(LocalState):
    """The bus interface as SharedHealth sees it, keeping what it was asked to share."""

    shared = True

    def __init__(self) -> None:
        super().__init__("test")
        self.writes: list[tuple[str, str, Any]] = []

    def put(self, namespace: str, key: str, value: Any, expires_at: float) -> None:
        self.writes.append((namespace, key, value))

    def delete(self, namespace: str, key: str) -> None:
        self.writes.append((namespace, key, None))


def test_changes_are_shared_by_token_hash_and_healthy_is_a_delete() -> None:
    bus = Recording()
    health = SharedHealth(bus)
    health.put(7, Health("cooling", 3, 100.0))  # not tracked yet: nothing to name it by
    assert bus.writes == []
    health.track(7, "hash-7")
    health.put(7, Health("cooling", 3, 100.0))
    health.put(7, HEALTHY_STATE)
    assert bus.writes == [("health", "hash-7", {"state": "cooling", "failures": 3,
                                                "cooldown_until": 100.0, "probing": False}),
                          ("health", "hash-7", None)]


def test_a_change_from_elsewhere_is_adopted_and_told_not_republished() -> None:
    bus, told = Recording(), []
    health = SharedHealth(bus)
    health.watch(told.append)
    health.track(1, "h1")
    value = {"state": "invalid", "failures": 2, "cooldown_until": None, "probing": False}
    health.apply("h1", value, 0.0)
    assert health.get(1) == Health("invalid", 2) and told == [1] and bus.writes == []
    health.apply("h1", value, 0.0)  # the same again (a resync): nobody is bothered
    assert told == [1]
    health.apply("h1", None, 0.0)
    assert health.get(1) == HEALTHY_STATE and told == [1, 1]
    assert list(health.live_entries()) == []


def test_heard_before_the_token_is_loaded_is_applied_when_it_is() -> None:
    health, told = SharedHealth(Recording()), []
    health.watch(told.append)
    health.apply("h9", {"state": "cooling", "failures": 1, "cooldown_until": 5.0}, 0.0)
    health.track(9, "h9")
    assert health.get(9).state == "cooling" and told == [9]
    assert [key for key, _, _ in health.live_entries()] == ["h9"]
    health.forget(9)
    assert list(health.live_entries()) == []


def test_without_redis_health_is_this_processes() -> None:
    assert type(open_health(LocalState("solo"))) is MemoryHealth
