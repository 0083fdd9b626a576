"""One provider's share of the token pool.

The admin store keeps every provider's tokens in one table (its `provider` column) and the
request path in one `UserPool`, so priority, weight, concurrency caps, failure thresholds,
cool-downs and the admin's view work the same for all of them. Each provider sees only its
own rows: Z.AI through `ProviderView` (its `TokenPool`'s user source), the others through
`StoredTokenSource`, the provider-neutral `zproxy.core.provider.StoredTokens`. A failure is
recorded on the token that met it, so one provider's 401 rests that token only.
"""

from __future__ import annotations

from collections.abc import Collection

from zproxy.core.failures import outcome_of
from zproxy.core.provider import Credential as ProviderCredential
from zproxy.errors import UpstreamError
from zproxy.pool.model import COOLING, DISABLED, HEALTHY, INVALID
from zproxy.pool.pool import UserPool
from zproxy.providers.zai.tokens import Credential


class ProviderView:
    """`UserPool` restricted to one provider (the Z.AI `UserSource` protocol)."""

    def __init__(self, pool: UserPool, provider: str, label: str) -> None:
        self.pool = pool
        self.provider = provider
        self._label = label

    @property
    def credentials(self) -> list[Credential]:
        return [e.credential for e in self.pool.entries() if e.provider == self.provider]

    def pick(self, exclude: Collection[Credential] = (), *,
             prefer: str | None = None) -> Credential | None:
        return self.pool.pick(exclude, prefer=prefer, provider=self.provider)

    def success(self, credential: Credential) -> None:
        self.pool.success(credential)

    def failure(self, credential: Credential, error: UpstreamError) -> None:
        self.pool.failure(credential, error)

    def snapshot(self) -> dict[str, int]:
        entries = [e for e in self.pool.entries() if e.provider == self.provider]
        states = [self.pool.state(e) for e in entries]
        return {"user_tokens": len(states),
                "user_tokens_usable": sum(s == HEALTHY for s in states),
                "user_tokens_cooling": states.count(COOLING),
                "user_tokens_invalid": states.count(INVALID),
                "user_tokens_disabled": states.count(DISABLED),
                "user_active_requests": sum(e.credential.active for e in entries)}

    def describe_unavailable(self) -> str:
        counts = self.snapshot()
        if not counts["user_tokens"]:
            return f"no {self._label} user token is configured"
        parts = [f"{counts[f'user_tokens_{s}']} {s}" for s in ("cooling", "invalid", "disabled")
                 if counts[f"user_tokens_{s}"]]
        if counts["user_tokens_usable"]:
            parts.append(f"{counts['user_tokens_usable']} healthy but busy or already tried")
        return (f"none of the {counts['user_tokens']} {self._label} user tokens can serve "
                f"({', '.join(parts)})")


class StoredTokenSource:
    """A provider's stored tokens as `zproxy.core.provider.StoredTokens`."""

    def __init__(self, pool: UserPool, provider: str) -> None:
        self._view = ProviderView(pool, provider, provider)
        self._lent: dict[str, Credential] = {}

    def available(self) -> bool:
        pool = self._view.pool
        return any(e.provider == self._view.provider and pool.state(e) != DISABLED
                   and pool.state(e) != INVALID for e in pool.entries())

    def count(self) -> int:
        return sum(e.provider == self._view.provider for e in self._view.pool.entries())

    def standing(self, secret: str) -> str | None:
        pool = self._view.pool
        for entry in pool.entries():
            if entry.provider == self._view.provider and entry.credential.token == secret:
                state = pool.state(entry)
                return None if state == DISABLED else "invalid" if state == INVALID \
                    else "serving"
        return None

    def acquire(self, exclude: Collection[str] = ()) -> ProviderCredential | None:
        refused = [c for c in self._view.credentials if c.key in exclude]
        found = self._view.pick(refused)
        if found is None:
            return None
        found.active += 1
        self._lent[found.key] = found
        return ProviderCredential(key=found.key, secret=found.token, kind="user",
                                  user_id=found.user_id)

    def report(self, credential: ProviderCredential, error: UpstreamError | None) -> None:
        found = self._lent.get(credential.key)
        if found is None:
            return
        found.active = max(0, found.active - 1)
        if found.active == 0:
            del self._lent[credential.key]
        if error is None:
            self._view.success(found)
        elif outcome_of(error) != "ok":  # only what belongs to the token counts against it
            self._view.failure(found, error)
