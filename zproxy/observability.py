"""Wires stats, metrics, the dashboard and the docs into an app: `setup_observability(app)`.

Per API request (`/v1/...`) the gateway (`zproxy.gateway`) puts a `RequestMeter` in
`request[METER]` (`observe`), lets the handler fill it (model, stream, tokens, first token,
trace, in-stream error), and when the request ends — success, error or client abort — turns it
into one `RequestRecord` fed to the `StatsRecorder` and to `Metrics` (`observed`). That is
all the hot path pays.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Final

import aiohttp_jinja2
import jinja2
import orjson
from aiohttp import web

from zproxy.api.anthropic.errors import is_anthropic
from zproxy.api.anthropic.errors import status_and_message as anthropic_status
from zproxy.clientkeys.ring import CLIENT_KEY
from zproxy.dashboard import DashboardViews
from zproxy.docs import DocsViews
from zproxy.errors import NotFoundError, ProxyError, to_openai_error
from zproxy.keys import CLIENT_KEYS, MODELS, SETTINGS, STATE, UPSTREAM
from zproxy.metrics import Metrics
from zproxy.state.cluster import cluster_view
from zproxy.stats import (
    ABORT_STATUS,
    CLIENT_ABORT,
    RequestMeter,
    StatsRecorder,
    classify_client,
    client_ip,
)

WEB_DIR: Final = Path(__file__).resolve().parents[1] / "web"
PEEK_MAX_BYTES: Final = 1 << 20  # rejected requests: bodies read for their model name
PEEK_TIMEOUT_S: Final = 0.5      # ... but never waited for: a slow body is not worth it
MODEL_NAME_MAX: Final = 200

STATS = web.AppKey("stats", StatsRecorder)
METRICS = web.AppKey("metrics", Metrics)
METER = web.RequestKey("meter", RequestMeter)


def meter(request: web.BaseRequest) -> RequestMeter | None:
    """The current request's meter, or None when the request is not observed."""
    return request.get(METER)


def _http_error_type(exc: web.HTTPException) -> str:
    return exc.reason.lower().replace(" ", "_")


def _client_gone(request: web.Request) -> bool:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        return True
    transport = request.transport
    return transport is None or transport.is_closing()


async def _note_model(request: web.Request, found: RequestMeter, status: int) -> None:
    """A request rejected before its handler named the model (bad key, bad field) still
    shows the model it asked for in the request log: read it from the JSON body."""
    if found.model is not None or request.method != "POST" or request.content_type not in (
            "application/json", ""):
        return
    if status in (408, 413) or (request.content_length or 0) > PEEK_MAX_BYTES:
        return  # the body itself was the problem
    try:
        async with asyncio.timeout(PEEK_TIMEOUT_S):
            raw = await request.read()
        body = orjson.loads(raw)
    except (orjson.JSONDecodeError, web.HTTPException, ConnectionError, TimeoutError):
        return
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and model:
        found.model = model[:MODEL_NAME_MAX]


def _known(app: web.Application, model: str | None) -> bool:
    if model is None:
        return True
    try:
        app[MODELS].resolve(model)
    except NotFoundError:
        return False
    return True


def _record(request: web.Request, found: RequestMeter, status: int) -> None:
    app = request.app
    settings = app[SETTINGS]
    headers = request.headers
    record = found.finish(
        method=request.method, path=request.path, status=status, ended=time.monotonic(),
        client_ip=client_ip(request.remote, headers.get("X-Forwarded-For"),
                            settings.trusted_proxies),
        client=classify_client(headers.get("User-Agent"), headers.get("X-Title")),
        model_known=status < 400 or _known(app, found.model))  # answered: it resolved
    app[STATS].record(record)
    app[METRICS].observe(record)
    key = request.get(CLIENT_KEY)
    if key is not None:  # a stored client key: its token counters and daily budget
        app[CLIENT_KEYS].charge(key, record.prompt_tokens or 0, record.completion_tokens or 0)


def _client_status(request: web.Request, exc: ProxyError) -> int:
    """The status the client receives for `exc`: its front door's mapping, not OpenAI's
    (an overloaded upstream is a 529 to Anthropic clients and a 502 to OpenAI ones)."""
    if is_anthropic(request):
        return anthropic_status(exc)[0]
    return to_openai_error(exc)[0]


def observe(request: web.Request) -> RequestMeter:
    """Start observing an API request: its meter, for the handler to fill in."""
    found = request[METER] = RequestMeter(started=time.monotonic(), wall=time.time())
    request.app[METRICS].request_started()
    return found


async def failure_status(request: web.Request, found: RequestMeter, exc: BaseException) -> int:
    """The status an observed request that raised `exc` ends with; its meter notes why."""
    if isinstance(exc, ProxyError):
        status = _client_status(request, exc)
        found.error_type = found.error_type or exc.code or exc.type
        await _note_model(request, found, status)
        return status
    if isinstance(exc, web.HTTPException):
        if exc.status >= 400:
            found.error_type = found.error_type or _http_error_type(exc)
            await _note_model(request, found, exc.status)
        return exc.status
    if isinstance(exc, asyncio.CancelledError | ConnectionResetError) or (
            isinstance(exc, Exception) and _client_gone(request)):
        # cancellation can surface as another error during cleanup
        found.error_type = CLIENT_ABORT
        return ABORT_STATUS
    found.error_type = found.error_type or "internal_error"
    return 500


def observed(request: web.Request, found: RequestMeter, status: int) -> None:
    """The request has ended with `status`: one record to the stats and the metrics."""
    metrics = request.app[METRICS]
    metrics.request_ended()
    if found.stream_open:
        metrics.stream_closed()
    _record(request, found, status)


def response_starting(request: web.Request, response: web.StreamResponse) -> None:
    """An SSE response going out marks the stream open and, by default, the first token.
    Run by `zproxy.gateway.on_prepare` as each response's headers go out."""
    found = request.get(METER)
    if found is None or not response.content_type.startswith("text/event-stream"):
        return
    if not found.stream_open:
        found.stream_open = True
        request.app[METRICS].stream_opened()
    if found.stream is None:
        found.stream = True
    if found.first_token_at is None:  # write_sse prepares only once the first batch is in
        found.first_token_at = time.monotonic()


def _pool_snapshot(app: web.Application) -> dict[str, int] | None:
    upstream = app.get(UPSTREAM)
    return None if upstream is None else upstream.tokens.snapshot()


def setup_observability(app: web.Application) -> None:
    """Stats, metrics, /dashboard, /docs, /openapi.json, /metrics. Call once SETTINGS is set.

    Calling it again on the same app does nothing.
    """
    if STATS in app:
        return
    settings = app[SETTINGS]
    stats = app[STATS] = StatsRecorder(settings.stats_size)
    metrics = app[METRICS] = Metrics(pool=lambda: _pool_snapshot(app))
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(WEB_DIR / "templates"),
                         autoescape=True, undefined=jinja2.StrictUndefined)
    state = app.get(STATE)
    cluster = None if state is None else (lambda: cluster_view(state, stats))
    app.router.add_routes(DashboardViews(settings, stats, metrics, cluster=cluster).routes())
    app.router.add_routes(DocsViews().routes())
    app.router.add_static("/static/", WEB_DIR / "static", name="static")
