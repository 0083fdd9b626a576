"""The one application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from zproxy.api import handlers
from zproxy.config import Settings
from zproxy.errors import ProxyError
from zproxy.keys import CONVERSATIONS, HTTP, IMAGE_HTTP, MODELS, SETTINGS, UPSTREAM
from zproxy.middlewares import (
    add_cors_headers,
    client_auth,
    cors_preflight,
    openai_errors,
    request_context,
)
from zproxy.models import ModelCatalog, build_catalog
from zproxy.observability import setup_observability
from zproxy.upstream.client import UpstreamClient
from zproxy.upstream.conversations import ConversationStore
from zproxy.upstream.vision import GuardedResolver

log = structlog.get_logger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024  # base64 images make big bodies


async def _upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """One pooled ClientSession per process, born and closed with the app."""
    settings = app[SETTINGS]
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
    app[UPSTREAM] = UpstreamClient(session, settings)
    yield
    await images.close()
    await session.close()


async def _model_discovery_ctx(app: web.Application) -> AsyncIterator[None]:
    """Merge the upstream's model list into the catalogue, periodically (optional)."""
    settings = app[SETTINGS]
    task = None
    if settings.model_discovery:
        task = asyncio.create_task(_discover_models(app, settings.model_discovery_interval_s))
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _discover_models(app: web.Application, interval_s: float) -> None:
    while True:
        try:
            added = app[MODELS].add_discovered(await app[UPSTREAM].list_models())
            if added:
                log.info("models.discovered", models=added)
        except ProxyError as exc:
            log.warning("models.discovery_failed", error=exc.message)
        await asyncio.sleep(interval_s)


def create_app(settings: Settings, *, models: ModelCatalog | None = None) -> web.Application:
    app = web.Application(
        middlewares=[request_context, openai_errors, cors_preflight, client_auth],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[SETTINGS] = settings
    app[MODELS] = models or build_catalog(settings.model_map, settings.model_aliases)
    app[CONVERSATIONS] = ConversationStore(settings.conversation_max,
                                           settings.conversation_ttl_s)
    app.cleanup_ctx.append(_upstream_ctx)
    app.cleanup_ctx.append(_model_discovery_ctx)
    setup_observability(app)
    app.on_response_prepare.append(add_cors_headers)
    app.router.add_routes([
        web.get("/", handlers.root),
        web.get("/health", handlers.health),
        web.post("/v1/chat/completions", handlers.chat_completions),
        web.get("/v1/models", handlers.list_models),
        web.get("/v1/models/{model:.+}", handlers.get_model),
    ])
    return app
