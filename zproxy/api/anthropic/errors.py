"""Errors on the Anthropic routes, in Anthropic's shape (anthropic-api.md §6).

`{"type": "error", "error": {"type", "message"}, "request_id"}` with the status the SDKs map
to their exceptions, a `request-id` header on every response of these routes (errors and
successes), `retry-after` on 429/529, and `x-should-retry: false` on errors a retry cannot
fix. After the headers of a stream are out, the same error is one `error` event.

`zproxy.gateway` uses this shape on the Anthropic routes (`is_anthropic`) for every exception
(`rejection`) and reshapes OpenAI-shaped error answers (`anthropic_response`); elsewhere
the OpenAI mapping stays untouched.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
import structlog
from aiohttp import web

from zproxy.errors import ProxyError, UpstreamUnavailable

log = structlog.get_logger(__name__)

REQUEST_ID: Final = web.RequestKey("anthropic_request_id", str)
VERSION_HEADER: Final = "anthropic-version"
_TYPES: Final = {400: "invalid_request_error", 401: "authentication_error",
                 403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                 429: "rate_limit_error", 500: "api_error", 504: "timeout_error",
                 529: "overloaded_error"}
OVERLOADED: Final = 529
_OVERLOAD_STATUSES: Final = frozenset({503, 529})
RETRY_AFTER_S: Final = "2"
_RETRYABLE: Final = frozenset({408, 409, 429})


def is_anthropic(request: web.Request) -> bool:
    """The Messages routes always; /v1/models when the client speaks Anthropic."""
    path = request.path
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return True
    return path.startswith("/v1/models") and VERSION_HEADER in request.headers


def error_type(status: int) -> str:
    return _TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def status_and_message(exc: BaseException) -> tuple[int, str]:
    """The Anthropic status for an exception of the one tree (unknown ones: 500)."""
    if isinstance(exc, UpstreamUnavailable) and exc.upstream_status in _OVERLOAD_STATUSES:
        return OVERLOADED, exc.message  # the upstream says it is overloaded: SDKs back off
    if isinstance(exc, ProxyError):
        return exc.status, exc.message
    if isinstance(exc, web.HTTPException):
        return exc.status, exc.reason
    return 500, "internal server error"


def error_body(status: int, message: str, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error",
                            "error": {"type": error_type(status), "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_event(exc: BaseException) -> bytes:
    """The in-stream `error` event (the stream then ends, with no `message_stop`)."""
    status, message = status_and_message(exc)
    return (b"event: error\ndata: " + orjson.dumps(error_body(status, message)) + b"\n\n")


def error_response(exc: BaseException, request: web.Request) -> web.Response:
    status, message = status_and_message(exc)
    if isinstance(exc, web.HTTPException):
        message = f"{exc.reason}: {request.method} {request.path}"
    request_id = request.get(REQUEST_ID)
    headers = {"request-id": request_id} if request_id else {}
    if status in {429, OVERLOADED}:
        headers["retry-after"] = RETRY_AFTER_S
    elif status < 500 and status not in _RETRYABLE:
        headers["x-should-retry"] = "false"
    if isinstance(exc, web.HTTPException) and "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    return web.Response(status=status, body=orjson.dumps(error_body(status, message, request_id)),
                        content_type="application/json", headers=headers)


def rejection(exc: BaseException, request: web.Request) -> web.Response:
    """An exception raised on an Anthropic route, logged, as the error response."""
    if isinstance(exc, ProxyError):
        log.info("request.rejected", status=exc.status, code=exc.code, error=exc.message)
    elif not isinstance(exc, web.HTTPException):
        log.exception("request.crashed")
    return error_response(exc, request)


def anthropic_response(response: web.StreamResponse,
                       request: web.Request) -> web.StreamResponse:
    """A handler's answer on an Anthropic route: an OpenAI-shaped error that a shared stage
    answered with (client-key rate limits return their 429 rather than raise) re-rendered in
    Anthropic's shape, and the `request-id` header on every response."""
    if isinstance(response, web.Response) and response.status >= 400:
        response = _reshaped(response, request)
    if not response.prepared:
        response.headers["request-id"] = request[REQUEST_ID]
    return response


def _reshaped(response: web.Response, request: web.Request) -> web.Response:
    """An OpenAI-shaped error a shared middleware answered with (client-key rate limits
    return their 429 rather than raise), re-rendered in Anthropic's shape, headers kept."""
    try:
        body = orjson.loads(response.body) if isinstance(response.body, bytes) else None
    except orjson.JSONDecodeError:
        return response
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict) \
            or "type" in body:  # not OpenAI's shape
        return response
    error = body["error"]
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in {"content-type", "content-length"}}
    message = str(error.get("message") or "")
    return web.Response(status=response.status, headers=headers,
                        body=orjson.dumps(error_body(response.status, message,
                                                     request.get(REQUEST_ID))),
                        content_type="application/json")
