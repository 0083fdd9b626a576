"""The admin JSON API (and the legacy /v1/token-pool routes): every page action's twin.

Authenticated with the admin secret as Bearer, or with the admin session cookie plus the
`X-CSRF-Token` header for writes (the pages' own scripts). Errors are OpenAI-shaped, raised
as `ProxyError`s and encoded by the app's error middleware.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from aiohttp import web

from zproxy.admin.auth import CSRF_HEADER, OFF_MESSAGE, AdminAuth
from zproxy.admin.spec import ADMIN_ROUTES
from zproxy.clientkeys.ring import KeyInputError
from zproxy.errors import (
    AuthenticationError,
    ClientRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from zproxy.keys import CLIENT_KEYS, STORE, TOKEN_SERVICE
from zproxy.pool.service import TokenInputError, TokenService, parse_import

READS: Final = frozenset({"GET", "HEAD"})
BULK_ACTIONS: Final = ("enable", "disable", "delete", "validate")
VALIDATE_CONCURRENCY: Final = 4


def reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store"})


async def json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ClientRequestError(f"the request body must be JSON: {exc}",
                                 code="invalid_json") from None


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise NotFoundError(f"no item with id {raw!r}")
    return int(raw)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ClientRequestError("the request body must be a JSON object", code="invalid_json")
    return body


async def validate_many(service: TokenService, ids: list[int]) -> list[dict[str, Any]]:
    """Validate a few at a time: polite to the upstream, quick for a fleet."""
    gate = asyncio.Semaphore(VALIDATE_CONCURRENCY)

    async def one(token_id: int) -> dict[str, Any]:
        async with gate:
            result = await service.validate(token_id)
        return {"id": token_id, "status": result.status, "detail": result.detail}

    return list(await asyncio.gather(*(one(i) for i in ids)))


class AdminApi:
    def __init__(self, auth: AdminAuth) -> None:
        self.auth = auth

    def routes(self) -> list[web.RouteDef]:
        return [web.route(r.method, r.path, self._guarded(getattr(self, r.handler)))
                for r in ADMIN_ROUTES]

    def check(self, request: web.Request) -> None:
        if not self.auth.enabled:
            raise PermissionDeniedError(OFF_MESSAGE, code="admin_disabled")
        if self.auth.bearer_ok(request):
            return
        session = self.auth.session_of(request)
        if session is None:
            raise AuthenticationError("The admin API needs the admin secret: send it as "
                                      "'Authorization: Bearer <ADMIN_PASSWORD>'",
                                      code="admin_auth_required")
        if request.method not in READS and not self.auth.csrf_ok(
                session, request.headers.get(CSRF_HEADER)):
            raise PermissionDeniedError("missing or wrong CSRF token", code="csrf_failed")

    def _guarded(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            self.check(request)
            try:
                response: web.StreamResponse = await handler(request)
            except (TokenInputError, KeyInputError) as exc:
                raise ClientRequestError(str(exc), code="invalid_value") from None
            except LookupError as exc:
                raise NotFoundError(str(exc)) from None
            return response

        guarded.__name__ = handler.__name__
        return guarded

    # --- tokens ----------------------------------------------------------------------

    async def list_tokens(self, request: web.Request) -> web.Response:
        return reply({"object": "list", "data": request.app[TOKEN_SERVICE].listing()})

    async def add_tokens(self, request: web.Request) -> web.Response:
        body = _object(await json_body(request))
        tokens = body.pop("tokens", None)
        single = body.pop("token", None)
        if isinstance(single, str):
            tokens = [single]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ClientRequestError("send 'tokens' (a list of strings) or 'token'",
                                     param="tokens", code="invalid_value")
        result = await request.app[TOKEN_SERVICE].add(tokens, **body)
        return reply(result.summary(), status=201 if result.added else 200)

    async def export_tokens(self, request: web.Request) -> web.Response:
        secrets = request.query.get("secrets", "").lower() in {"1", "true", "yes"}
        data = request.app[TOKEN_SERVICE].export(with_secrets=secrets)
        response = reply(data)
        response.headers["Content-Disposition"] = 'attachment; filename="zproxy-tokens.json"'
        return response

    async def import_tokens(self, request: web.Request) -> web.Response:
        body = _object(await json_body(request))
        text = body.pop("text", None)
        if not isinstance(text, str):
            raise ClientRequestError("send 'text': tokens.txt content or a JSON export",
                                     param="text", code="invalid_value")
        tokens, _ = parse_import(text)
        result = await request.app[TOKEN_SERVICE].add(tokens, **body)
        return reply(result.summary(), status=201 if result.added else 200)

    async def validate_all(self, request: web.Request) -> web.Response:
        service = request.app[TOKEN_SERVICE]
        results = await validate_many(service, [e.id for e in service.pool.entries()])
        return reply({"object": "list", "data": results})

    async def bulk(self, request: web.Request) -> web.Response:
        body = _object(await json_body(request))
        action, ids = body.get("action"), body.get("ids")
        if action not in BULK_ACTIONS:
            raise ClientRequestError(f"action must be one of {', '.join(BULK_ACTIONS)}",
                                     param="action", code="invalid_value")
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise ClientRequestError("ids must be a list of token ids", param="ids",
                                     code="invalid_value")
        return reply(await run_bulk(request.app[TOKEN_SERVICE], action, ids))

    async def get_token(self, request: web.Request) -> web.Response:
        service = request.app[TOKEN_SERVICE]
        entry = service.pool.get(_id(request))
        if entry is None:
            raise NotFoundError(f"no token with id {_id(request)}")
        return reply(service.describe(entry))

    async def edit_token(self, request: web.Request) -> web.Response:
        service = request.app[TOKEN_SERVICE]
        entry = await service.update(_id(request), _object(await json_body(request)))
        return reply(service.describe(entry))

    async def delete_token(self, request: web.Request) -> web.Response:
        token_id = _id(request)
        if not await request.app[TOKEN_SERVICE].delete([token_id]):
            raise NotFoundError(f"no token with id {token_id}")
        return reply({"id": token_id, "deleted": True})

    async def validate_token(self, request: web.Request) -> web.Response:
        service = request.app[TOKEN_SERVICE]
        token_id = _id(request)
        result = await service.validate(token_id)
        entry = service.pool.get(token_id)
        assert entry is not None
        return reply({"status": result.status, "detail": result.detail,
                      "token": service.describe(entry)})

    async def pool_status(self, request: web.Request) -> web.Response:
        return reply(request.app[TOKEN_SERVICE].pool.snapshot())

    async def list_events(self, request: web.Request) -> web.Response:
        return reply({"object": "list", "data": request.app[TOKEN_SERVICE].events()})

    # --- client keys -----------------------------------------------------------------

    async def list_keys(self, request: web.Request) -> web.Response:
        return reply({"object": "list", "data": request.app[CLIENT_KEYS].listing()})

    async def create_key(self, request: web.Request) -> web.Response:
        body = _object(await json_body(request))
        key, secret = await request.app[CLIENT_KEYS].create(request.app[STORE], body)
        return reply({**key.public(), "key": secret}, status=201)

    async def edit_key(self, request: web.Request) -> web.Response:
        body = _object(await json_body(request))
        key = await request.app[CLIENT_KEYS].update(request.app[STORE], _id(request), body)
        return reply(key.public())

    async def delete_key(self, request: web.Request) -> web.Response:
        await request.app[CLIENT_KEYS].delete(request.app[STORE], _id(request))
        return reply({"id": _id(request), "deleted": True})

    # --- legacy /v1/token-pool -------------------------------------------------------

    async def legacy_status(self, request: web.Request) -> web.Response:
        service = request.app[TOKEN_SERVICE]
        counts = service.pool.snapshot()
        return reply({"total": counts["user_tokens"], "healthy": counts["user_tokens_usable"],
                      "pool": counts, "tokens": service.listing()})

    async def legacy_health_check(self, request: web.Request) -> web.Response:
        service = request.app[TOKEN_SERVICE]
        results = await validate_many(service, [e.id for e in service.pool.entries()])
        valid = sum(r["status"] == "valid" for r in results)
        return reply({"checked": len(results), "valid": valid, "results": results})

    async def legacy_update(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        tokens = body.get("tokens") if isinstance(body, dict) else body
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ClientRequestError("send a JSON list of tokens, or {\"tokens\": [..]}",
                                     code="invalid_value")
        service = request.app[TOKEN_SERVICE]
        result = await service.add(tokens)
        removed = 0
        if request.query.get("replace", "").lower() in {"1", "true", "yes"}:
            keep = {t.strip() for t in tokens}
            removed = await service.delete([e.id for e in service.pool.entries()
                                            if e.token not in keep])
        return reply({**result.summary(), "removed": removed,
                      "total": len(service.pool.entries())})


async def run_bulk(service: TokenService, action: str, ids: list[int]) -> dict[str, Any]:
    known = [i for i in ids if service.pool.get(i) is not None]
    if action == "validate":
        return {"action": action, "results": await validate_many(service, known)}
    if action == "delete":
        return {"action": action, "changed": await service.delete(known)}
    return {"action": action, "changed": await service.set_enabled(known, action == "enable")}
