"""TokenService: every change to the user tokens, written to the store and then to the pool.

The admin pages, the admin API, the legacy /v1/token-pool routes and the start-up import all
come through here, so the store and the in-memory pool never disagree. The flusher
(`flush`) writes the pool's counters, health and events back in one batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import structlog

from zproxy.core.checks import TokenCheck
from zproxy.pool import health as h
from zproxy.pool import validate as v
from zproxy.pool.model import COOLING, INVALID, TokenEntry, mask, parse_tokens, token_hash
from zproxy.pool.pool import PoolEvent, UserPool
from zproxy.store import Store

log = structlog.get_logger(__name__)

EDITABLE: Final = ("label", "priority", "weight", "max_concurrent", "enabled")
COUNTED: Final = ("requests", "successes", "failures")  # flushed as increments
MAX_TOKEN_CHARS: Final = 8192
Check = Callable[[str], Awaitable[v.Validation]]


class TokenInputError(ValueError):
    """Bad admin input; the message says which field and why."""


@dataclass
class AddResult:
    added: list[TokenEntry] = field(default_factory=list)
    duplicates: int = 0

    def summary(self) -> dict[str, Any]:
        return {"added": len(self.added), "duplicates": self.duplicates,
                "ids": [e.id for e in self.added]}


def clean_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the editable fields of a token (admin input)."""
    out: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in EDITABLE:
            raise TokenInputError(f"unknown field {name!r}")
        if name == "label":
            out[name] = (str(raw).strip()[:200] or None) if raw is not None else None
        elif name == "enabled":
            if not isinstance(raw, bool):
                raise TokenInputError("enabled must be true or false")
            out[name] = raw
        elif name == "max_concurrent" and raw in (None, "", 0):
            out[name] = None
        else:
            out[name] = _whole(name, raw, low=1 if name != "priority" else -1000, high=1000)
    return out


def _whole(name: str, raw: Any, *, low: int, high: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise TokenInputError(f"{name} must be a whole number") from None
    if isinstance(raw, bool) or not low <= value <= high:
        raise TokenInputError(f"{name} must be between {low} and {high}")
    return value


def parse_import(text: str) -> tuple[list[str], dict[str, Any]]:
    """tokens.txt text, a JSON list of tokens, or a JSON export (objects with `token`)."""
    stripped = text.strip()
    if stripped[:1] not in ("[", "{"):
        return parse_tokens(text), {}
    try:
        data = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        raise TokenInputError(f"not valid JSON: {exc}") from None
    items = data.get("tokens", []) if isinstance(data, dict) else data
    tokens = [i if isinstance(i, str) else i.get("token") for i in items
              if isinstance(i, str | dict)]
    found = [t.strip() for t in tokens if isinstance(t, str) and t.strip() and "…" not in t]
    if not found:
        raise TokenInputError("no whole tokens found (a masked export cannot be imported)")
    return list(dict.fromkeys(found)), {}


class TokenService:
    def __init__(self, store: Store, pool: UserPool,
                 providers: Sequence[str] = ("zai",)) -> None:
        self.store = store
        self.pool = pool
        self.providers = tuple(providers)  # names a stored token may belong to
        self.check: Check | None = None  # the Validator (Z.AI tokens), once HTTP exists
        # the other providers' checks by provider name (zproxy.providers.registry)
        self.checks: dict[str, TokenCheck] = {}
        # told after every change to the set of tokens or their settings, so other instances
        # on the same store reload them (zproxy.state.fleet)
        self.announce: Callable[[], Awaitable[None]] | None = None
        self._flush_lock = asyncio.Lock()
        self._saved: dict[int, tuple[int, ...]] = {}  # counters as the store last had them

    # --- start-up --------------------------------------------------------------------

    async def load(self) -> int:
        """Fill the pool from the store, health included."""
        rows = await self.store.load_tokens()
        for row in rows:
            entry = TokenEntry.from_row(row)
            self.pool.put(entry)
            self._saved[entry.id] = tuple(row[c] for c in COUNTED)
            state = row["state"]
            if state in (COOLING, INVALID) or row["consecutive_failures"]:
                self.pool.restore_health(entry, h.Health(
                    state, row["consecutive_failures"], row["cooldown_until"]))
        events = await self.store.recent_events(self.pool.events.maxlen or 500)
        self.pool.events.extend(PoolEvent(e["at"], e["token_id"], e["token"], e["event"],
                                          e["detail"]) for e in events)
        return len(rows)

    async def import_configured(self, env_tokens: Sequence[str], file_path: str | None) -> None:
        """`ZAI_TOKEN` and `AUTH_TOKENS_FILE`, deduplicated; known tokens are left as edited."""
        result = await self.add(env_tokens, source="env")
        file_tokens: list[str] = []
        if file_path:
            try:
                with open(file_path, encoding="utf-8") as handle:
                    file_tokens = parse_tokens(handle.read())
            except OSError as exc:
                log.warning("pool.tokens_file_unreadable", path=file_path, error=str(exc))
        from_file = await self.add(file_tokens, source="file")
        log.info("pool.imported", env=len(result.added), file=len(from_file.added),
                 known=result.duplicates + from_file.duplicates, total=len(self.pool.entries()))

    # --- changes ---------------------------------------------------------------------

    async def add(self, tokens: Iterable[str], *, source: str = "admin",
                  provider: str = "zai", **fields: Any) -> AddResult:
        provider = str(provider or "zai").strip().lower()
        if provider not in self.providers:
            raise TokenInputError(f"provider must be one of {', '.join(self.providers)}")
        cleaned = clean_fields(fields)
        given = [t.strip() for t in tokens if t and t.strip()]
        wanted = list(dict.fromkeys(given))
        for token in wanted:
            if len(token) > MAX_TOKEN_CHARS or any(c.isspace() for c in token):
                raise TokenInputError(f"token {mask(token)} is not a single word of at most "
                                      f"{MAX_TOKEN_CHARS} characters")
        known = {e.token_hash for e in self.pool.entries()}
        rows = [{"token": t, "token_hash": token_hash(t), "source": source, "provider": provider,
                 "state": "healthy", **cleaned} for t in wanted]
        fresh = [r for r in rows if r["token_hash"] not in known]
        inserted = await self.store.insert_tokens(fresh) if fresh else []
        result = AddResult(duplicates=len(given) - len(inserted))
        for row in inserted:
            entry = TokenEntry.from_row(row)
            self.pool.put(entry, event="added")
            result.added.append(entry)
        await self._save_events()
        if inserted:
            await self._announce()
        return result

    async def update(self, token_id: int, values: Mapping[str, Any]) -> TokenEntry:
        """Edit. Editing a field (not just enabling or disabling) also clears a cool-down or an
        invalid mark: someone looked at the token."""
        entry = self._entry(token_id)
        cleaned = clean_fields(values)
        reset = bool(set(cleaned) - {"enabled"})
        health = {"state": "healthy", "consecutive_failures": 0, "cooldown_until": None}
        await self.store.update_token(token_id, {**cleaned, **(health if reset else {})})
        changed = TokenEntry.from_row({**self._row(entry), **cleaned})
        kind = "edited"
        if cleaned.get("enabled", entry.enabled) != entry.enabled:
            kind = "enabled" if cleaned["enabled"] else "disabled"
        if reset:
            self.pool.health.put(token_id, h.HEALTHY_STATE)
        self.pool.put(changed, event=kind)
        await self._save_events()
        await self._announce()
        return changed

    async def set_enabled(self, ids: Iterable[int], enabled: bool) -> int:
        count = 0
        for token_id in ids:
            if self._entry(token_id).enabled != enabled:
                await self.update(token_id, {"enabled": enabled})
                count += 1
        return count

    async def delete(self, ids: Iterable[int]) -> int:
        found = [i for i in ids if self.pool.get(i) is not None]
        if found:
            await self.store.delete_tokens(found)
            for token_id in found:
                self.pool.drop(token_id)
                self._saved.pop(token_id, None)
            await self._save_events()
            await self._announce()
        return len(found)

    async def _run_check(self, entry: TokenEntry) -> v.Validation | None:
        """The token's provider's check; None when that provider has none (yet)."""
        if entry.provider == "zai":
            return None if self.check is None else await self.check(entry.token)
        check = self.checks.get(entry.provider)
        if check is None:
            return None
        verdict = await check(entry.token)
        return v.Validation(verdict.status, verdict.detail, verdict.user_id, name=verdict.name)

    async def validate(self, token_id: int) -> v.Validation:
        entry = self._entry(token_id)
        result = await self._run_check(entry)
        if result is None:
            return v.Validation(v.UNKNOWN, f"{entry.provider} tokens have no check ahead of "
                                           "use: a request that is refused rests the token")
        now = time.time()
        entry.validation, entry.validated_at = result.status, now
        values: dict[str, Any] = {"validation": result.status, "validated_at": now}
        if result.status in (v.VALID, v.GUEST):
            entry.email, entry.name, entry.role = result.email, result.name, result.role
            values |= {"email": result.email, "name": result.name, "role": result.role}
        if result.status == v.VALID:
            if result.user_id:
                entry.credential.user_id, entry.credential.verified = result.user_id, True
                values["user_id"] = result.user_id
            self.pool.mark_valid(entry)
        elif result.status in (v.INVALID, v.GUEST):
            self.pool.mark_invalid(entry, result.detail)
        await self.store.update_token(token_id, values)
        await self.flush()
        return result

    async def confirm_invalid(self, entry: TokenEntry) -> bool:
        """The pool's background check after a 401: True when the upstream confirms."""
        result = await self._run_check(entry)
        return result is not None and result.status in (v.INVALID, v.GUEST)

    # --- reading ---------------------------------------------------------------------

    def describe(self, entry: TokenEntry, *, with_secret: bool = False) -> dict[str, Any]:
        health = self.pool.health_of(entry)
        out = {"id": entry.id, "provider": entry.provider, "masked": mask(entry.token),
               "fingerprint": entry.fingerprint, "label": entry.label,
               "enabled": entry.enabled, "state": self.pool.state(entry),
               "priority": entry.priority, "weight": entry.weight,
               "max_concurrent": entry.max_concurrent, "source": entry.source,
               "user_id": entry.credential.user_id if entry.credential.verified else None,
               "email": entry.email, "name": entry.name, "role": entry.role,
               "validation": entry.validation, "validated_at": entry.validated_at,
               "requests": entry.requests, "successes": entry.successes,
               "failures": entry.failures, "consecutive_failures": health.failures,
               "last_error": entry.last_error, "last_error_at": entry.last_error_at,
               "last_used_at": entry.last_used_at, "cooldown_until": health.cooldown_until
               if health.state == COOLING else None,
               "active": entry.credential.active, "created_at": entry.created_at}
        if with_secret:
            out["token"] = entry.token
        return out

    def listing(self) -> list[dict[str, Any]]:
        entries = sorted(self.pool.entries(), key=lambda e: (-e.priority, e.id))
        return [self.describe(e) for e in entries]

    def export(self, *, with_secrets: bool) -> dict[str, Any]:
        entries = sorted(self.pool.entries(), key=lambda e: e.id)
        return {"object": "zproxy.tokens", "exported_at": time.time(),
                "with_secrets": with_secrets,
                "tokens": [self.describe(e, with_secret=with_secrets) for e in entries]}

    def events(self, limit: int = 200) -> list[dict[str, Any]]:
        return [e.row() for e in list(self.pool.events)[-limit:]][::-1]

    # --- the flusher -----------------------------------------------------------------

    async def flush(self) -> None:
        """Write counters, health and events changed since the last flush, in one go."""
        async with self._flush_lock:
            counters, healths = self.pool.take_dirty()
            events = self.pool.take_events()
            try:
                await self.store.add_counts("upstream_tokens", self._increments(counters),
                                            COUNTED)
                await self.store.save_token_runtime(healths)
                await self.store.add_events([e.row() for e in events])
            except Exception:
                self.pool.requeue(counters, healths, events)
                raise
            for row in counters:
                self._saved[row["id"]] = tuple(row[c] for c in COUNTED)

    def _increments(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Counters as what this instance added since the last flush: several instances on
        one store then add up instead of overwriting each other."""
        out = []
        for row in rows:
            before = self._saved.get(row["id"], (0,) * len(COUNTED))
            out.append({**row, **{c: row[c] - b for c, b in zip(COUNTED, before, strict=True)}})
        return out

    async def sync(self) -> None:
        """Another instance changed the tokens in the shared store: take its additions,
        removals and settings; counters, health and in-flight requests stay as they are."""
        rows = {row["id"]: row for row in await self.store.load_tokens()}
        for row in rows.values():
            entry = self.pool.get(row["id"])
            if entry is None:
                self.pool.put(TokenEntry.from_row(row))
                self._saved[row["id"]] = tuple(row[c] for c in COUNTED)
            elif any(row[name] != getattr(entry, name) for name in EDITABLE):
                self.pool.put(TokenEntry.from_row({**self._row(entry),
                                                   **{name: row[name] for name in EDITABLE}}))
        for entry in self.pool.entries():
            if entry.id > 0 and entry.id not in rows:
                self.pool.drop(entry.id)
        self.pool.take_events()  # the instance that made the change recorded them

    async def _announce(self) -> None:
        if self.announce is not None:
            await self.announce()

    async def _save_events(self) -> None:
        await self.store.add_events([e.row() for e in self.pool.take_events()])

    def _entry(self, token_id: int) -> TokenEntry:
        entry = self.pool.get(token_id)
        if entry is None:
            raise LookupError(f"no token with id {token_id}")
        return entry

    @staticmethod
    def _row(entry: TokenEntry) -> dict[str, Any]:
        names = [f for f in TokenEntry.__dataclass_fields__
                 if f not in {"credential", "pass_", "stamp", "validating"}]
        row = {f: getattr(entry, f) for f in names}
        row["token"] = entry.token
        row["user_id"] = entry.credential.user_id if entry.credential.verified else None
        return row
