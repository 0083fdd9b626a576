"""Credentials for the upstream: configured user tokens first, then a pool of guest sessions.

Behaviour follows zai-protocol.md §10:
- user tokens come from a `UserSource` (`zproxy.pool.pool.UserPool`: priority, weight, health,
  cool-down and probe); by default three consecutive failures rest one for 30 minutes;
- guest sessions live `ttl` ± 60 s, at least 180 s; `acquire` picks the least busy valid one,
  logs a new one in when none is free, and a failed session is dropped and replaced.
The clock and the login coroutine are injected, so the pool is tested without a network.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from zproxy.errors import NoUpstreamCredential, UpstreamAuthError, UpstreamError

log = structlog.get_logger(__name__)

FAILURE_THRESHOLD: Final = 3
RECOVERY_S: Final = 1800.0
TTL_JITTER_S: Final = 60.0
MIN_TTL_S: Final = 180.0


@dataclass(eq=False, slots=True)
class Credential:
    """One bearer token and the user id it signs with."""

    token: str
    user_id: str
    kind: str  # "user" | "guest"
    expires_at: float = float("inf")
    created_at: float = 0.0
    active: int = 0
    failures: int = 0
    disabled_until: float = 0.0
    dropped: bool = False
    verified: bool = False  # user tokens: profile fetched from /api/v1/auths/ once
    last_used: float = 0.0
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """An opaque, log-safe identity of the token (persisted chats belong to one token)."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:16]

    def usable(self, now: float) -> bool:
        return not self.dropped and now < self.expires_at and now >= self.disabled_until


Login = Callable[[], Awaitable[Credential]]


class UserSource(Protocol):
    """Where user tokens come from (`zproxy.pool.pool.UserPool`): picked, and told how each
    attempt went, without any I/O."""

    @property
    def credentials(self) -> list[Credential]: ...

    def pick(self, exclude: Collection[Credential] = (), *,
             prefer: str | None = None) -> Credential | None: ...

    def success(self, credential: Credential) -> None: ...

    def failure(self, credential: Credential, error: UpstreamError) -> None: ...

    def snapshot(self) -> dict[str, int]: ...

    def describe_unavailable(self) -> str: ...


class TokenPool:
    def __init__(
        self,
        user_tokens: Sequence[str],
        *,
        guest_enabled: bool,
        guest_pool_size: int,
        guest_ttl_s: float,
        login: Login,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        users: UserSource | None = None,
    ) -> None:
        if users is None:
            # the pool modules import Credential from here, hence the late import
            from zproxy.pool.pool import UserPool

            users = UserPool.from_tokens(user_tokens, clock=clock)
        self.user_pool = users
        self.guests: list[Credential] = []
        self._guest_enabled = guest_enabled
        self._size = guest_pool_size
        self._ttl = guest_ttl_s
        self._login = login
        self._clock = clock
        self._rng = rng or random.Random()
        self._login_lock = asyncio.Lock()
        self._guest_served = False

    @property
    def guests_in_use(self) -> bool:
        """True once a guest has served a request: only then is the pool kept topped up."""
        return self._guest_served

    async def acquire(self, exclude: Collection[Credential] = (), *, prefer: str | None = None,
                      user_only: bool = False) -> Credential:
        """A credential not in `exclude`: the one whose `key` is `prefer` when it is usable,
        else a user token, else a guest (unless `user_only`)."""
        now = self._clock()
        # `key` hashes the token: only worth computing when a chat asks for its owner
        preferred = [c for c in self.guests if c.key == prefer] if prefer is not None else []
        credential = (self._pick(preferred, exclude, now)
                      or self.user_pool.pick(exclude, prefer=prefer)
                      or await self._guest(exclude, now, user_only))
        credential.active += 1
        credential.last_used = now
        return credential

    def release(self, credential: Credential) -> None:
        credential.active = max(0, credential.active - 1)

    @property
    def users(self) -> list[Credential]:
        return self.user_pool.credentials

    def report_success(self, credential: Credential) -> None:
        if credential.kind == "user":
            self.user_pool.success(credential)
        credential.failures = 0

    def report_failure(self, credential: Credential, error: UpstreamError) -> None:
        if credential.kind == "guest":
            self._drop_guest(credential, error)
            return
        self.user_pool.failure(credential, error)

    def _drop_guest(self, guest: Credential, error: UpstreamError) -> None:
        """Drop a failed guest. A rejected one (401) takes every idle guest with it: guest
        sessions are revoked together (upstream restart, secret or TTL change), so the next
        attempt of the same request logs in a fresh guest instead of spending its retries on
        pooled siblings that are just as stale. Busy guests stay: their streams work."""
        stale = [guest]
        if isinstance(error, UpstreamAuthError):
            stale += [g for g in self.guests if g is not guest and g.active == 0]
        for dropped in stale:
            dropped.dropped = True
        self.guests = [g for g in self.guests if not g.dropped]
        log.info("tokens.guest_dropped", cause=error.cause, dropped=len(stale))

    def prune(self) -> None:
        """Forget expired or dropped guests nobody is using."""
        now = self._clock()
        self.guests = [g for g in self.guests if g.usable(now) or g.active]

    async def maintain(self) -> None:
        """Drop expired idle guests and top the pool up."""
        self.prune()
        now = self._clock()
        while self._guest_enabled and len(self._valid_guests(now)) < self._size:
            await self._add_guest()

    def snapshot(self) -> dict[str, int]:
        now = self._clock()
        users = self.user_pool.snapshot()
        return {"user_tokens": users["user_tokens"],
                "user_tokens_usable": users["user_tokens_usable"],
                "guest_sessions": len(self._valid_guests(now)),
                "active_requests": users["user_active_requests"]
                + sum(c.active for c in self.guests)}

    def _valid_guests(self, now: float) -> list[Credential]:
        return [g for g in self.guests if g.usable(now)]

    @staticmethod
    def _pick(pool: Sequence[Credential], exclude: Collection[Credential],
              now: float) -> Credential | None:
        candidates = [c for c in pool if c.usable(now) and c not in exclude]
        return min(candidates, key=lambda c: (c.active, c.last_used), default=None)

    async def _guest(self, exclude: Collection[Credential], now: float,
                     user_only: bool = False) -> Credential:
        self._guest_served = self._guest_enabled and not user_only
        if user_only:
            raise UpstreamAuthError("no usable upstream user token (ZAI_TOKEN) for this "
                                    "request: image upload needs a Z.AI account")
        if not self._guest_enabled:
            raise NoUpstreamCredential(f"no usable upstream token: "
                                       f"{self.user_pool.describe_unavailable()}, and guest "
                                       f"sessions are off (ANONYMOUS_MODE=false)")
        guest = self._pick(self.guests, exclude, now)
        if guest is not None and guest.active == 0:
            return guest
        if len(self._valid_guests(now)) < self._size or guest is None:
            return await self._add_guest(reuse=True, exclude=exclude)
        return guest

    async def _add_guest(self, *, reuse: bool = False,
                         exclude: Collection[Credential] = ()) -> Credential:
        async with self._login_lock:
            self.prune()  # expired sessions leave the pool before a new one joins
            valid = [g for g in self._valid_guests(self._clock()) if g not in exclude]
            idle = [g for g in valid if g.active == 0]
            if reuse and (idle or len(valid) >= self._size):
                # another request logged in while this one waited for the lock
                return min(idle or valid, key=lambda g: (g.active, g.last_used))
            guest = await self._login()
            now = self._clock()
            ttl = max(MIN_TTL_S, self._ttl + self._rng.uniform(-TTL_JITTER_S, TTL_JITTER_S))
            guest.created_at, guest.expires_at = now, now + ttl
            self.guests.append(guest)
            return guest
