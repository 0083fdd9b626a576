"""The one application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from zproxy.api import handlers
from zproxy.config import Settings
from zproxy.keys import HTTP, MODELS, SETTINGS, UPSTREAM
from zproxy.middlewares import (
    add_cors_headers,
    client_auth,
    cors_preflight,
    openai_errors,
    request_context,
)
from zproxy.models import ModelCatalog, default_models
from zproxy.upstream.client import UpstreamClient

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
    app[HTTP] = session
    app[UPSTREAM] = UpstreamClient(session, settings)
    yield
    await session.close()


def create_app(settings: Settings, *, models: ModelCatalog | None = None) -> web.Application:
    app = web.Application(
        middlewares=[request_context, openai_errors, cors_preflight, client_auth],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[SETTINGS] = settings
    app[MODELS] = models or ModelCatalog(default_models())
    app.cleanup_ctx.append(_upstream_ctx)
    app.on_response_prepare.append(add_cors_headers)
    app.router.add_routes([
        web.get("/", handlers.root),
        web.get("/health", handlers.health),
        web.post("/v1/chat/completions", handlers.chat_completions),
        web.get("/v1/models", handlers.list_models),
        web.get("/v1/models/{model:.+}", handlers.get_model),
    ])
    return app
