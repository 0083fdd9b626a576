"""KeyRing: the client API keys of the store, held in memory for the request path.

A key is `sk-zp-` plus 32 random bytes; only its SHA-256 is stored (a fast hash is right
here: the key is random, not a password, so there is nothing to brute-force). The whole key
is returned once, by `create`. Lookups, limits and counters touch no store; `flush` writes
the counters in one batch.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from zproxy.clientkeys.limits import Limiter, MemoryLimiter
from zproxy.store import Store

PREFIX: Final = "sk-zp-"
EDITABLE: Final = ("name", "enabled", "rpm_limit", "tpd_limit")
COUNTED: Final = ("requests", "prompt_tokens", "completion_tokens")  # flushed as increments


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(eq=False, slots=True)
class ClientKey:
    id: int
    name: str
    key_hash: str
    prefix: str
    enabled: bool = True
    rpm_limit: int | None = None
    tpd_limit: int | None = None
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_used_at: float | None = None
    created_at: float = 0.0

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "prefix": self.prefix + "…",
                "enabled": self.enabled, "rpm_limit": self.rpm_limit,
                "tpd_limit": self.tpd_limit, "requests": self.requests,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "last_used_at": self.last_used_at, "created_at": self.created_at}

    def counters(self) -> dict[str, Any]:
        return {"id": self.id, "requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "last_used_at": self.last_used_at}


CLIENT_KEY = web.RequestKey("client_key", ClientKey)  # the stored key a request came with


class KeyInputError(ValueError):
    pass


def clean_key_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in EDITABLE:
            raise KeyInputError(f"unknown field {name!r}")
        if name == "name":
            text = str(raw or "").strip()[:200]
            if not text:
                raise KeyInputError("name must not be empty")
            out[name] = text
        elif name == "enabled":
            if not isinstance(raw, bool):
                raise KeyInputError("enabled must be true or false")
            out[name] = raw
        elif raw in (None, "", 0):
            out[name] = None
        else:
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise KeyInputError(f"{name} must be a whole number") from None
            if isinstance(raw, bool) or value < 1:
                raise KeyInputError(f"{name} must be at least 1 (or empty for no limit)")
            out[name] = value
    return out


class KeyRing:
    def __init__(self, *, limiter: Limiter | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.limiter: Limiter = limiter or MemoryLimiter()
        self.clock = clock
        self._by_hash: dict[str, ClientKey] = {}
        self._by_id: dict[int, ClientKey] = {}
        self._dirty: set[int] = set()
        self._enabled = 0
        self._saved: dict[int, tuple[int, ...]] = {}  # counters as the store last had them
        # told after every admin change, so other instances on the same store reload the keys
        self.announce: Callable[[], Awaitable[None]] | None = None

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def any_enabled(self) -> bool:
        """Any stored key on: then every API request needs a key, even with no AUTH_TOKEN."""
        return self._enabled > 0

    def _recount(self) -> None:
        self._enabled = sum(k.enabled for k in self._by_id.values())

    async def load(self, store: Store) -> None:
        for row in await store.load_keys():
            self._add(ClientKey(**row))
            self._saved[row["id"]] = tuple(row[c] for c in COUNTED)

    # --- the request path ------------------------------------------------------------

    def lookup(self, key: str) -> ClientKey | None:
        found = self._by_hash.get(key_hash(key))
        return found if found is not None and found.enabled else None

    async def admit(self, key: ClientKey) -> float | None:
        """Count a request; seconds to wait instead when the key is over a limit. A key
        without limits never reaches the limiter (nor Redis)."""
        now = self.clock()
        wait = None
        if key.rpm_limit is not None or key.tpd_limit is not None:
            wait = await self.limiter.hit(key.key_hash, key.rpm_limit, key.tpd_limit, now)
        if wait is None:
            key.requests += 1
            key.last_used_at = now
            self._dirty.add(key.id)
        return wait

    def charge(self, key: ClientKey, prompt: int, completion: int) -> None:
        if prompt or completion:
            key.prompt_tokens += prompt
            key.completion_tokens += completion
            self.limiter.add_tokens(key.key_hash, prompt + completion, self.clock())
            self._dirty.add(key.id)

    # --- admin -----------------------------------------------------------------------

    async def create(self, store: Store, values: Mapping[str, Any]) -> tuple[ClientKey, str]:
        cleaned = clean_key_fields(values)
        if "name" not in cleaned:
            raise KeyInputError("name is required")
        secret = PREFIX + secrets.token_urlsafe(32)
        row = await store.insert_key({**cleaned, "key_hash": key_hash(secret),
                                      "prefix": secret[:len(PREFIX) + 4]})
        key = ClientKey(**row)
        self._add(key)
        await self._announce()
        return key, secret

    async def update(self, store: Store, key_id: int, values: Mapping[str, Any]) -> ClientKey:
        key = self.get(key_id)
        cleaned = clean_key_fields(values)
        await store.update_key(key_id, cleaned)
        for name, value in cleaned.items():
            setattr(key, name, value)
        self._recount()
        await self._announce()
        return key

    async def delete(self, store: Store, key_id: int) -> None:
        key = self.get(key_id)
        await store.delete_key(key_id)
        self._forget(key)
        await self._announce()

    def sync(self, rows: list[dict[str, Any]]) -> None:
        """Another instance changed the keys in the shared store: take its additions,
        removals and settings, keeping this instance's counters."""
        found = {row["id"]: row for row in rows}
        for row in found.values():
            key = self._by_id.get(row["id"])
            if key is None:
                self._add(ClientKey(**row))
                self._saved[row["id"]] = tuple(row[c] for c in COUNTED)
            else:
                for name in EDITABLE:
                    setattr(key, name, row[name])
        for key in [k for k in self._by_id.values() if k.id not in found]:
            self._forget(key)
        self._recount()

    def _forget(self, key: ClientKey) -> None:
        self._saved.pop(key.id, None)
        self._by_id.pop(key.id, None)
        self._by_hash.pop(key.key_hash, None)
        self._dirty.discard(key.id)
        self._recount()

    async def _announce(self) -> None:
        if self.announce is not None:
            await self.announce()

    def get(self, key_id: int) -> ClientKey:
        key = self._by_id.get(key_id)
        if key is None:
            raise LookupError(f"no client key with id {key_id}")
        return key

    def listing(self) -> list[dict[str, Any]]:
        return [k.public() for k in self._by_id.values()]

    def usage(self) -> list[dict[str, Any]]:
        """Per key name, for the dashboard: never the key."""
        return [{"name": k.name, "enabled": k.enabled, "requests": k.requests,
                 "tokens": k.prompt_tokens + k.completion_tokens, "last_used_at": k.last_used_at}
                for k in sorted(self._by_id.values(), key=lambda k: -k.requests)]

    async def flush(self, store: Store) -> None:
        rows = [self._by_id[i].counters() for i in self._dirty if i in self._by_id]
        self._dirty.clear()
        increments = [{**row, **{c: row[c] - before for c, before in zip(
            COUNTED, self._saved.get(row["id"], (0,) * len(COUNTED)), strict=True)}}
            for row in rows]  # several instances on one store add up, never overwrite
        try:
            await store.add_counts("client_keys", increments, COUNTED)
        except Exception:
            self._dirty.update(r["id"] for r in rows)
            raise
        for row in rows:
            self._saved[row["id"]] = tuple(row[c] for c in COUNTED)

    async def aclose(self) -> None:
        await self.limiter.aclose()

    def _add(self, key: ClientKey) -> None:
        self._by_id[key.id] = key
        self._by_hash[key.key_hash] = key
        self._recount()
