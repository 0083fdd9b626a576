"""The Anthropic routes: orchestration only, on the chat-completions engine (`api.chat`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import orjson
from aiohttp import web

from zproxy.api import handlers as openai_handlers
from zproxy.api.anthropic.encoder import MessageEncoder
from zproxy.api.anthropic.errors import REQUEST_ID, VERSION_HEADER, error_event
from zproxy.api.anthropic.models import find_info, model_infos, page, upstream_model
from zproxy.api.anthropic.request import MessagesRequest, parse_messages_request
from zproxy.api.anthropic.response import build_message
from zproxy.api.anthropic.wire import PING, encode_events, new_message_id
from zproxy.api.chat import (
    complete_chat,
    load_images,
    plan_chat,
    prompt_tokens_estimate,
    stream_chunks,
)
from zproxy.api.stream import write_sse
from zproxy.core.trace import Trace
from zproxy.errors import ClientRequestError
from zproxy.keys import IMAGE_HTTP, MODELS, PROVIDERS, SETTINGS
from zproxy.observability import meter
from zproxy.stats import API_ANTHROPIC


def _json(request: web.Request, data: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json",
                        headers={"request-id": request[REQUEST_ID]})


async def _parse(request: web.Request, *, count_only: bool = False) -> MessagesRequest:
    settings, catalog = request.app[SETTINGS], request.app[MODELS]
    _mark(request)
    parsed = parse_messages_request(
        await request.read(), count_only=count_only,
        resolve_model=lambda name: upstream_model(name, settings.anthropic_model_map, catalog))
    found = meter(request)
    if found is not None:
        found.model, found.stream = parsed.chat.model, parsed.chat.stream
    return parsed


async def messages(request: web.Request) -> web.StreamResponse:
    trace = Trace()
    try:
        return await _messages(request, trace)
    finally:
        found = meter(request)
        if found is not None:
            found.trace = trace
            if trace.usage is not None:
                found.prompt_tokens = trace.usage["prompt_tokens"]
                found.completion_tokens = trace.usage["completion_tokens"]


async def _messages(request: web.Request, trace: Trace) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    parsed = await _parse(request)
    plan = plan_chat(parsed.chat, request.app[PROVIDERS], settings)
    if plan.request.images:
        plan = await load_images(plan, request.app[IMAGE_HTTP], settings)
    message_id = new_message_id()
    estimate = prompt_tokens_estimate(plan)
    if parsed.chat.stream:
        encoder = MessageEncoder(message_id=message_id, model=parsed.model,
                                 input_tokens=estimate)
        chunks = stream_chunks(plan, settings, trace)
        return await write_sse(request, _events(encoder, chunks),
                               keepalive_s=settings.tool_keepalive_s, keepalive=PING,
                               on_error=error_event,
                               headers={"request-id": request[REQUEST_ID]})
    completion = await complete_chat(plan, settings, trace)
    return _json(request, build_message(completion, message_id=message_id, model=parsed.model,
                                        input_estimate=estimate))


async def _events(encoder: MessageEncoder,
                  chunks: AsyncGenerator[list[dict[str, Any]], None],
                  ) -> AsyncGenerator[bytes, None]:
    """One write per upstream read; `message_start` goes out with the first one, so a
    failure before it is still a real HTTP status."""
    async with aclosing(chunks) as lists:
        async for batch in lists:
            yield encode_events(encoder.feed(batch))
    yield encode_events(encoder.finish())


async def count_tokens(request: web.Request) -> web.Response:
    """The prompt the upstream would get (system, tool prompt, history), counted the way the
    usage estimate counts it."""
    parsed = await _parse(request, count_only=True)
    plan = plan_chat(parsed.chat, request.app[PROVIDERS], request.app[SETTINGS])
    return _json(request, {"input_tokens": max(1, prompt_tokens_estimate(plan))})


def _query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ClientRequestError(f"{name}: expected an integer between 1 and 1000", param=name,
                                 code="invalid_value")
    return int(raw)


async def list_models(request: web.Request) -> web.Response:
    """Anthropic's list shape when the client sends `anthropic-version`, else OpenAI's."""
    if VERSION_HEADER not in request.headers:
        return await openai_handlers.list_models(request)
    _mark(request)
    settings = request.app[SETTINGS]
    items = model_infos(settings.anthropic_model_map, request.app[MODELS])
    return _json(request, page(items, limit=_query_int(request, "limit", 20),
                               after_id=request.query.get("after_id"),
                               before_id=request.query.get("before_id")))


async def get_model(request: web.Request) -> web.Response:
    if VERSION_HEADER not in request.headers:
        return await openai_handlers.get_model(request)
    _mark(request)
    settings = request.app[SETTINGS]
    return _json(request, find_info(request.match_info["model"], settings.anthropic_model_map,
                                    request.app[MODELS]))


def _mark(request: web.Request) -> None:
    found = meter(request)
    if found is not None:
        found.api = API_ANTHROPIC


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/messages", messages),
            web.post("/v1/messages/count_tokens", count_tokens)]
