"""One exception tree, one mapping to the OpenAI error shape.

    ProxyError                      status  type
    ├── ClientRequestError            400   invalid_request_error
    │   ├── AuthenticationError       401   authentication_error
    │   ├── PermissionDeniedError     403   permission_error
    │   ├── RateLimitedError          429   rate_limit_error
    │   ├── NotFoundError             404   invalid_request_error (code model_not_found…)
    │   ├── RequestTimeoutError       408   invalid_request_error (body sent too slowly)
    │   └── PayloadTooLargeError      413   invalid_request_error (MAX_REQUEST_BYTES)
    ├── OverloadedError               429   rate_limit_error     (MAX_CONCURRENT_REQUESTS)
    └── UpstreamError                 502   upstream_error
        ├── UpstreamAuthError         502   upstream_error       (token rejected, 401)
        │   └── NoUpstreamCredential  503   upstream_error       (no token, guests off)
        ├── ProviderUnavailableError  503   upstream_error       (provider has no credential)
        ├── UpstreamRateLimitError    429   rate_limit_error     (429 / concurrency)
        ├── UpstreamVersionError      502   upstream_error       (426 client version)
        ├── UpstreamBlockedError      502   upstream_error       (405 WAF)
        ├── UpstreamCaptchaError      502   upstream_error       (captcha required)
        ├── UpstreamTimeout           504   timeout_error
        ├── UpstreamUnavailable       502   upstream_error       (connect / 5xx)
        └── UpstreamProtocolError     502   upstream_error       (in-stream error, bad frames)
            ├── UpstreamInternalError 502   upstream_error       (INTERNAL_ERROR, retried)
            ├── UpstreamModelNotFound 502   upstream_error       (upstream lacks the model id)
            ├── UpstreamContentFilter 502   upstream_error       (upstream refused the content)
            └── UpstreamBadRequest    502   upstream_error       (upstream refused the request)

Every non-2xx JSON body and every in-stream SSE error event is
`{"error": {"message", "type", "param", "code"}}`, built only by `error_body`.
`ERROR_CODES` lists every `code` a client can get, with its status and meaning: /docs renders
it and a test checks it against the codes the source actually raises, so it cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final


class ProxyError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def headers(self) -> dict[str, str]:
        """Extra response headers the error needs (Retry-After)."""
        return {}


class ClientRequestError(ProxyError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(ClientRequestError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(ClientRequestError):
    """Authenticated or not, this may not be done (admin off, CSRF token missing)."""

    status = 403
    type = "permission_error"
    default_code = "forbidden"


class RateLimitedError(ClientRequestError):
    """Too many attempts from this client (admin logins)."""

    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class NotFoundError(ClientRequestError):
    status = 404
    default_code = "not_found"


class RequestTimeoutError(ClientRequestError):
    """The request body did not arrive within CLIENT_SEND_TIMEOUT."""

    status = 408
    default_code = "request_timeout"


class PayloadTooLargeError(ClientRequestError):
    """The request body is larger than MAX_REQUEST_BYTES."""

    status = 413
    default_code = "request_too_large"


class OverloadedError(ProxyError):
    """The process is at its concurrent-request cap; the client should come back soon."""

    status = 429
    type = "rate_limit_error"
    default_code = "too_many_concurrent_requests"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class UpstreamError(ProxyError):
    """The upstream failed. `retryable` says whether another session may succeed."""

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"
    retryable: ClassVar[bool] = False
    cause: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | None = None,
                 upstream_status: int | None = None):
        super().__init__(message, code=code)
        self.upstream_status = upstream_status
        self.retry_after_s: float | None = None  # when the upstream said how long to wait


class UpstreamAuthError(UpstreamError):
    default_code = "upstream_auth_failed"
    retryable = True
    cause = "auth"


class NoUpstreamCredential(UpstreamAuthError):
    """No user token can serve and guest sessions are off: the operator must act."""

    status = 503
    default_code = "no_upstream_credential"
    retryable = False
    cause = "no_credential"


class UpstreamRateLimitError(UpstreamError):
    status = 429
    type = "rate_limit_error"
    default_code = "upstream_rate_limited"
    retryable = True
    cause = "rate_limit"


class UpstreamVersionError(UpstreamError):
    default_code = "upstream_client_version"
    retryable = True  # after the FE version is re-scraped
    cause = "fe_version"


class UpstreamBlockedError(UpstreamError):
    default_code = "waf_blocked"
    cause = "waf"


class UpstreamCaptchaError(UpstreamError):
    default_code = "upstream_captcha_required"
    retryable = True  # another guest session may not need one
    cause = "captcha"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    default_code = "upstream_timeout"
    retryable = True
    cause = "timeout"


class UpstreamUnavailable(UpstreamError):
    default_code = "upstream_unavailable"
    retryable = True
    cause = "unavailable"


class UpstreamProtocolError(UpstreamError):
    default_code = "upstream_error"
    cause = "protocol"


class UpstreamInternalError(UpstreamProtocolError):
    """`INTERNAL_ERROR` inside a 200 stream; retried once on a fresh chat."""

    default_code = "upstream_internal_error"
    retryable = True
    cause = "internal"


class UpstreamModelNotFound(UpstreamProtocolError):
    """The upstream does not know the model id we sent (its catalogue moved on)."""

    default_code = "upstream_model_not_found"
    cause = "model_not_found"


class UpstreamContentFilter(UpstreamProtocolError):
    default_code = "upstream_content_filter"
    cause = "content_filter"


class UpstreamBadRequest(UpstreamProtocolError):
    default_code = "upstream_bad_request"
    cause = "bad_request"


class ProviderUnavailableError(UpstreamError):
    """A provider has no credential and no guest mode: its models cannot be served until
    the operator sets the variable the message names."""

    status = 503
    default_code = "provider_unavailable"
    cause = "no_credential"


def error_body(message: str, type_: str, *, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def to_openai_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Map any exception to (HTTP status, OpenAI error body). Unknown ones become 500."""
    if isinstance(exc, ProxyError):
        return exc.status, error_body(exc.message, exc.type, param=exc.param, code=exc.code)
    return 500, error_body("internal server error", "server_error", code="internal_error")


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One `error.code` value: the HTTP status and `error.type` it comes with, and why."""

    code: str
    status: int
    type: str
    meaning: str
    router: bool = False  # raised by aiohttp's router, code derived from the status phrase


_REQ, _UP = "invalid_request_error", "upstream_error"

ERROR_CODES: Final[tuple[ErrorCode, ...]] = (
    ErrorCode("invalid_json", 400, _REQ, "The body is not a JSON object."),
    ErrorCode("missing_required_parameter", 400, _REQ,
              "A required field (`model`, `messages`) is missing."),
    ErrorCode("invalid_type", 400, _REQ, "A field has the wrong JSON type; `param` names it."),
    ErrorCode("invalid_value", 400, _REQ,
              "A field's value is out of range or not allowed; `param` names it."),
    ErrorCode("unsupported_parameter", 400, _REQ,
              "A parameter the web chat cannot honour (`n` > 1, `logprobs`, audio output, "
              "`logit_bias`, `prediction`)."),
    ErrorCode("invalid_request_error", 400, _REQ,
              "Anthropic routes: the request does not fit the Messages API (see `message`)."),
    ErrorCode("too_many_messages", 400, _REQ, "More messages than `MAX_MESSAGES`."),
    ErrorCode("context_length_exceeded", 400, _REQ,
              "The messages hold more text than `MAX_TOTAL_CHARS`."),
    ErrorCode("invalid_tools", 400, _REQ, "`tools` is not an array of named functions."),
    ErrorCode("invalid_tool_choice", 400, _REQ,
              "`tool_choice` is not `auto`, `none`, `required` or a declared function."),
    ErrorCode("model_not_vision", 400, _REQ, "Images were sent to a model without vision."),
    ErrorCode("vision_requires_token", 400, _REQ,
              "Images need a Z.AI account: set `ZAI_TOKEN` (guests cannot upload)."),
    ErrorCode("invalid_image", 400, _REQ,
              "An image is not a valid PNG, JPEG, GIF or WebP, or its URL is malformed."),
    ErrorCode("image_too_large", 400, _REQ, "An image exceeds `VISION_MAX_BYTES`."),
    ErrorCode("image_url_forbidden", 400, _REQ,
              "An image URL points at a private, loopback or link-local address."),
    ErrorCode("image_fetch_failed", 400, _REQ,
              "An image URL could not be fetched (DNS, HTTP error, redirects, timeout)."),
    ErrorCode("previous_response_not_found", 400, _REQ,
              "`previous_response_id` names no stored response (unknown or expired)."),
    ErrorCode("response_not_cancellable", 400, _REQ,
              "`POST /v1/responses/{id}/cancel` on a response not created with "
              "`background: true` (no response here is)."),
    ErrorCode("invalid_api_key", 401, "authentication_error",
              "The client key is missing or wrong (send `Authorization: Bearer <key>`)."),
    ErrorCode("admin_auth_required", 401, "authentication_error",
              "The admin API needs the admin secret (`ADMIN_PASSWORD`)."),
    ErrorCode("forbidden", 403, "permission_error", "This may not be done."),
    ErrorCode("admin_disabled", 403, "permission_error",
              "The admin pages are off (no `ADMIN_PASSWORD`)."),
    ErrorCode("csrf_failed", 403, "permission_error",
              "A form or cookie write came without its CSRF token."),
    ErrorCode("model_not_found", 404, _REQ, "No model of that name; see `GET /v1/models`."),
    ErrorCode("response_not_found", 404, _REQ,
              "No stored response with that id (unknown, deleted or expired)."),
    ErrorCode("not_found", 404, _REQ, "No such path.", router=True),
    ErrorCode("method_not_allowed", 405, _REQ, "The path exists, the method does not.",
              router=True),
    ErrorCode("request_entity_too_large", 413, _REQ, "The request body is too large.",
              router=True),
    ErrorCode("request_timeout", 408, _REQ,
              "The request body did not arrive within `CLIENT_SEND_TIMEOUT`."),
    ErrorCode("request_too_large", 413, _REQ, "The body is larger than `MAX_REQUEST_BYTES`."),
    ErrorCode("rate_limit_exceeded", 429, "rate_limit_error",
              "Too many attempts from this client (admin logins)."),
    ErrorCode("too_many_concurrent_requests", 429, "rate_limit_error",
              "zproxy is at its concurrent-request cap; retry soon."),
    ErrorCode("upstream_rate_limited", 429, "rate_limit_error",
              "Z.AI is rate limiting every available session; retry later."),
    ErrorCode("internal_error", 500, "server_error", "A bug in zproxy; the log has details."),
    ErrorCode("upstream_error", 502, _UP, "Z.AI sent an error or a reply zproxy cannot read."),
    ErrorCode("upstream_auth_failed", 502, _UP,
              "Z.AI rejected every session tried (expired or revoked tokens)."),
    ErrorCode("upstream_client_version", 502, _UP,
              "Z.AI requires a newer web client version (`X-FE-Version`)."),
    ErrorCode("waf_blocked", 502, _UP, "Z.AI's firewall blocked the request (HTTP 405)."),
    ErrorCode("upstream_captcha_required", 502, _UP, "Z.AI asked for a captcha."),
    ErrorCode("upstream_unavailable", 502, _UP,
              "Z.AI could not be reached or answered 5xx."),
    ErrorCode("upstream_internal_error", 502, _UP,
              "Z.AI reported `INTERNAL_ERROR` inside the stream, even after a fresh chat."),
    ErrorCode("upstream_model_not_found", 502, _UP,
              "The provider's upstream does not know the model id zproxy sent."),
    ErrorCode("upstream_content_filter", 502, _UP, "The provider's upstream refused the content."),
    ErrorCode("upstream_bad_request", 502, _UP,
              "The provider's upstream refused the request as malformed."),
    ErrorCode("no_upstream_credential", 503, _UP,
              "No user token can serve and guest sessions are off: the operator must act."),
    ErrorCode("provider_unavailable", 503, _UP,
              "The model's provider has no credential: set the variable the message names."),
    ErrorCode("upstream_timeout", 504, "timeout_error",
              "Z.AI was silent longer than `UPSTREAM_READ_TIMEOUT`."),
)
