"""The one middleware every request passes: `gateway(settings)`.

A chat request used to pass seven middlewares (request id, OpenAI errors, Anthropic errors,
CORS preflight, observation, client auth, limits), each a coroutine frame of its own kept
alive for the whole of a stream, plus aiohttp's wrapper per layer. Here the same stages run
in one frame for the request and one more for the API routes, in the same order, each still
owned by its module:

1. the request id and log context (`middlewares.bind_request_id`);
2. exceptions to the wire format's error shape: Anthropic's on its routes
   (`api.anthropic.errors`), OpenAI's elsewhere (`middlewares`);
3. CORS preflights answered (`middlewares.preflight_response`);
4. on `/v1/`: the request observed (`observability`), the client key checked
   (`middlewares.authenticate`), admission under MAX_CONCURRENT_REQUESTS and the body read
   within its limits (`limits`), then the handler.

`on_prepare`, the one `on_response_prepare` hook, adds the CORS headers and marks an SSE
stream open as any response's headers go out.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from zproxy.api.anthropic.errors import REQUEST_ID, anthropic_response, is_anthropic, rejection
from zproxy.config import Settings
from zproxy.errors import ProxyError
from zproxy.limits import Admission, read_request_body
from zproxy.middlewares import (
    add_cors_headers,
    authenticate,
    bind_request_id,
    crash_response,
    http_error_response,
    needs_key,
    preflight_response,
    proxy_error_response,
)
from zproxy.observability import failure_status, observe, observed, response_starting

API_PREFIX: Final = "/v1/"


def gateway(settings: Settings) -> Middleware:
    """The middleware, with its own admission counter (one per app)."""
    admission = Admission(settings)

    @web.middleware
    async def gateway(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = bind_request_id(request)
        anthropic = is_anthropic(request)
        if anthropic:
            request[REQUEST_ID] = f"req_{request_id}"  # the logs' request_id
        response: web.StreamResponse | None
        try:
            response = preflight_response(request)
            if response is None:
                response = await (api(request, handler) if request.path.startswith(API_PREFIX)
                                  else handler(request))
        except web.HTTPException as exc:
            if exc.status < 400:
                exc.headers["X-Request-ID"] = request_id
                raise
            response = rejection(exc, request) if anthropic else http_error_response(exc, request)
        except ProxyError as exc:
            response = rejection(exc, request) if anthropic else proxy_error_response(exc)
        except Exception as exc:  # noqa: BLE001 - every failure gets the wire format's shape
            # a reset client on an Anthropic route: no one to answer, as on the others
            response = rejection(exc, request) if anthropic and not isinstance(
                exc, ConnectionResetError) else crash_response()
        else:
            if anthropic:
                response = anthropic_response(response, request)
        if not response.prepared:
            response.headers["X-Request-ID"] = request_id
        return response

    async def api(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Observed, authenticated, admitted, body read: the handler's answer."""
        found = observe(request)
        status, admitted = 500, False
        try:
            limited = await authenticate(request) if needs_key(request) else None
            if limited is not None:
                status = limited.status
                return limited
            admission.enter()
            admitted = True
            await read_request_body(request, settings)
            response = await handler(request)
            status = response.status
            return response
        except BaseException as exc:
            status = await failure_status(request, found, exc)
            raise
        finally:
            if admitted:
                admission.leave()
            observed(request, found, status)

    return gateway


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """The one `on_response_prepare` hook: CORS headers, and an SSE stream marked open."""
    add_cors_headers(request, response)
    response_starting(request, response)
