"""The dashboard page, its JSON twins, its login, and /metrics.

Access rule (one function, `DashboardViews.allowed`): open when no client keys are configured
or `DASHBOARD_PUBLIC=true`; otherwise a valid client key as Bearer / x-api-key, or the signed
session cookie set by the login form. The cookie is `<issued>.<hmac>`: HttpOnly,
SameSite=Strict, and carries no key. Nothing rendered here is secret: the stats hold no keys,
no tokens and no message content.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, Final

import aiohttp_jinja2
import orjson
from aiohttp import web

from zproxy.config import Settings
from zproxy.errors import error_body
from zproxy.keys import CLIENT_KEYS, USER_POOL
from zproxy.metrics import CONTENT_TYPE, Metrics
from zproxy.middlewares import key_is_valid, presented_key
from zproxy.pool.observe import pool_card
from zproxy.stats import StatsRecorder

COOKIE: Final = "zproxy_dashboard"
COOKIE_MAX_AGE_S: Final = 12 * 3600
REFRESH_S: Final = 5
LOGIN_PATH: Final = "/dashboard/login"


def session_secret(client_keys: tuple[str, ...]) -> bytes:
    """HMAC key derived from the configured keys: changing the keys logs everyone out."""
    material = "\0".join(sorted(client_keys)).encode()
    return hashlib.sha256(b"zproxy-dashboard-session\0" + material).digest()


def sign_session(secret: bytes, issued_at: int) -> str:
    mac = hmac.new(secret, f"dashboard:{issued_at}".encode(), hashlib.sha256).hexdigest()
    return f"{issued_at}.{mac}"


def verify_session(secret: bytes, value: str | None, now: float,
                   max_age_s: float = COOKIE_MAX_AGE_S) -> bool:
    if not value or "." not in value:
        return False
    issued_raw, _, mac = value.partition(".")
    if not (issued_raw.isascii() and issued_raw.isdigit() and len(issued_raw) <= 12):
        return False
    expected = sign_session(secret, int(issued_raw))
    if not hmac.compare_digest(expected.encode(), value.encode()):
        return False
    age = now - int(issued_raw)
    return -60 <= age <= max_age_s  # a minute of clock skew


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def _unauthorized() -> web.Response:
    body = error_body("Dashboard access needs a client API key: send it as "
                      "'Authorization: Bearer <key>' or log in at /dashboard/login",
                      "authentication_error", code="invalid_api_key")
    return _json(body, status=401)


def _refresh_s(request: web.Request) -> float:
    # `?refresh=` lets tests poll faster; clamped so a page cannot hammer the server
    try:
        return min(60.0, max(1.0, float(request.query.get("refresh", REFRESH_S))))
    except ValueError:
        return REFRESH_S


def fleet_context(app: web.Application) -> dict[str, Any]:
    """The pool card and usage by client-key name (never the key)."""
    pool, ring = app.get(USER_POOL), app.get(CLIENT_KEYS)
    return {"pool": pool_card(pool), "key_usage": ring.usage() if ring is not None else []}


class DashboardViews:
    """Handlers bound to one app's recorder, metrics and settings (datasette-style views)."""

    def __init__(self, settings: Settings, stats: StatsRecorder, metrics: Metrics, *,
                 secret: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._stats = stats
        self._metrics = metrics
        self._secret = secret if secret is not None else session_secret(settings.client_keys)
        self._clock = clock

    @property
    def login_required(self) -> bool:
        return self._settings.auth_required and not self._settings.dashboard_public

    def allowed(self, request: web.Request) -> bool:
        if not self.login_required:
            return True
        if verify_session(self._secret, request.cookies.get(COOKIE), self._clock()):
            return True
        key = presented_key(request)
        return key is not None and key_is_valid(self._settings, key)

    def routes(self) -> list[web.RouteDef]:
        dashboard = [
            web.get("/dashboard", self.page),
            web.get("/dashboard/", self.page, name="dashboard_slash"),
            web.get("/dashboard/stats", self.stats_json),
            web.get("/dashboard/requests", self.requests_json),
            web.get(LOGIN_PATH, self.login_form),
            web.post(LOGIN_PATH, self.login),
            web.post("/dashboard/logout", self.logout),
        ]
        metrics = [web.get("/metrics", self.metrics)]
        return (dashboard if self._settings.dashboard_enabled else []) + metrics

    async def page(self, request: web.Request) -> web.StreamResponse:
        if not self.allowed(request):
            raise web.HTTPSeeOther(LOGIN_PATH)
        context = {"title": "Dashboard", "page": "dashboard",
                   "stats": self._stats.snapshot(), "recent": self._stats.recent(),
                   "refresh_ms": int(_refresh_s(request) * 1000),
                   "logout": self.login_required, **fleet_context(request.app)}
        response = aiohttp_jinja2.render_template("dashboard.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def stats_json(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return _unauthorized()
        return _json(self._stats.snapshot())

    async def requests_json(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return _unauthorized()
        return _json({"object": "list", "data": self._stats.recent()})

    async def metrics(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return _unauthorized()
        response = web.Response(body=self._metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        if self.allowed(request):
            raise web.HTTPSeeOther("/dashboard")
        return self._login_page(request, error=None, status=200)

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        key = form.get("key")
        if not self.login_required:
            raise web.HTTPSeeOther("/dashboard")
        if not isinstance(key, str) or not key_is_valid(self._settings, key.strip()):
            return self._login_page(request, error="That key is not valid.", status=401)
        response = web.HTTPSeeOther("/dashboard")
        response.set_cookie(COOKIE, sign_session(self._secret, int(self._clock())),
                            max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
                            samesite="Strict", secure=request.secure)
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        response = web.HTTPSeeOther(LOGIN_PATH if self.login_required else "/dashboard")
        response.del_cookie(COOKIE, path="/")
        raise response

    def _login_page(self, request: web.Request, *, error: str | None,
                    status: int) -> web.StreamResponse:
        response = aiohttp_jinja2.render_template(
            "login.html", request, {"title": "Log in", "page": "login", "error": error},
            status=status)
        response.headers["Cache-Control"] = "no-store"
        return response
