"""One chat completion, end to end: plan it, run it, translate it.

`plan_chat` is pure: the client request is routed to its provider by model name
(`zproxy.providers.registry`), becomes a provider-neutral `NormalizedRequest` (tools
rendered, sizes checked) and the provider's `Prepared` call, plus everything the response side
needs (tool context, ids). `stream_chunks` and `complete_chat` run the same translator over
the provider's events; the first yields chunk lists per upstream read, the second returns
one `chat.completion` object. No provider is imported here: only the interface.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from zproxy.api.recovery import RecoveringRun
from zproxy.api.schema import ChatRequest
from zproxy.api.stream import DONE, encode_chunks
from zproxy.config import Settings
from zproxy.core.events import ToolCall
from zproxy.core.models import ModelCatalog, ResolvedModel
from zproxy.core.plan import NormalizedRequest
from zproxy.core.provider import Prepared, Provider, ProviderCall
from zproxy.core.trace import Trace
from zproxy.errors import ClientRequestError, UpstreamError
from zproxy.ids import random_hex, random_uuid
from zproxy.images import ImageInput, fetch_image, parse_data_url
from zproxy.limits import check_chat_size
from zproxy.providers.registry import ProviderRegistry
from zproxy.tools import (
    ParserOptions,
    ToolCallParser,
    ToolContext,
    corrective_messages,
    has_tool_history,
    new_nonce,
    prepare_tool_request,
)
from zproxy.translate.citations import CitationFilter
from zproxy.translate.response import (
    ContentFilter,
    ResponseTranslator,
    StopFilter,
    estimate_tokens,
)

log = structlog.get_logger(__name__)

RETRY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class ChatPlan:
    chat: ChatRequest
    model: ResolvedModel
    provider: Provider
    prepared: Prepared
    tools: ToolContext | None
    completion_id: str
    created: int

    @property
    def request(self) -> NormalizedRequest:
        return self.prepared.request

    def may_retry(self, settings: Settings) -> bool:
        """Corrective tool-call retries; not for persisted chats, whose turn is spent."""
        return settings.tool_retry_max > 0 and not self.model.spec.persisted

    def translator(self, settings: Settings) -> ResponseTranslator:
        parser = None
        if self.tools is not None and self.tools.active:
            options = ParserOptions(defer_failed_text=self.may_retry(settings))
            parser = ToolCallParser.for_context(self.tools, options)
        filters: list[ContentFilter] = []
        citations = None
        if self.model.search:
            citations = CitationFilter(sources_list=settings.search_sources_list,
                                       list_uncited=not self.provider.info.cites_inline)
            filters.append(citations)
        if self.chat.stop:
            filters.append(StopFilter(self.chat.stop))
        return ResponseTranslator(
            completion_id=self.completion_id, created=self.created, model=self.chat.model,
            include_usage=self.chat.include_usage, max_tokens=self.chat.max_tokens,
            prompt_chars=self.prepared.prompt_chars, parser=parser, filters=filters,
            on_results=citations.add_results if citations else None,
            annotations=citations.annotations if citations else None)


def prompt_tokens_estimate(plan: ChatPlan) -> int:
    """The prompt's token estimate, counted exactly as the usage estimate counts it."""
    return estimate_tokens(plan.prepared.prompt_chars)


def _thinking(chat: ChatRequest, settings: Settings) -> bool | None:
    return chat.enable_thinking if chat.enable_thinking is not None else settings.enable_thinking


def _render(chat: ChatRequest, messages: list[dict[str, Any]], settings: Settings,
            nonce: str) -> tuple[list[dict[str, Any]], ToolContext | None]:
    use_tools = settings.tool_support
    return prepare_tool_request(
        messages, tools=chat.tools if use_tools else None,
        tool_choice=chat.tool_choice if use_tools else None,
        parallel_tool_calls=chat.parallel_tool_calls,
        functions=chat.functions if use_tools else None,
        function_call=chat.function_call if use_tools else None,
        nonce=nonce, custom_prompt=settings.tool_custom_prompt)


def image_urls(messages: list[dict[str, Any]]) -> list[str]:
    """Every `image_url` URL in the messages, in order."""
    urls = []
    for message in messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                if isinstance(url, str):
                    urls.append(url)
    return urls


def _check_images(model: ResolvedModel, urls: list[str], catalog: ModelCatalog,
                  settings: Settings) -> tuple[str, ...]:
    """The image URLs to load; refuses images a model cannot take."""
    if not urls:
        return ()
    if not model.spec.vision:
        seeing = [s.id for s in catalog if s.vision and s.provider == model.spec.provider]
        hint = f": use {' or '.join(seeing)}" if seeing else ""
        raise ClientRequestError(f"The model `{model.spec.id}` does not accept images{hint}",
                                 param="messages", code="model_not_vision")
    return tuple(u for u in urls if u.startswith("data:") or settings.vision_fetch_remote)


def normalize(chat: ChatRequest, model: ResolvedModel, messages: list[dict[str, Any]], *,
              images: tuple[str, ...] = (),
              render: Callable[[int], list[dict[str, Any]]] | None = None,
              ) -> NormalizedRequest:
    """The provider-neutral request for rendered `messages`."""
    return NormalizedRequest(
        model=model, messages=messages, stream=chat.stream, max_tokens=chat.max_tokens,
        temperature=chat.temperature, top_p=chat.top_p,
        json_mode=bool(chat.response_format), images=images, history=chat.messages,
        render=render)


def _nonce(chat: ChatRequest, settings: Settings, rng: random.Random | None) -> str:
    """The tool-call nonce; a request without tools or tool history renders none, so it
    does not pay for one (six draws from the system's random source)."""
    if settings.tool_fixed_nonce:
        return settings.tool_fixed_nonce
    if chat.tools or chat.functions or has_tool_history(chat.messages):
        return new_nonce(rng)
    return ""


def plan_chat(chat: ChatRequest, providers: ProviderRegistry, settings: Settings, *,
              now: float | None = None, rng: random.Random | None = None,
              new_id: Callable[[], str] = random_uuid) -> ChatPlan:
    provider, model = providers.route(chat.model, enable_thinking=_thinking(chat, settings),
                                      web_search=chat.web_search)
    nonce = _nonce(chat, settings, rng)
    check_chat_size(chat.messages, settings)
    messages, tools = _render(chat, chat.messages, settings, nonce)
    if not messages:  # e.g. an Anthropic turn of thinking blocks only: nothing to ask
        raise ClientRequestError("The request has no message content to send",
                                 param="messages", code="invalid_type")
    uploads = _check_images(model, image_urls(messages), providers.catalog, settings)

    def render(start: int) -> list[dict[str, Any]]:
        return _render(chat, chat.messages[start:], settings, nonce)[0]

    when = time.time() if now is None else now
    request = normalize(chat, model, messages, images=uploads, render=render)
    prepared = provider.prepare(request, now=when, new_id=new_id)
    return ChatPlan(chat=chat, model=model, provider=provider, prepared=prepared, tools=tools,
                    completion_id=f"chatcmpl-{random_hex(24)}", created=int(when))


async def load_images(plan: ChatPlan, session: aiohttp.ClientSession,
                      settings: Settings) -> ChatPlan:
    """Decode data: URLs and fetch http(s) ones (when enabled), before any upstream call."""
    images: dict[str, ImageInput] = {}
    for url in plan.request.images:
        if url.startswith("data:"):
            images[url] = parse_data_url(url, max_bytes=settings.vision_max_bytes)
        else:
            images[url] = await fetch_image(session, url, max_bytes=settings.vision_max_bytes,
                                            allow_private=settings.vision_allow_private)
    request = dataclasses.replace(plan.request, image_data=images)
    return dataclasses.replace(plan, prepared=dataclasses.replace(plan.prepared,
                                                                  request=request))


async def corrective_retry(plan: ChatPlan, translator: ResponseTranslator,
                           settings: Settings) -> list[ToolCall]:
    """One corrective re-ask naming exactly what failed (tool-calling.md §3.9).

    The original request is sent again with the model's failed output and the explanation
    appended; only the valid calls of the reply are used. Any failure gives no calls, and
    the held text then goes to the client as it was written.
    """
    info = translator.retry_info
    if info is None or plan.tools is None or not plan.may_retry(settings):
        return []
    messages = [*plan.request.messages, *corrective_messages(info)]
    request = dataclasses.replace(plan.request, messages=messages)
    parser = ToolCallParser.for_context(plan.tools, start_index=len(translator.totals.calls))
    retry = ResponseTranslator(completion_id=plan.completion_id, created=plan.created,
                               model=plan.chat.model, parser=parser)
    log.info("tools.corrective_retry", reason=info.reason)
    try:
        prepared = plan.provider.prepare(request, now=time.time(), new_id=random_uuid)
        call = plan.provider.call(prepared, Trace())
        async with asyncio.timeout(RETRY_TIMEOUT_S):
            async with aclosing(call.events()) as batches:
                async for events in batches:
                    retry.feed(events)
                    if retry.stopped:
                        break
    except (UpstreamError, TimeoutError) as exc:
        log.info("tools.corrective_retry_failed", error=str(exc))
        return []
    retry.end()
    return list(retry.totals.calls)


def stream_chunks(plan: ChatPlan, settings: Settings, trace: Trace,
                  ) -> AsyncGenerator[list[dict[str, Any]], None]:
    """`chat.completion.chunk` dicts: one list per upstream read, then the finish and usage.

    The client-neutral stream every front door encodes in its own wire format (OpenAI SSE
    here, Anthropic and Responses events elsewhere). Empty lists are never yielded. The first
    list comes with the first visible content: until then a failed upstream attempt is
    replaced by another without the client knowing (`zproxy.api.recovery`). The run's own
    generator, not one wrapped around it: a waiting stream keeps one frame fewer.
    """
    call = plan.provider.call(plan.prepared, trace)

    async def finish(translator: ResponseTranslator) -> list[dict[str, Any]]:
        tail = translator.finish(await corrective_retry(plan, translator, settings))
        trace.usage = translator.usage()
        # before the last chunk: the next turn may go elsewhere
        await call.remember(translator.completion()["choices"][0]["message"])
        return tail

    return RecoveringRun(call, trace, lambda: plan.translator(settings), stream=True,
                         finish=finish).chunks()


async def stream_chat(plan: ChatPlan, settings: Settings, trace: Trace,
                      ) -> AsyncGenerator[bytes, None]:
    """OpenAI SSE bytes: one yield per upstream read, then the finish, usage and [DONE]."""
    async with aclosing(stream_chunks(plan, settings, trace)) as lists:
        async for chunks in lists:
            yield encode_chunks(chunks)
    yield DONE


async def complete_chat(plan: ChatPlan, settings: Settings, trace: Trace) -> dict[str, Any]:
    """One `chat.completion`; the whole response is the recovery window."""
    call: ProviderCall = plan.provider.call(plan.prepared, trace)
    run = RecoveringRun(call, trace, lambda: plan.translator(settings), stream=False)
    async with aclosing(run.chunks()) as lists:
        async for _ in lists:
            pass
    translator = run.translator
    translator.finish(await corrective_retry(plan, translator, settings))
    completion = translator.completion()
    trace.usage = completion["usage"]
    await call.remember(completion["choices"][0]["message"])
    return completion
