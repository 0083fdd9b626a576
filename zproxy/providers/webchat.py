"""The attempt loop and credential ring the cookie/JWT web chats share (K2Think, LongCat).

`TokenRing` is a `CredentialSource` over the tokens an operator configured (plus a guest
credential where the service has guests): round robin over healthy tokens; a refused token
(401/403, "log in first") is disabled for `auth_cooldown_s` without touching the others; a
rate-limited one rests for the upstream's `Retry-After` or `rate_cooldown_s`.

`WebChatCall` is a `ProviderCall`: per attempt it takes a credential, lets the provider open
the upstream response (`Opener`: pre-flight calls, the request, the decoder to use), reads
until the first meaningful events, and retries failures up to there on another credential
within `UPSTREAM_MAX_ATTEMPTS`. After that the events flow to the engine; a failure then is
the engine's to `recover()`. Each attempt's clean-up (LongCat's session delete) runs in a
background task owned by `Background`, so it never delays or fails the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import structlog

from zproxy import errors
from zproxy.core.events import Content, Done, Event, Failure, Reasoning, SearchResults, ToolBlock
from zproxy.core.failures import Outcome, outcome_of
from zproxy.core.models import ModelSpec
from zproxy.core.plan import NormalizedRequest
from zproxy.core.provider import (
    Credential,
    Decoder,
    Prepared,
    ProviderInfo,
    StoredTokens,
    prompt_chars,
)
from zproxy.core.trace import Trace
from zproxy.providers.http import json_or_text, mapped_errors

log = structlog.get_logger(__name__)

_MEANINGFUL: Final = (Content, Reasoning, SearchResults, ToolBlock, Done, Failure)
BACKGROUND_LIMIT: Final = 64       # clean-ups in flight before new ones run inline
CLOSE_GRACE_S: Final = 5.0
DRAIN_S: Final = 0.25


def credential_key(provider: str, secret: str) -> str:
    """A log-safe identity for a secret."""
    return f"{provider}:{hashlib.sha256(secret.encode()).hexdigest()[:12]}"


@dataclass(slots=True)
class _Slot:
    credential: Credential
    resting_until: float = 0.0
    failures: int = 0
    last_used: float = 0.0


class TokenRing:
    """Configured tokens, then the guest credential when there is one."""

    def __init__(self, provider: str, tokens: Sequence[str], *, env: str, guest: bool = False,
                 stored: StoredTokens | None = None, clock: Callable[[], float] = time.monotonic,
                 auth_cooldown_s: float = 1800.0, rate_cooldown_s: float = 60.0,
                 label: str = "") -> None:
        self.provider = provider
        self.label = label or provider
        self._stored = stored
        self._env = env
        self._clock = clock
        self._auth_cooldown_s = auth_cooldown_s
        self._rate_cooldown_s = rate_cooldown_s
        self._slots = [_Slot(Credential(credential_key(provider, t), t)) for t in tokens if t]
        self._guest = _Slot(Credential(f"{provider}:guest", "", kind="guest")) if guest else None

    @property
    def credentials(self) -> list[Credential]:
        return [slot.credential for slot in self._slots]

    def available(self) -> bool:
        """An env token counts unless the store holds it confirmed invalid; a resting one
        still counts (it comes back by itself)."""
        return (any(self._standing(s) != "invalid" for s in self._slots)
                or self._guest is not None
                or (self._stored is not None and self._stored.available()))

    def unavailable_reason(self) -> str | None:
        """Why nothing can serve, when tokens exist but are all refused; None if none exist."""
        count = len(self._slots) + (self._stored.count() if self._stored is not None else 0)
        if not count:
            return None
        return (f"all {count} {self.label} tokens ({self._env} and /admin) are invalid, "
                "disabled or resting; check or replace them in /admin or the env")

    def healthy(self, key: str) -> bool:
        slot = self._slot(key)
        return slot is not None and slot.resting_until <= self._clock()

    async def acquire(self, model: ModelSpec, exclude: tuple[str, ...] = ()) -> Credential:
        now = self._clock()
        # an env token the store serves goes through the store (its health, priority and
        # counters); one deleted or disabled there is still configured, so the ring serves it
        ready = [s for s in self._slots if s.resting_until <= now
                 and s.credential.key not in exclude and self._standing(s) is None]
        stored = self._stored.acquire(exclude) if self._stored is not None and not ready else None
        if stored is not None:  # the admin store's tokens: the shared pool keeps their health
            return stored
        if ready:
            slot = min(ready, key=lambda s: s.last_used)
        elif self._guest is not None and self._guest.credential.key not in exclude:
            slot = self._guest
        elif (reason := self.unavailable_reason()) is not None:
            raise errors.NoUpstreamCredential(f"{self.provider}: {reason}")
        else:
            raise errors.NoUpstreamCredential(f"{self.provider}: no credential: set {self._env}")
        slot.last_used = now
        return slot.credential

    def _standing(self, slot: _Slot) -> str | None:
        return None if self._stored is None else self._stored.standing(slot.credential.secret)

    def report(self, credential: Credential, outcome: Outcome,
               retry_after_s: float | None = None) -> None:
        slot = self._slot(credential.key)
        if slot is None or slot is self._guest:
            return
        if outcome == "ok":
            slot.failures = 0
            return
        slot.failures += 1
        rest = (retry_after_s or self._rate_cooldown_s if outcome == "rate_limited"
                else self._auth_cooldown_s)
        slot.resting_until = self._clock() + rest
        log.warning("tokens.rested", provider=self.provider, token=credential.key,
                    outcome=outcome, rest_s=rest)

    def settle(self, credential: Credential, error: errors.UpstreamError | None) -> None:
        """After every use of an acquired credential: success (None) or the failure."""
        if self._slot(credential.key) is None and self._stored is not None:
            self._stored.report(credential, error)
            return
        self.report(credential, outcome_of(error), error.retry_after_s if error else None)

    async def refresh(self, credential: Credential) -> Credential | None:
        return None  # cookies and JWTs pasted by the operator cannot be minted here

    def _slot(self, key: str) -> _Slot | None:
        if self._guest is not None and key == self._guest.credential.key:
            return self._guest
        return next((s for s in self._slots if s.credential.key == key), None)


class Background:
    """Fire-and-forget clean-ups with a bound; `close()` waits for them briefly."""

    def __init__(self, limit: int = BACKGROUND_LIMIT) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = limit

    async def run(self, job: Coroutine[Any, Any, None]) -> None:
        if len(self._tasks) >= self._limit:
            await _logged(job)  # back-pressure instead of an unbounded task set
            return
        task = asyncio.create_task(_logged(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_GRACE_S)
        for task in list(self._tasks):
            task.cancel()


async def _logged(job: Coroutine[Any, Any, None]) -> None:
    try:
        await job
    except Exception as exc:  # a clean-up failure is logged, never surfaced
        log.info("upstream.cleanup_failed", error=f"{type(exc).__name__}: {exc}")


@dataclass(slots=True)
class Opened:
    """An upstream response ready to read, with its decoder and its clean-up."""

    response: aiohttp.ClientResponse
    decoder: Decoder
    cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None


Opener = Callable[[Credential, Trace], Awaitable[Opened]]


class WebChatCall:
    """The attempts of one client request against one web-chat provider."""

    def __init__(self, source: TokenRing, model: ModelSpec, opener: Opener, trace: Trace, *,
                 max_attempts: int, background: Background) -> None:
        self._source = source
        self._model = model
        self._open = opener
        self._trace = trace
        self._left = max(1, max_attempts)
        self._background = background
        self._excluded: list[str] = []
        self._last: errors.UpstreamError | None = None
        self._answering: Credential | None = None

    async def events(self) -> AsyncGenerator[list[Event], None]:
        while self._left > 0:
            self._left -= 1
            credential = await self._acquire()
            self._trace.attempts += 1
            self._trace.credential_kind = credential.kind
            try:
                opened, first = await self._first(credential)
            except errors.UpstreamError as exc:
                self._failed(credential, exc)
                self._source.settle(credential, exc)
                if not exc.retryable:
                    raise
                continue
            except BaseException:  # cancelled: the credential did nothing wrong
                self._source.settle(credential, None)
                raise
            self._answering = credential
            async with aclosing(self._relay(opened, first, credential)) as batches:
                async for batch in batches:
                    yield batch
            return
        assert self._last is not None
        raise self._last

    def recover(self, error: errors.UpstreamError) -> bool:
        credential, self._answering = self._answering, None
        if credential is None:
            return False
        self._failed(credential, error)  # the relay settled the credential already
        if not error.retryable or self._left <= 0:
            return False
        self._trace.recovered.append(error.cause)
        return True

    def abandon(self) -> None:
        """Nothing to forget: these providers keep no conversation between requests."""

    async def remember(self, reply: Mapping[str, Any]) -> None:
        """Nothing to remember (stateless and ephemeral conversations)."""

    async def _acquire(self) -> Credential:
        try:
            return await self._source.acquire(self._model, tuple(self._excluded))
        except errors.UpstreamAuthError as exc:
            if self._last is None:
                raise
            raise self._last from exc  # out of credentials: report what actually went wrong

    async def _first(self, credential: Credential) -> tuple[Opened, list[Event]]:
        """Open and read up to the first meaningful events; a failure there is retryable."""
        opened = await self._open(credential, self._trace)
        try:
            events: list[Event] = []
            chunks = opened.response.content.iter_any()
            while not any(isinstance(e, _MEANINGFUL) for e in events):
                with mapped_errors():
                    chunk = await anext(chunks, None)
                events += opened.decoder.feed(chunk) if chunk is not None \
                    else opened.decoder.flush()
                if chunk is None:
                    break
            failure = next((e for e in events if isinstance(e, Failure)), None)
            if failure is not None and not any(isinstance(e, Content | Reasoning)
                                               for e in events):
                raise failure.error
        except BaseException:
            opened.response.close()
            await self._cleanup(opened)
            raise
        return opened, events

    async def _relay(self, opened: Opened, first: list[Event],
                     credential: Credential) -> AsyncGenerator[list[Event], None]:
        """Yield until `Done` or a `Failure`; settle the credential however it ends (a
        client gone counts as success)."""
        response, decoder = opened.response, opened.decoder
        error: errors.UpstreamError | None = None
        try:
            batch, finished = first, False
            while True:
                failure = next((e for e in batch if isinstance(e, Failure)), None)
                error = failure.error if failure is not None else None
                finished = finished or failure is not None or any(
                    isinstance(e, Done) for e in batch)
                if batch:
                    yield batch
                if finished:
                    break
                with mapped_errors():
                    chunk = await response.content.readany()
                batch = decoder.feed(chunk) if chunk else decoder.flush()
                finished = not chunk
            if error is None:
                await _drain(response)
        except errors.UpstreamError as exc:
            error = exc
            raise
        finally:
            self._source.settle(credential, error)
            if response.content.at_eof():
                response.release()
            else:
                response.close()  # half-read: do not hand it back to the pool
            await self._cleanup(opened)

    async def _cleanup(self, opened: Opened) -> None:
        if opened.cleanup is not None:
            await self._background.run(opened.cleanup())

    def _failed(self, credential: Credential, exc: errors.UpstreamError) -> None:
        self._last = exc
        self._trace.retries.append(exc.cause)
        log.info("upstream.attempt_failed", provider=self._source.provider, cause=exc.cause,
                 kind=credential.kind, status=exc.upstream_status, error=exc.message)
        if outcome_of(exc) != "ok":
            self._excluded.append(credential.key)


async def _drain(response: aiohttp.ClientResponse) -> None:
    """After the last frame: read what trails it (`[DONE]`, `-1`) briefly, so the connection
    can go back to the pool."""
    try:
        async with asyncio.timeout(DRAIN_S):
            while await response.content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError):
        pass


async def read_body(response: aiohttp.ClientResponse) -> tuple[Any, int]:
    """The body of a non-stream answer (JSON when it is JSON), and its status."""
    with mapped_errors():
        raw = await response.read()
    return json_or_text(raw), response.status


class WebChatProvider:
    """What K2Think and LongCat share around their own `_open` (one attempt: request, check,
    decoder): the descriptor, the token ring, planning, the attempt loop and background jobs."""

    def __init__(self, info: ProviderInfo, tokens: TokenRing, *, max_attempts: int,
                 classify: Callable[[int | None, Mapping[str, str], Any], errors.UpstreamError]
                 ) -> None:
        self._info = info
        self.tokens = tokens
        self._max_attempts = max_attempts
        self._classify = classify
        self._background = Background()

    @property
    def info(self) -> ProviderInfo:
        return self._info

    def available(self) -> bool:
        return self.tokens.available()

    def prepare(self, request: NormalizedRequest, *, now: float,
                new_id: Callable[[], str]) -> Prepared:
        """Nothing to check beyond what the engine did (vision, sizes); the body is built
        per attempt, as it depends on the credential."""
        return Prepared(request, prompt_chars(request.messages))

    def call(self, prepared: Prepared, trace: Trace) -> WebChatCall:
        request = prepared.request

        async def opener(credential: Credential, trace: Trace) -> Opened:
            return await self._open(request, credential)

        return WebChatCall(self.tokens, request.model.spec, opener, trace,
                           max_attempts=self._max_attempts, background=self._background)

    def classify(self, status: int | None, headers: Mapping[str, str],
                 body: Any) -> errors.UpstreamError:
        return self._classify(status, headers, body)

    async def close(self) -> None:
        await self._background.close()

    async def _open(self, request: NormalizedRequest, credential: Credential) -> Opened:
        raise NotImplementedError
