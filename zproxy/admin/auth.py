"""Admin access: one rule, never open.

The secret is `ADMIN_PASSWORD`, or when unset any client key from `AUTH_TOKEN`; with neither,
the admin is off and says how to turn it on. The API takes the secret as a Bearer token; the
pages take a session cookie `<issued>.<nonce>.<hmac>` (HttpOnly, SameSite=Strict, 8 h), which
carries no secret, and every form (and every cookie-authenticated API write) must carry the
session's CSRF token. Failed logins are throttled per client address.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from aiohttp import web

from zproxy.config import Settings
from zproxy.middlewares import presented_key

COOKIE: Final = "zproxy_admin"
SESSION_S: Final = 8 * 3600
LOGIN_FAILURES: Final = 5  # per address…
LOGIN_WINDOW_S: Final = 300.0  # …in this many seconds, then wait
CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
OFF_MESSAGE: Final = ("The admin is off: set ADMIN_PASSWORD (or a client key in AUTH_TOKEN) "
                      "and restart zproxy to turn it on.")


class AdminAuth:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self._secrets = tuple(s.encode() for s in (
            (settings.admin_password,) if settings.admin_password else settings.client_keys))
        material = b"\0".join(sorted(self._secrets))
        self._key = hashlib.sha256(b"zproxy-admin-session\0" + material).digest()
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._secrets)

    def secret_ok(self, presented: str | None) -> bool:
        """Constant time, against every accepted secret (no early exit)."""
        if not presented or not self._secrets:
            return False
        encoded = presented.encode()
        return sum(hmac.compare_digest(encoded, s) for s in self._secrets) > 0

    # --- sessions ----------------------------------------------------------------------

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        issued, nonce = int(self._clock()), secrets.token_hex(8)
        return f"{issued}.{nonce}.{self._mac(f'admin:{issued}.{nonce}')}"

    def session_ok(self, value: str | None) -> bool:
        if not self.enabled or not value or value.count(".") != 2:
            return False
        issued, nonce, mac = value.split(".")
        if not (issued.isascii() and issued.isdigit() and len(issued) <= 12):
            return False
        expected = self._mac(f"admin:{issued}.{nonce}")
        if not hmac.compare_digest(expected.encode(), mac.encode()):
            return False
        return -60 <= self._clock() - int(issued) <= SESSION_S

    def csrf_token(self, session: str) -> str:
        return self._mac(f"csrf:{session}")[:40]

    def csrf_ok(self, session: str | None, token: str | None) -> bool:
        if not session or not token:
            return False
        return hmac.compare_digest(self.csrf_token(session).encode(), token.encode())

    # --- requests ----------------------------------------------------------------------

    def session_of(self, request: web.Request) -> str | None:
        value = request.cookies.get(COOKIE)
        return value if self.session_ok(value) else None

    def bearer_ok(self, request: web.Request) -> bool:
        return self.secret_ok(presented_key(request))

    def set_cookie(self, request: web.Request, response: web.StreamResponse,
                   session: str) -> None:
        response.set_cookie(COOKIE, session, max_age=SESSION_S, path="/admin", httponly=True,
                            samesite="Strict", secure=request.secure)

    # --- login throttle ----------------------------------------------------------------

    def login_wait(self, address: str) -> float:
        """Seconds this address must wait before trying again (0: may try)."""
        recent = self._recent(address)
        if len(recent) < LOGIN_FAILURES:
            return 0.0
        return max(0.0, recent[0] + LOGIN_WINDOW_S - self._clock())

    def login_failed(self, address: str) -> None:
        self._recent(address).append(self._clock())
        if len(self._failures) > 10_000:  # many addresses: forget the quietest
            self._failures.pop(next(iter(self._failures)))

    def _recent(self, address: str) -> deque[float]:
        recent = self._failures.setdefault(address, deque(maxlen=LOGIN_FAILURES))
        while recent and recent[0] <= self._clock() - LOGIN_WINDOW_S:
            recent.popleft()
        return recent
