"""The only code that talks HTTP to K2Think (providers.md §1.3–§1.5).

A user token posts to `/api/chat/completions` with `Authorization: Bearer`; without one the
guest endpoint answers, bare (TA, CF, WS, IFM) or, with `K2THINK_HANDSHAKE`, after ZY's
`GET /guest` + `chats/guest/new` whose cookies go with the completion. The response is the
snapshot stream (`decoder.StreamDecoder`), or JSON when the upstream answers so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import orjson
import structlog

from zproxy.config import Settings
from zproxy.core.failures import upstream_error
from zproxy.core.plan import NormalizedRequest
from zproxy.core.provider import (
    Credential,
    Decoder,
    ProviderInfo,
    StoredTokens,
)
from zproxy.providers.http import mapped_errors
from zproxy.providers.k2think import models, wire
from zproxy.providers.k2think.decoder import BodyDecoder, StreamDecoder, classify
from zproxy.providers.webchat import Opened, TokenRing, WebChatProvider, read_body

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class K2ThinkOptions:
    """This provider's settings (K2THINK_*)."""

    base: str = wire.DEFAULT_BASE
    tokens: tuple[str, ...] = ()
    guest: bool = True
    handshake: bool = False
    history_repair: bool = True
    max_attempts: int = 3
    http_proxy: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> K2ThinkOptions:
        return cls(base=settings.k2think_base.rstrip("/"), tokens=settings.k2think_tokens,
                   guest=settings.k2think_guest, handshake=settings.k2think_handshake,
                   history_repair=settings.k2think_history_repair,
                   max_attempts=settings.max_attempts, http_proxy=settings.http_proxy)


def _cookies(response: aiohttp.ClientResponse) -> dict[str, str]:
    """name=value of every Set-Cookie along the redirect chain (attributes dropped, ZY)."""
    jar: dict[str, str] = {}
    for hop in (*response.history, response):
        jar.update({name: morsel.value for name, morsel in hop.cookies.items()})
    return jar


class K2ThinkProvider(WebChatProvider):
    def __init__(self, session: aiohttp.ClientSession, options: K2ThinkOptions,
                 stored: StoredTokens | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._session = session
        self._options = options
        self._clock = clock
        self._base = options.base.rstrip("/")
        super().__init__(models.provider_info(guest=options.guest),
                         TokenRing("k2think", options.tokens, env="K2THINK_TOKEN", label="K2Think",
                                   guest=options.guest, stored=stored),
                         max_attempts=options.max_attempts, classify=classify)

    # -- one attempt -------------------------------------------------------------------

    async def _open(self, request: NormalizedRequest, credential: Credential) -> Opened:
        spec = request.model.spec
        messages = wire.wire_messages(request.messages, repair_history=self._options.history_repair)
        if credential.kind == "guest":
            cookies, conversation = await self._guest_session(spec.upstream_id, messages)
            url = self._base + wire.GUEST_COMPLETIONS
            headers = wire.headers(self._base, cookies=cookies)
        else:
            conversation, url = None, self._base + wire.USER_COMPLETIONS
            headers = wire.headers(self._base, bearer=credential.secret)
        effort = spec.flags.get("reasoning_effort")
        body = wire.completion_body(spec.upstream_id, messages,
                                    temperature=request.temperature,
                                    max_tokens=request.max_tokens,
                                    reasoning_effort=str(effort) if effort else None,
                                    conversation_id=conversation)
        keep = request.thinking and spec.can_think
        with mapped_errors("k2think"):
            response = await self._session.post(url, data=orjson.dumps(body), headers=headers,
                                                proxy=self._options.http_proxy)
        if response.status != 200:
            reply, status = await read_body(response)
            raise classify(status, response.headers, reply)
        decoder: Decoder = (BodyDecoder(keep_reasoning=keep)
                            if response.content_type == "application/json"
                            else StreamDecoder(keep_reasoning=keep))
        return Opened(response, decoder)

    async def _guest_session(self, model: str, messages: list[wire.WireMessage],
                             ) -> tuple[dict[str, str], str | None]:
        """ZY's three-call guest flow, when enabled; else no cookies and no chat."""
        if not self._options.handshake:
            return {}, None
        headers = wire.headers(self._base)
        with mapped_errors("k2think guest page"):
            async with self._session.get(self._base + wire.GUEST_PAGE, headers=headers,
                                         proxy=self._options.http_proxy) as page:
                if page.status >= 400:
                    raise upstream_error("upstream", f"k2think: guest handshake failed "
                                         f"({page.status})", http_status=page.status)
                cookies = _cookies(page)
        first = next((m["content"] for m in messages if m["role"] == "user"), "")
        payload = wire.guest_chat_body(model, first, now_s=int(self._clock()))
        with mapped_errors("k2think guest chat"):
            async with self._session.post(
                    self._base + wire.GUEST_NEW_CHAT, data=orjson.dumps(payload),
                    headers=wire.headers(self._base, cookies=cookies),
                    proxy=self._options.http_proxy) as created:
                reply, status = await read_body(created)
                cookies.update(_cookies(created))
        chat_id = reply.get("id") if isinstance(reply, dict) else None
        if status != 200 or not isinstance(chat_id, str) or not chat_id:
            raise classify(status if status != 200 else 502, created.headers, reply)
        # K2Think: ZY adds this counter cookie itself (a guest quota workaround, unexplained)
        cookies["guest_conversation_count"] = "1"
        return cookies, chat_id


def provider_info(settings: Settings) -> ProviderInfo:
    return models.provider_info(guest=K2ThinkOptions.from_settings(settings).guest)


def make_provider(session: aiohttp.ClientSession, settings: Settings,
                  stored: StoredTokens | None = None) -> K2ThinkProvider:
    """`stored`: the admin store's tokens of this provider. The env tokens are imported there
    at start-up (zproxy.fleet) and also kept here: the ring skips those the store serves, so
    one deleted or disabled in /admin is still served from the env (it is configuration)."""
    options = K2ThinkOptions.from_settings(settings)
    return K2ThinkProvider(session, options, stored)
