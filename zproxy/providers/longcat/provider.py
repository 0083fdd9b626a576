"""The only code that talks HTTP to LongCat (providers.md §2.2–§2.4, §2.8).

Per request (ephemeral mode, ZY and WJ): `session-create` with the account's cookie, one
completion carrying the flattened conversation, then `session-delete` in the background
(`LONGCAT_DELETE_SESSIONS`). `LONGCAT_API` picks the 2026 `chat-completion-V2` (default) or
the 2025 `chat-completion` endpoint and the matching decoder. Requests are unsigned: if the
upstream starts demanding H5guard's `mtgsig` (two 2026 sources say it does), the refusal is
reported as `blocked` with that explanation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import orjson
import structlog

from zproxy.config import Settings
from zproxy.core.plan import NormalizedRequest
from zproxy.core.provider import (
    Credential,
    Decoder,
    ProviderInfo,
    StoredTokens,
)
from zproxy.providers.http import mapped_errors
from zproxy.providers.longcat import models, wire
from zproxy.providers.longcat.decoder import DecoderA, DecoderB, TextMode
from zproxy.providers.longcat.failures import classify
from zproxy.providers.webchat import Opened, TokenRing, WebChatProvider, read_body

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LongCatOptions:
    """This provider's settings (LONGCAT_*)."""

    base: str = wire.DEFAULT_BASE
    tokens: tuple[str, ...] = ()
    api: wire.Api = "v2"
    text_mode: TextMode = "auto"
    delete_sessions: bool = True
    region: str = ""
    max_attempts: int = 3
    http_proxy: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LongCatOptions:
        mode = settings.longcat_text_mode
        return cls(base=settings.longcat_base.rstrip("/"), tokens=settings.longcat_tokens,
                   api="v1" if settings.longcat_api == "v1" else "v2",
                   text_mode=("delta" if mode == "delta" else
                              "cumulative" if mode == "cumulative" else "auto"),
                   delete_sessions=settings.longcat_delete_sessions,
                   region=settings.longcat_region, max_attempts=settings.max_attempts,
                   http_proxy=settings.http_proxy)


class LongCatProvider(WebChatProvider):
    def __init__(self, session: aiohttp.ClientSession, options: LongCatOptions,
                 stored: StoredTokens | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._session = session
        self._options = options
        self._clock = clock
        self._base = options.base.rstrip("/")
        self._api = options.api
        super().__init__(models.provider_info(),
                         TokenRing("longcat", options.tokens, env="LONGCAT_TOKEN", label="LongCat",
                                   stored=stored),
                         max_attempts=options.max_attempts, classify=classify)

    # -- one attempt -------------------------------------------------------------------

    def _headers(self, credential: Credential, conversation: str | None = None,
                 ) -> dict[str, str]:
        return wire.headers(self._base, credential.secret, region=self._options.region,
                            conversation_id=conversation, now_ms=int(self._clock() * 1000))

    async def _open(self, request: NormalizedRequest, credential: Credential) -> Opened:
        conversation = await self._create(credential)
        cleanup = ((lambda: self._delete_session(credential, conversation))
                   if self._options.delete_sessions else None)
        try:
            response = await self._complete(request, credential, conversation)
        except BaseException:
            if cleanup is not None:
                await self._background.run(cleanup())
            raise
        keep = request.thinking
        decoder: Decoder = (DecoderA(keep_reasoning=keep) if self._api == "v1"
                            else DecoderB(keep_reasoning=keep, text_mode=self._options.text_mode))
        return Opened(response, decoder, cleanup)

    async def _create(self, credential: Credential) -> str:
        with mapped_errors("longcat session-create"):
            async with self._session.post(
                    self._base + wire.SESSION_CREATE, data=orjson.dumps(wire.session_body()),
                    headers=self._headers(credential),
                    proxy=self._options.http_proxy) as response:
                reply, status = await read_body(response)
        data = reply.get("data") if isinstance(reply, dict) else None
        conversation = data.get("conversationId") if isinstance(data, dict) else None
        if status != 200 or not isinstance(reply, dict) or reply.get("code") != 0 \
                or not isinstance(conversation, str) or not conversation:
            raise classify(status, response.headers, reply)
        return conversation

    async def _complete(self, request: NormalizedRequest, credential: Credential,
                        conversation: str) -> aiohttp.ClientResponse:
        spec = request.model.spec
        body = wire.completion_body(conversation, wire.flatten(request.messages),
                                    reasoning=request.thinking, search=request.search,
                                    agent_id=str(spec.flags.get("agent_id", "1")))
        with mapped_errors("longcat"):
            response = await self._session.post(
                self._base + wire.COMPLETION[self._api], data=orjson.dumps(body),
                headers=self._headers(credential, conversation),
                proxy=self._options.http_proxy)
        if response.status != 200 or response.content_type == "application/json":
            # LongCat: errors come as a JSON {code, message}, often with status 200 (ZY, PG)
            reply, status = await read_body(response)
            raise classify(status, response.headers, reply)
        return response

    async def _delete_session(self, credential: Credential, conversation: str) -> None:
        with mapped_errors("longcat session-delete"):
            async with self._session.get(
                    wire.delete_url(self._base, conversation),
                    headers=self._headers(credential, conversation),
                    proxy=self._options.http_proxy) as response:
                reply, status = await read_body(response)
        if status != 200 or not isinstance(reply, dict) or reply.get("code") != 0:
            log.info("longcat.session_not_deleted", status=status, reply=str(reply)[:200])


def provider_info(settings: Settings) -> ProviderInfo:
    return models.provider_info()


def make_provider(session: aiohttp.ClientSession, settings: Settings,
                  stored: StoredTokens | None = None) -> LongCatProvider:
    """`stored`: the admin store's tokens of this provider. The env tokens are imported there
    at start-up (zproxy.fleet) and also kept here: the ring skips those the store serves, so
    one deleted or disabled in /admin is still served from the env (it is configuration)."""
    options = LongCatOptions.from_settings(settings)
    return LongCatProvider(session, options, stored)
