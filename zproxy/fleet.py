"""The fleet: the store, the user-token pool and the client-key ring, wired into an app.

`setup_fleet(app)` runs in `create_app`: the pool exists (empty) before the upstream client is
built, so the client draws from it; `store_ctx`, the first start-up context, opens and
migrates the store (a failure stops start-up as a ConfigError), loads the pool, imports
`ZAI_TOKEN` / `AUTH_TOKENS_FILE` and the other providers' env tokens (K2THINK_TOKEN,
LONGCAT_TOKEN), gives the pool its validator (which reaches the HTTP session
when it runs) and starts the flusher. On the way down it flushes once more, so a clean
restart keeps every counter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from zproxy.admin.routes import setup_admin
from zproxy.clientkeys.ring import KeyRing
from zproxy.clientkeys.shared import open_limiter
from zproxy.config import ConfigError
from zproxy.keys import (
    CLIENT_KEYS,
    FLEET_SYNC,
    HTTP,
    MODELS,
    SETTINGS,
    STATE,
    STORE,
    TOKEN_SERVICE,
    USER_POOL,
)
from zproxy.observability import METRICS
from zproxy.pool.health import Policy
from zproxy.pool.observe import TokenCollector
from zproxy.pool.pool import UserPool
from zproxy.pool.service import TokenService
from zproxy.pool.validate import Validator
from zproxy.providers.registry import provider_env_tokens, token_checks
from zproxy.state.fleet import FleetSync
from zproxy.state.health import open_health
from zproxy.store import Store, database_url, describe

log = structlog.get_logger(__name__)


def setup_fleet(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[USER_POOL] = UserPool(policy=Policy(settings.token_failure_threshold,
                                            settings.token_recovery_s),
                              health=open_health(app[STATE]))
    app[CLIENT_KEYS] = KeyRing(limiter=open_limiter(app[STATE]))
    app[FLEET_SYNC] = FleetSync(app[STATE], lambda: _reload(app))
    app.on_shutdown.append(_stop_checks)  # before the HTTP session closes in cleanup
    setup_admin(app)


async def _stop_checks(app: web.Application) -> None:
    await app[USER_POOL].aclose()


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    url = database_url(settings.db_path, settings.database_url)
    try:
        store = app[STORE] = await Store.open(url)
    except Exception as exc:  # bad URL, missing driver, unwritable path, newer schema…
        name = "DATABASE_URL" if settings.database_url else "DB_PATH"
        raise ConfigError(f"{name}: cannot open the store {describe(url)}: {exc}") from exc
    pool = app[USER_POOL]
    names = tuple(dict.fromkeys(spec.provider or "zai" for spec in app[MODELS]))
    env_tokens = provider_env_tokens(settings)
    service = app[TOKEN_SERVICE] = TokenService(
        store, pool, providers=tuple(dict.fromkeys(("zai", *names, *env_tokens))))
    service.announce = app[CLIENT_KEYS].announce = app[FLEET_SYNC].announce
    loaded = await service.load()
    await service.import_configured(settings.upstream_tokens, settings.tokens_file)
    for provider, tokens in env_tokens.items():  # K2THINK_TOKEN, LONGCAT_TOKEN: in /admin
        await service.add(tokens, source="env", provider=provider)
    keys = app[CLIENT_KEYS]
    await keys.load(store)
    service.check = Validator(lambda: app[HTTP], base=settings.upstream_base,
                              user_agent=settings.user_agent, proxy=settings.http_proxy)
    service.checks = token_checks(lambda: app[HTTP], settings)
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
    await app[FLEET_SYNC].aclose()
    await pool.aclose()
    await flush(app)
    await keys.aclose()
    await store.close()


async def _reload(app: web.Application) -> None:
    """Another instance changed tokens or keys in the shared store (zproxy.state.fleet)."""
    service, store = app.get(TOKEN_SERVICE), app.get(STORE)
    if service is None or store is None:
        return  # still starting: the start-up load reads the store anyway
    await service.sync()
    app[CLIENT_KEYS].sync(await store.load_keys())
    log.info("fleet.reloaded", tokens=len(service.pool.entries()),
             client_keys=len(app[CLIENT_KEYS]))


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
