"""One chat completion, end to end: plan it, run it, translate it.

`plan_chat` is pure: the client request becomes the upstream request plus everything the
response side needs (model, tool context, ids). `stream_chat` and `complete_chat` run the
same translator over the upstream frames; the first yields SSE bytes per upstream read, the
second returns one `chat.completion` object.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zproxy.api.schema import ChatRequest
from zproxy.api.stream import DONE, encode_chunks
from zproxy.config import Settings
from zproxy.models import ModelCatalog, ResolvedModel
from zproxy.tools import ParserOptions, ToolCallParser, ToolContext, new_nonce, prepare_tool_request
from zproxy.translate.request import UpstreamRequest, build_upstream_request
from zproxy.translate.response import ContentFilter, ResponseTranslator, StopFilter
from zproxy.upstream.client import Trace, UpstreamClient


@dataclass(frozen=True, slots=True)
class ChatPlan:
    chat: ChatRequest
    model: ResolvedModel
    upstream: UpstreamRequest
    tools: ToolContext | None
    completion_id: str
    created: int

    def translator(self, settings: Settings) -> ResponseTranslator:
        parser = None
        if self.tools is not None and self.tools.active:
            parser = ToolCallParser.for_context(self.tools, ParserOptions())
        filters: list[ContentFilter] = []
        if self.chat.stop:
            filters.append(StopFilter(self.chat.stop))
        return ResponseTranslator(
            completion_id=self.completion_id, created=self.created, model=self.chat.model,
            include_usage=self.chat.include_usage, max_tokens=self.chat.max_tokens,
            prompt_chars=_prompt_chars(self.upstream.body["messages"]), parser=parser,
            filters=filters)


def _prompt_chars(messages: list[dict[str, Any]]) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    return total


def _thinking(chat: ChatRequest, settings: Settings) -> bool | None:
    return chat.enable_thinking if chat.enable_thinking is not None else settings.enable_thinking


def plan_chat(chat: ChatRequest, catalog: ModelCatalog, settings: Settings, *,
              now: float | None = None, rng: random.Random | None = None,
              new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> ChatPlan:
    model = catalog.resolve(chat.model, enable_thinking=_thinking(chat, settings),
                            web_search=chat.web_search)
    use_tools = settings.tool_support
    nonce = settings.tool_fixed_nonce or new_nonce(rng)
    messages, tools = prepare_tool_request(
        chat.messages, tools=chat.tools if use_tools else None,
        tool_choice=chat.tool_choice if use_tools else None,
        parallel_tool_calls=chat.parallel_tool_calls,
        functions=chat.functions if use_tools else None,
        function_call=chat.function_call if use_tools else None,
        nonce=nonce, custom_prompt=settings.tool_custom_prompt)
    when = time.time() if now is None else now
    upstream = build_upstream_request(chat, model, messages, new_id=new_id,
                                      now=datetime.fromtimestamp(when, UTC))
    return ChatPlan(chat=chat, model=model, upstream=upstream, tools=tools,
                    completion_id=f"chatcmpl-{uuid.uuid4().hex[:24]}", created=int(when))


async def stream_chat(plan: ChatPlan, client: UpstreamClient, settings: Settings,
                      trace: Trace) -> AsyncGenerator[bytes, None]:
    """SSE bytes: one yield per upstream read, then the finish, usage and [DONE]."""
    translator = plan.translator(settings)
    async with aclosing(client.stream_chat(plan.upstream, trace)) as batches:
        async for frames in batches:
            chunks = translator.feed(frames)
            if chunks:
                yield encode_chunks(chunks)
            if translator.stopped:
                break
    yield encode_chunks(translator.finish()) + DONE


async def complete_chat(plan: ChatPlan, client: UpstreamClient, settings: Settings,
                        trace: Trace) -> dict[str, Any]:
    translator = plan.translator(settings)
    async with aclosing(client.stream_chat(plan.upstream, trace)) as batches:
        async for frames in batches:
            translator.feed(frames)
            if translator.stopped:
                break
    translator.finish()
    return translator.completion()
