"""The admin pages: server-rendered forms (they work without JavaScript), each POST checked
for the session's CSRF token, every action a call into the same services the API uses.

Results come back as a redirect with `?notice=`, so a reload never repeats an action.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from zproxy.admin.api import run_bulk, validate_many
from zproxy.admin.auth import COOKIE, CSRF_FIELD, AdminAuth
from zproxy.clientkeys.ring import KeyInputError
from zproxy.keys import CLIENT_KEYS, STORE, TOKEN_SERVICE
from zproxy.pool.service import TokenInputError, parse_import

PRE_COOKIE: Final = "zproxy_admin_login"  # binds the login form's CSRF token to this browser
HOME: Final = "/admin/tokens"
FIELDS: Final = ("label", "priority", "weight", "max_concurrent")


def _see(path: str, **query: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?{urlencode(query)}" if query else path)


def _int_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise web.HTTPNotFound()
    return int(raw)


def _fields(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {n: str(form.get(n, "")).strip() for n in FIELDS if n in form}
    if str(form.get("provider", "")).strip():
        values["provider"] = str(form["provider"]).strip()
    if "label" in values:
        values["label"] = values["label"] or None
    for name in ("priority", "weight"):
        if values.get(name) == "":
            values.pop(name)
    return values


class AdminPages:
    def __init__(self, auth: AdminAuth) -> None:
        self.auth = auth

    def routes(self) -> list[web.RouteDef]:
        g, p = web.get, web.post
        return [
            g("/admin", self.home), g("/admin/", self.home, name="admin_slash"),
            g("/admin/login", self.login_form), p("/admin/login", self.login),
            p("/admin/logout", self.form(self.logout)),
            g("/admin/tokens", self.page(self.tokens)),
            p("/admin/tokens/add", self.form(self.add)),
            p("/admin/tokens/import", self.form(self.import_)),
            p("/admin/tokens/export", self.form(self.export)),
            p("/admin/tokens/bulk", self.form(self.bulk)),
            p("/admin/tokens/validate-all", self.form(self.validate_all)),
            g("/admin/tokens/{id}", self.page(self.edit_form)),
            p("/admin/tokens/{id}", self.form(self.edit)),
            p("/admin/tokens/{id}/toggle", self.form(self.toggle)),
            p("/admin/tokens/{id}/validate", self.form(self.validate)),
            g("/admin/tokens/{id}/delete", self.page(self.delete_confirm)),
            p("/admin/tokens/{id}/delete", self.form(self.delete)),
            g("/admin/events", self.page(self.events)),
            g("/admin/keys", self.page(self.keys)),
            p("/admin/keys", self.form(self.create_key)),
            p("/admin/keys/{id}/toggle", self.form(self.toggle_key)),
            p("/admin/keys/{id}/delete", self.form(self.delete_key)),
        ]

    # --- access ----------------------------------------------------------------------

    def _render(self, request: web.Request, template: str, context: dict[str, Any],
                status: int = 200) -> web.StreamResponse:
        session = self.auth.session_of(request)
        base = {"title": "Admin", "page": "admin", "csrf_field": CSRF_FIELD,
                "csrf": self.auth.csrf_token(session) if session else "",
                "notice": request.query.get("notice"), "error": request.query.get("error"),
                "now": time.time(), "section": template.split("/")[-1].split(".")[0]}
        response = aiohttp_jinja2.render_template(template, request, {**base, **context},
                                                  status=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    def _off(self, request: web.Request) -> web.StreamResponse:
        return self._render(request, "admin/off.html", {"title": "Admin is off"}, status=503)

    def page(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self.auth.enabled:
                return self._off(request)
            if self.auth.session_of(request) is None:
                raise _see("/admin/login")
            response: web.StreamResponse = await handler(request)
            return response
        return guarded

    def form(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self.auth.enabled:
                return self._off(request)
            session = self.auth.session_of(request)
            if session is None:
                raise _see("/admin/login")
            form = await request.post()
            token = form.get(CSRF_FIELD)
            if not self.auth.csrf_ok(session, token if isinstance(token, str) else None):
                return self._render(request, "admin/off.html", {
                    "title": "Refused", "refused": "The form's CSRF token is missing or "
                    "wrong: reload the page and try again."}, status=403)
            try:
                response: web.StreamResponse = await handler(request, form)
            except (TokenInputError, KeyInputError, LookupError) as exc:
                raise _see(HOME if "/keys" not in request.path else "/admin/keys",
                           error=str(exc).strip("'\"")) from None
            return response
        return guarded

    # --- login -----------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.StreamResponse:
        if not self.auth.enabled:
            return self._off(request)
        raise _see(HOME if self.auth.session_of(request) else "/admin/login")

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        if not self.auth.enabled:
            return self._off(request)
        if self.auth.session_of(request):
            raise _see(HOME)
        return self._login_page(request, None, 200)

    def _login_page(self, request: web.Request, error: str | None,
                    status: int) -> web.StreamResponse:
        nonce = self.auth.new_session()
        response = self._render(request, "admin/login.html", {
            "title": "Admin login", "login_csrf": self.auth.csrf_token(nonce),
            "login_error": error}, status=status)
        response.set_cookie(PRE_COOKIE, nonce, max_age=3600, path="/admin/login",
                            httponly=True, samesite="Strict", secure=request.secure)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        if not self.auth.enabled:
            return self._off(request)
        address = request.remote or "?"
        wait = self.auth.login_wait(address)
        if wait > 0:
            response = self._login_page(
                request, f"Too many failed attempts: try again in {int(wait) + 1} s.", 429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        form = await request.post()
        token, password = form.get(CSRF_FIELD), form.get("password")
        if not self.auth.csrf_ok(request.cookies.get(PRE_COOKIE),
                                 token if isinstance(token, str) else None):
            return self._login_page(request, "The form expired: please try again.", 403)
        if not isinstance(password, str) or not self.auth.secret_ok(password):
            self.auth.login_failed(address)
            return self._login_page(request, "That password is not right.", 401)
        response = _see(HOME)
        self.auth.set_cookie(request, response, self.auth.new_session())
        response.del_cookie(PRE_COOKIE, path="/admin/login")
        raise response

    async def logout(self, request: web.Request, form: Any) -> web.StreamResponse:
        response = _see("/admin/login")
        response.del_cookie(COOKIE, path="/admin")
        raise response

    # --- tokens ----------------------------------------------------------------------

    async def tokens(self, request: web.Request) -> web.StreamResponse:
        service = request.app[TOKEN_SERVICE]
        return self._render(request, "admin/tokens.html", {
            "title": "Tokens", "tokens": service.listing(), "pool": service.pool.snapshot(),
            "providers": service.providers})

    async def add(self, request: web.Request, form: Any) -> web.StreamResponse:
        tokens, _ = parse_import(str(form.get("tokens", "")))
        if not tokens:
            raise TokenInputError("paste at least one token")
        result = await request.app[TOKEN_SERVICE].add(tokens, **_fields(form))
        raise _see(HOME, notice=f"Added {len(result.added)} token(s)"
                   + (f", {result.duplicates} already known" if result.duplicates else ""))

    async def import_(self, request: web.Request, form: Any) -> web.StreamResponse:
        upload = form.get("file")
        text = upload.file.read().decode("utf-8", "replace") if hasattr(upload, "file") \
            else str(form.get("text", ""))
        tokens, _ = parse_import(text)
        result = await request.app[TOKEN_SERVICE].add(tokens, **_fields(form))
        raise _see(HOME, notice=f"Imported {len(result.added)} token(s)"
                   + (f", {result.duplicates} already known" if result.duplicates else ""))

    async def export(self, request: web.Request, form: Any) -> web.StreamResponse:
        secrets = form.get("with_secrets") == "yes"
        data = request.app[TOKEN_SERVICE].export(with_secrets=secrets)
        name = "zproxy-tokens-with-secrets.json" if secrets else "zproxy-tokens.json"
        return web.json_response(data, headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    async def bulk(self, request: web.Request, form: Any) -> web.StreamResponse:
        service = request.app[TOKEN_SERVICE]
        action = str(form.get("action", ""))
        ids = [int(i) for i in form.getall("ids", []) if str(i).isdigit()]
        if not ids:
            raise _see(HOME, error="Select at least one token first")
        if action == "delete" and form.get("confirm") != "yes":
            chosen = [t for t in service.listing() if t["id"] in ids]
            return self._render(request, "admin/confirm.html", {
                "title": "Delete tokens?", "items": chosen, "action": "/admin/tokens/bulk",
                "ids": ids})
        if action not in ("enable", "disable", "delete", "validate"):
            raise _see(HOME, error="Choose an action")
        result = await run_bulk(service, action, ids)
        done = len(result["results"]) if action == "validate" else result["changed"]
        raise _see(HOME, notice=f"{action.capitalize()}: {done} token(s)")

    async def validate_all(self, request: web.Request, form: Any) -> web.StreamResponse:
        service = request.app[TOKEN_SERVICE]
        results = await validate_many(service, [e.id for e in service.pool.entries()])
        valid = sum(r["status"] == "valid" for r in results)
        raise _see(HOME, notice=f"Validated {len(results)} token(s): {valid} valid")

    async def edit_form(self, request: web.Request) -> web.StreamResponse:
        service = request.app[TOKEN_SERVICE]
        entry = service.pool.get(_int_id(request))
        if entry is None:
            raise web.HTTPNotFound()
        return self._render(request, "admin/token.html", {
            "title": f"Token {entry.display}", "t": service.describe(entry)})

    async def edit(self, request: web.Request, form: Any) -> web.StreamResponse:
        token_id = _int_id(request)
        values = _fields(form)
        values["enabled"] = form.get("enabled") == "yes"
        entry = await request.app[TOKEN_SERVICE].update(token_id, values)
        raise _see(HOME, notice=f"Saved {entry.display}")

    async def toggle(self, request: web.Request, form: Any) -> web.StreamResponse:
        service = request.app[TOKEN_SERVICE]
        entry = service.pool.get(_int_id(request))
        if entry is None:
            raise LookupError("no such token")
        changed = await service.update(entry.id, {"enabled": not entry.enabled})
        raise _see(HOME, notice=f"{'Enabled' if changed.enabled else 'Disabled'} "
                                f"{changed.display}")

    async def validate(self, request: web.Request, form: Any) -> web.StreamResponse:
        service = request.app[TOKEN_SERVICE]
        result = await service.validate(_int_id(request))
        raise _see(HOME, notice=f"Validation: {result.status} — {result.detail}")

    async def delete_confirm(self, request: web.Request) -> web.StreamResponse:
        service = request.app[TOKEN_SERVICE]
        entry = service.pool.get(_int_id(request))
        if entry is None:
            raise web.HTTPNotFound()
        return self._render(request, "admin/confirm.html", {
            "title": "Delete token?", "items": [service.describe(entry)],
            "action": f"/admin/tokens/{entry.id}/delete", "ids": []})

    async def delete(self, request: web.Request, form: Any) -> web.StreamResponse:
        deleted = await request.app[TOKEN_SERVICE].delete([_int_id(request)])
        raise _see(HOME, notice=f"Deleted {deleted} token(s)")

    async def events(self, request: web.Request) -> web.StreamResponse:
        events = [{**e, "when": datetime.fromtimestamp(e["at"], UTC).strftime(
            "%Y-%m-%d %H:%M:%S")} for e in request.app[TOKEN_SERVICE].events()]
        return self._render(request, "admin/events.html", {"title": "Pool events",
                                                           "events": events})

    # --- client keys -----------------------------------------------------------------

    async def keys(self, request: web.Request, created: dict[str, Any] | None = None
                   ) -> web.StreamResponse:
        return self._render(request, "admin/keys.html", {
            "title": "Client keys", "keys": request.app[CLIENT_KEYS].listing(),
            "created": created})

    async def create_key(self, request: web.Request, form: Any) -> web.StreamResponse:
        values = {n: str(form.get(n, "")).strip() for n in ("name", "rpm_limit", "tpd_limit")}
        key, secret = await request.app[CLIENT_KEYS].create(request.app[STORE], values)
        # shown on this response only: never stored, never in a URL
        return await self.keys(request, {"name": key.name, "key": secret})

    async def toggle_key(self, request: web.Request, form: Any) -> web.StreamResponse:
        ring = request.app[CLIENT_KEYS]
        key = ring.get(_int_id(request))
        await ring.update(request.app[STORE], key.id, {"enabled": not key.enabled})
        raise _see("/admin/keys", notice=f"{'Enabled' if key.enabled else 'Disabled'} "
                                         f"{key.name}")

    async def delete_key(self, request: web.Request, form: Any) -> web.StreamResponse:
        if form.get("confirm") != "yes":
            raise _see("/admin/keys", error="Tick 'really delete' to delete a key")
        ring = request.app[CLIENT_KEYS]
        key = ring.get(_int_id(request))
        await ring.delete(request.app[STORE], key.id)
        raise _see("/admin/keys", notice=f"Deleted {key.name}")

