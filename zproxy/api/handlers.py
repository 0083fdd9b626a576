"""Client-facing handlers: orchestration only, the work is in `api.chat` and below."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from zproxy import __version__
from zproxy.api.chat import complete_chat, load_images, plan_chat, stream_chat
from zproxy.api.schema import parse_chat_request
from zproxy.api.stream import write_sse
from zproxy.core.models import ModelSpec, model_object
from zproxy.core.trace import Trace
from zproxy.errors import NotFoundError
from zproxy.keys import IMAGE_HTTP, MODELS, PROVIDERS, SETTINGS
from zproxy.observability import meter
from zproxy.stats import API_CHAT


def json_reply(data: Any, status: int = 200) -> web.Response:
    """A JSON answer, serialised once by orjson (no str round trip)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    trace = Trace()
    try:
        return await _chat(request, trace)
    finally:
        _observe(request, trace)


def _observe(request: web.Request, trace: Trace) -> None:
    found = meter(request)
    if found is not None:
        found.trace = trace
        if trace.usage is not None:
            found.prompt_tokens = trace.usage["prompt_tokens"]
            found.completion_tokens = trace.usage["completion_tokens"]


async def _chat(request: web.Request, trace: Trace) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    chat = parse_chat_request(await request.read(), default_stream=settings.default_stream)
    found = meter(request)
    if found is not None:
        found.model, found.stream, found.api = chat.model, chat.stream, API_CHAT
    plan = plan_chat(chat, request.app[PROVIDERS], settings)
    if plan.request.images:
        plan = await load_images(plan, request.app[IMAGE_HTTP], settings)
    if chat.stream:
        batches = stream_chat(plan, settings, trace)
        return await write_sse(request, batches, keepalive_s=settings.tool_keepalive_s)
    return json_reply(await complete_chat(plan, settings, trace))


def describe_model(app: web.Application, spec: ModelSpec) -> dict[str, Any]:
    """The `/v1/models` object: the OpenAI fields, capabilities and who serves it."""
    return {**model_object(spec), **app[PROVIDERS].describe(spec)}


async def list_models(request: web.Request) -> web.Response:
    data = [describe_model(request.app, spec) for spec in request.app[MODELS]]
    return json_reply({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    name = request.match_info["model"]
    spec = request.app[MODELS].get(name)
    if spec is None:
        raise NotFoundError(f"The model `{name}` does not exist", param="model",
                            code="model_not_found")
    return json_reply(describe_model(request.app, spec))


async def health(request: web.Request) -> web.Response:
    return json_reply({"status": "ok", "time": int(time.time())})


async def root(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return json_reply({
        "name": "zproxy", "version": __version__,
        "description": "OpenAI-compatible gateway to Z.AI GLM web chat",
        "base_url": f"{request.scheme}://{request.host}/v1",
        "auth_required": settings.auth_required,
        "endpoints": ["/v1/chat/completions", "/v1/responses", "/v1/models",
                      "/v1/models/{model}", "/health"],
        "models": [spec.id for spec in request.app[MODELS]],
    })
