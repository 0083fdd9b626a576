"""/health/ready without Redis: ready, in-process state, no key needed."""

from __future__ import annotations

import os

import aiohttp

from tests.conftest import MakeProxy
from zproxy.keys import STORE


async def test_ready_without_redis_reports_memory_state(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_keys=("sk-secret",), instance_name="solo")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/health/ready") as response:
            assert response.status == 200  # load balancers send no key
            body = await response.json()
    assert body["status"] == "ready" and body["degraded"] == []
    assert body["checks"]["redis"] == {"ok": True, "backend": "memory"}
    assert body["checks"]["upstream"]["credentials"] == "guest sessions"
    assert body["instance"] == f"solo:{os.getpid()}" and body["pid"] == os.getpid()
    assert body["checks"]["rate_limits"] == {"ok": True, "backend": "memory"}
    store = body["checks"]["store"]
    assert store["ok"] and store["backend"] == "sqlite" and store["latency_ms"] >= 0


async def test_a_store_that_stops_answering_is_reported_not_a_500(
        make_proxy: MakeProxy) -> None:
    proxy = await make_proxy()
    await proxy.app[STORE].engine.dispose()
    proxy.app[STORE].engine.pool._creator = _refuse  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/health/ready") as response:
            assert response.status == 200
            body = await response.json()
    assert body["status"] == "degraded" and body["degraded"] == ["store"]
    assert "database is gone" in body["checks"]["store"]["error"]


def _refuse() -> None:
    raise OSError("database is gone")
