"""The request stages every request passes, as plain functions: the request id and log
context, OpenAI-shaped errors, CORS, and client API-key auth. `zproxy.gateway` runs them,
with the Anthropic error shape, observation and the limits, in one middleware."""

from __future__ import annotations

import hmac
import math
from typing import Final

import orjson
import structlog
from aiohttp import web

from zproxy.clientkeys.ring import CLIENT_KEY, ClientKey
from zproxy.config import Settings
from zproxy.errors import AuthenticationError, ProxyError, error_body, to_openai_error
from zproxy.ids import random_hex
from zproxy.keys import CLIENT_KEYS, SETTINGS

log = structlog.get_logger(__name__)

_ADMIN_AUTHENTICATED: Final = ("/v1/token-pool/",)  # their handlers ask for the admin secret
_HTTP_ERROR_TYPES: Final = {401: "authentication_error", 404: "invalid_request_error",
                            405: "invalid_request_error", 413: "invalid_request_error",
                            429: "rate_limit_error"}


def json_error(status: int, body: dict[str, object]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body),
                        content_type="application/json")


def bind_request_id(request: web.Request) -> str:
    """The request's id (the client's X-Request-ID, or a new one), bound to its log lines."""
    request_id = (request.headers.get("X-Request-ID") or random_hex(32))[:64]
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


def proxy_error_response(exc: ProxyError) -> web.Response:
    status, body = to_openai_error(exc)
    log.info("request.rejected", status=status, code=exc.code, error=exc.message)
    response = json_error(status, body)
    response.headers.update(exc.headers())
    return response


def http_error_response(exc: web.HTTPException, request: web.Request) -> web.Response:
    """An aiohttp HTTP error (404, 405, 413 …, status 400 or more) in OpenAI's shape."""
    kind = _HTTP_ERROR_TYPES.get(exc.status, "server_error" if exc.status >= 500
                                 else "invalid_request_error")
    message = f"{exc.reason}: {request.method} {request.path}"
    response = json_error(exc.status, error_body(message, kind, code=exc.reason.lower()
                                                 .replace(" ", "_")))
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def crash_response() -> web.Response:
    log.exception("request.crashed")
    status, body = to_openai_error(RuntimeError())
    return json_error(status, body)


def presented_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.headers.get("api-key")


def key_is_valid(settings: Settings, key: str | None) -> bool:
    """Constant-time comparison against every configured key."""
    if not settings.auth_required:
        return True
    if not key:
        return False
    encoded = key.encode()
    # compare against all keys (no early exit) so timing does not tell which matched
    return sum(hmac.compare_digest(encoded, k.encode()) for k in settings.client_keys) > 0


def needs_key(request: web.Request) -> bool:
    """The API routes ask for a client key, but for preflights and the admin-secured ones."""
    return request.method != "OPTIONS" and not request.path.startswith(_ADMIN_AUTHENTICATED)


async def authenticate(request: web.Request) -> web.Response | None:
    """A key from AUTH_TOKEN, or a stored client key (counted, and limited when it has
    limits). Stored keys, once any is enabled, make a key required even without AUTH_TOKEN."""
    settings = request.app[SETTINGS]
    key = presented_key(request)
    ring = request.app.get(CLIENT_KEYS)
    stored = ring.lookup(key) if ring is not None and key else None
    if ring is not None and stored is not None:
        request[CLIENT_KEY] = stored
        wait = await ring.admit(stored)
        return None if wait is None else _rate_limited(stored, wait)
    required = settings.auth_required or (
        ring is not None and ring.any_enabled and not settings.skip_auth)
    if not required or (settings.client_keys and key_is_valid(settings, key)):
        return None
    message = ("Missing API key: send it as 'Authorization: Bearer <key>' or "
               "'x-api-key: <key>'" if not key else "Incorrect API key provided")
    raise AuthenticationError(message)


def _rate_limited(key: ClientKey, wait_s: float) -> web.Response:
    limit = (f"{key.rpm_limit} requests per minute" if key.rpm_limit else "")
    if key.tpd_limit and wait_s > 60:
        limit = f"{key.tpd_limit} tokens per day"
    body = error_body(f"Rate limit reached for API key '{key.name}': {limit}. "
                      f"Try again in {math.ceil(wait_s)} s.", "rate_limit_error",
                      code="rate_limit_exceeded")
    response = json_error(429, body)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
    return response


def _cors_origin(settings: Settings, origin: str | None) -> str | None:
    if origin is None:
        return None
    if "*" in settings.cors_origins:
        return "*"
    return origin if origin in settings.cors_origins else None


def preflight_response(request: web.Request) -> web.Response | None:
    """The answer to a CORS preflight (403 for an origin not allowed); None for the rest."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    allowed = _cors_origin(request.app[SETTINGS], request.headers.get("Origin"))
    if allowed is None:
        raise web.HTTPForbidden(reason="CORS origin not allowed")
    return web.Response(status=204, headers={
        "Access-Control-Allow-Origin": allowed,
        "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get(
            "Access-Control-Request-Headers", "Authorization, Content-Type"),
        "Access-Control-Max-Age": "86400",
    })


def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """As the headers go out (`zproxy.gateway.on_prepare`): plain and streaming alike."""
    allowed = _cors_origin(request.app[SETTINGS], request.headers.get("Origin"))
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = "X-Request-ID"
        if allowed != "*":
            response.headers["Vary"] = "Origin"
