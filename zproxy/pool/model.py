"""One upstream token as the pool holds it, and the pure helpers around it.

A token is shown whole only once, when it is typed in: afterwards every page, export, log
line and metric uses `mask()` and `fingerprint()` (the first 8 hex digits of its SHA-256).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Final

from zproxy.providers.zai.tokens import Credential
from zproxy.providers.zai.wire import jwt_user_id

HEALTHY: Final = "healthy"
COOLING: Final = "cooling"
INVALID: Final = "invalid"
DISABLED: Final = "disabled"
STATES: Final = (HEALTHY, COOLING, INVALID, DISABLED)
SOURCES: Final = ("env", "file", "admin")
PROVIDERS: Final = ("zai",)
_SPLIT: Final = re.compile(r"[\s,]+")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def fingerprint(token: str) -> str:
    return token_hash(token)[:8]


def mask(token: str) -> str:
    """Enough to recognise a token by eye, never enough to use it."""
    if len(token) <= 12:
        return "…" + token[-2:] if len(token) > 6 else "…"
    return f"{token[:4]}…{token[-4:]}"


def parse_tokens(text: str) -> list[str]:
    """tokens.txt: one per line, comma-separated, or mixed; `#` starts a comment.
    Order kept, duplicates dropped."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        for part in _SPLIT.split(line.split("#", 1)[0]):
            if part:
                seen.setdefault(part, None)
    return list(seen)


@dataclass(eq=False, slots=True)
class TokenEntry:
    """A stored token plus the request-path state the pool keeps in memory."""

    id: int
    credential: Credential
    token_hash: str
    source: str
    provider: str = "zai"
    label: str | None = None
    enabled: bool = True
    priority: int = 0
    weight: int = 1
    max_concurrent: int | None = None
    email: str | None = None
    name: str | None = None
    role: str | None = None
    validation: str | None = None
    validated_at: float | None = None
    requests: int = 0
    successes: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_used_at: float | None = None
    created_at: float = 0.0
    # scheduling (pool-private)
    pass_: float = 0.0
    stamp: int = -1
    validating: bool = field(default=False)

    @property
    def token(self) -> str:
        return self.credential.token

    @property
    def fingerprint(self) -> str:
        return self.token_hash[:8]

    @property
    def display(self) -> str:
        """What logs, events and metrics call this token: its label, else its fingerprint."""
        return self.label or self.fingerprint

    @property
    def full(self) -> bool:
        return self.max_concurrent is not None and self.credential.active >= self.max_concurrent

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TokenEntry:
        credential = Credential(row["token"], row.get("user_id") or _jwt_id(row["token"]),
                                "user", verified=bool(row.get("user_id")))
        names = {f for f in cls.__dataclass_fields__ if f in row and f not in {
            "credential", "pass_", "stamp", "validating"}}
        return cls(credential=credential, **{f: row[f] for f in names})

    def runtime_row(self) -> dict[str, Any]:
        """The counters the flusher writes back."""
        return {"id": self.id, "requests": self.requests, "successes": self.successes,
                "failures": self.failures, "last_error": self.last_error,
                "last_error_at": self.last_error_at, "last_used_at": self.last_used_at,
                "user_id": self.credential.user_id if self.credential.verified else None}


def _jwt_id(token: str) -> str:
    return jwt_user_id(token) or "guest"
