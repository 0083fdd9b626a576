"""`/health/ready`: may a load balancer send traffic here? `/health` stays bare liveness.

Ready means the process can answer requests. A degraded dependency (Redis unreachable, so
state is local; the store down) is reported with `degraded` but stays 200: requests still
succeed without them, and pulling every instance out of rotation for a Redis outage would turn
a partial fault into a full one. Not ready (503): the app is shutting down.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
from aiohttp import web

from zproxy.keys import SETTINGS, STATE, UPSTREAM


def _upstream(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return {"ok": True, "base": settings.upstream_base,
            "credentials": "user tokens" if settings.upstream_tokens else "guest sessions",
            "pool": request.app[UPSTREAM].tokens.snapshot()}


async def ready(request: web.Request) -> web.Response:
    state = request.app[STATE]
    checks: dict[str, Any] = {"upstream": _upstream(request), "redis": state.health()}
    degraded = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "degraded" if degraded else "ready", "degraded": degraded,
            "instance": state.instance, "pid": os.getpid(), "time": int(time.time()),
            "checks": checks}
    return web.Response(body=orjson.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})
