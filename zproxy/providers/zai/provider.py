"""Z.AI behind the provider interface (`zproxy.core.provider`).

`ZaiProvider.prepare` builds the completion body (pure: ids and time injected) and, for
persisted-chat models, plans whether to continue a remembered upstream chat
(`conversations.py`); `call` runs it through `UpstreamClient` and decodes its frames into the
shared events (`decoder.py`), one fresh decoder per attempt. Conversation memory is settled
by `abandon`/`remember` once the client has its answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from zproxy.config import Settings
from zproxy.core.events import Event
from zproxy.core.plan import NormalizedRequest
from zproxy.core.provider import Capabilities, Prepared, ProviderInfo, prompt_chars
from zproxy.core.trace import Trace
from zproxy.errors import ClientRequestError, UpstreamError
from zproxy.providers.zai import wire
from zproxy.providers.zai.client import UpstreamCall, UpstreamClient
from zproxy.providers.zai.conversations import (
    ChatBinding,
    ConversationStore,
    PersistedPlan,
    plan_persisted,
)
from zproxy.providers.zai.decoder import FrameDecoder
from zproxy.providers.zai.models import default_models
from zproxy.providers.zai.request import UpstreamRequest, build_upstream_request

NAME: Final = "zai"
TOKEN_HELP: Final = (
    "Optional: guest sessions work without one. For images and higher limits, sign in at "
    "https://chat.z.ai, open the browser's developer tools, Application → Local Storage → "
    "`token`, and set ZAI_TOKEN (comma-separated for several accounts) or add it in /admin.")


def zai_info(settings: Settings) -> ProviderInfo:
    return ProviderInfo(
        name=NAME, label="Z.AI", owned_by="z.ai", models=tuple(default_models()),
        capabilities=Capabilities(reasoning=True, search=True, native_tools=True,
                                  vision=True, usage=True),
        conversation_mode="stateless", credential_env=("ZAI_TOKEN",),
        guest=settings.guest_enabled, token_help=TOKEN_HELP, cites_inline=True)


class ZaiProvider:
    """`client` may be None for planning only (token counting, unit tests)."""

    def __init__(self, client: UpstreamClient | None, settings: Settings,
                 conversations: ConversationStore | None = None) -> None:
        self._client = client
        self._settings = settings
        self._conversations = conversations
        self._info = zai_info(settings)

    @property
    def info(self) -> ProviderInfo:
        return self._info

    def available(self) -> bool:
        # Z.AI explains its own missing credential (NoUpstreamCredential, naming ZAI_TOKEN
        # and ANONYMOUS_MODE) when a request needs one, so it is never listed unavailable.
        return True

    def prepare(self, request: NormalizedRequest, *, now: float,
                new_id: Callable[[], str]) -> Prepared:
        if request.images and not self._settings.upstream_tokens:
            raise ClientRequestError(
                "Image input needs a Z.AI account: guest sessions cannot upload images. "
                "Set ZAI_TOKEN to a Z.AI user token.", param="messages",
                code="vision_requires_token")
        plans = self._persisted_plans(request) if request.model.spec.persisted else ()
        upstream = build_upstream_request(request, new_id=new_id,
                                          now=datetime.fromtimestamp(now, UTC), plans=plans,
                                          image_urls=request.images)
        return Prepared(request, prompt_chars(upstream.body["messages"]), native=upstream)

    def call(self, prepared: Prepared, trace: Trace) -> ZaiCall:
        if self._client is None:
            raise RuntimeError("this ZaiProvider plans only: it has no upstream client")
        upstream = prepared.native
        assert isinstance(upstream, UpstreamRequest)
        if prepared.request.image_data:
            upstream = dataclasses.replace(upstream, images=prepared.request.image_data)
        return ZaiCall(self._client.call(upstream, trace), prepared.request, upstream, trace,
                       self._settings.edit_index_unit, self._conversations)

    def classify(self, status: int | None, headers: Mapping[str, str],
                 body: Any) -> UpstreamError:
        return wire.classify_error(body, status)

    async def close(self) -> None:
        return None

    def _persisted_plans(self, request: NormalizedRequest) -> tuple[PersistedPlan, ...]:
        """Continue a remembered upstream chat when the history extends one, else start
        fresh."""
        fresh = plan_persisted(request.messages, None)
        store = self._conversations
        found = store.lookup(request.model.spec.upstream_id, request.history) if store else None
        if found is None or request.render is None:
            return (fresh,)
        binding, start = found
        new = request.render(start)
        new = [m for m in new if m.get("role") != "system"] or new
        plan = plan_persisted(new, (binding, 0))
        return (plan, fresh) if plan.binding is not None else (fresh,)


class ZaiCall:
    """One client request's Z.AI attempts, as events."""

    def __init__(self, call: UpstreamCall, request: NormalizedRequest,
                 upstream: UpstreamRequest, trace: Trace, edit_index_unit: str,
                 conversations: ConversationStore | None) -> None:
        self._call = call
        self._request = request
        self._upstream = upstream
        self._trace = trace
        self._edit_index_unit = edit_index_unit
        self._conversations = conversations

    async def events(self) -> AsyncGenerator[list[Event], None]:
        decoder = FrameDecoder(self._edit_index_unit)
        call = self._call
        try:
            frames: list[wire.Frame] | None = await call.open()
            while frames is not None:
                yield decoder.decode(frames)
                frames = await call.next()
        finally:
            call.close()
        tail = decoder.finish()
        if tail:
            yield tail

    def recover(self, error: UpstreamError) -> bool:
        return self._call.recover(error)

    def abandon(self) -> None:
        """A remembered chat the upstream refused is forgotten, whether or not the request
        then succeeded, so the next request does not try it again."""
        plans = self._upstream.plans
        if self._conversations is not None and self._trace.stale_chat and plans:
            binding = plans[0].binding
            if binding is not None:
                self._conversations.forget(binding)

    async def remember(self, reply: Mapping[str, Any]) -> None:
        """After a persisted-chat answer: map the history including it to the upstream
        chat; flushed before the last chunk, as the next turn may go to another worker."""
        store = self._conversations
        if store is None:
            return
        chat, model = self._trace.chat, self._upstream.model
        if chat is not None:
            binding = ChatBinding(chat.chat_id, chat.message_id, chat.credential,
                                  model.spec.upstream_id)
            history = [*self._request.history, dict(reply)]
            store.remember(model.spec.upstream_id, history, binding)
        await store.flush()
