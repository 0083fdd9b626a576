"""The one application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import aiohttp
import structlog
from aiohttp import web

from zproxy.api import handlers, ready
from zproxy.api.anthropic import handlers as anthropic
from zproxy.api.responses import handlers as responses
from zproxy.api.responses.store import MemoryResponseStore
from zproxy.config import Settings
from zproxy.core.models import ModelCatalog
from zproxy.errors import ProxyError
from zproxy.fleet import setup_fleet, store_ctx
from zproxy.gateway import gateway, on_prepare
from zproxy.images import GuardedResolver
from zproxy.keys import (
    CONVERSATIONS,
    HTTP,
    IMAGE_HTTP,
    MODELS,
    PROVIDERS,
    RESPONSES,
    SETTINGS,
    STATE,
    UPSTREAM,
    USER_POOL,
)
from zproxy.observability import STATS, setup_observability
from zproxy.pool.views import ProviderView, StoredTokenSource
from zproxy.providers.registry import (
    ProviderRegistry,
    build_catalog,
    extra_providers,
    provider_infos,
)
from zproxy.providers.zai.client import UpstreamClient
from zproxy.providers.zai.conversations import ConversationStore
from zproxy.providers.zai.provider import ZaiProvider, zai_info
from zproxy.state import open_state
from zproxy.state.cluster import publishing
from zproxy.state.conversations import SharedConversationStore
from zproxy.state.responses import SharedResponseStore

log = structlog.get_logger(__name__)

GUEST_UPKEEP_S: Final = 30.0  # ZY's maintenance interval (zai-protocol.md §10)


async def _state_ctx(app: web.Application) -> AsyncIterator[None]:
    async with app[STATE].running():
        yield


async def _cluster_ctx(app: web.Application) -> AsyncIterator[None]:
    async with publishing(app[STATE], app[STATS]):
        yield


async def _upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """One pooled ClientSession per process, born and closed with the app."""
    settings = app[SETTINGS]
    # No pool limit by default: MAX_CONCURRENT_REQUESTS bounds the streams, and a pool
    # smaller than that would queue admitted streams silently (tests/perf/slow_streams.py).
    connector = aiohttp.TCPConnector(limit=settings.connection_limit, ttl_dns_cache=300,
                                     keepalive_timeout=60, enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout_s,
                                    sock_read=settings.read_timeout_s)
    # Z.AI: a shared cookie jar ties new guest logins to the old guest (ZY, seen 2026-03).
    session = aiohttp.ClientSession(connector=connector, timeout=timeout,
                                    cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True)
    # Client image URLs are fetched by a separate session whose resolver refuses private
    # addresses at connect time, so DNS rebinding cannot slip past the URL check.
    resolver = None if settings.vision_allow_private else GuardedResolver()
    images = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=10, resolver=resolver),
                                   cookie_jar=aiohttp.DummyCookieJar())
    app[HTTP], app[IMAGE_HTTP] = session, images
    pool = app[USER_POOL]  # every provider's stored tokens; each sees only its own
    app[UPSTREAM] = UpstreamClient(session, settings, users=ProviderView(pool, "zai", "Z.AI"))
    providers = app[PROVIDERS]
    providers.add(ZaiProvider(app[UPSTREAM], settings, app[CONVERSATIONS]))
    for provider in extra_providers(session, settings,
                                    lambda name: StoredTokenSource(pool, name)):
        providers.add(provider)
    yield
    await providers.close()
    await images.close()
    await session.close()


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    """The periodic jobs: guest-pool upkeep always, model discovery when enabled."""
    settings = app[SETTINGS]
    jobs = [_every(GUEST_UPKEEP_S, _guest_upkeep, app, first_run_now=False)]
    if settings.model_discovery:
        jobs.append(_every(settings.model_discovery_interval_s, _discover_models, app))
    tasks = [asyncio.create_task(job) for job in jobs]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _every(interval_s: float, job: Callable[[web.Application], Awaitable[None]],
                 app: web.Application, *, first_run_now: bool = True) -> None:
    if not first_run_now:
        await asyncio.sleep(interval_s)
    while True:
        try:
            await job(app)
        except ProxyError as exc:
            log.warning("background.job_failed", job=job.__name__, error=exc.message)
        await asyncio.sleep(interval_s)


async def _guest_upkeep(app: web.Application) -> None:
    """Drop expired guests and top the pool up, once guests are in use (§10)."""
    tokens = app[UPSTREAM].tokens
    if tokens.guests_in_use:
        await tokens.maintain()


async def _discover_models(app: web.Application) -> None:
    added = app[MODELS].add_discovered(await app[UPSTREAM].list_models())
    if added:
        log.info("models.discovered", models=added)


def create_app(settings: Settings, *, models: ModelCatalog | None = None) -> web.Application:
    app = web.Application(
        middlewares=[gateway(settings)],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[MODELS] = models or build_catalog(provider_infos(settings, [zai_info(settings)]),
                                          settings.model_map, settings.model_aliases)
    app[PROVIDERS] = ProviderRegistry(app[MODELS])
    state = app[STATE] = open_state(settings)
    app[CONVERSATIONS] = (
        SharedConversationStore(state, settings.conversation_max, settings.conversation_ttl_s)
        if state.shared else
        ConversationStore(settings.conversation_max, settings.conversation_ttl_s))
    app[RESPONSES] = (
        SharedResponseStore(state, settings.response_store_max, settings.response_store_ttl_s)
        if state.shared else
        MemoryResponseStore(settings.response_store_max, settings.response_store_ttl_s))
    app.cleanup_ctx.append(_state_ctx)
    setup_fleet(app)
    app.cleanup_ctx.append(store_ctx)  # first: a store that cannot open stops start-up
    app.cleanup_ctx.append(_upstream_ctx)
    app.cleanup_ctx.append(_background_ctx)
    setup_observability(app)
    app.cleanup_ctx.append(_cluster_ctx)
    app.on_response_prepare.append(on_prepare)
    app.router.add_routes([
        web.get("/", handlers.root),
        web.get("/health", handlers.health),
        web.get("/health/ready", ready.ready),
        web.post("/v1/chat/completions", handlers.chat_completions),
        web.post("/v1/responses", responses.create_response),
        web.get("/v1/responses/{response_id}", responses.get_response),
        web.delete("/v1/responses/{response_id}", responses.delete_response),
        web.get("/v1/responses/{response_id}/input_items", responses.list_input_items),
        web.post("/v1/responses/{response_id}/cancel", responses.cancel_response),
        web.get("/v1/models", anthropic.list_models),  # Anthropic shape on anthropic-version
        web.get("/v1/models/{model:.+}", anthropic.get_model),
        *anthropic.routes(),
    ])
    return app
