"""`/health/ready`: may a load balancer send traffic here? `/health` stays bare liveness.

Ready means the process can answer requests. A degraded dependency (Redis unreachable, so
state is local; the store down) is reported with `degraded` but stays 200: requests still
succeed without them, and pulling every instance out of rotation for a Redis outage would turn
a partial fault into a full one. Not ready (503): the app is shutting down.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Final

import orjson
from aiohttp import web
from sqlalchemy import text

from zproxy.keys import CLIENT_KEYS, SETTINGS, STATE, STORE, UPSTREAM

STORE_TIMEOUT_S: Final = 1.0


def _upstream(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return {"ok": True, "base": settings.upstream_base,
            "credentials": "user tokens" if settings.upstream_tokens else "guest sessions",
            "pool": request.app[UPSTREAM].tokens.snapshot()}


async def _store(request: web.Request) -> dict[str, Any]:
    """One `SELECT 1` within a second: the store answers, or why not."""
    store = request.app.get(STORE)
    if store is None:
        return {"ok": False, "error": "not open yet"}
    url = store.engine.url
    found: dict[str, Any] = {"backend": url.get_backend_name(),
                             "url": url.render_as_string(hide_password=True)}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S):
            async with store.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver's error: reported, never a 500
        return {"ok": False, **found, "error": str(exc) or type(exc).__name__,
                "note": "requests still flow; counters and admin changes wait for the store"}
    return {"ok": True, **found, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def ready(request: web.Request) -> web.Response:
    state = request.app[STATE]
    checks: dict[str, Any] = {"upstream": _upstream(request), "store": await _store(request),
                              "redis": state.health(),
                              "rate_limits": request.app[CLIENT_KEYS].limiter.health()}
    degraded = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "degraded" if degraded else "ready", "degraded": degraded,
            "instance": state.instance, "pid": os.getpid(), "time": int(time.time()),
            "checks": checks}
    return web.Response(body=orjson.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})
