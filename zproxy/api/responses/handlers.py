"""`POST /v1/responses`, `GET`/`DELETE /v1/responses/{id}`, its `cancel` and `input_items`.

Orchestration only.

parse → (stored chain) → `plan_chat` → `stream_chunks` → `ResponseEncoder` → SSE or JSON.
The stream's first upstream read is awaited before `response.created` is yielded, so
connect, auth and first-frame failures still get a real HTTP status (`write_sse`'s rule).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from aiohttp import web

from zproxy.api.chat import ChatPlan, load_images, plan_chat, stream_chunks
from zproxy.api.handlers import json_reply
from zproxy.api.responses.encoder import ResponseEncoder, encode_events
from zproxy.api.responses.items import input_items_page, with_ids
from zproxy.api.responses.objects import ResponseShell
from zproxy.api.responses.request import (
    ResponsesRequest,
    parse_responses_request,
    to_chat_request,
)
from zproxy.api.responses.store import ResponseStore, StoredResponse
from zproxy.api.stream import write_sse
from zproxy.core.trace import Trace
from zproxy.errors import ClientRequestError, NotFoundError
from zproxy.keys import IMAGE_HTTP, PROVIDERS, RESPONSES, SETTINGS
from zproxy.observability import meter


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _previous(store: ResponseStore, req: ResponsesRequest) -> StoredResponse | None:
    if req.previous_response_id is None:
        return None
    found = store.get(req.previous_response_id)
    if found is None:
        # message and code as OpenAI answers them (anthropic-api.md §13.6)
        raise ClientRequestError(
            f"Previous response with id '{req.previous_response_id}' not found.",
            param="previous_response_id", code="previous_response_not_found")
    return found


def _observe(request: web.Request, trace: Trace) -> None:
    found = meter(request)
    if found is not None:
        found.trace = trace
        if trace.usage is not None:
            found.prompt_tokens = trace.usage["prompt_tokens"]
            found.completion_tokens = trace.usage["completion_tokens"]


async def create_response(request: web.Request) -> web.StreamResponse:
    trace = Trace()
    try:
        return await _create(request, trace)
    finally:
        _observe(request, trace)


async def _create(request: web.Request, trace: Trace) -> web.StreamResponse:
    app, settings = request.app, request.app[SETTINGS]
    req = parse_responses_request(await request.read())
    found = meter(request)
    if found is not None:
        found.model, found.stream, found.api = req.model, req.stream, "responses"
    previous = _previous(app[RESPONSES], req)
    chat = to_chat_request(req, previous.history() if previous else ())
    plan = plan_chat(chat, app[PROVIDERS], settings)
    if plan.request.images:
        plan = await load_images(plan, app[IMAGE_HTTP], settings)
    encoder = ResponseEncoder(ResponseShell(new_id("resp"), plan.created, req), new_id,
                              time.time)

    async def save() -> None:
        if req.store:
            stored = StoredResponse(encoder.response, with_ids(req.input, new_id), previous)
            app[RESPONSES].put(stored)
            await app[RESPONSES].flush()  # the next turn may reach another instance

    chunks = _chunks(request, plan, trace)
    if req.stream:
        return await write_sse(request, _events(encoder, chunks, save),
                               keepalive_s=settings.tool_keepalive_s,
                               on_error=lambda exc: encode_events(encoder.fail(exc)))
    async with aclosing(chunks):
        async for batch in chunks:
            encoder.feed(batch)
    encoder.finish()
    await save()
    return json_reply(encoder.response)


def _chunks(request: web.Request, plan: ChatPlan,
            trace: Trace) -> AsyncGenerator[list[dict[str, Any]], None]:
    app = request.app
    return stream_chunks(plan, app[SETTINGS], trace)


async def _events(encoder: ResponseEncoder, chunks: AsyncGenerator[list[dict[str, Any]], None],
                  save: Callable[[], Awaitable[None]]) -> AsyncGenerator[bytes, None]:
    async with aclosing(chunks):
        # awaited before any byte goes out, so an early failure keeps its HTTP status
        first: list[dict[str, Any]] = await anext(chunks, [])
        yield encode_events(encoder.start() + encoder.feed(first))
        async for batch in chunks:
            events = encoder.feed(batch)
            if events:
                yield encode_events(events)
    events = encoder.finish()
    await save()
    yield encode_events(events)


def _stored(request: web.Request) -> StoredResponse:
    response_id = request.match_info["response_id"]
    found = request.app[RESPONSES].get(response_id)
    if found is None:
        raise NotFoundError(f"No response found with id '{response_id}'.",
                            param="response_id", code="response_not_found")
    return found


async def get_response(request: web.Request) -> web.Response:
    return json_reply(_stored(request).response)


async def delete_response(request: web.Request) -> web.Response:
    stored = _stored(request)
    request.app[RESPONSES].delete(stored.id)
    return json_reply({"id": stored.id, "object": "response.deleted", "deleted": True})


async def cancel_response(request: web.Request) -> web.Response:
    """Only a `background: true` response can be cancelled, as on OpenAI. This proxy does not
    accept `background` (every stored response ran in the foreground), so a known id is
    answered with OpenAI's 400 and an unknown one with the usual 404."""
    stored = _stored(request)
    raise ClientRequestError(
        f"Response '{stored.id}' cannot be cancelled: only responses created with "
        "background=true can be cancelled.", param="response_id", code="response_not_cancellable")


async def list_input_items(request: web.Request) -> web.Response:
    query = request.query
    limit = query.get("limit", "20")
    if not limit.isdigit():
        raise ClientRequestError("'limit' must be an integer", param="limit",
                                 code="invalid_value")
    return json_reply(input_items_page(_stored(request).input, order=query.get("order", "desc"),
                                  after=query.get("after"), limit=int(limit)))
