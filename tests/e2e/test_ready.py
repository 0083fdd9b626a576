"""/health/ready without Redis: ready, in-process state, no key needed."""

from __future__ import annotations

import os

import aiohttp

from tests.conftest import MakeProxy


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
