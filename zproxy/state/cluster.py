"""The dashboard across instances: each publishes its figures, any one shows them all.

Every `PUBLISH_S` an instance writes its stats snapshot and recent requests to Redis under
its own key (expiring after a few periods, so a dead instance drops off). A dashboard read
merges the others' published figures with this instance's live ones: cluster totals, one
row per instance, and one list of recent requests tagged with the instance that served it.
Without Redis, or while it is down, the view is this instance alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any, Final

import structlog
from redis.exceptions import RedisError

from zproxy.state.bus import (
    LocalState,
    RedisState,
    publish_instance,
    read_instances,
    withdraw_instance,
)
from zproxy.stats import StatsRecorder

log = structlog.get_logger(__name__)

PUBLISH_S: Final = 1.0
EXPIRE_S: Final = 10.0
_SUMMED: Final = ("requests", "successes", "failures", "prompt_tokens", "completion_tokens",
                  "client_aborts")


def own_figures(state: LocalState, stats: StatsRecorder) -> dict[str, Any]:
    snapshot = stats.snapshot()
    return {"instance": state.instance, "pid": os.getpid(), "seen_at": snapshot["now"],
            "uptime_s": snapshot["uptime_s"], "totals": snapshot["totals"],
            "window": snapshot["window"], "recent": stats.recent()}


def merge(own: dict[str, Any], others: list[dict[str, Any]], *, shared: bool,
          redis_ok: bool, limit: int) -> dict[str, Any]:
    """Pure: cluster totals, per-instance rows (own first) and merged recent requests."""
    everyone = [own, *(o for o in others if o.get("instance") != own["instance"])]
    totals = {name: sum(int(i["totals"].get(name) or 0) for i in everyone) for name in _SUMMED}
    recent = sorted(({**r, "instance": i["instance"]} for i in everyone for r in i["recent"]),
                    key=lambda r: -float(r["time"]))
    rows = [{key: i[key] for key in ("instance", "pid", "seen_at", "uptime_s", "totals")}
            | {"self": i is own} for i in everyone]
    return {"shared": shared, "redis_ok": redis_ok, "instance": own["instance"],
            "instances": rows, "totals": totals, "recent": recent[:limit * len(everyone)]}


async def cluster_view(state: LocalState, stats: StatsRecorder) -> dict[str, Any]:
    own = own_figures(state, stats)
    others: list[dict[str, Any]] = []
    up = isinstance(state, RedisState) and state.up
    if isinstance(state, RedisState) and up:
        try:
            others = await read_instances(state)
        except (RedisError, OSError, TimeoutError) as exc:
            log.info("cluster.read_failed", error=str(exc))
            up = False
    return merge(own, others, shared=state.shared, redis_ok=up, limit=stats.size)


@contextlib.asynccontextmanager
async def publishing(state: LocalState, stats: StatsRecorder) -> AsyncIterator[None]:
    """Publish this instance's figures while the app runs (nothing to do without Redis)."""
    if not isinstance(state, RedisState):
        yield
        return
    task = asyncio.create_task(_publish_forever(state, stats))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if state.up:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await withdraw_instance(state)


async def _publish_forever(state: RedisState, stats: StatsRecorder) -> None:
    while True:
        if state.up:
            try:
                await publish_instance(state, own_figures(state, stats), EXPIRE_S)
            except (RedisError, OSError, TimeoutError) as exc:
                log.info("cluster.publish_failed", error=str(exc))
        await asyncio.sleep(PUBLISH_S)
