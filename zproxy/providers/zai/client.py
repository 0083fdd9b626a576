"""The only code that talks HTTP to Z.AI.

`UpstreamClient.call(request)` signs and sends a completion: `open()` returns the frames of its
first network read, `next()` those of each further one. Failures before the first frames are
retried with another credential (fresh requestId, timestamp and signature per attempt) within
a bounded budget; a failure after that ends the attempt, and the consumer, which alone knows
whether any of it reached its client, may `recover()` it with another (see
`zproxy.api.recovery`).
aiohttp and timeout errors become `UpstreamError`s in exactly one place, `mapped_errors`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import structlog
from multidict import CIMultiDict
from yarl import URL

from zproxy import errors
from zproxy.config import Settings
from zproxy.core.trace import ChatTurn, Trace
from zproxy.ids import random_uuid
from zproxy.providers.http import json_or_text, mapped_errors
from zproxy.providers.zai import wire
from zproxy.providers.zai.attempt import AttemptBuilder
from zproxy.providers.zai.conversations import PersistedPlan
from zproxy.providers.zai.fe_version import FEVersion
from zproxy.providers.zai.headers import BrowserHeaders
from zproxy.providers.zai.query import CompletionQuery
from zproxy.providers.zai.reader import FrameReader
from zproxy.providers.zai.request import UpstreamRequest
from zproxy.providers.zai.signing import signature
from zproxy.providers.zai.tokens import Credential, TokenPool, UserSource

__all__ = ["ChatTurn", "Trace", "UpstreamCall", "UpstreamClient"]

log = structlog.get_logger(__name__)

DRAIN_AFTER_DONE_S = 0.25
# failures that belong to the credential, not to the request: retry with another one
_CREDENTIAL_FAILURES = (errors.UpstreamAuthError, errors.UpstreamRateLimitError,
                        errors.UpstreamCaptchaError, errors.UpstreamBlockedError)


class UpstreamClient:
    def __init__(self, session: aiohttp.ClientSession, settings: Settings, *,
                 clock: Callable[[], float] = time.time,
                 new_id: Callable[[], str] = random_uuid,
                 users: UserSource | None = None) -> None:
        self._session = session
        self._settings = settings
        self._clock = clock
        self._new_id = new_id
        self.max_attempts = settings.max_attempts
        self._base = settings.upstream_base
        self._browser = BrowserHeaders(self._base, settings.user_agent)
        self._query = CompletionQuery(self._base, settings.completion_path, settings.user_agent)
        self.tokens = TokenPool(
            settings.upstream_tokens, guest_enabled=settings.guest_enabled,
            guest_pool_size=settings.guest_pool_size, guest_ttl_s=settings.guest_ttl_s,
            login=self.guest_login, users=users)
        self._attempts = AttemptBuilder(session, base=self._base, proxy=settings.http_proxy,
                                        headers=self._headers, new_id=new_id, clock=clock)
        self.fe_version = FEVersion(
            override=settings.fe_version, fallback=settings.fe_version_fallback,
            ttl_s=settings.fe_version_ttl_s, fetch=self._front_page)

    # --- completions -------------------------------------------------------------------

    def call(self, request: UpstreamRequest, trace: Trace | None = None) -> UpstreamCall:
        """The attempts of one client request; see `UpstreamCall`."""
        return UpstreamCall(self, request, trace or Trace())

    async def _acquire(self, request: UpstreamRequest, plans: list[PersistedPlan],
                       excluded: list[Credential],
                       last: errors.UpstreamError | None) -> Credential:
        prefer = plans[0].binding.credential if plans and plans[0].binding else None
        try:
            credential = await self.tokens.acquire(excluded, prefer=prefer,
                                                   user_only=bool(request.image_urls))
        except errors.UpstreamAuthError as exc:
            if last is None:
                raise
            raise last from exc  # out of credentials: report what actually went wrong
        if plans and plans[0].binding and plans[0].binding.credential != credential.key:
            plans.pop(0)  # the chat's owner is gone: start a fresh chat
        return credential

    async def _open(self, request: UpstreamRequest, plans: list[PersistedPlan],
                    credential: Credential, trace: Trace,
                    ) -> tuple[aiohttp.ClientResponse, FrameReader, list[wire.Frame]]:
        """One attempt up to its first frames. The credential is released on any failure,
        cancellation included; on success the `UpstreamCall` owns it until `close()`."""
        try:
            if credential.kind == "user" and not credential.verified:
                await self._verify_user(credential)
            body = await self._attempts.body(request, plans[0] if plans else None,
                                             credential, trace)
            return await self._attempt(request, body, credential)
        except BaseException:
            self.tokens.release(credential)
            raise

    async def _served(self, reader: FrameReader, credential: Credential) -> bool:
        """At the done frame: the token has served (a consumer may stop reading here), and
        the rest is read briefly so the connection can be reused."""
        await reader.drain(DRAIN_AFTER_DONE_S)
        self.tokens.report_success(credential)
        return True

    def _settle(self, response: aiohttp.ClientResponse, reader: FrameReader,
                credential: Credential) -> None:
        """The answering attempt is over, however it ended."""
        self.tokens.release(credential)
        if reader.eof:
            response.release()
        else:  # client gone or error: do not return a half-read connection to the pool
            response.close()

    def _failed(self, credential: Credential, exc: errors.UpstreamError, trace: Trace,
                plans: list[PersistedPlan], excluded: list[Credential]) -> None:
        trace.retries.append(exc.cause)
        log.info("upstream.attempt_failed", cause=exc.cause, kind=credential.kind,
                 status=exc.upstream_status, error=exc.message)
        if isinstance(exc, errors.UpstreamVersionError):
            self.fe_version.invalidate()  # the same credential is retried with a fresh one
        if isinstance(exc, _CREDENTIAL_FAILURES):
            self.tokens.report_failure(credential, exc)
            excluded.append(credential)
        if plans and plans[0].binding and isinstance(exc, errors.UpstreamInternalError):
            # Z.AI: a stale chat or parent id gives INTERNAL_ERROR (SB, seen 2026-06);
            # the retry starts a fresh chat, with the same credential when it is the only one
            plans.pop(0)
            trace.stale_chat = True

    async def _attempt(self, request: UpstreamRequest, body: dict[str, Any],
                       credential: Credential,
                       ) -> tuple[aiohttp.ClientResponse, FrameReader, list[wire.Frame]]:
        url, headers, data = await self._signed(request, body, credential)
        with mapped_errors():
            response = await self._session.post(url, data=data, headers=headers,
                                                proxy=self._settings.http_proxy)
        try:
            if response.status != 200:
                with mapped_errors():
                    raw = await response.read()
                raise wire.classify_error(json_or_text(raw), response.status)
            reader = FrameReader(response)
            first = await self._first_frames(reader)
        except BaseException:
            response.close()
            raise
        return response, reader, first

    async def _first_frames(self, reader: FrameReader) -> list[wire.Frame]:
        """Read until something meaningful arrives; an error there is still retryable."""
        frames: list[wire.Frame] = []
        while not any(f.meaningful for f in frames):
            batch = await reader.batch()
            if batch is None:
                raise errors.UpstreamProtocolError("upstream: empty response")
            frames += batch
        error = next((f.error for f in frames if f.error is not None), None)
        if error is not None and not any(f.delta or f.edit_content for f in frames):
            raise wire.classify_error(error, None)
        return frames

    async def _signed(self, request: UpstreamRequest, body: dict[str, Any],
                      credential: Credential) -> tuple[URL, CIMultiDict[str], bytes]:
        now_ms = int(self._clock() * 1000)
        request_id, chat_id = self._new_id(), str(body["chat_id"])
        sig = signature(self._settings.signing_secret, request_id=request_id,
                        user_id=credential.user_id, timestamp_ms=now_ms,
                        prompt=str(body["signature_prompt"]))
        headers = self._browser(credential.token, chat_id, fe_version=await self.fe_version.get(),
                                signature=sig)
        mode = self._settings.fingerprint
        fingerprint = mode == "always" or (mode == "auto" and request.persisted)
        url = self._query.url(request_id=request_id, now_ms=now_ms, user_id=credential.user_id,
                              token=credential.token, chat_id=chat_id,
                              fingerprint_at=datetime.now(UTC) if fingerprint else None)
        return url, headers, orjson.dumps(body)

    def _headers(self, credential: Credential, chat_id: str | None = None) -> CIMultiDict[str]:
        return self._browser(credential.token, chat_id)

    # --- sessions and pages ------------------------------------------------------------

    async def guest_login(self) -> Credential:
        """GET /api/v1/auths/ without credentials → a guest token (§2.2)."""
        headers = {"User-Agent": self._settings.user_agent, "Accept": "application/json",
                   "Origin": self._base, "Referer": f"{self._base}/"}
        # Z.AI: a reused cookie jar sticks new logins to the old guest (ZY, seen 2026-03),
        # so the guest login sends no cookies.
        body, status = await self._get_json(wire.AUTHS_PATH, headers)
        if status != 200 or not isinstance(body, dict) or not body.get("token"):
            raise wire.classify_error(body, status if status != 200 else 502)
        token = str(body["token"])
        user_id = str(body.get("id") or wire.jwt_user_id(token) or "guest")
        log.info("upstream.guest_login", role=body.get("role"))
        return Credential(token, user_id, "guest")

    async def list_models(self) -> list[str]:
        """Model ids the upstream offers (`GET /api/models`, §2.4)."""
        credential = await self.tokens.acquire()
        try:
            body, status = await self._get_json(wire.MODELS_PATH, self._headers(credential))
        finally:
            self.tokens.release(credential)
        data = body.get("data") if isinstance(body, dict) and status == 200 else None
        if not isinstance(data, list):
            raise wire.classify_error(body, status if status != 200 else 502)
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]

    async def _verify_user(self, credential: Credential) -> None:
        """Learn a user token's id from its profile (`/api/v1/auths/` with Bearer, §2.2)."""
        body, status = await self._get_json(wire.AUTHS_PATH, self._headers(credential))
        if status != 200 or not isinstance(body, dict) or not body.get("id"):
            raise wire.classify_error(body, status if status != 200 else 502)
        if body.get("role") not in (None, "user"):
            log.warning("tokens.not_a_user_token", role=body.get("role"))
        credential.user_id = str(body["id"])
        credential.verified = True

    async def _get_json(self, path: str, headers: Mapping[str, str]) -> tuple[Any, int]:
        with mapped_errors():
            async with self._session.get(f"{self._base}{path}", headers=headers,
                                         proxy=self._settings.http_proxy) as response:
                return json_or_text(await response.read()), response.status

    async def _front_page(self) -> str:
        with mapped_errors():
            async with self._session.get(f"{self._base}{wire.ORIGIN_PAGE}",
                                         headers={"User-Agent": self._settings.user_agent},
                                         proxy=self._settings.http_proxy) as response:
                return await response.text(errors="replace")


class UpstreamCall:
    """The upstream attempts of one client request, under one budget (UPSTREAM_MAX_ATTEMPTS).

    `open()` runs attempts until one answers and returns its first frames; failures before
    them are retried inside. `next()` returns each further read's frames, None at the end;
    `close()` ends the attempt however it went (always, once `open()` returned). A failure
    in `next()` ends the attempt; `recover(exc)` then says whether another may replace it,
    and `open()` runs it. Plain coroutines, not a generator: the consumer's own generator
    (`ZaiCall.events`) is the only frame a waiting stream keeps for Z.AI.
    """

    __slots__ = ("_client", "_request", "_trace", "_left", "_plans", "_excluded", "_last",
                 "_answering", "_spent", "_credential", "_response", "_reader", "_reported")

    def __init__(self, client: UpstreamClient, request: UpstreamRequest, trace: Trace) -> None:
        self._client = client
        self._request = request
        self._trace = trace
        self._left = max(1, client.max_attempts)
        self._plans = list(request.plans)
        self._excluded: list[Credential] = []  # credentials the upstream itself refused
        self._last: errors.UpstreamError | None = None
        self._answering: Credential | None = None  # the attempt whose frames are flowing
        self._spent = False
        # the answering attempt's, until `close()`
        self._credential: Credential | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._reader: FrameReader | None = None
        self._reported = False  # its success is reported (at the done frame or the end)

    async def open(self) -> list[wire.Frame]:
        client = self._client
        while self._left > 0:
            self._left -= 1
            credential = await client._acquire(self._request, self._plans, self._excluded,
                                               self._last)
            self._trace.attempts += 1
            self._trace.credential_kind = credential.kind
            try:
                response, reader, first = await client._open(self._request, self._plans,
                                                              credential, self._trace)
            except errors.UpstreamError as exc:
                self._last = exc
                client._failed(credential, exc, self._trace, self._plans, self._excluded)
                if not exc.retryable:
                    raise
                continue
            # A persisted chat's turn is spent from here on: Z.AI answered 200 and sent a
            # first frame that is not an error, so it has stored the user message under its
            # parent in that chat and is writing the assistant message `body.id`. Sending
            # it again would add a second user turn to the chat. Refusals come before this
            # point (HTTP errors, or INTERNAL_ERROR as the first frame for a stale chat or
            # parent id) and are still retried above, on a fresh chat.
            self._spent = self._request.persisted
            self._answering = self._credential = credential
            self._response, self._reader, self._reported = response, reader, False
            return await self._delivered(first)
        assert self._last is not None
        raise self._last

    async def next(self) -> list[wire.Frame] | None:
        """The next read's frames; None once the answer is over (a clean end)."""
        assert self._reader is not None and self._credential is not None, "open() first"
        batch = await self._reader.batch()
        if batch is not None:
            return await self._delivered(batch)
        if not self._reported:
            self._client.tokens.report_success(self._credential)
            self._reported = True
        self._answering = None  # a clean end: nothing for `recover` to replace
        return None

    def close(self) -> None:
        """The answering attempt is over, ended, failed or abandoned: its credential and
        connection go back (a half-read connection is closed, not pooled)."""
        response, reader, credential = self._response, self._reader, self._credential
        self._response = self._reader = self._credential = None
        if response is not None and reader is not None and credential is not None:
            self._client._settle(response, reader, credential)

    async def _delivered(self, batch: list[wire.Frame]) -> list[wire.Frame]:
        if not self._reported and any(frame.done for frame in batch):
            assert self._reader is not None and self._credential is not None
            self._reported = await self._client._served(self._reader, self._credential)
        return batch

    def recover(self, exc: errors.UpstreamError) -> bool:
        """After `next()` failed mid-response, with none of it shown to the client: record
        the failure and say whether `open()` may run another attempt."""
        credential, self._answering = self._answering, None
        if credential is None:  # failed before answering: `open()` retried what it could
            return False
        self._last = exc
        self._client._failed(credential, exc, self._trace, self._plans, self._excluded)
        if self._spent:
            log.info("upstream.turn_spent", cause=exc.cause)
            return False
        if not exc.retryable or self._left <= 0:
            return False
        self._trace.recovered.append(exc.cause)
        return True
