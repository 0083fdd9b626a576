"""The fleet: the store, the user-token pool and the client-key ring, wired into an app.

`setup_fleet(app)` runs in `create_app`: the pool exists (empty) before the upstream client is
built, so the client draws from it; `_store_ctx`, after the upstream context, opens and
migrates the store, loads the pool, imports `ZAI_TOKEN` / `AUTH_TOKENS_FILE`, gives the pool
its validator (which needs the HTTP session) and starts the flusher. On the way down it
flushes once more, so a clean restart keeps every counter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from zproxy.admin.routes import setup_admin
from zproxy.clientkeys.ring import KeyRing
from zproxy.keys import CLIENT_KEYS, HTTP, SETTINGS, STORE, TOKEN_SERVICE, USER_POOL
from zproxy.observability import METRICS
from zproxy.pool.health import Policy
from zproxy.pool.observe import TokenCollector
from zproxy.pool.pool import UserPool
from zproxy.pool.service import TokenService
from zproxy.pool.validate import Validator
from zproxy.store import Store, database_url, describe

log = structlog.get_logger(__name__)


def setup_fleet(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[USER_POOL] = UserPool(policy=Policy(settings.token_failure_threshold,
                                            settings.token_recovery_s))
    app[CLIENT_KEYS] = KeyRing()
    setup_admin(app)


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    url = database_url(settings.db_path, settings.database_url)
    store = app[STORE] = await Store.open(url)
    pool = app[USER_POOL]
    service = app[TOKEN_SERVICE] = TokenService(store, pool)
    loaded = await service.load()
    await service.import_configured(settings.upstream_tokens, settings.tokens_file)
    keys = app[CLIENT_KEYS]
    await keys.load(store)
    service.check = Validator(app[HTTP], base=settings.upstream_base,
                              user_agent=settings.user_agent, proxy=settings.http_proxy)
    pool.confirm_invalid = service.confirm_invalid
    metrics = app.get(METRICS)
    if metrics is not None:
        metrics.registry.register(TokenCollector(pool))
    log.info("store.opened", url=describe(url), tokens_loaded=loaded,
             tokens=len(pool.entries()), client_keys=len(keys))
    flusher = asyncio.create_task(_flush_every(app, settings.store_flush_s))
    yield
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
    await pool.aclose()
    await flush(app)
    await store.close()


async def flush(app: web.Application) -> None:
    await app[TOKEN_SERVICE].flush()
    await app[CLIENT_KEYS].flush(app[STORE])


async def _flush_every(app: web.Application, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await flush(app)
        except Exception:  # a locked or lost database must not end the flusher
            log.exception("store.flush_failed")
