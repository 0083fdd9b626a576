"""One chat completion, end to end: plan it, run it, translate it.

`plan_chat` is pure: the client request becomes the upstream request plus everything the
response side needs (model, tool context, ids). `stream_chat` and `complete_chat` run the
same translator over the upstream frames; the first yields SSE bytes per upstream read, the
second returns one `chat.completion` object.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog

from zproxy.api.recovery import RecoveringRun
from zproxy.api.schema import ChatRequest
from zproxy.api.stream import DONE, encode_chunks
from zproxy.config import Settings
from zproxy.core.events import ToolCall
from zproxy.core.models import ModelCatalog, ResolvedModel
from zproxy.errors import ClientRequestError, UpstreamError
from zproxy.ids import random_hex, random_uuid
from zproxy.limits import check_chat_size
from zproxy.providers.zai.buffer import MessageRenderer
from zproxy.providers.zai.client import Trace, UpstreamClient
from zproxy.providers.zai.conversations import (
    ChatBinding,
    ConversationStore,
    PersistedPlan,
    plan_persisted,
)
from zproxy.providers.zai.request import (
    UpstreamRequest,
    build_upstream_request,
    convert_messages,
    image_urls,
)
from zproxy.providers.zai.signing import signature_prompt
from zproxy.providers.zai.vision import ImageInput, fetch_image, parse_data_url
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
    upstream: UpstreamRequest
    tools: ToolContext | None
    completion_id: str
    created: int

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
            citations = CitationFilter(sources_list=settings.search_sources_list)
            filters.append(citations)
        if self.chat.stop:
            filters.append(StopFilter(self.chat.stop))
        return ResponseTranslator(
            completion_id=self.completion_id, created=self.created, model=self.chat.model,
            include_usage=self.chat.include_usage, max_tokens=self.chat.max_tokens,
            prompt_chars=_prompt_chars(self.upstream.body["messages"]), parser=parser,
            filters=filters, renderer=MessageRenderer(settings.edit_index_unit),
            on_block=citations.add_block if citations else None,
            annotations=citations.annotations if citations else None)


def _prompt_chars(messages: list[dict[str, Any]]) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    return total


def prompt_tokens_estimate(plan: ChatPlan) -> int:
    """The prompt's token estimate, counted exactly as the usage estimate counts it."""
    return estimate_tokens(_prompt_chars(plan.upstream.body["messages"]))


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


def _check_images(model: ResolvedModel, urls: list[str], settings: Settings) -> tuple[str, ...]:
    """The image URLs to upload; refuses images a model or a guest session cannot take."""
    if not urls:
        return ()
    if not model.spec.vision:
        raise ClientRequestError(
            f"The model `{model.spec.id}` does not accept images: use GLM-4.5V or GLM-4.6V",
            param="messages", code="model_not_vision")
    if not settings.upstream_tokens:
        raise ClientRequestError(
            "Image input needs a Z.AI account: guest sessions cannot upload images. "
            "Set ZAI_TOKEN to a Z.AI user token.", param="messages",
            code="vision_requires_token")
    return tuple(u for u in urls if u.startswith("data:") or settings.vision_fetch_remote)


def _persisted_plans(chat: ChatRequest, model: ResolvedModel, messages: list[dict[str, Any]],
                     settings: Settings, nonce: str,
                     conversations: ConversationStore | None) -> tuple[PersistedPlan, ...]:
    """Continue a remembered upstream chat when the history extends one, else start fresh."""
    fresh = plan_persisted(messages, None)
    found = conversations.lookup(model.spec.upstream_id, chat.messages) if conversations else None
    if found is None:
        return (fresh,)
    binding, start = found
    new, _ = _render(chat, chat.messages[start:], settings, nonce)
    new = [m for m in new if m.get("role") != "system"] or new
    plan = plan_persisted(new, (binding, 0))
    return (plan, fresh) if plan.binding is not None else (fresh,)


def _nonce(chat: ChatRequest, settings: Settings, rng: random.Random | None) -> str:
    """The tool-call nonce; a request without tools or tool history renders none, so it
    does not pay for one (six draws from the system's random source)."""
    if settings.tool_fixed_nonce:
        return settings.tool_fixed_nonce
    if chat.tools or chat.functions or has_tool_history(chat.messages):
        return new_nonce(rng)
    return ""


def plan_chat(chat: ChatRequest, catalog: ModelCatalog, settings: Settings, *,
              conversations: ConversationStore | None = None, now: float | None = None,
              rng: random.Random | None = None,
              new_id: Callable[[], str] = random_uuid) -> ChatPlan:
    model = catalog.resolve(chat.model, enable_thinking=_thinking(chat, settings),
                            web_search=chat.web_search)
    nonce = _nonce(chat, settings, rng)
    check_chat_size(chat.messages, settings)
    messages, tools = _render(chat, chat.messages, settings, nonce)
    if not messages:  # e.g. an Anthropic turn of thinking blocks only: nothing to ask
        raise ClientRequestError("The request has no message content to send",
                                 param="messages", code="invalid_type")
    uploads = _check_images(model, image_urls(messages), settings)
    plans = (_persisted_plans(chat, model, messages, settings, nonce, conversations)
             if model.spec.persisted else ())
    when = time.time() if now is None else now
    upstream = build_upstream_request(chat, model, messages, new_id=new_id,
                                      now=datetime.fromtimestamp(when, UTC), plans=plans)
    upstream = dataclasses.replace(upstream, image_urls=uploads)
    return ChatPlan(chat=chat, model=model, upstream=upstream, tools=tools,
                    completion_id=f"chatcmpl-{random_hex(24)}", created=int(when))


async def load_images(plan: ChatPlan, session: aiohttp.ClientSession,
                      settings: Settings) -> ChatPlan:
    """Decode data: URLs and fetch http(s) ones (when enabled), before any upstream call."""
    images: dict[str, ImageInput] = {}
    for url in plan.upstream.image_urls:
        if url.startswith("data:"):
            images[url] = parse_data_url(url, max_bytes=settings.vision_max_bytes)
        else:
            images[url] = await fetch_image(session, url, max_bytes=settings.vision_max_bytes,
                                            allow_private=settings.vision_allow_private)
    return dataclasses.replace(plan, upstream=dataclasses.replace(plan.upstream,
                                                                  images=images))


def forget_stale(plan: ChatPlan, trace: Trace, conversations: ConversationStore | None) -> None:
    """A remembered chat the upstream refused is forgotten, whether or not the request then
    succeeded, so the next request does not try it again."""
    if conversations is not None and trace.stale_chat and plan.upstream.plans:
        binding = plan.upstream.plans[0].binding
        if binding is not None:
            conversations.forget(binding)


def remember_turn(plan: ChatPlan, reply: dict[str, Any], trace: Trace,
                  conversations: ConversationStore) -> None:
    """After a persisted-chat answer: map the history including it to the upstream chat."""
    if trace.chat is None:
        return
    binding = ChatBinding(trace.chat.chat_id, trace.chat.message_id, trace.chat.credential,
                          plan.model.spec.upstream_id)
    conversations.remember(plan.model.spec.upstream_id, [*plan.chat.messages, reply], binding)


async def corrective_retry(plan: ChatPlan, translator: ResponseTranslator,
                           client: UpstreamClient, settings: Settings) -> list[ToolCall]:
    """One corrective re-ask naming exactly what failed (tool-calling.md §3.9).

    The original request is sent again with the model's failed output and the explanation
    appended; only the valid calls of the reply are used. Any failure gives no calls, and
    the held text then goes to the client as it was written.
    """
    info = translator.retry_info
    if info is None or plan.tools is None or not plan.may_retry(settings):
        return []
    messages = plan.upstream.body["messages"] + convert_messages(corrective_messages(info))
    body = {**plan.upstream.body, "messages": messages,
            "signature_prompt": signature_prompt(messages)}
    request = dataclasses.replace(plan.upstream, body=body, prompt=body["signature_prompt"])
    parser = ToolCallParser.for_context(plan.tools, start_index=len(translator.totals.calls))
    retry = ResponseTranslator(completion_id=plan.completion_id, created=plan.created,
                               model=plan.chat.model, parser=parser)
    log.info("tools.corrective_retry", reason=info.reason)
    try:
        async with asyncio.timeout(RETRY_TIMEOUT_S):
            async with aclosing(client.stream_chat(request, Trace())) as batches:
                async for frames in batches:
                    retry.feed(frames)
                    if retry.stopped:
                        break
    except (UpstreamError, TimeoutError) as exc:
        log.info("tools.corrective_retry_failed", error=str(exc))
        return []
    retry.end()
    return list(retry.totals.calls)


async def stream_chunks(plan: ChatPlan, client: UpstreamClient, settings: Settings,
                        trace: Trace, conversations: ConversationStore | None = None,
                        ) -> AsyncGenerator[list[dict[str, Any]], None]:
    """`chat.completion.chunk` dicts: one list per upstream read, then the finish and usage.

    The client-neutral stream every front door encodes in its own wire format (OpenAI SSE
    here, Anthropic and Responses events elsewhere). Empty lists are never yielded. The first
    list comes with the first visible content: until then a failed upstream attempt is
    replaced by another without the client knowing (`zproxy.api.recovery`).
    """
    run = RecoveringRun(client, plan.upstream, trace, lambda: plan.translator(settings),
                        stream=True)
    try:
        async with aclosing(run.chunks()) as lists:
            async for chunks in lists:
                yield chunks
    finally:
        forget_stale(plan, trace, conversations)
    translator = run.translator
    tail = translator.finish(await corrective_retry(plan, translator, client, settings))
    trace.usage = translator.usage()
    if conversations is not None:
        remember_turn(plan, translator.completion()["choices"][0]["message"], trace,
                      conversations)
        await conversations.flush()  # before the last chunk: the next turn may go elsewhere
    if tail:
        yield tail


async def stream_chat(plan: ChatPlan, client: UpstreamClient, settings: Settings,
                      trace: Trace, conversations: ConversationStore | None = None,
                      ) -> AsyncGenerator[bytes, None]:
    """OpenAI SSE bytes: one yield per upstream read, then the finish, usage and [DONE]."""
    async with aclosing(stream_chunks(plan, client, settings, trace, conversations)) as lists:
        async for chunks in lists:
            yield encode_chunks(chunks)
    yield DONE


async def complete_chat(plan: ChatPlan, client: UpstreamClient, settings: Settings,
                        trace: Trace, conversations: ConversationStore | None = None,
                        ) -> dict[str, Any]:
    """One `chat.completion`; the whole response is the recovery window."""
    run = RecoveringRun(client, plan.upstream, trace, lambda: plan.translator(settings),
                        stream=False)
    try:
        async with aclosing(run.chunks()) as lists:
            async for _ in lists:
                pass
    finally:
        forget_stale(plan, trace, conversations)
    translator = run.translator
    translator.finish(await corrective_retry(plan, translator, client, settings))
    completion = translator.completion()
    trace.usage = completion["usage"]
    if conversations is not None:
        remember_turn(plan, completion["choices"][0]["message"], trace, conversations)
        await conversations.flush()
    return completion
